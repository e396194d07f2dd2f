#!/usr/bin/env node
/**
 * `npm run bench:unpack -- --build <dir>`: the ramroot phase of a boot, side by side in one QEMU guest
 * (issue 16): the initrd's busybox decoding the build's ramroot (`gunzip -c | tar -x`, and `xz -d -c | tar -x`
 * with --xz) against the kernel unpacking the same root filesystem itself, as a zstd-compressed cpio handed
 * to it as a second initrd (what iPXE would do with `initrd ramroot.cpio.zst`; Debian's kernel has
 * CONFIG_RD_ZSTD=y, checked in the cached base's /boot/config-<kernel>).
 *
 * No network: the network is not what differs. Each boot is the build's own vmlinuz with a small
 * measuring initrd (the image's busybox and an /init that notes /proc/uptime) and:
 *   baseline   nothing else: the kernel's boot up to /init
 *   gzip, xz   the ramroot archive as a file in an uncompressed cpio: /init times `<decoder> | tar -x` into a tmpfs
 *   kernel     the root filesystem as `newroot/...` in a zstd cpio: the kernel unpacks it before /init
 * The ramroot phase: gzip/xz = /init's own timing; kernel = its /init start minus the baseline's.
 * TCG emulates the CPU: read the ratios, not the seconds. Host CPU times of each decoder beside.
 * With --kernel-build <dir> (a build with the kernel's ramroot, ramroot.cpio.zst), the kernel mode boots that
 * build's own archive. The kernel mode's /init also checks what container runtimes need: pivot_root fails on
 * the kernel's rootfs itself, and works once /newroot is bind-mounted, moved onto / and chrooted into
 * (images/initrd-files.ts does that).
 * Per mode: the ramroot step's packing time here (the build's own commands), the served size, the decode
 * time here and the estimate on an ODROID H2 (CPU x2.5, the bench's factor; download at 1 Gbit/s: the initrd
 * streams it through its decoder, iPXE loads the kernel's whole before the kernel starts). With --netboot, each
 * mode's image (the full profile, built or reused as the netboot test does) also boots once through the netboot
 * test's path on QEMU's user network: power-on to systemd, to the node-up marker and to the agents' report.
 * Needs root (the archive's owners), qemu-system-x86_64, cpio, zstd. Markdown on stdout, figures in
 * bench/unpack-last-run.json.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { defaultBaseCacheDir } from "../images/base-rootfs";
import { RAMROOT_CPIO_ARGS, ramrootTarArgs } from "../images/pack-ramroot";
import { ramrootArtifactOf, ramrootCompressCommand, ramrootCompression } from "../images/ramroot-codec";
import { figures, fmt, linkBytesPerSecond, mib, runBench, timedSh, writeResults } from "./measure";
import { bootNetboot, netbootInventoryInput, prepareNetboot } from "../e2e/netboot/harness";
import { startUtilNfs } from "../e2e/netboot/util-nfs";
import { parseInventory } from "../nodes";

const root = path.resolve(__dirname, "..", "..");
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[bench:unpack +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/** The measuring initrd's /init: `ELY-BENCH <event> <uptime>` lines on the console, then power off. */
export const MEASURE_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /newroot
mount -t proc proc /proc
read up _ < /proc/uptime; echo "ELY-BENCH init-start $up"
mode=$(sed -n 's/.*ely.bench=\\([a-z]*\\).*/\\1/p' /proc/cmdline)
case "$mode" in
  gzip) mount -t tmpfs -o size=90% ramroot /newroot; gunzip -c /ramroot.tar.gz | tar -x -C /newroot ;;
  xz) mount -t tmpfs -o size=90% ramroot /newroot; xz -d -c /ramroot.tar.xz | tar -x -C /newroot ;;
esac
read up _ < /proc/uptime; echo "ELY-BENCH done $up files=$(find /newroot | wc -l) init=$(ls -l /newroot/sbin/init 2>/dev/null | wc -l)"
if [ "$mode" = kernel ]; then
  echo "ELY-BENCH pivot-root-on-rootfs $(sh /pivot-check)"
  cp /pivot-check /newroot/tmp/ely-pivot-check
  mount -o bind /newroot /newroot && cd /newroot && mount -o move /newroot / && exec chroot . /bin/busybox sh /tmp/ely-pivot-check after-move
