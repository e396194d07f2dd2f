/**
 * The server rollout for real: Terraform runs the synthesized steps (cli/server-step.ts) over
 * real ssh against three Debian hosts booted with systemd-nspawn (hosts.ts), in order. Real
 * Consul and Nomad servers run inside the hosts with gossip encryption, TLS and ACLs on, so the
 * health gate (leader, Raft voter) is exercised for real. Checks the files, modes, owners and
 * units the steps leave, that a second apply changes nothing, that a re-run restarts nothing,
 * that a configuration change rolls one server at a time, and that an invalid configuration
 * stops the rollout before the first server.
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

/** The exports of e2e/tools/build-tools.sh --env (builds what is missing; a no-op when cached). */
async function toolsEnv(): Promise<NodeJS.ProcessEnv> {
  progress("tools: e2e/tools/build-tools.sh --env");
  const r = await execa(path.join(root, "e2e/tools/build-tools.sh"), ["--env"], { reject: false });
  if (r.exitCode !== 0) throw new Error(`build-tools.sh failed:\n${r.stderr.split("\n").slice(-20).join("\n")}`);
  const out: NodeJS.ProcessEnv = {};
  for (const line of r.stdout.split("\n")) {
    const m = /^export (\w+)='([^']*)'(:"\$PATH")?$/.exec(line.trim()) ?? /^export (\w+)=(\S+)$/.exec(line.trim());
    if (!m) continue;
    out[m[1]] = m[3] ? `${m[2]}:${process.env.PATH}` : m[2];
  }
  return out;
}

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
  env = { ...process.env, ...(await toolsEnv()), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", ELY_PROJECT_DIR: root };
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
      // The cluster had a leader: the gate required s2 to be a voter.
      expect(r.all).toMatch(/\[ely-step s2 2\/3\] the gate requires a leader and s2 as a Raft voter \(the cluster had a leader before this step\)/);
      expect(await mainPids()).toEqual(firstPids);
    }), 300_000);

  test("a configuration change rolls the servers one at a time, restarting only the agent whose files changed", () =>
    withLogs(async () => {
      synth(Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG" } }])));
      expect(await plannedChanges()).toEqual(["s1_update:delete+create", "s2_update:delete+create", "s3_update:delete+create", "validate:delete+create"]);
      const r = await apply("consul log_level DEBUG on every server");
      expect(r.exitCode).toBe(0);
      expect(stepEvents(r.all!)).toEqual([
        "validate start", "validate end",
        "s1/update start", "s1/update end",
        "s2/update start", "s2/update end",
        "s3/update start", "s3/update end",
      ]);
      for (const h of HOSTNAMES) {
        const label = `\\[ely-step ${h} ${HOSTNAMES.indexOf(h) + 1}/3\\]`;
        expect(r.all).toMatch(new RegExp(`${label} sending 1 changed files: /etc/consul.d/consul.json`));
        expect(r.all).toMatch(new RegExp(`${label} ely-node-step: consul: restarting \\(changed: /etc/consul.d/consul.json\\)`));
        expect(r.all).toMatch(new RegExp(`${label} ely-node-step: consul: healthy, leader elected, ${h} is a voter`));
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
      configShas = (await Promise.all(HOSTNAMES.map((h) => onHost(h, "sha256sum /etc/consul.d/consul.json /etc/nomad.d/nomad.json")))).join("\n");
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
      expect((await Promise.all(HOSTNAMES.map((h) => onHost(h, "sha256sum /etc/consul.d/consul.json /etc/nomad.d/nomad.json")))).join("\n")).toBe(configShas);
      expect(await mainPids()).toEqual(firstPids);
    }), 300_000);

  test("a server that does not come back healthy stops the rollout there, with a clear timeout message", () =>
    withLogs(async () => {
      // Nomad's HTTP API moves away from where the gate looks: s1 restarts, never answers, and s2 and s3 are not touched.
      const broken = Object.fromEntries(HOSTNAMES.map((h) => [h, { consul: { log_level: "DEBUG" }, nomad: { ports: { http: 4747 } } }]));
      synth(broken, { healthTimeoutSeconds: 15 });
      const r = await apply("nomad HTTP port moved, 15 s gate");
      expect(r.exitCode).not.toBe(0);
      expect(r.all).toMatch(/ely-node-step: error: s1: timed out after 15s waiting until Consul and Nomad are healthy, have a leader, and s1 is a Raft voter again: nomad: its HTTP API does not answer yet/);
      expect(r.all).toMatch(/---- last lines of journalctl -u nomad on s1:/);
      expect(stepEvents(r.all!)).toEqual(["validate start", "validate end", "s1/update start"]);
      const pids = await mainPids();
      expect(pids["s1/nomad"]).not.toBe(firstPids["s1/nomad"]);
      for (const h of ["s2", "s3"]) for (const agent of ["consul", "nomad"]) expect(pids[`${h}/${agent}`]).toBe(firstPids[`${h}/${agent}`]);
      const shas = (await Promise.all(HOSTNAMES.map((h) => onHost(h, "sha256sum /etc/consul.d/consul.json /etc/nomad.d/nomad.json")))).join("\n");
      expect(shas.split("\n").slice(2)).toEqual(configShas.split("\n").slice(2));
    }), 300_000);
});
