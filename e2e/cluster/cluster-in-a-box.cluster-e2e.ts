/**
 * The cluster in a box: one `terraform apply` of the synthesized ElyStack (real Terraform, the
 * real consul, nomad and null providers) converges a small real cluster on this machine, on one
 * bridge with a router namespace (e2e/netboot/bridge-network.ts):
 *   - three servers: systemd-nspawn hosts (e2e/ssh-hosts/hosts.ts) rolled out over ssh;
 *   - the util node's role, served by this machine at the bridge's util address: the generated
 *     dnsmasq.conf (proxy DHCP, TFTP), the generated nginx.conf (images, iPXE, agent files) and the
 *     generated secrets server (HTTPS), all published by the apply into a local directory;
 *   - one worker, netbooted in QEMU with the real client image (full profile), its key disk
 *     attached: ACLs, TLS and gossip encryption on.
 * Checked through the agents' HTTP APIs with the tokens and CA of the plan: both clusters have
 * three servers and a leader, the worker is an alive Consul member and a ready Nomad node with
 * the class, meta and build id the inventory and image say, a job placed on it answers HTTP at
 * its Consul registration; after a power cycle the worker comes back with no operator action,
 * and the job runs on it again; an unknown MAC gets the "not in the inventory" script and a
 * request for secrets without a key is refused; a second plan is empty; destroy removes what
 * the plan made in Consul and Nomad and leaves the servers running.
 *
 * Run: npm run test:cluster   (as root; ELY_CLUSTER_KEEP=1 keeps the work directory)
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { App } from "cdktf";
import execa from "execa";
import { ElyStack } from "../../constructs";
import { JobDefinition } from "../../jobs";
import { initSecrets, TFVARS_FILE, writeKeyDisk } from "../../cli/secrets";
import { BUILD_ID_META } from "../../images/rootfs-files";
import { InventoryInput, nodeClassOf, parseInventory } from "../../nodes";
import { secretsBundleUrlPath } from "../../nodes/secret-delivery";
import { SshHosts } from "../ssh-hosts/hosts";
import { toolsEnv } from "../tools-env";
import { BridgeNetwork, bridgeNames, startBridgeNetwork } from "../netboot/bridge-network";
import { RunningQemu, startQemu, tailOf, waitForSerial } from "../netboot/qemu";
import { letWorkersRead, startUtilNginx, UtilNginx } from "../netboot/util-nginx";
import { INITRD_FATAL } from "../../images/initrd-files";

const root = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-cluster-"));
const started = Date.now();
const SERVERS = ["s1", "s2", "s3"];
const NET = "10.26.90";
const UTIL_IP = `${NET}.4`;
const WORKER = { hostname: "w1", ip: `${NET}.21`, mac: "52:54:00:e1:00:21" };
/** A machine on the same LAN that the inventory does not know. */
const STRANGER = { mac: "52:54:00:e1:00:99", ip: `${NET}.99`, tap: `elycx${process.pid % 100000}` };
const HTTP_PORT = 8080;
const SECRETS_PORT = 8443;
const DATACENTER = "box";
const JOB = "hello-box";
/** The boot failed, or the node says it cannot get its secrets (the unit retries a refusal: that is not fatal). */
const SECRETS_FAILED = new RegExp(`${INITRD_FATAL}|ely-secrets: (no ely\\.secrets=|no key disk|cannot mount|the key disk (holds no|is ))`);

function progress(step: string): void {
  process.stderr.write(`[cluster] ${step} (${Math.round((Date.now() - started) / 1000)}s)\n`);
}

/** A web server from the image's busybox: the job needs nothing but the client's raw_exec driver. */
const helloJob: JobDefinition = {
  id: JOB,
  props: () => ({
    driver: "raw_exec",
    command: "/bin/busybox",
    args: ["httpd", "-f", "-p", "${NOMAD_IP_http}:${NOMAD_PORT_http}", "-h", "${NOMAD_TASK_DIR}"],
    cpuMhz: 50,
    memoryMb: 32,
    ports: [{ label: "http" }],
    templates: [{ destination: "local/index.html", data: "hello from the box\n" }],
    checks: [{ type: "http", port: "http", path: "/index.html", intervalSeconds: 2 }],
  }),
};

