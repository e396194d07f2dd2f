/**
 * The image build: Debian root filesystem (the cached base, images/base-rootfs.ts, made by mmdebstrap
 * when the cache lacks it, with the build's changes in an overlay above it), extra packages, Ely's files, kernel, initrd, the
 * ramroot (ramroot.tar.gz, .tar.xz or the kernel's .cpio.zst, images/ramroot-codec.ts) and manifest.json, built in a
 * work directory next to the output and renamed into place only when every step succeeded. A build whose output already holds
 * a complete build of the same inputs does nothing.
 */
import * as fs from "fs";
import * as path from "path";
import execa from "execa";
import {
  AGENT_BIN_DIR_ENV,
  AGENT_NAMES,
  AGENT_SOURCE_ENV,
  AgentSource,
  AgentVersions,
  checkElfArch,
  findAgentInDir,
  formatAgentSource,
  InstalledAgent,
  installAgents,
} from "./agents";
import { installExtraPackages } from "./apt-layer";
import { BaseRootfs, BaseSpec, defaultBaseCacheDir, ensureBase } from "./base-rootfs";
import { buildInitrd } from "./initrd";
import { compressModules, readModuleIndex, resolveModules } from "./kernel-modules";
import { bootableKernel } from "./kernel-image";
import { artifactNamesOf, ImageArch, buildIdOf } from "./layout";
import { createManifest, ImageManifest, readManifest, verifyManifest, writeManifest } from "./manifest";
import { packLayered } from "./layered-ramroot";
import { materializeOverlay, mountOverlay, unmountOverlay } from "./overlay";
import { kernelCpioSource, packRamroot } from "./pack-ramroot";
import { StepRunner } from "./progress";
import { ramrootHostTool, ramrootLayered, ramrootUnpackedByKernel } from "./ramroot-codec";
import { ImageRecipe, imageRecipe, ImageSpec, inputHashOf } from "./recipe";
import { enableUnit, maskUnit } from "./systemd-enable";
import { inBuildNamespace, inUserNamespace } from "./user-namespace";
import { createWorkDir, keepWorkDir, removeOnSignal, removeStaleWorkDirs, removeTreeAsync } from "./work-dir";

/** What to build (the image's spec, as synth hashes it) and how. */
export interface BuildImageOptions extends ImageSpec {
  /** The build's final directory; its parent must be writable (the work directory goes beside it). */
  readonly outDir: string;
  /** The hash synth computed; the build refuses to run when its own differs (stale dist/ or mismatched options). Default: not checked. */
  readonly expectedInputHash?: string;
  /** Debian mirror. Default: mmdebstrap's (deb.debian.org, with -updates and -security). */
  readonly mirror?: string;
  /** Keeps downloaded .deb files between builds. Default: no cache. */
  readonly aptCacheDir?: string;
  /** Rebuild even if outDir holds a complete build of the same inputs. Default: false. */
  readonly force?: boolean;
  /** Keep the work directory (root filesystem) after the build, for debugging. Default: false. */
  readonly keepWork?: boolean;
  /** Where cached base root filesystems live (images/base-rootfs.ts). Default: $ELY_BASE_CACHE_DIR, else ~/.cache/ely/bases. */
  readonly baseCacheDir?: string;
  /** Run mmdebstrap for the base again even when the cache holds it. Default: false. */
  readonly freshBase?: boolean;
  /** Project checkout for the git revision. Default: the directory above images/. */
  readonly projectDir?: string;
  /** Progress lines. Default: stderr. */
  readonly write?: (line: string) => void;
}

export interface BuildImageResult {
  readonly manifest: ImageManifest;
  readonly outDir: string;
  /** False when an identical build was already in place. */
  readonly built: boolean;
  readonly durations: Readonly<Record<string, number>>;
}

const STEPS = ["inputs", "rootfs", "packages", "agents", "system-files", "kernel", "initrd", "strip", "ramroot", "manifest", "install"];

