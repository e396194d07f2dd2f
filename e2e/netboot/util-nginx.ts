/**
 * The util node's HTTP server in tests: the real nginx running the generated nginx.conf
 * (constructs/netboot/boot-service.ts), rendered with `httpListen` on loopback and `httpStateDir` in
 * the test's directory, so it runs as any user. Requests come from the generated access log
 * (format "ely": end time, duration, status, body bytes, method, URI), for the boot timeline.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { HTTP_ACCESS_LOG_FILE } from "../../constructs/netboot/boot-service";

export const NGINX = process.env.ELY_NGINX ?? "nginx";

/** Why nginx cannot run here (for a skipped test's name), or undefined when it can. */
export function nginxMissing(): string | undefined {
  const result = spawnSync(NGINX, ["-v"], { encoding: "utf8" });
  return result.status === 0 ? undefined : `nginx is not installed (${NGINX}: ${result.error?.message ?? result.stderr.trim()}); apt-get install nginx`;
}

/** `nginx -t` on a configuration file; errors go to stderr (-e), never to the built-in log file. */
export function nginxConfigTest(confFile: string): { ok: boolean; output: string } {
  const result = spawnSync(NGINX, ["-t", "-q", "-e", "stderr", "-c", confFile], { encoding: "utf8" });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

/**
 * nginx run as root serves as user nobody: lets others traverse `dir`'s ancestors that this
 * process owns (temporary directories are 0700) and read `dir` itself. Nothing else changes.
 */
export function letWorkersRead(dir: string): void {
  const uid = process.getuid?.();
  fs.chmodSync(dir, fs.statSync(dir).mode | 0o005);
  for (let at = path.dirname(path.resolve(dir)); at !== path.dirname(at); at = path.dirname(at)) {
    const stat = fs.statSync(at);
    if (stat.uid === uid && (stat.mode & 0o001) === 0) fs.chmodSync(at, stat.mode | 0o001);
  }
}

export interface RequestRecord {
  /** When the request started and finished (ms since the epoch). */
  readonly atMs: number;
  readonly doneMs: number;
  readonly path: string;
  /** HTTP status; 499 when the client closed before the body was sent. */
  readonly status: number;
  readonly bytes: number;
}

/** Parses access log lines of the "ely" format. */
export function parseAccessLog(text: string): RequestRecord[] {
  const records: RequestRecord[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+\.\d+) (\d+\.\d+) (\d{3}) (\d+) \S+ (\S+)$/.exec(line.trim());
    if (!m) continue;
    const doneMs = Math.round(Number(m[1]) * 1000);
    records.push({ atMs: doneMs - Math.round(Number(m[2]) * 1000), doneMs, status: Number(m[3]), bytes: Number(m[4]), path: m[5] });
  }
  return records;
}

export interface UtilNginx {
  readonly port: number;
  /** Every request so far, from the access log. */
  requests(): RequestRecord[];
  /** What nginx printed (its error log is stderr). */
  output(): string;
  close(): Promise<void>;
}

async function waitForPort(host: string, port: number, child: ChildProcess, timeoutMs: number, output: () => string): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}) before it listened on ${host}:${port}: ${output().trim()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() - started > timeoutMs) throw new Error(`nginx did not listen on ${host}:${port} within ${timeoutMs} ms: ${output().trim()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts nginx in the foreground on `confFile` (as ely-http.service does), once `nginx -t`
 * accepts it. `host` and `port` are what its `listen` names (default host 127.0.0.1); `stateDir` its `httpStateDir`.
 */
export async function startUtilNginx(confFile: string, port: number, stateDir: string, host = "127.0.0.1"): Promise<UtilNginx> {
  fs.mkdirSync(stateDir, { recursive: true });
  const log = path.join(stateDir, HTTP_ACCESS_LOG_FILE);
  fs.rmSync(log, { force: true }); // this run's requests only
  const check = nginxConfigTest(confFile);
  if (!check.ok) throw new Error(`nginx -t rejects ${confFile}: ${check.output}`);
  const child = spawn(NGINX, ["-e", "stderr", "-c", confFile, "-g", "daemon off;"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // SIGTERM: the master stops its workers and exits after this process is gone (a SIGKILLed master leaves them running).
  const killNow = () => child.exitCode === null && child.kill("SIGTERM");
  process.once("exit", killNow);
  const close = async () => {
    process.removeListener("exit", killNow);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGQUIT"); // graceful: workers finish their requests and flush the log
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForPort(host, port, child, 10_000, () => output);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    port,
    requests: () => (fs.existsSync(log) ? parseAccessLog(fs.readFileSync(log, "utf8")) : []),
    output: () => output,
    close,
  };
}
