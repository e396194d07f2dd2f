#!/usr/bin/env node
/**
 * The util node's side of secret delivery to netbooted nodes (nodes/secret-delivery.ts), run
 * by Terraform's local-exec with the secrets in its environment (never on a command line):
 *
 *   node dist/cli/secret-publish.js service --conf <dir> --target root@10.25.89.4:/srv/ely
 *       the secrets server: its nginx.conf and unit (from <dir>), and its TLS certificate and key
 *       (ELY_SECRET_SERVICE_CERT, ELY_SECRET_SERVICE_KEY); (re)starts ely-secrets.service
 *   node dist/cli/secret-publish.js node --host w1 --target ... --secrets-dir /etc/ely/secrets --features gossip,tls,acl
 *       one node's bundle.tar and the hash of its key (htpasswd), from ELY_SECRET_* (see NODE_SECRET_ENV)
 *   node dist/cli/secret-publish.js revoke --host w1 --target ...
 *       removes the node's bundle and key: the secrets server refuses it from then on
 *
 * Every file is written 0600 through a temporary name and renamed into place; the bundle is made
 * in a private temporary directory that is removed afterwards. A target without "host:" is a
 * local directory (tests).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import {
  bundleFilesOf,
  NODE_HTPASSWD,
  NODE_KEY_PATTERN,
  nodeSecretsDir,
  REMOTE_SECRETS_DIR,
  SECRETS_BUNDLE,
  SECRETS_SERVICE_CERT,
  SECRETS_SERVICE_CONF,
  SECRETS_SERVICE_KEY,
  SECRETS_SERVICE_UNIT,
} from "../nodes/secret-delivery";
import { hostLabel } from "../nodes/safe-strings";
import { secretConfigs, SecretFeatures } from "../constructs/rollout/ssh-node-layout";
import { parseTarget, publishSshCommand, PublishTarget, runOnTarget } from "../images/publish";
import { checkGossipKey, checkPem, checkToken, SecretFormError } from "./secret-checks";
import { shellQuote } from "../constructs/shell-quote";

/** Environment of the `node` command (Terraform fills it from sensitive values). */
export const NODE_SECRET_ENV = {
  /** The node's enrollment key (64 hex digits): only its hash reaches the util node. */
  nodeKey: "ELY_SECRET_NODE_KEY",
  consulGossipKey: "ELY_SECRET_CONSUL_GOSSIP_KEY",
  consulAgentToken: "ELY_SECRET_CONSUL_AGENT_TOKEN",
  nomadConsulToken: "ELY_SECRET_NOMAD_CONSUL_TOKEN",
  tlsCa: "ELY_SECRET_TLS_CA",
  nomadCert: "ELY_SECRET_NOMAD_CERT",
  nomadKey: "ELY_SECRET_NOMAD_KEY",
} as const;

/** Environment of the `service` command. */
export const SERVICE_SECRET_ENV = { cert: "ELY_SECRET_SERVICE_CERT", key: "ELY_SECRET_SERVICE_KEY" } as const;


function variableOf(key: keyof typeof NODE_SECRET_ENV, host: string): string {
  switch (key) {
    case "nodeKey":
      return `var.netboot_node_secrets["${host}"].key`;
    case "nomadCert":
      return `var.netboot_node_secrets["${host}"].nomad_cert`;
    case "nomadKey":
      return `var.netboot_node_secrets["${host}"].nomad_key`;
    case "consulGossipKey":
      return "var.consul_gossip_key";
    case "tlsCa":
      return "var.tls_ca_cert";
    case "consulAgentToken":
      return `the Consul agent token of ${host} (consul-acl)`;
    case "nomadConsulToken":
      return "the Nomad clients' Consul token (consul-acl)";
  }
}

