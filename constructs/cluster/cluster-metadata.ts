import { Construct } from "constructs";
import { KeyPrefix } from "@cdktf/provider-consul/lib/key-prefix";
import { Inventory, serversOf } from "../../nodes";

export interface ClusterMetadataProps {
  readonly inventory: Inventory;
  /** KV prefix the metadata is written under. Default: "ely/cluster/". */
  readonly prefix?: string;
}

/**
 * Cluster metadata in Consul KV, for jobs and scripts to read (consul kv get ely/cluster/datacenter).
 * The prefix is owned by Terraform: keys under it that Terraform does not know are removed.
 */
export class ClusterMetadata extends Construct {
  readonly prefix: string;

  constructor(scope: Construct, id: string, props: ClusterMetadataProps) {
    super(scope, id);
    const { inventory } = props;
    this.prefix = props.prefix ?? "ely/cluster/";
    new KeyPrefix(this, "kv", {
      pathPrefix: this.prefix,
      subkeys: {
        name: inventory.name,
        datacenter: inventory.datacenter,
        region: inventory.region,
        internal_domain: inventory.network.internalDomain,
        services_domain: inventory.network.servicesDomain,
        ingress_address: inventory.network.ingressAddress,
        servers: serversOf(inventory).map((s) => s.ip).join(","),
        nodes: JSON.stringify(
          inventory.nodes.map((n) => ({ hostname: n.hostname, role: n.role, arch: n.arch, ip: n.ip })),
        ),
      },
    });
  }
}
