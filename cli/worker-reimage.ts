#!/usr/bin/env node
/**
 * ely worker reimage: the program behind the worker rollout's null_resource steps
 * (constructs/rollout/worker-reimage.ts), run by Terraform's local-exec on the machine running the
 * plan once the util node serves the worker's new build. For one worker:
 *
 *   1. finds it in Nomad by name. Not a Nomad node yet, or down: nothing runs on it, nothing to do
 *      (it boots its build when it is powered on); ready on the build already: nothing to do.
 *   2. checks that no more workers than --max-unavailable would be down at once (counting those
 *      of the rollout that Nomad lists but that are not ready, eligible and undrained), and that the
 *      clients staying up can hold the allocations of the workers going down (cli/worker-capacity.ts);
 *      otherwise it stops with nothing touched.
 *   3. drains it in Nomad with a deadline (system jobs as Nomad's drain decides: last), and waits
 *      for the drain to finish.
 *   4. reboots it: over ssh (`systemctl reboot`, detached, so ssh returns), or a command of the
 *      operator's (--reboot-command: a power switch, a test harness). When the reboot cannot be
 *      started, the worker is marked eligible again: nothing changed on it.
 *   5. waits, bounded, until Nomad lists a node of that name ready with Nomad meta ely_build_id
 *      equal to the build (images/rootfs-files.ts writes it from the kernel command line) and,
 *      with --consul, its Consul agent's serfHealth passing; then marks it eligible.
 *   A worker that does not come back fails the step, saying which and why: Terraform stops there
 *   and the workers after it are not touched.
 *
 * Tokens come from the environment (ELY_SECRET_NOMAD_TOKEN, ELY_SECRET_CONSUL_TOKEN: Terraform fills
 * them from the sensitive variables), never from the command line.
 * Progress: "[ely-reimage w1 1/3] ... (1.2s)".
 */
import { stepProgram, withSshOptions } from "./step-options";
import execa from "execa";
import { BUILD_ID_META } from "../images/rootfs-files";
import { ClusterApi, ClusterApiError } from "./cluster-api";
import { SECRET_ENV, sshArgs, SshTarget } from "./server-step";
import { AllocationLoad, capacityVerdict, ClientRoom } from "./worker-capacity";

export class ReimageError extends Error {}

/** Nomad's node, as much of it as the reimage reads. */
export interface NomadNode {
  ID: string;
  Name: string;
  Status: string;
  SchedulingEligibility: string;
  DrainStrategy?: unknown;
  Drain?: boolean;
  CreateIndex?: number;
  Meta?: Record<string, string>;
  NodeResources?: { Cpu?: { CpuShares?: number }; Memory?: { MemoryMB?: number } };
  ReservedResources?: { Cpu?: { CpuShares?: number }; Memory?: { MemoryMB?: number } };
  LastDrain?: { Status?: string; Meta?: Record<string, string> } | null;
}

interface NomadAllocation {
  ID: string;
  Name: string;
  ClientStatus: string;
  DesiredStatus: string;
  Job?: { Type?: string };
  AllocatedResources?: { Tasks?: Record<string, { Cpu?: { CpuShares?: number }; Memory?: { MemoryMB?: number } }> };
}

/** The drain meta key the reimage leaves on a node, so that a later run knows whose drain it was. */
export const DRAIN_META = "ely_reimage_build";

export interface ReimageOptions {
  readonly node: string;
  readonly buildId: string;
  /** The workers rebooted together with this one (this one included). Default: this one. */
  readonly batch?: readonly string[];
  /** Every worker of the rollout (for the count of workers down). Default: the batch. */
  readonly workers?: readonly string[];
  /** Default: 1. */
  readonly maxUnavailable?: number;
  /** Drain even when the clients that stay up cannot hold the allocations (they wait until there is room). Default: false. */
  readonly allowJobDowntime?: boolean;
  readonly drainDeadlineSeconds: number;
  readonly bootTimeoutSeconds: number;
  readonly nomad: ClusterApi;
  /** When given, the worker's Consul agent must be back too. */
  readonly consul?: ClusterApi;
  /** Starts the reboot; throws when it cannot. */
  readonly reboot: () => Promise<void>;
  readonly log: (line: string) => void;
  /** Default: 2000. */
  readonly pollMs?: number;
}

