/**
 * The cluster in a box: `cdktf deploy` (the cdktf CLI, real Terraform, the real consul, nomad and
 * null providers) of the box's ElyStack (box.ts, run by box-app.ts) converges a small real cluster
 * on this machine, on one bridge with a router namespace (e2e/netboot/bridge-network.ts):
 *   - three servers: systemd-nspawn hosts (e2e/ssh-hosts/hosts.ts) rolled out over ssh;
 *   - the util node's role, served by this machine at the bridge's util address: the generated
 *     dnsmasq.conf (proxy DHCP, TFTP), the generated nginx.conf (images, iPXE, agent files) and the
 *     generated secrets server (HTTPS), all published by the deploy into a local directory;
 *   - two workers, netbooted in QEMU with the real client image (full profile), each with its key
 *     disk: ACLs, TLS and gossip encryption on. w1 follows the image channel "latest" (the canary),
 *     w2 "stable".
 * Checked through the agents' HTTP APIs with the tokens and CA of the plan: both clusters have
 * three servers and a leader, the Nomad servers registered in Consul with the token the plan made
 * for them, each worker is an alive Consul member and a ready Nomad node with the class, meta and
 * build id the inventory and image say, a job with an allocation on each worker answers HTTP at
 * its Consul registrations; after a power cycle a worker comes back with no operator action and
 * the job runs on it again; an unknown MAC gets the "not in the inventory" script and a request
 * for secrets without a key is refused; a second `cdktf diff` is empty. Day 2: a new image
 * revision, deployed, drains the canary (w1), reboots it over ssh onto the new build while w2 stays
 * on stable, the job keeping a passing allocation at every moment; promoting stable then moves w2
 * alone, the same way; the diff is empty after each. `cdktf destroy` removes what the plan made in
 * Consul and Nomad and leaves the servers running.
 *
 * Run: npm run test:cluster   (as root; ELY_CLUSTER_KEEP=1 keeps the work directory)
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { ClusterApi } from "../../cli/cluster-api";
import { initSecrets, TFVARS_FILE, writeKeyDisk } from "../../cli/secrets";
import { BUILD_ID_META } from "../../images/rootfs-files";
import { ipxeScriptUrlPath } from "../../images/layout";
import { Inventory, nodeClassOf, parseInventory } from "../../nodes";
import { secretsBundleUrlPath } from "../../nodes/secret-delivery";
import { SshHosts } from "../ssh-hosts/hosts";
import { toolsEnv } from "../tools-env";
import { BridgeNetwork, bridgeNames, startBridgeNetwork } from "../netboot/bridge-network";
import { RADVD_CONFIG_SCRIPT } from "../../constructs/netboot/router-advertisement";
import { startQemu, tailOf, waitForSerial } from "../netboot/qemu";
import { letWorkersRead, startUtilNginx, UtilNginx } from "../netboot/util-nginx";
import { INITRD_FATAL } from "../../images/initrd-files";
import { BOX_CONFIG_ENV, BoxConfig, boxInventory, BoxWorker, HTTP_PORT, JOB, NET, SECRETS_PORT, SERVERS, STACK, UTIL_IP, WORKERS } from "./box";
import { calibrate } from "./tcg-calibration";
import { WorkerMachine } from "./worker-machine";

const root = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-cluster-"));
const started = Date.now();
const [W1, W2] = WORKERS;
/** A machine on the same LAN that the inventory does not know. */
const STRANGER = { mac: "52:54:00:e1:00:99", ip: `${NET}.99`, tap: `elycx${process.pid % 100000}` };
/** The image revisions of the day-2 steps: "r2" adds one package to the client image. */
const R1 = { name: "r1" };
const R2 = { name: "r2", extraPackages: { "client-amd64": ["tree"] } };
/** The boot failed, or the node says it cannot get its secrets (the unit retries a refusal: that is not fatal). */
const SECRETS_FAILED = new RegExp(`${INITRD_FATAL}|ely-secrets: (no ely\\.secrets=|no key disk|cannot mount|the key disk (holds no|is ))`);

function progress(step: string): void {
  process.stderr.write(`[cluster] ${step} (${Math.round((Date.now() - started) / 1000)}s)\n`);
}

