/**
 * Real Consul and Nomad agents in dev mode on loopback, with ACLs enabled and
 * bootstrapped, for the end-to-end test. Ports are free ones chosen at start; the
 * agents' logs go to files whose tails are printed when something fails.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { freePort } from "./free-port";

export interface DevAgents {
  readonly consulAddress: string; // http://127.0.0.1:port
  readonly nomadAddress: string;
  readonly consulToken: string;
  readonly nomadToken: string;
  /** host:port of the Nomad server's RPC, for more clients to join. */
  readonly nomadRpcAddress: string;
  /** host:port of the Consul server's LAN gossip, for more agents to join. */
  readonly consulSerfAddress: string;
  readonly datacenter: string;
  readonly hostVolumes: Record<string, string>;
  /** The last lines of both agents' logs. */
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

/** Runs a test body; on failure, adds `logs()` (the agents' log tails) to the error: what the agents saw. */
export async function withLogs(logs: () => string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    (e as Error).message += `\n${logs()}`;
    throw e;
  }
}

/** Every agent's log tail (the dev agents', then each extra agent's last 20 lines): what withLogs adds on failure. */
export function allLogTails(agents: DevAgents, extra: readonly ExtraAgent[]): string {
  return `${agents.logTails()}\n${extra.map((a) => a.logTail(20)).join("\n")}`;
}

/** A suite's end: the extra agents stopped, last started first, then the dev agents; `work` removed unless ELY_E2E_KEEP. */
export async function stopAgents(agents: DevAgents | undefined, extra: ExtraAgent[], work: string): Promise<void> {
  for (const a of [...extra].reverse()) await a.stop();
  await agents?.stop();
  if (!process.env.ELY_E2E_KEEP) fs.rmSync(work, { recursive: true, force: true });
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

export interface DevAgentOptions {
  /** Consul node name and Nomad agent name (a server and a client in dev mode). Default: the machine's hostname. */
  readonly nodeName?: string;
}

export async function startDevAgents(workDir: string, bins: { consul: string; nomad: string }, options: DevAgentOptions = {}): Promise<DevAgents> {
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
      ...(options.nodeName ? { node_name: options.nodeName } : {}),
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
        ...(options.nodeName ? { name: options.nodeName } : {}),
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
    const nomadRpcAddress = `127.0.0.1:${nomadRpc}`;
    const consulSerfAddress = `127.0.0.1:${consulSerfLan}`;
    return { consulAddress, nomadAddress, consulToken, nomadToken, nomadRpcAddress, consulSerfAddress, datacenter, hostVolumes, logTails, stop };
  } catch (e) {
    const message = `${(e as Error).message}\n${logTails()}`;
    await stop();
    throw new Error(message);
  }
}

export interface ExtraAgent {
  /** The last lines of its log. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Starts one more agent of the cluster (not dev mode) with a configuration directory of JSON
 * files, as a node reads /etc/consul.d or /etc/nomad.d; resolves once `ready` says so.
 */
export async function startExtraAgent(
  binary: string,
  args: (configDir: string) => string[],
  dir: string,
  files: Readonly<Record<string, string>>,
  what: string,
  ready: () => Promise<boolean>,
): Promise<ExtraAgent> {
  const configDir = path.join(dir, "config");
  fs.mkdirSync(configDir, { recursive: true });
  for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(configDir, file), content, { mode: 0o600 });
  const log = path.join(dir, "agent.log");
  const child = startAgent(binary, args(configDir), log);
  const agent: ExtraAgent = { logTail: (lines = 40) => tail(log, lines), stop: () => stopAgent(child) };
  try {
    await waitFor(what, 90000, async () => {
      if (child.exitCode !== null) throw new FatalError(`${path.basename(binary)} exited with ${child.exitCode}`);
      return (await ready()) ? true : undefined;
    });
    return agent;
  } catch (e) {
    const message = `${(e as Error).message}\n--- ${log} ---\n${agent.logTail()}`;
    await agent.stop();
    throw new Error(message);
  }
}

/**
 * One more Nomad client (a node of the cluster) on its own loopback address, joining the dev
 * agents' server; `configFiles` are added to its configuration directory beside nomad.json.
 * Resolves once Nomad lists it ready. A second start with the same name and work directory is the
 * same node coming back (its data directory is kept).
 */
export async function startNomadClient(
  workDir: string,
  nomadBinary: string,
  agents: DevAgents,
  options: { readonly name: string; readonly bindAddress: string; readonly configFiles?: Readonly<Record<string, string>> },
): Promise<ExtraAgent> {
  const dir = path.join(workDir, `${options.name}-nomad`);
  const [httpPort, rpcPort, serfPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    name: options.name,
    datacenter: agents.datacenter,
    bind_addr: options.bindAddress,
    advertise: { http: options.bindAddress, rpc: options.bindAddress, serf: options.bindAddress },
    data_dir: path.join(dir, "data"),
    ports: { http: httpPort, rpc: rpcPort, serf: serfPort },
    acl: { enabled: true },
    consul: { address: agents.consulAddress.replace(/^http:\/\//, ""), token: agents.consulToken },
    client: { enabled: true, servers: [agents.nomadRpcAddress] },
    log_level: "INFO",
  };
  return startExtraAgent(nomadBinary, (c) => ["agent", `-config=${c}`], dir, { "nomad.json": JSON.stringify(config), ...options.configFiles }, `Nomad client ${options.name} ready`, async () => {
    const r = await http("GET", `${agents.nomadAddress}/v1/nodes`, agents.nomadToken);
    return ((r.json ?? []) as { Name: string; Status: string }[]).some((n) => n.Name === options.name && n.Status === "ready");
  });
}

/** One more Consul agent (client mode) on its own loopback address, joining the dev agents' server; resolves once it is an alive member. */
export async function startConsulClient(workDir: string, consulBinary: string, agents: DevAgents, options: { readonly name: string; readonly bindAddress: string }): Promise<ExtraAgent> {
  const dir = path.join(workDir, `${options.name}-consul`);
  const [httpPort, serfPort, serverPort] = [await freePort(), await freePort(), await freePort()];
  const config = {
    node_name: options.name,
    datacenter: agents.datacenter,
    bind_addr: options.bindAddress,
    client_addr: options.bindAddress,
    data_dir: path.join(dir, "data"),
    // A client agent serves no RPC, but Consul wants a server port anyway.
    ports: { http: httpPort, dns: -1, grpc: -1, grpc_tls: -1, serf_lan: serfPort, serf_wan: -1, server: serverPort },
    retry_join: [agents.consulSerfAddress],
    acl: { enabled: true, default_policy: "deny" },
    log_level: "INFO",
  };
  return startExtraAgent(consulBinary, (c) => ["agent", `-config-dir=${c}`], dir, { "consul.json": JSON.stringify(config) }, `Consul agent ${options.name} alive`, async () => {
    const r = await http("GET", `${agents.consulAddress}/v1/agent/members`, agents.consulToken);
    return ((r.json ?? []) as { Name: string; Status: number }[]).some((m) => m.Name === options.name && m.Status === 1);
  });
}
