/**
 * The server rollout for real: Terraform runs the synthesized steps (cli/server-step.ts) over
 * real ssh against three Debian hosts booted with systemd-nspawn (hosts.ts), in order. Real
 * Consul and Nomad servers run inside the hosts with gossip encryption, TLS and ACLs on, so the
 * health gate (leader, Raft voter) is exercised for real. Checks the files, modes, owners and
 * units the steps leave, that a second apply changes nothing, that a re-run restarts nothing,
 * that a configuration change rolls one server at a time, that an invalid configuration
 * stops the rollout before the first server, that the quorum gate refuses to restart a server
 * while another one is down, that a server whose new agent does not come up healthy is
 * rolled back to its previous files with the cluster healthy again, and that a dead server,
 * reinstalled, is brought back by running its steps again.
 *
 * Run: npx jest -c e2e/ssh-hosts/jest.config.js   (as root; ELY_SSH_E2E_KEEP=1 keeps the work dir)
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { ServerRolloutProps } from "../../constructs";
import { InventoryInput, parseInventory } from "../../nodes";
import { SshHosts } from "./hosts";
import { synthSshRollout } from "./stack";
import { toolsEnv } from "../tools-env";

const root = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-ssh-e2e-"));
const started = Date.now();
const CONSUL_VERSION = process.env.ELY_E2E_CONSUL_VERSION || "1.16.3";
const NOMAD_VERSION = process.env.ELY_E2E_NOMAD_VERSION || "1.6.3";
const HOSTNAMES = ["s1", "s2", "s3"];

function progress(step: string): void {
  process.stderr.write(`[ssh-e2e] ${step} (${Math.round((Date.now() - started) / 1000)}s)\n`);
}

let hosts: SshHosts;
let env: NodeJS.ProcessEnv;
let stackDir: string;
let bin: { consul: string; nomad: string; terraform: string };
const secrets: Record<string, string> = {};

function inventoryInput(overrides: Record<string, Record<string, unknown>> = {}): InventoryInput {
  return {
    name: "ssh-e2e",
    datacenter: "e2e",
    region: "global",
    network: {
      subnet: hosts.subnet,
      gateway: hosts.gateway,
      internalDomain: "e2e.ely.test",
      servicesDomain: "apps.e2e.ely.test",
      ingressAddress: hosts.gateway.replace(/\.1$/, ".5"),
    },
    security: { acl: true, tls: true, gossipEncryption: true },
    versions: { consul: CONSUL_VERSION, nomad: NOMAD_VERSION },
    nodes: [
      ...hosts.hosts.map((h) => ({
        hostname: h.hostname,
        role: "server" as const,
        arch: "amd64" as const,
        ip: h.ip,
        boot: "ssh" as const,
        ssh: { user: "root", port: 22 },
        agentOverrides: overrides[h.hostname] ?? {},
      })),
      // The inventory rules want a client; it is not deployed here.
      { hostname: "c1", role: "client" as const, arch: "amd64" as const, ip: hosts.gateway.replace(/\.1$/, ".31"), boot: "local" as const, hardware: { model: "none", cores: 1, cpuMhz: 1000, memoryMb: 1024 } },
    ],
  };
}

function synth(overrides: Record<string, Record<string, unknown>> = {}, extra: Partial<ServerRolloutProps> = {}): void {
  const inventory = parseInventory(inventoryInput(overrides), "ssh-e2e");
  stackDir = synthSshRollout(path.join(work, "cdktf.out"), inventory, extra);
}

async function terraform(args: string[], options: { stream?: boolean } = {}) {
  const child = execa(bin.terraform, args, { cwd: stackDir, env, reject: false, all: true });
  if (options.stream) {
    child.all!.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n").filter((l) => /\[ely-step|Creating\.\.\.|Creation complete|Destroying|Error/.test(l))) {
        process.stderr.write(`  ${line.replace(/^null_resource\./, "")}\n`);
      }
    });
  }
  return child;
}

async function apply(label: string) {
  progress(`terraform apply: ${label}`);
  const r = await terraform(["apply", "-auto-approve", "-input=false", "-no-color"], { stream: true });
  progress(`terraform apply: ${label}: exit ${r.exitCode}`);
  return r;
}

/** Addresses of the resources a fresh plan would change. */
async function plannedChanges(): Promise<string[]> {
  const plan = await terraform(["plan", "-input=false", "-no-color", "-out=check.plan"]);
  if (plan.exitCode !== 0) throw new Error(`terraform plan failed:\n${plan.all}`);
  const shown = await terraform(["show", "-json", "check.plan"]);
  const json = JSON.parse(shown.stdout);
  return ((json.resource_changes ?? []) as { address: string; change: { actions: string[] } }[])
    .filter((c) => !c.change.actions.every((a) => a === "no-op"))
    .map((c) => `${c.address.replace(/^null_resource\.server-rollout_/, "").replace(/_[0-9A-F]{8}$/, "")}:${c.change.actions.join("+")}`)
    .sort();
}