let env: NodeJS.ProcessEnv;
let hosts: SshHosts;
let network: BridgeNetwork | undefined;
let config: BoxConfig;
let inventory: Inventory;
let tfvars: Record<string, unknown>;
let ca: string;
const tokens = { consul: crypto.randomUUID(), nomad: crypto.randomUUID() };
const util: { boot?: UtilNginx; secrets?: UtilNginx } = {};
const machines = new Map<string, WorkerMachine>();
const extraTaps: string[] = [];
const configFile = path.join(work, "box.json");
const outDir = path.join(work, "cdktf.out");
const stackDir = path.join(outDir, "stacks", STACK);
/**
 * Boot phases, by the serial line that marks them (the first line that matches), as the netboot bench splits them.
 * iPXE prints on VGA only: its phase, "ipxe-script", is the util node's HTTP request for the worker's script.
 */
const PHASES: ReadonlyArray<[string, RegExp]> = [
  ["kernel", /Linux version /],
  ["ramroot-unpacked", /ely-initrd: unpacked /],
  ["systemd", /Welcome to /],
  ["node-up", /ELY-NODE-UP/],
  ["secrets", /ely-secrets: secrets of w\d in place/],
];
/** Seconds after power-on of each phase, per boot; written to $ELY_CLUSTER_REPORT when set (BENCHMARKS.md takes them from there). */
const phases: Record<string, Record<string, number>> = {};

/** Waits for a worker's secrets on the serial console of its current boot, noting each boot phase's time. */
async function waitForSecrets(label: string, m: WorkerMachine, hostname: string) {
  const seen: Record<string, number> = (phases[label] = {});
  const poweredOn = m.poweredOn[m.poweredOn.length - 1];
  const marker = new RegExp(`ely-secrets: secrets of ${hostname} in place`);
  const result = await waitForSerial(m.serialLog, marker, SECRETS_FAILED, m.qemu, 1_500_000, (line) => {
    for (const [name, pattern] of PHASES) if (seen[name] === undefined && pattern.test(line)) seen[name] = Math.round((Date.now() - poweredOn) / 100) / 10;
  });
  expect({ host: hostname, found: result.found, reason: result.reason, tail: result.found ? "" : tailOf(m.serialLog, 40) }).toEqual({ host: hostname, found: true, reason: "marker", tail: "" });
  // Firmware and iPXE (its DHCP, its IPv6 configuration, the TFTP chain script) end at the request for this MAC's script.
  const mac = WORKERS.find((w) => w.hostname === hostname)!.mac;
  const script = util.boot?.requests().find((r) => r.path === ipxeScriptUrlPath(mac) && r.atMs >= poweredOn);
  if (script) phases[label] = { "ipxe-script": Math.round((script.atMs - poweredOn) / 100) / 10, ...seen };
  progress(`${hostname}: secrets in place after ${Math.round((Date.now() - poweredOn) / 1000)} s`);
}

/** Each boot's userspace as the worker's systemd and agents saw it, by label; written beside $ELY_CLUSTER_REPORT. */
const bootAnalyses: Record<string, string> = {};

/**
 * Runs a command on a worker as root over ssh (the key the reimage uses). A worker makes new host
 * keys at every boot, so no known host is kept for it.
 */
function sshWorker(w: BoxWorker, command: string, timeoutMs: number) {
  const options = ["-F", hosts.sshConfigFile, "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"];
  return execa("ssh", [...options, `root@${w.ip}`, command], { reject: false, all: true, timeout: timeoutMs });
}

/**
 * What a worker's userspace spent its time on, asked over ssh once it is ready: each boot unit's
 * start, ready and CPU time, the slowest units once the boot has finished, and the agents' own
 * lines of joining and registering (monotonic seconds since its kernel started). Shown in the
 * progress; BENCHMARKS.md reads it.
 */
