/**
 * `ely secrets`: the secret material a new cluster needs, made with Consul's own tools
 * (`consul tls ca create`, `consul tls cert create`, `consul keygen`): no crypto of ours.
 *
 * Layout of the secrets directory (0700; every file 0600), outside the repository:
 *   ca.pem, ca-key.pem                      the cluster CA (the key signs new certificates)
 *   nodes/<host>/consul.pem, consul-key.pem  the node's Consul certificate (server.<dc>.consul or client.<dc>.consul)
 *   nodes/<host>/nomad.pem, nomad-key.pem    the node's Nomad certificate (server.<region>.nomad or client.<region>.nomad)
 *   nodes/<host>/node.key                    a netbooted client's key ("<host>:<64 hex>"), also on its key disk
 *   util/secrets-server.pem, -key.pem        the util node's secrets server (HTTPS; names the util node's address)
 *   gossip/consul.key, gossip/nomad.key      the gossip encryption keys
 *   ely.tfvars.json                          the plan's sensitive variables, made from the files above
 * The directory is built in a temporary sibling and renamed into place: a failure leaves
 * nothing half-made, and an existing directory is never overwritten.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { defaultAgentBinDir } from "../images/agents";
import { bootModeOf, Inventory, utilNodeOf } from "../nodes";
import { KEY_DISK_CA, KEY_DISK_LABEL, KEY_DISK_NODE_KEY, NODE_KEY_PATTERN } from "../nodes/secret-delivery";
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
async function makeCertificate(consul: string, dir: string, inventory: Inventory, node: NodeCertificate, agent: "consul" | "nomad", out = path.join("nodes", node.hostname, agent)): Promise<void> {
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
    writePrivate(path.join(dir, `${out}.pem`), fs.readFileSync(path.join(work, cert), "utf8"));
    writePrivate(path.join(dir, `${out}-key.pem`), fs.readFileSync(path.join(work, cert.replace(/\.pem$/, "-key.pem")), "utf8"));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The netbooted clients: each fetches its secrets at boot with its own key (nodes/secret-delivery.ts). */
export function netbootedClients(inventory: Inventory): string[] {
  return inventory.nodes.filter((n) => n.role === "client" && bootModeOf(n) === "netboot").map((n) => n.hostname);
}

/** The util node's secrets server certificate: a client certificate of the cluster CA naming the util node. */
const SECRETS_SERVER_CERT = path.join("util", "secrets-server");

/** A new node key: 32 random bytes, hex. */
function newNodeKey(hostname: string): string {
  return `${hostname}:${crypto.randomBytes(32).toString("hex")}\n`;
}

/** The key of a netbooted node, from nodes/<host>/node.key ("<host>:<key>"). */
export function readNodeKey(dir: string, hostname: string): string {
  const file = path.join(dir, "nodes", hostname, "node.key");
  const [name, key] = fs.readFileSync(file, "utf8").trim().split(":");
  if (name !== hostname || !NODE_KEY_PATTERN.test(key ?? "")) throw new SecretsError(`${file}: expected "${hostname}:<64 hex digits>", received another shape`);
  return key;
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
  const clients = netbootedClients(inventory);
  if (clients.length > 0 && usesSecrets(inventory)) {
    const nodes: Record<string, Record<string, string>> = {};
    for (const host of clients) {
      nodes[host] = { key: readNodeKey(dir, host), nomad_cert: read("nodes", host, "nomad.pem"), nomad_key: read("nodes", host, "nomad-key.pem") };
    }
    vars.netboot_node_secrets = nodes;
    vars.secrets_service_tls = { cert: read(`${SECRETS_SERVER_CERT}.pem`), key: read(`${SECRETS_SERVER_CERT}-key.pem`) };
  }
  return vars;
}

