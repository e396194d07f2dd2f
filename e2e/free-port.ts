/**
 * Free loopback ports for the servers a test starts (agents, nginx, nfs-ganesha, the secrets server).
 */
import * as net from "net";

/** Ports freePort has handed out in this process: the kernel may offer a closed one again at once. */
const portsGiven = new Set<number>();

/**
 * A loopback port nothing listens on, and one this process has not been given before: an agent's ports, asked
 * for one after another, are distinct (Consul refuses two of its listeners on one port).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    if (portsGiven.has(port)) continue;
    portsGiven.add(port);
    return port;
  }
}