async function analyseBoot(label: string, w: BoxWorker): Promise<void> {
  // systemd-analyze answers only once the boot has finished, and the agents' report may still be waiting then:
  // each unit's start and ready (seconds since the kernel started) and CPU time, from systemd's own timestamps.
  const units = ["apparmor", "systemd-udevd", "systemd-networkd", "systemd-networkd-wait-online", "containerd", "docker", "ely-agent-config", "ely-storage", "ely-secrets", "ely-node-up", "consul", "nomad"];
  const script = [
    "echo \"userspace $(( $(systemctl show -p UserspaceTimestampMonotonic --value) / 1000 )) ms\"",
    `for u in ${units.join(" ")}; do p() { systemctl show -p "$1" --value "$u.service"; }; awk -v u="$u" -v s="$(p InactiveExitTimestampMonotonic)" -v a="$(p ActiveEnterTimestampMonotonic)" -v c="$(p CPUUsageNSec)" -v l="$(p LoadState)" 'BEGIN { printf "%-30s start %7.1f s  active %7.1f s  cpu %6.1f s  %s\\n", u, s / 1e6, a / 1e6, (c ~ /^[0-9]+$/ ? c / 1e9 : 0), l }'; done`,
    "echo '--- blame (once the boot has finished)'",
    "systemd-analyze blame --no-pager 2>/dev/null | head -15",
    "echo '--- agents'",
    "journalctl -b -o short-monotonic --no-pager -u consul -u nomad | grep -iE 'join|registered|registration|fingerprint|started|auto.encrypt' | grep -v 'Request error' | head -40",
  ].join("; ");
  const ssh = (command: string) => sshWorker(w, command, 120_000);
  const r = await ssh(script);
  bootAnalyses[label] = r.all ?? "";
  progress(`${label}: the worker's own account (ssh exit ${r.exitCode}):\n${(r.all ?? "").split("\n").map((l) => `    ${l}`).join("\n")}`);
  // The whole journal of that boot, beside the report, for what the summary does not show.
  if (process.env.ELY_CLUSTER_REPORT) {
    const journal = await ssh("journalctl -b -o short-monotonic --no-pager");
    fs.writeFileSync(`${process.env.ELY_CLUSTER_REPORT}.${label.replace(/\W+/g, "-")}.journal.txt`, journal.all ?? "");
  }
}

/**
 * How much slower the worker's emulated CPUs run a boot's kinds of work than this machine
 * (tcg-calibration.ts), noted as "TCG / this machine" in the report. A measurement, not a check:
 * a failure is shown and the suite goes on.
 */
async function calibrateAgainst(w: BoxWorker): Promise<void> {
  const inGuest = async (script: string) => {
    const r = await sshWorker(w, script, 600_000);
    if (r.exitCode !== 0) throw new Error(`ssh ${w.hostname} exited ${r.exitCode}: ${r.all}`);
    return r.stdout;
  };
  try {
    const rows = await calibrate(inGuest, { nomad: "/usr/local/bin/nomad", consul: "/usr/local/bin/consul", busybox: "/bin/busybox" }, env.ELY_AGENT_BIN_DIR!);
    phases[`TCG / this machine (${w.hostname})`] = Object.fromEntries(rows.map((r) => [r.workload, r.factor]));
    for (const r of rows) progress(`calibration on ${w.hostname}: ${r.workload}: ${r.guestMs} ms in the guest, ${r.hostMs} ms here: x${r.factor}`);
  } catch (e) {
    progress(`calibration on ${w.hostname} not measured: ${(e as Error).message}`);
  }
}

function notePhase(label: string, name: string, since: number): void {
  phases[label] = phases[label] ?? {};
  phases[label][name] = Math.round((Date.now() - since) / 100) / 10;
  progress(`${label}: ${name} ${phases[label][name]} s`);
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

/** The lines of the cdktf CLI's output worth showing while it runs (the steps' progress, errors). */
const SHOWN = /\[ely-|Creation complete|Destruction complete|Error|ely-build|ely-publish|No changes|Plan: /;

/** The cdktf CLI (as a user runs it: `cdktf <command> box`), in the work directory whose cdktf.json runs box-app.js. */
async function cdktf(args: string[]): Promise<string> {
  progress(`cdktf ${args.join(" ")}`);
  const child = execa(process.execPath, [require.resolve("cdktf-cli/bundle/bin/cdktf"), ...args, "--output", outDir], { cwd: work, env, reject: false, all: true });
  child.all!.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n").filter((l) => SHOWN.test(l))) process.stderr.write(`  ${line.trim().slice(0, 200)}\n`);
  });
  const r = await child;
  const out = r.all ?? "";
  expect({ command: `cdktf ${args[0]}`, exit: r.exitCode, tail: r.exitCode === 0 ? "" : out.split("\n").slice(-60).join("\n") }).toEqual({ command: `cdktf ${args[0]}`, exit: 0, tail: "" });
  return out;
}