async function onHost(hostname: string, command: string): Promise<string> {
  const r = await hosts.ssh(hostname, command);
  if (r.exitCode !== 0) throw new Error(`${hostname}: \`${command}\` failed (${r.exitCode}): ${r.all}`);
  return r.stdout.trim();
}

async function mainPids(): Promise<Record<string, string>> {
  const pids: Record<string, string> = {};
  for (const h of HOSTNAMES) {
    for (const agent of ["consul", "nomad"]) pids[`${h}/${agent}`] = await onHost(h, `systemctl show -p MainPID --value ${agent}`);
  }
  return pids;
}

/** Lines of the apply output that say which step began and ended, in order. */
function stepEvents(output: string): string[] {
  return output
    .split("\n")
    .map((l) => /null_resource\.server-rollout_(\w+?)_(secrets|update|validate)\w*: (Creating\.\.\.|Creation complete)/.exec(l) ?? /null_resource\.server-rollout_(validate)\w*: (Creating\.\.\.|Creation complete)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => (m.length === 4 ? `${m[1]}/${m[2]} ${m[3] === "Creating..." ? "start" : "end"}` : `validate ${m[2] === "Creating..." ? "start" : "end"}`));
}

async function makeSecrets(): Promise<void> {
  const dir = path.join(work, "tls");
  fs.mkdirSync(dir);
  const run = (cmd: string, args: string[]) => execa(cmd, args, { cwd: dir, env });
  secrets.consul_gossip_key = (await run(bin.consul, ["keygen"])).stdout.trim();
  secrets.nomad_gossip_key = (await run(bin.nomad, ["operator", "gossip", "keyring", "generate"])).stdout.trim();
  secrets.consul_token = crypto.randomUUID();
  secrets.nomad_token = crypto.randomUUID();
  await run(bin.consul, ["tls", "ca", "create"]);
  const serverTls: Record<string, Record<string, string>> = {};
  for (const [i, h] of HOSTNAMES.entries()) {
    await run(bin.consul, ["tls", "cert", "create", "-server", "-dc", "e2e"]);
    await run(bin.nomad, ["tls", "cert", "create", "-server", "-region", "global", "-ca", "consul-agent-ca.pem", "-key", "consul-agent-ca-key.pem"]);
    const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
    serverTls[h] = {
      consul_cert: read(`e2e-server-consul-${i}.pem`),
      consul_key: read(`e2e-server-consul-${i}-key.pem`),
      nomad_cert: read("global-server-nomad.pem"),
      nomad_key: read("global-server-nomad-key.pem"),
    };
    for (const f of ["global-server-nomad.pem", "global-server-nomad-key.pem"]) fs.rmSync(path.join(dir, f));
    secrets[`${h}_consul_key`] = serverTls[h].consul_key;
    secrets[`${h}_nomad_key`] = serverTls[h].nomad_key;
  }
  const agentTokens = Object.fromEntries(HOSTNAMES.map((h) => [h, crypto.randomUUID()]));
  for (const [h, t] of Object.entries(agentTokens)) secrets[`${h}_agent_token`] = t;
  Object.assign(env, {
    TF_VAR_consul_gossip_key: secrets.consul_gossip_key,
    TF_VAR_nomad_gossip_key: secrets.nomad_gossip_key,
    TF_VAR_consul_token: secrets.consul_token,
    TF_VAR_nomad_token: secrets.nomad_token,
    TF_VAR_tls_ca_cert: fs.readFileSync(path.join(dir, "consul-agent-ca.pem"), "utf8"),
    TF_VAR_server_tls: JSON.stringify(serverTls),
    TF_VAR_consul_agent_tokens: JSON.stringify(agentTokens),
    // Nomad servers use the operator token with Consul in this test.
    TF_VAR_nomad_server_consul_token: secrets.consul_token,
  });
}