function inventoryInput(secretsDir: string): InventoryInput {
  return {
    name: "box",
    datacenter: DATACENTER,
    region: "global",
    network: { subnet: `${NET}.0/24`, gateway: `${NET}.1`, internalDomain: "box.ely.test", servicesDomain: "apps.box.ely.test", ingressAddress: `${NET}.5` },
    security: { acl: true, tls: true, gossipEncryption: true },
    versions: { consul: "1.16.3", nomad: "1.6.3" },
    endpoints: { consul: `https://${NET}.11:8501`, nomad: `https://${NET}.11:4646`, caFile: path.join(secretsDir, "ca.pem") },
    nodes: [
      { hostname: "util", role: "util", arch: "amd64", ip: UTIL_IP, boot: "local", hardware: { model: "this machine", cores: 2, cpuMhz: 2000, memoryMb: 2048 } },
      ...SERVERS.map((h, i) => ({ hostname: h, role: "server" as const, arch: "amd64" as const, ip: `${NET}.${11 + i}`, boot: "ssh" as const, ssh: { user: "root", port: 22 } })),
      {
        hostname: WORKER.hostname,
        role: "client",
        arch: "amd64",
        ip: WORKER.ip,
        mac: WORKER.mac,
        drivers: ["raw_exec"],
        hardware: { model: "QEMU", cores: 2, cpuMhz: 2000, memoryMb: 3072 },
      },
    ],
  } as InventoryInput;
}

let env: NodeJS.ProcessEnv;
let hosts: SshHosts;
let network: BridgeNetwork | undefined;
let stack: ElyStack;
let stackDir: string;
let tfvars: Record<string, unknown>;
let ca: string;
const tokens = { consul: crypto.randomUUID(), nomad: crypto.randomUUID() };
const util: { boot?: UtilNginx; secrets?: UtilNginx } = {};
let qemu: RunningQemu | undefined;
let keyDisk: string;
const serialLogs: string[] = [];
/** Boot phases, by the serial line that marks them (the first line that matches), as the netboot bench splits them. */
const PHASES: ReadonlyArray<[string, RegExp]> = [
  ["ipxe", /iPXE/],
  ["kernel", /Linux version /],
  ["ramroot-unpacked", /ely-initrd: unpacked /],
  ["systemd", /Welcome to /],
  ["node-up", /ELY-NODE-UP/],
  ["secrets", /ely-secrets: secrets of w1 in place/],
];
/** Seconds after power-on of each phase, per boot; written to $ELY_CLUSTER_REPORT when set (BENCHMARKS.md takes them from there). */
const phases: Record<string, Record<string, number>> = {};

/** Waits for the worker's secrets on the serial console, noting each boot phase's time. */
async function waitForSecrets(label: string, serialLog: string, vm: RunningQemu, poweredOn: number) {
  const seen: Record<string, number> = (phases[label] = {});
  const result = await waitForSerial(serialLog, /ely-secrets: secrets of w1 in place/, SECRETS_FAILED, vm, 1_500_000, (line) => {
    for (const [name, pattern] of PHASES) if (seen[name] === undefined && pattern.test(line)) seen[name] = Math.round((Date.now() - poweredOn) / 100) / 10;
  });
  return result;
}

function notePhase(label: string, name: string, poweredOn: number): void {
  phases[label][name] = Math.round((Date.now() - poweredOn) / 100) / 10;
  progress(`${label}: ${name} ${phases[label][name]} s after power-on`);
}

/** The steps build on each other: after the first failure the rest fail at once, saying so. */
let failedStep: string | undefined;

function step(name: string, fn: () => Promise<void>, timeoutMs = 600_000): void {
  test(name, async () => {
    if (failedStep) throw new Error(`not run: an earlier step failed (${failedStep})`);
    try {
      await fn();
    } catch (e) {
      failedStep = name;
      throw e;
    }
  }, timeoutMs);
}

function terraform(args: string[], stream = false) {
  const child = execa(env.TERRAFORM_BINARY_NAME || "terraform", args, { cwd: stackDir, env, reject: false, all: true });
  if (stream) {
    child.all!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter((l) => /\[ely-|Creation complete|Destruction complete|Error|ely-build|ely-publish/.test(l))) process.stderr.write(`  ${line.trim().slice(0, 200)}\n`);
    });
  }
  return child;
}