export type ReimageOutcome = "rebooted" | "already-on-build" | "not-in-nomad" | "down";

const isUp = (n: NomadNode) => n.Status === "ready";
const isAvailable = (n: NomadNode) => isUp(n) && n.SchedulingEligibility === "eligible" && !n.DrainStrategy && !n.Drain;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every node Nomad lists under a name (a netbooted worker gets a new node id at each boot: the old ones stay, down), newest first. */
export async function nodesNamed(nomad: ClusterApi, name: string): Promise<NomadNode[]> {
  const stubs = (await nomad.get<{ ID: string; Name: string }[]>("/v1/nodes")) ?? [];
  const nodes = await Promise.all(stubs.filter((s) => s.Name === name).map((s) => nomad.get<NomadNode>(`/v1/node/${encodeURIComponent(s.ID)}`)));
  return nodes.filter((n): n is NomadNode => n !== undefined).sort((a, b) => (b.CreateIndex ?? 0) - (a.CreateIndex ?? 0));
}

/** The node that answers for a name: the newest ready one, else the newest. */
function current(nodes: readonly NomadNode[]): NomadNode | undefined {
  return nodes.find(isUp) ?? nodes[0];
}

async function allocationsOf(nomad: ClusterApi, node: NomadNode): Promise<NomadAllocation[]> {
  const allocs = (await nomad.get<NomadAllocation[]>(`/v1/node/${encodeURIComponent(node.ID)}/allocations`)) ?? [];
  return allocs.filter((a) => a.DesiredStatus === "run" && (a.ClientStatus === "running" || a.ClientStatus === "pending"));
}

function loadOf(a: NomadAllocation): AllocationLoad {
  const tasks = Object.values(a.AllocatedResources?.Tasks ?? {});
  return {
    name: a.Name,
    jobType: a.Job?.Type ?? "service",
    cpuMhz: tasks.reduce((n, t) => n + (t.Cpu?.CpuShares ?? 0), 0),
    memoryMb: tasks.reduce((n, t) => n + (t.Memory?.MemoryMB ?? 0), 0),
  };
}

async function roomOf(nomad: ClusterApi, node: NomadNode): Promise<ClientRoom> {
  const used = (await allocationsOf(nomad, node)).map(loadOf);
  const total = (k: "cpu" | "mem", r?: NomadNode["NodeResources"]) => (k === "cpu" ? r?.Cpu?.CpuShares ?? 0 : r?.Memory?.MemoryMB ?? 0);
  return {
    name: node.Name,
    freeCpuMhz: total("cpu", node.NodeResources) - total("cpu", node.ReservedResources) - used.reduce((n, a) => n + a.cpuMhz, 0),
    freeMemoryMb: total("mem", node.NodeResources) - total("mem", node.ReservedResources) - used.reduce((n, a) => n + a.memoryMb, 0),
  };
}