/** The files of one node's bundle (path on the node -> content), from the environment; every problem at once. */
export function nodeBundle(host: string, secretsDir: string, features: SecretFeatures, env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const get = (key: keyof typeof NODE_SECRET_ENV) => (env[NODE_SECRET_ENV[key]] ?? "").trim();
  const problems: string[] = [];
  const check = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof SecretFormError)) throw e;
      problems.push(e.message);
    }
  };
  if (!NODE_KEY_PATTERN.test(get("nodeKey"))) {
    problems.push(`${NODE_SECRET_ENV.nodeKey} (${variableOf("nodeKey", host)}): received a value of ${get("nodeKey").length} characters, expected 64 hex digits (\`ely secrets init\` makes one per netbooted node)`);
  }
  if (features.gossip) check(() => checkGossipKey(NODE_SECRET_ENV.consulGossipKey, get("consulGossipKey"), variableOf("consulGossipKey", host)));
  if (features.acl) {
    for (const key of ["consulAgentToken", "nomadConsulToken"] as const) {
      if (!get(key)) problems.push(`${NODE_SECRET_ENV[key]} (${variableOf(key, host)}): received nothing, expected a token (security.acl is on)`);
      else check(() => checkToken(NODE_SECRET_ENV[key], get(key), variableOf(key, host)));
    }
  }
  if (features.tls) for (const key of ["tlsCa", "nomadCert", "nomadKey"] as const) check(() => checkPem(NODE_SECRET_ENV[key], get(key), variableOf(key, host)));
  if (problems.length) throw new SecretFormError(`${host}: ${problems.length} problem(s) with its secrets:\n  ${problems.join("\n  ")}`);

  // A client's Nomad gets no gossip key: only servers gossip.
  const configs = secretConfigs(features, { consulGossipKey: get("consulGossipKey"), consulAgentToken: get("consulAgentToken"), nomadConsulToken: get("nomadConsulToken") });
  const files = bundleFilesOf(secretsDir);
  const bundle = new Map<string, string>();
  bundle.set(files.consulSecrets.path, JSON.stringify(configs.consul, null, 2) + "\n");
  bundle.set(files.nomadSecrets.path, JSON.stringify(configs.nomad, null, 2) + "\n");
  if (features.tls) {
    bundle.set(files.ca.path, get("tlsCa") + "\n");
    bundle.set(files.nomadCert.path, get("nomadCert") + "\n");
    bundle.set(files.nomadKey.path, get("nomadKey") + "\n");
  }
  return bundle;
}