/** Every secret value, and its parts long enough to be telling, must be absent from `text`. */
function expectNoSecret(text: string, where: string): void {
  for (const [name, value] of Object.entries(secrets)) {
    const probes = value.includes("-----BEGIN") ? value.split("\n").filter((l) => l.length > 40 && !l.startsWith("-----")) : [value];
    for (const probe of probes) {
      if (text.includes(probe)) throw new Error(`${where} contains the secret ${name}`);
    }
  }
}

beforeAll(async () => {
  env = { ...process.env, ...(await toolsEnv(root, progress)), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", ELY_PROJECT_DIR: root };
  // Synth runs in this process: it takes the agents from the tools' directory too.
  process.env.ELY_AGENT_BIN_DIR = env.ELY_AGENT_BIN_DIR;
  const which = (b: string) => execa("sh", ["-c", `command -v ${b}`], { env }).then((r) => r.stdout.trim());
  bin = { consul: await which("consul"), nomad: await which("nomad"), terraform: env.TERRAFORM_BINARY_NAME || (await which("terraform")) };
  progress(`tools: ${bin.terraform}, ${bin.consul}, ${bin.nomad}`);
  hosts = new SshHosts({ hostnames: HOSTNAMES, workDir: path.join(work, "ssh"), log: (l) => progress(l) });
  progress(`starting ${HOSTNAMES.length} ssh hosts (systemd-nspawn, netns on bridge ${hosts.bridge}, ${hosts.subnet})`);
  await hosts.start();
  env.ELY_SSH_CONFIG = hosts.sshConfigFile;
  await makeSecrets();
  synth();
  progress("terraform init");
  const init = await terraform(["init", "-input=false", "-no-color"]);
  if (init.exitCode !== 0) throw new Error(`terraform init failed:\n${init.all}`);
}, 600_000);

afterAll(async () => {
  progress("stopping the ssh hosts");
  await hosts?.stop();
  if (!process.env.ELY_SSH_E2E_KEEP) fs.rmSync(work, { recursive: true, force: true });
  else progress(`kept ${work}`);
  progress("done");
}, 120_000);

/** On failure, the hosts' agent logs say what happened. */
async function withLogs(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const tails: string[] = [];
    for (const h of HOSTNAMES) {
      const r = await hosts.ssh(h, "journalctl -u consul -u nomad -n 15 --no-pager -o cat");
      tails.push(`---- ${h}:\n${r.all}`);
    }
    (e as Error).message += `\n${tails.join("\n")}`;
    throw e;
  }
}

let firstPids: Record<string, string>;
let configShas: string;

