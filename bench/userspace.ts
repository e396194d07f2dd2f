#!/usr/bin/env node
/**
 * `npm run bench:userspace [-- --boots N] [-- --cpu-factor 2.5]`: the real worker image's userspace, systemd to
 * the node ready in Nomad, at this machine's own speed (issue 16). The QEMU boots of `bench:netboot --cluster` run
 * under emulation, which slows each kind of work by another factor (x7 to x41 here); this runs the same image's
 * systemd, docker, Consul and Nomad natively (bench/native-boot.ts: a container on the netboot lab's bridge,
 * the lab's one real server, the util node's generated configuration), so that one factor, the node's CPU against
 * this machine's, scales it to an ODROID H2.
 *
 * Each boot: the ramroot unpacked into a tmpfs (timed: zstd and cpio, in userspace), the container started, the
 * lab's server asked every 0.1 s for the node (a Consul member, ready in Nomad), then the node's own account of
 * its boot (the agents' report's boot line, systemd's timestamps on the same clock). The worker's inventory entry
 * has no storage here: this machine's kernel has no NFS client (the QEMU boots mount the util node's export).
 * One progress line per step; Markdown tables on stdout; everything in bench/userspace-last-run.json. As root.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import { netbootInventoryInput, prepareNetboot, startNetbootLab, startPreparedNginx } from "../e2e/netboot/harness";
import { bridgeNetworkMissing } from "../e2e/netboot/bridge-network";
import { LabServers, nodeJoinedAwaits, startPreparedLabServers, withOneServer } from "../e2e/netboot/lab-servers";
import { onPath } from "../e2e/on-path";
import { parseInventory } from "../nodes";
import { ipxeScriptUrlPath, REMOTE_BOOT_CURRENT_LINK } from "../images/layout";
import { AGENTS_BOOT_MILESTONES, AGENTS_BOOT_PATTERN, agentsBootMilestones } from "../images/agents-report";
import { PROFILES } from "../images/profiles";
import { ramrootArtifactOf, ramrootUnpackedByKernel } from "../images/ramroot-codec";
import { bootNative, NativeBootResult } from "./native-boot";
import { Figures, figures, fmt, mib, runBench, timedSh, tmpfsDir, writeResults } from "./measure";

interface Options {
  boots: number;
  cpuFactor: number;
  bootTimeout: number;
  artifactsDir?: string;
  json: string;
  keep?: boolean;
}

const root = path.resolve(__dirname, "..", "..");
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
const progress = (line: string) => process.stderr.write(`[bench:userspace +${elapsed()}s] ${line}\n`);

/** The stretches of a native boot, in order: [name, from, to], each a milestone of the boot line or an await. */
export const NATIVE_STRETCHES: ReadonlyArray<readonly [string, string, string]> = [
  ["container start to systemd", "start", "userspace"],
  ["systemd to sysinit.target", "userspace", "sysinit"],
  ["sysinit.target to network-online.target", "sysinit", "network-online"],
  ["network-online.target to docker ready", "network-online", "docker"],
  ["docker ready to Nomad started", "docker", "nomad"],
  ["Nomad started to its node registered", "nomad", "nomad-registered"],
  ["registered to ready in Nomad (the server's view)", "nomad-registered", "nomad-ready"],
];

/** One boot's stretches in seconds, from its monotonic milestones; undefined where one end is missing. */
export function nativeStretches(points: Record<string, number | undefined>): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const [name, from, to] of NATIVE_STRETCHES) {
    const a = points[from];
    const b = points[to];
    out[name] = a !== undefined && b !== undefined ? b - a : undefined;
  }
  const s = points.userspace;
  const ready = points["nomad-ready"];
  out["systemd to ready in Nomad"] = s !== undefined && ready !== undefined ? ready - s : undefined;
  return out;
}

/**
 * The inventory the native boots use: the netboot bench's (secrets off, the first server alone), without the util
 * node's NFS exports, so that the worker has no storage to mount (this kernel has no NFS client).
 */
export function nativeInventoryInput() {
  const input = withOneServer(netbootInventoryInput("bridge"));
  delete input.nodes.find((n: { role: string }) => n.role === "util").nfsExports;
  return input;
}

/** What is wrong with the numeric options, each saying what it received and what it expects. */
export function userspaceOptionProblems(o: Pick<Options, "boots" | "cpuFactor" | "bootTimeout">): string[] {
  const problems: string[] = [];
  if (!(Number.isInteger(o.boots) && o.boots >= 1)) problems.push(`--boots: received ${o.boots}, expected a whole number, 1 or more`);
  if (!(o.cpuFactor > 0)) problems.push(`--cpu-factor: received ${o.cpuFactor}, expected a number above 0`);
  if (!(o.bootTimeout > 0)) problems.push(`--boot-timeout: received ${o.bootTimeout}, expected seconds above 0`);
  return problems;
}