function usesSecrets(inventory: Inventory): boolean {
  const s = inventory.security;
  return s.gossipEncryption || s.tls || s.acl;
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
    const util = utilNodeOf(options.inventory);
    const clients = netbootedClients(options.inventory);
    if (clients.length > 0 && util) {
      say(`secrets server certificate of ${util.hostname}; keys of ${clients.join(", ")}`);
      await makeCertificate(consul, work, options.inventory, { hostname: util.hostname, kind: "client", ip: util.ip }, "consul", SECRETS_SERVER_CERT);
      for (const host of clients) writePrivate(path.join(work, "nodes", host, "node.key"), newNodeKey(host));
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

/** A new key and Nomad certificate for a netbooted client: after a deploy, its old key opens nothing. */
export async function replaceNodeKey(options: InitOptions & { readonly hostname: string }): Promise<void> {
  const dir = path.resolve(options.dir);
  const clients = netbootedClients(options.inventory);
  if (!clients.includes(options.hostname)) {
    throw new SecretsError(`--node: received ${JSON.stringify(options.hostname)}, expected a netbooted client of the inventory (${clients.join(", ") || "none"})`);
  }
  const file = path.join(dir, "nodes", options.hostname, "node.key");
  writePrivate(`${file}.new`, newNodeKey(options.hostname));
  fs.renameSync(`${file}.new`, file);
  await renewNodeCertificates(options);
}

/** Size of a key disk image: the smallest ext4 mkfs makes comfortably. */
const KEY_DISK_MB = 4;

/**
 * Writes a node's key disk as an ext4 image labelled ELY-KEY holding its key and the cluster CA,
 * made by mkfs.ext4 -d (e2fsprogs): copy it onto a small partition or USB stick of the node
 * (`dd if=<image> of=/dev/<device>`). The image is made beside `out` and renamed into place.
 */
export async function writeKeyDisk(options: { readonly dir: string; readonly inventory: Inventory; readonly hostname: string; readonly out: string }): Promise<void> {
  const dir = path.resolve(options.dir);
  const clients = netbootedClients(options.inventory);
  if (!clients.includes(options.hostname)) {
    throw new SecretsError(`--node: received ${JSON.stringify(options.hostname)}, expected a netbooted client of the inventory (${clients.join(", ") || "none"})`);
  }
  const key = readNodeKey(dir, options.hostname);
  const out = path.resolve(options.out);
  const content = fs.mkdtempSync(path.join(dir, ".key-disk-"));
  const partial = `${out}.partial`;
  try {
    writePrivate(path.join(content, KEY_DISK_NODE_KEY), `${options.hostname}:${key}\n`);
    fs.copyFileSync(path.join(dir, "ca.pem"), path.join(content, KEY_DISK_CA));
    fs.rmSync(partial, { force: true });
    const r = await execa("mkfs.ext4", ["-q", "-F", "-L", KEY_DISK_LABEL, "-d", content, partial, `${KEY_DISK_MB}M`], { reject: false, all: true });
    if (r.exitCode !== 0) throw new SecretsError(`mkfs.ext4 (e2fsprogs) failed making ${partial}: ${(r.all ?? "").trim()}`);
    fs.chmodSync(partial, 0o600);
    fs.renameSync(partial, out);
  } finally {
    fs.rmSync(content, { recursive: true, force: true });
    fs.rmSync(partial, { force: true });
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
  /** A command that renews one node's secrets in the directory, then says what to do next. */
  const nodeCommand = (name: string, description: string, renew: (o: { dir: string; inventory: Inventory; hostname: string }) => Promise<unknown>, done: (dir: string, node: string) => string) =>
    secrets
      .command(name)
      .description(description)
      .requiredOption("--node <hostname>", "the node")
      .option("--dir <dir>", dirOption("<cluster>"))
      .action(async (o: { node: string; dir?: string }) => {
        const inventory = loadInventory();
        const dir = o.dir ?? defaultSecretsDir(inventory.name);
        await renew({ dir, inventory, hostname: o.node });
        console.log(done(dir, o.node));
      });
  nodeCommand("cert", "renew one node's certificates with the cluster CA (then deploy: only that node's secrets step runs)", renewNodeCertificates, (dir, node) => `${dir}: new certificates for ${node}; deploy to deliver them`);
  nodeCommand(
    "node",
    "replace a netbooted client's key and Nomad certificate (then deploy, and write its new key disk): its old key opens nothing any more",
    replaceNodeKey,
    (dir, node) => `${dir}: new key and certificate for ${node}; deploy, then: npx ely secrets key-disk --node ${node} --out ${node}-key.img`,
  );
  secrets
    .command("key-disk")
    .description(`write a netbooted client's key disk: an ext4 image labelled ${KEY_DISK_LABEL} with its key and the cluster CA, to copy onto a small partition or USB stick of the node`)
    .requiredOption("--node <hostname>", "the node")
    .requiredOption("--out <file>", "the image to write (0600)")
    .option("--dir <dir>", dirOption("<cluster>"))
    .action(async (o: { node: string; out: string; dir?: string }) => {
      const inventory = loadInventory();
      const dir = o.dir ?? defaultSecretsDir(inventory.name);
      await writeKeyDisk({ dir, inventory, hostname: o.node, out: o.out });
      console.log(`${o.out}: the key disk of ${o.node}; copy it onto the node's key partition or stick: dd if=${o.out} of=/dev/<device>`);
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
