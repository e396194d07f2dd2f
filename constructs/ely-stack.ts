import { dependable, Fn, TerraformDataSource, TerraformResource, TerraformStack, TerraformVariable } from "cdktf";
import { DataConsulAclTokenSecretId } from "@cdktf/provider-consul/lib/data-consul-acl-token-secret-id";
import { Construct } from "constructs";
import { JobDefinition } from "../jobs";
import { Inventory } from "../nodes";
import { Cluster } from "./cluster/cluster";
import { ClusterOutputs } from "./cluster-outputs";
import { Netboot, NetbootProps } from "./netboot/netboot";
import { ROLLOUT_VARIABLES, ServerRollout, ServerRolloutProps } from "./rollout/server-rollout";
import { NodeSecretValues, SecretDelivery, SecretDeliveryProps } from "./netboot/secret-delivery";
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
  /** Secret delivery settings (listen address, run-time directory, group, program). Default: SecretDeliveryProps' defaults. */
  readonly nodeSecrets?: Pick<SecretDeliveryProps, "listen" | "stateDir" | "group" | "workerUser" | "publishCommand">;
  /** Worker reimage settings (a reboot command instead of ssh, ssh options, the step program). Default: WorkerReimageProps' defaults. */
  readonly workerReimage?: Omit<WorkerReimageProps, "inventory" | "workers" | "dependsOn">;
}

/**
 * The one Terraform stack of a cluster, named after it: everything converges in one plan.
 * Construct ids: cluster, netboot, server-rollout, worker-reimage, node-secrets, services/<job>, public-dns,
 * outputs; variables netboot_node_secrets and secrets_service_tls.
 *
 * Every Consul and Nomad resource waits for the last server's rollout step: on a fresh cluster
 * the servers must be up before ACLs, jobs or tokens can be made.
 */
