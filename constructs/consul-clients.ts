import { Construct } from "constructs";
import { Inventory } from "../nodes";
import { CONSUL_CONFIG_FILE } from "../nodes/agent-paths";
import { ClusterNode } from "./cluster-node";
import { consulBaseConfig } from "./consul-agent-config";

export interface ConsulClientsProps {
  readonly inventory: Inventory;
  /** The nodes that run a Consul client agent (every node that is not a server). */
  readonly nodes: readonly ClusterNode[];
}

/** The Consul client agents: renders consul.json for each non-server node. */
export class ConsulClients extends Construct {
  readonly nodes: readonly ClusterNode[];

  constructor(scope: Construct, id: string, props: ConsulClientsProps) {
    super(scope, id);
    this.nodes = props.nodes;
    for (const node of props.nodes) {
      const config = consulBaseConfig(props.inventory, node.spec);
      config.server = false;
      if (props.inventory.security.tls) {
        const tls = config.tls as { defaults: Record<string, unknown> };
        // A client gets its certificate from the servers (auto_encrypt), so it cannot verify incoming with one of its own.
        tls.defaults = { ...tls.defaults, verify_incoming: false };
        config.auto_encrypt = { tls: true };
      }
      node.addAgentConfig(CONSUL_CONFIG_FILE, config);
    }
  }
}