/** GET over HTTPS with the cluster CA and a token (X-Consul-Token / X-Nomad-Token). */
function api<T>(url: string, token: string): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, headers: { "X-Consul-Token": token, "X-Nomad-Token": token }, timeout: 10_000 }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body: body as T });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

const consul = <T>(p: string) => api<T>(`https://${NET}.11:8501${p}`, tokens.consul).then((r) => r.body);
const nomad = <T>(p: string) => api<T>(`https://${NET}.11:4646${p}`, tokens.nomad).then((r) => r.body);

function plainGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

async function until<T>(what: string, timeoutS: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutS * 1000;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutS} s${last ? ` (last error: ${(last as Error).message})` : ""}\n--- worker serial:\n${serialLogs.length ? tailOf(serialLogs[serialLogs.length - 1], 40) : "(none)"}`);
    await new Promise((r) => setTimeout(r, 3000));
  }
}

interface NomadNode {
  ID: string;
  Name: string;
  Status: string;
  SchedulingEligibility: string;
  NodeClass: string;
}

async function readyWorker(notId?: string): Promise<NomadNode> {
  return until(`${WORKER.hostname} a ready Nomad node`, 900, async () => {
    const nodes = await nomad<NomadNode[]>("/v1/nodes");
    return nodes.find((n) => n.Name === WORKER.hostname && n.Status === "ready" && n.ID !== notId);
  });
}

function bootWorker(label: string): RunningQemu {
  const serialLog = path.join(work, `w1-${label}.serial.log`);
  serialLogs.push(serialLog);
  progress(`QEMU: ${WORKER.hostname} (${WORKER.mac}) powers on (${label})`);
  return startQemu({
    subnetCidr: `${NET}.0/24`,
    hostAddress: UTIL_IP,
    dhcpStart: WORKER.ip,
    mac: WORKER.mac,
    tftpDir: "/nonexistent",
    bootFile: "unused",
    forwards: [],
    memoryMb: 3072,
    cpus: Math.min(2, os.cpus().length),
    serialLog,
    tap: network!.tap,
    disks: [{ file: keyDisk, serial: "ELY-KEY-W1" }],
  });
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the cluster suite needs root (network namespaces, systemd-nspawn, tap devices, QEMU)");
  env = { ...process.env, ...(await toolsEnv(root, progress)), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", ELY_PROJECT_DIR: root, ELY_PUBLISH_SERVICES: "0" };
  process.env.ELY_AGENT_BIN_DIR = env.ELY_AGENT_BIN_DIR;
  letWorkersRead(work);

  const secretsDir = path.join(work, "secrets");
  const inventory = parseInventory(inventoryInput(secretsDir), "cluster-in-a-box");
  progress("secrets: ely secrets init (consul tls, consul keygen)");
  await initSecrets({ dir: secretsDir, inventory, progress: (s) => progress(`secrets: ${s}`) });
  tfvars = JSON.parse(fs.readFileSync(path.join(secretsDir, TFVARS_FILE), "utf8"));
  ca = fs.readFileSync(path.join(secretsDir, "ca.pem"), "utf8");
  keyDisk = path.join(work, "w1-key.img");
  await writeKeyDisk({ dir: secretsDir, inventory, hostname: WORKER.hostname, out: keyDisk });
  Object.assign(env, {
    TF_CLI_ARGS_plan: `-var-file=${path.join(secretsDir, TFVARS_FILE)}`,
    TF_CLI_ARGS_apply: `-var-file=${path.join(secretsDir, TFVARS_FILE)}`,
    TF_CLI_ARGS_destroy: `-var-file=${path.join(secretsDir, TFVARS_FILE)}`,
    TF_VAR_consul_token: tokens.consul,
    TF_VAR_nomad_token: tokens.nomad,
    // The Nomad servers use the operator token with Consul here.
    TF_VAR_nomad_server_consul_token: tokens.consul,
  });

  const names = bridgeNames();
  progress(`network: bridge ${names.bridge} (${NET}.0/24), router ${names.router}, tap ${names.tap}`);
  network = await startBridgeNetwork({
    names,
    utilAddress: UTIL_IP,
    prefixLength: 24,
    gateway: `${NET}.1`,
    node: { mac: WORKER.mac, ip: WORKER.ip },
    otherMachines: [{ mac: STRANGER.mac, ip: STRANGER.ip }],
    stateDir: path.join(work, "network"),
  });
  execa.sync("ip", ["tuntap", "add", STRANGER.tap, "mode", "tap"]);
  execa.sync("ip", ["link", "set", STRANGER.tap, "master", names.bridge, "up"]);
  hosts = new SshHosts({
    hostnames: SERVERS,
    workDir: path.join(work, "ssh"),
    log: (l) => progress(l),
    network: { bridge: names.bridge, gateway: `${NET}.1`, prefixLength: 24, ips: Object.fromEntries(SERVERS.map((h, i) => [h, `${NET}.${11 + i}`])) },
  });
  progress("servers: three systemd-nspawn hosts on the bridge");
  await hosts.start();
  env.ELY_SSH_CONFIG = hosts.sshConfigFile;

  progress("synth: ElyStack of the box's inventory");
  const utilRoot = path.join(work, "util-root");
  fs.mkdirSync(utilRoot, { recursive: true });
  const app = new App({ outdir: path.join(work, "cdktf.out") });
  stack = new ElyStack(app, "box", {
    inventory,
    jobs: [helloJob],
    netboot: {
      imageProfile: "full",
      publishTarget: utilRoot,
      remoteRoot: utilRoot,
      httpPort: HTTP_PORT,
      httpListen: `${UTIL_IP}:${HTTP_PORT}`,
      httpStateDir: path.join(work, "nginx-boot"),
      dhcpInterface: names.bridge,
      artifactsDir: process.env.ELY_CLUSTER_ARTIFACTS_DIR || path.join(os.homedir(), ".cache", "ely", "images"),
    },
    nodeSecrets: { listen: `${UTIL_IP}:${SECRETS_PORT}`, stateDir: path.join(work, "nginx-secrets"), group: "nogroup", workerUser: "nobody" },
  });
  const errors = stack.node.findAll().flatMap((c) => c.node.validate());
  if (errors.length) throw new Error(`the box's stack does not validate:\n${errors.join("\n")}`);
  app.synth();
  stackDir = path.join(work, "cdktf.out", "stacks", "box");
  for (const d of ["nginx-boot", "nginx-secrets"]) fs.mkdirSync(path.join(work, d), { recursive: true });
  progress("terraform init");
  const init = await terraform(["init", "-input=false", "-no-color"]);
  if (init.exitCode !== 0) throw new Error(`terraform init failed:\n${init.all}`);
}, 900_000);

