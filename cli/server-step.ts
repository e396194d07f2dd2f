#!/usr/bin/env node
/**
 * ely server step: the program behind the server rollout's null_resource steps
 * (constructs/rollout/server-rollout.ts), run by Terraform's local-exec on the machine running the plan.
 *
 *   validate  `consul validate` and `nomad config validate` on every server's rendered files,
 *             with placeholder secrets of the real shape; a failure stops the rollout before
 *             the first server is touched.
 *   secrets   writes one node's secret files (secrets.json of each agent, TLS material, the
 *             gate's token file) over ssh stdin, umask 077. The values come from the
 *             environment (ELY_SECRET_*, see SECRET_ENV), which Terraform fills from sensitive
 *             variables: they are never on a command line, in a file here, or in the output.
 *   update    pushes one node's binaries (pinned version, sha256 verified), rendered configuration
 *             and systemd units, sending only what differs; restarts an agent only when one of
 *             its files changed (or it is not running); then waits, bounded, until Consul and
 *             Nomad are healthy and the server is a Raft voter again.
 *
 * The quorum gate (cli/quorum-gate.ts): before a step replaces a file that restarts an agent, the
 * cluster must tolerate losing this server (every other server healthy and a voter, failure
 * tolerance >= 1); it waits for that up to QUORUM_WAIT_MAX_SECONDS (at most the health bound), then
 * stops, naming the servers that are not healthy, with nothing on the node touched. Every file
 * replaced is kept as <file>.previous; when an agent does not come up healthy within the bound,
 * the update puts the previous files back, restarts the agents on them, waits until they are
 * healthy again, and fails saying it rolled back and why (the agent's log tail).
 *
 * ssh: `ssh [-F $ELY_SSH_CONFIG] -p <port> [-o <option>]... <user>@<address>`, the options always
 * bounded (nodes/network-timeouts.ts: those the --ssh-option list leaves out are added); a user
 * other than root needs passwordless sudo. The node side is cli/server-step-remote.sh, installed on
 * the node as /usr/local/lib/ely/ely-node-step by every step.
 * Progress: one line per step with the elapsed time, "[ely-step <host> <n>/<count>] ... (1.2s)".
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Readable } from "stream";
import { Command } from "commander";
import { stepProgram, withAgentSourceOptions, withSshOptions } from "./step-options";
import execa from "execa";
import {
  AgentSource,
  AgentVersions,
  agentSourceFromEnv,
  formatAgentSource,
  installAgents,
  parseAgentSource,
  sha256File,
} from "../images/agents";
import { ImageArch } from "../images/layout";
import { secretsDirectory, shapeProblemOf } from "../nodes/safe-strings";
import {
  Agent,
  AGENTS,
  agentsHash,
  CONSUL_USER,
  gateEnvFile,
  NODE_STEP_PATH,
  nomadConsulTokenFile,
  NodeFile,
  nodeDirs,
  PLACEHOLDER_GOSSIP_KEY,
  PLACEHOLDER_TOKEN,
  publicFiles,
  secretConfigs,
  SecretFeatures,
  secretsFileOf,
  sha256,
  tlsNodeFiles,
  unitOf,
  watchedFiles,
} from "../constructs/rollout/ssh-node-layout";
import { CONSUL_DATA_DIR } from "../nodes/agent-paths";
import { withSshTimeouts } from "../nodes/network-timeouts";
import { shellQuote } from "../constructs/shell-quote";
import { blockedMessage, GateTarget, parseQuorumFacts, quorumDecision } from "./quorum-gate";
import { checkGossipKey, checkPem, checkToken, SecretFormError } from "./secret-checks";
import { ClusterApi, ClusterApiError } from "./cluster-api";
import { CONSUL_HTTP_PORT, CONSUL_HTTPS_PORT } from "../nodes/topology";

/** Longest wait of the quorum gate for a cluster to tolerate restarting a server (at most the health bound). */
export const QUORUM_WAIT_MAX_SECONDS = 60;

/** Environment variables the secrets step reads (Terraform sets them from sensitive variables). */
export const SECRET_ENV = {
  consulGossipKey: "ELY_SECRET_CONSUL_GOSSIP_KEY",
  nomadGossipKey: "ELY_SECRET_NOMAD_GOSSIP_KEY",
  /** PEM of the CA that signed the agents' certificates. */
  tlsCa: "ELY_SECRET_TLS_CA",
  /** JSON: { consul_cert, consul_key, nomad_cert, nomad_key } (PEM) of this node. */
  tls: "ELY_SECRET_TLS",
  consulAgentToken: "ELY_SECRET_CONSUL_AGENT_TOKEN",
  nomadConsulToken: "ELY_SECRET_NOMAD_CONSUL_TOKEN",
  /** The operator token of Consul: the health gate's, and a fresh cluster's initial management token. */
  consulToken: "ELY_SECRET_CONSUL_TOKEN",
  /** The operator token of Nomad: the health gate's, and the bootstrap secret of a fresh cluster's ACLs. */
  nomadToken: "ELY_SECRET_NOMAD_TOKEN",
} as const;

/** Environment variable naming an ssh client configuration file (`ssh -F`). */
export const SSH_CONFIG_ENV = "ELY_SSH_CONFIG";