export class ElyStack extends TerraformStack {
  readonly cluster: Cluster;
  readonly netboot: Netboot;
  readonly serverRollout: ServerRollout;
  /** Secret delivery to the netbooted nodes that run agents; absent when the cluster uses no secret or netboots none. */
  readonly nodeSecrets?: SecretDelivery;
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
    const acl = this.cluster.consulAcl;
    this.serverRollout = new ServerRollout(this, "server-rollout", {
      consulToken: this.cluster.providers.consulToken.stringValue,
      nomadToken: this.cluster.providers.nomadToken.stringValue,
      // The tokens consul-acl creates for the servers, given to them once they are up: no variable carries them.
      agentTokens: acl ? new Map(this.cluster.servers.map((s) => [s.hostname, this.agentTokenSecret(s.hostname)!])) : undefined,
      nomadServerConsulToken: acl ? new DataConsulAclTokenSecretId(this, "nomad-server-token-secret", { accessorId: acl.nomadServerToken.accessorId }).secretId : undefined,
      ...props.serverRollout,
      inventory,
      nodes: this.cluster.servers,
      agentConfigs: this.cluster.agentConfigs,
    });
    // Workers move to their new builds once the util node serves them, and after the servers.
    const lastServer = this.serverRollout.steps[this.serverRollout.steps.length - 1];
    const lastServerStep = lastServer?.nomadConsulToken ?? lastServer?.update;
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
    this.nodeSecrets = this.deliverNodeSecrets(props.nodeSecrets);
    // A worker that reboots fetches its secrets at once: its bundle is published first.
    for (const step of this.workerReimage.steps) {
      const secrets = this.nodeSecrets?.nodeSteps.get(step.hostname);
      if (secrets) step.resource.dependsOn = [...(step.resource.dependsOn ?? []), dependable(secrets)];
    }
    this.afterServerRollout();
    this.outputs = new ClusterOutputs(this, "outputs", { cluster: this.cluster, netboot: this.netboot, services: this.services });
  }

  /**
   * The netbooted agent nodes' secrets: each node's key and Nomad certificate (netboot_node_secrets,
   * from `ely secrets init`), the secrets server's certificate (secrets_service_tls), the keys and CA
   * the servers get too, and the Consul tokens the plan itself creates.
   */
  private deliverNodeSecrets(settings: ElyStackProps["nodeSecrets"] = {}): SecretDelivery | undefined {
    const inventory = this.cluster.inventory;
    const security = inventory.security;
    const netboot = this.netboot;
    if (!netboot.secretsPort || !netboot.utilNode || !netboot.publishTarget) return undefined;
    // Netbooted clients; a netbooted server would need its server certificates and Nomad gossip key too (not delivered yet).
    const hosts = netboot.entries.filter((e) => e.role === "client").map((e) => e.hostname);
    if (hosts.length === 0) return undefined;
    const shared = (name: string, description: string) => {
      const existing = this.serverRollout.variables.get(name);
      if (existing) return existing.stringValue;
      const v = new TerraformVariable(this, name, { type: "string", sensitive: true, description });
      v.overrideLogicalId(name);
      return v.stringValue;
    };
    const nodeSecrets = new TerraformVariable(this, "netboot_node_secrets", {
      type: "map(object({ key = string, nomad_cert = string, nomad_key = string }))",
      sensitive: true,
      description: "Per netbooted node: its key (64 hex digits, also on its key disk) and its Nomad client certificate and key (PEM). Made by `ely secrets init`.",
      validation: [
        {
          condition: `\${alltrue([for h in ${JSON.stringify(hosts)} : contains(keys(var.netboot_node_secrets), h)])}`,
          errorMessage: `netboot_node_secrets needs an entry for each netbooted node that runs agents: ${hosts.join(", ")} (\`ely secrets init\` or \`ely secrets node --node <host>\`).`,
        },
      ],
    });
    nodeSecrets.overrideLogicalId("netboot_node_secrets");
    const serviceTls = new TerraformVariable(this, "secrets_service_tls", {
      type: "object({ cert = string, key = string })",
      sensitive: true,
      description: "The util node's secrets server: certificate (signed by the cluster CA, naming the util node's address) and key, PEM. Made by `ely secrets init`.",
    });
    serviceTls.overrideLogicalId("secrets_service_tls");
    const acl = this.cluster.consulAcl;
    const values = new Map<string, NodeSecretValues>();
    for (const host of hosts) {
      values.set(host, {
        nodeKey: Fn.lookupNested(nodeSecrets.value, [host, "key"]),
        nomadCert: Fn.lookupNested(nodeSecrets.value, [host, "nomad_cert"]),
        nomadKey: Fn.lookupNested(nodeSecrets.value, [host, "nomad_key"]),
        consulAgentToken: this.agentTokenSecret(host),
      });
    }
    return new SecretDelivery(this, "node-secrets", {
      ...settings,
      nodes: values,
      features: { gossip: security.gossipEncryption, tls: security.tls, acl: security.acl },
      secretsDir: security.secretsDir,
      consulGossipKey: security.gossipEncryption ? shared(ROLLOUT_VARIABLES.consulGossipKey, "Consul gossip encryption key (base64 of 32 bytes: `consul keygen`).") : undefined,
      tlsCaCert: security.tls ? shared(ROLLOUT_VARIABLES.tlsCaCert, "PEM of the CA that signed the Consul and Nomad agents' certificates.") : undefined,
      nomadConsulToken: acl ? new DataConsulAclTokenSecretId(this, "nomad-client-token-secret", { accessorId: acl.nomadClientToken.accessorId }).secretId : undefined,
      serviceCert: Fn.lookup(serviceTls.value, "cert"),
      serviceKey: Fn.lookup(serviceTls.value, "key"),
      target: netboot.publishTarget,
      remoteRoot: netboot.remoteRoot,
      port: netboot.secretsPort,
    });
  }

  private readonly tokenSecrets = new Map<string, string>();

  /** The secret of the Consul agent token consul-acl created for a node (a data source per node, made once), or undefined without ACLs. */
  private agentTokenSecret(hostname: string): string | undefined {
    const token = this.cluster.consulAcl?.agentTokens.get(hostname);
    if (!token) return undefined;
    if (!this.tokenSecrets.has(hostname)) {
      this.tokenSecrets.set(hostname, new DataConsulAclTokenSecretId(this, `agent-token-secret-${hostname}`, { accessorId: token.accessorId }).secretId);
    }
    return this.tokenSecrets.get(hostname);
  }

  /**
   * Consul and Nomad resources and data sources wait for the last server's rollout step (a fresh cluster
   * has no servers before it); Nomad's also for the last Nomad server to get its Consul token (each
   * restarts Nomad on one server: the API the provider talks to may be the one restarting).
   */
  private afterServerRollout(): void {
    const last = this.serverRollout.steps[this.serverRollout.steps.length - 1];
    if (!last) return;
    for (const c of this.node.findAll()) {
      const type = c instanceof TerraformResource ? c.terraformResourceType : c instanceof TerraformDataSource ? c.terraformResourceType : undefined;
      if (!type || !/^(consul|nomad)_/.test(type)) continue;
      const element = c as TerraformResource | TerraformDataSource;
      const after = type.startsWith("nomad_") ? last.nomadConsulToken ?? last.update : last.update;
      element.dependsOn = [...(element.dependsOn ?? []), dependable(after)];
    }
  }
}
