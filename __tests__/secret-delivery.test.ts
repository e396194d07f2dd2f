/**
 * Secret delivery to netbooted nodes through real parts: `ely secrets init` (the real consul
 * binary) makes the keys and certificates, the publish program writes the bundles and key hashes
 * (openssl, tar), the generated secrets server runs in the real nginx over HTTPS, and the image's
 * own fetch-secrets script, run here against a real key disk image (mkfs.ext4, mounted read-only),
 * installs a node's files. Each node gets its own secrets only; nothing without the key.
 */
import { execFileSync, spawn, spawnSync, ChildProcess } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { consulBinary, initSecrets, readNodeKey, tfvarsOf, writeKeyDisk } from "../cli/secrets";
import { NODE_SECRET_ENV, publishNodeSecrets, publishSecretsService, revokeNodeSecrets } from "../cli/secret-publish";
import { parseTarget } from "../images/publish";
import { rootfsFiles } from "../images/rootfs-files";
import { renderSecretsNginxConf, renderSecretsUnit } from "../constructs/netboot/secret-delivery";
import { bundleFilesOf, secretsBundleUrlPath } from "../nodes/secret-delivery";
import { defaultInventory } from "./helpers/inventory";
import { missing, requires, testAgentBinDir } from "./helpers/requires";
import { freePort } from "../e2e/free-port";

const agentEnv = { ...process.env, ELY_AGENT_BIN_DIR: testAgentBinDir() };
let consul: string | undefined;
let why = missing("root") ?? missing("nginx");
if (!why) {
  try {
    consul = consulBinary(agentEnv);
  } catch (e) {
    why = (e as Error).message.split(";")[0];
  }
}
const describeReal = requires(why?.includes("consul") ? "agents" : why?.includes("nginx") ? "nginx" : "root", why).describe;