/** Refuses, naming why, when draining the batch would take too many workers down or leave its allocations without room. */
async function checkBeforeDrain(o: ReimageOptions, batch: readonly string[]): Promise<string> {
  const all = (await o.nomad.get<{ ID: string; Name: string; Status: string }[]>("/v1/nodes")) ?? [];
  const byName = new Map<string, NomadNode>();
  for (const name of new Set(all.map((n) => n.Name))) {
    const node = current(await nodesNamed(o.nomad, name));
    if (node) byName.set(name, node);
  }
  const maxUnavailable = o.maxUnavailable ?? 1;
  const workers = o.workers ?? batch;
  const down = workers.filter((w) => !batch.includes(w) && byName.has(w) && !isAvailable(byName.get(w)!));
  if (down.length + batch.length > maxUnavailable) {
    const why = down.map((w) => `${w} (${describeNode(byName.get(w)!)})`).join(", ");
    throw new ReimageError(
      `${o.node}: not drained: ${why} ${down.length === 1 ? "is" : "are"} not available already, and rebooting ${batch.join(", ")} would take ` +
        `${down.length + batch.length} workers down at once; images.rollout.maxUnavailable allows ${maxUnavailable}. Bring ${down.length === 1 ? "it" : "them"} back, then deploy again`,
    );
  }
  const draining = batch.map((w) => byName.get(w)).filter((n): n is NomadNode => n !== undefined && isUp(n));
  const allocations = (await Promise.all(draining.map((n) => allocationsOf(o.nomad, n)))).flat().map(loadOf);
  const stays = [...byName.values()].filter((n) => !batch.includes(n.Name) && isAvailable(n));
  const verdict = capacityVerdict(
    draining.map((n) => n.Name),
    allocations,
    await Promise.all(stays.map((n) => roomOf(o.nomad, n))),
  );
  if (verdict.fits) return verdict.summary;
  if (o.allowJobDowntime) return `${verdict.summary}; images.rollout.allowJobDowntime: draining anyway, they wait until a client has room (${o.node} once back)`;
  throw new ReimageError(
    `${o.node}: not drained: ${verdict.summary}. Add room (or lower the jobs' counts, or set images.rollout.allowJobDowntime to accept that they wait), then deploy again`,
  );
}

function describeNode(n: NomadNode): string {
  const build = n.Meta?.[BUILD_ID_META];
  const state = [n.Status, n.SchedulingEligibility !== "eligible" ? "ineligible" : undefined, n.DrainStrategy || n.Drain ? "draining" : undefined].filter(Boolean).join(", ");
  return `${state}${build ? `, build ${build}` : ", no build reported"}`;
}

async function setEligible(nomad: ClusterApi, node: NomadNode): Promise<void> {
  await nomad.post(`/v1/node/${encodeURIComponent(node.ID)}/eligibility`, { NodeID: node.ID, Eligibility: "eligible" });
}

async function consulAgentUp(consul: ClusterApi, name: string): Promise<string | undefined> {
  const checks = (await consul.get<{ CheckID: string; Status: string }[]>(`/v1/health/node/${encodeURIComponent(name)}`)) ?? [];
  const serf = checks.find((c) => c.CheckID === "serfHealth");
  return serf?.Status === "passing" ? undefined : serf ? `its Consul agent's serfHealth is ${serf.Status}` : "Consul does not list its agent";
}

