/**
 * Real Consul and Nomad agents in dev mode on loopback, with ACLs enabled and
 * bootstrapped, for the end-to-end test. Ports are free ones chosen at start; the
 * agents' logs go to files whose tails are printed when something fails.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";

export interface DevAgents {
  readonly consulAddress: string; // http://127.0.0.1:port
  readonly nomadAddress: string;
  readonly consulToken: string;
  readonly nomadToken: string;
  readonly datacenter: string;
  readonly hostVolumes: Record<string, string>;
  /** The last lines of both agents' logs. */
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Thrown inside waitFor's callback to stop waiting at once (a process that exited). */
export class FatalError extends Error {}

/** Retries fn until it returns a value or the deadline passes; the error names what was awaited. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (e) {
      if (e instanceof FatalError) throw new Error(`while waiting for ${what}: ${e.message}`);
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export async function http(method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const headers: Record<string, string> = {};
  if (token) headers["X-Consul-Token"] = headers["X-Nomad-Token"] = token;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

function tail(file: string, lines: number): string {
  if (!fs.existsSync(file)) return `(${file} does not exist)`;
  return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
}

function startAgent(binary: string, args: string[], logFile: string): ChildProcess {
  const log = fs.openSync(logFile, "a");
  const child = spawn(binary, args, { stdio: ["ignore", log, log], detached: true });
  fs.closeSync(log);
  child.on("error", (e) => fs.appendFileSync(logFile, `\n[ely e2e] could not start ${binary}: ${e.message}\n`));
  return child;
}

async function stopAgent(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGINT");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
  }, 15000);
  await exited;
  clearTimeout(timer);
}

export async function startDevAgents(workDir: string, bins: { consul: string; nomad: string }): Promise<DevAgents> {
  fs.mkdirSync(workDir, { recursive: true });
  const datacenter = "dc1";
  const consulLog = path.join(workDir, "consul.log");
  const nomadLog = path.join(workDir, "nomad.log");
  const [consulHttp, consulSerfLan, consulSerfWan, consulServer] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const [nomadHttp, nomadRpc, nomadSerf] = [await freePort(), await freePort(), await freePort()];

  const consulConfig = path.join(workDir, "consul.json");
  fs.writeFileSync(
    consulConfig,
    JSON.stringify({
      datacenter,
      bind_addr: "127.0.0.1",
      client_addr: "127.0.0.1",
      ports: { http: consulHttp, dns: -1, grpc: -1, grpc_tls: -1, serf_lan: consulSerfLan, serf_wan: consulSerfWan, server: consulServer },
      acl: { enabled: true, default_policy: "deny", enable_token_persistence: false },
      log_level: "INFO",
    }),
  );
  let consul: ChildProcess | undefined;
  let nomad: ChildProcess | undefined;
  const stop = async () => {
    await stopAgent(nomad);
    await stopAgent(consul);
  };
  const logTails = (lines = 40) => `--- consul.log ---\n${tail(consulLog, lines)}\n--- nomad.log ---\n${tail(nomadLog, lines)}`;

  try {
    consul = startAgent(bins.consul, ["agent", "-dev", `-config-file=${consulConfig}`], consulLog);
    const consulAddress = `http://127.0.0.1:${consulHttp}`;
    const consulToken = await waitFor("Consul's ACL bootstrap", 60000, async () => {
      if (consul!.exitCode !== null) throw new FatalError(`consul exited with ${consul!.exitCode}`);
      const r = await http("PUT", `${consulAddress}/v1/acl/bootstrap`);
      return r.status === 200 ? (r.json as { SecretID: string }).SecretID : undefined;
    });

    const volumesDir = path.join(workDir, "volumes");
    const hostVolumes: Record<string, string> = {};
    for (const name of ["scratch", "traefik-acme", "gitea-data", "registry-data", "prometheus-data"]) {
      hostVolumes[name] = path.join(volumesDir, name);
      fs.mkdirSync(hostVolumes[name], { recursive: true });
    }
    const nomadConfig = path.join(workDir, "nomad.json");
    fs.writeFileSync(
      nomadConfig,
      JSON.stringify({
        datacenter,
        bind_addr: "127.0.0.1",
        data_dir: path.join(workDir, "nomad-data"),
        ports: { http: nomadHttp, rpc: nomadRpc, serf: nomadSerf },
        acl: { enabled: true },
        consul: { address: `127.0.0.1:${consulHttp}`, token: consulToken },
        client: { enabled: true, host_volume: Object.entries(hostVolumes).map(([n, p]) => ({ [n]: { path: p, read_only: false } })) },
        plugin: { raw_exec: { config: { enabled: true } } },
        log_level: "INFO",
      }),
    );
    // The token reaches Nomad through its config file; keep that file private.
    fs.chmodSync(nomadConfig, 0o600);
    nomad = startAgent(bins.nomad, ["agent", "-dev", `-config=${nomadConfig}`], nomadLog);
    const nomadAddress = `http://127.0.0.1:${nomadHttp}`;
    const nomadToken = await waitFor("Nomad's ACL bootstrap", 90000, async () => {
      if (nomad!.exitCode !== null) throw new FatalError(`nomad exited with ${nomad!.exitCode}`);
      const r = await http("POST", `${nomadAddress}/v1/acl/bootstrap`);
      return r.status === 200 ? (r.json as { SecretID: string }).SecretID : undefined;
    });
    await waitFor("a ready Nomad client", 90000, async () => {
      const r = await http("GET", `${nomadAddress}/v1/nodes`, nomadToken);
      const nodes = (r.json ?? []) as { Status: string }[];
      return nodes.some((n) => n.Status === "ready") ? true : undefined;
    });
    return { consulAddress, nomadAddress, consulToken, nomadToken, datacenter, hostVolumes, logTails, stop };
  } catch (e) {
    const message = `${(e as Error).message}\n${logTails()}`;
    await stop();
    throw new Error(message);
  }
}