export async function buildImage(options: BuildImageOptions): Promise<BuildImageResult> {
  const recipe = imageRecipe({
    role: options.role,
    arch: options.arch,
    profile: options.profile,
    agentVersions: options.agentVersions,
    agentSource: options.agentSource,
    extraPackages: options.extraPackages,
    ramroot: options.ramroot,
  });
  const artifactNames = artifactNamesOf(recipe.ramroot.artifact);
  const inputHash = inputHashOf(recipe);
  const buildId = buildIdOf(inputHash);
  const outDir = path.resolve(options.outDir);
  const writeLine = options.write ?? ((l: string) => process.stderr.write(l + "\n"));
  for (const stale of removeStaleWorkDirs(path.dirname(outDir))) {
    writeLine(`ely-image ${recipe.key}: removed the work directory of a build that is gone: ${stale}`);
  }
  const label = `ely-image ${recipe.key} ${buildId}`;
  const runner = new StepRunner({ label, total: STEPS.length, write: options.write });

  if (options.expectedInputHash && options.expectedInputHash !== inputHash) {
    throw new Error(
      `input hash mismatch for ${recipe.key}: synth computed ${options.expectedInputHash}, this build computes ${inputHash}; ` +
        `rebuild the project (npm run build) and synth again, or the agent binaries changed since synth`,
    );
  }
  const existing = readManifest(outDir);
  if (!options.force && existing && existing.inputHash === inputHash && verifyManifest(outDir, existing, artifactNames).length === 0) {
    writeLine(`ely-image ${recipe.key} ${buildId}: up to date in ${outDir}`);
    return { manifest: existing, outDir, built: false, durations: {} };
  }

  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  const work = createWorkDir(outDir);
  const keepOnSignal = options.keepWork ? () => undefined : removeOnSignal(work, options.write);
  const rootfs = path.join(work, "rootfs");
  let mounted = false;
  let base: BaseRootfs | undefined;
  const artifacts = path.join(work, "artifacts");
  const logFile = path.join(work, "build.log");
  fs.mkdirSync(artifacts);
  const logTail = () => tail(logFile, 30);
  try {
    await runner.step("inputs", async () => {
      await checkHost(recipe);
      if (recipe.includeAgents) checkAgentsAvailable(options.agentSource, options.agentVersions, options.arch);
    });
    await runner.step(
      "rootfs",
      async () => {
        base = await ensureBase({
          cacheDir: options.baseCacheDir ?? defaultBaseCacheDir(),
          spec: baseSpecOf(recipe, options.mirror),
          logFile,
          aptCacheDir: options.aptCacheDir,
          fresh: options.freshBase,
          write: (line) => writeLine(`${label} rootfs: ${line}`),
        });
        writeLine(`${label} rootfs: base ${base.name} ${base.reused ? "from the cache" : "made by mmdebstrap"} (${path.dirname(base.rootfs)})`);
        await mountOverlay({ lower: base.rootfs, upper: path.join(work, "upper"), work: path.join(work, "overlay-work"), merged: rootfs }, inUserNamespace());
        mounted = true;
      },
      logTail,
    );
    if (recipe.extraPackages.length) {
      await runner.step("packages", () => installExtraPackages({ rootfs, packages: recipe.extraPackages, aptCacheDir: options.aptCacheDir, logFile }), logTail);
    } else {
      runner.skip("packages", "no extra packages");
    }
    let agents: InstalledAgent[] = [];
    if (recipe.includeAgents) {
      agents = await runner.step("agents", () =>
        installAgents({ source: options.agentSource, versions: options.agentVersions, arch: options.arch, destDir: path.join(rootfs, "usr/local/bin"), workDir: work }),
      );
    } else {
      runner.skip("agents", `profile ${options.profile} ships no agents`);
    }
    await runner.step("system-files", () => writeSystemFiles(recipe, rootfs));
    const kernelVersion = await runner.step("kernel", () => extractKernel(recipe, rootfs, path.join(artifacts, "vmlinuz")));
    const gitRevision = await gitRevisionOf(options.projectDir ?? path.resolve(__dirname, ".."));
    const buildTime = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    const release = releaseFile({ recipe, inputHash, buildId, gitRevision, buildTime, kernelVersion, agents });
    await runner.step("initrd", () =>
      buildInitrd({
        rootfs,
        kernelVersion,
        initScript: recipe.initrd.init,
        udhcpcScript: recipe.initrd.udhcpcScript,
        modules: recipe.initrd.modules,
        workDir: path.join(work, "initrd-tree"),
        output: path.join(artifacts, "initrd"),
        release,
      }),
    );
    await runner.step("strip", () => strip(recipe, rootfs, kernelVersion, release), logTail);
    await runner.step(
      "ramroot",
      async () => {
        const dest = path.join(artifacts, recipe.ramroot.artifact);
        const progress = (line: string) => writeLine(`${label} ramroot (${recipe.ramroot.codec} -${recipe.ramroot.level}): ${line}`);
        // The cached base's layer and the build's own (images/layered-ramroot.ts), where the codec allows; else the whole tree.
        if (base && ramrootLayered(recipe.ramroot.codec)) {
          const layered = await packLayered({
            lower: base.rootfs,
            upper: path.join(work, "upper"),
            merged: rootfs,
            layerCacheDir: path.join(path.dirname(base.rootfs), "packed"),
            baseName: base.name,
            dest,
            compression: recipe.ramroot,
            logFile,
            workDir: work,
            progress,
          });
          if (layered) return;
          progress("a path name tar's file lists cannot carry: packing the whole tree");
        }
        const cpio = ramrootUnpackedByKernel(recipe.ramroot.codec) ? kernelCpioSource(rootfs, work, "ramroot") : undefined;
        await packRamroot({ rootfs, dest, compression: recipe.ramroot, logFile, progress, cpio });
      },
      logTail,
    );
    const manifest = await runner.step("manifest", () => {
      const m = createManifest(artifacts, {
        image: recipe.key,
        role: options.role,
        arch: options.arch,
        profile: options.profile,
        buildId,
        inputHash,
        gitRevision,
        buildTime,
        debianSuite: recipe.suite,
        kernelVersion,
        agents,
      }, artifactNames);
      writeManifest(artifacts, m);
      return m;
    });
    await runner.step("install", () => installOutput(artifacts, outDir, artifactNames));
    return { manifest, outDir, built: true, durations: runner.durations };
  } finally {
    if (mounted) {
      // A mount left behind goes with the build's namespace; the work directory's removal stays on its file system.
      await (options.keepWork ? materializeOverlay(rootfs) : unmountOverlay(rootfs)).catch((e: Error) => writeLine(`${label}: ${e.message}`));
    }
    if (options.keepWork) {
      keepWorkDir(work);
      (options.write ?? console.error)(`ely-image ${recipe.key}: work directory kept: ${work}`);
    } else {
      await removeTreeAsync(work);
      keepOnSignal();
    }
  }
}

