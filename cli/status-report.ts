/**
 * The running cluster against the plan: per node (Consul membership, Nomad status, the build
 * it booted, agent versions) and per job (desired, running, healthy allocations), with every
 * difference named; as a table or as JSON.
 */
import { Inventory, InventoryNode } from "../nodes";
import { PlanOutputs } from "./plan-outputs";
import { ClusterFacts, JobFact, MemberFact, NomadNodeFact } from "./status-facts";

export interface NodeStatus {
  readonly hostname: string;
  readonly role: string;
  readonly address: string;
  /** Consul member status, or "missing". */
  readonly consul: string;
  /** Servers: Nomad server member status; clients: node status, eligibility, drain; util: "-". */
  readonly nomad: string;
  /** Netbooted nodes: the build the node booted (its Nomad meta) and the one the plan publishes for it. */
  readonly build?: { readonly image: string; readonly planned: string; readonly booted?: string };
  readonly versions: { readonly consul?: string; readonly nomad?: string };
  readonly differences: readonly string[];
}

export interface JobStatus {
  readonly name: string;
  readonly type: string;
  /** Nomad's job status, "stopped" when stopped by hand, "missing" when not registered. */
  readonly status: string;
  readonly desired?: number;
  readonly planned?: number;
  readonly running?: number;
  readonly healthy?: number;
  readonly differences: readonly string[];
}

export interface StatusReport {
  readonly cluster: string;
  readonly consulAddress: string;
  readonly nomadAddress: string;
  readonly planSource: string;
  readonly pinned: { readonly consul: string; readonly nomad: string };
  readonly nodes: readonly NodeStatus[];
  readonly jobs: readonly JobStatus[];
  /** Every difference from the plan, one line each; empty when the cluster is as planned. */
  readonly differences: readonly string[];
}

export function compareWithPlan(
  inventory: Inventory,
  plan: PlanOutputs,
  facts: ClusterFacts,
  addresses: { readonly consul: string; readonly nomad: string },
): StatusReport {
  const pinned = { consul: inventory.versions.consul, nomad: inventory.versions.nomad };
  const byName = <T extends { name: string }>(list: readonly T[]) => new Map(list.map((x) => [x.name, x]));
  const consulMembers = byName(facts.consulMembers);
  const nomadServers = byName(facts.nomadServers);
  const nomadNodes = byName(facts.nomadNodes);
  const nodes = inventory.nodes.map((node) =>
    nodeStatus(node, plan, pinned, consulMembers.get(node.hostname), nomadServers.get(`${node.hostname}.${inventory.region}`), nomadNodes.get(node.hostname)),
  );

  const known = new Set(inventory.nodes.map((n) => n.hostname));
  const strangers = [
    ...facts.consulMembers.filter((m) => !known.has(m.name) && m.status !== "left").map((m) => `Consul member ${m.name} (${m.address}) is not in the inventory`),
    ...facts.nomadServers.filter((m) => !known.has(m.name.replace(/\.[^.]+$/, "")) && m.status !== "left").map((m) => `Nomad server ${m.name} (${m.address}) is not in the inventory`),
    ...facts.nomadNodes.filter((n) => !known.has(n.name) && n.status !== "down").map((n) => `Nomad client ${n.name} (${n.address}) is not in the inventory`),
  ];

  const running = byName(facts.jobs);
  const jobs: JobStatus[] = Object.entries(plan.jobs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, planned]) => jobStatus(name, planned, running.get(name)));
  for (const job of facts.jobs) {
    if (!(job.name in plan.jobs)) jobs.push({ name: job.name, type: job.type, status: job.status, desired: job.desired, running: job.running, healthy: job.healthy, differences: [`job ${job.name}: in Nomad, not in the plan`] });
  }

  return {
    cluster: inventory.name,
    consulAddress: addresses.consul,
    nomadAddress: addresses.nomad,
    planSource: plan.source,
    pinned,
    nodes,
    jobs,
    differences: [...nodes.flatMap((n) => n.differences), ...strangers, ...jobs.flatMap((j) => j.differences)],
  };
}

