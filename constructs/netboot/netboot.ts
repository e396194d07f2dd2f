import { RamrootCompression } from "../../images/ramroot-codec";
import { Construct } from "constructs";
import { ARCHES, imageChannelOf, latestRevisionOf, revisionInputsOf, revisionOfChannel, ROLES, sshTargetOf, utilNodeOf } from "../../nodes";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { AgentSource } from "../../images/agents";
import { DEFAULT_HTTP_PORT, DEFAULT_REMOTE_ROOT, ImageArch, ImageProfile, imageKeyOf, ImageRole } from "../../images/layout";
import { BootEntry, BootService } from "./boot-service";
import { BootPublish } from "./boot-publish";
import { Cluster } from "../cluster/cluster";
import { ClusterNode } from "../cluster/cluster-node";
import { ImagePublish } from "./image-publish";
import { nfsExportEntries } from "./nfs-exports";
import { NodeImage, nodeImageRecipe, NodeImageProps } from "./node-image";
import { buildIdOfRecipe } from "../../images/recipe";
import { projectProgram } from "../project-program";
import { DEFAULT_SECRETS_PORT } from "../../nodes/secret-delivery";
import { problem, Problem } from "../../nodes/problems";
import { addChecks } from "../checks";

export interface NetbootProps {
  /** The cluster whose netbooted nodes (boot mode "netboot") get images and boot scripts. */
  readonly cluster: Cluster;
  /** Package set of every image. Default: "full". */
  readonly imageProfile?: ImageProfile;
  /**
   * Debian packages added to one image's profile in every revision: image ("client-amd64") -> packages.
   * (An inventory's image revisions add their own: `images.revisions[].extraPackages`.) Default: none.
   */
  readonly extraPackages?: Readonly<Record<string, readonly string[]>>;
  /** The ramroot's codec and level of every image. Default: the profile's (zstd -3, unpacked by the kernel; images/ramroot-codec.ts). */
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
  /** Interface dnsmasq listens on (and radvd advertises on), on the util node. Default: all (radvd: the one holding the util address). */
  readonly dhcpInterface?: string;
  /** The util node's IPv6 router advertisement that ends iPXE's IPv6 wait. Default: see BootServiceProps.routerAdvertisement (true). */
  readonly routerAdvertisement?: boolean;
  /** arm64 UEFI iPXE on the util node. Default: see BootServiceProps.ipxeArm64EfiPath. */
  readonly ipxeArm64EfiPath?: string;
  /** Image build program. Default: projectProgram("build.js") (the checkout's dist/, or $ELY_PROJECT_DIR's). */
  readonly buildCommand?: string;
  /** Publish program. Default: projectProgram("publish.js"). */
  readonly publishCommand?: string;
}

