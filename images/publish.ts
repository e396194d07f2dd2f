#!/usr/bin/env node
/**
 * Publishing to the util node, run by the publish null_resources:
 *
 *   node dist/images/publish.js image --src <build dir> --target root@10.25.89.4:/srv/ely --image client-amd64 --build <id>
 *   node dist/images/publish.js boot --src <boot config dir> --configs <agent configs dir> --target ... --release <hash>
 *
 * Each copies into a hidden directory beside its final place (rsync over ssh), renames it
 * into place, then switches a link in one rename (images/<image>/latest, boot/current), so a
 * node booting meanwhile sees the old release or the new one, never half of one. A target
 * without "host:" is a local directory (the netboot test publishes to one).
 */
import * as fs from "fs";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { RSYNC_IO_TIMEOUT_SECONDS, SSH_UNATTENDED_OPTIONS } from "../nodes/network-timeouts";
import { BUILD_ID_PATTERN, MANIFEST_FILE, REMOTE_BOOT_RELEASES_DIR, REMOTE_IMAGES_DIR } from "./layout";
import { readManifest, verifyManifest } from "./manifest";

export interface PublishTarget {
  /** "user@host", or undefined for a local directory. */
  readonly host?: string;
  readonly root: string;
}

/** "root@10.25.89.4:/srv/ely" -> remote; "/tmp/x" -> local. */
export function parseTarget(text: string): PublishTarget {
  const match = /^([^/:]+):(\/.*)$/.exec(text);
  if (match) return { host: match[1], root: match[2].replace(/\/+$/, "") || "/" };
  if (!text.startsWith("/")) throw new Error(`--target: expected user@host:/absolute/path or /absolute/path, received "${text}"`);
  return { root: text.replace(/\/+$/, "") || "/" };
}

/**
 * The ssh command of the publish steps: unattended and bounded (SSH_UNATTENDED_OPTIONS); ELY_SSH_OPTIONS
 * adds more (e.g. "-i key -p 2222"), first, so that its -o options win over the defaults.
 */
export function publishSshCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = (env.ELY_SSH_OPTIONS ?? "").split(/\s+/).filter(Boolean);
  return ["ssh", ...extra, ...SSH_UNATTENDED_OPTIONS.flatMap((o) => ["-o", o])];
}

/** rsync's arguments to copy the contents of src into dest, over the publish ssh when the target is remote; bounded by --timeout. */
export function rsyncArgs(target: PublishTarget, src: string, dest: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    "-a",
    "--delete",
    "--chmod=D755,F644",
    `--timeout=${RSYNC_IO_TIMEOUT_SECONDS}`,
    ...(target.host ? ["-e", publishSshCommand(env).join(" ")] : []),
    `${src.replace(/\/+$/, "")}/`,
    target.host ? `${target.host}:${dest}/` : `${dest}/`,
  ];
}

