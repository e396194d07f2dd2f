/**
 * The cached base root filesystem: mmdebstrap of an image's profile package set (minbase), kept between
 * builds in `~/.cache/ely/bases` (beside the builds cache, `~/.cache/ely/images`), so that a build whose
 * Ely files, agents, extra packages or codec changed does not run mmdebstrap again. The build mounts it
 * read-only as the lower layer of an overlay (images/overlay.ts): it is never written after it is made.
 *
 * Keyed by what decides its content: mmdebstrap's arguments (suite, architecture, components, the package
 * set, the dpkg filters, the mirror), mmdebstrap's version and BASE_FORMAT. Package versions on the mirror
 * are not a key (as for the build id, images/recipe.ts): `--fresh-base` makes it again.
 *
 * Made in a temporary directory in the cache (`.<name>.work-XXXXXX`, images/work-dir.ts: removed when its
 * build is gone) and renamed into place only when mmdebstrap succeeded.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { createWorkDir, removeStaleWorkDirs, removeTreeAsync } from "./work-dir";

/** Bump when the way a base is made changes what it holds for the same arguments. */
export const BASE_FORMAT = 1;

export const BASE_CACHE_ENV = "ELY_BASE_CACHE_DIR";

/** The bases kept: the most recently used; a base used within BASE_KEEP_MS is never removed (a build may be on it). */
export const BASES_KEPT = 4;
const BASE_KEEP_MS = 3600_000;

const ROOTFS = "rootfs";
const INPUTS_FILE = "inputs.json";
const USED_FILE = "last-used";

/** `$ELY_BASE_CACHE_DIR`, else `~/.cache/ely/bases`. */
export function defaultBaseCacheDir(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  return env[BASE_CACHE_ENV] || path.join(home, ".cache", "ely", "bases");
}

/** What a base is made of. */
export interface BaseSpec {
  readonly suite: string;
  readonly arch: string;
  readonly components: readonly string[];
  /** The profile's packages (an image's extra packages are a layer above, images/apt-layer.ts). */
  readonly packages: readonly string[];
  readonly dpkgExcludes: readonly string[];
  readonly dpkgIncludes: readonly string[];
  /** Default: mmdebstrap's (deb.debian.org, with -updates and -security). */
  readonly mirror?: string;
}

/** Removes what mmdebstrap copied from the build machine (its resolver and name), as mmdebstrap's manual suggests. */
export const BASE_CUSTOMIZE_HOOK = 'rm -f "$1/etc/resolv.conf" "$1/etc/hostname"';

/**
 * mmdebstrap's own merged-/usr hooks (Debian's mmdebstrap package; its manual, "MERGED-/USR"): the root's
 * /bin, /sbin and /lib made links into /usr before the essential packages, and usr-is-merged installed with
 * them. Without it apt met init-system-helpers' "usrmerge | usr-is-merged" with usrmerge, whose conversion
 * script pulled in perl (46 MiB unpacked in every node's RAM: libperl, perl-modules) that nothing on a node runs.
 */
export const MERGED_USR_HOOK_DIR = "/usr/share/mmdebstrap/hooks/merged-usr";

/** Why mmdebstrap cannot use the merged-/usr hooks of `dir` (default MERGED_USR_HOOK_DIR), or undefined when it can. */
export function missingMergedUsrHooks(version: string, dir: string = MERGED_USR_HOOK_DIR): string | undefined {
  const missing = ["setup00.sh", "essential00.sh"].filter((f) => !fs.existsSync(path.join(dir, f)));
  if (!missing.length) return undefined;
  return `mmdebstrap (${version}): ${missing.map((f) => `${dir}/${f}`).join(" and ")} not found, expected the merged-/usr hooks that Debian's mmdebstrap package (1.3 or later) ships there`;
}

/**
 * mmdebstrap's arguments before the apt cache hooks and the target: everything that decides the base.
 * apt's package lists are kept (`--skip=cleanup/apt/lists`): the extra packages' layer installs from them
 * (the image's strip step removes them).
 */