describe("server rollout over real ssh", () => {
  test("the first apply bootstraps the servers one after another, each gated on health", () =>
    withLogs(async () => {
      const r = await apply("bootstrap");
      expect({ exitCode: r.exitCode, tail: r.exitCode === 0 ? "" : r.all!.split("\n").slice(-40).join("\n") }).toEqual({ exitCode: 0, tail: "" });
      const out = r.all!;
      expect(stepEvents(out)).toEqual([
        "validate start", "validate end",
        "s1/secrets start", "s1/secrets end", "s1/update start", "s1/update end",
        "s2/secrets start", "s2/secrets end", "s2/update start", "s2/update end",
        "s3/secrets start", "s3/secrets end", "s3/update start", "s3/update end",
      ]);
      // s1 and s2 cannot have a leader yet (bootstrap_expect 3); the last server's gate waits for it.
      expect(out).toMatch(/\[ely-step s1 1\/3\] the cluster has no leader yet \(bootstrapping\)/);
      // The quorum gate lets a fresh cluster through.
      expect(out).toMatch(/\[ely-step s1 1\/3\] quorum gate: consul: no server runs yet: a fresh cluster, nothing to protect/);
      expect(out).toMatch(/\[ely-step s3 3\/3\] quorum gate: consul: no leader, and the Raft configuration of \S+ is empty: a fresh cluster bootstrapping/);
      expect(out).toMatch(/\[ely-step s3 3\/3\] quorum gate passed: consul and nomad may restart on s3/);
      expect(out).toMatch(/\[ely-step s3 3\/3\] the gate requires a leader and s3 as a Raft voter \(last server of the rollout\)/);
      expect(out).toMatch(/\[ely-step s3 3\/3\] ely-node-step: consul: healthy, leader elected, s3 is a voter/);
      expect(out).toMatch(/\[ely-step s3 3\/3\] ely-node-step: nomad: ACLs bootstrapped with the operator token/);
      expect(out).toMatch(/\[ely-step s3 3\/3\] ely-node-step: nomad: healthy, leader elected, s3 is a voter/);
      // Terraform suppresses the secrets steps' output (sensitive environment).
      expect(out).toMatch(/output suppressed due to sensitive value/);
      expectNoSecret(out, "the apply output");
      expectNoSecret(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8"), "cdk.tf.json");
      expectNoSecret(fs.readFileSync(path.join(stackDir, "terraform.tfstate"), "utf8"), "the Terraform state");
    }), 600_000);

  test("files, modes, owners and units on every host", () =>
    withLogs(async () => {
      const paths = [
        "/usr/local/bin/consul", "/usr/local/bin/nomad",
        "/etc/consul.d", "/etc/consul.d/consul.json", "/etc/consul.d/secrets.json",
        "/etc/nomad.d", "/etc/nomad.d/nomad.json", "/etc/nomad.d/secrets.json",
        "/etc/systemd/system/consul.service", "/etc/systemd/system/nomad.service",
        "/etc/ely/secrets", "/etc/ely/secrets/tls", "/etc/ely/secrets/rollout.env",
        "/etc/ely/secrets/tls/ca.pem", "/etc/ely/secrets/tls/consul.pem", "/etc/ely/secrets/tls/consul-key.pem",
        "/etc/ely/secrets/tls/nomad.pem", "/etc/ely/secrets/tls/nomad-key.pem",
        "/opt/consul", "/opt/nomad", "/var/lib/ely/rollout",
      ];
      const expected = [
        "755 root root /usr/local/bin/consul", "755 root root /usr/local/bin/nomad",
        "750 root consul /etc/consul.d", "640 root consul /etc/consul.d/consul.json", "600 consul consul /etc/consul.d/secrets.json",
        "750 root root /etc/nomad.d", "640 root root /etc/nomad.d/nomad.json", "600 root root /etc/nomad.d/secrets.json",
        "644 root root /etc/systemd/system/consul.service", "644 root root /etc/systemd/system/nomad.service",
        "750 root consul /etc/ely/secrets", "750 root consul /etc/ely/secrets/tls", "600 root root /etc/ely/secrets/rollout.env",
        "644 root root /etc/ely/secrets/tls/ca.pem", "644 root root /etc/ely/secrets/tls/consul.pem", "600 consul consul /etc/ely/secrets/tls/consul-key.pem",
        "644 root root /etc/ely/secrets/tls/nomad.pem", "600 root root /etc/ely/secrets/tls/nomad-key.pem",
        "750 consul consul /opt/consul", "700 root root /opt/nomad", "700 root root /var/lib/ely/rollout",
      ];
      const rendered = JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8"));
      const bundleDir = Object.values(rendered.resource.null_resource as Record<string, { provisioner: { "local-exec": { command: string } }[] }>)
        .map((r) => /--configs (\S+)/.exec(r.provisioner[0]["local-exec"].command)?.[1])
        .find(Boolean)!;
      for (const h of HOSTNAMES) {
        expect((await onHost(h, `stat -c '%a %U %G %n' ${paths.join(" ")}`)).split("\n")).toEqual(expected);
        expect(await onHost(h, "systemctl is-enabled consul nomad")).toBe("enabled\nenabled");
        expect(await onHost(h, "systemctl is-active consul nomad")).toBe("active\nactive");
        // What is on the node is what was rendered.
        for (const agent of ["consul", "nomad"]) {
          const local = fs.readFileSync(path.join(stackDir, bundleDir, h, `${agent}.json`), "utf8");
          expect(await onHost(h, `cat /etc/${agent}.d/${agent}.json`)).toBe(local.trim());
        }
        expect(await onHost(h, "/usr/local/bin/consul version | head -n1")).toBe(`Consul v${CONSUL_VERSION}`);
        expect(await onHost(h, "/usr/local/bin/nomad version | head -n1")).toMatch(new RegExp(`^Nomad v${NOMAD_VERSION.replace(/\./g, "\\.")}`));
        // The secrets arrived whole, with the values of the variables.
        const consulSecrets = JSON.parse(await onHost(h, "cat /etc/consul.d/secrets.json"));
        expect(consulSecrets).toEqual({
          encrypt: secrets.consul_gossip_key,
          acl: { tokens: { agent: secrets[`${h}_agent_token`], initial_management: secrets.consul_token } },
        });
        const nomadSecrets = JSON.parse(await onHost(h, "cat /etc/nomad.d/secrets.json"));
        expect(nomadSecrets).toEqual({ server: { encrypt: secrets.nomad_gossip_key }, consul: { token: secrets.consul_token } });
        expect(await onHost(h, "cat /etc/ely/secrets/tls/consul-key.pem")).toBe(secrets[`${h}_consul_key`].trim());
      }
    }), 120_000);

  test("the cluster: three Consul voters, three Nomad voters, gossip encrypted, ACLs on", () =>
    withLogs(async () => {
      const consulEnv = `CONSUL_HTTP_ADDR=http://127.0.0.1:8500 CONSUL_HTTP_TOKEN=$(sed -n 's/^CONSUL_HTTP_TOKEN=//p' /etc/ely/secrets/rollout.env)`;
      const peers = await onHost("s2", `${consulEnv} consul operator raft list-peers`);
      for (const h of HOSTNAMES) expect(peers).toMatch(new RegExp(`^${h}\\s+\\S+\\s+\\S+\\s+(leader|follower)\\s+true`, "m"));
      const members = await onHost("s1", `${consulEnv} consul members`);
      expect(members.split("\n").filter((l) => /\salive\s/.test(l))).toHaveLength(3);
      expect(await onHost("s1", `${consulEnv} consul info | sed -n 's/^[[:space:]]*encrypted = //p' | sort -u`)).toBe("true");
      // Anonymous requests are denied (default deny).
      expect((await hosts.ssh("s1", "CONSUL_HTTP_ADDR=http://127.0.0.1:8500 consul kv get x")).all).toMatch(/403|Permission denied|ACL not found/);
      const ip = hosts.hosts[0].ip;
      const nomadEnv = `NOMAD_ADDR=https://${ip}:4646 NOMAD_CACERT=/etc/ely/secrets/tls/ca.pem NOMAD_TLS_SERVER_NAME=server.global.nomad NOMAD_TOKEN=$(sed -n 's/^NOMAD_TOKEN=//p' /etc/ely/secrets/rollout.env)`;
      const nomadPeers = await onHost("s1", `${nomadEnv} nomad operator raft list-peers`);
      for (const h of HOSTNAMES) expect(nomadPeers).toMatch(new RegExp(`^${h}\\.global\\s+\\S+\\s+\\S+\\s+(leader|follower)\\s+true`, "m"));
    }), 120_000);

  test("a second apply changes nothing", () =>
    withLogs(async () => {
      firstPids = await mainPids();
      expect(await plannedChanges()).toEqual([]);
      const r = await apply("second, unchanged");
      expect(r.exitCode).toBe(0);
      expect(r.all).toMatch(/No changes\.|0 added, 0 changed, 0 destroyed/);
      expect(await mainPids()).toEqual(firstPids);
    }), 300_000);

  test("a step re-run with nothing changed sends nothing and restarts nothing", () =>
    withLogs(async () => {
      const state = await terraform(["state", "list"]);
      const s2update = state.stdout.split("\n").find((l) => /server-rollout_s2_update/.test(l))!;
      progress(`terraform apply -replace=${s2update}`);
      const r = await terraform(["apply", "-auto-approve", "-input=false", "-no-color", `-replace=${s2update}`], { stream: true });
      expect(r.exitCode).toBe(0);
      expect(r.all).toMatch(/\[ely-step s2 2\/3\] every file is up to date on the node/);
      expect(r.all).toMatch(/consul: unchanged and active: not restarted/);
      expect(r.all).toMatch(/nomad: unchanged and active: not restarted/);
      // Nothing restarts: no quorum gate.
      expect(r.all).not.toMatch(/quorum gate/);
      // The cluster had a leader: the gate required s2 to be a voter.
      expect(r.all).toMatch(/\[ely-step s2 2\/3\] the gate requires a leader and s2 as a Raft voter \(the cluster had a leader before this step\)/);
      expect(await mainPids()).toEqual(firstPids);
    }), 300_000);

  test("with another server down, the quorum gate refuses to restart a server and touches nothing", () =>
    withLogs(async () => {
      const shas = await configShasNow();
      await onHost("s2", "systemctl stop consul nomad");
      // "Down" as the cluster sees it: Consul notices a stopped server within seconds (serf, autopilot's next
      // round); on a fast machine the apply would otherwise reach the gate before Consul knows, and no gate can.
      const health = `curl -s -H "X-Consul-Token: $(sed -n 's/^CONSUL_HTTP_TOKEN=//p' /etc/ely/secrets/rollout.env)" http://127.0.0.1:8500/v1/operator/autopilot/health`;
      let s2Healthy = true;
      for (let i = 0; i < 60 && s2Healthy; i++) {
        if (i > 0) await new Promise((res) => setTimeout(res, 1000));
        // While a new leader is elected (s2 may have led) the endpoint answers an RPC error, not JSON: ask again.
        let seen: { Servers?: { Name: string; Healthy: boolean }[] } | undefined;
        try {
          seen = JSON.parse(await onHost("s1", health));
        } catch {
          seen = undefined;
        }
        s2Healthy = seen === undefined || (seen.Servers ?? []).some((srv) => srv.Name === "s2" && srv.Healthy);
      }
      expect(s2Healthy).toBe(false);
      synth(Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG" } }])), { healthTimeoutSeconds: 15 });
      const r = await apply("consul log_level DEBUG with s2 stopped");
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/s1: the cluster does not tolerate restarting s1 \(checked for 1\ds\); nothing on s1 was touched:/);
      // Autopilot may have removed the dead server from Raft by then (cleanup_dead_servers): named either way.
      const s2 = hosts.hosts[1].ip.replace(/\./g, "\\.");
      expect(r.all).toMatch(new RegExp(`consul: server s2 \\((${s2}:8300\\) is unhealthy \\(serf|${s2}\\) of the inventory is not in the Raft configuration)`));
      expect(stepEvents(r.all!)).toEqual(["validate start", "validate end", "s1/update start"]);
      expect(await configShasNow()).toBe(shas);
      const pids = await mainPids();
      for (const h of ["s1", "s3"]) for (const agent of ["consul", "nomad"]) expect(pids[`${h}/${agent}`]).toBe(firstPids[`${h}/${agent}`]);
      expect(await onHost("s1", "ls /etc/consul.d; test ! -e /var/lib/ely/rollout/pending && echo no-pending")).toBe("consul.json\nsecrets.json\nno-pending");
      // s2 back: the next apply's gate waits until autopilot counts it healthy again.
      await onHost("s2", "systemctl start consul nomad");
      firstPids = await mainPids();
    }), 300_000);

  test("a configuration change rolls the servers one at a time, restarting only the agent whose files changed", () =>
    withLogs(async () => {
      const before = await configShasNow();
      synth(Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG" } }])));
      // The refused apply above validated this configuration already and removed the update steps it was to replace.
      expect(await plannedChanges()).toEqual(["s1_update:delete+create", "s2_update:create", "s3_update:create"]);
      const r = await apply("consul log_level DEBUG on every server");
      expect(r.exitCode).toBe(0);
      expect(stepEvents(r.all!)).toEqual([
        "s1/update start", "s1/update end",
        "s2/update start", "s2/update end",
        "s3/update start", "s3/update end",
      ]);
      for (const h of HOSTNAMES) {
        const label = `\\[ely-step ${h} ${HOSTNAMES.indexOf(h) + 1}/3\\]`;
        expect(r.all).toMatch(new RegExp(`${label} sending 1 changed files: /etc/consul.d/consul.json`));
        expect(r.all).toMatch(new RegExp(`${label} ely-node-step: consul: restarting \\(changed: /etc/consul.d/consul.json\\)`));
        expect(r.all).toMatch(new RegExp(`${label} ely-node-step: consul: healthy, leader elected, ${h} is a voter`));
        expect(r.all).toMatch(new RegExp(`${label} quorum gate: consul: 3 voters healthy, failure tolerance 1`));
        expect(r.all).toMatch(new RegExp(`${label} quorum gate passed: consul may restart on ${h}`));
      }
      // The previous configuration stays on each node; nothing is pending once healthy.
      for (const [i, h] of HOSTNAMES.entries()) {
        const previous = before.split("\n")[2 * i].split(/\s+/)[0];
        expect(await onHost(h, "sha256sum /etc/consul.d/consul.json.previous | cut -d' ' -f1; test ! -e /var/lib/ely/rollout/pending && echo no-pending")).toBe(`${previous}\nno-pending`);
      }
      const pids = await mainPids();
      for (const h of HOSTNAMES) {
        expect(pids[`${h}/consul`]).not.toBe(firstPids[`${h}/consul`]);
        expect(pids[`${h}/nomad`]).toBe(firstPids[`${h}/nomad`]);
      }
      // One at a time: each server's Consul came back before the next one restarted.
      const times: number[] = [];
      for (const h of HOSTNAMES) times.push(Number(await onHost(h, "date -d \"$(systemctl show -p ActiveEnterTimestamp --value consul)\" +%s%N")));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      expect(await plannedChanges()).toEqual([]);
      configShas = await configShasNow();
      firstPids = pids;
    }), 600_000);

  test("an invalid configuration stops the rollout before the first server is touched", () =>
    withLogs(async () => {
      synth(Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG", ...(h === "s2" ? { not_a_consul_key: true } : {}) } }])));
      const r = await apply("invalid consul.json on s2");
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/configuration check failed; no server was touched/);
      expect(r.all).toMatch(/s2: `consul validate` rejects s2\/consul.json/);
      expect(r.all).toMatch(/not_a_consul_key/);
      expect(stepEvents(r.all!)).toEqual(["validate start"]);
      expect(await configShasNow()).toBe(configShas);
      expect(await mainPids()).toEqual(firstPids);
    }), 300_000);

  test("a consul that cannot start is rolled back: the cluster is healthy again on the previous files, the apply fails saying why", () =>
    withLogs(async () => {
      // Valid for `consul validate`; at start Consul cannot bind an address the host does not have.
      const broken = Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG", ...(h === "s1" ? { bind_addr: "192.0.2.77" } : {}) } }]));
      // 45 s: the bound also covers the rollback's wait for s1 to be a voter again, which takes over 20 s on a loaded machine.
      synth(broken, { healthTimeoutSeconds: 45 });
      const r = await apply("consul bind_addr 192.0.2.77 on s1, 45 s gate");
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/s1: rolled back: consul did not come up healthy, so s1 runs its previous binaries and configuration again, healthy; the rollout stops here/);
      // Consul exits and systemd restarts it (the gate gives up after three restarts), unless a failed start left its
      // server_metadata.json empty (Consul 1.16.3, hashicorp/consul#19720, a race): then it retries inside one
      // process and the bound ends the wait. Either way the reason is in its log, and the rollback brings it back.
      expect(r.all).toMatch(
        /ely-node-step: error: s1: (gave up after \d+s: consul: consul.service keeps exiting: systemd restarted it \d+ times|timed out after 45s waiting until Consul is healthy with a leader, and s1 is a Raft voter again: consul: its HTTP API does not answer yet)/,
      );
      expect(r.all).toMatch(/---- first errors of consul on s1 since the step restarted it:\n(.*\n)*.*192\.0\.2\.77.*cannot assign requested address/);
      if (/error reading server metadata: unexpected end of JSON input/.test(r.all!)) {
        expect(r.all).toMatch(/ely-node-step: consul: removed the empty \/opt\/consul\/server_metadata.json a failed start left behind/);
      }
      expect(r.all).toMatch(/ely-node-step: consul: healthy, leader elected, s1 is a voter/);
      expect(stepEvents(r.all!)).toEqual(["validate start", "validate end", "s1/update start"]);
      await expectHealthyAfterRollback("consul");
    }), 300_000);

  test("a nomad that exits at start is rolled back without waiting out the bound", () =>
    withLogs(async () => {
      // Valid for `nomad config validate`; at start sshd holds port 22, so Nomad exits, and systemd restarts it.
      const broken = Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG" }, nomad: h === "s1" ? { ports: { http: 22 } } : {} }]));
      synth(broken, { healthTimeoutSeconds: 120 });
      const started = Date.now();
      const r = await apply("nomad HTTP on port 22 of s1");
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/ely-node-step: error: s1: gave up after \d+s: nomad: nomad.service keeps exiting: systemd restarted it [3-9] times/);
      expect(r.all).toMatch(/---- first errors of nomad on s1 since the step restarted it:\n(.*\n)*.*address already in use/);
      expect(r.all).toMatch(/s1: rolled back: nomad did not come up healthy/);
      expect(r.all).toMatch(/ely-node-step: nomad: healthy, leader elected, s1 is a voter/);
      expect(Date.now() - started).toBeLessThan(100_000);
      expect(stepEvents(r.all!)).toEqual(["validate start", "validate end", "s1/update start"]);
      await expectHealthyAfterRollback("nomad");
    }), 300_000);

  test("a dead server is replaced: its steps run again (-replace), the gate lets them through, it is a voter again", () =>
    withLogs(async () => {
      // s3 dies and comes back as a fresh install: no agents, no data, no configuration, no secrets.
      await onHost("s3", "systemctl stop consul nomad; rm -rf /opt/consul /opt/nomad /var/lib/ely /etc/consul.d /etc/nomad.d /etc/ely /usr/local/bin/consul /usr/local/bin/nomad /etc/systemd/system/consul.service /etc/systemd/system/nomad.service; systemctl daemon-reload");
      synth(Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG" } }])));
      const state = await terraform(["state", "list"]);
      const s3secrets = state.stdout.split("\n").find((l) => /server-rollout_s3_secrets/.test(l))!;
      progress(`terraform apply -replace=${s3secrets} (s3 reinstalled)`);
      const r = await terraform(["apply", "-auto-approve", "-input=false", "-no-color", `-replace=${s3secrets}`], { stream: true });
      expect({ exitCode: r.exitCode, tail: r.exitCode === 0 ? "" : r.all!.split("\n").slice(-40).join("\n") }).toEqual({ exitCode: 0, tail: "" });
      // s3 is the server that is down: restarting it cannot lower the tolerance; s1 and s2 are healthy voters.
      expect(r.all).toMatch(/\[ely-step s3 3\/3\] quorum gate: consul: s3 is (unhealthy already|not in the cluster)/);
      expect(r.all).toMatch(/\[ely-step s3 3\/3\] ely-node-step: consul: healthy, leader elected, s3 is a voter/);
      expect(r.all).toMatch(/\[ely-step s3 3\/3\] ely-node-step: nomad: healthy, leader elected, s3 is a voter/);
      const consulEnv = `CONSUL_HTTP_ADDR=http://127.0.0.1:8500 CONSUL_HTTP_TOKEN=$(sed -n 's/^CONSUL_HTTP_TOKEN=//p' /etc/ely/secrets/rollout.env)`;
      const peers = await onHost("s1", `${consulEnv} consul operator raft list-peers`);
      for (const h of HOSTNAMES) expect(peers).toMatch(new RegExp(`^${h}\\s+\\S+\\s+\\S+\\s+(leader|follower)\\s+true`, "m"));
      expect(peers.split("\n").filter((l) => /^s3\s/.test(l))).toHaveLength(1);
      expect(await plannedChanges()).toEqual([]);
    }), 300_000);
});

/** After a rollback on s1: its previous files, its `agent` restarted, s2 and s3 untouched, three voters in both clusters. */
async function expectHealthyAfterRollback(agent: "consul" | "nomad"): Promise<void> {
  expect(await configShasNow()).toBe(configShas);
  expect(await onHost("s1", "test ! -e /var/lib/ely/rollout/pending && echo no-pending")).toBe("no-pending");
  const pids = await mainPids();
  expect(pids[`s1/${agent}`]).not.toBe(firstPids[`s1/${agent}`]);
  for (const h of ["s2", "s3"]) for (const a of ["consul", "nomad"]) expect(pids[`${h}/${a}`]).toBe(firstPids[`${h}/${a}`]);
  expect(await onHost("s1", "systemctl is-active consul nomad")).toBe("active\nactive");
  // Consul's autopilot counts s1 healthy again (it may take a few seconds after the rollback's own gate).
  const autopilot = `curl -s -H "X-Consul-Token: $(sed -n 's/^CONSUL_HTTP_TOKEN=//p' /etc/ely/secrets/rollout.env)" http://127.0.0.1:8500/v1/operator/autopilot/health`;
  let health = { Healthy: false, FailureTolerance: 0 };
  for (let i = 0; i < 20 && !(health.Healthy && health.FailureTolerance === 1); i++) {
    if (i > 0) await new Promise((res) => setTimeout(res, 1000));
    health = JSON.parse(await onHost("s2", autopilot));
  }
  expect({ healthy: health.Healthy, tolerance: health.FailureTolerance }).toEqual({ healthy: true, tolerance: 1 });
  const ip = hosts.hosts[0].ip;
  const nomadEnv = `NOMAD_ADDR=https://${ip}:4646 NOMAD_CACERT=/etc/ely/secrets/tls/ca.pem NOMAD_TLS_SERVER_NAME=server.global.nomad NOMAD_TOKEN=$(sed -n 's/^NOMAD_TOKEN=//p' /etc/ely/secrets/rollout.env)`;
  const nomadPeers = await onHost("s1", `${nomadEnv} nomad operator raft list-peers`);
  for (const h of HOSTNAMES) expect(nomadPeers).toMatch(new RegExp(`^${h}\\.global\\s+\\S+\\s+\\S+\\s+(leader|follower)\\s+true`, "m"));
  firstPids = pids;
}

/** sha256sum of consul.json and nomad.json on every host, in order. */
async function configShasNow(): Promise<string> {
  return (await Promise.all(HOSTNAMES.map((h) => onHost(h, "sha256sum /etc/consul.d/consul.json /etc/nomad.d/nomad.json")))).join("\n");
}
