/**
 * The gzip ramroot in two members, so that a rebuild compresses only what it changed: gzip reads
 * concatenated members as one stream, and the initrd's `gunzip -c | tar -x` (busybox) sees one tar:
 *
 *   member 1, the base layer  the cached base's files (images/base-rootfs.ts) as tar without its end of
 *                             archive, less every path the build removed or turned into another kind of
 *                             file, and less hard-linked files the build rewrote; cached beside the base,
 *                             keyed by the base, the codec and that list of paths
 *   member 2, the top layer   every file the build wrote (the overlay's upper directory: extra packages,
 *                             agents, Ely's files, depmod's output), read through the overlay, then tar's end
 *
 * tar -x writes later members over earlier ones (a file the build changed is in both; the second wins),
 * and nothing the build removed is in either. An unchanged base layer (a one-package, Ely-file or agent
 * change keeps the strip step's removals) is copied from the cache, not compressed again.
 *
 * The zstd ramroot the kernel unpacks (ramroot.cpio.zst) is layered the same way: two zstd frames, each
 * a complete newc cpio of names under newroot/, which the kernel unpacks in turn. The kernel replaces a
 * regular file but not a symlink that exists already, so there the base layer also leaves out every
 * path the build rewrote (`rewritten`): each path is in one layer only.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { kernelCpioSource, packRamroot, PackRamrootResult, treePaths } from "./pack-ramroot";
import { RamrootCompression, ramrootArtifactOf, ramrootUnpackedByKernel } from "./ramroot-codec";

/**
 * A shell loop that unpacks, in the current directory, every cpio archive on its standard input
 * in turn, as the kernel does with a layered `ramroot.cpio.zst` (decompressed: the archives one
 * after another), a later archive's file replacing an earlier one's (`-u`). GNU `cpio -i` stops
 * at an archive's trailer, having read up to its 512-byte padding, so each pass reads the next; the pass that finds no more input ends the loop. A real
 * error stops it, on standard error, with status 1.
 */
export const UNPACK_CPIO_ARCHIVES_SH =
  'n=0; while :; do err=$(cpio -i -d -u --quiet 2>&1 >/dev/null); if [ -n "$err" ]; then case "$err" in *"premature end of archive"*) [ "$n" -gt 0 ] && break ;; esac; echo "$err" >&2; exit 1; fi; n=$((n + 1)); done';

/** Bump when the layers' making changes what they hold. */
export const LAYERED_FORMAT = 1;

/** Base layers kept per base: the most recently made or used. */
export const BASE_LAYERS_KEPT = 3;

export interface LayerPlan {
  /** Base paths ("usr/share/doc") left out of the base layer: removed, of another kind now, or a rewritten hard link. */
  readonly excluded: readonly string[];
  /** Every path of the upper directory but whiteouts, parents first. */
  readonly top: readonly string[];
  /** Base paths the build rewrote (in the upper directory, not directories): in both layers unless left out. */
  readonly rewritten: readonly string[];
}

type Kind = "dir" | "file" | "symlink" | "other";
const kindOf = (st: fs.Stats): Kind => (st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "symlink" : "other");
const lstatOrUndefined = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false });

/** overlayfs's whiteout: a character device 0/0 in the upper directory. */
const isWhiteout = (st: fs.Stats) => st.isCharacterDevice() && st.rdev === 0;

/**
 * What goes in which layer, from the base (`lower`), the build's changes (`upper`) and the tree the build
 * sees (`merged`). Undefined when a path name is one tar's file lists cannot carry as it is (a newline or a
 * backslash): the caller packs the whole tree instead.
 */
