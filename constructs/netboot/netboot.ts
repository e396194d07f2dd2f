import { RamrootCompression } from "../../images/ramroot-codec";
import { Construct } from "constructs";
import { ARCHES, ROLES, sshTargetOf, utilNodeOf } from "../../nodes";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { AgentSource } from "../../images/agents";
import { BUILD_ID_PATTERN, DEFAULT_HTTP_PORT, DEFAULT_REMOTE_ROOT, ImageArch, ImageProfile, imageKeyOf, ImageRole } from "../../images/layout";
import { BootEntry, BootService } from "./boot-service";
import { BootPublish } from "./boot-publish";
import { Cluster } from "../cluster/cluster";
import { ClusterNode } from "../cluster/cluster-node";
import { ImagePublish } from "./image-publish";
import { nfsExportEntries } from "./nfs-exports";
import { NodeImage } from "./node-image";
import { projectProgram } from "../project-program";
import { DEFAULT_SECRETS_PORT } from "../../nodes/secret-delivery";

/** The channel every node follows unless its inventory entry names another (`imageChannel`). */
export const DEFAULT_IMAGE_CHANNEL = "stable";
/** The channel that always boots the build of the current inputs. */
export const LATEST_IMAGE_CHANNEL = "latest";

export interface NetbootProps {
  /** The cluster whose netbooted nodes (boot mode "netboot") get images and boot scripts. */
  readonly cluster: Cluster;
  /** Package set of every image. Default: "full". */
  readonly imageProfile?: ImageProfile;
  /** Debian packages added to one image's profile: image ("client-amd64") -> packages. Default: none. */
  readonly extraPackages?: Readonly<Record<string, readonly string[]>>;
  /** The ramroot's codec and level of every image. Default: the profile's (gzip -6; images/ramroot-codec.ts). */
  readonly imageRamroot?: RamrootCompression;
  /** Where the Consul and Nomad binaries come from. Default: see NodeImageProps.agentSource. */
  readonly agentSource?: AgentSource;
  /** Builds directory on the machine running Terraform. Default: "$HOME/.cache/ely/images". */
  readonly artifactsDir?: string;
  /** Login on the util node for rsync and ssh. Default: the util node's `ssh.user` in the inventory, else "root". */
  readonly sshUser?: string;
  /** Root of Ely's files on the util node. Default: "/srv/ely". */
  readonly remoteRoot?: string;
  /** Where the publish steps copy to. Default: "<sshUser>@<util ip>:<remoteRoot>"; a local path publishes locally (tests). */
  readonly publishTarget?: string;
  /** Port of the util node's HTTP server. Default: 8080. */
  readonly httpPort?: number;
  /**
   * Port of the util node's secrets server (SecretDelivery), named on the nodes' kernel command
   * line. Default: 8443 when the inventory's security uses any secret (gossip, TLS, ACLs); none
   * otherwise (0 turns it off: the nodes fetch no secrets).
   */
  readonly secretsPort?: number;
  /** What the util node's nginx listens on. Default: see BootServiceProps.httpListen (httpPort on every address). */
  readonly httpListen?: string;
  /** Directory for nginx's run-time files. Default: see BootServiceProps.httpStateDir (system paths, syslog). */
  readonly httpStateDir?: string;
  /** Extra kernel arguments of every node. Default: BootServiceProps.kernelArgs's default (tty0 and ttyS0 consoles). */
  readonly kernelArgs?: readonly string[];
  /**
   * Named image channels: channel -> image ("client-amd64") -> build id. A node follows
   * "stable" unless its `imageChannel` names another channel, "latest" (always the current
   * build) or a build id. "stable" defaults to the current build for images it does not name.
   * Default: {} (every channel is the current build).
   */
  readonly channels?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Interface dnsmasq listens on, on the util node. Default: all. */
  readonly dhcpInterface?: string;
  /** arm64 UEFI iPXE on the util node. Default: see BootServiceProps.ipxeArm64EfiPath. */
  readonly ipxeArm64EfiPath?: string;
  /** Image build program. Default: projectProgram("build.js") (the checkout's dist/, or $ELY_PROJECT_DIR's). */
  readonly buildCommand?: string;
  /** Publish program. Default: projectProgram("publish.js"). */
  readonly publishCommand?: string;
}

/** What one netbooted node boots, and why. */
export interface NetbootNodeEntry extends BootEntry {
  /** True when the build is the current inputs' build (published by this plan). */
  readonly current: boolean;
}

