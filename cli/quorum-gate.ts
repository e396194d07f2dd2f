/**
 * The server rollout's quorum gate: before a server's agents restart, may the cluster lose
 * that server for a while? A pure decision over what the node side (cli/server-step-remote.sh,
 * `quorum-facts`) read from the agents' APIs:
 *
 *   Consul  GET /v1/operator/autopilot/health      (FailureTolerance, per server Healthy and Voter)
 *   Nomad   GET /v1/operator/raft/configuration    (per server Voter)
 *           GET /v1/operator/autopilot/health      (where it answers: Healthy, FailureTolerance)
 *
 * The rules, per agent that will restart:
 *   - no leader on any server: a fresh cluster (no server answers, or the Raft configuration is
 *     empty: Consul's /v1/status/peers, Nomad's /v1/operator/raft/configuration?stale) has
 *     nothing to protect and bootstraps through the gate; a formed cluster without a leader (an
 *     election under way, or the quorum lost) blocks;
 *   - every other server must be in the Raft configuration, a voter and healthy; every server of
 *     the inventory must be in the Raft configuration;
 *   - the failure tolerance must be at least 1, unless the target itself is down or missing
 *     already (restarting a dead server cannot lower it: this is how a dead server is replaced);
 *   - a single-server cluster (the inventory has one server) passes with a warning: it has no
 *     quorum to keep, and the agent is unavailable while it restarts;
 *   - an answer the gate cannot read (no token, HTTP error, not JSON) blocks: it fails closed.
 */
import { Agent } from "../constructs/rollout/ssh-node-layout";

/** One server of an autopilot health answer (Consul and Nomad share the shape). */
export interface AutopilotServer {
  readonly ID?: string;
  readonly Name: string;
  readonly Address: string;
  readonly SerfStatus?: string;
  readonly Healthy: boolean;
  readonly Voter: boolean;
  readonly Leader?: boolean;
  readonly LastContact?: string;
}

export interface AutopilotHealth {
  readonly Healthy: boolean;
  readonly FailureTolerance: number;
  readonly Servers: readonly AutopilotServer[];
}

/** Nomad's /v1/operator/raft/configuration. */
export interface RaftConfiguration {
  readonly Servers: readonly { readonly ID?: string; readonly Node: string; readonly Address: string; readonly Leader?: boolean; readonly Voter: boolean }[];
}

/** What one GET answered: HTTP status (0: no answer), body, and which server was asked. */
export interface ApiAnswer {
  readonly code: number;
  readonly body: string;
  readonly from: string;
}

export interface AgentFacts {
  /** The server that reported a leader, or undefined when no server knows one. */
  readonly leaderFrom?: string;
  /** Consul and Nomad: GET /v1/operator/autopilot/health. */
  readonly health?: ApiAnswer;
  /** Nomad: GET /v1/operator/raft/configuration. */
  readonly raft?: ApiAnswer;
  /**
   * Without a leader, the Raft members of the first server that answers (Consul: GET
   * /v1/status/peers; Nomad: GET /v1/operator/raft/configuration?stale); from "none": no
   * server answered.
   */
  readonly peers?: ApiAnswer;
}

export type QuorumFacts = Partial<Record<Agent, AgentFacts>>;

export interface GateTarget {
  /** The server about to restart (Consul's node name; Nomad's is <host>.<region>). */
  readonly host: string;
  readonly region: string;
  /** Every server of the inventory, the target included. */
  readonly servers: readonly { readonly host: string; readonly ip: string }[];
}

export interface GateDecision {
  readonly proceed: boolean;
  /** What the gate saw (and warnings), one line each, "consul: ..." / "nomad: ...". */
  readonly notes: readonly string[];
  /** Why it blocks, one line each: empty when proceed. */
  readonly problems: readonly string[];
}

const ipOf = (address: string) => address.replace(/^\[(.*)\]:\d+$/, "$1").replace(/:\d+$/, "");

function parse<T>(answer: ApiAnswer | undefined, valid: (v: unknown) => v is T): T | string {
  if (!answer) return "not asked";
  const where = `from ${answer.from}`;
  if (answer.code === 0) return `no answer ${where}${answer.body ? ` (${firstLine(answer.body)})` : ""}`;
  let value: unknown;
  try {
    value = JSON.parse(answer.body);
  } catch {
    return `HTTP ${answer.code} ${where}: ${firstLine(answer.body) || "(empty body)"}`;
  }
  // Autopilot health answers 429 when the cluster is unhealthy, with the same JSON.
  if ((answer.code !== 200 && answer.code !== 429) || !valid(value)) return `HTTP ${answer.code} ${where}: unexpected answer ${firstLine(answer.body)}`;
  return value;
}

