import * as fs from "fs";
import * as path from "path";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { AgentSource } from "../images/agents";
import { AgentConfigBundle, agentsHash, Cluster, ServerRollout, ServerRolloutProps, unitOf } from "../constructs";
import { Inventory } from "../nodes";
import { inventoryWith, defaultInventory } from "./helpers/inventory";
import { testApp } from "./helpers/synth";
import { TEST_OUTDIR_ROOT } from "./setup";

/** A stack holding the cluster and the rollout wired as ElyStack wires it (independent of ElyStack's own wiring). */
class RolloutTestStack extends TerraformStack {
  readonly cluster: Cluster;
  constructor(inventory: Inventory) {
    super(testApp(), inventory.name);
    this.cluster = new Cluster(this, "cluster", { inventory });
  }
}

function stackOf(inventory: Inventory = defaultInventory()): RolloutTestStack {
  return new RolloutTestStack(inventory);
}

function validationErrorsOf(stack: TerraformStack): string[] {
  return stack.node.findAll().flatMap((c) => c.node.validate());
}

/** A directory agent source with tiny fake binaries (ELF headers of the right machine), deterministic content. */
function fakeAgents(version = "a"): AgentSource {
  const dir = path.join(TEST_OUTDIR_ROOT, `agents-${version}`);
  for (const [arch, machine] of [["amd64", 0x3e], ["arm64", 0xb7]] as const) {
    fs.mkdirSync(path.join(dir, `linux_${arch}`), { recursive: true });
    for (const name of ["consul", "nomad"]) {
      const head = Buffer.alloc(64);
      head.writeUInt32BE(0x7f454c46, 0);
      head.writeUInt16LE(machine, 18);
      fs.writeFileSync(path.join(dir, `linux_${arch}`, name), Buffer.concat([head, Buffer.from(`${name} ${arch} ${version}`)]));
    }
  }
  return { kind: "dir", path: dir };
}

interface Synthesized {
  stack: RolloutTestStack;
  rollout: ServerRollout;
  json: {
    resource?: { null_resource?: Record<string, NullResource> };
    variable: Record<string, { sensitive?: boolean; default?: unknown; type?: string; validation?: unknown[] }>;
  };
  text: string;
}

interface NullResource {
  triggers: Record<string, string>;
  depends_on?: string[];
  provisioner: { "local-exec": { command: string; environment?: Record<string, string> } }[];
}

/** The rollout as ElyStack wires it: cluster.servers, cluster.agentConfigs, the providers' tokens. */
function synth(inventory: Inventory = defaultInventory(), extra: Partial<ServerRolloutProps> = {}, agents: AgentSource = fakeAgents()): Synthesized {
  const stack = stackOf(inventory);
  const rollout = new ServerRollout(stack, "server-rollout", {
    inventory,
    nodes: stack.cluster.servers,
    agentConfigs: stack.cluster.agentConfigs,
    consulToken: stack.cluster.providers.consulToken.stringValue,
    nomadToken: stack.cluster.providers.nomadToken.stringValue,
    agentSource: agents,
    ...extra,
  });
  const text = Testing.synth(stack);
  return { stack, rollout, json: JSON.parse(text), text };
}

/** "server-rollout_m2_update_ABCD1234" -> "m2/update". */
function short(name: string): string {
  return name.replace(/^(null_resource\.)?server-rollout_/, "").replace(/_[0-9A-F]{8}$/, "").replace("_", "/");
}

function rolloutResources(s: Synthesized): Record<string, NullResource> {
  return Object.fromEntries(
    Object.entries(s.json.resource?.null_resource ?? {})
      .filter(([name]) => name.startsWith("server-rollout_"))
      .map(([name, r]) => [short(name), r]),
  );
}

const base = synth();
const resources = rolloutResources(base);

