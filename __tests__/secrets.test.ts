/**
 * `ely secrets`: a new cluster's CA, certificates and gossip keys, made by the real consul
 * binary, in files only their owner reads, outside any repository, fed to the plan.
 */
import { X509Certificate } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { consulBinary, initSecrets, renewNodeCertificates, replaceNodeKey, secretsEnvLines, SecretsError, TFVARS_FILE, writeKeyDisk } from "../cli/secrets";
import { ROLLOUT_VARIABLES } from "../constructs/rollout/server-rollout";
import { TEST_OUTDIR_ROOT } from "./setup";
import { defaultInventory } from "./helpers/inventory";
import { stackOf, synthOf } from "./helpers/synth";

import { requires, testAgentBinDir } from "./helpers/requires";

// consul from the agents e2e/tools/build-tools.sh builds (or PATH): CI requires them.
const agentEnv = { ...process.env, ELY_AGENT_BIN_DIR: testAgentBinDir() };
let consul: string | undefined;
let why: string | undefined;
try {
  consul = consulBinary(agentEnv);
} catch (e) {
  why = (e as Error).message.split(";")[0];
}
const withConsul = requires("agents", why).describe;

withConsul("ely secrets init", () => {
  const inventory = defaultInventory();
  const dir = path.join(TEST_OUTDIR_ROOT, "secrets", "ely");
  let logged: string[] = [];
  beforeAll(async () => {
    logged = [];
    await initSecrets({ dir, inventory, consul, progress: (l) => logged.push(l) });
  }, 120_000);
  const cert = (...p: string[]) => new X509Certificate(fs.readFileSync(path.join(dir, ...p)));

  test("every file is the owner's only, every directory 0700", () => {
    const entries = fs.readdirSync(dir, { recursive: true }) as string[];
    expect(entries.length).toBeGreaterThan(20);
    for (const e of entries) {
      const st = fs.statSync(path.join(dir, e));
      expect([e, (st.mode & 0o777).toString(8)]).toEqual([e, st.isDirectory() ? "700" : "600"]);
    }
    expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe("700");
  });

  test("servers' certificates name server.<dc>.consul and server.<region>.nomad, clients' client.*; all signed by the CA", () => {
    const ca = cert("ca.pem");
    for (const host of ["m1", "m2", "m3"]) {
      expect(cert("nodes", host, "consul.pem").subjectAltName).toContain("DNS:server.509ely.consul");
      expect(cert("nodes", host, "nomad.pem").subjectAltName).toContain("DNS:server.global.nomad");
    }
    expect(cert("nodes", "m1", "consul.pem").subjectAltName).toContain("IP Address:10.25.89.10");
    for (const host of ["w1", "w2", "w3"]) {
      expect(cert("nodes", host, "consul.pem").subjectAltName).toContain("DNS:client.509ely.consul");
      expect(cert("nodes", host, "nomad.pem").subjectAltName).toContain("DNS:client.global.nomad");
      expect(cert("nodes", host, "nomad.pem").subjectAltName).not.toContain("server.global.nomad");
    }
    for (const host of ["m1", "w2"]) {
      for (const agent of ["consul", "nomad"]) {
        const c = cert("nodes", host, `${agent}.pem`);
        expect(c.checkIssued(ca)).toBe(true);
        expect(c.verify(ca.publicKey)).toBe(true);
      }
    }
    expect(fs.existsSync(path.join(dir, "nodes", "util"))).toBe(false);
  });

  test("gossip keys are 32 random bytes, different for Consul and Nomad", () => {
    const keys = ["consul", "nomad"].map((a) => fs.readFileSync(path.join(dir, "gossip", `${a}.key`), "utf8").trim());
    for (const k of keys) expect(Buffer.from(k, "base64")).toHaveLength(32);
    expect(keys[0]).not.toBe(keys[1]);
  });

  test("the variables file holds exactly the stack's secret variables, in their declared shapes", () => {
    const vars = JSON.parse(fs.readFileSync(path.join(dir, TFVARS_FILE), "utf8"));
    const declared = Object.keys(JSON.parse(synthOf(stackOf(inventory))).variable);
    for (const name of Object.keys(vars)) expect(declared).toContain(name);
    expect(Object.keys(vars).sort()).toEqual(
      [ROLLOUT_VARIABLES.consulGossipKey, ROLLOUT_VARIABLES.nomadGossipKey, ROLLOUT_VARIABLES.serverTls, ROLLOUT_VARIABLES.tlsCaCert, "netboot_node_secrets", "secrets_service_tls"].sort(),
    );
    expect(Object.keys(vars.netboot_node_secrets).sort()).toEqual(["w1", "w2", "w3"]);
    expect(vars.netboot_node_secrets.w2.key).toMatch(/^[0-9a-f]{64}$/);
    expect(vars.netboot_node_secrets.w2.key).not.toBe(vars.netboot_node_secrets.w3.key);
    expect(vars.netboot_node_secrets.w2.nomad_key).toBe(fs.readFileSync(path.join(dir, "nodes", "w2", "nomad-key.pem"), "utf8"));
    expect(cert("util", "secrets-server.pem").subjectAltName).toContain("IP Address:10.25.89.4");
    expect(cert("util", "secrets-server.pem").checkIssued(cert("ca.pem"))).toBe(true);
    expect(Object.keys(vars.server_tls).sort()).toEqual(["m1", "m2", "m3"]);
    expect(Object.keys(vars.server_tls.m2).sort()).toEqual(["consul_cert", "consul_key", "nomad_cert", "nomad_key"]);
    expect(vars.server_tls.m2.consul_key).toBe(fs.readFileSync(path.join(dir, "nodes", "m2", "consul-key.pem"), "utf8"));
  });

  test("progress names the steps and never a secret; env prints paths only", () => {
    const everything = [...logged, ...secretsEnvLines(dir)].join("\n");
    expect(logged).toContain("certificates of w3 (client)");
    expect(everything).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(everything).not.toContain(fs.readFileSync(path.join(dir, "gossip", "consul.key"), "utf8").trim());
    expect(secretsEnvLines(dir)).toContain(`export TF_CLI_ARGS_apply=-var-file='${path.join(dir, TFVARS_FILE)}'`);
  });

  test("replacing a netbooted client's key changes its key and certificate only; other nodes are refused", async () => {
    const before = JSON.parse(fs.readFileSync(path.join(dir, TFVARS_FILE), "utf8"));
    await replaceNodeKey({ dir, inventory, consul, hostname: "w2" });
    const after = JSON.parse(fs.readFileSync(path.join(dir, TFVARS_FILE), "utf8"));
    expect(after.netboot_node_secrets.w2.key).not.toBe(before.netboot_node_secrets.w2.key);
    expect(after.netboot_node_secrets.w2.nomad_cert).not.toBe(before.netboot_node_secrets.w2.nomad_cert);
    expect(after.netboot_node_secrets.w1).toEqual(before.netboot_node_secrets.w1);
    await expect(replaceNodeKey({ dir, inventory, consul, hostname: "m1" })).rejects.toThrow('--node: received "m1", expected a netbooted client of the inventory (w1, w2, w3)');
    await expect(writeKeyDisk({ dir, inventory, hostname: "util", out: path.join(dir, "x.img") })).rejects.toThrow('--node: received "util", expected a netbooted client of the inventory (w1, w2, w3)');
  });

  test("renewing one node's certificates changes its files and its variables only", async () => {
    const before = JSON.parse(fs.readFileSync(path.join(dir, TFVARS_FILE), "utf8"));
    await renewNodeCertificates({ dir, inventory, consul, hostname: "m2" });
    const after = JSON.parse(fs.readFileSync(path.join(dir, TFVARS_FILE), "utf8"));
    expect(after.server_tls.m2.consul_cert).not.toBe(before.server_tls.m2.consul_cert);
    expect(after.server_tls.m1).toEqual(before.server_tls.m1);
    expect(after.tls_ca_cert).toBe(before.tls_ca_cert);
    expect(after.consul_gossip_key).toBe(before.consul_gossip_key);
    expect(cert("nodes", "m2", "consul.pem").checkIssued(cert("ca.pem"))).toBe(true);
    expect((fs.statSync(path.join(dir, TFVARS_FILE)).mode & 0o777).toString(8)).toBe("600");
  });

  test("refused: an existing directory, a directory inside a git work tree, an unknown node", async () => {
    await expect(initSecrets({ dir, inventory, consul })).rejects.toThrow(`--dir: received ${dir}, which exists already; expected a new directory`);
    const inRepo = path.join(__dirname, "..", "secrets-here");
    await expect(initSecrets({ dir: inRepo, inventory, consul })).rejects.toThrow(/expected a directory outside any git work tree \(it is inside .*\): secrets never enter a repository/);
    expect(fs.existsSync(inRepo)).toBe(false);
    await expect(renewNodeCertificates({ dir, inventory, consul, hostname: "util" })).rejects.toThrow('--node: received "util", expected a server or client of the inventory (m1, m2, m3, w1, w2, w3)');
  });

  test("a failing consul leaves nothing behind", async () => {
    const target = path.join(TEST_OUTDIR_ROOT, "secrets-failed", "ely");
    await expect(initSecrets({ dir: target, inventory, consul: "/bin/false" })).rejects.toBeInstanceOf(SecretsError);
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
  });
});
