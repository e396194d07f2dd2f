#!/usr/bin/env node
/**
 * `npm run bench:ramroot -- --rootfs <dir>`: the ramroot's codecs side by side on one image's
 * root filesystem (issue 16), as root.
 *
 * The root filesystem is a stripped one from `node dist/images/build.js ... --keep-work`
 * (<work dir>/rootfs): it is packed into one tar with the build's own tar arguments, once;
 * then each codec compresses that tar with the build's own command (images/ramroot-codec.ts)
 * and the initrd's busybox (the root filesystem's busybox-static, which the initrd copies)
 * decompresses and unpacks it into a tmpfs as the initrd does (`<decoder> | tar -x`), rounds
 * interleaved across the codecs; median (min-max).
 *
 * zstd is measured for reference with the host's zstd: busybox has no zstd decoder, so the
 * initrd cannot read it (carrying zstd there means a second binary and its libraries).
 *
 * Estimate on a node: the pipeline's slower side, download (--link-mbit) or decode (this
 * machine's CPU time x --cpu-factor). One progress line per step; Markdown on stdout;
 * figures in bench/ramroot-last-run.json.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { ramrootTarArgs } from "../images/pack-ramroot";
import { DEFAULT_RAMROOT_COMPRESSION, ramrootCompressCommand, ramrootCompression } from "../images/ramroot-codec";
import { decompressRounds, figures, fmt, linkBytesPerSecond, mib, runBench, timedSh, tmpfsDir, writeResults } from "./measure";

interface Candidate {
  /** "gzip-1", "xz-6", "zstd-3". */
  readonly name: string;
  readonly compress: readonly string[];
  /** The decoder, stdin to stdout; "$BB" is the initrd's busybox. */
  readonly decode: string;
  readonly initrd: boolean;
}

interface Row {
  readonly candidate: Candidate;
  bytes: number;
  compressSeconds: number;
  compressCpuSeconds: number;
  decompressSeconds: number[];
  decompressCpuSeconds: number[];
}