describe("the server rollout's steps", () => {
  test("one validation, then per ssh server a secrets and an update step; clients and util get none", () => {
    expect(Object.keys(resources).sort()).toEqual(["m1/secrets", "m1/update", "m2/secrets", "m2/update", "m3/secrets", "m3/update", "validate"]);
    expect(base.rollout.servers.map((n) => n.hostname)).toEqual(["m1", "m2", "m3"]);
  });

  test("rolling order: validate, m1, m2, m3; each server's steps wait for the previous server's update", () => {
    const deps = (r: NullResource) => (r.depends_on ?? []).map((d) => short(d));
    const secretsRef = (r: NullResource) => short(/\$\{(null_resource\.[^.]+)\.id\}/.exec(r.triggers.secrets_step)![1]);
    expect(deps(resources["m1/secrets"])).toEqual(["validate"]);
    expect(deps(resources["m2/secrets"])).toEqual(["validate", "m1/update"]);
    expect(deps(resources["m3/secrets"])).toEqual(["validate", "m2/update"]);
    for (const h of ["m1", "m2", "m3"]) expect(secretsRef(resources[`${h}/update`])).toBe(`${h}/secrets`);
    expect(resources["m2/update"].provisioner[0]["local-exec"].command).toMatch(/ --position 2 --count 3 --servers m1=10\.25\.89\.10,m2=10\.25\.89\.20,m3=10\.25\.89\.30 /);
  });

  test("the secrets steps know the cluster too: the quorum gate runs before a secret that restarts an agent is written", () => {
    expect(resources["m2/secrets"].provisioner[0]["local-exec"].command).toMatch(
      / --servers m1=10\.25\.89\.10,m2=10\.25\.89\.20,m3=10\.25\.89\.30 --datacenter \S+ --region \S+ --timeout 300 --label /,
    );
  });

  test("each update step ends with the bounded health gate (default 300 s, configurable)", () => {
    expect(resources["m1/update"].provisioner[0]["local-exec"].command).toMatch(/ --timeout 300$/);
    const custom = rolloutResources(synth(defaultInventory(), { healthTimeoutSeconds: 120 }));
    expect(custom["m3/update"].provisioner[0]["local-exec"].command).toMatch(/ --timeout 120$/);
  });

  test("triggers are content hashes of what is pushed", () => {
    const m1 = resources["m1/update"].triggers;
    const configs = base.stack.cluster.agentConfigs;
    expect(m1).toMatchObject({
      target: "root@10.25.89.10:22",
      arch: "arm64",
      consul_version: defaultInventory().versions.consul,
      nomad_version: defaultInventory().versions.nomad,
      consul_json_sha256: configs.fileHash("m1", "consul.json"),
      nomad_json_sha256: configs.fileHash("m1", "nomad.json"),
      units_sha256: require("crypto").createHash("sha256").update(unitOf("consul") + unitOf("nomad")).digest("hex"),
      features: "gossip,tls,acl",
      secrets_dir: "/etc/ely/secrets",
    });
    expect(m1.agents_sha256).toMatch(/^[0-9a-f]{64}$/);
    // The update step runs with the hash of the binaries it was planned with.
    expect(resources["m1/update"].provisioner[0]["local-exec"].command).toContain(`--expect-agents ${m1.agents_sha256}`);
  });

  test("an unchanged inventory plans nothing: a second synth gives identical triggers", () => {
    const again = rolloutResources(synth());
    for (const [name, r] of Object.entries(resources)) expect({ name, triggers: again[name].triggers }).toEqual({ name, triggers: r.triggers });
  });

  test("a change to one server's configuration changes that server's update and the validation, nothing else", () => {
    const changed = rolloutResources(synth(inventoryWith((i) => (i.nodes[2].agentOverrides = { consul: { log_level: "DEBUG" } }))));
    const differing = Object.keys(resources).filter((name) => JSON.stringify(resources[name].triggers) !== JSON.stringify(changed[name].triggers));
    expect(differing.sort()).toEqual(["m2/update", "validate"]);
  });

  test("new binaries change every update step of that architecture, and no secrets step", () => {
    const changed = rolloutResources(synth(defaultInventory(), {}, fakeAgents("b")));
    const differing = Object.keys(resources).filter((name) => JSON.stringify(resources[name].triggers) !== JSON.stringify(changed[name].triggers));
    expect(differing.sort()).toEqual(["m1/update", "m2/update", "m3/update"]);
  });

  test("the official release archives: version and pinned sha256 in the trigger, the pins passed to the step", () => {
    const sha = "a".repeat(64);
    const official: AgentSource = { kind: "official", pinnedSha256: { consul: sha } };
    const r = rolloutResources(synth(defaultInventory(), { agentSource: official }));
    const { consul, nomad } = defaultInventory().versions;
    expect(r["m1/update"].triggers.agents_sha256).toBe(agentsHash(official, { consul, nomad }, "arm64"));
    expect(r["m1/update"].provisioner[0]["local-exec"].command).toContain(` --agents official --pin consul=${sha} --expect-agents `);
    expect(r.validate.provisioner[0]["local-exec"].command).toMatch(/ --agents official --pin consul=a{64}$/);
  });

  test("the validation step checks every ssh server's rendered files before anything else", () => {
    const v = resources.validate;
    const command = v.provisioner[0]["local-exec"].command;
    const { consul, nomad } = defaultInventory().versions;
    expect(command).toMatch(/\/dist\/cli\/server-step\.js" validate --configs assets\/cluster_agent-configs_files_[0-9A-F]+\/[0-9a-f]{32} --hosts m1,m2,m3 /);
    expect(command).toContain(` --hosts m1,m2,m3 --consul-version ${consul} --nomad-version ${nomad} --features gossip,tls,acl --agents dir:`);
    expect(Object.keys(v.triggers).sort()).toEqual(
      ["consul_version", "features", "layout", "m1_consul_json", "m1_nomad_json", "m2_consul_json", "m2_nomad_json", "m3_consul_json", "m3_nomad_json", "nomad_version"].sort(),
    );
  });
});

describe("secrets", () => {
  test("reach the secrets steps only through the local-exec environment, from sensitive variables", () => {
    const env = resources["m2/secrets"].provisioner[0]["local-exec"].environment!;
    expect(env).toEqual({
      ELY_SECRET_CONSUL_GOSSIP_KEY: "${var.consul_gossip_key}",
      ELY_SECRET_NOMAD_GOSSIP_KEY: "${var.nomad_gossip_key}",
      ELY_SECRET_TLS_CA: "${var.tls_ca_cert}",
      ELY_SECRET_TLS: '${jsonencode(lookup(var.server_tls, "m2"))}',
      ELY_SECRET_CONSUL_AGENT_TOKEN: '${lookup(var.consul_agent_tokens, "m2", "")}',
      ELY_SECRET_NOMAD_CONSUL_TOKEN: "${var.nomad_server_consul_token}",
      ELY_SECRET_CONSUL_TOKEN: "${var.consul_token}",
      ELY_SECRET_NOMAD_TOKEN: "${var.nomad_token}",
    });
    for (const name of ["consul_gossip_key", "nomad_gossip_key", "tls_ca_cert", "server_tls", "consul_agent_tokens", "nomad_server_consul_token"]) {
      expect({ name, sensitive: base.json.variable[name].sensitive }).toEqual({ name, sensitive: true });
    }
    // No default holds a value: only "no token" defaults.
    expect(base.json.variable.consul_agent_tokens.default).toEqual({});
    expect(base.json.variable.nomad_server_consul_token.default).toBe("");
    expect(base.json.variable.consul_gossip_key.default).toBeUndefined();
    expect(base.json.variable.server_tls.validation).toEqual([
      {
        condition: '${alltrue([for h in ["m1","m2","m3"] : contains(keys(var.server_tls), h)])}',
        error_message: "server_tls needs an entry for each server updated over ssh: m1, m2, m3.",
      },
    ]);
  });

  test("the update steps hold no sensitive value (their output stays visible); a new secret replaces them through the secrets step's id", () => {
    for (const h of ["m1", "m2", "m3"]) {
      const update = resources[`${h}/update`];
      expect(update.provisioner[0]["local-exec"].environment).toBeUndefined();
      expect(JSON.stringify(update)).not.toMatch(/var\./);
    }
    expect(resources["m1/secrets"].triggers.secrets_sha256).toMatch(/^\$\{sha256\(jsonencode\(\[.*var\.consul_gossip_key.*\]\)\)\}$/);
  });

  test("no command line carries a secret, and no secret-like literal is in the configuration", () => {
    for (const r of Object.values(resources)) expect(r.provisioner[0]["local-exec"].command).not.toMatch(/ELY_SECRET|var\./);
    expect(base.text).not.toMatch(/"(encrypt|token|consul_key|nomad_key)"\s*:\s*"(?!\$\{)[^"]+"/);
  });

  test("props can take the secrets from elsewhere: then no variable is made for them", () => {
    const s = synth(defaultInventory(), { consulGossipKey: "${var.shared_gossip}", nomadGossipKey: "${var.shared_gossip}" });
    expect(Object.keys(s.json.variable)).not.toContain("consul_gossip_key");
    expect(rolloutResources(s)["m1/secrets"].provisioner[0]["local-exec"].environment!.ELY_SECRET_CONSUL_GOSSIP_KEY).toBe("${var.shared_gossip}");
  });

  test("with gossip, TLS and ACLs off there is no secret to deliver", () => {
    const s = synth(inventoryWith((i) => (i.security = { acl: false, tls: false, gossipEncryption: false })), { consulToken: undefined, nomadToken: undefined });
    expect(validationErrorsOf(s.stack)).toEqual([]);
    const r = rolloutResources(s);
    expect(r["m1/secrets"].provisioner[0]["local-exec"].environment).toEqual({});
    expect(r["m1/secrets"].triggers.secrets_sha256).toBeUndefined();
    expect(Object.keys(s.json.variable).filter((v) => !["consul_token", "nomad_token", "namecheap_api_key"].includes(v))).toEqual([]);
    expect(r["m1/update"].provisioner[0]["local-exec"].command).not.toContain("--features");
  });
});

describe("which nodes, and how ssh reaches them", () => {
  test("the inventory's ssh field sets user and port; root and 22 by default", () => {
    const r = rolloutResources(synth(inventoryWith((i) => (i.nodes[2].ssh = { user: "pi", port: 2222 }))));
    expect(r["m2/update"].triggers.target).toBe("pi@10.25.89.20:2222");
    expect(r["m2/update"].provisioner[0]["local-exec"].command).toContain("--host m2 --address 10.25.89.20 --user pi --port 2222 ");
    expect(r["m3/update"].triggers.target).toBe("root@10.25.89.30:22");
  });

  test("servers that netboot or boot locally are left out of the rollout", () => {
    const s = synth(inventoryWith((i) => (i.nodes[2].boot = "netboot")));
    expect(Object.keys(rolloutResources(s)).sort()).toEqual(["m1/secrets", "m1/update", "m3/secrets", "m3/update", "validate"]);
    expect(rolloutResources(s)["m3/secrets"].depends_on!.map(short)).toEqual(["validate", "m1/update"]);
  });

  test("no ssh server: no step and no variable", () => {
    const s = synth(inventoryWith((i) => i.nodes.filter((n) => n.role === "server").forEach((n) => (n.boot = "local"))));
    expect(rolloutResources(s)).toEqual({});
    expect(s.rollout.variables.size).toBe(0);
  });

  test("ssh options: safe defaults, overridable, always bounded (connect timeout, keepalive)", () => {
    const bounds = "--ssh-option ConnectTimeout=10 --ssh-option ServerAliveInterval=15 --ssh-option ServerAliveCountMax=4";
    for (const step of ["m1/secrets", "m1/update"]) {
      expect(resources[step].provisioner[0]["local-exec"].command).toContain(`--ssh-option BatchMode=yes ${bounds} --ssh-option StrictHostKeyChecking=accept-new`);
    }
    const r = rolloutResources(synth(defaultInventory(), { sshOptions: ["StrictHostKeyChecking=yes"] }));
    expect(r["m1/update"].provisioner[0]["local-exec"].command).toContain(`--port 22 --ssh-option StrictHostKeyChecking=yes ${bounds} --secrets-dir`);
    const own = rolloutResources(synth(defaultInventory(), { sshOptions: ["ConnectTimeout=3"] }));
    expect(own["m1/update"].provisioner[0]["local-exec"].command).toContain(
      "--port 22 --ssh-option ConnectTimeout=3 --ssh-option ServerAliveInterval=15 --ssh-option ServerAliveCountMax=4 --secrets-dir",
    );
  });
});

describe("validation", () => {
  function errorsOf(extra: Partial<ServerRolloutProps>, inventory = defaultInventory()): string[] {
    return validationErrorsOf(synth(inventory, extra).stack).filter((e) => e.startsWith("error ELY-RLO-"));
  }

  test("the default wiring is valid", () => {
    expect(validationErrorsOf(base.stack)).toEqual([]);
  });

  test("ACLs on need both operator tokens: the health gate reads the Raft peers with them", () => {
    expect(errorsOf({ consulToken: undefined, nomadToken: undefined })).toEqual([
      "error ELY-RLO-003: server rollout, field consulToken: received nothing, expected the Consul operator token (security.acl is on: the health gate lists the Raft peers with it)",
      "error ELY-RLO-003: server rollout, field nomadToken: received nothing, expected the Nomad operator token (security.acl is on: the health gate lists the Raft peers with it)",
    ]);
  });

  test("only servers, each once; a bounded timeout; ssh options as ssh -o takes them", () => {
    const stack = stackOf();
    const client = stack.cluster.nodes.get("w1")!;
    new ServerRollout(stack, "bad-rollout", {
      inventory: stack.cluster.inventory,
      nodes: [...stack.cluster.servers, client, stack.cluster.servers[0]],
      agentConfigs: stack.cluster.agentConfigs,
      consulToken: "${var.consul_token}",
      nomadToken: "${var.nomad_token}",
      agentSource: fakeAgents(),
      healthTimeoutSeconds: 0,
      sshOptions: ["-v"],
    });
    expect(validationErrorsOf(stack)).toEqual([
      'error ELY-RLO-001: server rollout, node w1, field role: received "client", expected "server" (the rollout updates servers only)',
      "error ELY-RLO-001: server rollout, node m1, field hostname: received it twice, expected each server once",
      "error ELY-RLO-004: server rollout, field healthTimeoutSeconds: received 0, expected whole seconds from 10 to 3600",
      'error ELY-RLO-005: server rollout, field sshOptions: received "-v", expected Key=Value as ssh -o takes it',
    ]);
  });

  test("a server whose configuration is not in the bundle is named", () => {
    const stack = stackOf();
    const empty = new AgentConfigBundle(stack, "empty-bundle", { nodes: [] });
    new ServerRollout(stack, "r", {
      inventory: stack.cluster.inventory,
      nodes: stack.cluster.servers.slice(0, 1),
      agentConfigs: empty,
      consulToken: "${var.consul_token}",
      nomadToken: "${var.nomad_token}",
      agentSource: fakeAgents(),
    });
    expect(validationErrorsOf(stack)).toEqual([
      'error ELY-RLO-002: server rollout, node m1, field agentConfigs: received ["consul.json","nomad.json"], expected consul.json rendered in the agent configuration bundle',
      'error ELY-RLO-002: server rollout, node m1, field agentConfigs: received ["consul.json","nomad.json"], expected nomad.json rendered in the agent configuration bundle',
    ]);
  });

  test("an invalid ssh field of the inventory is reported with node and field", () => {
    expect(() => inventoryWith((i) => (i.nodes[1].ssh = { user: "Pi User", port: 70000 }))).toThrow(
      /error ELY-STR-023: test, node m1, field nodes\[1\]\.ssh\.user: received "Pi User", expected a Unix user name[\s\S]*error ELY-SCH-005: test, node m1, field nodes\[1\]\.ssh\.port: received 70000/,
    );
  });
});

test("the rollout's resources and variables, as a snapshot (complements the assertions above)", () => {
  const normalized = JSON.stringify({ resources, variables: Object.fromEntries(Object.entries(base.json.variable).filter(([k]) => !["namecheap_api_key"].includes(k))) })
    .split(process.cwd())
    .join("<cwd>")
    .split(TEST_OUTDIR_ROOT)
    .join("<tmp>");
  expect(JSON.parse(normalized)).toMatchSnapshot();
});

test("the variables are TerraformVariables of the construct, by name", () => {
  expect([...base.rollout.variables.keys()].sort()).toEqual(["consul_agent_tokens", "consul_gossip_key", "nomad_gossip_key", "nomad_server_consul_token", "server_tls", "tls_ca_cert"]);
  for (const v of base.rollout.variables.values()) expect(v).toBeInstanceOf(TerraformVariable);
});

test("the steps are the null_resource constructs of the rollout, exactly those synthesized", () => {
  const { validation, steps } = base.rollout;
  const constructs = [validation!, ...steps.flatMap((s) => [s.secrets, s.update])];
  for (const r of constructs) expect(r).toBeInstanceOf(Resource);
  expect(steps.map((s) => [s.hostname, s.position])).toEqual([["m1", 1], ["m2", 2], ["m3", 3]]);
  const synthesized = constructs.map((r) => short(base.stack.getLogicalId(r)));
  expect(synthesized.sort()).toEqual(Object.keys(resources).sort());
});
