import { addChecks } from "../checks";
import { Construct } from "constructs";
import { AUTHORIZED_KEYS_FILE, bootModeOf, inCanonicalOrder, Inventory, Problem, inventorySchema, schemaProblems, validateInventory } from "../../nodes";
import { AgentConfigBundle } from "./agent-config-bundle";
import { ClusterMetadata } from "./cluster-metadata";
import { ClusterNode } from "./cluster-node";
import { ClusterProviders } from "./cluster-providers";
import { ConsulAcl } from "./consul-acl";
import { NomadAcl } from "./nomad-acl";
import { NomadScheduler } from "./nomad-scheduler";
import { addAgentConfigs } from "./role-agent-configs";
import { renderNodeStorage } from "../../nodes/node-storage";

export interface ClusterProps {
  /** The effective inventory (see nodes/schema.ts); validated when the app synthesizes. */
  readonly inventory: Inventory;
  /** Where the inventory came from (a file name), named in validation messages. Default: messages name no file. */
  readonly inventorySource?: string;
}

/**
 * The whole cluster: its nodes, the Consul and Nomad agents' configuration, the providers,
 * and the cluster-level Consul and Nomad resources.
 *
 * Construct ids (a public contract: changing one replaces resources):
 * providers, nodes/<hostname>,
 * agent-configs, consul-acl, metadata, nomad-acl, nomad-scheduler.
 */
export class Cluster extends Construct {
  /** The inventory in canonical node order (inCanonicalOrder): what every construct builds from. */
  readonly inventory: Inventory;
  readonly providers: ClusterProviders;
  /** Every node, by hostname. */
  readonly nodes: ReadonlyMap<string, ClusterNode>;
  readonly agentConfigs: AgentConfigBundle;
  readonly consulAcl?: ConsulAcl;
  readonly nomadAcl?: NomadAcl;

  constructor(scope: Construct, id: string, props: ClusterProps) {
    super(scope, id);
    const inventory = inCanonicalOrder(props.inventory);
    this.inventory = inventory;
    addChecks(this, () => inventoryProblems(props.inventory), props.inventorySource);

    this.providers = new ClusterProviders(this, "providers", { inventory });

    // A duplicate hostname is reported by validation; only its first node is built.
    const nodesScope = new Construct(this, "nodes");
    const nodes = new Map<string, ClusterNode>();
    for (const spec of inventory.nodes) {
      if (!nodes.has(spec.hostname)) nodes.set(spec.hostname, new ClusterNode(nodesScope, spec.hostname, { inventory, node: spec }));
    }
    this.nodes = nodes;
    const all = [...nodes.values()];

    // Every node's agent files, servers joining each other and clients joining the servers.
    addAgentConfigs(inventory, all);
    this.agentConfigs = new AgentConfigBundle(this, "agent-configs", { nodes: all, extraFiles: netbootNodeFiles(inventory) });

    if (inventory.security.acl) {
      this.consulAcl = new ConsulAcl(this, "consul-acl", { datacenter: inventory.datacenter, nodes: all });
      this.nomadAcl = new NomadAcl(this, "nomad-acl");
    }
    new ClusterMetadata(this, "metadata", { inventory });
    new NomadScheduler(this, "nomad-scheduler", {
      algorithm: inventory.scheduler.algorithm,
      memoryOversubscription: inventory.scheduler.memoryOversubscription,
    });
  }

  get servers(): ClusterNode[] {
    return [...this.nodes.values()].filter((n) => n.role === "server");
  }

  get clients(): ClusterNode[] {
    return [...this.nodes.values()].filter((n) => n.role === "client");
  }
}

/**
 * The schema's and the whole-inventory rules' problems (warnings among them). The inventory may
 * come from TypeScript rather than a checked file: its shape is checked too. Messages index the
 * nodes as they are written, not in canonical order.
 */
function inventoryProblems(asWritten: Inventory): Problem[] {
  const parsed = inventorySchema.safeParse(asWritten, { reportInput: true });
  return parsed.success ? validateInventory(asWritten) : schemaProblems(asWritten, parsed.error.issues);
}

/**
 * Each netbooted node's storage units (see node-storage.ts) and the ssh keys that may log in as root
 * (images.rollout.sshAuthorizedKeys), by "<hostname>/<file>", served with its agent files.
 */
function netbootNodeFiles(inventory: Inventory): Map<string, string> {
  const files = new Map<string, string>();
  const keys = inventory.images.rollout.sshAuthorizedKeys;
  for (const node of inventory.nodes) {
    if (bootModeOf(node) !== "netboot") continue;
    for (const [file, text] of renderNodeStorage(inventory, node)) files.set(`${node.hostname}/${file}`, text);
    if (keys.length > 0) files.set(`${node.hostname}/${AUTHORIZED_KEYS_FILE}`, keys.join("\n") + "\n");
  }
  return files;
}
