#!/usr/bin/env node
/**
 * `npm run bench:netboot [-- --boots N] [-- --profile full] [-- --network bridge --router-advertisement both]`:
 * netboot figures (issue 6, item 3; the bridge network and the router advertisement: issue 16).
 *
 *  1. Boot time: the netboot test's own path (e2e/netboot/harness.ts: synth, image build,
 *     publish, util HTTP server, QEMU from its NIC's iPXE ROM) booted --boots times; each
 *     boot split into phases by the util server's request log (iPXE prints on VGA only) and
 *     the serial console's lines (kernel, initrd, systemd, node-up marker; with the full profile,
 *     the agents started and their report, the inventory's secrets off as in the netboot test),
 *     timed on the host. The full profile needs the agent binaries: first
 *     `eval "$(e2e/tools/build-tools.sh --agents-only --env)"` (as `npm run test:netboot` does).
 *  2. ramroot.tar.xz per xz level: the published ramroot unpacked back to its tar, compressed
 *     with the build's own xz arguments (images/build-image.ts) at each level, then
 *     decompressed the way the initrd does it (the initrd's own busybox: `xz -d -c | tar -x`
 *     into a tmpfs), rounds interleaved across the levels; median (min-max).
 *  3. A recommended level, reasoned from the figures (download at the lab's link speed
 *     against decompression on a node's CPU), next to the level the build uses now.
 * With --cluster (full profile, bridge network), each boot runs into the lab's server (e2e/netboot/lab-servers.ts: the
 * inventory's first server alone, its real Consul and Nomad server agents in a namespace on the bridge) and ends when
 * the server lists the node ready in Nomad; --ramroot <codec-level> boots another ramroot mode. With agents, the node's
 * own account of its boot (the agents' report's boot line, images/agents-report.ts) gets a table of its own.
 * One progress line per step; Markdown tables on stdout; everything in bench/netboot-last-run.json.
 * Runs as root (the netboot test's bridge network and NFS server; the image build does not need it). QEMU, the HTTP server and scratch files are removed at exit.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { bootNetboot, netbootInventoryInput, prepareNetboot, PreparedNetboot, startNetbootLab } from "../e2e/netboot/harness";
import { bridgeNetworkMissing } from "../e2e/netboot/bridge-network";
import { startUtilNfs } from "../e2e/netboot/util-nfs";
import { LabServers, nodeJoinedAwaits, startPreparedLabServers, withOneServer } from "../e2e/netboot/lab-servers";
import { onPath } from "../e2e/on-path";
import { ImageProfile, IMAGE_PROFILES } from "../images/layout";
import { parseInventory } from "../nodes";
import { ramrootArtifactOf, ramrootCompression, ramrootUnpackedByKernel, ramrootXzArgs } from "../images/ramroot-codec";
import { ramrootTarArgs } from "../images/pack-ramroot";
import { UNPACK_CPIO_ARCHIVES_SH } from "../images/layered-ramroot";
import { decompressRounds, Figures, figures, fmt, linkBytesPerSecond, mib, runBench, sh, timedSh, tmpfsDir, writeResults } from "./measure";
import { PROFILES } from "../images/profiles";
import { bootFigures, BootFigures, BootPath, groupsOf, phasesOf } from "./boot-phases";

interface Options {
  boots: number;
  profile: ImageProfile;
  xzLevels: string;
  xzRuns: number;
  artifactsDir?: string;
  bootTimeout?: number;
  linkMbit: number;
  cpuFactor: number;
  skipBoot?: boolean;
  skipXz?: boolean;
  network: "user" | "bridge";
  routerAdvertisement: "on" | "off" | "both";
  json: string;
  keep?: boolean;
  cluster?: boolean;
  ramroot?: string;
}

const root = path.resolve(__dirname, "..", "..");
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
const progress = (line: string) => process.stderr.write(`[bench:netboot +${elapsed()}s] ${line}\n`);

// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// 2. xz levels

interface XzRow {
  level: string;
  /** LZMA2 dictionary of the preset: the decoder's memory. */
  dictMiB: number;
  bytes: number;
  /** Wall time of the build's xz command (xz -T<cores>), and its CPU time (user + sys). */
  compressSeconds: number;
  compressCpuSeconds: number;
  /** Per run: wall and CPU time (user + sys of xz and tar) of `busybox xz -d -c | busybox tar -x`. */
  decompressSeconds: number[];
  decompressCpuSeconds: number[];
}

