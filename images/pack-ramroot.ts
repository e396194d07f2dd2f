/**
 * Packs the root filesystem into the ramroot artifact: tar (or cpio) | compressor > file, with a
 * progress line every few seconds (bytes of tar read, bytes written, elapsed time, rate),
 * so the build's longest step is not silent. The tar stream passes through this process
 * to be counted; tar's and the compressor's stderr go to the build log.
 */
import { spawn } from "child_process";
import { Transform, TransformCallback } from "stream";
import * as fs from "fs";
import * as path from "path";
import { KERNEL_RAMROOT_DIR, RamrootCompression, ramrootCompressCommand } from "./ramroot-codec";

/** tar's arguments: the root filesystem as root sees it, in a stable order, on stdout. */
export function ramrootTarArgs(rootfs: string): string[] {
  return ["-C", rootfs, "--numeric-owner", "--xattrs", "--acls", "--sort=name", "-cf", "-", "."];
}

/** About the size of the tar of `root`: a 512-byte header per entry, file data in 512-byte blocks, two end blocks. */
export function estimateTarBytes(root: string): number {
  let total = 1024;
  const seen = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      total += 512;
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const st = fs.lstatSync(full);
        const id = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && seen.has(id)) continue; // a hard link: tar stores it once
        seen.add(id);
        total += Math.ceil(st.size / 512) * 512;
      }
    }
  };
  walk(root);
  return total;
}

/** cpio's arguments: a newc archive of the names on stdin, owners and modes as they are (the kernel's initramfs format). */
export const RAMROOT_CPIO_ARGS: readonly string[] = ["-o", "-H", "newc", "--quiet"];

/** A cpio source: names in `listFile`, relative to `cwd`. */
export interface CpioSource {
  readonly cwd: string;
  readonly listFile: string;
}

/**
 * A directory from which `newroot/<path>` names `root`'s `<path>` (a symlink `newroot` -> root: cpio
 * stores the names as listed, so the kernel unpacks the tree under /newroot, beside the initrd's files).
 */
export function kernelCpioDir(root: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const link = path.join(dir, KERNEL_RAMROOT_DIR);
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.resolve(root), link);
  return dir;
}

/** `newroot/<path>` lines for cpio, one per entry of `paths`; throws on a name a list cannot carry (a newline). */
export function kernelCpioList(paths: Iterable<string>): string {
  let out = "";
  for (const p of paths) {
    if (p.includes("\n")) throw new Error(`a path name with a newline cannot go into the ramroot's cpio list: ${JSON.stringify(p)}`);
    out += `${KERNEL_RAMROOT_DIR}/${p}\n`;
  }
  return out;
}

/** Every path under `root` ("usr", "usr/bin", ...), parents first, sorted; `skip` (relative paths) left out with what is below them. */
export function treePaths(root: string, skip: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = rel ? `${rel}/${entry.name}` : entry.name;
      if (skip.has(p)) continue;
      out.push(p);
      if (entry.isDirectory()) walk(p);
    }
  };
  walk("");
  return out;
}

/** `paths` of `root` (default: the whole tree) as the kernel's cpio: the list and the directory it is read from, in `workDir`. */
export function kernelCpioSource(root: string, workDir: string, name: string, paths: readonly string[] = treePaths(root)): CpioSource {
  const listFile = path.join(workDir, `${name}.cpio-list`);
  fs.writeFileSync(listFile, kernelCpioList(paths));
  return { cwd: kernelCpioDir(root, path.join(workDir, `${name}.cpio-root`)), listFile };
}

export interface PackProgress {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly seconds: number;
  /** About the tar's whole size; the percentage and the time left come from it. */
  readonly expectedBytesIn?: number;
  /** What is read: "tar" (default) or "cpio". */
  readonly archive?: "tar" | "cpio";
}

const mib = (n: number) => (n / 1048576).toFixed(1);

/** "412.0 of ~953.2 MiB of tar read (43%), 80.1 MiB written (ratio 0.194), 120 s, 3.4 MiB/s, ~160 s left" */
export function formatPackProgress(p: PackProgress): string {
  const rate = p.seconds > 0 ? p.bytesIn / p.seconds : 0;
  const parts = [
    p.expectedBytesIn
      ? `${mib(p.bytesIn)} of ~${mib(p.expectedBytesIn)} MiB of ${p.archive ?? "tar"} read (${Math.min(99, Math.floor((100 * p.bytesIn) / p.expectedBytesIn))}%)`
      : `${mib(p.bytesIn)} MiB of ${p.archive ?? "tar"} read`,
    `${mib(p.bytesOut)} MiB written${p.bytesIn > 0 ? ` (ratio ${(p.bytesOut / p.bytesIn).toFixed(3)})` : ""}`,
    `${p.seconds.toFixed(0)} s`,
    `${mib(rate)} MiB/s`,
  ];
  if (p.expectedBytesIn && rate > 0 && p.bytesIn < p.expectedBytesIn) parts.push(`~${Math.ceil((p.expectedBytesIn - p.bytesIn) / rate)} s left`);
  return parts.join(", ");
}