async function checkHost(recipe: ImageRecipe): Promise<void> {
  if (!inBuildNamespace()) {
    throw new Error(
      "the image build runs in its own mount namespace, as root or as another user in a user namespace: run it through node dist/images/build.js, which makes them (images/user-namespace.ts)",
    );
  }
  const tools = ["mmdebstrap", "tar", "xz", "cpio", "gzip", "depmod", "modinfo", "find", "mount", "umount", "unshare", "chroot"];
  const packages = ["mmdebstrap", "xz-utils", "cpio", "kmod", "unzip"];
  if (recipe.strip.moduleZstdLevel !== undefined && !tools.includes("zstd")) {
    tools.push("zstd");
    packages.push("zstd");
  }
  const codecTool = ramrootHostTool(recipe.ramroot.codec);
  if (!tools.includes(codecTool.tool)) {
    tools.push(codecTool.tool);
    packages.push(codecTool.debianPackage);
  }
  if (recipe.includeAgents) tools.push("unzip");
  const missing: string[] = [];
  for (const tool of tools) {
    const found = await execa("sh", ["-c", `command -v "$1"`, "sh", tool], { reject: false });
    if (found.exitCode !== 0) missing.push(tool);
  }
  if (missing.length) {
    throw new Error(`missing on this machine: ${missing.join(", ")} (Debian: apt-get install ${packages.join(" ")})`);
  }
  const hostArch = (await execa("dpkg", ["--print-architecture"], { reject: false })).stdout.trim();
  if (hostArch && hostArch !== recipe.spec.arch) {
    const binfmt = `/proc/sys/fs/binfmt_misc/qemu-${recipe.spec.arch === "arm64" ? "aarch64" : "x86_64"}`;
    if (!fs.existsSync(binfmt)) {
      throw new Error(
        `building a ${recipe.spec.arch} image on ${hostArch} needs qemu-user-static with binfmt_misc registered (${binfmt} is missing): ` +
          `apt-get install qemu-user-static binfmt-support, and mount binfmt_misc`,
      );
    }
  }
}