export function baseMmdebstrapArgs(spec: BaseSpec): string[] {
  const args = [
    "--mode=unshare",
    "--variant=minbase",
    `--architectures=${spec.arch}`,
    `--components=${spec.components.join(",")}`,
    `--include=${[...spec.packages].sort().join(",")}`,
    ...spec.dpkgExcludes.map((p) => `--dpkgopt=path-exclude=${p}`),
    ...spec.dpkgIncludes.map((p) => `--dpkgopt=path-include=${p}`),
    "--skip=cleanup/apt/lists",
    `--hook-dir=${MERGED_USR_HOOK_DIR}`,
    // mmdebstrap copies the build machine's resolv.conf and hostname in for apt and leaves them: out of the
    // base (and its layer, served over HTTP); the image writes its own resolv.conf (rootfs-files.ts).
    `--customize-hook=${BASE_CUSTOMIZE_HOOK}`,
  ];
  return args;
}

/** The sources after the target (none: mmdebstrap's default mirror). */
export function baseSources(spec: BaseSpec): string[] {
  if (!spec.mirror) return [];
  return [`deb ${spec.mirror} ${spec.suite} ${spec.components.join(" ")}`, `deb ${spec.mirror} ${spec.suite}-updates ${spec.components.join(" ")}`];
}

/** The named inputs of a base's key (shown in its inputs.json). */
export function baseInputs(spec: BaseSpec, mmdebstrapVersion: string): Array<[string, string]> {
  return [
    ["format", String(BASE_FORMAT)],
    ["mmdebstrap", mmdebstrapVersion],
    ["suite", spec.suite],
    ["args", baseMmdebstrapArgs(spec).join("\n")],
    ["sources", baseSources(spec).join("\n")],
  ];
}

/** sha256 over the named inputs, length-prefixed (as images/recipe.ts). */
export function baseKeyOf(spec: BaseSpec, mmdebstrapVersion: string): string {
  const hash = crypto.createHash("sha256");
  for (const [name, value] of baseInputs(spec, mmdebstrapVersion)) hash.update(`${Buffer.byteLength(name)}:${name}${Buffer.byteLength(value)}:`).update(value);
  return hash.digest("hex");
}

/** "bookworm-amd64-0123456789abcdef": the base's directory in the cache. */
export function baseNameOf(spec: BaseSpec, mmdebstrapVersion: string): string {
  return `${spec.suite}-${spec.arch}-${baseKeyOf(spec, mmdebstrapVersion).slice(0, 16)}`;
}

export async function mmdebstrapVersion(): Promise<string> {
  const run = await execa("mmdebstrap", ["--version"], { reject: false });
  if (run.exitCode !== 0) throw new Error(`mmdebstrap --version failed: ${(run.stderr || run.stdout).trim() || `exit ${run.exitCode}`}`);
  return run.stdout.trim();
}

export interface EnsureBaseOptions {
  readonly cacheDir: string;
  readonly spec: BaseSpec;
  /** mmdebstrap's output goes here. */
  readonly logFile: string;
  /** Downloaded .deb files kept here between builds. Default: none. */
  readonly aptCacheDir?: string;
  /** Make the base again even when the cache holds it (new package versions from the mirror). Default: false. */
  readonly fresh?: boolean;
  readonly write: (line: string) => void;
}

export interface BaseRootfs {
  readonly name: string;
  /** The base's root filesystem (read-only: the overlay's lower layer). */
  readonly rootfs: string;
  /** True when the cache held it. */
  readonly reused: boolean;
}