/**
 * Netboot of the cluster: one image build per role x architecture that netbooted nodes use,
 * its publish to the util node, the util node's boot service (dnsmasq proxy DHCP and TFTP,
 * HTTP, one iPXE script per MAC) and its publish, in this order:
 *   image build -> image publish -> node entries -> boot publish.
 * A node entry (null_resource) per node carries the build it boots, so a plan lists the
 * nodes that will boot a new build.
 *
 * Construct ids (a public contract): image-<role>-<arch>, publish-<role>-<arch>, node-<hostname>,
 * boot-service, boot-publish.
 */
export class Netboot extends Construct {
  readonly images: ReadonlyMap<string, NodeImage>;
  readonly imagePublishes: ReadonlyMap<string, ImagePublish>;
  readonly entries: readonly NetbootNodeEntry[];
  readonly nodeResources: ReadonlyMap<string, Resource>;
  readonly bootService?: BootService;
  readonly bootPublish?: BootPublish;
  readonly utilNode?: ClusterNode;
  readonly publishTarget?: string;
  readonly remoteRoot: string;
  /** The secrets server's port the nodes are told, or undefined when they fetch no secrets. */
  readonly secretsPort?: number;

  constructor(scope: Construct, id: string, props: NetbootProps) {
    super(scope, id);
    const { cluster } = props;
    const inventory = cluster.inventory;
    const channels = props.channels ?? {};
    // Nodes of an unknown role or architecture are the inventory's errors, reported there; they get no image.
    const netbooted = [...cluster.nodes.values()]
      .filter((n) => n.bootMode === "netboot" && (ROLES as readonly string[]).includes(n.role) && (ARCHES as readonly string[]).includes(n.arch))
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
    const util = utilNodeOf(inventory);
    this.utilNode = util && cluster.nodes.get(util.hostname);
    const remoteRoot = props.remoteRoot ?? DEFAULT_REMOTE_ROOT;
    this.remoteRoot = remoteRoot;
    const security = inventory.security;
    const usesSecrets = security.gossipEncryption || security.tls || security.acl;
    this.secretsPort = (props.secretsPort ?? (usesSecrets ? DEFAULT_SECRETS_PORT : 0)) || undefined;
    const publishCommand = props.publishCommand ?? projectProgram("publish.js");
    this.publishTarget = props.publishTarget ?? (this.utilNode ? `${props.sshUser ?? sshTargetOf(this.utilNode.spec).user}@${this.utilNode.ip}:${remoteRoot}` : undefined);

    const errors: string[] = [];
    this.node.addValidation({ validate: () => errors });
    if (netbooted.length && !this.utilNode) {
      errors.push(`netboot: nodes ${netbooted.map((n) => n.hostname).join(", ")} netboot: received no node with role "util", expected one to serve them`);
    }
    for (const [channel, builds] of Object.entries(channels)) {
      if (channel === LATEST_IMAGE_CHANNEL) errors.push(`netboot: field channels.latest: received a pin, expected none ("latest" is always the current build)`);
      for (const [key, build] of Object.entries(builds)) {
        if (!BUILD_ID_PATTERN.test(build)) errors.push(`netboot: field channels.${channel}.${key}: received "${build}", expected a build id (16 hex digits)`);
      }
    }

    // One image per role x architecture in use.
    const images = new Map<string, NodeImage>();
    const publishes = new Map<string, ImagePublish>();
    const keys = [...new Set(netbooted.map((n) => imageKeyOf(n.role, n.arch)))].sort();
    for (const key of keys) {
      const sample = netbooted.find((n) => imageKeyOf(n.role, n.arch) === key)!;
      const image = new NodeImage(this, `image-${key}`, {
        role: sample.role as ImageRole,
        arch: sample.arch as ImageArch,
        profile: props.imageProfile,
        extraPackages: props.extraPackages?.[key],
        ramroot: props.imageRamroot,
        agentVersions: inventory.versions,
        agentSource: props.agentSource,
        artifactsDir: props.artifactsDir,
        buildCommand: props.buildCommand,
        nodeHostnames: netbooted.filter((n) => imageKeyOf(n.role, n.arch) === key).map((n) => n.hostname),
      });
      images.set(key, image);
      if (this.publishTarget) {
        publishes.set(
          key,
          new ImagePublish(this, `publish-${key}`, {
            imageKey: key,
            buildId: image.buildId,
            sourceDir: image.outDir,
            target: this.publishTarget,
            publishCommand,
            dependsOn: [image.build],
          }),
        );
      }
    }
    this.images = images;
    this.imagePublishes = publishes;
    for (const key of Object.keys(props.extraPackages ?? {})) {
      if (!images.has(key)) {
        errors.push(`netboot: field extraPackages.${key}: received packages for an image no netbooted node boots, expected one of ${keys.join(", ") || "(none)"}`);
      }
    }

    // What each node boots.
    const entries: NetbootNodeEntry[] = [];
    const nodeResources = new Map<string, Resource>();
    for (const node of netbooted) {
      const key = imageKeyOf(node.role, node.arch);
      const image = images.get(key)!;
      if (!node.spec.mac) continue; // The inventory's rule reports a netbooted node without a MAC.
      const channel = node.spec.imageChannel ?? DEFAULT_IMAGE_CHANNEL;
      let buildId: string | undefined;
      if (channel === LATEST_IMAGE_CHANNEL) buildId = image.buildId;
      else if (channels[channel]) buildId = channels[channel][key] ?? (channel === DEFAULT_IMAGE_CHANNEL ? image.buildId : undefined);
      else if (channel === DEFAULT_IMAGE_CHANNEL) buildId = image.buildId;
      else if (BUILD_ID_PATTERN.test(channel)) buildId = channel;
      if (!buildId) {
        const known = [DEFAULT_IMAGE_CHANNEL, LATEST_IMAGE_CHANNEL, ...Object.keys(channels).filter((c) => c !== DEFAULT_IMAGE_CHANNEL && c !== LATEST_IMAGE_CHANNEL)];
        errors.push(
          channels[channel]
            ? `netboot: node ${node.hostname}, field imageChannel: received "${channel}", expected a channel with a build of ${key} (channels.${channel} has none)`
            : `netboot: node ${node.hostname}, field imageChannel: received "${channel}", expected one of ${known.map((c) => `"${c}"`).join(", ")} or a build id (16 hex digits)`,
        );
        continue;
      }
      const entry: NetbootNodeEntry = {
        hostname: node.hostname,
        mac: node.spec.mac.toLowerCase(),
        role: node.role,
        arch: node.arch,
        imageKey: key,
        buildId,
        channel,
        current: buildId === image.buildId,
        // A build pinned by a channel is taken to use the current recipe's codec (a pin older than a codec change names the wrong file).
        ramrootArtifact: image.recipe.ramroot.artifact,
      };
      entries.push(entry);
      const publish = publishes.get(key);
      const resource = new Resource(this, `node-${node.hostname}`, {
        triggers: { hostname: entry.hostname, mac: entry.mac, image: key, build_id: buildId, channel },
        dependsOn: entry.current && publish ? [publish.resource] : undefined,
      });
      resource.addOverride("//", {
        description: `${node.hostname} boots ${key} build ${buildId} (channel ${channel}${entry.current ? ", the current build" : ", pinned"}); replaced when it will boot another build`,
      });
      nodeResources.set(node.hostname, resource);
    }
    this.entries = entries;
    this.nodeResources = nodeResources;

    if (this.utilNode && this.publishTarget) {
      this.bootService = new BootService(this, "boot-service", {
        entries,
        utilAddress: this.utilNode.ip,
        subnetCidr: inventory.network.subnet,
        serverAddresses: cluster.servers.map((s) => s.ip),
        httpPort: props.httpPort ?? DEFAULT_HTTP_PORT,
        httpListen: props.httpListen,
        httpStateDir: props.httpStateDir,
        remoteRoot,
        domain: inventory.network.internalDomain,
        secretsPort: this.secretsPort,
        kernelArgs: props.kernelArgs,
        dhcpInterface: props.dhcpInterface,
        nfsExports: nfsExportEntries(inventory),
        ipxeArm64EfiPath: props.ipxeArm64EfiPath,
      });
      this.bootPublish = new BootPublish(this, "boot-publish", {
        bootConfigPath: this.bootService.path,
        bootConfigHash: this.bootService.contentHash,
        agentConfigsPath: cluster.agentConfigs.path,
        agentConfigsHash: cluster.agentConfigs.contentHash,
        target: this.publishTarget,
        publishCommand,
        dependsOn: [...publishes.values()].map((p) => p.resource).concat([...nodeResources.values()]),
      });
    }
  }

  /** The entry of a netbooted node. */
  entryOf(hostname: string): NetbootNodeEntry | undefined {
    return this.entries.find((e) => e.hostname === hostname);
  }
}