/** A tar of the files (owner root, mode 0600: the node's unit sets the final owners and modes), made by tar. */
export function tarOf(files: ReadonlyMap<string, string>): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-bundle-"));
  try {
    fs.chmodSync(dir, 0o700);
    for (const [file, content] of files) {
      fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(dir, file), content, { mode: 0o600 });
    }
    const names = [...files.keys()].sort();
    const result = spawnSync("tar", ["-c", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", dir, "--", ...names], { maxBuffer: 16 << 20 });
    if (result.status !== 0) throw new Error(`tar failed (exit ${result.status}): ${result.stderr.toString().trim()}`);
    return result.stdout;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** "<host>:<SHA-512 crypt of the key>" (openssl passwd -6, key on stdin): what nginx's auth_basic_user_file reads. */
export async function htpasswdLine(host: string, key: string): Promise<string> {
  const { stdout } = await execa("openssl", ["passwd", "-6", "-stdin"], { input: key });
  return `${host}:${stdout.trim()}\n`;
}

/** The group of the secrets server's worker processes, which read the bundles and key hashes. */
export const DEFAULT_SECRETS_GROUP = "ely-secrets";

/**
 * Writes content to a file on the target through a temporary name and a rename: mode 0600 owned by
 * root, or 0640 with `group` when the secrets server's workers must read it (then every directory
 * from `servedFrom` down is 0750 with that group; the rest of the tree stays the owner's).
 */
export async function writePrivateFile(target: PublishTarget, file: string, content: Buffer | string, served?: { group: string; servedFrom: string }): Promise<void> {
  const dir = path.posix.dirname(file);
  const q = shellQuote;
  const lines = [`umask 077`, `mkdir -p ${q(dir)}`, `cat > ${q(file)}.new`];
  if (served) {
    const dirs: string[] = [];
    for (let d = dir; d.startsWith(served.servedFrom); d = path.posix.dirname(d)) dirs.push(d);
    lines.push(`chgrp ${q(served.group)} ${dirs.map(q).join(" ")} ${q(file)}.new`, `chmod 750 ${dirs.map(q).join(" ")}`, `chmod 640 ${q(file)}.new`);
  } else {
    lines.push(`chmod 600 ${q(file)}.new`);
  }
  lines.push(`mv -f ${q(file)}.new ${q(file)}`);
  const script = lines.join(" && ");
  const result = target.host
    ? await execa("ssh", [...publishSshCommand().slice(1), target.host, script], { input: content, reject: false })
    : await execa("sh", ["-c", script], { input: content, reject: false });
  if (result.exitCode !== 0) throw new Error(`writing ${target.host ? `${target.host}:` : ""}${file} failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim()}`);
}

function log(line: string): void {
  process.stdout.write(`[ely-secrets] ${line}\n`);
}

export interface PublishNodeOptions {
  readonly host: string;
  readonly target: PublishTarget;
  readonly secretsDir: string;
  readonly features: SecretFeatures;
  /** The secrets server's group. Default: DEFAULT_SECRETS_GROUP. */
  readonly group?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export async function publishNodeSecrets(options: PublishNodeOptions): Promise<void> {
  const env = options.env ?? process.env;
  if (!hostLabel.safeParse(options.host).success) throw new SecretFormError(`--host: received ${JSON.stringify(options.host)}, expected a hostname`);
  const bundle = nodeBundle(options.host, options.secretsDir, options.features, env);
  const dir = nodeSecretsDir(options.target.root, options.host);
  const served = { group: options.group ?? DEFAULT_SECRETS_GROUP, servedFrom: `${options.target.root}/${REMOTE_SECRETS_DIR}` };
  // The bundle first, then the key that opens it: a node that can fetch always gets a whole bundle.
  await writePrivateFile(options.target, `${dir}/${SECRETS_BUNDLE}`, tarOf(bundle), served);
  await writePrivateFile(options.target, `${dir}/${NODE_HTPASSWD}`, await htpasswdLine(options.host, (env[NODE_SECRET_ENV.nodeKey] ?? "").trim()), served);
  log(`${options.host}: bundle of ${bundle.size} files and its key's hash -> ${options.target.host ? `${options.target.host}:` : ""}${dir}`);
}

export async function revokeNodeSecrets(host: string, target: PublishTarget): Promise<void> {
  if (!hostLabel.safeParse(host).success) throw new SecretFormError(`--host: received ${JSON.stringify(host)}, expected a hostname`);
  const dir = nodeSecretsDir(target.root, host);
  await runOnTarget(target, `set -eu\nrm -rf "$1"\n`, [dir]);
  log(`${host}: bundle and key removed from ${dir}: the secrets server refuses ${host} from now on`);
}

export interface PublishServiceOptions {
  /** The rendered directory of the secrets server (nginx.conf, ely-secrets.service). */
  readonly conf: string;
  readonly target: PublishTarget;
  /** The secrets server's group, made when missing. Default: DEFAULT_SECRETS_GROUP. */
  readonly group?: string;
  /** Its workers' user, made when missing. Default: the group's name. */
  readonly user?: string;
  readonly env?: NodeJS.ProcessEnv;
}

// The group (and user) of the secrets server's workers is made before any file is given to it.
const PREPARE_SERVICE = `set -eu
group="$1"; user="$2"
if ! getent group "$group" >/dev/null; then
  groupadd --system "$group"
  echo "ely-secrets: made the system group $group"
fi
if ! getent passwd "$user" >/dev/null; then
  useradd --system --gid "$group" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
  echo "ely-secrets: made the system user $user"
fi
`;

const ACTIVATE_SERVICE = `set -eu
dir="$1"
if [ "\${ELY_PUBLISH_SERVICES:-1}" = 1 ] && [ -d /run/systemd/system ]; then
  install -m 0644 "$dir/${SECRETS_SERVICE_UNIT}" /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable --quiet ${SECRETS_SERVICE_UNIT}
  systemctl reload-or-restart ${SECRETS_SERVICE_UNIT}
  echo "ely-secrets: ${SECRETS_SERVICE_UNIT} (re)started"
fi
`;

export async function publishSecretsService(options: PublishServiceOptions): Promise<void> {
  const env = options.env ?? process.env;
  const cert = (env[SERVICE_SECRET_ENV.cert] ?? "").trim();
  const key = (env[SERVICE_SECRET_ENV.key] ?? "").trim();
  const problems: string[] = [];
  for (const [name, value] of [
    [SERVICE_SECRET_ENV.cert, cert],
    [SERVICE_SECRET_ENV.key, key],
  ] as const) {
    try {
      checkPem(name, value, `var.secrets_service_tls.${name === SERVICE_SECRET_ENV.cert ? "cert" : "key"}`);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  for (const f of [SECRETS_SERVICE_CONF, SECRETS_SERVICE_UNIT]) {
    if (!fs.existsSync(path.join(options.conf, f))) problems.push(`--conf: ${options.conf} has no ${f}; expected the secrets server's rendered directory`);
  }
  if (problems.length) throw new SecretFormError(`the secrets server: ${problems.join("; ")}`);
  const dir = `${options.target.root}/${REMOTE_SECRETS_DIR}`;
  const prepared = await runOnTarget(options.target, PREPARE_SERVICE, [options.group ?? DEFAULT_SECRETS_GROUP, options.user ?? options.group ?? DEFAULT_SECRETS_GROUP]);
  if (prepared.trim()) log(prepared.trim());
  await writePrivateFile(options.target, `${dir}/${SECRETS_SERVICE_CERT}`, cert + "\n");
  await writePrivateFile(options.target, `${dir}/${SECRETS_SERVICE_KEY}`, key + "\n");
  for (const f of [SECRETS_SERVICE_CONF, SECRETS_SERVICE_UNIT]) await writePrivateFile(options.target, `${dir}/${f}`, fs.readFileSync(path.join(options.conf, f)));
  const out = await runOnTarget(options.target, ACTIVATE_SERVICE, [dir]);
  if (out.trim()) log(out.trim());
  log(`the secrets server's configuration and certificate -> ${options.target.host ? `${options.target.host}:` : ""}${dir}`);
}

function parseFeatures(text: string): SecretFeatures {
  const words = text.split(",").filter(Boolean);
  for (const w of words) if (!["gossip", "tls", "acl"].includes(w)) throw new SecretFormError(`--features: received "${w}", expected gossip, tls, acl`);
  return { gossip: words.includes("gossip"), tls: words.includes("tls"), acl: words.includes("acl") };
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program.name("secret-publish").description("Ely: secret delivery to netbooted nodes, on the util node (run by Terraform)").exitOverride();
  program
    .command("service")
    .requiredOption("--conf <dir>", "the secrets server's rendered directory")
    .requiredOption("--target <target>", "user@host:/srv/ely or a local directory")
    .option("--group <name>", "the secrets server's group", DEFAULT_SECRETS_GROUP)
    .option("--user <name>", "its workers' user; default: the group's name")
    .action((o) => publishSecretsService({ conf: o.conf, target: parseTarget(o.target), group: o.group, user: o.user }));
  program
    .command("node")
    .requiredOption("--host <hostname>")
    .requiredOption("--target <target>")
    .requiredOption("--secrets-dir <dir>", "the inventory's security.secretsDir: where the node's TLS files go")
    .option("--features <list>", "gossip,tls,acl", "")
    .option("--group <name>", "the secrets server's group", DEFAULT_SECRETS_GROUP)
    .action((o) => publishNodeSecrets({ host: o.host, target: parseTarget(o.target), secretsDir: o.secretsDir, features: parseFeatures(o.features), group: o.group }));
  program
    .command("revoke")
    .requiredOption("--host <hostname>")
    .requiredOption("--target <target>")
    .action((o) => revokeNodeSecrets(o.host, parseTarget(o.target)));
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith("commander.")) return err.exitCode ?? 2;
    console.error(`ely-secrets: ${e instanceof SecretFormError ? err.message : (err.stack ?? err.message)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
