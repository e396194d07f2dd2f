/**
 * SecretDelivery in the default stack and on its own: one step per netbooted client, the secrets
 * only as Terraform expressions (never a value in the synthesized configuration), the nodes told
 * where to fetch, the tokens the plan creates delivered, and each validation rule's message.
 */
import { TerraformStack } from "cdktf";
import { SecretDelivery, SecretDeliveryProps } from "../constructs/netboot/secret-delivery";
import { defaultInventory } from "./helpers/inventory";
import { stackOf, synthOf, testApp } from "./helpers/synth";

describe("secret delivery in the default stack", () => {
  const stack = stackOf();
  const json = JSON.parse(synthOf(stack));
  const steps = Object.entries(json.resource.null_resource as Record<string, any>).filter(([id]) => id.startsWith("node-secrets_"));

  test("a secrets server step and one step per netbooted client (w1, w2, w3), each after the server", () => {
    expect(steps.map(([id]) => id.replace(/_[0-9A-F]{8}$/, "")).sort()).toEqual(["node-secrets_node-w1", "node-secrets_node-w2", "node-secrets_node-w3", "node-secrets_service"]);
    for (const [, r] of steps.filter(([id]) => id.includes("node-w"))) expect(r.depends_on).toEqual([expect.stringMatching(/^null_resource\.node-secrets_service_/)]);
  });

  test("every secret reaches the step as an expression: variables and the tokens consul-acl creates; none is a value", () => {
    const [, w2] = steps.find(([id]) => id.includes("node-w2"))!;
    const env = w2.provisioner[0]["local-exec"].environment;
    expect(env).toEqual({
      ELY_SECRET_NODE_KEY: "${var.netboot_node_secrets.w2.key}",
      ELY_SECRET_NOMAD_CERT: "${var.netboot_node_secrets.w2.nomad_cert}",
      ELY_SECRET_NOMAD_KEY: "${var.netboot_node_secrets.w2.nomad_key}",
      ELY_SECRET_CONSUL_GOSSIP_KEY: "${var.consul_gossip_key}",
      ELY_SECRET_TLS_CA: "${var.tls_ca_cert}",
      ELY_SECRET_CONSUL_AGENT_TOKEN: "${data.consul_acl_token_secret_id.agent-token-secret-w2.secret_id}",
      ELY_SECRET_NOMAD_CONSUL_TOKEN: "${data.consul_acl_token_secret_id.nomad-client-token-secret.secret_id}",
    });
    expect(json.data.consul_acl_token_secret_id["agent-token-secret-w2"].accessor_id).toMatch(/^\$\{consul_acl_token\.cluster_consul-acl_agent-token-w2_[0-9A-F]+\.accessor_id\}$/);
    expect(w2.triggers.secrets_sha256).toMatch(/^\$\{sha256\(jsonencode\(\[/);
    // Every expression inside the hash is a reference, never a quoted (escaped) string.
    expect(w2.triggers.secrets_sha256).not.toContain("$${");
    expect(w2.provisioner[0]["local-exec"].command).not.toMatch(/BEGIN|[0-9a-f]{64}/);
    expect(w2.provisioner[1]).toEqual({ "local-exec": expect.objectContaining({ when: "destroy", command: expect.stringContaining("revoke --host w2") }) });
  });

  test("the servers' gossip key and CA are the same variables; the two new ones are sensitive", () => {
    expect(json.variable.netboot_node_secrets.sensitive).toBe(true);
    expect(json.variable.secrets_service_tls.sensitive).toBe(true);
    expect(Object.keys(json.variable).filter((v) => v === "consul_gossip_key")).toHaveLength(1);
  });

  test("each server gets the agent token consul-acl made for it through Consul's API, after its update: no consul_agent_tokens variable", () => {
    expect(json.variable.consul_agent_tokens).toBeUndefined();
    const steps = Object.entries(json.resource.null_resource as Record<string, any>).filter(([id]) => /^server-rollout_m\d_agent-token_/.test(id));
    expect(steps).toHaveLength(3);
    const [, m2] = steps.find(([id]) => id.startsWith("server-rollout_m2"))!;
    expect(m2.depends_on).toEqual([expect.stringMatching(/^null_resource\.server-rollout_m2_update_/)]);
    expect(m2.provisioner[0]["local-exec"].command).toMatch(/server-step\.js" agent-token --host m2 --address 10\.25\.89\.20 --tls$/);
    expect(m2.provisioner[0]["local-exec"].environment).toEqual({
      ELY_SECRET_CONSUL_AGENT_TOKEN: "${data.consul_acl_token_secret_id.agent-token-secret-m2.secret_id}",
      ELY_SECRET_CONSUL_TOKEN: "${var.consul_token}",
      ELY_SECRET_TLS_CA: "${var.tls_ca_cert}",
    });
    // The servers' secrets steps no longer carry an agent token.
    const [, secrets] = Object.entries(json.resource.null_resource as Record<string, any>).find(([id]) => id.startsWith("server-rollout_m2_secrets_"))!;
    expect(secrets.provisioner[0]["local-exec"].environment.ELY_SECRET_CONSUL_AGENT_TOKEN).toBeUndefined();
  });

  test("the tokens' secrets are read after the servers are rolled out, as every Consul resource; Nomad's after the last Nomad server has its Consul token", () => {
    expect(json.data.consul_acl_token_secret_id["agent-token-secret-w1"].depends_on).toEqual([expect.stringMatching(/^null_resource\.server-rollout_m3_update_/)]);
    for (const [type, resources] of Object.entries(json.resource as Record<string, Record<string, any>>)) {
      if (!/^(consul|nomad)_/.test(type)) continue;
      const after = type.startsWith("nomad_") ? /^null_resource\.server-rollout_m3_nomad-consul-token_/ : /^null_resource\.server-rollout_m3_update_/;
      for (const [id, r] of Object.entries(resources)) expect([type, id, r.depends_on]).toEqual([type, id, expect.arrayContaining([expect.stringMatching(after)])]);
    }
  });

  test("each Nomad server gets the Consul token consul-acl made for the Nomad servers, one after the other once all are up: no nomad_server_consul_token variable", () => {
    expect(json.variable.nomad_server_consul_token).toBeUndefined();
    const all = Object.entries(json.resource.null_resource as Record<string, any>);
    const steps = all.filter(([id]) => /^server-rollout_m\d_nomad-consul-token_/.test(id)).sort(([a], [b]) => a.localeCompare(b));
    expect(steps.map(([id]) => id.slice(0, "server-rollout_m1".length))).toEqual(["server-rollout_m1", "server-rollout_m2", "server-rollout_m3"]);
    const [, m2] = steps[1];
    expect(m2.provisioner[0]["local-exec"].environment).toEqual({ ELY_SECRET_NOMAD_CONSUL_TOKEN: "${data.consul_acl_token_secret_id.nomad-server-token-secret.secret_id}" });
    expect(m2.provisioner[0]["local-exec"].command).toMatch(/server-step\.js" nomad-consul-token --host m2 --address 10\.25\.89\.20 .* --servers m1=10\.25\.89\.10,m2=10\.25\.89\.20,m3=10\.25\.89\.30 /);
    expect(m2.depends_on).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^null_resource\.server-rollout_m3_update_/),
        expect.stringMatching(/^null_resource\.server-rollout_m2_agent-token_/),
        expect.stringMatching(/^null_resource\.server-rollout_m1_nomad-consul-token_/),
      ]),
    );
    expect(m2.triggers.token_sha256).toBe("${sha256(data.consul_acl_token_secret_id.nomad-server-token-secret.secret_id)}");
    expect(json.data.consul_acl_token_secret_id["nomad-server-token-secret"].accessor_id).toMatch(/^\$\{consul_acl_token\.cluster_consul-acl_nomad-server-token_[0-9A-F]+\.accessor_id\}$/);
    // The servers' secrets steps carry no Consul token for Nomad any more.
    const [, secrets] = all.find(([id]) => id.startsWith("server-rollout_m2_secrets_"))!;
    expect(secrets.provisioner[0]["local-exec"].environment.ELY_SECRET_NOMAD_CONSUL_TOKEN).toBeUndefined();
    // The workers' reimage starts once the last Nomad server has its token.
    const [, reimage] = all.find(([id]) => id.startsWith("worker-reimage_w1_reimage_"))!;
    expect(reimage.depends_on).toEqual(expect.arrayContaining([expect.stringMatching(/^null_resource\.server-rollout_m3_nomad-consul-token_/)]));
  });

  test("each netbooted node is told where its secrets are: ely.secrets=<util>:8443 on its kernel command line", () => {
    const scripts = [...stack.netboot.bootService!.files].filter(([f]) => f.startsWith("ipxe/") && f !== "ipxe/unknown.ipxe");
    expect(scripts).toHaveLength(3);
    for (const [, text] of scripts) expect(text).toContain(" ely.secrets=10.25.89.4:8443 ");
    expect(stack.netboot.bootService!.files.get("ipxe/unknown.ipxe")).not.toContain("ely.secrets");
  });

  test("the secrets server's nginx.conf: HTTPS only, one location per node opened by that node's key file, everything else 404", () => {
    const conf = stack.nodeSecrets!.files.get("nginx.conf")!;
    expect(conf).toContain("listen 8443 ssl;");
    expect(conf.match(/location = \/secrets\/w\d\/bundle\.tar/g)).toEqual(["location = /secrets/w1/bundle.tar", "location = /secrets/w2/bundle.tar", "location = /secrets/w3/bundle.tar"]);
    expect(conf).toContain("auth_basic_user_file /srv/ely/secrets/nodes/w2/htpasswd;");
    expect(conf).toMatch(/location \/ \{\s+return 404;/);
    expect(conf).toContain("user ely-secrets ely-secrets;");
  });

  test("a cluster with every security setting off delivers no secret and tells no node to fetch any", () => {
    const inventory = defaultInventory();
    const open = stackOf({ ...inventory, security: { ...inventory.security, acl: false, tls: false, gossipEncryption: false } });
    expect(open.nodeSecrets).toBeUndefined();
    expect([...open.netboot.bootService!.files.values()].join("\n")).not.toContain("ely.secrets=");
  });
});

describe("secret delivery: each rule's message", () => {
  const base: SecretDeliveryProps = {
    nodes: new Map([["w1", { nodeKey: "k", nomadCert: "c", nomadKey: "k", consulAgentToken: "t" }]]),
    features: { gossip: true, tls: true, acl: true },
    secretsDir: "/etc/ely/secrets",
    consulGossipKey: "g",
    tlsCaCert: "ca",
    nomadConsulToken: "t",
    serviceCert: "c",
    serviceKey: "k",
    target: "/srv/ely",
  };
  const errorsOf = (props: Partial<SecretDeliveryProps>) => {
    const stack = new TerraformStack(testApp(), "s");
    const d = new SecretDelivery(stack, "secrets", { ...base, ...props });
    return d.node.validate();
  };

  test("valid props: no error", () => expect(errorsOf({})).toEqual([]));
  test("listen", () => expect(errorsOf({ listen: "8443; x" })).toEqual(['error ELY-NET-006: secret delivery, field listen: received "8443; x", expected a port or address:port (8443, 127.0.0.1:18443)']));
  test("port", () => expect(errorsOf({ port: 70000 })).toEqual(["error ELY-SEC-001: secret delivery, field port: received 70000, expected a TCP port (1-65535)"]));
  test("stateDir", () =>
    expect(errorsOf({ stateDir: "rel;x" })).toEqual(['error ELY-STR-005: secret delivery, field stateDir: received "rel;x", expected a run-time directory such as /var/lib/ely/nginx: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no "..", no trailing /)']));
  test("group and workerUser", () =>
    expect(errorsOf({ group: "Bad Group", workerUser: "x;y" })).toEqual([
      'error ELY-SEC-002: secret delivery, field group: received "Bad Group", expected a system group name (lower case letters, digits, "_", "-")',
      'error ELY-SEC-002: secret delivery, field workerUser: received "x;y", expected a system user name (lower case letters, digits, "_", "-")',
    ]));
  test("hostnames", () =>
    expect(errorsOf({ nodes: new Map([["W_1", { nodeKey: "k", nomadCert: "c", nomadKey: "k", consulAgentToken: "t" }]]) })).toEqual([
      'error ELY-STR-013: secret delivery, field nodes: received the hostname "W_1", expected a DNS label',
    ]));
  test("a secret the security settings need, missing: every one named", () =>
    expect(errorsOf({ consulGossipKey: undefined, tlsCaCert: undefined, nomadConsulToken: undefined, nodes: new Map([["w1", { nodeKey: "k" }]]) })).toEqual([
      "error ELY-SEC-003: secret delivery, field consulGossipKey: received nothing, expected it (security.gossipEncryption is on)",
      "error ELY-SEC-003: secret delivery, field tlsCaCert: received nothing, expected it (security.tls is on)",
      "error ELY-SEC-003: secret delivery, field nomadConsulToken: received nothing, expected it (security.acl is on)",
      "error ELY-SEC-003: secret delivery, field nodes.w1.nomadCert/nomadKey: received nothing, expected it (security.tls is on)",
      "error ELY-SEC-003: secret delivery, field nodes.w1.consulAgentToken: received nothing, expected it (security.acl is on)",
    ]));
});

describe("the nomad-consul-token step's own checks (cli/server-step.ts pushNomadConsulToken)", () => {
  const options = {
    target: { host: "m2", address: "127.0.0.1", user: "root", port: 22, options: [] },
    secretsDir: "/etc/ely/secrets",
    features: { gossip: true, tls: true, acl: true },
    label: "m2 nomad consul token",
    cluster: { servers: [{ host: "m2", ip: "127.0.0.1" }], datacenter: "dc1", region: "global", timeoutSeconds: 5 },
  };
  test("no token, or a malformed one: named, no value shown, nothing reached", async () => {
    const { pushNomadConsulToken } = await import("../cli/server-step");
    await expect(pushNomadConsulToken(options, {})).rejects.toThrow(
      "m2: ELY_SECRET_NOMAD_CONSUL_TOKEN (the Nomad servers' Consul token, consul-acl): received nothing, expected a token",
    );
    await expect(pushNomadConsulToken(options, { ELY_SECRET_NOMAD_CONSUL_TOKEN: "a\nb" })).rejects.toThrow(
      "ELY_SECRET_NOMAD_CONSUL_TOKEN (the Nomad servers' Consul token (consul-acl)): received a value with spaces, quotes or newlines, expected a token",
    );
  });
});

describe("the agent-token step's own checks (cli/server-step.ts setAgentToken)", () => {
  test("missing token, operator token and CA: every one named, no value shown", async () => {
    const { setAgentToken } = await import("../cli/server-step");
    await expect(setAgentToken({ host: "m2", address: "127.0.0.1", tls: true, env: {} })).rejects.toThrow(
      "m2 agent token: ELY_SECRET_CONSUL_AGENT_TOKEN (the Consul agent token of m2, consul-acl): received nothing, expected a token; ELY_SECRET_CONSUL_TOKEN (var.consul_token): received nothing, expected the operator token; ELY_SECRET_TLS_CA (var.tls_ca_cert): received nothing, expected the CA's PEM (TLS is on)",
    );
    await expect(setAgentToken({ host: "m2", address: "127.0.0.1", tls: false, env: { ELY_SECRET_CONSUL_AGENT_TOKEN: "a b", ELY_SECRET_CONSUL_TOKEN: "x" } })).rejects.toThrow(
      "ELY_SECRET_CONSUL_AGENT_TOKEN (the Consul agent token of m2): received a value with spaces, quotes or newlines, expected a token",
    );
  });
});
