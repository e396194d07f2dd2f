import { Construct } from "constructs";
import { Inventory } from "../nodes";
import { NOMAD_CONFIG_FILE } from "../nodes/agent-paths";
import { ClusterNode } from "./cluster-node";
import { nomadBaseConfig } from "./nomad-agent-config";

/** Nomad's serf (gossip) port, which servers join each other on. */
export const NOMAD_SERF_PORT = 4648;

export interface NomadServersProps {
  readonly inventory: Inventory;
  /** The nodes that run a Nomad server; bootstrap_expect is their count. */
  readonly nodes: readonly ClusterNode[];
}

/** The Nomad servers: renders nomad.json for each server node. */
export class NomadServers extends Construct {
  readonly nodes: readonly ClusterNode[];

  constructor(scope: Construct, id: string, props: NomadServersProps) {
    super(scope, id);
    this.nodes = props.nodes;
    for (const node of props.nodes) {
      const config = nomadBaseConfig(props.inventory, node.spec);
      // The gossip key ("encrypt") arrives in secrets.json.
      config.server = {
        enabled: true,
        bootstrap_expect: props.nodes.length,
        server_join: { retry_join: props.nodes.map((s) => `${s.ip}:${NOMAD_SERF_PORT}`) },
      };
      node.addAgentConfig(NOMAD_CONFIG_FILE, config);
    }
  }
}