const deploy = () => cdktf(["deploy", STACK, "--auto-approve", "--skip-provider-lock"]);

/** `cdktf diff` finds nothing to do. */
async function expectEmptyDiff(): Promise<void> {
  const out = await cdktf(["diff", STACK, "--skip-provider-lock"]);
  const changes = out.split("\n").filter((l) => /will be|must be|Plan: /.test(l));
  expect({ noChanges: /No changes\./.test(out), changes }).toEqual({ noChanges: true, changes: [] });
}

/** Writes the box's configuration for the next cdktf command. */
function configure(change: Partial<Pick<BoxConfig, "revisions" | "channels">>): void {
  config = { ...config, ...change };
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  inventory = parseInventory(boxInventory(config), "cluster-in-a-box");
}

/** The deploy's output: per netbooted node, the build it boots next (ClusterOutputs' node_image_builds). */
async function plannedBuilds(): Promise<Record<string, { build_id: string; channel: string }>> {
  const r = await execa(env.TERRAFORM_BINARY_NAME || "terraform", ["output", "-json", "node_image_builds"], { cwd: stackDir, env, reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`terraform output failed:\n${r.all}`);
  return JSON.parse(r.stdout);
}

/** The agents' APIs through the first server, as `ely status` reads them: the cluster's CA, the operator tokens. */
let consulApi: ClusterApi;
let nomadApi: ClusterApi;
async function found<T>(api: ClusterApi, p: string): Promise<T> {
  const body = await api.get<T>(p);
  if (body === undefined) throw new Error(`${api.address}${p}: 404`);
  return body;
}
const consul = <T>(p: string) => found<T>(consulApi, p);
const nomad = <T>(p: string) => found<T>(nomadApi, p);

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
    if (Date.now() > deadline) {
      const consoles = [...machines.entries()].map(([h, m]) => `--- ${h} serial:\n${m.boots ? tailOf(m.serialLog, 30) : "(not powered on)"}`).join("\n");
      throw new Error(`${what}: not within ${timeoutS} s${last ? ` (last error: ${(last as Error).message})` : ""}\n${consoles}`);
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
}

interface NomadNode {
  ID: string;
  Name: string;
  Status: string;
  SchedulingEligibility: string;
  NodeClass: string;
  Meta?: Record<string, string>;
}

async function readyNode(hostname: string, notId?: string): Promise<NomadNode> {
  const listed = await until(`${hostname} a ready, eligible Nomad node`, 900, async () => {
    const nodes = await nomad<NomadNode[]>("/v1/nodes");
    return nodes.find((n) => n.Name === hostname && n.Status === "ready" && n.SchedulingEligibility === "eligible" && n.ID !== notId);
  });
  return nomad<NomadNode>(`/v1/node/${listed.ID}`);
}

/** The passing instances of the job's service in Consul, sampled every 2 s while `during` runs: the fewest seen, and how often. */
async function passingThroughout<T>(during: () => Promise<T>): Promise<{ result: T; fewest: number; samples: number }> {
  let fewest = Number.POSITIVE_INFINITY;
  let samples = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      try {
        const passing = await consul<unknown[]>(`/v1/health/service/${JOB}?passing=true`);
        fewest = Math.min(fewest, passing.length);
        samples++;
        if (passing.length === 0) progress(`${JOB}: no passing instance in Consul!`);
      } catch (e) {
        progress(`${JOB}: Consul's health not read (${(e as Error).message})`);
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  try {
    const result = await during();
    return { result, fewest, samples };
  } finally {
    running = false;
    await poll;
  }
}

/** The job's allocation on this node runs, its service passes in Consul at the node's address, and answers there. */
async function answersOn(worker: BoxWorker, nodeId: string): Promise<void> {
  await until(`${JOB} running on ${worker.hostname}`, 600, async () => {
    const allocs = await nomad<Array<{ NodeID: string; ClientStatus: string }>>(`/v1/job/${JOB}/allocations`);
    return allocs.find((a) => a.NodeID === nodeId && a.ClientStatus === "running");
  });
  const entry = await until(`${JOB} on ${worker.hostname} passing in Consul`, 300, async () => {
    const services = await consul<Array<{ Service: { Address: string; Port: number } }>>(`/v1/health/service/${JOB}?passing=true`);
    return services.find((s) => s.Service.Address === worker.ip)?.Service;
  });
  const page = await plainGet(`http://${entry.Address}:${entry.Port}/index.html`);
  expect({ host: worker.hostname, ...page }).toEqual({ host: worker.hostname, status: 200, body: "hello from the box\n" });
}

function addTap(name: string, bridge: string): void {
  execa.sync("ip", ["tuntap", "add", name, "mode", "tap"]);
  execa.sync("ip", ["link", "set", name, "master", bridge, "up"]);
  extraTaps.push(name);
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the cluster suite needs root (network namespaces, systemd-nspawn, tap devices, QEMU)");
  env = { ...process.env, ...(await toolsEnv(root, progress)), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", CI: "1", ELY_PROJECT_DIR: root, ELY_PUBLISH_SERVICES: "0", [BOX_CONFIG_ENV]: configFile };
  process.env.ELY_AGENT_BIN_DIR = env.ELY_AGENT_BIN_DIR;
  letWorkersRead(work);

  const names = bridgeNames();
  progress(`network: bridge ${names.bridge} (${NET}.0/24), router ${names.router}, taps ${names.tap} and more`);
  network = await startBridgeNetwork({
    names,
    utilAddress: UTIL_IP,
    prefixLength: 24,
    gateway: `${NET}.1`,
    node: { mac: W1.mac, ip: W1.ip },
    otherMachines: [{ mac: W2.mac, ip: W2.ip }, { mac: STRANGER.mac, ip: STRANGER.ip }],
    stateDir: path.join(work, "network"),
  });
  const w2Tap = `elycw${process.pid % 100000}`;
  addTap(w2Tap, names.bridge);
  addTap(STRANGER.tap, names.bridge);
  hosts = new SshHosts({
    hostnames: SERVERS,
    workDir: path.join(work, "ssh"),
    log: (l) => progress(l),
    network: { bridge: names.bridge, gateway: `${NET}.1`, prefixLength: 24, ips: Object.fromEntries(SERVERS.map((h, i) => [h, `${NET}.${11 + i}`])) },
  });
  progress("servers: three systemd-nspawn hosts on the bridge");
  await hosts.start();
  // The reimage logs in to the workers as root with the same key (images.rollout.sshAuthorizedKeys).
  fs.appendFileSync(hosts.sshConfigFile, `Host ${WORKERS.map((w) => w.ip).join(" ")}\n  IdentityFile ${hosts.keyFile}\n  IdentitiesOnly yes\n`);
  env.ELY_SSH_CONFIG = hosts.sshConfigFile;

  const secretsDir = path.join(work, "secrets");
  config = {
    work,
    secretsDir,
    bridge: names.bridge,
    artifactsDir: process.env.ELY_CLUSTER_ARTIFACTS_DIR,
    sshPublicKey: fs.readFileSync(`${hosts.keyFile}.pub`, "utf8").trim(),
    revisions: [R1],
    channels: { stable: R1.name },
  };
  configure({});
  progress("secrets: ely secrets init (consul tls, consul keygen)");
  await initSecrets({ dir: secretsDir, inventory, progress: (s) => progress(`secrets: ${s}`) });
  tfvars = JSON.parse(fs.readFileSync(path.join(secretsDir, TFVARS_FILE), "utf8"));
  ca = fs.readFileSync(path.join(secretsDir, "ca.pem"), "utf8");
  consulApi = new ClusterApi({ agent: "Consul", address: `https://${NET}.11:8501`, token: tokens.consul, caPem: ca });
  nomadApi = new ClusterApi({ agent: "Nomad", address: `https://${NET}.11:4646`, token: tokens.nomad, caPem: ca });
  const taps: Record<string, string> = { [W1.hostname]: network.tap, [W2.hostname]: w2Tap };
  for (const w of WORKERS) {
    const keyDisk = path.join(work, `${w.hostname}-key.img`);
    await writeKeyDisk({ dir: secretsDir, inventory, hostname: w.hostname, out: keyDisk });
    machines.set(
      w.hostname,
      new WorkerMachine({ hostname: w.hostname, mac: w.mac, ip: w.ip, tap: taps[w.hostname], subnetCidr: `${NET}.0/24`, utilAddress: UTIL_IP, keyDisk, workDir: work, memoryMb: 3072, cpus: Math.min(2, os.cpus().length), log: progress }),
    );
  }
  // `ely secrets env`'s way: Terraform reads the variables file; the operator tokens come from the environment.
  Object.assign(env, {
    TF_CLI_ARGS_plan: `-var-file=${path.join(secretsDir, TFVARS_FILE)}`,
    TF_CLI_ARGS_apply: `-var-file=${path.join(secretsDir, TFVARS_FILE)}`,
    TF_CLI_ARGS_destroy: `-var-file=${path.join(secretsDir, TFVARS_FILE)}`,
    TF_VAR_consul_token: tokens.consul,
    TF_VAR_nomad_token: tokens.nomad,
  });
  fs.writeFileSync(path.join(work, "cdktf.json"), JSON.stringify({ language: "typescript", app: `node ${path.join(root, "dist", "e2e", "cluster", "box-app.js")}`, sendCrashReports: "false" }));
  for (const d of ["nginx-boot", "nginx-secrets", "util-root"]) fs.mkdirSync(path.join(work, d), { recursive: true });
}, 900_000);

afterAll(async () => {
  for (const [label, times] of Object.entries(phases)) progress(`phases (${label}), s: ${Object.entries(times).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  if (process.env.ELY_CLUSTER_REPORT) {
    fs.writeFileSync(process.env.ELY_CLUSTER_REPORT, JSON.stringify(phases, null, 2) + "\n");
    fs.writeFileSync(`${process.env.ELY_CLUSTER_REPORT}.boots.txt`, Object.entries(bootAnalyses).map(([l, t]) => `=== ${l}\n${t}\n`).join("\n"));
  }
  progress("stopping: QEMU, the util services, the servers, the network");
  for (const m of machines.values()) await m.stop();
  await util.boot?.close();
  await util.secrets?.close();
  await hosts?.stop().catch((e) => progress(`servers: ${e.message}`));
  for (const tap of extraTaps) execa.sync("ip", ["link", "del", tap], { reject: false });
  await network?.stop();
  if (!process.env.ELY_CLUSTER_KEEP) fs.rmSync(work, { recursive: true, force: true });
  else progress(`kept ${work}`);
}, 180_000);

describe("the cluster in a box", () => {
  step("one cdktf deploy converges the servers, the util node's boot and secrets services, the ACLs and the job", async () => {
    const out = await deploy();
    // Nothing secret in what the deploy printed.
    const nodeSecrets = tfvars.netboot_node_secrets as Record<string, { key: string }>;
    for (const w of WORKERS) expect(out).not.toContain(nodeSecrets[w.hostname].key);
    expect(out).not.toContain(tokens.consul);
    expect(out).not.toMatch(/PRIVATE KEY/);

    const utilRoot = path.join(work, "util-root");
    util.boot = await startUtilNginx(path.join(utilRoot, "boot", "current", "nginx.conf"), HTTP_PORT, path.join(work, "nginx-boot"), UTIL_IP);
    util.secrets = await startUtilNginx(path.join(utilRoot, "secrets", "nginx.conf"), SECRETS_PORT, path.join(work, "nginx-secrets"), UTIL_IP);
    await network!.startUtilDnsmasq(path.join(utilRoot, "boot", "current", "dnsmasq.conf"));
    await network!.startUtilRadvd(path.join(utilRoot, "boot", "current", RADVD_CONFIG_SCRIPT));

    const peers = await consul<string[]>("/v1/status/peers");
    expect(peers.map((p) => p.split(":")[0]).sort()).toEqual([`${NET}.11`, `${NET}.12`, `${NET}.13`]);
    expect(await consul<string>("/v1/status/leader")).toMatch(/^10\.26\.90\.1[123]:8300$/);
    expect((await nomad<string[]>("/v1/status/peers")).length).toBe(3);
    expect(await nomad<string>("/v1/status/leader")).toMatch(/^10\.26\.90\.1[123]:4647$/);
    // The Nomad servers registered themselves in Consul (default-deny ACLs): with the token consul-acl made for
    // them, which the deploy's <server>/nomad-consul-token steps gave them; no variable carries it.
    const registered = await until("the three Nomad servers registered in Consul", 120, async () => {
      const entries = await consul<Array<{ Node: string }>>("/v1/catalog/service/nomad");
      const nodes = [...new Set(entries.map((e) => e.Node))].sort();
      return nodes.length === 3 ? nodes : undefined;
    });
    expect(registered).toEqual(SERVERS);
    for (const h of SERVERS) expect(out).toMatch(new RegExp(`server-rollout_${h}_nomad-consul-token_[0-9A-F]+: Creation complete`));
  }, 3_600_000);

  step("a request for secrets without the node's key is refused; an unknown MAC gets the 'not in the inventory' script", async () => {
    const noKey = await new Promise<number>((resolve, reject) =>
      https.get(`https://${UTIL_IP}:${SECRETS_PORT}${secretsBundleUrlPath(W1.hostname)}`, { ca }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject),
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

  const nodeIds: Record<string, string> = {};
  step("both netbooted workers get their secrets, join Consul and Nomad, and run the job, each answering at its Consul address", async () => {
    const builds = await plannedBuilds();
    for (const w of WORKERS) machines.get(w.hostname)!.powerOn("first boot");
    // Both consoles watched at once: each phase's time is when it happened.
    await Promise.all(WORKERS.map((w) => waitForSecrets(`first boot ${w.hostname}`, machines.get(w.hostname)!, w.hostname)));
    // Both workers watched at once: each one's times are its own, not the order they are checked in.
    const ready = await Promise.all(WORKERS.map(async (w) => {
      const m = machines.get(w.hostname)!;
      const label = `first boot ${w.hostname}`;
      await until(`${w.hostname} an alive Consul member`, 600, async () => {
        const members = await consul<Array<{ Name: string; Status: number }>>("/v1/agent/members");
        return members.find((x) => x.Name === w.hostname && x.Status === 1);
      });
      notePhase(label, "consul-member", m.poweredOn[0]);
      const node = await readyNode(w.hostname);
      notePhase(label, "nomad-ready", m.poweredOn[0]);
      return { w, node };
    }));
    for (const { w, node } of ready) {
      nodeIds[w.hostname] = node.ID;
      const spec = inventory.nodes.find((n) => n.hostname === w.hostname)!;
      expect({ host: w.hostname, class: node.NodeClass, build: node.Meta?.[BUILD_ID_META], image: node.Meta?.ely_image }).toEqual({
        host: w.hostname,
        class: nodeClassOf(spec),
        build: builds[w.hostname].build_id,
        image: "client-amd64",
      });
    }
    // Both channels name the same revision yet: one build.
    expect(builds[W1.hostname].build_id).toBe(builds[W2.hostname].build_id);
    for (const w of WORKERS) await answersOn(w, nodeIds[w.hostname]);
    notePhase(`first boot ${W1.hostname}`, "job-answers", machines.get(W1.hostname)!.poweredOn[0]);
    for (const w of WORKERS) await analyseBoot(`first boot ${w.hostname}`, w);
    await calibrateAgainst(W2);
  }, 2_400_000);

  step("power cycled, a worker boots again, gets its secrets with no operator action, rejoins, and the job runs on it again", async () => {
    const m = machines.get(W1.hostname)!;
    await m.powerCycle("after power cycle");
    await waitForSecrets("after power cycle", m, W1.hostname);
    const again = await readyNode(W1.hostname, nodeIds[W1.hostname]);
    nodeIds[W1.hostname] = again.ID;
    notePhase("after power cycle", "nomad-ready", m.poweredOn[m.poweredOn.length - 1]);
    await answersOn(W1, again.ID);
    notePhase("after power cycle", "job-answers", m.poweredOn[m.poweredOn.length - 1]);
    await analyseBoot("after power cycle", W1);
  }, 2_400_000);

  step("a second cdktf diff is empty", expectEmptyDiff, 900_000);

  /**
   * Deploys `change` and checks that exactly `moves` rebooted onto `build` (its Nomad node replaced, on the
   * new build, ready and eligible, the job back on it) while the other worker was not touched, the job
   * passing in Consul at every sample; then the diff is empty.
   */
  async function rollsOnto(change: Partial<BoxConfig>, moves: BoxWorker, stays: BoxWorker, label: string): Promise<string> {
    configure(change);
    const before = await plannedBuilds();
    const bootsBefore = machines.get(moves.hostname)!.boots;
    const startedAt = Date.now();
    const { result: out, fewest, samples } = await passingThroughout(deploy);
    const builds = await plannedBuilds();
    const moved = builds[moves.hostname].build_id;
    expect(moved).not.toBe(before[moves.hostname].build_id);
    expect(builds[stays.hostname].build_id).toBe(before[stays.hostname].build_id);
    // The reimage step of the moving worker ran (Terraform hides its output: it holds the tokens); the other's was not planned.
    const done = new RegExp(`worker-reimage_${moves.hostname}_reimage_[0-9A-F]+: Creation complete after (?:(\\d+)m)?(\\d+)s`).exec(out);
    expect({ host: moves.hostname, reimaged: Boolean(done) }).toEqual({ host: moves.hostname, reimaged: true });
    expect(out).not.toMatch(new RegExp(`worker-reimage_${stays.hostname}_reimage_[0-9A-F]+: (Creating|Destroying)`));
    expect(machines.get(moves.hostname)!.boots).toBe(bootsBefore + 1);
    notePhase(label, "deploy (build, publish, drain, reboot, ready)", startedAt);
    phases[label]["reimage step (drain, reboot, ready, eligible)"] = Number(done![1] ?? 0) * 60 + Number(done![2]);
    // The job kept a passing allocation at every sample of the deploy.
    expect({ fewest, enoughSamples: samples >= 10 }).toEqual({ fewest: 1, enoughSamples: true });

    const node = await readyNode(moves.hostname);
    expect({ host: moves.hostname, replaced: node.ID !== nodeIds[moves.hostname], build: node.Meta?.[BUILD_ID_META] }).toEqual({ host: moves.hostname, replaced: true, build: moved });
    nodeIds[moves.hostname] = node.ID;
    const other = await nomad<NomadNode>(`/v1/node/${nodeIds[stays.hostname]}`);
    expect({ host: stays.hostname, status: other.Status, build: other.Meta?.[BUILD_ID_META] }).toEqual({ host: stays.hostname, status: "ready", build: before[stays.hostname].build_id });
    await answersOn(moves, node.ID);
    await expectEmptyDiff();
    return moved;
  }

  let newBuild = "";
  step("canary: a new image revision, deployed, drains w1 (latest), reboots it over ssh onto the new build; w2 stays on stable; the job passes throughout", async () => {
    newBuild = await rollsOnto({ revisions: [R1, R2] }, W1, W2, "canary reimage w1");
  }, 3_600_000);

  step("promote: stable moves to the new revision in one line; the deploy reimages w2 alone onto the canary's build", async () => {
    const moved = await rollsOnto({ channels: { stable: R2.name } }, W2, W1, "promotion reimage w2");
    expect(moved).toBe(newBuild);
  }, 3_600_000);

  step("cdktf destroy removes the job and the ACLs the plan made, and leaves the servers running with their leader", async () => {
    for (const m of machines.values()) await m.stop();
    await cdktf(["destroy", STACK, "--auto-approve", "--skip-provider-lock"]);
    const jobs = await nomad<Array<{ Name: string; Status: string }>>("/v1/jobs");
    expect(jobs.filter((j) => j.Name === JOB && j.Status !== "dead")).toEqual([]);
    const policies = await consul<Array<{ Name: string }>>("/v1/acl/policies");
    expect(policies.map((p) => p.Name).filter((n) => n.startsWith("nomad-"))).toEqual([]);
    expect((await consul<string[]>("/v1/status/peers")).length).toBe(3);
    expect(await nomad<string>("/v1/status/leader")).toMatch(/:4647$/);
  }, 1_200_000);
});
