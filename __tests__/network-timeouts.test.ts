/**
 * Every network command run while Terraform applies is bounded: the publish steps' ssh and rsync,
 * and the agent archive download. (The server rollout's ssh: server-rollout*.test.ts.)
 */
import * as http from "http";
import * as net from "net";
import { AddressInfo } from "net";
import { SSH_TIMEOUT_OPTIONS, SSH_UNATTENDED_OPTIONS } from "../nodes/network-timeouts";
import { fetchBounded } from "../images/agents";
import { parseTarget, publishSshCommand, rsyncArgs, runOnTarget } from "../images/publish";

const BOUNDS = ["-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"];

describe("the shared ssh bounds", () => {
  test("connect timeout and keepalive, and unattended", () => {
    expect(SSH_TIMEOUT_OPTIONS).toEqual(["ConnectTimeout=10", "ServerAliveInterval=15", "ServerAliveCountMax=4"]);
    expect(SSH_UNATTENDED_OPTIONS).toEqual(["BatchMode=yes", ...SSH_TIMEOUT_OPTIONS]);
  });
});

describe("publish steps", () => {
  test("ssh is unattended and bounded; ELY_SSH_OPTIONS comes first, so its -o options win", () => {
    expect(publishSshCommand({})).toEqual(["ssh", "-o", "BatchMode=yes", ...BOUNDS]);
    expect(publishSshCommand({ ELY_SSH_OPTIONS: " -i /k  -o ConnectTimeout=3 " })).toEqual(["ssh", "-i", "/k", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes", ...BOUNDS]);
  });

  test("rsync has an I/O timeout, and runs the bounded ssh to a remote target", () => {
    const remote = rsyncArgs(parseTarget("root@10.25.89.4:/srv/ely"), "/tmp/build/", "/srv/ely/images/x/.b.partial", {});
    expect(remote).toEqual([
      "-a", "--delete", "--chmod=D755,F644", "--timeout=120",
      "-e", ["ssh", "-o", "BatchMode=yes", ...BOUNDS].join(" "),
      "/tmp/build/", "root@10.25.89.4:/srv/ely/images/x/.b.partial/",
    ]);
    expect(rsyncArgs(parseTarget("/srv/local"), "/tmp/build", "/srv/local/x", {})).toEqual(["-a", "--delete", "--chmod=D755,F644", "--timeout=120", "/tmp/build/", "/srv/local/x/"]);
  });

  test("a util node that accepts the connection and then says nothing fails the step instead of hanging it", async () => {
    // The real ssh client against a TCP server that never sends ssh's banner.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    const saved = process.env.ELY_SSH_OPTIONS;
    process.env.ELY_SSH_OPTIONS = `-p ${port} -o ConnectTimeout=1`;
    const started = Date.now();
    try {
      await expect(runOnTarget(parseTarget("root@127.0.0.1:/srv/ely"), "true\n", [])).rejects.toThrow(/^ssh root@127.0.0.1 failed \(exit 255\): .*timed out/s);
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      process.env.ELY_SSH_OPTIONS = saved;
      if (saved === undefined) delete process.env.ELY_SSH_OPTIONS;
      silent.close();
    }
  });
});

describe("agent archive download", () => {
  let server: http.Server;
  let base: string;
  const pending: http.ServerResponse[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/ok") res.end("consul_1.16.3_linux_amd64.zip\n");
      else if (req.url === "/silent") pending.push(res); // never answers
      else if (req.url === "/stalls") {
        res.writeHead(200, { "content-length": "1000" });
        res.write("x".repeat(100)); // then nothing more
        pending.push(res);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const res of pending) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test("a whole body arrives", async () => {
    expect((await fetchBounded(`${base}/ok`, 2000)).toString()).toBe("consul_1.16.3_linux_amd64.zip\n");
  });

  test("a server that never answers fails after the idle bound, naming the URL", async () => {
    await expect(fetchBounded(`${base}/silent`, 300)).rejects.toThrow(`GET ${base}/silent: no data for 0.3 s, gave up`);
  });

  test("a body that stops mid-way fails after the idle bound", async () => {
    await expect(fetchBounded(`${base}/stalls`, 300)).rejects.toThrow(`GET ${base}/stalls: no data for 0.3 s, gave up`);
  });

  test("a refused connection names the URL and the cause", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/x`;
    await new Promise((resolve) => closed.close(resolve));
    await expect(fetchBounded(url, 2000)).rejects.toThrow(new RegExp(`^GET ${url}: connect ECONNREFUSED`));
  });

  test("an HTTP error names the status", async () => {
    await expect(fetchBounded(`${base}/missing`, 2000)).rejects.toThrow(`GET ${base}/missing: HTTP 404`);
  });
});
