import { AclPolicy as ConsulAclPolicy } from "@cdktf/provider-consul/lib/acl-policy";
import { AclToken } from "@cdktf/provider-consul/lib/acl-token";
import { AclTokenPolicyAttachment } from "@cdktf/provider-consul/lib/acl-token-policy-attachment";
import { KeyPrefix } from "@cdktf/provider-consul/lib/key-prefix";
import { ConsulProvider } from "@cdktf/provider-consul/lib/provider";
import { AclPolicy as NomadAclPolicy } from "@cdktf/provider-nomad/lib/acl-policy";
import { NomadProvider } from "@cdktf/provider-nomad/lib/provider";
import { SchedulerConfig } from "@cdktf/provider-nomad/lib/scheduler-config";
import { NullProvider } from "@cdktf/provider-null/lib/provider";
import { Testing } from "cdktf";
import { Cluster, CONSUL_ANONYMOUS_TOKEN_ID } from "../constructs";
import { defaultInventory, inventoryWith } from "./helpers/inventory";
import { stackOf, synthOf, validationErrorsOf } from "./helpers/synth";

const synthesized = synthOf(stackOf());
const json = JSON.parse(synthesized);

describe("the default cluster's Terraform configuration", () => {
  test("configures the consul, nomad and null providers from the inventory, tokens as variables", () => {
    expect(synthesized).toHaveProviderWithProperties(ConsulProvider, {
      address: "10.25.89.10:8501",
      scheme: "https",
      datacenter: "509ely",
      token: "${var.consul_token}",
    });
    expect(synthesized).toHaveProviderWithProperties(NomadProvider, {
      address: "https://10.25.89.10:4646",
      region: "global",
      secret_id: "${var.nomad_token}",
    });
    expect(synthesized).toHaveProvider(NullProvider);
  });

  test("tokens are sensitive variables without defaults", () => {
    for (const name of ["consul_token", "nomad_token"]) {
      expect(json.variable[name]).toMatchObject({ type: "string", sensitive: true });
      expect(json.variable[name].default).toBeUndefined();
    }
  });

  test("Consul ACL policies and tokens for the Nomad agents, and DNS reads for anonymous", () => {
    expect(synthesized).toHaveResourceWithProperties(ConsulAclPolicy, { name: "nomad-server" });
    expect(synthesized).toHaveResourceWithProperties(ConsulAclPolicy, { name: "nomad-client" });
    expect(synthesized).toHaveResourceWithProperties(ConsulAclPolicy, {
      name: "dns-read",
      rules: 'node_prefix "" { policy = "read" }\nservice_prefix "" { policy = "read" }',
    });
    // References, not copies of the names: Terraform creates the policies before what uses them.
    const policyRef = (id: string) => expect.stringMatching(new RegExp(`^\\$\\{consul_acl_policy\\.cluster_consul-acl_${id}_[0-9A-F]+\\.name\\}$`));
    expect(synthesized).toHaveResourceWithProperties(AclTokenPolicyAttachment, { token_id: CONSUL_ANONYMOUS_TOKEN_ID, policy: policyRef("dns-read-policy") });
    expect(synthesized).toHaveResourceWithProperties(AclToken, { description: "Nomad servers", policies: [policyRef("nomad-server-policy")] });
    expect(synthesized).toHaveResourceWithProperties(AclToken, { description: "Nomad clients", policies: [policyRef("nomad-client-policy")] });
    expect(synthesized).toHaveResourceWithProperties(AclToken, {
      description: "Consul agent on w2",
      node_identities: [{ node_name: "w2", datacenter: "509ely" }],
    });
    expect(Object.keys(json.resource.consul_acl_token)).toHaveLength(2 + 7);
  });

  test("cluster metadata under a Consul KV prefix", () => {
    expect(synthesized).toHaveResourceWithProperties(KeyPrefix, {
      path_prefix: "ely/cluster/",
      subkeys: expect.objectContaining({ datacenter: "509ely", servers: "10.25.89.10,10.25.89.20,10.25.89.30" }),
    });
    const nodes = JSON.parse(Object.values(json.resource.consul_key_prefix as Record<string, { subkeys: { nodes: string } }>)[0].subkeys.nodes);
    expect(nodes).toHaveLength(7);
  });

  test("Nomad operator and read-only policies, and the scheduler configuration", () => {
    expect(synthesized).toHaveResourceWithProperties(NomadAclPolicy, { name: "operator" });
    expect(synthesized).toHaveResourceWithProperties(NomadAclPolicy, { name: "read-only" });
    expect(synthesized).toHaveResourceWithProperties(SchedulerConfig, { scheduler_algorithm: "spread", memory_oversubscription_enabled: false });
  });

  test("state is local by default, beside the output directory, by a path relative to the stack's directory", () => {
    expect(json.terraform.backend).toEqual({ local: { path: "../../../terraform.ely.tfstate" } });
    expect(synthesized).not.toContain(process.cwd());
  });

  test("no secret value in the synthesized configuration", () => {
    const secretLike = /"(encrypt|secret_id|token|access_token)"\s*:\s*"(?!\$\{var\.)[^"]+"/;
    expect(synthesized).not.toMatch(secretLike);
  });

  test("the Cluster construct's own resources, as a snapshot (complements the assertions above)", () => {
    // The cluster alone: no image build hashes or jobs, so it changes only when the cluster's resources do.
    const own = Testing.synthScope((scope) => {
      new Cluster(scope, "cluster", { inventory: defaultInventory() });
    });
    expect(JSON.parse(own)).toMatchSnapshot();
  });
});