async function main(): Promise<void> {
  const o = new Command("bench:userspace")
    .description("The real worker image's userspace, systemd to ready in Nomad, natively (systemd-nspawn on the netboot lab's bridge), scaled to a node's CPU")
    .option("--boots <n>", "boots", (v) => Number(v), 3)
    .option("--cpu-factor <x>", "how many times slower a node's CPU is than this machine's (ODROID-H2, Celeron J4105: ~2.5)", (v) => Number(v), 2.5)
    .option("--boot-timeout <s>", "seconds per boot", (v) => Number(v), 300)
    .option("--artifacts-dir <dir>", "image builds (reused when the inputs are unchanged); default: as bench:netboot")
    .option("--json <file>", "results file", path.join(root, "bench", "userspace-last-run.json"))
    .option("--keep", "keep the scratch directory (journals, util root)")
    .parse(process.argv)
    .opts<Options>();
  // Every problem at once.
  const problems: string[] = userspaceOptionProblems(o);
  const missing = bridgeNetworkMissing();
  if (missing) problems.push(`the netboot lab's bridge cannot be made here: ${missing}`);
  const need = (name: string, hint: string) => {
    try {
      return onPath(name, "bench:userspace", hint);
    } catch (e) {
      problems.push((e as Error).message);
      return "";
    }
  };
  need("systemd-nspawn", "apt-get install systemd-container");
  need("nsenter", "apt-get install util-linux");
  need("zstd", "apt-get install zstd");
  need("cpio", "apt-get install cpio");
  const agentsHint = `the lab's server runs this machine's agents: first \`eval "$(e2e/tools/build-tools.sh --agents-only --env)"\`, which builds them`;
  const bins = { consul: need("consul", agentsHint), nomad: need("nomad", agentsHint) };
  const ramroot = PROFILES.full.ramroot;
  if (!ramrootUnpackedByKernel(ramroot.codec)) problems.push(`the full profile's ramroot is ${ramroot.codec}: the native boot unpacks a kernel-unpacked cpio only`);
  if (problems.length) throw new Error(problems.join("; "));

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-bench-userspace-"));
  process.on("exit", () => o.keep || fs.rmSync(work, { recursive: true, force: true }));
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));
  const machine = { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version };
  progress(`start: ${machine.cpu}, ${machine.cores} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}; ${o.boots} boots; work ${work}`);

  const inventory = parseInventory(nativeInventoryInput(), "native userspace bench inventory");
  const prepared = await prepareNetboot({ workDir: work, artifactsDir: o.artifactsDir, profile: "full", ramroot, network: "bridge", inventory, log: progress });
  const ramrootFile = path.join(prepared.imageDir, ramrootArtifactOf(ramroot.codec));
  progress(`image ${prepared.imageKey} build ${prepared.buildId} ready: ramroot ${mib(fs.statSync(ramrootFile).size).toFixed(1)} MiB (build ${prepared.timings.build.toFixed(1)} s)`);
  // The decoder's share of the kernel's unpack: the same zstd stream decoded alone, 3 times.
  const decode: number[] = [];
  for (let i = 0; i < 3; i++) decode.push((await timedSh(`zstd -d -c -q "$1" > /dev/null`, [ramrootFile])).wall);
  progress(`zstd decode alone: ${decode.map((d) => d.toFixed(2)).join(", ")} s`);
  const names = prepared.bridgeNames;
  if (!names) throw new Error("bench:userspace: the netboot was not prepared on the bridge network");

  const boots: Array<{ ok: boolean; failure?: string; unpackSeconds: number; points: Record<string, number | undefined>; stretches: Record<string, number | undefined> }> = [];
  for (let i = 1; i <= o.boots; i++) {
    const lab = await startNetbootLab(prepared, path.join(work, `network-${i}`));
    let servers: LabServers | undefined;
    let nginx: Awaited<ReturnType<typeof startPreparedNginx>> | undefined;
    let result: NativeBootResult | undefined;
    try {
      nginx = await startPreparedNginx(prepared);
      // A fresh server each boot: every boot is the node's first join.
      servers = await startPreparedLabServers(prepared, bins, path.join(work, `server-${i}`));
      progress(`boot ${i}/${o.boots}: unpacking the ramroot and starting ${prepared.hostname} in a container`);
      result = await bootNative({
        ramrootFile,
        ipxeScript: path.join(prepared.utilRoot, REMOTE_BOOT_CURRENT_LINK, ipxeScriptUrlPath(prepared.mac)),
        hostname: prepared.hostname,
        mac: prepared.mac,
        bridge: names.bridge,
        link: { host: names.nodeLink, netns: names.node, node: "eth0" },
        rootDir: tmpfsDir().dir,
        awaits: nodeJoinedAwaits(servers, prepared.hostname),
        journalFile: path.join(work, `journal-${i}.log`),
        timeoutSeconds: o.bootTimeout,
        pollMs: 100,
        doneWhen: { unit: "ely-agents-report.service", line: AGENTS_BOOT_PATTERN },
      });
    } finally {
      if (servers && !result?.ok) process.stderr.write(`${servers.logTails(30)}\n`);
      await servers?.stop();
      await nginx?.close();
      await lab.stop();
    }
    const line = agentsBootMilestones(result.journal);
    const points: Record<string, number | undefined> = { start: result.startedMono, ...(line ?? {}), ...result.reachedMono };
    const failure = result.failure ?? (line ? undefined : "the node's journal has no boot line from its agents' report");
    const b = { ok: !failure, failure, unpackSeconds: result.unpackSeconds, points, stretches: nativeStretches(points) };
    boots.push(b);
    progress(
      `boot ${i}/${o.boots}: ${b.ok ? "ready in Nomad" : `FAILED: ${failure}`}; unpack ${b.unpackSeconds.toFixed(2)} s, systemd to ready ${b.stretches["systemd to ready in Nomad"]?.toFixed(2) ?? "?"} s`,
    );
    if (!b.ok) process.stderr.write(`${result.journal.split("\n").slice(-60).join("\n")}\n`);
  }

  const good = boots.filter((b) => b.ok);
  const of = (name: string): Figures | undefined => {
    const values = good.map((b) => b.stretches[name]).filter((v): v is number => v !== undefined);
    return values.length ? figures(values) : undefined;
  };
  const scaled = (f: Figures | undefined) => (f ? { median: f.median * o.cpuFactor, min: f.min * o.cpuFactor, max: f.max * o.cpuFactor } : undefined);
  const unpack = good.length ? figures(good.map((b) => b.unpackSeconds)) : undefined;
  const out: string[] = [];
  out.push(
    `## A worker's userspace, natively (${good.length} of ${boots.length} boots; ${machine.cpu}, ${machine.cores} cores; x${o.cpuFactor} for a node's CPU)`,
    ``,
    `The full image ${prepared.imageKey} build ${prepared.buildId} in a container on the netboot lab's bridge, the lab's server ${prepared.inventory.nodes.find((x) => x.role === "server")?.hostname} (real Consul and Nomad servers, fresh for each boot); seconds, median (min-max).`,
    ``,
    `| stretch | here | x${o.cpuFactor} (a node) |`,
    `|---|---:|---:|`,
    `| the ramroot's zstd stream decoded alone (the decoder's share of the kernel's unpack on a node) | ${fmt(figures(decode), 2)} | ${fmt(scaled(figures(decode)), 2)} |`,
    `| the ramroot unpacked by zstd and GNU cpio into a tmpfs (in userspace: an upper bound of the kernel's unpack) | ${fmt(unpack, 2)} | ${fmt(scaled(unpack), 2)} |`,
    ...[...NATIVE_STRETCHES.map(([name]) => name), "systemd to ready in Nomad"].map((name) => `| ${name === "systemd to ready in Nomad" ? `**${name}**` : name} | ${fmt(of(name), 2)} | ${fmt(scaled(of(name)), 2)} |`),
    ``,
    `Milestones: ${AGENTS_BOOT_MILESTONES.join(", ")} from the node's boot line (systemd's monotonic clock, the host's in a container); ready in Nomad and a Consul member from the lab's server, asked every 0.1 s.`,
  );
  for (const b of boots.filter((x) => !x.ok)) out.push(``, `A boot failed: ${b.failure}`);
  process.stdout.write(out.join("\n") + "\n");
  writeResults(o.json, { machine, options: o, image: { key: prepared.imageKey, buildId: prepared.buildId, ramrootMiB: mib(fs.statSync(ramrootFile).size) }, zstdDecodeSeconds: decode, boots }, progress);
  if (!good.length) throw new Error("bench:userspace: no boot reached ready in Nomad");
}

if (require.main === module) runBench(main, progress);
