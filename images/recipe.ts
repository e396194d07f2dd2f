/**
 * An image's recipe: everything that decides its content, as data. Its sha256 is the
 * image's input hash, computed the same way at synth time (the null_resource's trigger)
 * and at build time (the build checks it against the --input-hash it was given), so an
 * image is rebuilt exactly when one of its inputs changes.
 *
 * Inputs: the package list and Debian suite, the rootfs files (units, scripts) and the
 * initrd's scripts and module list, the strip rules, the agent versions and binaries, and
 * RECIPE_FORMAT, bumped when the build steps change what they produce.
 */
import * as crypto from "crypto";
import { AgentSource, AgentVersions, agentInputs } from "./agents";
import type { BaseSpec } from "./base-rootfs";
import { initScript, udhcpcScript } from "./initrd-files";
import { MODULE_ZSTD_LEVEL } from "./kernel-modules";
import { buildIdOf, ImageArch, ImageProfile, imageKeyOf, ImageRole } from "./layout";
import {
  DEBIAN_SUITE,
  DPKG_EXCLUDES,
  DPKG_INCLUDES,
  EMPTIED_DIRS,
  IDENTITY_PATHS,
  INITRD_MODULES,
  STORAGE_MODULES,
  NFS_CLIENT_MODULES,
  packagesOf,
  PROFILES,
  PRUNED_MODULE_DIRS,
  STRIPPED_PATHS,
} from "./profiles";
import { RamrootCompression, ramrootArtifactOf } from "./ramroot-codec";
import { rootfsFiles, RootfsFileSet } from "./rootfs-files";

/** Bump when a build step changes what it produces for the same data. */
export const RECIPE_FORMAT = 2;

export interface ImageSpec {
  readonly role: ImageRole;
  readonly arch: ImageArch;
  readonly profile: ImageProfile;
  /** Consul and Nomad versions (the inventory's `versions`). */
  readonly agentVersions: AgentVersions;
  readonly agentSource: AgentSource;
  /** Debian packages added to this image's profile. Default: none. */
  readonly extraPackages?: readonly string[];
  /** The ramroot's codec and level. Default: the profile's (images/ramroot-codec.ts). */
  readonly ramroot?: RamrootCompression;
}

/** An image's recipe: its Debian suite and components are its base's (images/base-rootfs.ts). */
export interface ImageRecipe extends Pick<BaseSpec, "suite" | "components"> {
  readonly key: string;
  readonly spec: ImageSpec;
  /** Every package of the image: the profile's and the extra ones, sorted. */
  readonly packages: readonly string[];
  /** The profile's packages: the cached base's (images/base-rootfs.ts). */
  readonly basePackages: readonly string[];
  /** The extra packages the profile lacks, sorted: installed by apt on the base (images/apt-layer.ts). */
  readonly extraPackages: readonly string[];
  readonly rootfs: RootfsFileSet;
  readonly initrd: { readonly init: string; readonly udhcpcScript: string; readonly modules: readonly string[] };
  readonly strip: {
    readonly paths: readonly string[];
    readonly identity: readonly string[];
    /** Directories whose content is removed (the directory kept). */
    readonly emptiedDirs: readonly string[];
    readonly prunedModuleDirs: readonly string[];
    readonly keepOnlyInitrdModules: boolean;
    /** The modules kept when keepOnlyInitrdModules: the initrd's, the storage and the NFS client modules. */
    readonly keptModules: readonly string[];
    /** zstd level the ramroot's modules are compressed with (`.ko.zst`; images/kernel-modules.ts), or none: left as Debian ships them. */
    readonly moduleZstdLevel?: number;
  };
  readonly dpkg: { readonly excludes: readonly string[]; readonly includes: readonly string[] };
  readonly ramroot: RamrootCompression & {
    /** The artifact's name: ramroot.tar.gz, ramroot.tar.xz (streamed by the initrd), ramroot.cpio.zst (unpacked by the kernel). */
    readonly artifact: string;
  };
  readonly includeAgents: boolean;
}

