import { TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { ConsulProvider } from "@cdktf/provider-consul/lib/provider";
import { NomadProvider } from "@cdktf/provider-nomad/lib/provider";
import { NullProvider } from "@cdktf/provider-null/lib/provider";
import { consulEndpoint, Inventory, nomadEndpoint, splitEndpoint } from "../../nodes";

export interface ClusterProvidersProps {
  readonly inventory: Inventory;
}

/**
 * The consul, nomad and null providers. Addresses come from the inventory; the tokens
 * are sensitive Terraform variables (TF_VAR_consul_token, TF_VAR_nomad_token), so no
 * secret is ever written into the synthesized configuration.
 */
export class ClusterProviders extends Construct {
  readonly consul: ConsulProvider;
  readonly nomad: NomadProvider;
  readonly null: NullProvider;
  readonly consulToken: TerraformVariable;
  readonly nomadToken: TerraformVariable;

  constructor(scope: Construct, id: string, props: ClusterProvidersProps) {
    super(scope, id);
    const { inventory } = props;
    this.consulToken = new TerraformVariable(this, "consul_token", {
      type: "string",
      sensitive: true,
      description: "Consul ACL token with rights to manage ACLs and KV (the bootstrap or an operator token).",
    });
    this.consulToken.overrideLogicalId("consul_token");
    this.nomadToken = new TerraformVariable(this, "nomad_token", {
      type: "string",
      sensitive: true,
      description: "Nomad ACL token with rights to manage jobs, ACL policies and the scheduler configuration.",
    });
    this.nomadToken.overrideLogicalId("nomad_token");

    const consulUrl = splitEndpoint(consulEndpoint(inventory));
    this.consul = new ConsulProvider(this, "consul", {
      address: consulUrl.host,
      scheme: consulUrl.scheme,
      datacenter: inventory.datacenter,
      token: this.consulToken.stringValue,
      caFile: inventory.endpoints.caFile,
    });
    this.nomad = new NomadProvider(this, "nomad", {
      address: nomadEndpoint(inventory),
      region: inventory.region,
      secretId: this.nomadToken.stringValue,
      caFile: inventory.endpoints.caFile,
    });
    this.null = new NullProvider(this, "null");
  }
}