/** Drains, reboots and waits for one worker (see the file's comment). */
export async function reimageWorker(o: ReimageOptions): Promise<ReimageOutcome> {
  const poll = o.pollMs ?? 2000;
  const batch = o.batch?.length ? o.batch : [o.node];
  const named = await nodesNamed(o.nomad, o.node);
  const node = current(named);
  if (!node) {
    o.log(`not a Nomad node yet: nothing runs on it, nothing to drain; it boots build ${o.buildId} when it is powered on`);
    return "not-in-nomad";
  }
  if (!isUp(node)) {
    o.log(`Nomad lists it ${node.Status}: nothing runs on it, nothing to drain; it boots build ${o.buildId} when it comes back`);
    return "down";
  }
  if (node.Meta?.[BUILD_ID_META] === o.buildId) {
    // A run stopped after its drain (a reboot that timed out, an interrupted apply) leaves the node drained by a reimage: finish it.
    if (node.SchedulingEligibility !== "eligible" && node.LastDrain?.Meta?.[DRAIN_META] !== undefined) {
      await setEligible(o.nomad, node);
      o.log(`on build ${o.buildId} already, drained by an earlier reimage: marked eligible`);
    } else o.log(`on build ${o.buildId} already: nothing to do`);
    return "already-on-build";
  }

  o.log(`on build ${node.Meta?.[BUILD_ID_META] ?? "(none reported)"}, to boot ${o.buildId}: checking the cluster can spare it`);
  o.log(await checkBeforeDrain(o, batch));

  const deadlineNs = o.drainDeadlineSeconds * 1e9;
  await o.nomad.post(`/v1/node/${encodeURIComponent(node.ID)}/drain`, {
    NodeID: node.ID,
    DrainSpec: { Deadline: deadlineNs, IgnoreSystemJobs: false },
    MarkEligible: false,
    Meta: { [DRAIN_META]: o.buildId, message: `ely: reimage onto build ${o.buildId}` },
  });
  o.log(`draining (deadline ${o.drainDeadlineSeconds} s)`);
  const drainBound = Date.now() + (o.drainDeadlineSeconds + 60) * 1000;
  for (let reported = 0; ; ) {
    const now = await o.nomad.get<NomadNode>(`/v1/node/${encodeURIComponent(node.ID)}`);
    if (now && !now.DrainStrategy) break;
    if (Date.now() > drainBound) {
      const left = now ? (await allocationsOf(o.nomad, now)).map((a) => a.Name) : [];
      throw new ReimageError(
        `${o.node}: the drain did not finish within ${o.drainDeadlineSeconds + 60} s (allocations still on it: ${left.join(", ") || "none"}); it is left drained, not rebooted: ` +
          `the rollout stops here`,
      );
    }
    if (Date.now() - reported > 15000) {
      reported = Date.now();
      const left = now ? await allocationsOf(o.nomad, now) : [];
      o.log(`draining: ${left.length} allocation${left.length === 1 ? "" : "s"} left${left.length ? ` (${left.map((a) => a.Name).join(", ")})` : ""}`);
    }
    await sleep(poll);
  }
  o.log("drained");

  try {
    await o.reboot();
  } catch (e) {
    await setEligible(o.nomad, node);
    throw new ReimageError(`${o.node}: could not start its reboot: ${(e as Error).message}. It was marked eligible again, nothing changed on it: the rollout stops here`);
  }
  o.log(`rebooting; waiting up to ${o.bootTimeoutSeconds} s for it to be back on build ${o.buildId}`);

  const bootBound = Date.now() + o.bootTimeoutSeconds * 1000;
  let last = "Nomad has not listed it again yet";
  for (let reported = Date.now(); ; ) {
    const back = (await nodesNamed(o.nomad, o.node).catch((e: Error) => ((last = e.message), []))).find((n) => isUp(n) && n.Meta?.[BUILD_ID_META] === o.buildId);
    if (back) {
      const consulWhy = o.consul ? await consulAgentUp(o.consul, o.node).catch((e: Error) => e.message) : undefined;
      if (!consulWhy) {
        if (back.SchedulingEligibility !== "eligible") await setEligible(o.nomad, back);
        o.log(`back on build ${o.buildId}: Nomad node ${back.ID.slice(0, 8)} ready${o.consul ? ", Consul agent up" : ""}, eligible`);
        return "rebooted";
      }
      last = `Nomad lists it ready on build ${o.buildId}, but ${consulWhy}`;
    } else {
      const seen = current(await nodesNamed(o.nomad, o.node).catch(() => []));
      if (seen) last = `Nomad lists it ${describeNode(seen)}`;
    }
    if (Date.now() > bootBound) {
      throw new ReimageError(
        `${o.node}: did not come back on build ${o.buildId} within ${o.bootTimeoutSeconds} s: ${last}. The rollout stops here; ` +
          `the workers after it are not touched (see its console, or the util node's HTTP log for its boot requests). ` +
          `Once it is fixed, the next deploy runs its step again (or \`nomad node eligibility -enable\` puts it back as it is)`,
      );
    }
    if (Date.now() - reported > 30000) {
      reported = Date.now();
      o.log(`waiting: ${last}`);
    }
    await sleep(poll);
  }
}

/** Starts a worker's reboot over ssh: detached, so that ssh returns before the connection drops. */
export async function rebootOverSsh(target: SshTarget): Promise<void> {
  const command = "nohup sh -c 'sleep 2; systemctl reboot' >/dev/null 2>&1 &";
  const result = await execa("ssh", sshArgs(target, target.user === "root" ? command : `sudo -n sh -c ${JSON.stringify(command)}`), { reject: false, timeout: 60_000 });
  if (result.exitCode !== 0) {
    throw new Error(`ssh ${target.user}@${target.address} -p ${target.port} exited with ${result.exitCode}: ${(result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ") || "no output"}`);
  }
}

