/**
 * Each construct on its own, in a scope of its own (Testing.synthScope), through cdktf's
 * matchers: what it declares, without the rest of the stack around it.
 */
import "cdktf/lib/testing/adapters/jest";
import { Testing } from "cdktf";
import { Construct } from "constructs";
import { AclPolicy as ConsulAclPolicy } from "@cdktf/provider-consul/lib/acl-policy";
import { AclToken } from "@cdktf/provider-consul/lib/acl-token";
import { KeyPrefix } from "@cdktf/provider-consul/lib/key-prefix";
import { AclPolicy as NomadAclPolicy } from "@cdktf/provider-nomad/lib/acl-policy";
import { Job } from "@cdktf/provider-nomad/lib/job";
import { SchedulerConfig } from "@cdktf/provider-nomad/lib/scheduler-config";
import { ClusterMetadata, ClusterNode, ConsulAcl, NomadAcl, NomadScheduler, NomadService, PublicDns } from "../constructs";
import { defaultInventory } from "./helpers/inventory";

const inventory = defaultInventory();

function nodesIn(scope: Construct): ClusterNode[] {
  return inventory.nodes.map((n) => new ClusterNode(scope, n.hostname, { inventory, node: n }));
}

describe("constructs, each in a scope of its own", () => {
  test("ConsulAcl: Nomad's policies and tokens, an agent token per node with its node identity", () => {
    const json = Testing.synthScope((scope) => {
      new ConsulAcl(scope, "acl", { datacenter: "509ely", nodes: nodesIn(scope) });
    });
    expect(json).toHaveResourceWithProperties(ConsulAclPolicy, { name: "nomad-server" });
    expect(json).toHaveResourceWithProperties(ConsulAclPolicy, { name: "nomad-client" });
    expect(json).toHaveResourceWithProperties(AclToken, { description: "Consul agent on w2", node_identities: [{ node_name: "w2", datacenter: "509ely" }] });
    const tokens = Object.values(JSON.parse(json).resource.consul_acl_token as Record<string, unknown>);
    expect(tokens).toHaveLength(inventory.nodes.length + 2);
  });

  test("NomadAcl: the operator and read-only policies, nothing else", () => {
    const json = Testing.synthScope((scope) => {
      new NomadAcl(scope, "acl");
    });
    expect(json).toHaveResourceWithProperties(NomadAclPolicy, { name: "operator" });
    expect(json).toHaveResourceWithProperties(NomadAclPolicy, { name: "read-only" });
    expect(Object.keys(JSON.parse(json).resource)).toEqual(["nomad_acl_policy"]);
  });

  test("NomadScheduler: the algorithm and memory oversubscription as given", () => {
    const json = Testing.synthScope((scope) => {
      new NomadScheduler(scope, "scheduler", { algorithm: "binpack", memoryOversubscription: true });
    });
    expect(json).toHaveResourceWithProperties(SchedulerConfig, { scheduler_algorithm: "binpack", memory_oversubscription_enabled: true });
  });

  test("ClusterMetadata: the cluster's facts under one KV prefix", () => {
    const json = Testing.synthScope((scope) => {
      new ClusterMetadata(scope, "metadata", { inventory, prefix: "lab/cluster/" });
    });
    expect(json).toHaveResourceWithProperties(KeyPrefix, {
      path_prefix: "lab/cluster/",
      subkeys: expect.objectContaining({ datacenter: "509ely", region: "global", internal_domain: "dmz.509ely.com" }),
    });
  });

  test("NomadService: one job, registered as JSON, Terraform templates escaped", () => {
    const json = Testing.synthScope((scope) => {
      new NomadService(scope, "web", {
        image: "nginx:1.27",
        ports: [{ label: "http", to: 80 }],
        env: { WHERE: "${node.unique.name}" },
        context: { datacenters: ["509ely"], nfsServer: "10.25.89.4" },
      });
    });
    expect(json).toHaveResourceWithProperties(Job, { json: true, detach: true, purge_on_destroy: true });
    const jobspec = (Object.values(JSON.parse(json).resource.nomad_job as Record<string, { jobspec: string }>)[0]).jobspec;
    expect(jobspec).toContain('"WHERE": "$${node.unique.name}"');
    expect(JSON.parse(jobspec.replace(/\$\$\{/g, "${")).Job).toMatchObject({ ID: "web", Datacenters: ["509ely"] });
  });

  test("PublicDns: no provider and no record when DNS is none", () => {
    const json = Testing.synthScope((scope) => {
      new PublicDns(scope, "dns", { dns: { provider: "none" }, hosts: [{ host: "www.kyleondy.com", job: "web" }] });
    });
    expect(JSON.parse(json).resource ?? {}).toEqual({});
  });
});