export interface PackRamrootOptions {
  readonly rootfs: string;
  /** The artifact to write. */
  readonly dest: string;
  readonly compression: RamrootCompression;
  /** Gets tar's and the compressor's stderr. */
  readonly logFile: string;
  /** One progress line (without a prefix) every `intervalMs`. */
  readonly progress: (line: string) => void;
  /** Default: 5000. */
  readonly intervalMs?: number;
  /** Compressor threads. Default: every core. */
  readonly threads?: number;
  /** tar's arguments. Default: ramrootTarArgs(rootfs), the whole tree. */
  readonly tarArgs?: readonly string[];
  /** A newc cpio of these names instead of tar (the ramroot the kernel unpacks). Default: tar. */
  readonly cpio?: CpioSource;
  /** Append to `dest` instead of replacing it (a gzip file may hold several members, read as one stream). Default: false. */
  readonly append?: boolean;
  /**
   * Drop tar's end-of-archive (its last 1024 bytes, which must be zeros: tar with -b1 writes no more),
   * so that another tar stream can follow this one. Default: false.
   */
  readonly withoutEnd?: boolean;
  /** The progress line's "of ~N MiB". Default: estimated from `rootfs`. */
  readonly expectedBytesIn?: number;
}

/** tar's end of archive: two 512-byte blocks of zeros. */
export const TAR_END_BYTES = 1024;

/** Passes a stream on but its last `n` bytes, which `held()` returns at the end. */
class HoldBackEnd extends Transform {
  private tailBuf = Buffer.alloc(0);
  constructor(private readonly n: number) {
    super();
  }
  _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const all = Buffer.concat([this.tailBuf, chunk]);
    const cut = Math.max(0, all.length - this.n);
    this.tailBuf = all.subarray(cut);
    done(null, cut > 0 ? all.subarray(0, cut) : undefined);
  }
  held(): Buffer {
    return this.tailBuf;
  }
}

export interface PackRamrootResult {
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly seconds: number;
}

export async function packRamroot(options: PackRamrootOptions): Promise<PackRamrootResult> {
  const started = Date.now();
  const expectedBytesIn = options.expectedBytesIn ?? estimateTarBytes(options.rootfs);
  const compressor = ramrootCompressCommand(options.compression, options.threads);
  const tarArgs = options.tarArgs ?? ramrootTarArgs(options.rootfs);
  const log = fs.openSync(options.logFile, "a");
  const out = fs.openSync(options.dest, options.append ? "a" : "w");
  const startSize = fs.fstatSync(out).size;
  let bytesIn = 0;
  const archive = options.cpio ? "cpio" : "tar";
  const snapshot = (): PackProgress => ({ bytesIn, bytesOut: fs.fstatSync(out).size - startSize, seconds: (Date.now() - started) / 1000, expectedBytesIn, archive });
  const timer = setInterval(() => options.progress(formatPackProgress(snapshot())), options.intervalMs ?? 5000);
  try {
    const archiver = options.cpio ? `(cd ${options.cpio.cwd} && cpio ${RAMROOT_CPIO_ARGS.join(" ")} < ${options.cpio.listFile})` : `tar ${tarArgs.join(" ")}`;
    fs.writeSync(log, `$ ${archiver} | ${options.withoutEnd ? "(all but the last 1024 bytes) | " : ""}${compressor.join(" ")} >${options.append ? ">" : ""} ${options.dest}\n`);
    const list = options.cpio ? fs.openSync(options.cpio.listFile, "r") : undefined;
    const tar = options.cpio
      ? spawn("cpio", [...RAMROOT_CPIO_ARGS], { cwd: options.cpio.cwd, stdio: [list!, "pipe", log] })
      : spawn("tar", [...tarArgs], { stdio: ["ignore", "pipe", log] });
    if (list !== undefined) fs.closeSync(list);
    const comp = spawn(compressor[0], compressor.slice(1), { stdio: ["pipe", out, log] });
    tar.stdout!.on("data", (chunk: Buffer) => (bytesIn += chunk.length));
    // A compressor that dies closes its stdin: the stream stops, so tar is stopped too (it
    // would wait on a full pipe forever), and the exit codes say who failed.
    comp.stdin!.on("error", () => undefined);
    comp.on("close", (code) => {
      if (code !== 0 && tar.exitCode === null) tar.kill();
    });
    const hold = options.withoutEnd ? new HoldBackEnd(TAR_END_BYTES) : undefined;
    if (hold) tar.stdout!.pipe(hold).pipe(comp.stdin!);
    else tar.stdout!.pipe(comp.stdin!);
    const exit = (child: ReturnType<typeof spawn>, name: string) =>
      new Promise<string | undefined>((resolve) => {
        child.on("error", (e) => resolve(`${name} could not start: ${e.message}`));
        child.on("close", (code, signal) => resolve(code === 0 ? undefined : `${name} exited with ${code ?? signal}`));
      });
    const problems = (await Promise.all([exit(tar, archive), exit(comp, compressor[0])])).filter((p): p is string => p !== undefined);
    if (hold && (hold.held().length !== TAR_END_BYTES || hold.held().some((b) => b !== 0))) {
      problems.push(`tar's stream did not end with ${TAR_END_BYTES} bytes of zeros (its end of archive; tar -b1 writes no padding after it)`);
    }
    if (problems.length) throw new Error(`packing ${path.basename(options.dest)}: ${problems.join("; ")}`);
    const last = snapshot();
    options.progress(`${formatPackProgress({ ...last, expectedBytesIn: undefined })}: done`);
    return { bytesIn: last.bytesIn, bytesOut: last.bytesOut, seconds: last.seconds };
  } finally {
    clearInterval(timer);
    fs.closeSync(out);
    fs.closeSync(log);
  }
}