export function imageRecipe(spec: ImageSpec): ImageRecipe {
  const profile = PROFILES[spec.profile];
  const basePackages = packagesOf(spec.profile, spec.role, spec.arch);
  const extraPackages = [...new Set(spec.extraPackages ?? [])].filter((p) => !basePackages.includes(p)).sort();
  const packages = [...basePackages, ...extraPackages].sort();
  return {
    key: imageKeyOf(spec.role, spec.arch),
    spec,
    suite: DEBIAN_SUITE,
    components: profile.components,
    packages,
    basePackages,
    extraPackages,
    rootfs: rootfsFiles({
      withAgents: profile.includeAgents,
      withDocker: packages.includes("docker.io"),
      withSsh: packages.includes("openssh-server"),
    }),
    initrd: { init: initScript(), udhcpcScript: udhcpcScript(), modules: ["af_packet", ...INITRD_MODULES[spec.arch]] },
    strip: {
      paths: STRIPPED_PATHS,
      identity: IDENTITY_PATHS,
      emptiedDirs: EMPTIED_DIRS,
      prunedModuleDirs: profile.keepOnlyInitrdModules ? [] : PRUNED_MODULE_DIRS,
      keepOnlyInitrdModules: profile.keepOnlyInitrdModules,
      keptModules: profile.keepOnlyInitrdModules ? ["af_packet", ...INITRD_MODULES[spec.arch], ...STORAGE_MODULES, ...NFS_CLIENT_MODULES] : [],
      moduleZstdLevel: profile.compressModules ? MODULE_ZSTD_LEVEL : undefined,
    },
    dpkg: { excludes: DPKG_EXCLUDES, includes: DPKG_INCLUDES },
    ramroot: { ...(spec.ramroot ?? profile.ramroot), artifact: ramrootArtifactOf((spec.ramroot ?? profile.ramroot).codec) },
    includeAgents: profile.includeAgents,
  };
}

/**
 * The recipe as the flat, ordered list of named inputs that the hash covers. Exposed so
 * that tests and `--explain` can show which input changed.
 */
export function recipeInputs(recipe: ImageRecipe): Array<[string, string]> {
  const inputs: Array<[string, string]> = [
    ["format", String(RECIPE_FORMAT)],
    ["image", recipe.key],
    ["profile", recipe.spec.profile],
    ["suite", recipe.suite],
    ["components", recipe.components.join(",")],
    ["packages", recipe.packages.join(",")],
    ["dpkg.excludes", recipe.dpkg.excludes.join(",")],
    ["dpkg.includes", recipe.dpkg.includes.join(",")],
    ["initrd.init", recipe.initrd.init],
    ["initrd.udhcpc", recipe.initrd.udhcpcScript],
    ["initrd.modules", recipe.initrd.modules.join(",")],
    ["strip.paths", recipe.strip.paths.join(",")],
    ["strip.identity", recipe.strip.identity.join(",")],
    ["strip.emptiedDirs", recipe.strip.emptiedDirs.join(",")],
    ["strip.prunedModuleDirs", recipe.strip.prunedModuleDirs.join(",")],
    ["strip.keepOnlyInitrdModules", String(recipe.strip.keepOnlyInitrdModules)],
    ["strip.keptModules", recipe.strip.keptModules.join(",")],
    ["ramroot", `${recipe.ramroot.codec}-${recipe.ramroot.level}`],
    ["rootfs.enable", recipe.rootfs.enable.join(",")],
  ];
  // Named only when there are some, so an image that masks nothing keeps its hash.
  if (recipe.rootfs.mask.length) inputs.push(["rootfs.mask", recipe.rootfs.mask.join(",")]);
  if (recipe.strip.moduleZstdLevel !== undefined) inputs.push(["strip.modules", `zstd-${recipe.strip.moduleZstdLevel}`]);
  // The extra packages are installed by apt on the base, not by mmdebstrap with the rest: the same list
  // split otherwise is another image. Named only when there are some, so an image without keeps its hash.
  if (recipe.extraPackages.length) inputs.push(["packages.extra", recipe.extraPackages.join(",")]);
  for (const file of recipe.rootfs.files) inputs.push([`rootfs:${file.path}:${(file.mode ?? 0o644).toString(8)}`, file.content]);
  if (recipe.includeAgents) {
    for (const [name, value] of Object.entries(agentInputs(recipe.spec.agentSource, recipe.spec.agentVersions, recipe.spec.arch))) {
      inputs.push([`agents.${name}`, value]);
    }
  }
  return inputs;
}

/** sha256 over the named inputs, each length-prefixed so that no two lists hash alike. */
export function inputHashOf(recipe: ImageRecipe): string {
  const hash = crypto.createHash("sha256");
  for (const [name, value] of recipeInputs(recipe)) {
    hash.update(`${Buffer.byteLength(name)}:${name}${Buffer.byteLength(value)}:`).update(value);
  }
  return hash.digest("hex");
}

export function buildIdOfRecipe(recipe: ImageRecipe): string {
  return buildIdOf(inputHashOf(recipe));
}