function firstLine(text: string): string {
  const line = text.trim().split("\n")[0] ?? "";
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

const isHealth = (v: unknown): v is AutopilotHealth =>
  typeof v === "object" && v !== null && Array.isArray((v as AutopilotHealth).Servers) && typeof (v as AutopilotHealth).FailureTolerance === "number";
const isRaft = (v: unknown): v is RaftConfiguration => typeof v === "object" && v !== null && Array.isArray((v as RaftConfiguration).Servers);

function serverLabel(name: string, address: string): string {
  return `${name} (${address})`;
}

function unhealthyWhy(s: AutopilotServer): string {
  const parts = [s.SerfStatus ? `serf ${s.SerfStatus}` : "", s.LastContact ? `last contact ${s.LastContact}` : ""].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** Checks one agent's autopilot health; pushes problems, returns the target's health (undefined: absent). */
function checkHealth(agent: Agent, health: AutopilotHealth, self: string, problems: string[]): AutopilotServer | undefined {
  for (const s of health.Servers) {
    if (s.Name === self) continue;
    if (!s.Healthy) problems.push(`${agent}: server ${serverLabel(s.Name, s.Address)} is unhealthy${unhealthyWhy(s)}`);
    if (!s.Voter) problems.push(`${agent}: server ${serverLabel(s.Name, s.Address)} is not a voter`);
  }
  return health.Servers.find((s) => s.Name === self);
}

function checkMissing(agent: Agent, target: GateTarget, addresses: readonly string[], problems: string[]): void {
  const present = new Set(addresses.map(ipOf));
  for (const s of target.servers) {
    if (s.host !== target.host && !present.has(s.ip)) problems.push(`${agent}: server ${s.host} (${s.ip}) of the inventory is not in the Raft configuration`);
  }
}

/** The tolerance rule, once the others are checked: a healthy target needs FailureTolerance >= 1. */
function checkTolerance(agent: Agent, target: GateTarget, health: AutopilotHealth, self: AutopilotServer | undefined, notes: string[], problems: string[]): void {
  const voters = health.Servers.filter((s) => s.Voter).length;
  if (!self || !self.Healthy) {
    notes.push(`${agent}: ${target.host} is ${self ? `unhealthy already${unhealthyWhy(self)}` : "not in the cluster"}: restarting it cannot lower the failure tolerance (${health.FailureTolerance})`);
  } else if (health.FailureTolerance < 1) {
    problems.push(`${agent}: failure tolerance is ${health.FailureTolerance} (${voters} voters): restarting ${target.host} would lose the quorum`);
  } else {
    notes.push(`${agent}: ${voters} voters healthy, failure tolerance ${health.FailureTolerance}`);
  }
}

/** A lab cluster of one server (the inventory's and the Raft configuration's) passes, with a warning. */
function singleServer(agent: Agent, target: GateTarget, names: readonly string[], self: string, notes: string[]): boolean {
  if (target.servers.length !== 1 || names.some((n) => n !== self)) return false;
  notes.push(`${agent}: WARNING: ${target.host} is the only server: a single-server cluster has no quorum to keep, and ${agent} is unavailable while it restarts`);
  return true;
}

const isPeers = (v: unknown): v is unknown[] => Array.isArray(v);
const isStaleRaft = (v: unknown): v is { Servers: unknown[] | null } => typeof v === "object" && v !== null && "Servers" in v && (v.Servers === null || Array.isArray(v.Servers));

/** Without a leader: how many servers the Raft configuration holds (0: fresh), "none": no server answers, or why it cannot be read. */
function raftMembers(agent: Agent, answer: ApiAnswer | undefined): number | "none" | { why: string } {
  if (answer && answer.code === 0 && answer.from === "none") return "none";
  if (agent === "consul") {
    const peers = parse(answer, isPeers);
    return typeof peers === "string" ? { why: peers } : peers.length;
  }
  const raft = parse(answer, isStaleRaft);
  return typeof raft === "string" ? { why: raft } : (raft.Servers ?? []).length;
}

function decideLeaderless(agent: Agent, facts: QuorumFacts, notes: string[], problems: string[]): void {
  const members = raftMembers(agent, facts[agent]?.peers);
  const from = facts[agent]?.peers?.from;
  if (members === "none") {
    notes.push(`${agent}: no server runs yet: a fresh cluster, nothing to protect`);
  } else if (members === 0) {
    notes.push(`${agent}: no leader, and the Raft configuration of ${from} is empty: a fresh cluster bootstrapping, nothing to protect`);
  } else if (typeof members === "number") {
    problems.push(`${agent}: no server knows a leader, though ${from} has ${members} server${members === 1 ? "" : "s"} in its Raft configuration: an election is under way, or the cluster lost its quorum`);
  } else if (agent === "nomad" && !facts.consul?.leaderFrom && [0, "none"].includes(raftMembers("consul", facts.consul?.peers) as number | string)) {
    // Before Nomad's ACLs are bootstrapped (no leader yet) its operator token is unknown to it.
    notes.push(`nomad: no leader, its Raft configuration unreadable (${members.why}), and Consul's is empty: a fresh cluster bootstrapping, nothing to protect`);
  } else {
    problems.push(`${agent}: no server knows a leader, and the gate cannot read the Raft configuration (${members.why}): it cannot tell a fresh cluster from one that lost its leader`);
  }
}

function decideAgent(agent: Agent, all: QuorumFacts, target: GateTarget, notes: string[], problems: string[]): void {
  const facts = all[agent];
  if (!facts?.leaderFrom) {
    decideLeaderless(agent, all, notes, problems);
    return;
  }
  const self = agent === "consul" ? target.host : `${target.host}.${target.region}`;
  const health = parse(facts.health, isHealth);
  if (agent === "consul") {
    if (typeof health === "string") {
      problems.push(`consul: cannot read the autopilot health (/v1/operator/autopilot/health: ${health}): the gate cannot tell whether the cluster tolerates restarting ${target.host}`);
      return;
    }
    if (singleServer(agent, target, health.Servers.map((s) => s.Name), self, notes)) return;
    const before = problems.length;
    const me = checkHealth(agent, health, self, problems);
    checkMissing(agent, target, health.Servers.map((s) => s.Address), problems);
    if (problems.length === before) checkTolerance(agent, target, health, me, notes, problems);
    return;
  }
  const raft = parse(facts.raft, isRaft);
  if (typeof raft === "string") {
    problems.push(`nomad: cannot read the Raft configuration (/v1/operator/raft/configuration: ${raft}): the gate cannot tell whether the cluster tolerates restarting ${target.host}`);
    return;
  }
  if (singleServer(agent, target, raft.Servers.map((s) => s.Node), self, notes)) return;
  const before = problems.length;
  for (const s of raft.Servers) {
    if (s.Node !== self && !s.Voter) problems.push(`nomad: server ${serverLabel(s.Node, s.Address)} is not a voter`);
  }
  checkMissing(agent, target, raft.Servers.map((s) => s.Address), problems);
  if (typeof health === "string") {
    notes.push(`nomad: autopilot health unavailable (${health}): checked the Raft configuration only (${raft.Servers.length} servers, ${raft.Servers.filter((s) => s.Voter).length} voters)`);
    return;
  }
  const me = checkHealth(agent, health, self, problems);
  if (problems.length === before) checkTolerance(agent, target, health, me, notes, problems);
}

/** The gate's decision for restarting `agents` on the target, from the facts read from the cluster. */
export function quorumDecision(target: GateTarget, facts: QuorumFacts, agents: readonly Agent[]): GateDecision {
  const notes: string[] = [];
  const problems: string[] = [];
  for (const agent of agents) decideAgent(agent, facts, target, notes, problems);
  return { proceed: problems.length === 0, notes, problems };
}

/** The step's error text when the gate blocks. */
export function blockedMessage(target: GateTarget, decision: GateDecision, waitedSeconds: number): string {
  return (
    `${target.host}: the cluster does not tolerate restarting ${target.host} (checked for ${waitedSeconds}s); nothing on ${target.host} was touched:\n` +
    decision.problems.map((p) => `  ${p}`).join("\n") +
    `\n(bring the server(s) named back, or see "Day-2" in the README to replace a dead server)`
  );
}

/**
 * Parses the node side's `quorum-facts` output: lines "<agent> leader <from|none>" and
 * "<agent> <health|raft|peers> <code> <from> <base64 body>".
 */
export function parseQuorumFacts(output: string): QuorumFacts {
  const facts: Record<string, { leaderFrom?: string; health?: ApiAnswer; raft?: ApiAnswer; peers?: ApiAnswer }> = {};
  for (const line of output.split("\n")) {
    const words = line.trim().split(/\s+/);
    if (words.length < 3 || (words[0] !== "consul" && words[0] !== "nomad")) continue;
    const f = (facts[words[0]] ??= {});
    if (words[1] === "leader") {
      if (words[2] !== "none") f.leaderFrom = words[2];
    } else if (words[1] === "health" || words[1] === "raft" || words[1] === "peers") {
      f[words[1]] = { code: Number(words[2]) || 0, from: words[3] ?? "?", body: Buffer.from(words[4] ?? "", "base64").toString("utf8") };
    }
  }
  return facts as QuorumFacts;
}
