/**
 * The quorum gate's decision (cli/quorum-gate.ts) over the JSON Consul and Nomad answer:
 * every rule, and each message it gives.
 */
import { AgentFacts, ApiAnswer, AutopilotServer, blockedMessage, GateTarget, parseQuorumFacts, quorumDecision, QuorumFacts } from "../cli/quorum-gate";

const servers = [
  { host: "s1", ip: "10.0.0.11" },
  { host: "s2", ip: "10.0.0.12" },
  { host: "s3", ip: "10.0.0.13" },
];
const target: GateTarget = { host: "s1", region: "global", servers };

const server = (name: string, ip: string, port: number, change: Partial<AutopilotServer> = {}): AutopilotServer => ({
  ID: `id-${name}`,
  Name: name,
  Address: `${ip}:${port}`,
  SerfStatus: "alive",
  Healthy: true,
  Voter: true,
  Leader: name.startsWith("s1"),
  LastContact: "0s",
  ...change,
});

/** An autopilot health answer (Consul port 8300, Nomad 4647; Nomad names are <host>.global). */
function health(agent: "consul" | "nomad", changes: Record<string, Partial<AutopilotServer>> = {}, only = servers): ApiAnswer {
  const list = only.map((s) => server(agent === "consul" ? s.host : `${s.host}.global`, s.ip, agent === "consul" ? 8300 : 4647, changes[s.host]));
  const healthyVoters = list.filter((s) => s.Healthy && s.Voter).length;
  const quorum = Math.floor(list.filter((s) => s.Voter).length / 2) + 1;
  const body = { Healthy: list.every((s) => s.Healthy), FailureTolerance: Math.max(0, healthyVoters - quorum), Servers: list };
  return { code: body.Healthy ? 200 : 429, body: JSON.stringify(body), from: "s1" };
}

function raft(changes: Record<string, { Voter?: boolean }> = {}, only = servers): ApiAnswer {
  const list = only.map((s) => ({ ID: `id-${s.host}`, Node: `${s.host}.global`, Address: `${s.ip}:4647`, Leader: s.host === "s1", RaftProtocol: "3", Voter: true, ...changes[s.host] }));
  return { code: 200, body: JSON.stringify({ Index: 42, Servers: list }), from: "s1" };
}

const consulFacts = (h: ApiAnswer = health("consul")): AgentFacts => ({ leaderFrom: "s1", health: h });
const nomadFacts = (r: ApiAnswer = raft(), h: ApiAnswer | undefined = health("nomad")): AgentFacts => ({ leaderFrom: "s1", raft: r, health: h });
const healthy = (): QuorumFacts => ({ consul: consulFacts(), nomad: nomadFacts() });
const both = ["consul", "nomad"] as const;

