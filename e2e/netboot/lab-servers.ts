/**
 * The lab's server, for a netbooted worker to join: the inventory's one server node, its Consul and
 * Nomad server agents (the real binaries, with the plan's own server configuration:
 * constructs/cluster/role-agent-configs.ts) in a network namespace on the lab's bridge, at the
 * node's inventory address, as the machine sits on the LAN:
 *
 *   bridge <br> (bridge-network.ts) --veth <hostLink>-- netns <netns>: eth0 <server ip>, Consul and Nomad servers
 *
 * The worker finds it by its own configuration (retry_join to the inventory's servers), so the
 * inventory must have exactly one server: with more, bootstrap_expect would wait for servers that
 * are not there. Security off only (the netboot lab serves no secrets): see netbootInventoryInput.
 * Everything runs as root (the namespace); stop() stops the agents and removes the namespace.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { consulServerConfig, nomadServerConfig } from "../../constructs/cluster/role-agent-configs";
import { CONSUL_HTTP_PORT, Inventory, serversOf } from "../../nodes";
import { CONSUL_CONFIG_FILE, NOMAD_CONFIG_FILE } from "../../nodes/agent-paths";
import { ExtraAgent, http, startExtraAgent } from "../dev-agents";
import { ip } from "./bridge-network";
import type { BootAwait, PreparedNetboot } from "./harness";

/** Nomad's HTTP port (its default; the inventory's agent configs keep it). */
const NOMAD_HTTP_PORT = 4646;

export interface LabServersOptions {
  readonly inventory: Inventory;
  /** The lab's bridge, which the namespace's link joins, and the subnet's prefix length. */
  readonly bridge: string;
  readonly prefixLength: number;
  /** The namespace and the host's end of its link (at most 15 characters). */
  readonly netns: string;
  readonly hostLink: string;
  readonly bins: { readonly consul: string; readonly nomad: string };
  /** Configuration, data directories and the agents' logs. */
  readonly stateDir: string;
}

