/**
 * The step program of the server rollout (cli/server-step.ts) and its node side
 * (cli/server-step-remote.sh), without ssh: secret files from the environment, argument
 * quoting, the install protocol run locally in a sandbox, and `validate` with real binaries
 * when they are built (e2e/tools/build-tools.sh).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { manifestHead, parseServers, secretFiles, sshArgs, SSH_CONFIG_ENV, StepError } from "../cli/server-step";
import { shellQuote as shq } from "../constructs/shell-quote";
import { requires, testAgentBinDir } from "./helpers/requires";

const features = { gossip: true, tls: true, acl: true };
const KEY = crypto.randomBytes(32).toString("base64");
const PEM = (what: string) => `-----BEGIN ${what}-----\nMIIB${crypto.randomBytes(30).toString("base64")}\n-----END ${what}-----\n`;
const fullEnv = () => ({
  ELY_SECRET_CONSUL_GOSSIP_KEY: KEY,
  ELY_SECRET_NOMAD_GOSSIP_KEY: KEY,
  ELY_SECRET_TLS_CA: PEM("CERTIFICATE"),
  ELY_SECRET_TLS: JSON.stringify({ consul_cert: PEM("CERTIFICATE"), consul_key: PEM("EC PRIVATE KEY"), nomad_cert: PEM("CERTIFICATE"), nomad_key: PEM("EC PRIVATE KEY") }),
  ELY_SECRET_CONSUL_AGENT_TOKEN: "agent-token-1",
  ELY_SECRET_NOMAD_CONSUL_TOKEN: "",
  ELY_SECRET_CONSUL_TOKEN: "consul-operator-1",
  ELY_SECRET_NOMAD_TOKEN: "nomad-operator-1",
});

describe("secret files of a node, from the environment", () => {
  test("every file with its owner and mode; keys readable by their agent only", () => {
    const files = secretFiles("m1", "/etc/ely/secrets", features, fullEnv());
    expect(files.map((f) => `${f.file.mode.toString(8)} ${f.file.owner}:${f.file.group} ${f.file.path}`)).toEqual([
      "600 consul:consul /etc/consul.d/secrets.json",
      "600 root:root /etc/nomad.d/secrets.json",
      "644 root:root /etc/ely/secrets/tls/ca.pem",
      "644 root:root /etc/ely/secrets/tls/consul.pem",
      "600 consul:consul /etc/ely/secrets/tls/consul-key.pem",
      "644 root:root /etc/ely/secrets/tls/nomad.pem",
      "600 root:root /etc/ely/secrets/tls/nomad-key.pem",
      "600 root:root /etc/ely/secrets/rollout.env",
    ]);
    const content = (p: string) => files.find((f) => f.file.path === p)!.content!.toString();
    expect(JSON.parse(content("/etc/consul.d/secrets.json"))).toEqual({ encrypt: KEY, acl: { tokens: { agent: "agent-token-1", initial_management: "consul-operator-1" } } });
    // An empty optional token is left out rather than written empty.
    expect(JSON.parse(content("/etc/nomad.d/secrets.json"))).toEqual({ server: { encrypt: KEY } });
    expect(content("/etc/ely/secrets/rollout.env")).toBe("CONSUL_HTTP_TOKEN=consul-operator-1\nNOMAD_TOKEN=nomad-operator-1\n");
    for (const f of files) expect(f.sha256).toBe(crypto.createHash("sha256").update(f.content!).digest("hex"));
  });

  test("only what the features need", () => {
    expect(secretFiles("m1", "/etc/ely/secrets", { gossip: false, tls: false, acl: false }, {})).toEqual([]);
    expect(secretFiles("m1", "/s", { gossip: true, tls: false, acl: false }, fullEnv()).map((f) => f.file.path)).toEqual(["/etc/consul.d/secrets.json", "/etc/nomad.d/secrets.json"]);
  });

  test("a missing or malformed secret is named by variable, its value never shown", () => {
    const bad = (change: Record<string, string>) => {
      try {
        secretFiles("m1", "/etc/ely/secrets", features, { ...fullEnv(), ...change });
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    };
    expect(bad({ ELY_SECRET_CONSUL_GOSSIP_KEY: "not-a-key-s3cret" })).toBe(
      "ELY_SECRET_CONSUL_GOSSIP_KEY (var.consul_gossip_key): received a value of 16 characters, expected base64 of 16, 24 or 32 bytes (`consul keygen`)",
    );
    expect(bad({ ELY_SECRET_TLS: JSON.stringify({ consul_cert: PEM("CERTIFICATE"), consul_key: "s3cret" }) })).toBe(
      'ELY_SECRET_TLS.consul_key (var.server_tls["m1"].consul_key): received a value that is not PEM, expected PEM text ("-----BEGIN ...")',
    );
    expect(bad({ ELY_SECRET_NOMAD_TOKEN: "" })).toMatch(/^m1: ELY_SECRET_CONSUL_TOKEN and ELY_SECRET_NOMAD_TOKEN \(var.consul_token, var.nomad_token\) must be set when ACLs are on/);
    expect(bad({ ELY_SECRET_CONSUL_AGENT_TOKEN: "a'b s3cret" })).toBe(
      'ELY_SECRET_CONSUL_AGENT_TOKEN (var.consul_agent_tokens["m1"]): received a value with spaces, quotes or newlines, expected a token',
    );
    expect(bad({ ELY_SECRET_TLS: "{not json s3cret" })).toBe('ELY_SECRET_TLS (var.server_tls["m1"]): expected JSON of { consul_cert, consul_key, nomad_cert, nomad_key }');
  });
});

test("--pin applies to the official archives only", async () => {
  const step = path.join(__dirname, "..", "dist", "cli", "server-step.js");
  const args = ["validate", "--configs", "/nonexistent", "--hosts", "m1", "--consul-version", "1.16.3", "--nomad-version", "1.6.3"];
  const dir = await execa(process.execPath, [step, ...args, "--agents", "dir:/nonexistent", "--pin", `consul=${"a".repeat(64)}`], { reject: false });
  expect(dir.stderr).toBe("ely-step: --pin: only the official release archives are pinned by sha256, the source is dir:/nonexistent");
  const bad = await execa(process.execPath, [step, ...args, "--agents", "official", "--pin", "consul=abc"], { reject: false });
  expect(bad.stderr).toBe('ely-step: --pin: received "consul=abc", expected consul=<sha256> or nomad=<sha256>');
});

describe("the root manifest", () => {
  test("holds one line per directory, each split into exactly its words", () => {
    const lines = manifestHead("/etc/ely/secrets");
    expect(lines).toContain("dir 0750 root consul /etc/ely/secrets");
    for (const line of lines.filter((l) => l.startsWith("dir "))) expect(line.split(/\s+/)).toHaveLength(5);
  });

  test.each([
    ["/etc/ely\ndir 0777 root root /etc", "--secrets-dir: received \"/etc/ely\\ndir 0777 root root /etc\", expected a dedicated directory for the secrets"],
    ["/etc", '--secrets-dir: received "/etc", expected a directory dedicated to Ely\'s secrets such as /etc/ely/secrets, not the system directory /etc'],
    ["/etc/ely secrets", '--secrets-dir: received "/etc/ely secrets", expected a dedicated directory'],
  ])("a secrets directory %j is refused before anything reaches the node", (dir, message) => {
    expect(() => manifestHead(dir)).toThrow(StepError);
    expect(() => manifestHead(dir)).toThrow(message);
  });
});

test("--servers: host=ip entries name the servers for the quorum gate; a bare address names itself", () => {
  expect(parseServers("m1=10.0.0.1,m2=10.0.0.2,,10.0.0.3")).toEqual([
    { host: "m1", ip: "10.0.0.1" },
    { host: "m2", ip: "10.0.0.2" },
    { host: "10.0.0.3", ip: "10.0.0.3" },
  ]);
});

describe("ssh invocation", () => {
  test("words are quoted for the remote shell", () => {
    expect(shq("/etc/ely/secrets")).toBe("/etc/ely/secrets");
    expect(shq("node=m1")).toBe("node=m1");
    expect(shq("it's here")).toBe(`'it'\\''s here'`);
  });

  test("port, options and $ELY_SSH_CONFIG", () => {
    const target = { host: "m1", address: "10.25.89.10", user: "pi", port: 2222, options: ["BatchMode=yes"] };
    expect(sshArgs(target, "true", {})).toEqual([
      "-p", "2222", "-o", "BatchMode=yes",
      "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", // always bounded
      "pi@10.25.89.10", "--", "true",
    ]);
    // A bound the caller sets is the caller's (ssh takes an option's first value): not repeated.
    expect(sshArgs({ ...target, options: ["connecttimeout=3"] }, "true", {}).filter((a) => /^connecttimeout/i.test(a))).toEqual(["connecttimeout=3"]);
    expect(sshArgs(target, "true", { [SSH_CONFIG_ENV]: "/tmp/cfg" }).slice(0, 2)).toEqual(["-F", "/tmp/cfg"]);
  });
});

const script = path.join(__dirname, "..", "cli", "server-step-remote.sh");

test("the node-side script is valid bash", async () => {
  expect((await execa("bash", ["-n", script], { reject: false })).exitCode).toBe(0);
});

requires("root").describe("the node-side install protocol, run locally (root)", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-node-step-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], input?: string) =>
    execa("bash", [script, ...args], { input, reject: false, env: { ELY_NODE_STATE_DIR: path.join(dir, "state") } });
  const sha = (text: string) => crypto.createHash("sha256").update(text).digest("hex");
  const line = (mode: string, p: string, text: string) => `file ${mode} root root ${p} ${sha(text)} ${Buffer.from(text).toString("base64")}`;

  test("install-inline writes with mode and owner, reports changes once, fixes drifted modes", async () => {
    const secret = path.join(dir, "etc", "secret.json");
    const pub = path.join(dir, "etc", "public.pem");
    const manifest = [`dir 0750 root root ${path.join(dir, "etc")}`, line("0600", secret, "{}\n"), line("0644", pub, "PEM\n")].join("\n") + "\n";
    const first = await run(["install-inline"], manifest);
    expect(first.stderr).toBe("");
    expect(first.stdout.split("\n").filter((l) => l.startsWith("changed"))).toEqual([`changed ${secret}`, `changed ${pub}`]);
    expect((fs.statSync(secret).mode & 0o777).toString(8)).toBe("600");
    expect((fs.statSync(pub).mode & 0o777).toString(8)).toBe("644");
    expect((fs.statSync(path.join(dir, "etc")).mode & 0o777).toString(8)).toBe("750");
    expect(fs.readFileSync(secret, "utf8")).toBe("{}\n");
    const second = await run(["install-inline"], manifest);
    expect(second.stdout).not.toMatch(/changed/);
    fs.chmodSync(pub, 0o666);
    expect((await run(["install-inline"], manifest)).stdout).toContain(`fixed mode/owner of ${pub}`);
    expect((fs.statSync(pub).mode & 0o777).toString(8)).toBe("644");
    expect(fs.readdirSync(path.join(dir, "etc")).sort()).toEqual(["public.pem", "secret.json"]);
  });

  test("a replaced file keeps its previous version; rollback puts it back (and removes a new one), commit forgets", async () => {
    const etc = path.join(dir, "etc");
    const config = path.join(etc, "consul.json");
    const added = path.join(etc, "secrets.json");
    const head = `dir 0750 root root ${etc}`;
    await run(["install-inline"], [head, line("0640", config, "v1\n")].join("\n") + "\n");
    expect((await run(["commit"])).stdout).toBe("ely-node-step: committed: 0 files replaced (their previous versions stay as <file>.previous), 1 new");
    // v1 is what the agents run healthy with; two installs before a commit keep v1 as the previous version.
    await run(["install-inline"], [head, line("0640", config, "v2\n")].join("\n") + "\n");
    await run(["install-inline"], [head, line("0640", config, "v3\n"), line("0600", added, "{}\n")].join("\n") + "\n");
    expect(fs.readFileSync(`${config}.previous`, "utf8")).toBe("v1\n");
    expect((fs.statSync(`${config}.previous`).mode & 0o777).toString(8)).toBe("640");
    expect(fs.existsSync(`${added}.previous`)).toBe(false);
    const back = await run(["rollback"]);
    expect(back.stdout).toBe(`restored ${config}\nremoved ${added}`);
    expect(fs.readFileSync(config, "utf8")).toBe("v1\n");
    expect((fs.statSync(config).mode & 0o777).toString(8)).toBe("640");
    expect(fs.existsSync(added)).toBe(false);
    expect((await run(["rollback"])).stdout).toBe("ely-node-step: nothing to roll back: no file was replaced since the last commit");
    expect((await run(["rollback", "vault"])).stderr).toBe("ely-node-step: error: rollback: received agent 'vault', expected consul or nomad");
    // After a commit the next replacement takes a fresh previous copy.
    await run(["install-inline"], [head, line("0640", config, "v4\n")].join("\n") + "\n");
    expect((await run(["commit"])).stdout).toBe("ely-node-step: committed: 1 files replaced (their previous versions stay as <file>.previous), 0 new");
    await run(["install-inline"], [head, line("0640", config, "v5\n")].join("\n") + "\n");
    expect(fs.readFileSync(`${config}.previous`, "utf8")).toBe("v4\n");
  });

  test("would-restart compares the files as they will be with what the agent last started with", async () => {
    const file = path.join(dir, "consul.json");
    fs.writeFileSync(file, "v1\n");
    fs.mkdirSync(path.join(dir, "state"), { recursive: true });
    fs.writeFileSync(path.join(dir, "state", "consul.applied"), `${sha("v1\n")} ${file}\n`);
    // Same content: the verdict is then the unit's state (no consul unit runs here).
    expect((await run(["would-restart", "consul", file])).stdout).toMatch(/^(restart it was (inactive|unknown)|keep active)$/);
    expect((await run(["would-restart", "consul", `${file}=${sha("v2\n")}`])).stdout).toBe(`restart changed: ${file}`);
    expect((await run(["would-restart", "consul", path.join(dir, "missing")])).stdout).toBe(`restart changed: ${path.join(dir, "missing")}`);
  });

  test("a damaged transfer is refused, the old file kept", async () => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const r = await run(["install-inline"], `file 0644 root root ${target} ${sha("expected")} ${Buffer.from("other").toString("base64")}\n`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${target}: received content with sha256 ${sha("other")}, expected ${sha("expected")} (transfer damaged?)`);
    expect(fs.readFileSync(target, "utf8")).toBe("old");
  });

  test("install from a tar; a binary must report the pinned version before anything is installed", async () => {
    const send = path.join(dir, "send");
    fs.mkdirSync(send);
    fs.writeFileSync(path.join(send, "f0"), "#!/bin/sh\necho 'Consul v1.16.3'\necho 'Revision abc'\n", { mode: 0o755 });
    const dest = path.join(dir, "bin", "consul");
    const body = fs.readFileSync(path.join(send, "f0"), "utf8");
    const tarOf = async (version: string) => {
      fs.writeFileSync(path.join(send, "manifest"), `version consul ${version} f0\nfile 0755 root root ${dest} ${sha(body)} f0\n`);
      return (await execa("tar", ["-c", "-C", send, "."], { encoding: null })).stdout as unknown as Buffer;
    };
    const wrong = await execa("bash", [script, "install"], { input: await tarOf("1.16.6"), reject: false, env: { ELY_NODE_STATE_DIR: path.join(dir, "state") } });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/consul: .*f0 reports 'Consul v1\.16\.3', expected version 1\.16\.6 \(the inventory's versions\.consul\)/);
    expect(fs.existsSync(dest)).toBe(false);
    const right = await execa("bash", [script, "install"], { input: await tarOf("1.16.3"), reject: false, env: { ELY_NODE_STATE_DIR: path.join(dir, "state") } });
    expect(right.stdout).toContain(`changed ${dest}`);
    expect((await run(["hashes", dest, path.join(dir, "missing")])).stdout).toBe(`${sha(body)} ${dest}\n- ${path.join(dir, "missing")}`);
    // Nothing is left in the state directory's incoming area; the new file is pending until a commit.
    expect(fs.readdirSync(path.join(dir, "state"))).toEqual(["pending"]);
    expect(fs.readFileSync(path.join(dir, "state", "pending"), "utf8")).toBe(`${dest}\n`);
  });
});

const bins = testAgentBinDir();

requires("agents").describe("validate with the real consul and nomad (built by e2e/tools/build-tools.sh)", () => {
  const step = path.join(__dirname, "..", "dist", "cli", "server-step.js");
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-validate-step-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(host: string, consul: object, nomad: object) {
    fs.mkdirSync(path.join(dir, host), { recursive: true });
    fs.writeFileSync(path.join(dir, host, "consul.json"), JSON.stringify(consul));
    fs.writeFileSync(path.join(dir, host, "nomad.json"), JSON.stringify(nomad));
  }
  const validate = () =>
    execa(process.execPath, [step, "validate", "--configs", dir, "--hosts", "m1,m2", "--consul-version", "1.16.3", "--nomad-version", "1.6.3", "--features", "gossip,acl", "--agents", `dir:${bins}`], { reject: false, all: true });

  test("valid files pass, with placeholder secrets of the real shape", async () => {
    // bind_addr, as every rendered file has it: without one, `consul validate` depends on this machine's addresses.
    for (const h of ["m1", "m2"]) write(h, { server: true, bootstrap_expect: 3, data_dir: "/opt/consul", bind_addr: "127.0.0.1", encrypt_verify_incoming: true }, { server: { enabled: true, bootstrap_expect: 3 }, data_dir: "/opt/nomad" });
    const r = await validate();
    expect(r.all).toContain("[ely-step validate] all 2 servers' configuration valid");
    expect(r.exitCode).toBe(0);
  });

  test("one bad file fails the step, naming the server and the agent; nothing is touched", async () => {
    write("m1", { server: true, data_dir: "/opt/consul" }, { server: { enabled: true }, data_dir: "/opt/nomad" });
    write("m2", { server: true, data_dir: "/opt/consul" }, { server: { enabled: true, no_such_field: 1 }, data_dir: "/opt/nomad" });
    const r = await validate();
    expect(r.exitCode).toBe(1);
    expect(r.all).toContain("ely-step: configuration check failed; no server was touched:");
    expect(r.all).toMatch(/m2: `nomad config validate` rejects m2\/nomad\.json:[\s\S]*no_such_field/);
  });
});