export function planLayers(lower: string, upper: string, merged: string): LayerPlan | undefined {
  const excluded: string[] = [];
  const top: string[] = [];
  const rewritten: string[] = [];
  let unsupported = false;
  const check = (rel: string) => {
    if (/[\n\\]/.test(rel)) unsupported = true;
  };
  const walkLower = (rel: string) => {
    for (const name of fs.readdirSync(path.join(lower, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const was = fs.lstatSync(path.join(lower, p));
      const now = lstatOrUndefined(path.join(merged, p));
      if (!now || kindOf(now) !== kindOf(was)) {
        check(p);
        excluded.push(p);
      } else if (was.isDirectory()) {
        walkLower(p);
      } else if (was.nlink > 1 && lstatOrUndefined(path.join(upper, p))) {
        // tar -x makes hard links last: one from the base layer would collide with the top layer's file.
        check(p);
        excluded.push(p);
      }
    }
  };
  // A path whose parent the build turned from a file into a directory is not in the base (ENOTDIR).
  const inLower = (p: string) => {
    try {
      return lstatOrUndefined(path.join(lower, p)) !== undefined;
    } catch {
      return false;
    }
  };
  const walkUpper = (rel: string) => {
    for (const name of fs.readdirSync(path.join(upper, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(upper, p));
      if (isWhiteout(st)) continue;
      check(p);
      top.push(p);
      if (st.isDirectory()) walkUpper(p);
      else if (inLower(p)) rewritten.push(p);
    }
  };
  walkLower("");
  walkUpper("");
  return unsupported ? undefined : { excluded, top, rewritten };
}

/** The base layer's cache key: the base, the codec and what it leaves out. */
export function baseLayerKey(baseName: string, compression: RamrootCompression, excluded: readonly string[]): string {
  return crypto
    .createHash("sha256")
    .update(JSON.stringify([LAYERED_FORMAT, baseName, `${compression.codec}-${compression.level}`, excluded]))
    .digest("hex");
}

/** tar of the base without the excluded paths and without its end of archive (-b1: no padding after it). */
export function baseLayerTarArgs(lower: string, excludeFile: string): string[] {
  return ["-C", lower, "--numeric-owner", "--xattrs", "--acls", "--sort=name", "-b1", "--anchored", "--no-wildcards", `--exclude-from=${excludeFile}`, "-cf", "-", "."];
}

/** tar of the listed paths as the build sees them, each alone (its directory's content is listed too). */
export function topLayerTarArgs(merged: string, listFile: string): string[] {
  return ["-C", merged, "--numeric-owner", "--xattrs", "--acls", "--no-recursion", "--verbatim-files-from", "-T", listFile, "-cf", "-"];
}

export interface PackLayeredOptions {
  readonly lower: string;
  readonly upper: string;
  readonly merged: string;
  /** Where base layers are kept (a directory of the base's own, beside its root filesystem). */
  readonly layerCacheDir: string;
  readonly baseName: string;
  readonly dest: string;
  readonly compression: RamrootCompression;
  readonly logFile: string;
  /** Temporary files (the path lists). */
  readonly workDir: string;
  readonly progress: (line: string) => void;
}

export interface PackLayeredResult extends PackRamrootResult {
  /** The base layer's file, and whether the cache held it. */
  readonly baseLayer: { readonly file: string; readonly reused: boolean; readonly bytes: number };
  readonly topBytesIn: number;
}

/** Packs the ramroot as base layer + top layer; undefined when planLayers cannot (the caller packs the whole tree). */
export async function packLayered(options: PackLayeredOptions): Promise<PackLayeredResult | undefined> {
  const started = Date.now();
  const plan = planLayers(options.lower, options.upper, options.merged);
  if (!plan) return undefined;
  const kernel = ramrootUnpackedByKernel(options.compression.codec);
  // The kernel's cpio: each path in one layer only (it would keep the base's symlink over the build's).
  const excluded = kernel ? [...new Set([...plan.excluded, ...plan.rewritten])].sort() : plan.excluded;
  const key = baseLayerKey(options.baseName, options.compression, excluded);
  const ext = ramrootArtifactOf(options.compression.codec).replace(/^ramroot\./, "");
  const layer = path.join(options.layerCacheDir, `${options.compression.codec}-${options.compression.level}-${key.slice(0, 16)}.${ext}`);
  let reused = fs.existsSync(layer);
  if (reused) {
    fs.utimesSync(layer, new Date(), new Date());
    options.progress(`base layer ${path.basename(layer)} from the cache (${(fs.statSync(layer).size / 1048576).toFixed(1)} MiB; ${excluded.length} base paths left out)`);
  } else {
    fs.mkdirSync(options.layerCacheDir, { recursive: true });
    const excludeFile = path.join(options.workDir, "base-layer.exclude");
    fs.writeFileSync(excludeFile, excluded.map((p) => `./${p}\n`).join(""));
    const temp = path.join(options.layerCacheDir, `.${path.basename(layer)}.tmp-${process.pid}`);
    try {
      const base = kernel ? kernelCpioSource(options.lower, options.workDir, "base-layer", treePaths(options.lower, new Set(excluded))) : undefined;
      await packRamroot({
        rootfs: options.lower,
        dest: temp,
        compression: options.compression,
        logFile: options.logFile,
        tarArgs: baseLayerTarArgs(options.lower, excludeFile),
        cpio: base,
        // tar's members join into one archive; the kernel reads each cpio (with its trailer) in turn.
        withoutEnd: !kernel,
        progress: (line) => options.progress(`base layer: ${line}`),
      });
      fs.renameSync(temp, layer);
    } finally {
      fs.rmSync(temp, { force: true });
    }
    reused = false;
    evictLayers(options.layerCacheDir, layer);
  }
  fs.copyFileSync(layer, options.dest);
  const listFile = path.join(options.workDir, "top-layer.list");
  fs.writeFileSync(listFile, plan.top.map((p) => `./${p}\n`).join(""));
  const top = await packRamroot({
    rootfs: options.upper,
    dest: options.dest,
    append: true,
    compression: options.compression,
    logFile: options.logFile,
    tarArgs: topLayerTarArgs(options.merged, listFile),
    cpio: kernel ? kernelCpioSource(options.merged, options.workDir, "top-layer", plan.top) : undefined,
    progress: (line) => options.progress(`top layer (${plan.top.length} paths): ${line}`),
  });
  const bytes = fs.statSync(options.dest).size;
  const layerBytes = fs.statSync(layer).size;
  return {
    bytesIn: top.bytesIn,
    bytesOut: bytes,
    seconds: (Date.now() - started) / 1000,
    topBytesIn: top.bytesIn,
    baseLayer: { file: layer, reused, bytes: layerBytes },
  };
}

function evictLayers(dir: string, keep: string): void {
  const layers = fs
    .readdirSync(dir)
    .filter((n) => !n.startsWith("."))
    .map((n) => path.join(dir, n))
    .filter((f) => f !== keep)
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  for (const old of layers.slice(BASE_LAYERS_KEPT - 1)) fs.rmSync(old, { force: true });
}
