import { TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { JobDefinition } from "../jobs";
import { Inventory } from "../nodes";
import { Cluster } from "./cluster/cluster";
import { ClusterOutputs } from "./cluster-outputs";
import { Netboot, NetbootProps } from "./netboot/netboot";
import { ServerRollout, ServerRolloutProps } from "./rollout/server-rollout";
import { WorkerReimage, WorkerReimageProps } from "./rollout/worker-reimage";
import { PublicDns } from "./services/public-dns";
import { Services } from "./services/services";
import { configureStateBackend } from "./cluster/state-backend";

export interface ElyStackProps {
  readonly inventory: Inventory;
  /** Where the inventory came from, named in validation messages. Default: messages name no file. */
  readonly inventorySource?: string;
  /** The services to run (the app passes jobs/'s ALL_JOBS). */
  readonly jobs: readonly JobDefinition[];
  /** Netboot settings (image profile, publish target, channels...). Default: NetbootProps' defaults. */
  readonly netboot?: Omit<NetbootProps, "cluster">;
  /** Server rollout settings (agent source, health timeout, ssh options, secrets from elsewhere). Default: ServerRolloutProps' defaults. */
  readonly serverRollout?: Omit<ServerRolloutProps, "inventory" | "nodes" | "agentConfigs">;
  /** Worker reimage settings (a reboot command instead of ssh, ssh options, the step program). Default: WorkerReimageProps' defaults. */
  readonly workerReimage?: Omit<WorkerReimageProps, "inventory" | "workers" | "dependsOn">;
}

/**
 * The one Terraform stack of a cluster, named after it: everything converges in one plan.
 * Construct ids: cluster, netboot, server-rollout, worker-reimage, services/<job>, public-dns, outputs.
 */
export class ElyStack extends TerraformStack {
  readonly cluster: Cluster;
  readonly netboot: Netboot;
  readonly serverRollout: ServerRollout;
  readonly workerReimage: WorkerReimage;
  readonly services: Services;
  readonly publicDns: PublicDns;
  readonly outputs: ClusterOutputs;

  constructor(scope: Construct, id: string, props: ElyStackProps) {
    super(scope, id);
    this.cluster = new Cluster(this, "cluster", { inventory: props.inventory, inventorySource: props.inventorySource });
    // Everything below builds from the canonical node order: reordering the file changes nothing.
    const inventory = this.cluster.inventory;
    configureStateBackend(this, inventory);
    this.netboot = new Netboot(this, "netboot", { ...props.netboot, cluster: this.cluster });
    this.serverRollout = new ServerRollout(this, "server-rollout", {
      consulToken: this.cluster.providers.consulToken.stringValue,
      nomadToken: this.cluster.providers.nomadToken.stringValue,
      ...props.serverRollout,
      inventory,
      nodes: this.cluster.servers,
      agentConfigs: this.cluster.agentConfigs,
    });
    // Workers move to their new builds once the util node serves them, and after the servers.
    const lastServerStep = this.serverRollout.steps[this.serverRollout.steps.length - 1]?.update;
    this.workerReimage = new WorkerReimage(this, "worker-reimage", {
      nomadToken: this.cluster.providers.nomadToken.stringValue,
      consulToken: this.cluster.providers.consulToken.stringValue,
      ...props.workerReimage,
      inventory,
      workers: this.netboot.bootPublish
        ? this.netboot.entries.map((e) => ({ node: this.cluster.nodes.get(e.hostname)!, imageKey: e.imageKey, buildId: e.buildId, channel: e.channel }))
        : [],
      dependsOn: [...(this.netboot.bootPublish ? [this.netboot.bootPublish.resource] : []), ...(lastServerStep ? [lastServerStep] : [])],
    });
    this.services = new Services(this, "services", { inventory });
    for (const job of props.jobs) this.services.add(job.id, job.props(inventory));
    this.publicDns = new PublicDns(this, "public-dns", {
      dns: inventory.dns,
      hosts: this.services.exposed.map((s) => ({ host: s.props.expose!.host, job: s.name })),
    });
    this.outputs = new ClusterOutputs(this, "outputs", { cluster: this.cluster, netboot: this.netboot, services: this.services });
  }
}