const REMOTE_SCRIPT = path.join(projectDir(), "cli", "server-step-remote.sh");

/** The checkout (holding package.json), from cli/ or dist/cli/. */
function projectDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) return __dirname;
    dir = parent;
  }
  return dir;
}

// ---------------------------------------------------------------- progress

class Progress {
  private readonly started = Date.now();
  constructor(private readonly label: string) {}
  line(message: string): void {
    process.stdout.write(`[ely-step ${this.label}] ${message} (${((Date.now() - this.started) / 1000).toFixed(1)}s)\n`);
  }
}

export class StepError extends SecretFormError {}

// ---------------------------------------------------------------- ssh

export interface SshTarget {
  readonly host: string;
  readonly address: string;
  readonly user: string;
  readonly port: number;
  readonly options: readonly string[];
}

export function sshArgs(target: SshTarget, remoteCommand: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const args: string[] = [];
  if (env[SSH_CONFIG_ENV]) args.push("-F", env[SSH_CONFIG_ENV]!);
  args.push("-p", String(target.port));
  for (const option of withSshTimeouts(target.options)) args.push("-o", option);
  args.push(`${target.user}@${target.address}`, "--", remoteCommand);
  return args;
}

function asRoot(target: SshTarget, words: readonly string[]): string {
  const command = words.map(shellQuote).join(" ");
  return target.user === "root" ? command : `sudo -n ${command}`;
}

/**
 * Runs the node-side script with a command; its output lines are printed as they come
 * (prefixed with the node's label) and returned.
 */
async function nodeStep(
  target: SshTarget,
  progress: Progress,
  words: readonly string[],
  input?: string | Readable,
  options: { quiet?: boolean } = {},
): Promise<string> {
  const child = execa("ssh", sshArgs(target, asRoot(target, [NODE_STEP_PATH, ...words])), {
    reject: false,
    stdin: input === undefined ? "ignore" : "pipe",
    buffer: true,
  });
  if (typeof input === "string") child.stdin!.end(input);
  else if (input) input.pipe(child.stdin!);
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    if (!options.quiet) for (const line of lines) progress.line(line);
  });
  const result = await child;
  if (pending && !options.quiet) progress.line(pending);
  if (result.exitCode !== 0) {
    const stderr = result.stderr.trim();
    throw new StepError(
      `${target.host}: \`ely-node-step ${words[0]}\` failed on ${target.user}@${target.address}:${target.port} (exit ${result.exitCode})` +
        (stderr ? `:\n${stderr}` : "") +
        (result.exitCode === 255 ? `\n(ssh could not connect: check the address, the key, known_hosts; $${SSH_CONFIG_ENV} names an ssh config)` : ""),
    );
  }
  return result.stdout;
}

/** Puts the node-side script on the node (it is small: every step sends it). */
async function installNodeScript(target: SshTarget, progress: Progress): Promise<void> {
  const script = fs.readFileSync(REMOTE_SCRIPT, "utf8");
  const dir = path.posix.dirname(NODE_STEP_PATH);
  const shell = `umask 022; mkdir -p ${dir} && cat > ${NODE_STEP_PATH}.new && chmod 0755 ${NODE_STEP_PATH}.new && mv -f ${NODE_STEP_PATH}.new ${NODE_STEP_PATH}`;
  const command = target.user === "root" ? `sh -c ${shellQuote(shell)}` : `sudo -n sh -c ${shellQuote(shell)}`;
  const result = await execa("ssh", sshArgs(target, command), { input: script, reject: false });
  if (result.exitCode !== 0) {
    throw new StepError(
      `${target.host}: cannot reach ${target.user}@${target.address}:${target.port} over ssh (exit ${result.exitCode}): ${result.stderr.trim()}` +
        `\n(check the node is up, the key is authorized, its host key is known; $${SSH_CONFIG_ENV} names an ssh config)`,
    );
  }
  await nodeStep(target, progress, ["preflight"]);
}

// ---------------------------------------------------------------- manifest

interface ManifestFile {
  readonly file: NodeFile;
  /** Local path of the content (tar member source), for public files. */
  readonly source?: string;
  /** Inline content, for secrets. */
  readonly content?: Buffer;
  readonly sha256: string;
}

function octal(mode: number): string {
  return "0" + mode.toString(8);
}

/**
 * The node splits each manifest line on whitespace and runs it as root: a word with
 * whitespace (or an empty one) would add words or lines. The inventory refuses such
 * values already; this holds for every caller of the step too.
 */
function manifestWords(line: readonly (string | number)[]): string {
  for (const word of line) {
    if (String(word) === "" || /\s|\0/.test(String(word))) {
      throw new StepError(`manifest: received ${JSON.stringify(String(word))} in "${line[0]}" line, expected one word (no spaces, newlines or NUL)`);
    }
  }
  return line.join(" ");
}

export function manifestHead(secretsDir: string): string[] {
  const wrong = shapeProblemOf(secretsDirectory, secretsDir);
  if (wrong) throw new StepError(`--secrets-dir: received ${JSON.stringify(secretsDir)}, ${wrong.message} (${wrong.rule})`);
  return [
    `user ${CONSUL_USER} ${CONSUL_DATA_DIR}`,
    ...nodeDirs(secretsDir).map((d) => manifestWords(["dir", octal(d.mode), d.owner, d.group, d.path])),
  ];
}