function nodeStatus(
  node: InventoryNode,
  plan: PlanOutputs,
  pinned: { consul: string; nomad: string },
  consul: MemberFact | undefined,
  nomadServer: MemberFact | undefined,
  nomadClient: NomadNodeFact | undefined,
): NodeStatus {
  const differences: string[] = [];
  const say = (what: string) => differences.push(`node ${node.hostname} (${node.role}): ${what}`);
  const agent = (name: string, member: MemberFact | undefined): string => {
    if (!member) {
      say(`no ${name} agent: not a member of ${name}`);
      return "missing";
    }
    if (member.status !== "alive") say(`${name} member ${member.status}`);
    return member.status;
  };
  const version = (name: "consul" | "nomad", value: string | undefined) => {
    if (value !== undefined && value !== pinned[name]) say(`${name === "consul" ? "Consul" : "Nomad"} ${value} runs, the inventory pins ${pinned[name]}`);
  };

  const consulStatus = agent("Consul", consul);
  version("consul", consul?.version);
  let nomad = "-";
  let nomadVersion: string | undefined;
  if (node.role === "server") {
    nomad = agent("Nomad", nomadServer);
    nomadVersion = nomadServer?.version;
  } else if (node.role === "client") {
    if (!nomadClient) {
      say("no Nomad client: not a node of Nomad");
      nomad = "missing";
    } else {
      nomad = [nomadClient.status, nomadClient.eligible ? "eligible" : "ineligible", ...(nomadClient.draining ? ["draining"] : [])].join(", ");
      if (nomadClient.status !== "ready") say(`Nomad client ${nomadClient.status}`);
      if (!nomadClient.eligible) say("Nomad client ineligible for scheduling");
      if (nomadClient.draining) say("Nomad client draining");
      nomadVersion = nomadClient.version;
    }
  }
  version("nomad", nomadVersion);

  const planned = plan.node_image_builds[node.hostname];
  let build: NodeStatus["build"];
  if (planned) {
    build = { image: planned.image, planned: planned.build_id, booted: nomadClient?.buildId };
    if (nomadClient && !nomadClient.buildId) say(`does not report the build it booted (no Nomad meta ely_build_id); the plan publishes ${planned.image} build ${planned.build_id}`);
    else if (nomadClient && nomadClient.buildId !== planned.build_id) {
      say(`booted ${nomadClient.image ?? planned.image} build ${nomadClient.buildId}, the plan publishes ${planned.image} build ${planned.build_id}: reboot it to take the new build`);
    }
  }
  return {
    hostname: node.hostname,
    role: node.role,
    address: node.ip,
    consul: consulStatus,
    nomad,
    build,
    versions: { consul: consul?.version, nomad: nomadVersion },
    differences,
  };
}

function jobStatus(name: string, planned: PlanOutputs["jobs"][string], job: JobFact | undefined): JobStatus {
  const differences: string[] = [];
  const say = (what: string) => differences.push(`job ${name}: ${what}`);
  if (!job) {
    say("not registered in Nomad");
    return { name, type: planned.type, status: "missing", planned: planned.count, differences };
  }
  if (job.stopped) say(`stopped (its allocations are stopped; the plan runs it)`);
  if (planned.count !== undefined && job.type !== "system" && job.desired !== planned.count) say(`count ${job.desired} in Nomad, ${planned.count} in the plan (scaled by hand?)`);
  if (job.type === "system" && !job.stopped && job.desired === 0) say("placed on no node (no client can run it)");
  if (!job.periodic && !job.stopped && job.type !== "batch") {
    if (job.running < job.desired) say(`${job.running} of ${job.desired} allocations running`);
    else if (job.healthy < job.running) say(`${job.running - job.healthy} of ${job.running} running allocations unhealthy`);
  }
  return {
    name,
    type: job.periodic ? `${job.type} (periodic)` : job.type,
    status: job.stopped ? "stopped" : job.status,
    desired: job.desired,
    planned: planned.count,
    running: job.running,
    healthy: job.healthy,
    differences,
  };
}

/** A plain-text table: the nodes, then the jobs, then every difference. */
export function renderStatus(report: StatusReport): string {
  const table = (header: string[], rows: string[][]) => {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
  };
  const mark = (differs: boolean, text: string) => (differs ? `${text} !` : text);
  const nodeRows = report.nodes.map((n) => [
    n.hostname,
    n.role,
    n.address,
    n.consul,
    n.nomad,
    n.build ? mark(n.build.booted !== n.build.planned, `${n.build.booted ?? "?"} / ${n.build.planned}`) : "-",
    n.versions.consul ? mark(n.versions.consul !== report.pinned.consul, n.versions.consul) : "-",
    n.versions.nomad ? mark(n.versions.nomad !== report.pinned.nomad, n.versions.nomad) : "-",
  ]);
  const num = (v: number | undefined) => (v === undefined ? "-" : String(v));
  const jobRows = report.jobs.map((j) => [j.name, j.type, j.status, num(j.planned), num(j.desired), num(j.running), num(j.healthy)]);
  const lines = [
    `${report.cluster}: Consul ${report.consulAddress}, Nomad ${report.nomadAddress}; the plan: ${report.planSource}`,
    "",
    table(["NODE", "ROLE", "ADDRESS", "CONSUL", "NOMAD", "BUILD (booted / plan)", `CONSUL ${report.pinned.consul}`, `NOMAD ${report.pinned.nomad}`], nodeRows),
    "",
    table(["JOB", "TYPE", "STATUS", "PLAN", "DESIRED", "RUNNING", "HEALTHY"], jobRows),
    "",
    report.differences.length === 0
      ? "As planned: every node up on its planned build and versions, every job healthy."
      : [`${report.differences.length} difference${report.differences.length === 1 ? "" : "s"} from the plan:`, ...report.differences.map((d) => `  - ${d}`)].join("\n"),
  ];
  return lines.join("\n") + "\n";
}