/** The base of `spec`: from the cache, or made by mmdebstrap into the cache first. */
export async function ensureBase(options: EnsureBaseOptions): Promise<BaseRootfs> {
  const cacheDir = path.resolve(options.cacheDir);
  fs.mkdirSync(cacheDir, { recursive: true });
  for (const stale of removeStaleWorkDirs(cacheDir)) options.write(`removed the temporary directory of a base whose build is gone: ${stale}`);
  const version = await mmdebstrapVersion();
  const missing = missingMergedUsrHooks(version);
  if (missing) throw new Error(missing);
  const name = baseNameOf(options.spec, version);
  const dir = path.join(cacheDir, name);
  if (options.fresh && fs.existsSync(dir)) await retire(dir);
  if (isComplete(dir)) {
    touch(dir);
    return { name, rootfs: path.join(dir, ROOTFS), reused: true };
  }
  if (fs.existsSync(dir)) await retire(dir); // an incomplete one: never renamed into place by this code
  const temp = createWorkDir(dir);
  try {
    await runMmdebstrap(options, path.join(temp, ROOTFS));
    fs.writeFileSync(path.join(temp, INPUTS_FILE), JSON.stringify(Object.fromEntries(baseInputs(options.spec, version)), null, 2) + "\n");
    fs.rmSync(path.join(temp, "owner"));
    try {
      fs.renameSync(temp, dir);
    } catch (e) {
      // Another build made the same base meanwhile: use it.
      if (!isComplete(dir)) throw e;
    }
  } finally {
    if (fs.existsSync(temp)) await removeTreeAsync(temp);
  }
  touch(dir);
  for (const old of evictable(cacheDir, name)) {
    options.write(`removed the base ${path.basename(old)} (the cache keeps the ${BASES_KEPT} most recently used)`);
    await removeTreeAsync(old);
  }
  return { name, rootfs: path.join(dir, ROOTFS), reused: false };
}

function isComplete(dir: string): boolean {
  return fs.existsSync(path.join(dir, INPUTS_FILE)) && fs.existsSync(path.join(dir, ROOTFS, "usr"));
}

function touch(dir: string): void {
  fs.writeFileSync(path.join(dir, USED_FILE), new Date().toISOString() + "\n");
}

/** Renames a base out of the way first (a build on it keeps its files open), then removes it. */
async function retire(dir: string): Promise<void> {
  const away = `${path.dirname(dir)}/.${path.basename(dir)}.retired-${process.pid}`;
  fs.renameSync(dir, away);
  await removeTreeAsync(away);
}

/** Bases beyond the BASES_KEPT most recently used, not used within the last hour. */
function evictable(cacheDir: string, keep: string): string[] {
  const bases = fs
    .readdirSync(cacheDir)
    .filter((n) => !n.startsWith(".") && n !== keep)
    .map((n) => path.join(cacheDir, n))
    .filter(isComplete)
    .map((dir) => ({ dir, used: fs.statSync(path.join(dir, USED_FILE), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.used - a.used);
  return bases
    .slice(BASES_KEPT - 1)
    .filter((b) => Date.now() - b.used > BASE_KEEP_MS)
    .map((b) => b.dir);
}

async function runMmdebstrap(options: EnsureBaseOptions, target: string): Promise<void> {
  const args = baseMmdebstrapArgs(options.spec);
  if (options.aptCacheDir) {
    const cache = path.resolve(options.aptCacheDir);
    fs.mkdirSync(cache, { recursive: true });
    args.push(
      "--skip=download/empty",
      "--skip=essential/unlink",
      `--setup-hook=mkdir -p "$1/var/cache/apt/archives/" && find "${cache}" -maxdepth 1 -name '*.deb' -exec cp -t "$1/var/cache/apt/archives/" {} +`,
      `--customize-hook=find "$1/var/cache/apt/archives/" -maxdepth 1 -name '*.deb' -exec cp -n -t "${cache}" {} + ; rm -f "$1"/var/cache/apt/archives/*.deb`,
    );
  }
  args.push(options.spec.suite, target, ...baseSources(options.spec));
  await runLogged("mmdebstrap", args, options.logFile);
}

/** Runs a command with its output appended to `logFile`; a failure names the command and its exit. */
export async function runLogged(command: string, args: readonly string[], logFile: string): Promise<void> {
  const log = fs.openSync(logFile, "a");
  try {
    fs.writeSync(log, `$ ${command} ${args.map((a) => JSON.stringify(a)).join(" ")}\n`);
    await execa(command, args, { stdout: log, stderr: log, stdin: "ignore" });
  } catch (e) {
    const error = e as execa.ExecaError;
    throw new Error(`${command} exited with ${error.exitCode ?? error.signal ?? "an error"}`);
  } finally {
    fs.closeSync(log);
  }
}