/** Runs a shell script on the target (sh -s with arguments). */
export async function runOnTarget(target: PublishTarget, script: string, args: string[]): Promise<string> {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const result = target.host
    ? await execa("ssh", [...publishSshCommand().slice(1), target.host, `sh -s -- ${quoted}`], { input: script, reject: false })
    : await execa("sh", ["-s", "--", ...args], { input: script, reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`${target.host ? `ssh ${target.host}` : "sh"} failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout;
}

async function rsync(target: PublishTarget, src: string, dest: string): Promise<void> {
  const result = await execa("rsync", rsyncArgs(target, src, dest), { reject: false });
  if (result.exitCode !== 0) throw new Error(`rsync to ${target.host ?? "local"}:${dest} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
}

const PLACE_SCRIPT = `set -eu
partial="$1"; final="$2"
if [ -d "$final" ]; then rm -rf "$partial"; else mv -T "$partial" "$final"; fi
`;

const LINK_SCRIPT = `set -eu
dir="$1"; name="$2"; to="$3"
ln -sfn "$to" "$dir/.$name.tmp"
mv -T "$dir/.$name.tmp" "$dir/$name"
`;

export interface PublishImageOptions {
  readonly src: string;
  readonly target: PublishTarget;
  readonly image: string;
  readonly buildId: string;
  /** Link switched to the build. Default: "latest". */
  readonly link?: string;
  readonly log?: (line: string) => void;
}

export async function publishImage(options: PublishImageOptions): Promise<void> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + "\n"));
  if (!BUILD_ID_PATTERN.test(options.buildId)) throw new Error(`--build: expected 16 hex digits, received "${options.buildId}"`);
  const manifest = readManifest(options.src);
  if (!manifest) throw new Error(`${options.src} has no ${MANIFEST_FILE}: was the image built? (its build step runs first)`);
  if (manifest.buildId !== options.buildId) throw new Error(`${options.src} holds build ${manifest.buildId}, expected ${options.buildId}`);
  const problems = verifyManifest(options.src, manifest);
  if (problems.length) throw new Error(`${options.src} is not a complete build: ${problems.join("; ")}`);
  const dir = `${options.target.root}/${REMOTE_IMAGES_DIR}/${options.image}`;
  const final = `${dir}/${options.buildId}`;
  const partial = `${dir}/.${options.buildId}.partial`;
  const started = Date.now();
  await runOnTarget(options.target, `set -eu\nmkdir -p "$1"\n`, [partial]);
  await rsync(options.target, options.src, partial);
  await runOnTarget(options.target, PLACE_SCRIPT, [partial, final]);
  await runOnTarget(options.target, LINK_SCRIPT, [dir, options.link ?? "latest", options.buildId]);
  log(`ely-publish: image ${options.image} build ${options.buildId} -> ${options.target.host ? options.target.host + ":" : ""}${final} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export interface PublishBootOptions {
  /** The boot service's rendered directory (dnsmasq.conf, tftp/, ipxe/, activate.sh, ...). */
  readonly src: string;
  /** The agent configuration bundle (<hostname>/<file>), served under /config/. */
  readonly configs?: string;
  readonly target: PublishTarget;
  /** Release name: the content hash of what is published. */
  readonly release: string;
  readonly log?: (line: string) => void;
}

export async function publishBoot(options: PublishBootOptions): Promise<void> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + "\n"));
  if (!/^[0-9a-f]{8,64}$/.test(options.release)) throw new Error(`--release: expected a hex content hash, received "${options.release}"`);
  if (!fs.existsSync(path.join(options.src, "activate.sh"))) throw new Error(`${options.src} has no activate.sh: not a boot configuration directory`);
  const dir = `${options.target.root}/${REMOTE_BOOT_RELEASES_DIR}`;
  const partial = `${dir}/.${options.release}.partial`;
  const started = Date.now();
  await runOnTarget(options.target, `set -eu\nmkdir -p "$1/config"\n`, [partial]);
  await rsync(options.target, options.src, partial);
  if (options.configs) await rsync(options.target, options.configs, `${partial}/config`);
  await runOnTarget(options.target, PLACE_SCRIPT, [partial, `${dir}/${options.release}`]);
  const output = await runOnTarget(options.target, fs.readFileSync(path.join(options.src, "activate.sh"), "utf8"), [options.target.root, options.release]);
  if (output.trim()) log(output.trim());
  log(`ely-publish: boot release ${options.release} -> ${options.target.host ? options.target.host + ":" : ""}${dir}/${options.release}, now current, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command("ely-publish").description("Publish images and the boot configuration to the util node").exitOverride();
  let action: Promise<void> | undefined;
  program
    .command("image")
    .requiredOption("--src <dir>", "the build directory")
    .requiredOption("--target <target>", "user@host:/srv/ely or a local /path")
    .requiredOption("--image <key>", "image name, e.g. client-amd64")
    .requiredOption("--build <id>", "build id")
    .option("--link <name>", "link switched to this build", "latest")
    .action((o) => {
      action = publishImage({ src: o.src, target: parseTarget(o.target), image: o.image, buildId: o.build, link: o.link });
    });
  program
    .command("boot")
    .requiredOption("--src <dir>", "the boot configuration directory")
    .option("--configs <dir>", "the agent configuration bundle")
    .requiredOption("--target <target>", "user@host:/srv/ely or a local /path")
    .requiredOption("--release <hash>", "release name (content hash)")
    .action((o) => {
      action = publishBoot({ src: o.src, configs: o.configs, target: parseTarget(o.target), release: o.release });
    });
  try {
    program.parse(argv, { from: "user" });
    await action;
    return 0;
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    if (typeof code === "number" && (e as { code?: string }).code?.startsWith("commander.")) return code;
    process.stderr.write(`ely-publish: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