afterAll(async () => {
  for (const [label, times] of Object.entries(phases)) progress(`phases (${label}), s after power-on: ${Object.entries(times).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (process.env.ELY_CLUSTER_REPORT) fs.writeFileSync(process.env.ELY_CLUSTER_REPORT, JSON.stringify(phases, null, 2) + "\n");
  progress("stopping: QEMU, the util services, the servers, the network");
  await qemu?.kill();
  await util.boot?.close();
  await util.secrets?.close();
  await hosts?.stop().catch((e) => progress(`servers: ${e.message}`));
  execa.sync("ip", ["link", "del", STRANGER.tap], { reject: false });
  await network?.stop();
  if (!process.env.ELY_CLUSTER_KEEP) fs.rmSync(work, { recursive: true, force: true });
  else progress(`kept ${work}`);
}, 180_000);

describe("the cluster in a box", () => {
  step("one apply converges the servers, the util node's boot and secrets services, the ACLs and the job", async () => {
    progress("terraform apply (image build, publish, server rollout, ACLs, secrets, job)");
    const r = await terraform(["apply", "-auto-approve", "-input=false", "-no-color"], true);
    expect({ exit: r.exitCode, tail: r.exitCode === 0 ? "" : (r.all ?? "").split("\n").slice(-60).join("\n") }).toEqual({ exit: 0, tail: "" });
    // Nothing secret in what Terraform printed.
    const out = r.all ?? "";
    const nodeSecrets = tfvars.netboot_node_secrets as Record<string, { key: string }>;
    expect(out).not.toContain(nodeSecrets.w1.key);
    expect(out).not.toContain(tokens.consul);
    expect(out).not.toMatch(/PRIVATE KEY/);

    const utilRoot = path.join(work, "util-root");
    util.boot = await startUtilNginx(path.join(utilRoot, "boot", "current", "nginx.conf"), HTTP_PORT, path.join(work, "nginx-boot"), UTIL_IP);
    util.secrets = await startUtilNginx(path.join(utilRoot, "secrets", "nginx.conf"), SECRETS_PORT, path.join(work, "nginx-secrets"), UTIL_IP);
    await network!.startUtilDnsmasq(path.join(utilRoot, "boot", "current", "dnsmasq.conf"));

    const peers = await consul<string[]>("/v1/status/peers");
    expect(peers.map((p) => p.split(":")[0]).sort()).toEqual([`${NET}.11`, `${NET}.12`, `${NET}.13`]);
    expect(await consul<string>("/v1/status/leader")).toMatch(/^10\.26\.90\.1[123]:8300$/);
    expect((await nomad<string[]>("/v1/status/peers")).length).toBe(3);
    expect(await nomad<string>("/v1/status/leader")).toMatch(/^10\.26\.90\.1[123]:4647$/);
  }, 3_600_000);

  step("a request for secrets without the node's key is refused; an unknown MAC gets the 'not in the inventory' script", async () => {
    const noKey = await new Promise<number>((resolve, reject) =>
      https.get(`https://${UTIL_IP}:${SECRETS_PORT}${secretsBundleUrlPath(WORKER.hostname)}`, { ca }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject),
    );
    expect(noKey).toBe(401);
    const unknown = await plainGet(`http://${UTIL_IP}:${HTTP_PORT}/ipxe/52-54-00-00-00-99.ipxe`);
    expect(unknown.status).toBe(200);
    expect(unknown.body).toContain("is not in the Ely inventory");
    expect(unknown.body).not.toContain("ely.secrets");
  });

  step("a machine with a MAC the inventory does not know boots to the 'not in the inventory' script, and asks for no secret", async () => {
    const serialLog = path.join(work, "stranger.serial.log");
    // The secrets server's own access log (renderSecretsNginxConf: secrets-access.log in its state directory).
    const secretsLog = path.join(work, "nginx-secrets", "secrets-access.log");
    const secretRequests = () => (fs.existsSync(secretsLog) ? fs.readFileSync(secretsLog, "utf8").split("\n").filter(Boolean).length : 0);
    const before = secretRequests();
    expect(before).toBeGreaterThan(0); // the earlier step's refused request is there: the log is the right one
    progress(`QEMU: a machine the inventory does not know (${STRANGER.mac}) powers on`);
    const stranger = startQemu({
      subnetCidr: `${NET}.0/24`,
      hostAddress: UTIL_IP,
      dhcpStart: STRANGER.ip,
      mac: STRANGER.mac,
      tftpDir: "/nonexistent",
      bootFile: "unused",
      forwards: [],
      memoryMb: 512,
      cpus: 1,
      serialLog,
      tap: STRANGER.tap,
    });
    try {
      // iPXE prints on VGA only: the util node's dnsmasq says what it answered. A MAC the inventory does not know
      // gets the "not in the inventory" script over TFTP at once (dnsmasq.conf), never the chain to a node's script.
      const sent = new RegExp(`sent \\S+/tftp/(\\S+) to ${STRANGER.ip.replace(/\./g, "\\.")}`, "g");
      const scripts = await until("the stranger's boot script from the util node's TFTP", 300, async () => {
        const names = [...network!.utilDnsmasqLog().matchAll(sent)].map((m) => m[1]);
        return names.some((n) => n.endsWith(".ipxe")) ? names : undefined;
      });
      expect(scripts.filter((n) => n.endsWith(".ipxe"))).toEqual(["unknown.ipxe"]);
      const fallback = fs.readFileSync(path.join(work, "util-root", "boot", "current", "tftp", "unknown.ipxe"), "utf8");
      expect(fallback).toContain("is not in the Ely inventory");
      expect(fallback).not.toMatch(/^kernel /m);
      await new Promise((r) => setTimeout(r, 10_000));
      expect(util.boot!.requests().filter((r) => r.path.startsWith("/images/")).length).toBe(0);
      expect(secretRequests()).toBe(before);
    } finally {
      await stranger.kill();
    }
  });

  let firstNode: NomadNode;
  step("the netbooted worker gets its secrets, joins Consul and Nomad, and runs the job, answering at its Consul address", async () => {
    const poweredOn = Date.now();
    qemu = bootWorker("first boot");
    const booted = await waitForSecrets("first boot", serialLogs[0], qemu, poweredOn);
    expect({ found: booted.found, reason: booted.reason, tail: booted.found ? "" : tailOf(serialLogs[0], 40) }).toEqual({ found: true, reason: "marker", tail: "" });
    progress(`w1: secrets in place after ${Math.round(booted.elapsedMs / 1000)} s`);
    await until(`${WORKER.hostname} an alive Consul member`, 600, async () => {
      const members = await consul<Array<{ Name: string; Status: number }>>("/v1/agent/members");
      return members.find((m) => m.Name === WORKER.hostname && m.Status === 1);
    });
    notePhase("first boot", "consul-member", poweredOn);
    firstNode = await readyWorker();
    notePhase("first boot", "nomad-ready", poweredOn);
    const node = await nomad<{ NodeClass: string; Meta: Record<string, string> }>(`/v1/node/${firstNode.ID}`);
    expect(node.NodeClass).toBe(nodeClassOf(stack.cluster.nodes.get("w1")!.spec));
    expect(node.Meta[BUILD_ID_META]).toBe(stack.netboot.entryOf("w1")!.buildId);
    expect(node.Meta.ely_image).toBe("client-amd64");
    await answersAtConsulAddress(firstNode.ID);
    notePhase("first boot", "job-answers", poweredOn);
  }, 2_400_000);

  step("power cycled, the worker boots again, gets its secrets with no operator action, rejoins, and the job runs on it again", async () => {
    await qemu!.kill();
    const poweredOn = Date.now();
    qemu = bootWorker("after power cycle");
    const booted = await waitForSecrets("after power cycle", serialLogs[1], qemu, poweredOn);
    expect({ found: booted.found, tail: booted.found ? "" : tailOf(serialLogs[1], 40) }).toEqual({ found: true, tail: "" });
    const again = await readyWorker(firstNode.ID);
    notePhase("after power cycle", "nomad-ready", poweredOn);
    await answersAtConsulAddress(again.ID);
    notePhase("after power cycle", "job-answers", poweredOn);
  }, 2_400_000);

  step("a second plan is empty", async () => {
    const r = await terraform(["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    expect({ exit: r.exitCode, changes: r.exitCode === 0 ? "" : (r.all ?? "").split("\n").filter((l) => /will be|must be/.test(l)).join("\n") }).toEqual({ exit: 0, changes: "" });
  }, 600_000);

  step("destroy removes the job and the ACLs the plan made, and leaves the servers running with their leader", async () => {
    await qemu!.kill();
    const r = await terraform(["destroy", "-auto-approve", "-input=false", "-no-color"], true);
    expect({ exit: r.exitCode, tail: r.exitCode === 0 ? "" : (r.all ?? "").split("\n").slice(-40).join("\n") }).toEqual({ exit: 0, tail: "" });
    const jobs = await nomad<Array<{ Name: string; Status: string }>>("/v1/jobs");
    expect(jobs.filter((j) => j.Name === JOB && j.Status !== "dead")).toEqual([]);
    const policies = await consul<Array<{ Name: string }>>("/v1/acl/policies");
    expect(policies.map((p) => p.Name).filter((n) => n.startsWith("nomad-"))).toEqual([]);
    expect((await consul<string[]>("/v1/status/peers")).length).toBe(3);
    expect(await nomad<string>("/v1/status/leader")).toMatch(/:4647$/);
  }, 1_200_000);
});

/** The job's allocation runs on the node, its service passes in Consul, and answers at the registered address. */
async function answersAtConsulAddress(nodeId: string): Promise<void> {
  await until(`${JOB} running on ${WORKER.hostname}`, 600, async () => {
    const allocs = await nomad<Array<{ NodeID: string; ClientStatus: string }>>(`/v1/job/${JOB}/allocations`);
    return allocs.find((a) => a.NodeID === nodeId && a.ClientStatus === "running");
  });
  const entry = await until(`${JOB} passing in Consul`, 300, async () => {
    const services = await consul<Array<{ Service: { Address: string; Port: number } }>>(`/v1/health/service/${JOB}?passing=true`);
    return services[0]?.Service;
  });
  expect(entry.Address).toBe(WORKER.ip);
  const page = await plainGet(`http://${entry.Address}:${entry.Port}/index.html`);
  expect(page).toEqual({ status: 200, body: "hello from the box\n" });
}