/** Fails before the long steps when a local agents directory lacks a binary. */
function checkAgentsAvailable(source: AgentSource, versions: AgentVersions, arch: ImageArch): void {
  if (source.kind !== "dir") return;
  for (const name of AGENT_NAMES) {
    const found = findAgentInDir(source.path, name, versions[name], arch);
    if (!found) {
      throw new Error(
        `${name} ${versions[name]} for linux/${arch} not found in ${source.path} (looked for linux_${arch}/${name}, ` +
          `${name}_${versions[name]}_linux_${arch}.zip, ${name}); put it there, set ${AGENT_BIN_DIR_ENV}, or use ${AGENT_SOURCE_ENV}=official`,
      );
    }
    if (found.kind === "binary") checkElfArch(found.file, arch);
  }
}

/** The cached base an image's recipe builds on: the profile's packages, mmdebstrap's way. */
export function baseSpecOf(recipe: ImageRecipe, mirror?: string): BaseSpec {
  return {
    suite: recipe.suite,
    arch: recipe.spec.arch,
    components: recipe.components,
    packages: recipe.basePackages,
    dpkgExcludes: recipe.dpkg.excludes,
    dpkgIncludes: recipe.dpkg.includes,
    mirror,
  };
}

async function writeSystemFiles(recipe: ImageRecipe, rootfs: string): Promise<void> {
  for (const file of recipe.rootfs.files) {
    const dest = path.join(rootfs, file.path);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    // Replaced, not written through: a package's symbolic link there (resolv.conf to a resolver's stub) goes.
    fs.rmSync(dest, { force: true });
    fs.writeFileSync(dest, file.content);
    fs.chmodSync(dest, file.mode ?? 0o644);
  }
  for (const unit of recipe.rootfs.enable) enableUnit(rootfs, unit);
  for (const unit of recipe.rootfs.mask) maskUnit(rootfs, unit);
  // Per-machine identity: never shared by every node of an image served over HTTP.
  for (const pattern of recipe.strip.identity) removeGlob(rootfs, pattern);
  fs.writeFileSync(path.join(rootfs, "etc/machine-id"), "");
}

async function extractKernel(recipe: ImageRecipe, rootfs: string, dest: string): Promise<string> {
  const moduleVersions = fs.readdirSync(path.join(rootfs, "lib/modules"));
  const kernels = fs.readdirSync(path.join(rootfs, "boot")).filter((f) => /^vmlinuz-/.test(f));
  if (kernels.length !== 1) throw new Error(`expected one kernel in /boot, found ${kernels.length ? kernels.join(", ") : "none"}`);
  const version = kernels[0].replace(/^vmlinuz-/, "");
  if (!moduleVersions.includes(version)) throw new Error(`kernel ${version} has no /lib/modules/${version}`);
  const image = bootableKernel(fs.readFileSync(path.join(rootfs, "boot", kernels[0])), recipe.spec.arch, `/boot/${kernels[0]}`);
  fs.writeFileSync(dest, image);
  return version;
}

async function strip(recipe: ImageRecipe, rootfs: string, kernelVersion: string, release: string): Promise<void> {
  for (const p of recipe.strip.paths) fs.rmSync(path.join(rootfs, p), { recursive: true, force: true });
  for (const dir of recipe.strip.emptiedDirs) {
    for (const entry of fs.readdirSync(path.join(rootfs, dir))) fs.rmSync(path.join(rootfs, dir, entry), { recursive: true, force: true });
  }
  fs.mkdirSync(path.join(rootfs, "boot"), { recursive: true });
  fs.mkdirSync(path.join(rootfs, "var/cache/apt/archives/partial"), { recursive: true });
  fs.mkdirSync(path.join(rootfs, "var/lib/apt/lists/partial"), { recursive: true });
  const moduleDir = path.join(rootfs, "lib/modules", kernelVersion);
  if (recipe.strip.keepOnlyInitrdModules) {
    const keep = new Set(resolveModules(readModuleIndex(moduleDir), recipe.strip.keptModules));
    for (const file of listFiles(path.join(moduleDir, "kernel"))) {
      const rel = path.relative(moduleDir, file);
      if (!keep.has(rel)) fs.rmSync(file);
    }
  }
  for (const dir of recipe.strip.prunedModuleDirs) fs.rmSync(path.join(moduleDir, "kernel", dir), { recursive: true, force: true });
  // After the initrd took its modules as Debian ships them: the ramroot's are read by kmod, which decompresses them.
  if (recipe.strip.moduleZstdLevel !== undefined) await compressModules(moduleDir, recipe.strip.moduleZstdLevel);
  await execa("depmod", ["-b", rootfs, kernelVersion]);
  fs.writeFileSync(path.join(rootfs, "etc/ely-release"), release);
}