function get(port: string | number, ca: string, urlPath: string, auth?: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port: Number(port), path: urlPath, ca, auth, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

function tarList(tar: Buffer): string[] {
  return execFileSync("tar", ["-t"], { input: tar }).toString().trim().split("\n").sort();
}

function tarFile(tar: Buffer, name: string): string {
  return execFileSync("tar", ["-x", "-O", name], { input: tar }).toString();
}

describeReal("secret delivery to netbooted nodes (consul tls, openssl, tar, nginx over HTTPS, the image's fetch-secrets)", () => {
  const inventory = defaultInventory();
  // Not the tests' private output directory (0700): nginx's workers (nobody:nogroup) must reach the files.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-secret-delivery-"));
  const secretsDir = path.join(work, "secrets");
  const utilRoot = path.join(work, "util");
  const state = path.join(work, "nginx-state");
  const tokens: Record<string, string> = { w1: "11111111-aaaa-4bbb-8ccc-000000000001", w2: "11111111-aaaa-4bbb-8ccc-000000000002", w3: "11111111-aaaa-4bbb-8ccc-000000000003" };
  const nomadClientToken = "22222222-aaaa-4bbb-8ccc-000000000000";
  let port = 0;
  let ca = "";
  let nginx: ChildProcess | undefined;
  let vars: Record<string, any>;
  const features = { gossip: true, tls: true, acl: true };

  const nodeEnv = (host: string): NodeJS.ProcessEnv => ({
    ...process.env,
    [NODE_SECRET_ENV.nodeKey]: vars.netboot_node_secrets[host].key,
    [NODE_SECRET_ENV.nomadCert]: vars.netboot_node_secrets[host].nomad_cert,
    [NODE_SECRET_ENV.nomadKey]: vars.netboot_node_secrets[host].nomad_key,
    [NODE_SECRET_ENV.consulGossipKey]: vars.consul_gossip_key,
    [NODE_SECRET_ENV.tlsCa]: vars.tls_ca_cert,
    [NODE_SECRET_ENV.consulAgentToken]: tokens[host],
    [NODE_SECRET_ENV.nomadConsulToken]: nomadClientToken,
  });

  beforeAll(async () => {
    fs.chmodSync(work, 0o755);
    fs.mkdirSync(state, { recursive: true });
    await initSecrets({ dir: secretsDir, inventory, consul });
    vars = tfvarsOf(secretsDir, inventory);
    ca = fs.readFileSync(path.join(secretsDir, "ca.pem"), "utf8");
    port = await freePort();
    const conf = path.join(work, "conf");
    fs.mkdirSync(conf);
    fs.writeFileSync(path.join(conf, "nginx.conf"), renderSecretsNginxConf({ root: utilRoot, listen: `127.0.0.1:${port}`, stateDir: state, group: "nogroup", workerUser: "nobody", hostnames: ["w1", "w2", "w3"] }));
    fs.writeFileSync(path.join(conf, "ely-secrets.service"), renderSecretsUnit(utilRoot));
    const target = parseTarget(utilRoot);
    const serviceEnv = { ...process.env, ELY_PUBLISH_SERVICES: "0", ELY_SECRET_SERVICE_CERT: vars.secrets_service_tls.cert, ELY_SECRET_SERVICE_KEY: vars.secrets_service_tls.key };
    // The util node's root is traversable (/srv/ely): the server's group is given only what is below secrets/.
    fs.mkdirSync(utilRoot, { mode: 0o755 });
    await publishSecretsService({ conf, target, group: "nogroup", user: "nobody", env: serviceEnv });
    for (const host of ["w1", "w2"]) await publishNodeSecrets({ host, target, secretsDir: inventory.security.secretsDir, features, group: "nogroup", env: nodeEnv(host) });
    nginx = spawn("nginx", ["-c", path.join(utilRoot, "secrets", "nginx.conf"), "-g", "daemon off;"], { stdio: ["ignore", "inherit", "inherit"] });
    for (let i = 0; i < 100; i++) {
      try {
        await get(port, ca, "/");
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error("the secrets server did not answer on its port");
  }, 180_000);

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((r) => nginx!.once("exit", r));
      nginx.kill("SIGQUIT");
      await exited;
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  const auth = (host: string, keyOf = host) => `${host}:${vars.netboot_node_secrets[keyOf].key}`;

  test("a node with its key gets its own bundle, over HTTPS verified with the cluster CA", async () => {
    const r = await get(port, ca, secretsBundleUrlPath("w1"), auth("w1"));
    expect(r.status).toBe(200);
    const files = bundleFilesOf(inventory.security.secretsDir);
    expect(tarList(r.body)).toEqual(Object.values(files).map((f) => f.path).sort());
    expect(tarFile(r.body, files.nomadCert.path)).toBe(fs.readFileSync(path.join(secretsDir, "nodes", "w1", "nomad.pem"), "utf8"));
    const consulSecrets = JSON.parse(tarFile(r.body, files.consulSecrets.path));
    expect(consulSecrets).toEqual({ encrypt: vars.consul_gossip_key, acl: { tokens: { agent: tokens.w1 } } });
    expect(JSON.parse(tarFile(r.body, files.nomadSecrets.path))).toEqual({ consul: { token: nomadClientToken } });
  });

  test("w1's bundle holds nothing of w2 (key, certificate, token)", async () => {
    const r = await get(port, ca, secretsBundleUrlPath("w1"), auth("w1"));
    const text = r.body.toString("latin1");
    expect(text).not.toContain(tokens.w2);
    expect(text).not.toContain(vars.netboot_node_secrets.w2.nomad_key.split("\n")[1]);
    expect(text).not.toContain(vars.netboot_node_secrets.w1.key);
  });

  test("no key, another node's key, or a wrong key: refused (401)", async () => {
    expect((await get(port, ca, secretsBundleUrlPath("w1"))).status).toBe(401);
    expect((await get(port, ca, secretsBundleUrlPath("w1"), `w1:${vars.netboot_node_secrets.w2.key}`)).status).toBe(401);
    expect((await get(port, ca, secretsBundleUrlPath("w1"), auth("w2"))).status).toBe(401);
    expect((await get(port, ca, secretsBundleUrlPath("w1"), "w1:" + "0".repeat(64))).status).toBe(401);
  });

  test("a hostname the server does not know, and every other path: 404, no secret", async () => {
    expect((await get(port, ca, secretsBundleUrlPath("x9"), auth("w1"))).status).toBe(404);
    expect((await get(port, ca, "/secrets/nodes/w1/bundle.tar", auth("w1"))).status).toBe(404);
    expect((await get(port, ca, "/secrets/w1/htpasswd", auth("w1"))).status).toBe(404);
  });

  test("the util node keeps only the key's hash; bundles and hashes are 0640 for the server's group, the TLS key root's alone", () => {
    const htpasswd = fs.readFileSync(path.join(utilRoot, "secrets", "nodes", "w1", "htpasswd"), "utf8");
    expect(htpasswd).toMatch(/^w1:\$6\$/);
    expect(htpasswd).not.toContain(vars.netboot_node_secrets.w1.key);
    const mode = (p: string) => (fs.statSync(path.join(utilRoot, "secrets", p)).mode & 0o777).toString(8);
    expect([mode("nodes/w1/bundle.tar"), mode("nodes/w1/htpasswd"), mode("nodes/w1"), mode("tls/server-key.pem")]).toEqual(["640", "640", "750", "600"]);
  });

  test("the image's fetch-secrets installs the node's files from its key disk, each with its mode", async () => {
    const script = rootfsFiles({ withAgents: true, withDocker: false, withSsh: false }).files.find((f) => f.path.endsWith("/fetch-secrets"))!;
    const scriptFile = path.join(work, "fetch-secrets");
    fs.writeFileSync(scriptFile, script.content, { mode: 0o755 });
    const disk = path.join(work, "w1-key.img");
    await writeKeyDisk({ dir: secretsDir, inventory, hostname: "w1", out: disk });
    const root = path.join(work, "w1-root");
    const env = { ...process.env, ELY_KEY_DISK: disk, ELY_ROOT: root, ELY_HOSTNAME: "w1", ELY_SECRETS: `127.0.0.1:${port}` };
    const r = spawnSync("sh", [scriptFile], { env, encoding: "utf8", timeout: 60_000 });
    expect(r.stdout + r.stderr).toContain("secrets of w1 in place");
    expect(r.status).toBe(0);
    const files = bundleFilesOf(inventory.security.secretsDir);
    for (const f of Object.values(files)) {
      const st = fs.statSync(path.join(root, f.path));
      expect([f.path, (st.mode & 0o777).toString(8)]).toEqual([f.path, f.path.endsWith("key.pem") || f.path.includes("nomad.d") ? "600" : f.path.includes("consul.d") ? "640" : "644"]);
    }
    expect(fs.readFileSync(path.join(root, files.nomadKey.path), "utf8")).toBe(fs.readFileSync(path.join(secretsDir, "nodes", "w1", "nomad-key.pem"), "utf8"));
  }, 90_000);

  test("a key disk of another node is refused by the node, and names whose it is", async () => {
    const script = path.join(work, "fetch-secrets");
    const disk = path.join(work, "w2-key.img");
    await writeKeyDisk({ dir: secretsDir, inventory, hostname: "w2", out: disk });
    const env = { ...process.env, ELY_KEY_DISK: disk, ELY_ROOT: path.join(work, "w1-other"), ELY_HOSTNAME: "w1", ELY_SECRETS: `127.0.0.1:${port}` };
    const r = spawnSync("sh", [script], { env, encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("the key disk is w2's, this node is w1: not using it");
    expect(fs.existsSync(path.join(work, "w1-other"))).toBe(false);
  }, 90_000);

  test("a key disk's key is the node's key in the secrets directory", () => {
    const out = execFileSync("debugfs", ["-R", "cat /node.key", path.join(work, "w1-key.img")], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    expect(out.trim()).toBe(`w1:${readNodeKey(secretsDir, "w1")}`);
    expect((fs.statSync(path.join(work, "w1-key.img")).mode & 0o777).toString(8)).toBe("600");
  });

  test("a node missing a secret gets every problem named, with its variable, and no value shown", async () => {
    const env = { ...nodeEnv("w3"), [NODE_SECRET_ENV.nodeKey]: "short", [NODE_SECRET_ENV.consulAgentToken]: "", [NODE_SECRET_ENV.nomadCert]: "not pem" };
    await expect(publishNodeSecrets({ host: "w3", target: parseTarget(utilRoot), secretsDir: inventory.security.secretsDir, features, group: "nogroup", env })).rejects.toThrow(
      /w3: 3 problem\(s\)[\s\S]*ELY_SECRET_NODE_KEY \(var\.netboot_node_secrets\["w3"\]\.key\): received a value of 5 characters, expected 64 hex digits[\s\S]*ELY_SECRET_CONSUL_AGENT_TOKEN \(the Consul agent token of w3 \(consul-acl\)\): received nothing[\s\S]*ELY_SECRET_NOMAD_CERT \(var\.netboot_node_secrets\["w3"\]\.nomad_cert\): received a value that is not PEM/,
    );
    expect(fs.existsSync(path.join(utilRoot, "secrets", "nodes", "w3"))).toBe(false);
  });

  test("revoked: the node's bundle and key are gone, and its request is refused", async () => {
    await revokeNodeSecrets("w2", parseTarget(utilRoot));
    const r = await get(port, ca, secretsBundleUrlPath("w2"), auth("w2"));
    expect(r.status).not.toBe(200);
    expect([401, 403, 404]).toContain(r.status);
    expect((await get(port, ca, secretsBundleUrlPath("w1"), auth("w1"))).status).toBe(200);
  });
});
