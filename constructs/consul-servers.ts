import { Construct } from "constructs";
import { Inventory } from "../nodes";
import { CONSUL_CONFIG_FILE, tlsFilesOf } from "../nodes/agent-paths";
import { ClusterNode } from "./cluster-node";
import { consulBaseConfig } from "./consul-agent-config";

export interface ConsulServersProps {
  readonly inventory: Inventory;
  /** The nodes that run a Consul server; bootstrap_expect is their count. */
  readonly nodes: readonly ClusterNode[];
}

/** The Consul servers: renders consul.json for each server node. */
export class ConsulServers extends Construct {
  readonly nodes: readonly ClusterNode[];

  constructor(scope: Construct, id: string, props: ConsulServersProps) {
    super(scope, id);
    this.nodes = props.nodes;
    const { security } = props.inventory;
    for (const node of props.nodes) {
      const config = consulBaseConfig(props.inventory, node.spec);
      config.server = true;
      config.bootstrap_expect = props.nodes.length;
      config.ui_config = { enabled: true };
      if (security.tls) {
        const tls = tlsFilesOf(security.secretsDir, "consul");
        const base = config.tls as { defaults: Record<string, unknown> };
        base.defaults = { ...base.defaults, cert_file: tls.certFile, key_file: tls.keyFile };
        // Servers sign the certificates of the clients (auto_encrypt): clients need only the CA.
        config.auto_encrypt = { allow_tls: true };
      }
      node.addAgentConfig(CONSUL_CONFIG_FILE, config);
    }
  }
}