export interface LabServers {
  /** The server's hostname and inventory address. */
  readonly hostname: string;
  readonly address: string;
  /** The node's status in Nomad ("initializing", "ready", "down"), undefined while Nomad does not list it. */
  nomadNodeStatus(hostname: string): Promise<string | undefined>;
  /** Whether Consul lists the node as an alive member. */
  consulMemberAlive(hostname: string): Promise<boolean>;
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

/** Problems of the inventory for a one-server lab; empty when it fits. */
export function labServersProblems(inventory: Inventory): string[] {
  const problems: string[] = [];
  const servers = serversOf(inventory);
  if (servers.length !== 1) problems.push(`the lab's server: the inventory "${inventory.name}" has ${servers.length} servers (${servers.map((s) => s.hostname).join(", ") || "none"}), expected exactly 1`);
  const { acl, tls, gossipEncryption } = inventory.security;
  const on = Object.entries({ acl, tls, gossipEncryption }).filter(([, v]) => v).map(([k]) => k);
  if (on.length) problems.push(`the lab's server: security ${on.join(", ")} on in the inventory "${inventory.name}", expected off (the netboot lab serves no secrets)`);
  return problems;
}

/**
 * A copy of an inventory's input with its first server as the only one: the lab runs one server, and the
 * worker's agents, configured from this inventory, join it alone (the others would hold its join up).
 */
export function withOneServer<T extends { nodes: Array<{ role: string }> }>(input: T): T {
  const first = input.nodes.find((n) => n.role === "server");
  return { ...input, nodes: input.nodes.filter((n) => n.role !== "server" || n === first) };
}

/** Starts the server's agents in their namespace; resolves once both Consul and Nomad have a leader. */
export async function startLabServers(options: LabServersOptions): Promise<LabServers> {
  const problems = labServersProblems(options.inventory);
  if (problems.length) throw new Error(problems.join("; "));
  const [server] = serversOf(options.inventory);
  const { netns, hostLink } = options;
  const agents: ExtraAgent[] = [];
  // The agents run in their own process groups: whatever ends this process (Ctrl-C, a runner's SIGTERM), they go with it.
  const killNow = () => {
    for (const pid of spawnSync("ip", ["netns", "pids", netns], { encoding: "utf8" }).stdout?.split(/\s+/).filter(Boolean) ?? []) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    spawnSync("ip", ["netns", "del", netns], { stdio: "ignore" }); // its eth0 goes with it, and so the host's end
    spawnSync("ip", ["link", "del", hostLink], { stdio: "ignore" });
  };
  const stop = async () => {
    process.removeListener("exit", killNow);
    for (const a of [...agents].reverse()) await a.stop();
    killNow();
  };
  // A run killed before its stop() left these behind.
  await stop();
  const consulUrl = `http://${server.ip}:${CONSUL_HTTP_PORT}`;
  const nomadUrl = `http://${server.ip}:${NOMAD_HTTP_PORT}`;
  const hasLeader = async (url: string) => {
    const r = await http("GET", `${url}/v1/status/leader`).catch(() => undefined);
    return r?.status === 200 && typeof r.json === "string" && r.json !== "";
  };
  process.once("exit", killNow);
  try {
    ip("netns", "add", netns);
    ip("link", "add", hostLink, "type", "veth", "peer", "name", "eth0", "netns", netns);
    ip("link", "set", hostLink, "master", options.bridge, "up");
    ip("-n", netns, "addr", "add", `${server.ip}/${options.prefixLength}`, "dev", "eth0");
    ip("-n", netns, "link", "set", "eth0", "up");
    ip("-n", netns, "link", "set", "lo", "up");
    const servers = [server];
    const inNamespace = (binary: string, args: string[]) => ["netns", "exec", netns, binary, ...args];
    const consul = { ...consulServerConfig(options.inventory, server, servers), data_dir: path.join(options.stateDir, "consul", "data") };
    agents.push(
      await startExtraAgent("ip", (c) => inNamespace(options.bins.consul, ["agent", `-config-dir=${c}`]), path.join(options.stateDir, "consul"), { [CONSUL_CONFIG_FILE]: JSON.stringify(consul) }, `Consul server ${server.hostname} with a leader`, () => hasLeader(consulUrl)),
    );
    const nomad = { ...nomadServerConfig(options.inventory, server, servers), data_dir: path.join(options.stateDir, "nomad", "data") };
    agents.push(
      await startExtraAgent("ip", (c) => inNamespace(options.bins.nomad, ["agent", `-config=${c}`]), path.join(options.stateDir, "nomad"), { [NOMAD_CONFIG_FILE]: JSON.stringify(nomad) }, `Nomad server ${server.hostname} with a leader`, () => hasLeader(nomadUrl)),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    hostname: server.hostname,
    address: server.ip,
    async nomadNodeStatus(hostname) {
      const r = await http("GET", `${nomadUrl}/v1/nodes`).catch(() => undefined);
      return ((r?.json ?? []) as { Name: string; Status: string }[]).find((n) => n.Name === hostname)?.Status;
    },
    async consulMemberAlive(hostname) {
      const r = await http("GET", `${consulUrl}/v1/agent/members`).catch(() => undefined);
      // Serf's member status 1 is alive.
      return ((r?.json ?? []) as { Name: string; Status: number }[]).some((m) => m.Name === hostname && m.Status === 1);
    },
    logTails: (lines = 40) => agents.map((a, i) => `--- ${["consul", "nomad"][i]} server ---\n${a.logTail(lines)}`).join("\n"),
    stop,
  };
}


/**
 * The lab's server for a netboot prepared on the bridge network: in the namespace and on the link its bridge names
 * give it (bridge-network.ts).
 */
export function startPreparedLabServers(prepared: Pick<PreparedNetboot, "inventory" | "bridgeNames">, bins: LabServersOptions["bins"], stateDir: string): Promise<LabServers> {
  if (!prepared.bridgeNames) throw new Error("the lab's server needs the netboot prepared on the bridge network");
  return startLabServers({
    inventory: prepared.inventory,
    bridge: prepared.bridgeNames.bridge,
    prefixLength: Number(prepared.inventory.network.subnet.split("/")[1]),
    netns: prepared.bridgeNames.server,
    hostLink: prepared.bridgeNames.serverLink,
    bins,
    stateDir,
  });
}

/** What a boot into the lab's server waits for: the node a Consul member (consul-member), then ready in Nomad (nomad-ready). */
export function nodeJoinedAwaits(servers: LabServers, hostname: string): BootAwait[] {
  return [
    { name: "consul-member", reached: () => servers.consulMemberAlive(hostname) },
    { name: "nomad-ready", reached: async () => (await servers.nomadNodeStatus(hostname)) === "ready" },
  ];
}
