/**
 * The util node's HTTP server for the netboot test, on loopback: the URL space of the
 * generated nginx.conf (constructs/boot-service.ts) over a local copy of the util node's
 * root that the publish program wrote:
 *   /images/...  -> <root>/images/...
 *   /ipxe/<f>    -> <root>/boot/current/ipxe/<f>, else ipxe/unknown.ipxe (the "not in inventory" script)
 *   /config/...  -> <root>/boot/current/config/...
 * Every request is recorded with its time, for the boot timeline.
 */
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";

export interface RequestRecord {
  readonly atMs: number;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
  /** When the response finished. */
  readonly doneMs: number;
}

export interface UtilHttpServer {
  readonly port: number;
  readonly requests: RequestRecord[];
  close(): Promise<void>;
}

function resolve(root: string, urlPath: string): { file?: string; fallback?: string } {
  const clean = path.posix.normalize(decodeURIComponent(urlPath.split("?")[0]));
  if (clean.includes("..")) return {};
  if (clean.startsWith("/images/")) return { file: path.join(root, clean) };
  if (clean.startsWith("/ipxe/")) return { file: path.join(root, "boot/current", clean), fallback: path.join(root, "boot/current/ipxe/unknown.ipxe") };
  if (clean.startsWith("/config/")) return { file: path.join(root, "boot/current", clean) };
  return {};
}

export async function startUtilHttpServer(root: string): Promise<UtilHttpServer> {
  const requests: RequestRecord[] = [];
  const server = http.createServer((req, res) => {
    const atMs = Date.now();
    const { file, fallback } = resolve(root, req.url ?? "/");
    const chosen = file && fs.existsSync(file) && fs.statSync(file).isFile() ? file : fallback && fs.existsSync(fallback) ? fallback : undefined;
    const record = (status: number, bytes: number) => requests.push({ atMs, path: req.url ?? "", status, bytes, doneMs: Date.now() });
    if (!chosen) {
      res.writeHead(404, { "Content-Type": "text/plain", Connection: "close" });
      res.end("not found\n");
      record(404, 0);
      return;
    }
    const size = fs.statSync(chosen).size;
    res.writeHead(200, { "Content-Length": size, "Content-Type": "application/octet-stream", Connection: "close" });
    if (req.method === "HEAD") {
      res.end();
      record(200, 0);
      return;
    }
    const stream = fs.createReadStream(chosen);
    let sent = 0;
    stream.on("data", (chunk) => (sent += chunk.length));
    stream.pipe(res);
    // One record when the connection is done: 499 (nginx's "client closed") if the body was cut short.
    // A client may close as soon as it has Content-Length bytes, before the file stream ends.
    res.on("close", () => (sent >= size ? record(200, size) : record(499, sent)));
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections?.();
        server.close(() => resolveClose());
      }),
  };
}