/** xz's preset dictionary sizes (xz(1)): what the initrd's decoder must hold in RAM. */
const DICT_MIB: Record<string, number> = { "0": 0.25, "1": 1, "2": 2, "3": 4, "4": 4, "5": 8, "6": 8, "7": 16, "8": 32, "9": 64 };

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const program = new Command("bench:netboot")
    .description("Netboot figures: QEMU boot phases, ramroot.tar.xz size and decompression time per xz level")
    .option("--boots <n>", "QEMU boots of the client-amd64 image", (v) => Number(v), 3)
    .option("--profile <profile>", `image profile (${IMAGE_PROFILES.join(", ")}); full: the real worker image, to its agents' report`, "test")
    .option("--xz-levels <list>", "xz presets to measure ('e' for --extreme)", "0,1,3,6,9,9e")
    .option("--xz-runs <n>", "decompression runs per level", (v) => Number(v), 5)
    .option("--artifacts-dir <dir>", "image builds (reused when the inputs are unchanged); default: $ELY_NETBOOT_ARTIFACTS_DIR, else images/ in the cache of the user who builds (ELY_BUILD_USER's, or yours)")
    .option("--boot-timeout <s>", "seconds per boot (default: $ELY_NETBOOT_TIMEOUT_S, else 1500)", (v) => Number(v))
    .option("--link-mbit <n>", "the lab's link speed for the download estimate", (v) => Number(v), 1000)
    .option("--cpu-factor <x>", "how many times slower a node's CPU decompresses than this machine (ODROID-H2, Celeron J4105: ~2.5)", (v) => Number(v), 2.5)
    .option("--skip-boot", "no QEMU boots")
    .option("--skip-xz", "no xz level figures")
    .option("--network <network>", "user: QEMU's own DHCP and TFTP; bridge: the netboot test's lab (a router, the util node's generated dnsmasq.conf and radvd; root)", "user")
    .option("--router-advertisement <mode>", "bridge network: the util node's IPv6 router advertisement on, off, or both (boots alternate, on first)", "on")
    .option("--json <file>", "results file", path.join(root, "bench", "netboot-last-run.json"))
    .option("--keep", "keep the scratch directory (serial logs, util root)")
    .option("--ramroot <codec>", "the image's ramroot codec and level, as gzip-6, xz-6 or zstd-3 (default: $ELY_NETBOOT_RAMROOT, else the profile's)")
    .option("--cluster", "full profile, bridge network: boot into the lab's server (the inventory's first server alone, its real Consul and Nomad server agents in a namespace on the bridge) and time each boot to the node ready in Nomad")
    .parse(process.argv);
  const o = program.opts<Options>();
  // Every problem of the options at once.
  const problems: string[] = [];
  if (!(o.boots >= 0) || !(o.xzRuns >= 1)) problems.push("--boots must be >= 0 and --xz-runs >= 1");
  if (!IMAGE_PROFILES.includes(o.profile)) problems.push(`--profile: received "${o.profile}", expected one of ${IMAGE_PROFILES.join(", ")}`);
  if (!["user", "bridge"].includes(o.network)) problems.push(`--network: received "${o.network}", expected user or bridge`);
  if (!["on", "off", "both"].includes(o.routerAdvertisement)) problems.push(`--router-advertisement: received "${o.routerAdvertisement}", expected on, off or both`);
  if (o.network === "bridge" && bridgeNetworkMissing()) problems.push(`--network bridge: ${bridgeNetworkMissing()}`);
  if (o.cluster && (o.network !== "bridge" || !PROFILES[o.profile]?.includeAgents)) problems.push(`--cluster: received --network ${o.network} --profile ${o.profile}, expected --network bridge and a profile with agents (full)`);
  // The boots' variants: the router advertisement only exists on the bridge network.
  const variants: string[] = o.network === "user" ? ["user network"] : o.routerAdvertisement === "both" ? ["RA on", "RA off"] : [`RA ${o.routerAdvertisement}`];
  const levels = o.xzLevels.split(",").map((l) => l.trim()).filter(Boolean);
  for (const l of levels) if (!/^[0-9]e?$/.test(l)) problems.push(`--xz-levels: received "${l}", expected presets 0-9, optionally with e`);
  let ramroot = PROFILES[o.profile]?.ramroot;
  try {
    const [codec, level] = (o.ramroot ?? process.env.ELY_NETBOOT_RAMROOT ?? "").split("-");
    if (codec) ramroot = ramrootCompression(codec, level);
  } catch (e) {
    problems.push(`--ramroot (or $ELY_NETBOOT_RAMROOT): ${(e as Error).message}`);
  }
  // The lab's server runs the agents this machine built (e2e/tools/build-tools.sh, as for the full profile's image); this script does not build them.
  const agentOnPath = (name: string) => {
    try {
      return onPath(name, "bench:netboot", `--cluster runs the lab's server with this machine's agents: first \`eval "$(e2e/tools/build-tools.sh --agents-only --env)"\`, which builds them`);
    } catch (e) {
      problems.push((e as Error).message);
      return "";
    }
  };
  const serverBins = o.cluster ? { consul: agentOnPath("consul"), nomad: agentOnPath("nomad") } : undefined;
  if (problems.length) throw new Error(problems.join("; "));
  const agents = PROFILES[o.profile].includeAgents;
  const bootPath: BootPath = { agents, kernelUnpack: ramrootUnpackedByKernel(ramroot.codec), nomadReady: o.cluster };

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-bench-netboot-"));
  let unpack: { dir: string; kind: string } | undefined;
  const cleanup = () => {
    if (unpack) fs.rmSync(unpack.dir, { recursive: true, force: true });
    if (!o.keep) fs.rmSync(work, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));

  const load0 = os.loadavg();
  const machine = {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    qemu: (await execa("qemu-system-x86_64", ["--version"], { reject: false })).stdout.split("\n")[0],
    node: process.version,
  };
  // The xz level study's reference: the build's level when it builds xz, else xz's default.
  const buildsXz = ramroot.codec === "xz";
  const defaultLevel = buildsXz ? ramroot.level : ramrootCompression("xz").level;
  progress(`start: ${machine.cpu}, ${machine.cores} cores, load ${load0.map((l) => l.toFixed(2)).join(" ")}; ${o.boots} boots, xz levels ${levels.join(",")} x ${o.xzRuns}; work ${work}`);

  // Build (or reuse) and publish the test image with the netboot test's code.
  // QEMU's user network by default; the bridge network starts the netboot test's lab around each boot.
  // The agents need the netboot test's inventory and util node: no secrets to wait for, the NFS export
  // their host volumes live on (Nomad requires the node's storage), served by nfs-ganesha for each boot.
  // With --cluster, the inventory's first server alone: the lab runs one, and the worker joins it by its own configuration.
  const inventoryInput = o.cluster ? withOneServer(netbootInventoryInput(o.network)) : netbootInventoryInput(o.network);
  const inventory = agents || o.network === "bridge" ? parseInventory(inventoryInput, "netboot bench inventory") : undefined;
  const prepared: PreparedNetboot = await prepareNetboot({ workDir: work, artifactsDir: o.artifactsDir, profile: o.profile, ramroot, network: o.network, inventory, log: progress });
  const ramrootFile = path.join(prepared.imageDir, ramrootArtifactOf(ramroot.codec));
  progress(`image ${prepared.imageKey} build ${prepared.buildId} ready: ramroot ${mib(fs.statSync(ramrootFile).size).toFixed(1)} MiB (build ${prepared.timings.build.toFixed(1)} s)`);

  // 1. Boots.
  const boots: Array<BootFigures & { variant: string }> = [];
  const endOfBoot = o.cluster ? "the node ready in Nomad" : agents ? "the agents' report" : "the node-up marker";
  if (!o.skipBoot) {
    for (let i = 1; i <= o.boots; i++) {
      const variant = variants[(i - 1) % variants.length];
      const lab = o.network === "bridge" ? await startNetbootLab(prepared, path.join(work, `network-${i}`), { routerAdvertisement: variant === "RA on" }) : undefined;
      let nfs: Awaited<ReturnType<typeof startUtilNfs>> | undefined;
      let servers: LabServers | undefined;
      let result: Awaited<ReturnType<typeof bootNetboot>> | undefined;
      try {
        nfs = agents ? await startUtilNfs(prepared) : undefined;
        // A fresh server each boot: the worker's agents keep their state in RAM, so every boot is a first join anyway.
        servers = serverBins ? await startPreparedLabServers(prepared, serverBins, path.join(work, `server-${i}`)) : undefined;
        result = await bootNetboot(prepared, {
          forwards: nfs?.forwards,
          tap: lab?.tap,
          awaits: servers ? nodeJoinedAwaits(servers, prepared.hostname) : undefined,
          serialLog: path.join(work, `serial-${i}.log`),
          timeoutSeconds: o.bootTimeout,
          pollMs: 100,
          log: () => undefined,
        });
      } finally {
        if (servers && !result?.ok) process.stderr.write(`${servers.logTails(30)}\n`);
        await servers?.stop();
        await nfs?.stop();
        await lab?.stop();
      }
      const b = { ...bootFigures(result!, bootPath), variant };
      boots.push(b);
      const g = groupsOf(bootPath).map((name) => `${name} ${b.groups[name]?.toFixed(1) ?? "?"}`).join(", ");
      progress(`boot ${i}/${o.boots} (${variant}): ${b.ok ? (o.cluster ? "ready in Nomad" : agents ? "agents reported" : "node up") : `FAILED: ${b.failure}`} in ${b.totalSeconds.toFixed(1)} s (${g})`);
      if (!b.ok) process.stderr.write(`${result!.serialTail}\n`);
    }
  }

  // 2. xz levels.
  const rows: XzRow[] = [];
  let tarBytes = 0;
  let reproduced: boolean | undefined;
  let busyboxVersion = "";
  let unpackKind = "";
  if (!o.skipXz) {
    const tar = path.join(work, "rootfs.tar");
    if (ramrootUnpackedByKernel(ramroot.codec)) {
      // The kernel's cpio (its names under newroot/): unpacked here, then the tar the initrd's modes stream.
      const tree = path.join(work, "tree");
      fs.mkdirSync(tree);
      // Every archive of the layered cpio (the base's, then the build's own), as the kernel unpacks them.
      await sh(`zstd -d -c -q "$1" | (cd "$2" && ${UNPACK_CPIO_ARCHIVES_SH}) && tar ${ramrootTarArgs(path.join(work, "tree", "newroot")).join(" ")} > "$3" && rm -rf "$2"`, [ramrootFile, tree, tar]);
    } else {
      await sh(buildsXz ? `xz -d -c "$1" > "$2"` : `gzip -d -c "$1" > "$2"`, [ramrootFile, tar]);
    }
    tarBytes = fs.statSync(tar).size;
    // The initrd's own busybox, from the published initrd.
    const bbDir = path.join(work, "initrd-busybox");
    fs.mkdirSync(bbDir);
    await sh(`gzip -d -c "$1" | cpio -i -d --quiet bin/busybox`, [path.join(prepared.imageDir, "initrd")], bbDir);
    const busybox = path.join(bbDir, "bin", "busybox");
    busyboxVersion = (await execa(busybox, [], { reject: false })).stdout.split("\n")[0];
    unpack = tmpfsDir();
    const unpackDir = unpack.dir;
    unpackKind = unpack.kind;
    progress(`rootfs tarball ${mib(tarBytes).toFixed(1)} MiB; decompressor: the initrd's ${busyboxVersion}; unpack into ${unpack.kind}`);

    for (const level of levels) {
      const out = path.join(work, `ramroot-${level}.tar.xz`);
      const t = await timedSh(`xz ${ramrootXzArgs(level).join(" ")} < "$1" > "$2"`, [tar, out]);
      rows.push({
        level,
        dictMiB: DICT_MIB[level[0]],
        bytes: fs.statSync(out).size,
        compressSeconds: t.wall,
        compressCpuSeconds: t.cpu,
        decompressSeconds: [],
        decompressCpuSeconds: [],
      });
      progress(`xz -${level}: ${mib(fs.statSync(out).size).toFixed(1)} MiB, compressed in ${t.wall.toFixed(1)} s (CPU ${t.cpu.toFixed(1)} s)`);
      if (buildsXz && level === defaultLevel) {
        reproduced = (await sh(`cmp -s "$1" "$2"`, [out, ramrootFile]).then(() => true, () => false)) as boolean;
      }
    }
    await decompressRounds(
      rows,
      o.xzRuns,
      unpackDir,
      (row) => [`"$1" xz -d -c "$2" | "$1" tar -x -C "$3"`, [busybox, path.join(work, `ramroot-${row.level}.tar.xz`), unpackDir]],
      (row) => `-${row.level}`,
      progress,
    );
    // The tar -x share, for reference: the uncompressed tarball through the same busybox tar.
    const none: XzRow = { level: "none", dictMiB: 0, bytes: tarBytes, compressSeconds: 0, compressCpuSeconds: 0, decompressSeconds: [], decompressCpuSeconds: [] };
    for (let i = 0; i < o.xzRuns; i++) {
      fs.rmSync(unpack.dir, { recursive: true, force: true });
      fs.mkdirSync(unpack.dir);
      const t = await timedSh(`"$1" tar -x -C "$3" < "$2"`, [busybox, tar, unpack.dir]);
      none.decompressSeconds.push(t.wall);
      none.decompressCpuSeconds.push(t.cpu);
    }
    fs.rmSync(unpack.dir, { recursive: true, force: true });
    rows.push(none);
    progress(`tar -x alone (uncompressed tarball): ${fmt(figures(none.decompressSeconds), 2)} s (CPU ${fmt(figures(none.decompressCpuSeconds), 2)})`);
  }

  // ---------------------------------------------------------------------------------------
  // Tables and the reasoning.
  const out: string[] = [];
  const load1 = os.loadavg();
  out.push(`# Ely netboot benchmark`, ``);
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Linux ${machine.kernel}, ${machine.qemu}; ` +
      `load average ${load0[0].toFixed(2)} at start, ${load1[0].toFixed(2)} at end. Image ${prepared.imageKey} (${o.profile} profile) build ${prepared.buildId}, ` +
      `build ${prepared.timings.build.toFixed(1)} s${prepared.timings.build < 5 ? " (reused)" : ""}.`,
  );
  let bootSummary: Record<string, Figures> = {};
  if (boots.length) {
    const good = boots.filter((b) => b.ok);
    out.push(``, `## Boot: QEMU start to ${o.cluster ? "the node ready in Nomad" : agents ? "the agents' report (ELY-AGENTS)" : "ELY-NODE-UP"} (${good.length} of ${boots.length} boots, QEMU TCG, ${prepared.qemu.cpus} vCPUs, ${prepared.qemu.memoryMb} MiB)`, ``);
    // One column per variant (the network, and on the bridge the router advertisement), boots of a variant pooled.
    const columns = variants.map((v) => `${variants.length > 1 || o.network === "bridge" ? `${v}: ` : ""}seconds, median (min-max)`);
    out.push(
      `Network: ${o.network === "user" ? "QEMU's user network (its own DHCP and TFTP)" : "the netboot test's bridge (a router's DHCP, the util node's generated dnsmasq.conf and, with RA on, its radvd)"}` +
        (o.cluster ? `; the lab's server ${prepared.inventory.nodes.find((n) => n.role === "server")?.hostname} (Consul and Nomad server agents, started fresh for each boot) on the bridge.` : "."),
      ``,
    );
    out.push(`| phase | ${columns.join(" | ")} | what |`, `|---|${columns.map(() => "---|").join("")}---|`);
    const per = (get: (b: BootFigures) => number | undefined, variant = variants[0]) => {
      const values = good.filter((b) => b.variant === variant).map(get).filter((v): v is number => v !== undefined);
      return values.length ? figures(values) : undefined;
    };
    // The summary's keys: the first variant's under the phase's name (as before), the others' prefixed.
    const row = (key: string, get: (b: BootFigures) => number | undefined, bold: boolean, what: string, label = key) => {
      const cells = variants.map((v, i) => {
        const f = per(get, v);
        if (f) bootSummary[i === 0 ? key : `${v}: ${key}`] = f;
        return bold ? `**${fmt(f)}**` : fmt(f);
      });
      out.push(`| ${label} | ${cells.join(" | ")} | ${what} |`);
    };
    for (const g of groupsOf(bootPath)) {
      row(g, (b) => b.groups[g], true, "", `**${g}**`);
      for (const p of phasesOf(bootPath).filter((x) => x.group === g)) row(p.key, (b) => b.phases[p.key], false, p.what, `&nbsp;&nbsp;${p.key}`);
    }
    row("total", (b) => b.totalSeconds, true, `power-on to ${endOfBoot}`, "**total**");
    if (agents) {
      for (const v of variants) {
        const at = (event: string) => fmt(per((b) => b.events[event], v));
        out.push(
          ``,
          `${variants.length > 1 ? `${v}: n` : "N"}ode-up marker at ${at("marker")} s; Consul started at ${at("consul-started")} s, Nomad at ${at("nomad-started")} s` +
            (o.cluster ? `; a Consul member at ${at("consul-member")} s, ready in Nomad at ${at("nomad-ready")} s, the agents' report at ${at("agents-report")} s.` : "."),
        );
      }
    }
    if (agents) {
      // The node's own account (the agents' report's boot line), on its clock: where its userspace went, phase by phase.
      const steps: Array<[string, string, string]> = [
        ["userspace", "sysinit", "systemd to sysinit.target (udev's coldplug, the early units)"],
        ["userspace", "network-online", "systemd to network-online.target (udev, networkd, the lease the initrd handed over)"],
        ["network-online", "docker", "network online to docker ready (containerd, dockerd: its AppArmor profile, iptables, docker0)"],
        ["docker", "nomad", "docker ready to Nomad started (Nomad is ordered after docker and Consul)"],
        ["nomad", "nomad-registered", "Nomad started to its node registered (its start, fingerprints, the join)"],
      ];
      const gap = (b: BootFigures, a: string, z: string) => {
        const g = b.guest as Record<string, number> | undefined;
        return g?.[a] !== undefined && g?.[z] !== undefined ? g[z] - g[a] : undefined;
      };
      if (good.some((b) => b.guest)) {
        out.push(``, `The node's own account (the agents' report's boot line: systemd's and Nomad's timestamps on the guest's clock), seconds:`, ``);
        out.push(`| from | to | ${variants.map((v) => `${variants.length > 1 ? `${v}: ` : ""}median (min-max)`).join(" | ")} | what |`, `|---|---|${variants.map(() => "---|").join("")}---|`);
        for (const [a, z, what] of steps) out.push(`| ${a} | ${z} | ${variants.map((v) => fmt(per((b) => gap(b, a, z), v))).join(" | ")} | ${what} |`);
        out.push(`| kernel start | nomad-registered | ${variants.map((v) => fmt(per((b) => b.guest?.["nomad-registered"], v))).join(" | ")} | the node's clock from its kernel's start |`);
      }
    }
    const http = per((b) => b.ramrootHttp?.seconds);
    const initrd = per((b) => b.initrdUnpack?.seconds);
    out.push(
      ``,
      `ramroot over QEMU's network: HTTP transfer ${fmt(http)} s of the ${fmt(per((b) => b.ramrootHttp && mib(b.ramrootHttp.bytes)))} MiB file` +
        (bootPath.kernelUnpack
          ? ` (by iPXE, before the kernel starts); the kernel unpacks it before the initrd's first line, so ramroot.kernel-unpack holds the kernel's own boot too.`
          : `; the initrd's own count of the unpack: ${fmt(initrd, 0)} s (guest clock, whole seconds).`),
    );
    out.push(
      ``,
      `QEMU's TCG emulates the CPU (this machine's /dev/kvm, nested, hangs in the iPXE ROM): the CPU-bound phases (kernel, the ramroot's unpack, systemd) run several times ` +
        `slower than on a node, and the ramroot crosses ${o.network === "user" ? "QEMU's user network" : "the test bridge (a tap)"}. Read these figures as the boot path's shape and for regressions; the xz table below estimates the ramroot phase on a node.`,
    );
    bootSummary = Object.fromEntries(Object.entries(bootSummary).filter(([, v]) => v));
  }

  let recommendation: { level: string; reasons: string[] } | undefined;
  if (rows.length) {
    const linkBytesPerS = linkBytesPerSecond(o.linkMbit);
    const nodes = prepared.netbootedNodes;
    const est = (r: XzRow) => {
      // CPU time, not wall: on a node the decoder has a core to itself.
      const d = figures(r.decompressCpuSeconds).median;
      const download1 = r.bytes / linkBytesPerS;
      const downloadAll = (nodes * r.bytes) / linkBytesPerS;
      const target = d * o.cpuFactor;
      // wget | xz -d | tar -x is a pipeline: the slower of the two sets the pace.
      return { d, download1, downloadAll, target, one: Math.max(download1, target), all: Math.max(downloadAll, target) };
    };
    out.push(``, `## ramroot.tar.xz per xz level (rootfs tarball ${mib(tarBytes).toFixed(1)} MiB; decompression ${o.xzRuns} runs each)`, ``);
    out.push(
      `| level | dict (decoder RAM) | size MiB | ratio | compress s, wall (CPU), xz -T${os.cpus().length} | decompress + unpack s, wall | decompress + unpack s, CPU | ` +
        `download s at ${o.linkMbit} Mbit/s, 1 node / ${nodes} nodes | decompress s on a node (CPU x${o.cpuFactor}) | est. ramroot s, 1 node / ${nodes} at once |`,
      `|---|---|---|---|---|---|---|---|---|---|`,
    );
    for (const r of rows) {
      const e = est(r);
      const levelName = r.level === "none" ? "none (tar only)" : `-${r.level}${r.level === defaultLevel ? (buildsXz ? " (build default)" : " (xz's default)") : ""}`;
      out.push(
        `| ${levelName} | ${r.level === "none" ? "-" : `${r.dictMiB} MiB`} | ${mib(r.bytes).toFixed(1)} | ${(r.bytes / tarBytes).toFixed(3)} | ` +
          `${r.level === "none" ? "-" : `${r.compressSeconds.toFixed(1)} (${r.compressCpuSeconds.toFixed(1)})`} | ${fmt(figures(r.decompressSeconds), 2)} | ${fmt(figures(r.decompressCpuSeconds), 2)} | ` +
          `${e.download1.toFixed(2)} / ${e.downloadAll.toFixed(1)} | ${e.target.toFixed(1)} | ${e.one.toFixed(1)} / ${e.all.toFixed(1)} |`,
      );
    }
    if (reproduced !== undefined) out.push(``, `The build's default level (-${defaultLevel}) with the build's xz arguments reproduces the published ramroot.tar.xz ${reproduced ? "byte for byte" : "NOT byte for byte (check the arguments)"}.`);

    // The pick: boot time first, then build time. The levels whose estimated ramroot time
    // (one node, and every netbooted node at once after a power cut) is within the tolerance
    // of the best: 2%, or the runs' typical spread if this machine was noisier; among those,
    // the cheapest to build. Size counts through the download in the estimate.
    const xzRows = rows.filter((r) => r.level !== "none");
    const scored = xzRows.map((r) => ({ r, e: est(r) }));
    const spreads = xzRows.map((r) => {
      const f = figures(r.decompressCpuSeconds);
      return (f.max - f.min) / f.median;
    });
    const tolerance = Math.max(0.02, figures(spreads).median);
    const bestAll = Math.min(...scored.map((s) => s.e.all));
    const bestOne = Math.min(...scored.map((s) => s.e.one));
    const pool = scored.filter((s) => s.e.all <= bestAll * (1 + tolerance) && s.e.one <= bestOne * (1 + tolerance));
    const pick = [...pool].sort((a, b) => a.r.compressSeconds - b.r.compressSeconds)[0];
    const cur = scored.find((s) => s.r.level === defaultLevel);
    const none = rows.find((r) => r.level === "none");
    const first = scored[0];
    const last = scored[scored.length - 1];
    const list = (f: (s: { r: XzRow; e: ReturnType<typeof est> }) => string) => scored.map((s) => `-${s.r.level} ${f(s)}`).join(", ");
    const decodeTrend = last.e.d < first.e.d * 0.97 ? "faster" : last.e.d > first.e.d * 1.03 ? "slower" : "about as fast";
    const wireBound = scored.filter((s) => s.e.downloadAll > s.e.target);
    const reasons = [
      `Download at ${o.linkMbit} Mbit/s (~${(linkBytesPerS / 1e6).toFixed(0)} MB/s of TCP goodput), one node: ${list((s) => `${s.e.download1.toFixed(2)} s`)}; ` +
        `all ${nodes} netbooted nodes at once (after a power cut) share the util node's link: ${list((s) => `${s.e.downloadAll.toFixed(1)} s`)}.`,
      `Decompression and unpack here, CPU time (the initrd's busybox xz, single-threaded, into a tmpfs): ${list((s) => `${s.e.d.toFixed(2)} s`)}` +
        `${none ? `; tar -x alone ${figures(none.decompressCpuSeconds).median.toFixed(2)} s` : ""}. The higher levels decode ${decodeTrend} (-${last.r.level} against -${first.r.level}: ` +
        `${((last.e.d / first.e.d - 1) * 100).toFixed(0)}%)${
          decodeTrend === "faster"
            ? ": a better-compressed stream has fewer symbols to decode per output byte"
            : decodeTrend === "slower"
              ? ": the larger dictionary costs cache misses"
              : ": LZMA's decoder cost follows the output, not the level"
        }. ` +
        `On a node's CPU (ODROID-H2 class, Celeron J4105; assumed ${o.cpuFactor}x slower than this machine per core): ${list((s) => `${s.e.target.toFixed(1)} s`)}.`,
      `The initrd streams wget | xz -d | tar -x, so download and decompression overlap and the slower one sets the time: ` +
        (wireBound.length
          ? `the wire, for ${wireBound.map((s) => `-${s.r.level}`).join(", ")} when all nodes boot at once; decompression otherwise.`
          : `decompression, at every level, even with all ${nodes} nodes on one ${o.linkMbit} Mbit/s link: the file's size hardly shows in the boot; the decoder's speed does.`) +
        (none
          ? ` For scale: an uncompressed tarball would take ${est(none).one.toFixed(1)} s for one node and ${est(none).all.toFixed(1)} s for ${nodes} at once (but ${mib(none.bytes).toFixed(0)} MiB per boot and per publish; the initrd reads xz only, so another format is a separate change).`
          : ""),
      `Compression (the image build, xz -T${os.cpus().length}, once per input change), wall: ${list((s) => `${s.r.compressSeconds.toFixed(0)} s`)}; ` +
        `decoder memory is the dictionary (${list((s) => `${s.r.dictMiB} MiB`)}), small beside a node's RAM.`,
      pick
        ? `Pick: -${pick.r.level}: ${mib(pick.r.bytes).toFixed(1)} MiB, est. ramroot ${pick.e.one.toFixed(1)} s for one node and ${pick.e.all.toFixed(1)} s for ${nodes} at once, build ${pick.r.compressSeconds.toFixed(0)} s` +
          (cur && pick.r.level !== cur.r.level
            ? `; the current -${cur.r.level}: ${mib(cur.r.bytes).toFixed(1)} MiB, ${cur.e.one.toFixed(1)} s / ${cur.e.all.toFixed(1)} s, build ${cur.r.compressSeconds.toFixed(0)} s`
            : cur
              ? `: the current default stays`
              : ``) +
          `. Rule: boot time first, then build time: of the levels within ${(tolerance * 100).toFixed(0)}% of the best estimated ramroot time ` +
          `(${pool.map((s) => `-${s.r.level}`).join(", ")}; the tolerance is 2% or the runs' median spread, if larger), the cheapest to build.`
        : `No pick.`,
    ];
    // What the neighbours of the pick would change.
    const at = pick ? scored.indexOf(pick) : -1;
    const step = (a: (typeof scored)[number], b: (typeof scored)[number]) =>
      `-${a.r.level} to -${b.r.level}: size ${((b.r.bytes / a.r.bytes - 1) * 100).toFixed(1)}%, ramroot on a node ${(b.e.all - a.e.all >= 0 ? "+" : "") + (b.e.all - a.e.all).toFixed(2)} s, ` +
      `build ${(b.r.compressSeconds - a.r.compressSeconds >= 0 ? "+" : "") + (b.r.compressSeconds - a.r.compressSeconds).toFixed(0)} s (xz kept ${(b.r.compressCpuSeconds / b.r.compressSeconds).toFixed(1)} of ${os.cpus().length} cores busy)`;
    const neighbours = [at > 0 ? step(scored[at - 1], scored[at]) : "", at >= 0 && at < scored.length - 1 ? step(scored[at], scored[at + 1]) : ""].filter(Boolean);
    if (neighbours.length) reasons.push(`Around the pick: ${neighbours.join("; ")}.`);
    recommendation = { level: pick?.r.level ?? defaultLevel, reasons };
    out.push(``, `## Recommendation`, ``, buildsXz
        ? `The build uses xz -${defaultLevel} (images/profiles.ts) now.`
        : `The build uses ${ramroot.codec} -${ramroot.level} now (images/ramroot-codec.ts; BENCHMARKS.md compares the codecs); these are xz's levels, for --ramroot-codec xz.`, ``, ...reasons.map((r) => `- ${r}`));
  }

  console.log(out.join("\n"));
  writeResults(
    o.json,
    {
      durationSeconds: (Date.now() - started) / 1000,
      machine: { ...machine, loadAverageStart: load0, loadAverageEnd: load1 },
      options: { boots: o.boots, network: o.network, cluster: !!o.cluster, ramroot, routerAdvertisement: o.network === "bridge" ? o.routerAdvertisement : undefined, xzLevels: levels, xzRuns: o.xzRuns, linkMbit: o.linkMbit, cpuFactor: o.cpuFactor },
      image: { key: prepared.imageKey, buildId: prepared.buildId, profile: prepared.profile, prepareSeconds: prepared.timings },
      boot: { summary: bootSummary, runs: boots, qemu: { cpus: prepared.qemu.cpus, memoryMb: prepared.qemu.memoryMb, accel: "tcg" } },
      xz: { defaultLevel, tarBytes, busybox: busyboxVersion, unpackInto: unpackKind, reproducesPublished: reproduced, levels: rows },
      recommendation,
    },
    progress,
  );
  if (boots.some((b) => !b.ok)) process.exitCode = 1;
}

runBench(main, progress);