describe("the quorum gate lets a restart through", () => {
  test("three healthy voters in both clusters: tolerance 1", () => {
    expect(quorumDecision(target, healthy(), both)).toEqual({
      proceed: true,
      notes: ["consul: 3 voters healthy, failure tolerance 1", "nomad: 3 voters healthy, failure tolerance 1"],
      problems: [],
    });
  });

  test("no leader and nothing runs yet: the first server of a fresh cluster", () => {
    const nothing: ApiAnswer = { code: 0, body: "", from: "none" };
    expect(quorumDecision(target, { consul: { peers: nothing }, nomad: { peers: nothing } }, both)).toEqual({
      proceed: true,
      notes: ["consul: no server runs yet: a fresh cluster, nothing to protect", "nomad: no server runs yet: a fresh cluster, nothing to protect"],
      problems: [],
    });
  });

  test("no leader and empty Raft configurations: a fresh cluster bootstrapping (Nomad's ACLs not bootstrapped yet)", () => {
    const facts: QuorumFacts = {
      consul: { peers: { code: 200, body: "[]", from: "s1" } },
      nomad: { peers: { code: 403, body: "ACL token not found", from: "s1" } },
    };
    expect(quorumDecision(target, facts, both)).toEqual({
      proceed: true,
      notes: [
        "consul: no leader, and the Raft configuration of s1 is empty: a fresh cluster bootstrapping, nothing to protect",
        "nomad: no leader, its Raft configuration unreadable (HTTP 403 from s1: ACL token not found), and Consul's is empty: a fresh cluster bootstrapping, nothing to protect",
      ],
      problems: [],
    });
    expect(quorumDecision(target, { nomad: { peers: { code: 200, body: '{"Servers":null,"Index":0}', from: "s2" } } }, ["nomad"]).notes).toEqual([
      "nomad: no leader, and the Raft configuration of s2 is empty: a fresh cluster bootstrapping, nothing to protect",
    ]);
  });

  test("the target itself is down (a dead server being replaced): tolerance 0 does not block", () => {
    const facts: QuorumFacts = {
      consul: consulFacts(health("consul", { s1: { Healthy: false, SerfStatus: "failed", LastContact: "1m2s" } })),
      nomad: nomadFacts(raft(), health("nomad", { s1: { Healthy: false, SerfStatus: "failed" } })),
    };
    expect(quorumDecision(target, facts, both)).toEqual({
      proceed: true,
      notes: [
        "consul: s1 is unhealthy already (serf failed, last contact 1m2s): restarting it cannot lower the failure tolerance (0)",
        "nomad: s1 is unhealthy already (serf failed, last contact 0s): restarting it cannot lower the failure tolerance (0)",
      ],
      problems: [],
    });
  });

  test("the target is not in the cluster yet (a new or reinstalled server)", () => {
    const others = servers.slice(1);
    const d = quorumDecision(target, { consul: consulFacts(health("consul", {}, others)) }, ["consul"]);
    // Two voters of two: tolerance 0, but the target is not one of them.
    expect(d).toEqual({ proceed: true, notes: ["consul: s1 is not in the cluster: restarting it cannot lower the failure tolerance (0)"], problems: [] });
  });

  test("a single-server lab cluster passes with a warning", () => {
    const one = { ...target, servers: servers.slice(0, 1) };
    const only = servers.slice(0, 1);
    const d = quorumDecision(one, { consul: consulFacts(health("consul", {}, only)), nomad: nomadFacts(raft({}, only), health("nomad", {}, only)) }, both);
    expect(d).toEqual({
      proceed: true,
      notes: [
        "consul: WARNING: s1 is the only server: a single-server cluster has no quorum to keep, and consul is unavailable while it restarts",
        "nomad: WARNING: s1 is the only server: a single-server cluster has no quorum to keep, and nomad is unavailable while it restarts",
      ],
      problems: [],
    });
  });

  test("only the agents that restart are checked", () => {
    const facts: QuorumFacts = { consul: consulFacts(health("consul", { s2: { Healthy: false } })), nomad: nomadFacts() };
    expect(quorumDecision(target, facts, ["nomad"]).proceed).toBe(true);
    expect(quorumDecision(target, facts, ["consul"]).proceed).toBe(false);
    expect(quorumDecision(target, facts, []).proceed).toBe(true);
  });

  test("Nomad without autopilot health: the Raft configuration alone, said so", () => {
    const d = quorumDecision(target, { nomad: nomadFacts(raft(), { code: 404, body: "Invalid URL", from: "s1" }) }, ["nomad"]);
    expect(d).toEqual({
      proceed: true,
      notes: ["nomad: autopilot health unavailable (HTTP 404 from s1: Invalid URL): checked the Raft configuration only (3 servers, 3 voters)"],
      problems: [],
    });
  });
});