const root = path.resolve(__dirname, "..", "..");
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[bench:ramroot +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/** "gzip-1", "xz-6", "xz-9e", "zstd-3" -> what compresses and decodes it. */
export function candidateOf(spec: string, threads: number): Candidate {
  const m = spec.match(/^(gzip|xz|zstd)-(\w+)$/);
  if (!m) throw new Error(`--codecs: received "${spec}", expected codec-level: gzip-1..9, xz-0..9(e), zstd-1..19`);
  const [, codec, level] = m;
  if (codec === "zstd") {
    if (!/^([1-9]|1[0-9])$/.test(level)) throw new Error(`--codecs: received "${spec}", expected zstd-1..19`);
    return { name: spec, compress: ["zstd", `-T${threads}`, `-${level}`, "-q", "-c"], decode: `zstd -d -c -q`, initrd: false };
  }
  const compression = ramrootCompression(codec, level);
  return {
    name: spec,
    compress: ramrootCompressCommand(compression, threads),
    decode: codec === "gzip" ? `"$BB" gunzip -c` : `"$BB" xz -d -c`,
    initrd: true,
  };
}

async function main(): Promise<void> {
  const program = new Command("bench:ramroot")
    .description("The ramroot's codecs side by side on one root filesystem: compress time, size, busybox decompress time, node estimate")
    .requiredOption("--rootfs <dir>", "a stripped root filesystem (build.js --keep-work: <work dir>/rootfs)")
    .option("--codecs <list>", "codec-level pairs", "xz-6,gzip-1,gzip-6,zstd-3")
    .option("--runs <n>", "decompression runs per codec", (v) => Number(v), 3)
    .option("--link-mbit <n>", "the lab's link speed for the download estimate", (v) => Number(v), 1000)
    .option("--cpu-factor <x>", "how many times slower a node's CPU decodes than this machine (ODROID-H2, Celeron J4105: ~2.5)", (v) => Number(v), 2.5)
    .option("--work <dir>", "scratch directory (the tar and each compressed file)", os.tmpdir())
    .option("--json <file>", "results file", path.join(root, "bench", "ramroot-last-run.json"))
    .parse(process.argv);
  const o = program.opts<{ rootfs: string; codecs: string; runs: number; linkMbit: number; cpuFactor: number; work: string; json: string }>();
  const threads = os.cpus().length;
  const candidates = o.codecs.split(",").map((c) => candidateOf(c.trim(), threads));
  const busybox = ["bin/busybox", "usr/bin/busybox"].map((p) => path.join(o.rootfs, p)).find((p) => fs.existsSync(p));
  if (!busybox) throw new Error(`${o.rootfs} has no busybox (bin/busybox): is it an image's root filesystem?`);
  const busyboxVersion = (await execa(busybox, [], { reject: false })).stdout.split("\n")[0];

  const work = fs.mkdtempSync(path.join(o.work, "ely-bench-ramroot-"));
  const unpack = tmpfsDir();
  process.on("exit", () => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(unpack.dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));
  const load0 = os.loadavg();
  progress(`start: ${os.cpus()[0]?.model}, ${threads} cores, load ${load0.map((l) => l.toFixed(2)).join(" ")}; codecs ${candidates.map((c) => c.name).join(", ")}; ${o.runs} runs`);

  const tar = path.join(work, "ramroot.tar");
  const tarTime = await timedSh(`tar ${ramrootTarArgs('"$1"').join(" ")} > "$2"`, [o.rootfs, tar]);
  const tarBytes = fs.statSync(tar).size;
  progress(`tar: ${mib(tarBytes).toFixed(1)} MiB in ${tarTime.wall.toFixed(1)} s; decoder: ${busyboxVersion}; unpack into ${unpack.kind}`);

  const rows: Row[] = [];
  for (const candidate of candidates) {
    const out = path.join(work, `ramroot.${candidate.name}`);
    const t = await timedSh(`${candidate.compress.join(" ")} < "$1" > "$2"`, [tar, out]);
    rows.push({ candidate, bytes: fs.statSync(out).size, compressSeconds: t.wall, compressCpuSeconds: t.cpu, decompressSeconds: [], decompressCpuSeconds: [] });
    progress(`${candidate.name}: ${mib(fs.statSync(out).size).toFixed(1)} MiB, compressed in ${t.wall.toFixed(1)} s (CPU ${t.cpu.toFixed(1)} s)`);
  }
  await decompressRounds(
    rows,
    o.runs,
    unpack.dir,
    (row) => [`BB="$1"; ${row.candidate.decode} < "$2" | "$1" tar -x -C "$3"`, [busybox, path.join(work, `ramroot.${row.candidate.name}`), unpack.dir]],
    (row) => row.candidate.name,
    progress,
  );
  fs.rmSync(unpack.dir, { recursive: true, force: true });

  const link = linkBytesPerSecond(o.linkMbit);
  const estimate = (r: Row) => {
    const cpu = figures(r.decompressCpuSeconds).median;
    const download = r.bytes / link;
    const decode = cpu * o.cpuFactor;
    return { cpu, download, decode, ramroot: Math.max(download, decode) };
  };
  const load1 = os.loadavg();
  const lines = [
    `## ramroot codecs on ${path.resolve(o.rootfs)} (tar ${mib(tarBytes).toFixed(1)} MiB)`,
    ``,
    `${os.cpus()[0]?.model}, ${threads} cores, load ${load0[0].toFixed(2)} at start and ${load1[0].toFixed(2)} at end; decoder ${busyboxVersion}, unpack into ${unpack.kind}; ` +
      `decompression ${o.runs} runs each, median (min-max).`,
    ``,
    `| codec | in the initrd | size MiB | ratio | compress s, wall (CPU) | decompress + unpack s, wall | decompress + unpack s, CPU | download s at ${o.linkMbit} Mbit/s | decode s on a node (CPU x${o.cpuFactor}) | est. ramroot s on a node |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
    ...rows.map((r) => {
      const e = estimate(r);
      const isDefault = r.candidate.name === `${DEFAULT_RAMROOT_COMPRESSION.codec}-${DEFAULT_RAMROOT_COMPRESSION.level}`;
      return (
        `| ${r.candidate.name}${isDefault ? " (default)" : ""} | ${r.candidate.initrd ? "yes (busybox)" : "no (host zstd)"} | ${mib(r.bytes).toFixed(1)} | ${(r.bytes / tarBytes).toFixed(3)} | ` +
        `${r.compressSeconds.toFixed(1)} (${r.compressCpuSeconds.toFixed(1)}) | ${fmt(figures(r.decompressSeconds), 2)} | ${fmt(figures(r.decompressCpuSeconds), 2)} | ` +
        `${e.download.toFixed(1)} | ${e.decode.toFixed(1)} | ${e.ramroot.toFixed(1)} |`
      );
    }),
  ];
  console.log(lines.join("\n"));
  writeResults(
    o.json,
    {
      machine: { cpu: os.cpus()[0]?.model, cores: threads, loadAverageStart: load0, loadAverageEnd: load1 },
      options: { rootfs: o.rootfs, runs: o.runs, linkMbit: o.linkMbit, cpuFactor: o.cpuFactor },
      tar: { bytes: tarBytes, seconds: tarTime.wall },
      busybox: busyboxVersion,
      codecs: rows.map((r) => ({ ...r, candidate: r.candidate.name, compress: r.candidate.compress.join(" "), estimate: estimate(r) })),
    },
    progress,
  );
}

if (require.main === module) runBench(main, progress);
