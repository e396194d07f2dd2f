#!/usr/bin/env node
/**
 * The image build's command line, run by each image's null_resource (constructs/netboot/node-image.ts):
 *
 *   node dist/images/build.js --role client --arch amd64 --profile full --out <dir>/<image>/<build id> \
 *     --consul-version 1.16.6 --nomad-version 1.6.10 --input-hash <sha256>
 *
 * Prints one progress line per step; exits 1 naming the failed step and why. It runs itself again in a
 * private mount namespace (the root filesystem is an overlay on the cached base, images/overlay.ts); run
 * by a user other than root, in a user namespace where it is root (images/user-namespace.ts), after
 * checking that this machine allows that (else it exits 1 naming what to install or configure).
 */
import { Command, Option } from "commander";
import { agentSourceFromEnv, parseAgentSource } from "./agents";
import { buildImage } from "./build-image";
import { IMAGE_PROFILES, ImageArch, ImageProfile, ImageRole } from "./layout";
import { StepError } from "./progress";
import { RAMROOT_CODECS, ramrootCompression } from "./ramroot-codec";
import { inBuildNamespace, runInBuildNamespace, unprivilegedBuildMissing } from "./user-namespace";
import { ARCHES, ROLES } from "../nodes/schema";
import { versionsSchema } from "../nodes/schema";

export async function main(argv: string[]): Promise<number> {
  const defaults = versionsSchema.parse({});
  const program = new Command("ely-image-build")
    .description("Build a netboot image: vmlinuz, initrd, the ramroot (ramroot.tar.gz, .tar.xz or the kernel's .cpio.zst) and manifest.json")
    .addOption(new Option("--role <role>", "node role").choices([...ROLES]).makeOptionMandatory())
    .addOption(new Option("--arch <arch>", "architecture").choices([...ARCHES]).makeOptionMandatory())
    .addOption(new Option("--profile <profile>", "package set").choices([...IMAGE_PROFILES]).default("full"))
    .requiredOption("--out <dir>", "the build's directory (created; replaced only on success)")
    .option("--consul-version <version>", "Consul version", defaults.consul)
    .option("--nomad-version <version>", "Nomad version", defaults.nomad)
    .option("--agents <source>", 'agent binaries: "official" or "dir:<path>" (default: $ELY_AGENT_SOURCE ("official" or "dir"), else dir:$ELY_AGENT_BIN_DIR when set, else official)')
    .addOption(new Option("--ramroot-codec <codec>", "the ramroot's codec: gzip or xz (a tar the initrd streams), zstd (a cpio the kernel unpacks) (default: the profile's, zstd)").choices([...RAMROOT_CODECS]))
    .option("--ramroot-level <level>", "the codec's level (default: the codec's: gzip 6, xz 6, zstd 3)")
    .option("--extra-packages <list>", "comma-separated Debian packages added to the profile's")
    .option("--input-hash <sha256>", "the input hash computed at synth; the build refuses to run on a different one")
    .option("--mirror <url>", "Debian mirror (default: deb.debian.org with -updates and -security)")
    .option("--apt-cache <dir>", "keep downloaded packages here between builds (default: $ELY_APT_CACHE_DIR, else none)")
    .option("--force", "rebuild even when the output holds a complete build of the same inputs", false)
    .option("--keep-work", "keep the work directory (root filesystem) for debugging", false)
    .option("--base-cache <dir>", "cached base root filesystems (default: $ELY_BASE_CACHE_DIR, else ~/.cache/ely/bases)")
    .option("--fresh-base", "run mmdebstrap again for the base even when the cache holds it (new package versions)", false)
    .exitOverride();
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    return (e as { exitCode?: number }).exitCode ?? 2;
  }
  const o = program.opts<{
    role: ImageRole;
    arch: ImageArch;
    profile: ImageProfile;
    out: string;
    consulVersion: string;
    nomadVersion: string;
    agents?: string;
    extraPackages?: string;
    ramrootCodec?: string;
    ramrootLevel?: string;
    inputHash?: string;
    mirror?: string;
    aptCache?: string;
    force: boolean;
    keepWork: boolean;
    baseCache?: string;
    freshBase: boolean;
  }>();
  try {
    if (o.ramrootLevel !== undefined && o.ramrootCodec === undefined) throw new Error(`--ramroot-level ${o.ramrootLevel} needs --ramroot-codec (${RAMROOT_CODECS.join(", ")})`);
    const ramroot = o.ramrootCodec ? ramrootCompression(o.ramrootCodec, o.ramrootLevel) : undefined;
    if (!inBuildNamespace()) {
      if (process.getuid && process.getuid() !== 0) {
        const missing = await unprivilegedBuildMissing();
        if (missing) {
          process.stderr.write(`ely-image: ${missing}\n`);
          return 1;
        }
        return runInBuildNamespace(__filename, argv, "user");
      }
      return runInBuildNamespace(__filename, argv, "root");
    }
    const result = await buildImage({
      role: o.role,
      arch: o.arch,
      profile: o.profile,
      outDir: o.out,
      agentVersions: { consul: o.consulVersion, nomad: o.nomadVersion },
      agentSource: o.agents ? parseAgentSource(o.agents) : agentSourceFromEnv(),
      extraPackages: o.extraPackages ? o.extraPackages.split(",").filter(Boolean) : undefined,
      ramroot,
      expectedInputHash: o.inputHash,
      mirror: o.mirror,
      aptCacheDir: o.aptCache ?? process.env.ELY_APT_CACHE_DIR,
      force: o.force,
      keepWork: o.keepWork,
      baseCacheDir: o.baseCache,
      freshBase: o.freshBase,
    });
    const a = result.manifest.artifacts;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    const ramrootName = Object.keys(a).find((n) => n.startsWith("ramroot.")) ?? "ramroot";
    process.stderr.write(
      `ely-image ${result.manifest.image} ${result.manifest.buildId}: ${result.built ? "built" : "already built"} in ${result.outDir} ` +
        `(vmlinuz ${mib(a.vmlinuz.sizeBytes)} MiB, initrd ${mib(a.initrd.sizeBytes)} MiB, ${ramrootName} ${mib(a[ramrootName].sizeBytes)} MiB)\n`,
    );
    return 0;
  } catch (e) {
    if (e instanceof StepError) process.stderr.write(`ely-image: build failed in step "${e.step}": ${e.cause.message}\n${e.detail ? e.detail + "\n" : ""}`);
    else process.stderr.write(`ely-image: build failed: ${(e as Error).message}\n`);
    process.stderr.write("ely-image: the last good build (if any) is untouched.\n");
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