function fileLine(f: ManifestFile, last: string): string {
  return manifestWords(["file", octal(f.file.mode), f.file.owner, f.file.group, f.file.path, f.sha256, last]);
}

function parseFeatures(text: string): SecretFeatures {
  const words = text.split(",").map((w) => w.trim()).filter(Boolean);
  for (const w of words) if (!["gossip", "tls", "acl"].includes(w)) throw new StepError(`--features: received "${w}", expected gossip, tls, acl`);
  return { gossip: words.includes("gossip"), tls: words.includes("tls"), acl: words.includes("acl") };
}

// ---------------------------------------------------------------- agents

export function hostArch(): ImageArch {
  if (process.arch === "x64") return "amd64";
  if (process.arch === "arm64") return "arm64";
  throw new StepError(`this machine's architecture (${process.arch}) has no consul/nomad builds here`);
}

async function stageAgents(source: AgentSource, versions: AgentVersions, arch: ImageArch, dir: string) {
  try {
    return await installAgents({ source, versions, arch, destDir: path.join(dir, "bin"), workDir: dir });
  } catch (e) {
    throw new StepError(`consul ${versions.consul} / nomad ${versions.nomad} for linux/${arch} from ${formatAgentSource(source)}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- validate

export interface ValidateOptions {
  readonly configs: string;
  readonly hosts: readonly string[];
  readonly versions: AgentVersions;
  readonly source: AgentSource;
  readonly features: SecretFeatures;
}

async function which(binary: string): Promise<string | undefined> {
  return (process.env.PATH ?? "").split(":").filter(Boolean).map((d) => path.join(d, binary)).find((f) => fs.existsSync(f));
}

/** consul and nomad binaries that run here: from the agent source for this machine's architecture, else PATH. */
async function validators(options: ValidateOptions, work: string, progress: Progress): Promise<Record<Agent, string>> {
  try {
    const installed = await installAgents({ source: options.source, versions: options.versions, arch: hostArch(), destDir: path.join(work, "bin"), workDir: work });
    return Object.fromEntries(installed.map((a) => [a.name, path.join(work, "bin", a.name)])) as Record<Agent, string>;
  } catch (e) {
    const consul = await which("consul");
    const nomad = await which("nomad");
    if (consul && nomad) {
      progress.line(`no validators in ${formatAgentSource(options.source)} (${(e as Error).message.split("\n")[0]}); using consul and nomad from PATH`);
      return { consul, nomad };
    }
    throw new StepError(`cannot validate: ${(e as Error).message}; and consul/nomad are not on PATH either`);
  }
}

export async function validate(options: ValidateOptions): Promise<void> {
  const progress = new Progress("validate");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-validate-"));
  try {
    const bins = await validators(options, work, progress);
    const versions: Record<string, string> = {};
    for (const agent of AGENTS) versions[agent] = (await execa(bins[agent], ["version"])).stdout.split("\n")[0];
    progress.line(`validating with ${versions.consul} and ${versions.nomad} (the nodes get consul ${options.versions.consul}, nomad ${options.versions.nomad})`);
    const placeholders = secretConfigs(options.features, {
      consulGossipKey: PLACEHOLDER_GOSSIP_KEY,
      nomadGossipKey: PLACEHOLDER_GOSSIP_KEY,
      consulAgentToken: PLACEHOLDER_TOKEN,
      consulManagementToken: PLACEHOLDER_TOKEN,
      nomadConsulToken: PLACEHOLDER_TOKEN,
    });
    const failures: string[] = [];
    for (const host of options.hosts) {
      for (const agent of AGENTS) {
        const rendered = path.join(options.configs, host, `${agent}.json`);
        if (!fs.existsSync(rendered)) {
          failures.push(`${host}: ${rendered} is missing: expected the node's rendered ${agent}.json`);
          continue;
        }
        const dir = path.join(work, host, agent);
        fs.mkdirSync(dir, { recursive: true });
        fs.copyFileSync(rendered, path.join(dir, `${agent}.json`));
        if (options.features.gossip || options.features.acl) fs.writeFileSync(path.join(dir, "secrets.json"), JSON.stringify(placeholders[agent]));
        const args = agent === "consul" ? ["validate", dir] : ["config", "validate", dir];
        const result = await execa(bins[agent], args, { reject: false, all: true });
        // TLS files live on the nodes only; their absence here is expected.
        const output = (result.all ?? "").split("\n").filter((l) => l.trim() && !/Error when parsing TLS configuration|bootstrap_expect > 0/.test(l)).join("\n");
        if (result.exitCode !== 0) failures.push(`${host}: \`${agent} ${args.slice(0, -1).join(" ")}\` rejects ${host}/${agent}.json:\n  ${output.split("\n").join("\n  ")}`);
        else progress.line(`${host}: ${agent}.json valid`);
      }
    }
    if (failures.length > 0) {
      throw new StepError(`configuration check failed; no server was touched:\n${failures.join("\n")}`);
    }
    progress.line(`all ${options.hosts.length} servers' configuration valid`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- quorum gate

/** What the health and quorum gates need to know of the cluster. */
export interface ClusterOptions {
  /** Every server managed by the rollout, in order, this one included. */
  readonly servers: readonly { readonly host: string; readonly ip: string }[];
  readonly datacenter: string;
  readonly region: string;
  readonly timeoutSeconds: number;
}

/** --servers: "host=ip" entries (or bare addresses), comma-separated. */
export function parseServers(text: string): { host: string; ip: string }[] {
  return text
    .split(",")
    .filter(Boolean)
    .map((entry) => {
      const i = entry.indexOf("=");
      return i < 0 ? { host: entry, ip: entry } : { host: entry.slice(0, i), ip: entry.slice(i + 1) };
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits (bounded) until the cluster tolerates restarting `agents` on the target; throws, naming
 * what is unhealthy, when it does not. Nothing is touched on any node.
 */
async function quorumGate(target: SshTarget, cluster: ClusterOptions, features: SecretFeatures, secretsDir: string, progress: Progress, agents: readonly Agent[]): Promise<void> {
  if (agents.length === 0) return;
  const gateTarget: GateTarget = { host: target.host, region: cluster.region, servers: cluster.servers };
  const wait = Math.min(cluster.timeoutSeconds, QUORUM_WAIT_MAX_SECONDS);
  const started = Date.now();
  let reported = "";
  for (;;) {
    const out = await nodeStep(target, progress, ["quorum-facts", ...healthArgs(target, cluster, features, secretsDir)], undefined, { quiet: true });
    const decision = quorumDecision(gateTarget, parseQuorumFacts(out), agents);
    const elapsed = Math.round((Date.now() - started) / 1000);
    if (decision.proceed) {
      for (const note of decision.notes) progress.line(`quorum gate: ${note}`);
      progress.line(`quorum gate passed: ${agents.join(" and ")} may restart on ${target.host}`);
      return;
    }
    if (elapsed >= wait) throw new StepError(blockedMessage(gateTarget, decision, elapsed));
    const text = decision.problems.join("; ");
    if (text !== reported) progress.line(`quorum gate: waiting up to ${wait}s: ${text}`);
    reported = text;
    await sleep(2000);
  }
}

/** "<sha256> <path>" lines of the node, as a map path -> sha256 ("-": missing). */
async function remoteHashes(target: SshTarget, progress: Progress, paths: readonly string[]): Promise<Map<string, string>> {
  return new Map(
    (await nodeStep(target, progress, ["hashes", ...paths], undefined, { quiet: true }))
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(l.indexOf(" ") + 1), l.slice(0, l.indexOf(" "))] as const),
  );
}

// ---------------------------------------------------------------- secrets

export interface SecretsOptions {
  readonly target: SshTarget;
  readonly secretsDir: string;
  readonly features: SecretFeatures;
  readonly label: string;
  /** The cluster, for the quorum gate. Default: none (no gate: a step run by hand). */
  readonly cluster?: ClusterOptions;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string {
  return (env[name] ?? "").trim();
}

/**
 * Sets a server's Consul agent token through its API (PUT /v1/agent/token/agent), with the operator
 * token: the token consul-acl created for the server, from the plan itself. Consul persists it
 * (acl.enable_token_persistence), so it survives the agent's restarts; no variable carries it.
 */
export async function setAgentToken(options: { host: string; address: string; tls: boolean; env?: NodeJS.ProcessEnv }): Promise<void> {
  const env = options.env ?? process.env;
  const token = envValue(env, SECRET_ENV.consulAgentToken);
  const operator = envValue(env, SECRET_ENV.consulToken);
  const problems: string[] = [];
  if (!token) problems.push(`${SECRET_ENV.consulAgentToken} (the Consul agent token of ${options.host}, consul-acl): received nothing, expected a token`);
  if (!operator) problems.push(`${SECRET_ENV.consulToken} (var.consul_token): received nothing, expected the operator token`);
  if (options.tls && !envValue(env, SECRET_ENV.tlsCa)) problems.push(`${SECRET_ENV.tlsCa} (var.tls_ca_cert): received nothing, expected the CA's PEM (TLS is on)`);
  if (problems.length) throw new StepError(`${options.host} agent token: ${problems.join("; ")}`);
  checkToken(SECRET_ENV.consulAgentToken, token, `the Consul agent token of ${options.host}`);
  const address = options.tls ? `https://${options.address}:${CONSUL_HTTPS_PORT}` : `http://${options.address}:${CONSUL_HTTP_PORT}`;
  const api = new ClusterApi({ agent: "Consul", address, token: operator, caPem: options.tls ? envValue(env, SECRET_ENV.tlsCa) : undefined });
  const progress = new Progress(`${options.host} agent token`);
  await api.put("/v1/agent/token/agent", { Token: token });
  progress.line(`the Consul agent of ${options.host} holds the agent token consul-acl made for it`);
}

/** The secret files of one node, from the environment. Throws naming the variable that is missing or malformed. */
export function secretFiles(host: string, secretsDir: string, features: SecretFeatures, env: NodeJS.ProcessEnv = process.env): ManifestFile[] {
  const get = (key: keyof typeof SECRET_ENV) => envValue(env, SECRET_ENV[key]);
  const files: ManifestFile[] = [];
  const add = (file: NodeFile, content: string) => files.push({ file, content: Buffer.from(content), sha256: sha256(content) });
  if (features.gossip) {
    checkGossipKey(SECRET_ENV.consulGossipKey, get("consulGossipKey"), "var.consul_gossip_key");
    checkGossipKey(SECRET_ENV.nomadGossipKey, get("nomadGossipKey"), "var.nomad_gossip_key");
  }
  const tokens = {
    consulAgentToken: get("consulAgentToken"),
    nomadConsulToken: get("nomadConsulToken"),
    consulToken: get("consulToken"),
    nomadToken: get("nomadToken"),
  };
  if (features.acl) {
    const variables: Record<keyof typeof tokens, string> = {
      consulAgentToken: `var.consul_agent_tokens["${host}"]`,
      nomadConsulToken: "var.nomad_server_consul_token",
      consulToken: "var.consul_token",
      nomadToken: "var.nomad_token",
    };
    for (const key of Object.keys(tokens) as (keyof typeof tokens)[]) checkToken(SECRET_ENV[key], tokens[key], variables[key]);
    if (!tokens.consulToken || !tokens.nomadToken) {
      throw new StepError(`${host}: ${SECRET_ENV.consulToken} and ${SECRET_ENV.nomadToken} (var.consul_token, var.nomad_token) must be set when ACLs are on: the health gate reads the Raft peers with them`);
    }
  }
  const configs = secretConfigs(features, {
    consulGossipKey: get("consulGossipKey"),
    nomadGossipKey: get("nomadGossipKey"),
    consulAgentToken: tokens.consulAgentToken,
    consulManagementToken: tokens.consulToken,
    nomadConsulToken: tokens.nomadConsulToken,
  });
  if (features.gossip || features.acl) {
    for (const agent of AGENTS) add(secretsFileOf(agent), JSON.stringify(configs[agent], null, 2) + "\n");
  }
  if (features.tls) {
    const ca = get("tlsCa");
    checkPem(SECRET_ENV.tlsCa, ca, "var.tls_ca_cert");
    let tls: Record<string, string>;
    try {
      tls = JSON.parse(get("tls") || "null") ?? {};
    } catch {
      throw new StepError(`${SECRET_ENV.tls} (var.server_tls["${host}"]): expected JSON of { consul_cert, consul_key, nomad_cert, nomad_key }`);
    }
    for (const agent of AGENTS) {
      const t = tlsNodeFiles(secretsDir, agent);
      for (const part of ["cert", "key"] as const) checkPem(`${SECRET_ENV.tls}.${agent}_${part}`, (tls[`${agent}_${part}`] ?? "").trim(), `var.server_tls["${host}"].${agent}_${part}`);
      if (agent === "consul") add(t.ca, ca.trim() + "\n");
      add(t.cert, tls[`${agent}_cert`].trim() + "\n");
      add(t.key, tls[`${agent}_key`].trim() + "\n");
    }
  }
  if (features.acl) {
    add(gateEnvFile(secretsDir), `CONSUL_HTTP_TOKEN=${tokens.consulToken}\nNOMAD_TOKEN=${tokens.nomadToken}\n`);
  }
  return files;
}

export async function pushSecrets(options: SecretsOptions): Promise<void> {
  const { target, secretsDir, features } = options;
  const progress = new Progress(options.label);
  const files = secretFiles(target.host, secretsDir, features);
  if (files.length === 0) {
    progress.line("no secret material to deliver (gossip encryption, TLS and ACLs are off)");
    return;
  }
  progress.line(`delivering ${files.length} secret files to ${target.user}@${target.address} (values never shown)`);
  await installNodeScript(target, progress);
  if (options.cluster) {
    // A changed secret restarts its agent at the update step: the gate comes before it is written.
    const remote = await remoteHashes(target, progress, files.map((f) => f.file.path));
    const changed = new Set(files.filter((f) => remote.get(f.file.path) !== f.sha256).map((f) => f.file.path));
    const agents = AGENTS.filter((a) => watchedFiles(a, secretsDir, features).some((p) => changed.has(p)));
    await quorumGate(target, options.cluster, features, secretsDir, progress, agents);
  }
  const manifest = [...manifestHead(secretsDir), ...files.map((f) => fileLine(f, f.content!.toString("base64")))].join("\n") + "\n";
  const out = await nodeStep(target, progress, ["install-inline"], manifest);
  const changed = out.split("\n").filter((l) => l.startsWith("changed ")).length;
  progress.line(`secrets: ${changed} of ${files.length} files changed`);
}

export interface NomadConsulTokenOptions extends SecretsOptions {
  readonly cluster: ClusterOptions;
}

/**
 * Gives a Nomad server the Consul token consul-acl made for the Nomad servers (from the plan itself,
 * in ELY_SECRET_NOMAD_CONSUL_TOKEN): a file of its own beside Nomad's configuration
 * (nomadConsulTokenFile), written only when it differs, after the quorum gate; then Nomad restarts
 * on it and the step waits until it is healthy and a Raft voter again. An unchanged token touches
 * nothing. It is a step of its own because the token exists only once the servers are up.
 */
export async function pushNomadConsulToken(options: NomadConsulTokenOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { target, secretsDir, features, cluster } = options;
  const progress = new Progress(options.label);
  const token = envValue(env, SECRET_ENV.nomadConsulToken);
  if (!token) throw new StepError(`${target.host}: ${SECRET_ENV.nomadConsulToken} (the Nomad servers' Consul token, consul-acl): received nothing, expected a token`);
  checkToken(SECRET_ENV.nomadConsulToken, token, "the Nomad servers' Consul token (consul-acl)");
  const content = JSON.stringify({ consul: { token } }, null, 2) + "\n";
  const file: ManifestFile = { file: nomadConsulTokenFile(), content: Buffer.from(content), sha256: sha256(content) };
  await installNodeScript(target, progress);
  const remote = await remoteHashes(target, progress, [file.file.path]);
  if (remote.get(file.file.path) === file.sha256) {
    progress.line(`Nomad on ${target.host} holds the Nomad servers' Consul token already: nothing to do`);
    return;
  }
  await quorumGate(target, cluster, features, secretsDir, progress, ["nomad"]);
  await nodeStep(target, progress, ["install-inline"], [...manifestHead(secretsDir), fileLine(file, file.content!.toString("base64"))].join("\n") + "\n");
  await nodeStep(target, progress, ["apply", "nomad", ...watchedFiles("nomad", secretsDir, features), file.file.path]);
  progress.line(`waiting up to ${cluster.timeoutSeconds}s for nomad on ${target.host}`);
  await nodeStep(target, progress, ["gate", ...healthArgs(target, cluster, features, secretsDir), "quorum=yes", `timeout=${cluster.timeoutSeconds}`, "agents=nomad"]);
  await nodeStep(target, progress, ["commit"]);
  progress.line(`Nomad on ${target.host} uses the Nomad servers' Consul token consul-acl made (value never shown)`);
}

// ---------------------------------------------------------------- update

export interface UpdateOptions extends ClusterOptions {
  readonly target: SshTarget;
  readonly arch: ImageArch;
  readonly configs: string;
  readonly versions: AgentVersions;
  readonly source: AgentSource;
  /** agentsHash() at synth: the binaries must not have changed since the plan. */
  readonly expectAgents?: string;
  readonly secretsDir: string;
  readonly features: SecretFeatures;
  readonly position: number;
  readonly count: number;
}

export async function update(options: UpdateOptions): Promise<void> {
  const { target, features, secretsDir } = options;
  const last = options.position === options.count;
  const progress = new Progress(`${target.host} ${options.position}/${options.count}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `ely-step-${target.host}-`));
  try {
    if (options.expectAgents) {
      const now = agentsHash(options.source, options.versions, options.arch);
      if (now !== options.expectAgents) {
        throw new StepError(`${target.host}: the consul/nomad binaries in ${formatAgentSource(options.source)} changed since the plan was made: plan again`);
      }
    }
    progress.line(`staging consul ${options.versions.consul} and nomad ${options.versions.nomad} for linux/${options.arch} from ${formatAgentSource(options.source)}`);
    const installed = await stageAgents(options.source, options.versions, options.arch, work);
    const files: (ManifestFile & { agent: Agent; kind: "binary" | "config" | "unit" })[] = [];
    for (const agent of AGENTS) {
      const pub = publicFiles(agent);
      const binary = path.join(work, "bin", agent);
      files.push({ agent, kind: "binary", file: pub.binary, source: binary, sha256: installed.find((a) => a.name === agent)!.sha256 });
      const rendered = path.join(options.configs, target.host, `${agent}.json`);
      if (!fs.existsSync(rendered)) throw new StepError(`${target.host}: ${rendered} is missing: expected the node's rendered ${agent}.json`);
      files.push({ agent, kind: "config", file: pub.config, source: rendered, sha256: sha256File(rendered) });
      const unit = path.join(work, `${agent}.service`);
      fs.writeFileSync(unit, unitOf(agent));
      files.push({ agent, kind: "unit", file: pub.unit, source: unit, sha256: sha256(unitOf(agent)) });
    }

    await installNodeScript(target, progress);
    const remote = await remoteHashes(target, progress, files.map((f) => f.file.path));
    const changed = files.filter((f) => remote.get(f.file.path) !== f.sha256);
    progress.line(changed.length === 0 ? "every file is up to date on the node" : `sending ${changed.length} changed files: ${changed.map((f) => f.file.path).join(", ")}`);

    // The tar: ./manifest and one member per changed file.
    const stage = path.join(work, "send");
    fs.mkdirSync(stage);
    const lines = manifestHead(secretsDir);
    changed.forEach((f, i) => fs.copyFileSync(f.source!, path.join(stage, `f${i}`)));
    for (const agent of AGENTS) {
      const i = changed.findIndex((f) => f.agent === agent && f.kind === "binary");
      lines.push(`version ${agent} ${options.versions[agent]} ${i >= 0 ? `f${i}` : publicFiles(agent).binary.path}`);
    }
    changed.forEach((f, i) => lines.push(fileLine(f, `f${i}`)));
    fs.writeFileSync(path.join(stage, "manifest"), lines.join("\n") + "\n");

    // Which agents this update restarts, from the files as they will be: the quorum gate comes first.
    const restarts: Agent[] = [];
    for (const agent of AGENTS) {
      const args = watchedFiles(agent, secretsDir, features).map((p) => {
        const f = files.find((x) => x.file.path === p);
        return f ? `${p}=${f.sha256}` : p;
      });
      const verdict = (await nodeStep(target, progress, ["would-restart", agent, ...args], undefined, { quiet: true })).trim();
      if (verdict.startsWith("restart ")) restarts.push(agent);
    }
    await quorumGate(target, options, features, secretsDir, progress, restarts);

    const tar = execa("tar", ["-c", "-C", stage, "."], { buffer: false, stdout: "pipe" });
    await nodeStep(target, progress, ["install"], tar.stdout!);
    await tar;

    const health = healthArgs(target, options, features, secretsDir);
    const known = await nodeStep(target, progress, ["leader-known", ...health], undefined, { quiet: true });
    const leaderBefore = /^(consul|nomad)=(?!none)/m.test(known);
    const quorum = leaderBefore || last;
    progress.line(
      quorum
        ? `the gate requires a leader and ${target.host} as a Raft voter (${leaderBefore ? "the cluster had a leader before this step" : "last server of the rollout"})`
        : "the cluster has no leader yet (bootstrapping): the gate requires running agents only; the last server's step waits for the leader",
    );
    const gate = [...health, `quorum=${quorum ? "yes" : "no"}`, `timeout=${options.timeoutSeconds}`];
    let current: Agent = AGENTS[0];
    try {
      for (const agent of AGENTS) {
        current = agent;
        await nodeStep(target, progress, ["apply", agent, ...watchedFiles(agent, secretsDir, features)]);
        progress.line(`waiting up to ${options.timeoutSeconds}s for ${agent} on ${target.host}`);
        await nodeStep(target, progress, ["gate", ...gate, `agents=${agent}`]);
      }
    } catch (e) {
      if (!(e instanceof SecretFormError)) throw e;
      await rollBack(options, progress, gate, current, e);
    }
    await nodeStep(target, progress, ["commit"]);
    progress.line(`${target.host} done`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The agent `failed` did not come up healthy: put back the previous files, restart the agents
 * on them, wait until they are healthy, and fail saying so (or that the rollback failed too).
 */
async function rollBack(options: UpdateOptions, progress: Progress, gate: readonly string[], failed: Agent, failure: StepError): Promise<never> {
  const { target, secretsDir, features } = options;
  const host = target.host;
  progress.line(`${failed} did not come up healthy on ${host}: rolling back to the previous files`);
  try {
    const out = await nodeStep(target, progress, ["rollback", failed]);
    const removed = out.split("\n").filter((l) => l.startsWith("removed ")).map((l) => l.slice("removed ".length));
    for (const agent of AGENTS) {
      const pub = publicFiles(agent);
      if (removed.includes(pub.binary.path) || removed.includes(pub.config.path)) {
        progress.line(`${agent} was not installed on ${host} before this step: nothing to go back to, left stopped`);
        continue;
      }
      await nodeStep(target, progress, ["apply", agent, ...watchedFiles(agent, secretsDir, features)]);
      await nodeStep(target, progress, ["gate", ...gate, `agents=${agent}`]);
    }
  } catch (e) {
    throw new StepError(`${failure.message}\n${host}: the rollback to the previous files failed too, ${host} needs a hand:\n${(e as Error).message}`);
  }
  throw new StepError(
    `${host}: rolled back: ${failed} did not come up healthy, so ${host} runs its previous binaries and configuration again, healthy; the rollout stops here. Why:\n${failure.message}`,
  );
}

function healthArgs(target: SshTarget, cluster: ClusterOptions, features: SecretFeatures, secretsDir: string): string[] {
  return [
    `node=${target.host}`,
    `self=${target.address}`,
    `servers=${cluster.servers.map((s) => s.ip).join(",")}`,
    `datacenter=${cluster.datacenter}`,
    `region=${cluster.region}`,
    `consul_tls=${features.tls ? "yes" : "no"}`,
    `nomad_tls=${features.tls ? "yes" : "no"}`,
    `ca=${tlsNodeFiles(secretsDir, "consul").ca.path}`,
    `consul_acl=${features.acl ? "yes" : "no"}`,
    `nomad_acl=${features.acl ? "yes" : "no"}`,
    `env=${gateEnvFile(secretsDir).path}`,
  ];
}

// ---------------------------------------------------------------- command line

function targetOf(o: { host: string; address: string; user: string; port: string; sshOption?: string[] }): SshTarget {
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new StepError(`--port: received "${o.port}", expected 1-65535`);
  return { host: o.host, address: o.address, user: o.user, port, options: o.sshOption ?? [] };
}

/** The agent source of --agents (default: the environment), with --pin NAME=SHA256 for the official archives. */
function sourceOf(text?: string, pins: string[] = []): AgentSource {
  const source = text ? parseAgentSource(text) : agentSourceFromEnv();
  if (pins.length === 0) return source;
  if (source.kind !== "official") throw new StepError(`--pin: only the official release archives are pinned by sha256, the source is ${formatAgentSource(source)}`);
  const pinnedSha256: Record<string, string> = {};
  for (const pin of pins) {
    const m = /^(consul|nomad)=([0-9a-f]{64})$/.exec(pin);
    if (!m) throw new StepError(`--pin: received "${pin}", expected consul=<sha256> or nomad=<sha256>`);
    pinnedSha256[m[1]] = m[2];
  }
  return { ...source, pinnedSha256 };
}

function main(): void {
  const program = stepProgram("server-step", "the steps of Ely's server rollout over ssh (run by Terraform)");
  withAgentSourceOptions(program.command("validate"))
    .requiredOption("--configs <dir>", "the rendered agent configuration bundle (<host>/consul.json, <host>/nomad.json)")
    .requiredOption("--hosts <list>", "comma-separated hostnames")
    .requiredOption("--consul-version <v>")
    .requiredOption("--nomad-version <v>")
    .option("--features <list>", "gossip,tls,acl: the secret files whose shape is validated too", "")
    .action((o) =>
      validate({
        configs: o.configs,
        hosts: o.hosts.split(",").filter(Boolean),
        versions: { consul: o.consulVersion, nomad: o.nomadVersion },
        source: sourceOf(o.agents, o.pin),
        features: parseFeatures(o.features),
      }),
    );
  const sshOptions = (c: Command) =>
    withSshOptions(c.requiredOption("--host <name>", "the node's hostname"))
      .requiredOption("--secrets-dir <dir>")
      .option("--features <list>", "gossip,tls,acl", "");
  /** The cluster the quorum and health gates read: required, or optional (a step run by hand has no gate). */
  const withCluster = (c: Command, required: boolean) =>
    (required
      ? c.requiredOption("--servers <list>", "every server, host=ip (or its address alone), comma-separated")
      : c.option("--servers <list>", "every server, host=ip comma-separated: the quorum gate runs when a secret that restarts an agent changes")
    )
      .option("--datacenter <dc>", "Consul datacenter", "dc1")
      .option("--region <region>", "Nomad region", "global")
      .option("--timeout <seconds>", "bound of the health gate (the quorum gate waits up to a minute of it)", "300");
  const clusterOf = (o: { servers: string; datacenter: string; region: string; timeout: string }): ClusterOptions => ({
    servers: parseServers(o.servers),
    datacenter: o.datacenter,
    region: o.region,
    timeoutSeconds: Number(o.timeout),
  });
  withCluster(sshOptions(program.command("secrets")), false)
    .action((o) =>
      pushSecrets({
        target: targetOf(o),
        secretsDir: o.secretsDir,
        features: parseFeatures(o.features),
        label: o.label ?? `${o.host} secrets`,
        cluster: o.servers ? clusterOf(o) : undefined,
      }),
    );
  withCluster(sshOptions(program.command("nomad-consul-token")), true)
    .description("give a Nomad server the Consul token consul-acl made for the Nomad servers (ELY_SECRET_NOMAD_CONSUL_TOKEN), restarting Nomad behind the quorum gate")
    .action((o) =>
      pushNomadConsulToken({
        target: targetOf(o),
        secretsDir: o.secretsDir,
        features: parseFeatures(o.features),
        label: o.label ?? `${o.host} nomad consul token`,
        cluster: clusterOf(o),
      }),
    );
  const updateCommand = withAgentSourceOptions(sshOptions(program.command("update")))
    .requiredOption("--arch <arch>", "amd64 or arm64")
    .requiredOption("--configs <dir>")
    .requiredOption("--consul-version <v>")
    .requiredOption("--nomad-version <v>")
    .option("--expect-agents <sha256>", "the agents' hash recorded in the plan")
    .requiredOption("--position <n>")
    .requiredOption("--count <n>");
  withCluster(updateCommand, true)
    .action((o) => {
      if (o.arch !== "amd64" && o.arch !== "arm64") throw new StepError(`--arch: received "${o.arch}", expected amd64 or arm64`);
      return update({
        target: targetOf(o),
        arch: o.arch,
        configs: o.configs,
        versions: { consul: o.consulVersion, nomad: o.nomadVersion },
        source: sourceOf(o.agents, o.pin),
        expectAgents: o.expectAgents,
        secretsDir: o.secretsDir,
        features: parseFeatures(o.features),
        position: Number(o.position),
        count: Number(o.count),
        ...clusterOf(o),
      });
    });
  program
    .command("agent-token")
    .description("give a running server's Consul agent the token consul-acl made for it (Consul keeps it: enable_token_persistence)")
    .requiredOption("--host <name>", "the server's hostname")
    .requiredOption("--address <ip>", "its address")
    .option("--tls", "Consul's API over HTTPS (8501), verified with ELY_SECRET_TLS_CA; else HTTP (8500)")
    .action((o) => setAgentToken({ host: o.host, address: o.address, tls: Boolean(o.tls) }));
  program.parseAsync(process.argv).catch((e: Error) => {
    console.error(e instanceof SecretFormError || e instanceof ClusterApiError ? `ely-step: ${e.message}` : `ely-step: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}

if (require.main === module) main();