fi
poweroff -f
`;

/**
 * What a container runtime does (runc: a new mount namespace, then pivot_root into the container's root),
 * with busybox: "ok", or the error. With an argument, prints its line and powers off (run in the chroot).
 */
export const PIVOT_CHECK = `export PATH=/bin:/usr/bin
bb=busybox
result=$($bb unshare -m $bb sh -c 'd=/tmp/ely-pivot; busybox mkdir -p $d && busybox mount -t tmpfs t $d && busybox mkdir $d/old && cd $d && busybox pivot_root . old && echo ok' 2>&1 | $bb tail -n 1)
if [ -n "$1" ]; then echo "ELY-BENCH pivot-root-$1 $result"; $bb poweroff -f; fi
echo "$result"
`;

/** `ELY-BENCH init-start 1.23`, `ELY-BENCH done 4.56 files=N init=1` and the kernel mode's pivot_root lines from a console log. */
export function parseMeasureLines(console: string): { initStart?: number; done?: number; files?: number; init?: boolean; pivotRootOnRootfs?: string; pivotRootAfterMove?: string } {
  const start = /ELY-BENCH init-start ([\d.]+)/.exec(console);
  const done = /ELY-BENCH done ([\d.]+) files=(\d+) init=(\d)/.exec(console);
  const onRootfs = /ELY-BENCH pivot-root-on-rootfs (.*?)\r?$/m.exec(console);
  const afterMove = /ELY-BENCH pivot-root-after-move (.*?)\r?$/m.exec(console);
  return {
    initStart: start ? Number(start[1]) : undefined,
    done: done ? Number(done[1]) : undefined,
    files: done ? Number(done[2]) : undefined,
    init: done ? done[3] === "1" : undefined,
    ...(onRootfs ? { pivotRootOnRootfs: onRootfs[1] } : {}),
    ...(afterMove ? { pivotRootAfterMove: afterMove[1] } : {}),
  };
}

/** A newc cpio of `entries` (relative paths under `dir`), written to `out`; padded to 512 bytes for concatenation. */
async function cpio(dir: string, list: string, out: string, compress?: string): Promise<void> {
  await execa("sh", ["-c", `cd "$1" && cpio -o -H newc --quiet < "$2" ${compress ? `| ${compress}` : ""} > "$3"`, "sh", dir, list, out]);
  const pad = (512 - (fs.statSync(out).size % 512)) % 512;
  if (pad) fs.appendFileSync(out, Buffer.alloc(pad));
}

interface Mode {
  readonly name: string;
  /** The initrd QEMU loads (the measuring one, and what follows it). */
  readonly initrd: string;
  readonly bytes: number;
  readonly initStart: number[];
  readonly done: number[];
  files?: number;
  /** The kernel mode's pivot_root checks: "ok" or the error. */
  pivotRoot?: { onRootfs?: string; afterMove?: string };
}

async function boot(vmlinuz: string, initrd: string, mode: string, memoryMb: number, timeoutS: number): Promise<string> {
  const run = await execa(
    "qemu-system-x86_64",
    ["-machine", "q35", "-accel", "tcg", "-m", String(memoryMb), "-smp", "2", "-nographic", "-no-reboot", "-kernel", vmlinuz, "-initrd", initrd, "-append", `console=ttyS0 quiet rdinit=/init ely.bench=${mode}`],
    { reject: false, timeout: timeoutS * 1000, all: true, stdin: "ignore" },
  );
  return run.all ?? "";
}

async function main(): Promise<void> {
  const program = new Command("bench:unpack")
    .description("The ramroot phase in one QEMU guest: busybox gunzip (and xz) | tar -x against the kernel's own zstd initramfs")
    .requiredOption("--build <dir>", "a build's directory (vmlinuz, initrd, ramroot.tar.gz)")
    .option("--rounds <n>", "boots per mode", (v) => Number(v), 2)
    .option("--zstd-level <n>", "zstd level of the kernel's cpio", "3")
    .option("--kernel-build <dir>", "a build of the same image with the kernel's ramroot (ramroot.cpio.zst): the kernel mode boots its own archive")
    .option("--netboot", "also boot each mode's image through the netboot test's path once (QEMU's user network, the full profile): power-on to systemd, the marker and the agents' report", false)
    .option("--link-mbit <n>", "the lab's link speed for the download estimate", (v) => Number(v), 1000)
    .option("--cpu-factor <x>", "how many times slower a node's CPU is than this machine's (ODROID H2, Celeron J4105: ~2.5)", (v) => Number(v), 2.5)
    .option("--xz", "also the xz ramroot (compressed here from the same tar, the build's xz arguments)", false)
    .option("--memory-mb <n>", "guest RAM", (v) => Number(v), 4096)
    .option("--timeout-s <n>", "per boot", (v) => Number(v), 1200)
    .option("--work <dir>", "scratch directory", os.tmpdir())
    .option("--json <file>", "results file", path.join(root, "bench", "unpack-last-run.json"))
    .parse(process.argv);
  const o = program.opts<{
    build: string;
    kernelBuild?: string;
    rounds: number;
    zstdLevel: string;
    linkMbit: number;
    cpuFactor: number;
    xz: boolean;
    netboot: boolean;
    memoryMb: number;
    timeoutS: number;
    work: string;
    json: string;
  }>();
  if (process.getuid?.() !== 0) throw new Error("bench:unpack runs as root: it unpacks the ramroot with its owners");
  const vmlinuz = path.join(o.build, "vmlinuz");
  const ramrootGz = path.join(o.build, "ramroot.tar.gz");
  for (const f of [vmlinuz, ramrootGz]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: --build names a gzip build's directory`);
  const work = fs.mkdtempSync(path.join(o.work, "ely-bench-unpack-"));
  process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
  process.on("SIGINT", () => process.exit(130));
  const load0 = os.loadavg();
  progress(`start: load ${load0.map((l) => l.toFixed(2)).join(" ")}; ${o.build}`);

  // The root filesystem, unpacked with its owners, as the kernel's cpio under newroot/.
  const tree = path.join(work, "tree");
  fs.mkdirSync(path.join(tree, "newroot"), { recursive: true });
  await execa("tar", ["--numeric-owner", "--xattrs", "-xzf", ramrootGz, "-C", path.join(tree, "newroot")]);
  // The ramroot has no /boot (stripped): the kernel's configuration is in the cached base it was built on.
  const kernel = (JSON.parse(fs.readFileSync(path.join(o.build, "manifest.json"), "utf8")) as { kernelVersion: string }).kernelVersion;
  const bases = defaultBaseCacheDir();
  const config = (fs.existsSync(bases) ? fs.readdirSync(bases) : []).map((b) => path.join(bases, b, "rootfs", "boot", `config-${kernel}`)).find((f) => fs.existsSync(f));
  const rdZstd = config ? /^CONFIG_RD_ZSTD=y$/m.test(fs.readFileSync(config, "utf8")) : undefined;
  const busybox = ["usr/bin/busybox", "bin/busybox"].map((p) => path.join(tree, "newroot", p)).find((p) => fs.existsSync(p));
  if (!busybox) throw new Error("the ramroot has no busybox");
  fs.writeFileSync(path.join(work, "tree.list"), (await execa("sh", ["-c", "cd \"$1\" && find newroot", "sh", tree], { maxBuffer: 1 << 28 })).stdout + "\n");
  // The ramroot step's packing, each mode with the build's own commands (images/pack-ramroot.ts, images/ramroot-codec.ts), on the same tree.
  const cores = os.cpus().length;
  const made = path.join(work, "ramroot.cpio.zst");
  const pack: Record<string, { wall: number; cpu: number; bytes: number }> = {};
  const zstdTime = await timedSh(`cd "$1" && cpio ${RAMROOT_CPIO_ARGS.join(" ")} < "$2" | ${ramrootCompressCommand(ramrootCompression("zstd", o.zstdLevel), cores).join(" ")} > "$3"`, [tree, path.join(work, "tree.list"), made]);
  pack.kernel = { ...zstdTime, bytes: fs.statSync(made).size };
  const gzipOut = path.join(work, "repacked.tar.gz");
  const gzipTime = await timedSh(`tar ${ramrootTarArgs(path.join(tree, "newroot")).join(" ")} | ${ramrootCompressCommand(ramrootCompression("gzip"), cores).join(" ")} > "$1"`, [gzipOut]);
  pack.gzip = { ...gzipTime, bytes: fs.statSync(gzipOut).size };
  fs.rmSync(gzipOut);
  const cpioZst = o.kernelBuild ? path.join(o.kernelBuild, ramrootArtifactOf("zstd")) : made;
  if (!fs.existsSync(cpioZst)) throw new Error(`${cpioZst} is missing: --kernel-build names a build with the kernel's ramroot (--ramroot-codec zstd)`);
  progress(
    `packed: gzip -6 ${mib(pack.gzip.bytes).toFixed(1)} MiB in ${gzipTime.wall.toFixed(1)} s, zstd -${o.zstdLevel} cpio ${mib(pack.kernel.bytes).toFixed(1)} MiB in ${zstdTime.wall.toFixed(1)} s; ` +
      `the kernel boots ${cpioZst} (${mib(fs.statSync(cpioZst).size).toFixed(1)} MiB); CONFIG_RD_ZSTD=${rdZstd === undefined ? "unknown" : rdZstd ? "y" : "not set"} (${config ?? `no config-${kernel} in a cached base`})`,
  );

  // The measuring initrd: busybox and /init.
  const m = path.join(work, "measure");
  fs.mkdirSync(path.join(m, "bin"), { recursive: true });
  fs.mkdirSync(path.join(m, "newroot")); // the build's cpio names newroot/... but not newroot itself: the real initrd has it
  fs.copyFileSync(busybox, path.join(m, "bin", "busybox"));
  fs.chmodSync(path.join(m, "bin", "busybox"), 0o755);
  fs.writeFileSync(path.join(m, "init"), MEASURE_INIT, { mode: 0o755 });
  fs.writeFileSync(path.join(m, "pivot-check"), PIVOT_CHECK, { mode: 0o755 });
  fs.writeFileSync(path.join(work, "measure.list"), "bin\nbin/busybox\ninit\nnewroot\npivot-check\n");
  const measure = path.join(work, "measure.cpio.gz");
  await cpio(m, path.join(work, "measure.list"), measure, "gzip -9");

  const archives: Array<[string, string]> = [["gzip", ramrootGz]];
  if (o.xz) {
    const xz = path.join(work, "ramroot.tar.xz");
    await timedSh(`gzip -dc "$1" | xz -T0 -6 --check=crc32 > "$2"`, [ramrootGz, xz]);
    archives.push(["xz", xz]);
  }
  const modes: Mode[] = [];
  const concat = (name: string, parts: string[]) => {
    const out = path.join(work, `boot-${name}.img`);
    execa.sync("sh", ["-c", 'out="$1"; shift; cat "$@" > "$out"', "sh", out, ...parts]);
    return out;
  };
  modes.push({ name: "baseline", initrd: measure, bytes: 0, initStart: [], done: [] });
  for (const [name, file] of archives) {
    const d = path.join(work, `archive-${name}`);
    fs.mkdirSync(d);
    fs.linkSync(file, path.join(d, path.basename(file)));
    fs.writeFileSync(path.join(d, "list"), path.basename(file) + "\n");
    const wrapped = path.join(work, `archive-${name}.cpio`);
    await cpio(d, path.join(d, "list"), wrapped);
    modes.push({ name, initrd: concat(name, [measure, wrapped]), bytes: fs.statSync(file).size, initStart: [], done: [] });
  }
  modes.push({ name: "kernel", initrd: concat("kernel", [measure, cpioZst]), bytes: fs.statSync(cpioZst).size, initStart: [], done: [] });

  // Host CPU time of each decoder (the image's busybox for gzip and xz, as the initrd; zstd for the kernel's cpio).
  const host: Record<string, number> = {};
  const unpack = fs.mkdtempSync("/dev/shm/ely-bench-unpack-");
  try {
    for (const [name, file] of archives) {
      fs.rmSync(unpack, { recursive: true, force: true });
      fs.mkdirSync(unpack);
      host[name] = (await timedSh(`"$1" ${name === "gzip" ? "gunzip" : "xz -d"} -c "$2" | "$1" tar -x -C "$3"`, [busybox, file, unpack])).cpu;
    }
    fs.rmSync(unpack, { recursive: true, force: true });
    fs.mkdirSync(unpack);
    // The same tree packed here as one cpio: userspace cpio -i stops at an archive's trailer, and a build's file has two.
    host.kernel = (await timedSh(`zstd -d -c -q "$1" | (cd "$2" && cpio -i -d --quiet)`, [made, unpack])).cpu;
  } finally {
    fs.rmSync(unpack, { recursive: true, force: true });
  }
  progress(`host CPU s: ${Object.entries(host).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}`);
  fs.rmSync(tree, { recursive: true, force: true });

  for (let round = 1; round <= o.rounds; round++) {
    for (const mode of modes) {
      const log = await boot(vmlinuz, mode.initrd, mode.name, o.memoryMb, o.timeoutS);
      const got = parseMeasureLines(log);
      if (got.initStart === undefined || got.done === undefined) throw new Error(`${mode.name}: no ELY-BENCH lines; console tail:\n${log.split("\n").slice(-20).join("\n")}`);
      if (mode.name !== "baseline" && !got.init) throw new Error(`${mode.name}: the unpacked root has no /sbin/init (files=${got.files})`);
      mode.initStart.push(got.initStart);
      mode.done.push(got.done);
      mode.files = got.files;
      if (mode.name === "kernel") mode.pivotRoot = { onRootfs: got.pivotRootOnRootfs, afterMove: got.pivotRootAfterMove };
      progress(`round ${round}/${o.rounds} ${mode.name}: /init at ${got.initStart.toFixed(2)} s, done at ${got.done.toFixed(2)} s, ${got.files} files; load ${os.loadavg()[0].toFixed(2)}`);
    }
  }
  const base = figures(modes[0].initStart).median;
  const phase = (mode: Mode) =>
    mode.name === "kernel" ? mode.initStart.map((s) => s - base) : mode.done.map((d, i) => d - mode.initStart[i]);
  const load1 = os.loadavg();
  const lines = [
    `## The ramroot phase in QEMU (TCG): busybox decoders against the kernel's zstd initramfs`,
    ``,
    `${os.cpus()[0]?.model}, ${os.cpus().length} cores, load ${load0[0].toFixed(2)} at start and ${load1[0].toFixed(2)} at end; guest 2 vCPUs, ${o.memoryMb} MiB; ${o.rounds} boots per mode, median (min-max).`,
    ``,
    `| mode | archive MiB | ramroot phase in QEMU s | / gzip | host CPU s (decode + unpack) | files |`,
    `|---|---|---|---|---|---|`,
    ...modes.slice(1).map((mode) => {
      const f = figures(phase(mode));
      const gzip = figures(phase(modes[1])).median;
      return `| ${mode.name} | ${mib(mode.bytes).toFixed(1)} | ${fmt(f, 2)} | ${(f.median / gzip).toFixed(2)} | ${host[mode.name]?.toFixed(2) ?? "-"} | ${mode.files ?? "-"} |`;
    }),
    ``,
    `Baseline (kernel to /init with the measuring initrd only): ${fmt(figures(modes[0].initStart), 2)} s.`,
  ];
  // Per mode, on a node: the initrd streams gzip (the slower of the download and the decode); iPXE loads the
  // kernel's archive whole before the kernel starts (download, then the unpack). The kernel's unpack on a node:
  // userspace zstd | cpio -i here x the CPU factor (an upper bound: in QEMU the kernel's unpack beat busybox's by
  // the ratio above), and the gzip decode scaled by that QEMU ratio.
  const bytesPerS = linkBytesPerSecond(o.linkMbit);
  const gzipPhase = figures(phase(modes[1])).median;
  const kernelRatio = figures(phase(modes[modes.length - 1])).median / gzipPhase;
  const estimates = {
    gzip: { download: modes[1].bytes / bytesPerS, decode: host.gzip * o.cpuFactor, phase: Math.max(modes[1].bytes / bytesPerS, host.gzip * o.cpuFactor) },
    kernel: {
      download: modes[modes.length - 1].bytes / bytesPerS,
      decode: host.kernel * o.cpuFactor,
      decodeByQemuRatio: host.gzip * o.cpuFactor * kernelRatio,
      phase: modes[modes.length - 1].bytes / bytesPerS + host.kernel * o.cpuFactor,
      phaseByQemuRatio: modes[modes.length - 1].bytes / bytesPerS + host.gzip * o.cpuFactor * kernelRatio,
    },
  };
  const pivot = modes[modes.length - 1].pivotRoot;
  lines.push(
    ``,
    `### Per mode: build, served size, decode here and on an ODROID H2 (CPU x${o.cpuFactor}, ${o.linkMbit} Mbit/s)`,
    ``,
    `| mode | pack s here, wall (CPU) | served MiB | decode + unpack CPU s here | download s | decode s on a node | est. ramroot phase s on a node |`,
    `|---|---|---|---|---|---|---|`,
    `| gzip -6, streamed by the initrd | ${pack.gzip.wall.toFixed(1)} (${pack.gzip.cpu.toFixed(1)}) | ${mib(modes[1].bytes).toFixed(1)} | ${host.gzip.toFixed(2)} (busybox) | ${estimates.gzip.download.toFixed(1)} | ${estimates.gzip.decode.toFixed(1)} | ${estimates.gzip.phase.toFixed(1)} (streamed: the slower of the two) |`,
    `| zstd -${o.zstdLevel} cpio, unpacked by the kernel | ${pack.kernel.wall.toFixed(1)} (${pack.kernel.cpu.toFixed(1)}) | ${mib(modes[modes.length - 1].bytes).toFixed(1)} | ${host.kernel.toFixed(2)} (userspace zstd \\| cpio -i) | ${estimates.kernel.download.toFixed(1)} | ${estimates.kernel.decode.toFixed(1)} (by the QEMU ratio: ${estimates.kernel.decodeByQemuRatio.toFixed(1)}) | ${estimates.kernel.phase.toFixed(1)} (by the QEMU ratio: ${estimates.kernel.phaseByQemuRatio.toFixed(1)}; download, then unpack) |`,
    ``,
    `pivot_root (what runc does for a container) on the kernel's rootfs itself: ${pivot?.onRootfs ?? "not seen"}; after /init's bind mount, move and chroot: ${pivot?.afterMove ?? "not seen"}.`,
  );
  const netboot = o.netboot ? await netbootBoots(work) : undefined;
  if (netboot) {
    lines.push(
      ``,
      `### Power-on in QEMU through the netboot test's path (QEMU's user network, TCG, one boot per mode)`,
      ``,
      `| mode | build | ramroot fetched s | systemd s | node-up marker s | agents' report s |`,
      `|---|---|---|---|---|---|`,
      ...netboot.map((b) => `| ${b.mode} | ${b.buildId} | ${b.at("ramroot-fetched")} | ${b.at("systemd")} | ${b.at("node-up")} | ${b.at("agents-report")} |`),
    );
  }
  console.log(lines.join("\n"));
  writeResults(o.json, { load: [load0, load1], options: o, rdZstd, host, pack, estimates, netboot: netboot?.map((b) => ({ mode: b.mode, buildId: b.buildId, ok: b.ok, timings: b.timings })), modes: modes.map((x) => ({ ...x, phase: x.name === "baseline" ? undefined : phase(x) })) }, progress);
}