/** Starts a reboot with the operator's command (sh -c), given the node in ELY_REIMAGE_NODE, _ADDRESS and _BUILD. */
export async function rebootWithCommand(command: string, env: Record<string, string>): Promise<void> {
  const result = await execa("sh", ["-c", command], { reject: false, env: { ...process.env, ...env }, timeout: 300_000 });
  if (result.exitCode !== 0) throw new Error(`the reboot command exited with ${result.exitCode}: ${(result.stderr || result.stdout).trim().split("\n").slice(-3).join(" / ") || "no output"}`);
}

const list = (value: string | undefined) => (value ?? "").split(",").filter(Boolean);

function main(): void {
  const program = stepProgram("worker-reimage", "drain one worker in Nomad, reboot it onto its new build, wait until it is back (run by Terraform)");
  withSshOptions(program.command("reimage"))
    .requiredOption("--node <name>", "the worker's hostname (its Nomad node name)")
    .requiredOption("--build <id>", "the build it must come back on (Nomad meta ely_build_id)")
    .requiredOption("--nomad <url>", "Nomad's HTTP(S) address")
    .option("--consul <url>", "Consul's HTTP(S) address: the worker's Consul agent must be back too")
    .option("--ca-file <file>", "CA of the agents' certificates")
    .option("--batch <list>", "the workers rebooted together with this one, comma-separated")
    .option("--workers <list>", "every worker of the rollout, comma-separated")
    .option("--max-unavailable <n>", "workers down at once", "1")
    .option("--drain-deadline <seconds>", "Nomad's drain deadline", "600")
    .option("--boot-timeout <seconds>", "bound of the wait for the worker to be back", "1200")
    .option("--allow-job-downtime", "drain even when the clients that stay up cannot hold the allocations")
    .option("--reboot-command <sh>", "reboot with this command (sh -c; ELY_REIMAGE_NODE, ELY_REIMAGE_ADDRESS, ELY_REIMAGE_BUILD) instead of ssh")
    .action(async (o) => {
      const numberOf = (flag: string, value: string, min: number) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < min) throw new ReimageError(`--${flag}: received ${JSON.stringify(value)}, expected a whole number of at least ${min}`);
        return n;
      };
      if (!/^[0-9a-f]{16}$/.test(o.build)) throw new ReimageError(`--build: received ${JSON.stringify(o.build)}, expected a build id (16 hex digits)`);
      const started = Date.now();
      const label = o.label ?? o.node;
      const log = (line: string) => process.stdout.write(`[ely-reimage ${label}] ${line} (${((Date.now() - started) / 1000).toFixed(1)}s)\n`);
      const target: SshTarget = { host: o.node, address: o.address, user: o.user, port: numberOf("port", o.port, 1), options: o.sshOption ?? [] };
      await reimageWorker({
        node: o.node,
        buildId: o.build,
        batch: list(o.batch),
        workers: list(o.workers),
        maxUnavailable: numberOf("max-unavailable", o.maxUnavailable, 1),
        allowJobDowntime: o.allowJobDowntime === true,
        drainDeadlineSeconds: numberOf("drain-deadline", o.drainDeadline, 1),
        bootTimeoutSeconds: numberOf("boot-timeout", o.bootTimeout, 1),
        nomad: new ClusterApi({ agent: "Nomad", address: o.nomad, token: process.env[SECRET_ENV.nomadToken] || undefined, caFile: o.caFile }),
        consul: o.consul ? new ClusterApi({ agent: "Consul", address: o.consul, token: process.env[SECRET_ENV.consulToken] || undefined, caFile: o.caFile }) : undefined,
        reboot: o.rebootCommand
          ? () => rebootWithCommand(o.rebootCommand, { ELY_REIMAGE_NODE: o.node, ELY_REIMAGE_ADDRESS: o.address, ELY_REIMAGE_BUILD: o.build })
          : () => rebootOverSsh(target),
        log,
      });
    });
  program.parseAsync(process.argv).catch((e: Error) => {
    console.error(e instanceof ReimageError || e instanceof ClusterApiError ? `ely-reimage: ${e.message}` : `ely-reimage: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}

if (require.main === module) main();
