/** A stack with the cluster and Netboot, for the unit tests (__tests__/netboot-*.test.ts). */
import { App, TerraformStack, Testing } from "cdktf";
import { Cluster, Netboot, NetbootProps } from "../../constructs";
import { AgentSource } from "../../images/agents";
import { DEFAULT_INVENTORY, Inventory, parseInventory } from "../../nodes";

/** The agents' source for tests: no file is read, no download happens at synth. */
export const OFFICIAL_AGENTS: AgentSource = { kind: "official" };

export interface NetbootStack {
  readonly app: App;
  readonly stack: TerraformStack;
  readonly cluster: Cluster;
  readonly netboot: Netboot;
  /** The synthesized Terraform JSON. */
  readonly synth: () => { resource: { null_resource: Record<string, NullResource> } };
}

export interface NullResource {
  readonly triggers?: Record<string, string>;
  readonly depends_on?: string[];
  readonly provisioner?: Array<{ "local-exec": { command: string } }>;
}

/** A stack with the cluster and Netboot, as ElyStack will hold them. */
export function netbootStack(options: { inventory?: Inventory; props?: Partial<NetbootProps> } = {}): NetbootStack {
  const app = Testing.app();
  const stack = new TerraformStack(app, "test");
  const cluster = new Cluster(stack, "cluster", { inventory: options.inventory ?? parseInventory(DEFAULT_INVENTORY, "default inventory") });
  const netboot = new Netboot(stack, "netboot", {
    cluster,
    agentSource: OFFICIAL_AGENTS,
    publishCommand: "node publish.js",
    buildCommand: "node build.js",
    ...options.props,
  });
  return { app, stack, cluster, netboot, synth: () => JSON.parse(Testing.synth(stack)) };
}

/** null_resources whose logical id contains `part` (e.g. "image-client-amd64_build"). */
export function nullResources(json: ReturnType<NetbootStack["synth"]>, part: string): Array<[string, NullResource]> {
  return Object.entries(json.resource.null_resource ?? {}).filter(([id]) => id.includes(part));
}
