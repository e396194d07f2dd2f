import { Construct } from "constructs";
import { Inventory, InventoryNode, nodeClassOf, NOMAD_RPC_PORT, serversOf } from "../nodes";
import { NOMAD_CONFIG_FILE } from "../nodes/agent-paths";
import { ClusterNode } from "./cluster-node";
import { nomadBaseConfig } from "./nomad-agent-config";

export interface NomadClientsProps {
  readonly inventory: Inventory;
  /** The nodes that run a Nomad client (the inventory's "client" role). */
  readonly nodes: readonly ClusterNode[];
}

/**
 * The Nomad clients: renders nomad.json for each client node, with the docker driver
 * (volumes enabled), the node's host volumes, and node_class and meta from its hardware.
 */
export class NomadClients extends Construct {
  readonly nodes: readonly ClusterNode[];

  constructor(scope: Construct, id: string, props: NomadClientsProps) {
    super(scope, id);
    this.nodes = props.nodes;
    const servers = serversOf(props.inventory).map((s) => `${s.ip}:${NOMAD_RPC_PORT}`);
    for (const node of props.nodes) {
      const config = nomadBaseConfig(props.inventory, node.spec);
      config.client = {
        enabled: true,
        server_join: { retry_join: servers },
        node_class: nodeClassOf(node.spec),
        meta: { ...hardwareMeta(node.spec), ...node.spec.meta },
        // Nomad's JSON config reads labelled blocks reliably only as a list of { label: body }.
        host_volume: node.spec.hostVolumes.map((v) => ({ [v.name]: { path: v.path, read_only: v.readOnly } })),
      };
      const plugin: Record<string, unknown> = {};
      if (node.spec.drivers.includes("docker")) plugin.docker = { config: { volumes: [{ enabled: true }], allow_privileged: false } };
      if (node.spec.drivers.includes("raw_exec")) plugin.raw_exec = { config: { enabled: true } };
      if (!node.spec.drivers.includes("exec")) (config.client as Record<string, unknown>).options = { "driver.denylist": "exec" };
      config.plugin = plugin;
      node.addAgentConfig(NOMAD_CONFIG_FILE, config);
    }
  }
}

/** Nomad client meta derived from the inventory hardware (strings, as Nomad requires). */
export function hardwareMeta(node: InventoryNode): Record<string, string> {
  const hw = node.hardware;
  const meta: Record<string, string> = { arch: node.arch };
  if (!hw) return meta;
  meta.model = hw.model;
  if (hw.cores !== undefined) meta.cores = String(hw.cores);
  if (hw.memoryMb !== undefined) meta.memory_mb = String(hw.memoryMb);
  const kinds = [...new Set(hw.disks.map((d) => d.kind))].sort();
  if (kinds.length > 0) meta.disk_kinds = kinds.join(",");
  const totalGb = hw.disks.reduce((sum, d) => sum + d.sizeGb, 0);
  if (totalGb > 0) meta.disk_gb = String(totalGb);
  return meta;
}
