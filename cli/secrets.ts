/**
 * `ely secrets`: the secret material a new cluster needs, made with Consul's own tools
 * (`consul tls ca create`, `consul tls cert create`, `consul keygen`): no crypto of ours.
 *
 * Layout of the secrets directory (0700; every file 0600), outside the repository:
 *   ca.pem, ca-key.pem                      the cluster CA (the key signs new certificates)
 *   nodes/<host>/consul.pem, consul-key.pem  the node's Consul certificate (server.<dc>.consul or client.<dc>.consul)
 *   nodes/<host>/nomad.pem, nomad-key.pem    the node's Nomad certificate (server.<region>.nomad or client.<region>.nomad)
 *   gossip/consul.key, gossip/nomad.key      the gossip encryption keys
 *   ely.tfvars.json                          the plan's sensitive variables, made from the files above
 * The directory is built in a temporary sibling and renamed into place: a failure leaves
 * nothing half-made, and an existing directory is never overwritten.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { defaultAgentBinDir } from "../images/agents";
import { Inventory } from "../nodes";
import { ROLLOUT_VARIABLES } from "../constructs/rollout/server-rollout";

/** Certificates are valid this long; renew one with `ely secrets cert`. */
export const CERT_DAYS = 825;
export const CA_DAYS = 3650;
export const TFVARS_FILE = "ely.tfvars.json";
export const SECRETS_DIR_ENV = "ELY_SECRETS_DIR";

/** Where a cluster's secrets live by default: $ELY_SECRETS_DIR, else ~/.config/ely/<cluster>. */
export function defaultSecretsDir(cluster: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env[SECRETS_DIR_ENV]) return path.resolve(env[SECRETS_DIR_ENV]!);
  const config = env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config");
  return path.join(config, "ely", cluster);
}

export class SecretsError extends Error {}

/** consul from PATH, else the agent directory ($ELY_AGENT_BIN_DIR or ~/.cache/ely/bin). */
export function consulBinary(env: NodeJS.ProcessEnv = process.env): string {
  for (const dir of [...(env.PATH ?? "").split(path.delimiter).filter(Boolean), defaultAgentBinDir(env)]) {
    const candidate = path.join(dir, "consul");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  throw new SecretsError(
    `consul: not found on PATH nor in ${defaultAgentBinDir(env)}; expected the consul binary (its "tls" and "keygen" commands make the secrets): install it, or run e2e/tools/build-tools.sh`,
  );
}

/** The git work tree holding a directory, if any (secrets must stay out of every repository). */
function workTreeOf(dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, ".git"))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

export interface NodeCertificate {
  readonly hostname: string;
  readonly kind: "server" | "client";
  readonly ip: string;
}

/** The nodes that run agents and need certificates: servers and clients (util runs none). */
export function certificateNodes(inventory: Inventory): NodeCertificate[] {
  return inventory.nodes
    .filter((n) => n.role === "server" || n.role === "client")
    .map((n) => ({ hostname: n.hostname, kind: n.role as "server" | "client", ip: n.ip }));
}

async function run(consul: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await execa(consul, args, { cwd, env: { ...process.env, CONSUL_HTTP_ADDR: "" } });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; shortMessage?: string };
    throw new SecretsError(`consul ${args.slice(0, 3).join(" ")}: ${(err.stderr || err.shortMessage || String(e)).trim().split("\n").slice(-3).join(" ")}`);
  }
}