/** What one netbooted node boots, and why. */
export interface NetbootNodeEntry extends BootEntry {
  /** The image revision its channel names (the inventory's `images`). */
  readonly revision: string;
  /** True when the revision is the newest (the one "latest" boots). */
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
 * Channels (the inventory's `images`): a node boots the image revision its channel names, and
 * each revision in use gets its own build, made (or found in the cache) and published by the
 * plan, so a channel's build needs nothing but the inventory and Ely's code.
 *
 * Construct ids (a public contract): image-<role>-<arch> and publish-<role>-<arch> (the newest
 * revision's build), image-<role>-<arch>-<revision> and publish-<role>-<arch>-<revision> (an
 * older revision's, when its build differs), node-<hostname>, boot-service, boot-publish.
 */
export class Netboot extends Construct {
  /** The builds, by "<role>-<arch>" for the newest revision's, "<role>-<arch>@<revision>" for an older revision's. */
  readonly images: ReadonlyMap<string, NodeImage>;
  /** Their publish steps, by the same keys. */
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

    const errors: Problem[] = [];
    addChecks(this, () => errors);
    if (netbooted.length && !this.utilNode) {
      errors.push(problem("ELY-NET-001", { component: "netboot", field: "nodes[].role" }, `received no node with role "util" while ${netbooted.map((n) => n.hostname).join(", ")} netboot, expected one to serve them`));
    }

    // The revision each node boots; a node on an unknown channel, or a channel naming no revision, is the inventory's error.
    const { images: imagesConfig } = inventory;
    const newest = latestRevisionOf(imagesConfig).name;
    const booting = netbooted.flatMap((node) => {
      const channel = imageChannelOf(node.spec);
      const revision = revisionOfChannel(imagesConfig, channel);
      return revision ? [{ node, channel, revision, key: imageKeyOf(node.role, node.arch) }] : [];
    });

    // One build per image (role x architecture) and revision in use; two revisions with the same inputs share it.
    const images = new Map<string, NodeImage>();
    const publishes = new Map<string, ImagePublish>();
    const byBuild = new Map<string, string>();
    const imageOf = new Map<string, string>();
    const wanted = [...new Map(booting.map((b) => [`${b.key}@${b.revision.name}`, b])).values()].sort(
      (a, b) => a.key.localeCompare(b.key) || Number(b.revision.name === newest) - Number(a.revision.name === newest) || a.revision.name.localeCompare(b.revision.name),
    );
    for (const { key, revision, node: sample } of wanted) {
      const inputs = revisionInputsOf(inventory, revision);
      const extraPackages = [...new Set([...(props.extraPackages?.[key] ?? []), ...(inputs.extraPackages[key] ?? [])])];
      const isNewest = revision.name === newest;
      const name = isNewest ? key : `${key}@${revision.name}`;
      const imageProps: NodeImageProps = {
        role: sample.role as ImageRole,
        arch: sample.arch as ImageArch,
        profile: props.imageProfile,
        extraPackages: extraPackages.length > 0 ? extraPackages : undefined,
        ramroot: props.imageRamroot,
        agentVersions: inputs.versions,
        agentSource: props.agentSource,
        artifactsDir: props.artifactsDir,
        buildCommand: props.buildCommand,
        nodeHostnames: booting.filter((b) => b.key === key && b.revision.name === revision.name).map((b) => b.node.hostname),
      };
      const buildId = buildIdOfRecipe(nodeImageRecipe(imageProps));
      const same = byBuild.get(`${key}/${buildId}`);
      if (same) {
        // The same inputs as a revision built already (the newest first): one build serves both.
        imageOf.set(`${key}@${revision.name}`, same);
        continue;
      }
      const image = new NodeImage(this, isNewest ? `image-${key}` : `image-${key}-${revision.name}`, imageProps);
      byBuild.set(`${key}/${image.buildId}`, name);
      imageOf.set(`${key}@${revision.name}`, name);
      images.set(name, image);
      if (this.publishTarget) {
        publishes.set(
          name,
          new ImagePublish(this, isNewest ? `publish-${key}` : `publish-${key}-${revision.name}`, {
            imageKey: key,
            buildId: image.buildId,
            sourceDir: image.outDir,
            target: this.publishTarget,
            publishCommand,
            link: isNewest ? undefined : `revision-${revision.name}`,
            dependsOn: [image.build],
          }),
        );
      }
    }
    this.images = images;
    this.imagePublishes = publishes;
    const keys = [...new Set(netbooted.map((n) => imageKeyOf(n.role, n.arch)))].sort();
    for (const key of Object.keys(props.extraPackages ?? {})) {
      if (!keys.includes(key)) {
        errors.push(problem("ELY-NET-002", { component: "netboot", field: `extraPackages.${key}` }, `received packages for an image no netbooted node boots, expected one of ${keys.join(", ") || "(none)"}`));
      }
    }

    // What each node boots.
    const entries: NetbootNodeEntry[] = [];
    const nodeResources = new Map<string, Resource>();
    for (const { node, channel, revision, key } of booting) {
      if (!node.spec.mac) continue; // The inventory's rule reports a netbooted node without a MAC.
      const name = imageOf.get(`${key}@${revision.name}`)!;
      const image = images.get(name)!;
      const buildId = image.buildId;
      const entry: NetbootNodeEntry = {
        hostname: node.hostname,
        mac: node.spec.mac.toLowerCase(),
        role: node.role,
        arch: node.arch,
        imageKey: key,
        buildId,
        channel,
        revision: revision.name,
        current: revision.name === newest,
        ramrootArtifact: image.recipe.ramroot.artifact,
      };
      entries.push(entry);
      const publish = publishes.get(name);
      const resource = new Resource(this, `node-${node.hostname}`, {
        triggers: { hostname: entry.hostname, mac: entry.mac, image: key, build_id: buildId, channel },
        dependsOn: publish ? [publish.resource] : undefined,
      });
      resource.addOverride("//", {
        description: `${node.hostname} boots ${key} build ${buildId} (channel ${channel}: revision ${revision.name}${entry.current ? ", the newest" : ""}); replaced when it will boot another build`,
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
        routerAdvertisement: props.routerAdvertisement,
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
