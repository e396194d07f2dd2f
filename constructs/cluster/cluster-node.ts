import { Construct } from "constructs";
import { BootMode, bootModeOf, fqdnOf, Inventory, InventoryNode } from "../../nodes";
import { AgentConfig } from "./consul-agent-config";
import { deepMerge } from "../deep-merge";
import { CONSUL_CONFIG_FILE, NOMAD_CONFIG_FILE } from "../../nodes/agent-paths";

export interface ClusterNodeProps {
  /** The cluster this node belongs to (network, security, versions). */
  readonly inventory: Inventory;
  /** The node's own entry of the inventory. */
  readonly node: InventoryNode;
}

/**
 * One host of the cluster and the agent configuration files rendered for it.
 * The construct id is the hostname: renaming a host replaces its resources.
 */
export class ClusterNode extends Construct {
  readonly hostname: string;
  readonly ip: string;
  readonly fqdn: string;
  readonly bootMode: BootMode;
  readonly spec: InventoryNode;
  private readonly files = new Map<string, AgentConfig>();

  constructor(scope: Construct, id: string, props: ClusterNodeProps) {
    super(scope, id);
    this.spec = props.node;
    this.hostname = props.node.hostname;
    this.ip = props.node.ip;
    this.fqdn = fqdnOf(props.inventory, props.node);
    this.bootMode = bootModeOf(props.node);
  }

  get role() {
    return this.spec.role;
  }

  get arch() {
    return this.spec.arch;
  }

  /**
   * Adds a configuration file for this node. consul.json and nomad.json get the
   * node's agentOverrides from the inventory deep-merged over them.
   */
  addAgentConfig(fileName: string, config: AgentConfig): void {
    if (this.files.has(fileName)) throw new Error(`node ${this.hostname}: agent configuration ${fileName} is rendered twice`);
    const overrides = this.spec.agentOverrides;
    const over = fileName === CONSUL_CONFIG_FILE ? overrides.consul : fileName === NOMAD_CONFIG_FILE ? overrides.nomad : undefined;
    this.files.set(fileName, over ? deepMerge(config, over) : config);
  }

  /** The rendered files of this node, by file name, in a stable order. */
  get agentConfigs(): ReadonlyMap<string, AgentConfig> {
    return new Map([...this.files.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