/** One boot per mode (gzip streamed by the initrd, zstd unpacked by the kernel) through the netboot test's own path. */
async function netbootBoots(work: string) {
  const out = [];
  for (const [mode, ramroot] of [["gzip, initrd", ramrootCompression("gzip")], ["zstd, kernel", ramrootCompression("zstd")]] as const) {
    const dir = path.join(work, `netboot-${ramroot.codec}`);
    fs.mkdirSync(dir);
    const inventory = parseInventory(netbootInventoryInput("user"), "bench inventory");
    const prepared = await prepareNetboot({ workDir: dir, profile: "full", network: "user", inventory, ramroot, log: progress });
    const nfs = await startUtilNfs(prepared);
    const boot = await bootNetboot(prepared, { forwards: nfs.forwards, serialLog: path.join(dir, "serial.log"), log: () => undefined }).finally(() => nfs.stop());
    const at = (name: string) => boot.timings[`boot.${name}`]?.toFixed(1) ?? "-";
    progress(`netboot ${mode}: ${boot.ok ? "ok" : `FAILED: ${boot.failure}`}; systemd ${at("systemd")} s, node-up ${at("node-up")} s, agents' report ${at("agents-report")} s`);
    out.push({ mode, buildId: prepared.buildId, ok: boot.ok, timings: boot.timings, at });
  }
  return out;
}

if (require.main === module) runBench(main, progress);