describe("inventory options", () => {
  test("a Consul state backend on the cluster's own Consul takes its token from the environment", () => {
    const j = JSON.parse(synthOf(stackOf(inventoryWith((i) => (i.state = { backend: "consul", path: "lab/state" })))));
    expect(j.terraform.backend.consul).toEqual({ address: "10.25.89.10:8501", scheme: "https", path: "lab/state", lock: true });
  });

  test("explicit endpoints override the derived ones; no ACL resources when ACLs are off", () => {
    const s = synthOf(
      stackOf(
        inventoryWith((i) => {
          i.endpoints = { consul: "http://127.0.0.1:8500", nomad: "http://127.0.0.1:4646" };
          i.security = { acl: false };
        }),
      ),
    );
    expect(s).toHaveProviderWithProperties(ConsulProvider, { address: "127.0.0.1:8500", scheme: "http" });
    expect(s).toHaveProviderWithProperties(NomadProvider, { address: "http://127.0.0.1:4646" });
    expect(s).not.toHaveResource(AclToken);
    expect(s).not.toHaveResource(NomadAclPolicy);
  });
});

describe("validation through the construct tree", () => {
  test("inventory errors fail the stack's validation, each naming node and field", () => {
    const errors = validationErrorsOf(stackOf(inventoryWith((i) => {
      i.nodes[6].mac = i.nodes[5].mac;
      i.nodes = i.nodes.filter((n) => n.hostname !== "m3");
    })));
    expect(errors).toEqual([
      'error ELY-INV-006: node w3, field nodes[5].mac: received "00:1e:06:45:20:02", expected a unique MAC address; node w2 has it already',
      "error ELY-INV-011: field nodes[].role: received 2 servers, expected an odd number of at least 3 (or 1 for a lab)",
    ]);
  });

  test("a duplicate hostname is reported, not thrown while building the tree", () => {
    const errors = validationErrorsOf(stackOf(inventoryWith((i) => (i.nodes[5].hostname = "w1"))));
    expect(errors).toContain('error ELY-INV-005: node w1, field nodes[5].hostname: received "w1", expected a unique hostname; nodes[4] has it already');
  });

  test("a typed inventory built in TypeScript is schema-checked too", () => {
    const inventory = inventoryWith(() => undefined);
    (inventory.nodes[4] as { arch: string }).arch = "riscv64";
    expect(validationErrorsOf(stackOf(inventory))).toEqual([
      'error ELY-SCH-003: node w1, field nodes[4].arch: received "riscv64", expected one of "amd64", "arm64"',
    ]);
  });
});
