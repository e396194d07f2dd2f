/**
 * The stack the ssh-hosts E2E applies: the servers of an inventory rendered by the same
 * constructs as the real cluster (ClusterNode, addAgentConfigs, AgentConfigBundle),
 * and the ServerRollout over them. The cluster's Consul/Nomad resources (ACLs, jobs) are left
 * out: the real-convergence E2E covers them, and here they would need the cluster first.
 */
import { App, LocalBackend, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { NullProvider } from "@cdktf/provider-null/lib/provider";
import { addAgentConfigs, AgentConfigBundle, ClusterNode, ServerRollout, ServerRolloutProps } from "../../constructs";
import { Inventory } from "../../nodes";

export class SshRolloutStack extends TerraformStack {
  readonly rollout: ServerRollout;

  constructor(scope: Construct, id: string, inventory: Inventory, extra: Partial<ServerRolloutProps> = {}) {
    super(scope, id);
    new LocalBackend(this, { path: "terraform.tfstate" });
    new NullProvider(this, "null");
    const consulToken = new TerraformVariable(this, "consul_token", { type: "string", sensitive: true });
    consulToken.overrideLogicalId("consul_token");
    const nomadToken = new TerraformVariable(this, "nomad_token", { type: "string", sensitive: true });
    nomadToken.overrideLogicalId("nomad_token");
    const scopeNodes = new Construct(this, "nodes");
    const servers = inventory.nodes.filter((n) => n.role === "server").map((n) => new ClusterNode(scopeNodes, n.hostname, { inventory, node: n }));
    addAgentConfigs(inventory, servers);
    const agentConfigs = new AgentConfigBundle(this, "agent-configs", { nodes: servers });
    this.rollout = new ServerRollout(this, "server-rollout", {
      inventory,
      nodes: servers,
      agentConfigs,
      consulToken: consulToken.stringValue,
      nomadToken: nomadToken.stringValue,
      ...extra,
    });
  }
}

/** Synthesizes the stack into outdir; returns the stack's directory (where Terraform runs). */
export function synthSshRollout(outdir: string, inventory: Inventory, extra: Partial<ServerRolloutProps> = {}): string {
  const app = new App({ outdir });
  const stack = new SshRolloutStack(app, inventory.name, inventory, extra);
  const errors = stack.node.findAll().flatMap((c) => c.node.validate());
  if (errors.length > 0) throw new Error(`the E2E stack does not validate:\n${errors.join("\n")}`);
  app.synth();
  return `${outdir}/stacks/${inventory.name}`;
}