/** Writes a file readable by its owner only. */
function writePrivate(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

/** Makes a node's certificate for one agent in a scratch directory, then moves it to nodes/<host>/<agent>{,-key}.pem. */
async function makeCertificate(consul: string, dir: string, inventory: Inventory, node: NodeCertificate, agent: "consul" | "nomad"): Promise<void> {
  const work = fs.mkdtempSync(path.join(dir, ".cert-"));
  try {
    fs.copyFileSync(path.join(dir, "ca.pem"), path.join(work, "consul-agent-ca.pem"));
    fs.copyFileSync(path.join(dir, "ca-key.pem"), path.join(work, "consul-agent-ca-key.pem"));
    const args = ["tls", "cert", "create", `-${node.kind}`, "-dc", inventory.datacenter, "-days", String(CERT_DAYS)];
    if (agent === "nomad") args.push("-additional-dnsname", `${node.kind}.${inventory.region}.nomad`);
    args.push("-additional-dnsname", node.hostname, "-additional-ipaddress", node.ip);
    if (inventory.network.internalDomain) args.push("-additional-dnsname", `${node.hostname}.${inventory.network.internalDomain}`);
    await run(consul, args, work);
    const cert = fs.readdirSync(work).find((f) => f.startsWith(`${inventory.datacenter}-${node.kind}-`) && f.endsWith(".pem") && !f.endsWith("-key.pem"));
    if (!cert) throw new SecretsError(`consul tls cert create made no certificate for ${node.hostname} (${agent})`);
    const out = path.join(dir, "nodes", node.hostname);
    writePrivate(path.join(out, `${agent}.pem`), fs.readFileSync(path.join(work, cert), "utf8"));
    writePrivate(path.join(out, `${agent}-key.pem`), fs.readFileSync(path.join(work, cert.replace(/\.pem$/, "-key.pem")), "utf8"));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The plan's sensitive variables from a secrets directory (see ServerRollout's variables). */
export function tfvarsOf(dir: string, inventory: Inventory): Record<string, unknown> {
  const read = (...p: string[]) => fs.readFileSync(path.join(dir, ...p), "utf8");
  const vars: Record<string, unknown> = {};
  if (inventory.security.gossipEncryption) {
    vars[ROLLOUT_VARIABLES.consulGossipKey] = read("gossip", "consul.key").trim();
    vars[ROLLOUT_VARIABLES.nomadGossipKey] = read("gossip", "nomad.key").trim();
  }
  if (inventory.security.tls) {
    vars[ROLLOUT_VARIABLES.tlsCaCert] = read("ca.pem");
    const servers: Record<string, Record<string, string>> = {};
    for (const n of certificateNodes(inventory).filter((c) => c.kind === "server")) {
      servers[n.hostname] = {
        consul_cert: read("nodes", n.hostname, "consul.pem"),
        consul_key: read("nodes", n.hostname, "consul-key.pem"),
        nomad_cert: read("nodes", n.hostname, "nomad.pem"),
        nomad_key: read("nodes", n.hostname, "nomad-key.pem"),
      };
    }
    vars[ROLLOUT_VARIABLES.serverTls] = servers;
  }
  return vars;
}

/** Rewrites the variables file from the directory's files (after a key was replaced by hand), by a rename. */
export function writeTfvars(dir: string, inventory: Inventory): void {
  const tfvars = path.join(dir, TFVARS_FILE);
  writePrivate(`${tfvars}.new`, JSON.stringify(tfvarsOf(dir, inventory), null, 2) + "\n");
  fs.renameSync(`${tfvars}.new`, tfvars);
}

export interface InitOptions {
  readonly dir: string;
  readonly inventory: Inventory;
  readonly consul?: string;
  /** Called with each step's name, for progress lines (never with a secret). */
  readonly progress?: (line: string) => void;
}

/** Creates a new cluster's secrets directory. Refuses an existing directory or one inside a git work tree. */
export async function initSecrets(options: InitOptions): Promise<string[]> {
  const dir = path.resolve(options.dir);
  const tree = workTreeOf(path.dirname(dir));
  if (tree) throw new SecretsError(`--dir: received ${dir}, expected a directory outside any git work tree (it is inside ${tree}): secrets never enter a repository`);
  if (fs.existsSync(dir)) throw new SecretsError(`--dir: received ${dir}, which exists already; expected a new directory (renew one node with \`ely secrets cert --node <host>\`, or move the old directory away)`);
  const consul = options.consul ?? consulBinary();
  const say = options.progress ?? (() => undefined);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  const work = fs.mkdtempSync(path.join(path.dirname(dir), `.${path.basename(dir)}.new-`));
  fs.chmodSync(work, 0o700);
  try {
    say("CA");
    await run(consul, ["tls", "ca", "create", "-days", String(CA_DAYS)], work);
    fs.renameSync(path.join(work, "consul-agent-ca.pem"), path.join(work, "ca.pem"));
    fs.renameSync(path.join(work, "consul-agent-ca-key.pem"), path.join(work, "ca-key.pem"));
    const nodes = certificateNodes(options.inventory);
    for (const node of nodes) {
      say(`certificates of ${node.hostname} (${node.kind})`);
      await makeCertificate(consul, work, options.inventory, node, "consul");
      await makeCertificate(consul, work, options.inventory, node, "nomad");
    }
    say("gossip keys");
    writePrivate(path.join(work, "gossip", "consul.key"), (await run(consul, ["keygen"], work)).trim() + "\n");
    writePrivate(path.join(work, "gossip", "nomad.key"), (await run(consul, ["keygen"], work)).trim() + "\n");
    writePrivate(path.join(work, TFVARS_FILE), JSON.stringify(tfvarsOf(work, options.inventory), null, 2) + "\n");
    for (const f of fs.readdirSync(work, { recursive: true }) as string[]) {
      const full = path.join(work, f);
      fs.chmodSync(full, fs.statSync(full).isDirectory() ? 0o700 : 0o600);
    }
    fs.renameSync(work, dir);
    return nodes.map((n) => n.hostname);
  } catch (e) {
    fs.rmSync(work, { recursive: true, force: true });
    throw e;
  }
}

/** Renews one node's certificates with the cluster CA, in place (each file replaced by a rename). */
export async function renewNodeCertificates(options: InitOptions & { readonly hostname: string }): Promise<void> {
  const dir = path.resolve(options.dir);
  const node = certificateNodes(options.inventory).find((n) => n.hostname === options.hostname);
  if (!node) {
    throw new SecretsError(`--node: received ${JSON.stringify(options.hostname)}, expected a server or client of the inventory (${certificateNodes(options.inventory).map((n) => n.hostname).join(", ")})`);
  }
  if (!fs.existsSync(path.join(dir, "ca-key.pem"))) throw new SecretsError(`--dir: ${dir} holds no ca-key.pem; expected a directory made by \`ely secrets init\``);
  const consul = options.consul ?? consulBinary();
  const work = fs.mkdtempSync(path.join(dir, ".renew-"));
  try {
    fs.copyFileSync(path.join(dir, "ca.pem"), path.join(work, "ca.pem"));
    fs.copyFileSync(path.join(dir, "ca-key.pem"), path.join(work, "ca-key.pem"));
    await makeCertificate(consul, work, options.inventory, node, "consul");
    await makeCertificate(consul, work, options.inventory, node, "nomad");
    const target = path.join(dir, "nodes", node.hostname);
    fs.mkdirSync(target, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(path.join(work, "nodes", node.hostname))) fs.renameSync(path.join(work, "nodes", node.hostname, f), path.join(target, f));
    writeTfvars(dir, options.inventory);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Shell lines that make Terraform (through cdktf) read the variables file: paths only, no secret. */
export function secretsEnvLines(dir: string): string[] {
  const file = path.join(path.resolve(dir), TFVARS_FILE);
  const quoted = `'${file.replace(/'/g, `'\\''`)}'`;
  return ["plan", "apply", "destroy", "refresh"].map((cmd) => `export TF_CLI_ARGS_${cmd}=-var-file=${quoted}`);
}

export function registerSecretsCommand(program: Command, loadInventory: () => Inventory): void {
  const secrets = program.command("secrets").description("create and renew the cluster's secrets (CA, certificates, gossip keys), outside the repository");
  const dirOption = (cluster: string) => `the secrets directory; default: $${SECRETS_DIR_ENV}, else ~/.config/ely/${cluster}`;
  secrets
    .command("init")
    .description("create a new cluster's CA, every node's Consul and Nomad certificates and the gossip keys (files 0600; nothing printed)")
    .option("--dir <dir>", dirOption("<cluster>"))
    .action(async (o: { dir?: string }) => {
      const inventory = loadInventory();
      const dir = o.dir ?? defaultSecretsDir(inventory.name);
      const started = Date.now();
      const nodes = await initSecrets({ dir, inventory, progress: (step) => console.error(`[secrets] ${step} (${((Date.now() - started) / 1000).toFixed(1)}s)`) });
      console.log(`${dir}: CA, gossip keys and certificates of ${nodes.join(", ")}; the plan reads ${TFVARS_FILE}: eval "$(npx ely secrets env)"`);
    });
  secrets
    .command("cert")
    .description("renew one node's certificates with the cluster CA (then deploy: only that node's secrets step runs)")
    .requiredOption("--node <hostname>", "the node")
    .option("--dir <dir>", dirOption("<cluster>"))
    .action(async (o: { node: string; dir?: string }) => {
      const inventory = loadInventory();
      const dir = o.dir ?? defaultSecretsDir(inventory.name);
      await renewNodeCertificates({ dir, inventory, hostname: o.node });
      console.log(`${dir}: new certificates for ${o.node}; deploy to deliver them`);
    });
  secrets
    .command("env")
    .description("rewrite the variables file from the directory's files, and print the export lines that make cdktf diff/deploy read it (paths, never a secret)")
    .option("--dir <dir>", dirOption("<cluster>"))
    .action((o: { dir?: string }) => {
      const inventory = loadInventory();
      const dir = o.dir ?? defaultSecretsDir(inventory.name);
      if (!fs.existsSync(path.join(dir, TFVARS_FILE))) throw new SecretsError(`${dir}: no ${TFVARS_FILE}; expected a directory made by \`ely secrets init\``);
      writeTfvars(dir, inventory);
      console.log(secretsEnvLines(dir).join("\n"));
    });
}