/** Renames the finished artifacts into `outDir`; an older build there is replaced only now. */
function installOutput(artifacts: string, outDir: string, names: readonly string[]): void {
  for (const name of names) if (!fs.existsSync(path.join(artifacts, name))) throw new Error(`${name} was not produced`);
  if (fs.existsSync(outDir)) {
    const old = `${outDir}.old-${process.pid}`;
    fs.renameSync(outDir, old);
    fs.renameSync(artifacts, outDir);
    fs.rmSync(old, { recursive: true, force: true });
  } else {
    fs.renameSync(artifacts, outDir);
  }
  // "latest" beside the builds points at the newest one.
  const link = path.join(path.dirname(outDir), "latest");
  const temp = `${link}.tmp-${process.pid}`;
  fs.rmSync(temp, { force: true });
  fs.symlinkSync(path.basename(outDir), temp);
  fs.renameSync(temp, link);
}

function releaseFile(facts: {
  recipe: ImageRecipe;
  inputHash: string;
  buildId: string;
  gitRevision: string;
  buildTime: string;
  kernelVersion: string;
  agents: readonly InstalledAgent[];
}): string {
  const { recipe } = facts;
  const lines = [
    `ELY_IMAGE=${recipe.key}`,
    `ELY_IMAGE_ROLE=${recipe.spec.role}`,
    `ELY_IMAGE_ARCH=${recipe.spec.arch}`,
    `ELY_IMAGE_PROFILE=${recipe.spec.profile}`,
    `ELY_BUILD_ID=${facts.buildId}`,
    `ELY_INPUT_HASH=${facts.inputHash}`,
    `ELY_GIT_REVISION=${facts.gitRevision}`,
    `ELY_BUILD_TIME=${facts.buildTime}`,
    `ELY_DEBIAN_SUITE=${recipe.suite}`,
    `ELY_KERNEL=${facts.kernelVersion}`,
    `ELY_AGENT_SOURCE=${recipe.includeAgents ? formatAgentSource(recipe.spec.agentSource).replace(/^dir:.*/, "dir") : "none"}`,
    ...facts.agents.map((a) => `ELY_${a.name.toUpperCase()}_VERSION=${a.version}\nELY_${a.name.toUpperCase()}_SHA256=${a.sha256}`),
  ];
  return lines.join("\n") + "\n";
}

export async function gitRevisionOf(dir: string): Promise<string> {
  // The checkout may be another user's (an unprivileged build of root's checkout; in the build's user
  // namespace its owner shows as nobody): git refuses to read it unless safe.directory admits it. It is
  // the checkout whose program is running this build: trusting its git configuration adds nothing.
  const git = ["-c", "safe.directory=*", "-C", dir];
  const rev = await execa("git", [...git, "rev-parse", "HEAD"], { reject: false });
  if (rev.exitCode !== 0) return "unknown";
  const status = await execa("git", [...git, "status", "--porcelain", "--untracked-files=no"], { reject: false });
  return rev.stdout.trim() + (status.exitCode === 0 && status.stdout.trim() ? "+dirty" : "");
}

function tail(file: string, lines: number): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  const all = fs.readFileSync(file, "utf8").trimEnd().split("\n");
  return `last ${Math.min(lines, all.length)} lines of the build log:\n` + all.slice(-lines).join("\n");
}

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

/** Removes root-relative paths matching a pattern whose last component may hold "*". */
function removeGlob(root: string, pattern: string): void {
  const dir = path.join(root, path.dirname(pattern));
  const base = path.basename(pattern);
  if (!base.includes("*")) {
    fs.rmSync(path.join(root, pattern), { recursive: true, force: true });
    return;
  }
  if (!fs.existsSync(dir)) return;
  const re = new RegExp("^" + base.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
  for (const name of fs.readdirSync(dir)) if (re.test(name)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