describe("the quorum gate stops, naming the server and why", () => {
  test("another Consul server stopped: unhealthy, with its serf status and last contact", () => {
    const d = quorumDecision(target, { consul: consulFacts(health("consul", { s2: { Healthy: false, SerfStatus: "failed", LastContact: "12.5s" } })) }, ["consul"]);
    expect(d).toEqual({ proceed: false, notes: [], problems: ["consul: server s2 (10.0.0.12:8300) is unhealthy (serf failed, last contact 12.5s)"] });
  });

  test("another server is not a voter (Consul and Nomad)", () => {
    const d = quorumDecision(target, { consul: consulFacts(health("consul", { s3: { Voter: false } })), nomad: nomadFacts(raft({ s2: { Voter: false } }), undefined) }, both);
    expect(d.problems).toEqual(["consul: server s3 (10.0.0.13:8300) is not a voter", "nomad: server s2.global (10.0.0.12:4647) is not a voter"]);
  });

  test("a server of the inventory missing from the Raft configuration", () => {
    const d = quorumDecision(target, { consul: consulFacts(health("consul", {}, [servers[0], servers[2]])), nomad: nomadFacts(raft({}, servers.slice(0, 2)), undefined) }, both);
    expect(d.problems).toEqual([
      "consul: server s2 (10.0.0.12) of the inventory is not in the Raft configuration",
      "nomad: server s3 (10.0.0.13) of the inventory is not in the Raft configuration",
    ]);
  });

  test("failure tolerance 0 with a healthy target: two voters", () => {
    const two = { ...target, servers: servers.slice(0, 2) };
    const d = quorumDecision(two, { consul: consulFacts(health("consul", {}, servers.slice(0, 2))) }, ["consul"]);
    expect(d.problems).toEqual(["consul: failure tolerance is 0 (2 voters): restarting s1 would lose the quorum"]);
  });

  test("Nomad: another server unhealthy in autopilot though still a voter in Raft", () => {
    const d = quorumDecision(target, { nomad: nomadFacts(raft(), health("nomad", { s3: { Healthy: false, SerfStatus: "failed", LastContact: "" } })) }, ["nomad"]);
    expect(d.problems).toEqual(["nomad: server s3.global (10.0.0.13:4647) is unhealthy (serf failed)"]);
  });

  test("no leader in a formed cluster: an election, or the quorum lost", () => {
    const facts: QuorumFacts = {
      consul: { peers: { code: 200, body: JSON.stringify(["10.0.0.11:8300", "10.0.0.13:8300"]), from: "s3" } },
      nomad: { peers: { code: 200, body: JSON.stringify({ Servers: [{ Node: "s1.global" }] }), from: "s1" } },
    };
    expect(quorumDecision(target, facts, both).problems).toEqual([
      "consul: no server knows a leader, though s3 has 2 servers in its Raft configuration: an election is under way, or the cluster lost its quorum",
      "nomad: no server knows a leader, though s1 has 1 server in its Raft configuration: an election is under way, or the cluster lost its quorum",
    ]);
    // Nomad's configuration unreadable while Consul's is formed: no way to tell, so no.
    const unreadable: QuorumFacts = { consul: facts.consul, nomad: { peers: { code: 403, body: "Permission denied", from: "s1" } } };
    expect(quorumDecision(target, unreadable, ["nomad"]).problems).toEqual([
      "nomad: no server knows a leader, and the gate cannot read the Raft configuration (HTTP 403 from s1: Permission denied): it cannot tell a fresh cluster from one that lost its leader",
    ]);
  });

  test("answers it cannot read fail closed", () => {
    const denied: ApiAnswer = { code: 403, body: "ACL not found", from: "s1" };
    const d = quorumDecision(target, { consul: consulFacts(denied), nomad: nomadFacts({ code: 0, body: "curl: (7) Failed to connect", from: "10.0.0.12" }) }, both);
    expect(d.problems).toEqual([
      "consul: cannot read the autopilot health (/v1/operator/autopilot/health: HTTP 403 from s1: ACL not found): the gate cannot tell whether the cluster tolerates restarting s1",
      "nomad: cannot read the Raft configuration (/v1/operator/raft/configuration: no answer from 10.0.0.12 (curl: (7) Failed to connect)): the gate cannot tell whether the cluster tolerates restarting s1",
    ]);
    const odd = quorumDecision(target, { consul: consulFacts({ code: 200, body: '{"Servers":"x"}', from: "s1" }) }, ["consul"]);
    expect(odd.problems).toEqual([
      'consul: cannot read the autopilot health (/v1/operator/autopilot/health: HTTP 200 from s1: unexpected answer {"Servers":"x"}): the gate cannot tell whether the cluster tolerates restarting s1',
    ]);
    const asked = quorumDecision(target, { nomad: { leaderFrom: "s1" } }, ["nomad"]);
    expect(asked.problems).toEqual(["nomad: cannot read the Raft configuration (/v1/operator/raft/configuration: not asked): the gate cannot tell whether the cluster tolerates restarting s1"]);
  });

  test("the step's message names every problem and says nothing was touched", () => {
    const d = quorumDecision(target, { consul: consulFacts(health("consul", { s2: { Healthy: false, SerfStatus: "failed", LastContact: "3s" } })), nomad: nomadFacts(raft(), health("nomad", { s2: { Healthy: false, SerfStatus: "failed", LastContact: "4s" } })) }, both);
    expect(blockedMessage(target, d, 20)).toBe(
      "s1: the cluster does not tolerate restarting s1 (checked for 20s); nothing on s1 was touched:\n" +
        "  consul: server s2 (10.0.0.12:8300) is unhealthy (serf failed, last contact 3s)\n" +
        "  nomad: server s2.global (10.0.0.12:4647) is unhealthy (serf failed, last contact 4s)\n" +
        '(bring the server(s) named back, or see "Day-2" in the README to replace a dead server)',
    );
  });
});

test("the node side's quorum-facts lines parse into facts", () => {
  const b64 = (text: string) => Buffer.from(text).toString("base64");
  const out = [
    "consul leader s1",
    `consul health 429 s1 ${b64('{"Healthy":false}')}`,
    "nomad leader 10.0.0.12",
    `nomad raft 200 10.0.0.12 ${b64('{"Servers":[]}')}`,
    "nomad health 000 10.0.0.12 ",
    `consul peers 200 s2 ${b64("[]")}`,
    "something else",
  ].join("\n");
  expect(parseQuorumFacts(out)).toEqual({
    consul: { leaderFrom: "s1", health: { code: 429, from: "s1", body: '{"Healthy":false}' }, peers: { code: 200, from: "s2", body: "[]" } },
    nomad: { leaderFrom: "10.0.0.12", raft: { code: 200, from: "10.0.0.12", body: '{"Servers":[]}' }, health: { code: 0, from: "10.0.0.12", body: "" } },
  });
  expect(parseQuorumFacts("consul leader none\nnomad leader none\n")).toEqual({ consul: {}, nomad: {} });
});
