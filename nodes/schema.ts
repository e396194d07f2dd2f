/**
 * The inventory schema: the shape of the file a user passes through ELY_INVENTORY
 * (JSON or YAML), and of what `ely inventory --json` prints.
 *
 * The schema checks types and closed vocabularies (roles, architectures). Rules that
 * relate several fields or nodes (duplicates, addresses inside the subnet, server
 * count) live in validate.ts, so that every problem is reported at once.
 */
import { z } from "zod";
import {
  absolutePath,
  accountName,
  debianPackage,
  directoryPath,
  diskIdentity,
  dnsName,
  dnsNameOrFqdn,
  freeText,
  hostLabel,
  hostPort,
  httpEndpoint,
  identifier,
  imageChannelName,
  ipv4Address,
  ipv4AddressOrSubnet,
  ipv4Subnet,
  macAddress,
  metaKey,
  planMachinePath,
  releaseVersion,
  secretsDirectory,
  sshPublicKey,
} from "./safe-strings";
import { ruleTagged as tag } from "./problems";

export const ROLES = ["util", "server", "client"] as const;
export const ARCHES = ["amd64", "arm64"] as const;
export const DRIVERS = ["docker", "exec", "raw_exec"] as const;
export const DISK_KINDS = ["sd", "nvme", "ssd", "hdd"] as const;
/** What holds a host volume's data. */
export const VOLUME_BACKINGS = ["nfs", "scratch", "ram", "local"] as const;
/** How a node gets its operating system. */
export const BOOT_MODES = ["netboot", "ssh", "local"] as const;

export const diskSchema = z
  .object({
    /** Device name as the node sees it, e.g. "nvme0n1". */
    device: z.string().regex(/^[a-z][a-z0-9]{1,31}$/, tag("ELY-STR-020", "expected a device name like nvme0n1 or sda (lowercase letters and digits)")),
    sizeGb: z.number().positive(),
    kind: z.enum(DISK_KINDS),
    /** Stable identity: the disk's name under /dev/disk/by-id/, e.g. "nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R123456". */
    byId: diskIdentity("a name under /dev/disk/by-id/").optional(),
    /** Stable identity: the disk's serial number, as udev reports it (ID_SERIAL_SHORT; lsblk -o SERIAL). */
    serial: diskIdentity("a serial number").optional(),
    /**
     * Makes this disk the node's scratch disk: formatted (ext4) and mounted here at every
     * boot, its content lost each time. Needs `byId` or `serial`: Ely formats only a disk it
     * finds by one of them. Default: not formatted, not mounted.
     */
    scratchMountPoint: directoryPath("the scratch disk's mount point").optional(),
  })
  .strict();

export const hardwareSchema = z
  .object({
    /** Human model name, e.g. "ODROID H2". Used for the Nomad node_class. */
    model: freeText("a model name like ODROID H2", 64),
    cores: z.number().int().positive().optional(),
    /** Clock of one core in MHz; Nomad's CPU capacity is cores x cpuMhz. */
    cpuMhz: z.number().int().positive().optional(),
    memoryMb: z.number().int().positive().optional(),
    disks: z.array(diskSchema).default([]),
  })
  .strict();

export const hostVolumeSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, tag("ELY-STR-021", "expected a lowercase name of letters, digits, - and _")),
    path: absolutePath("the volume's directory on the node"),
    readOnly: z.boolean().default(false),
    /**
     * What holds the volume's data (see nodes/storage.ts): "nfs" (the util node's export,
     * survives reboots), "scratch" (the node's scratch disk, emptied at every boot), "ram"
     * (a netbooted node's root: gone at reboot) or "local" (the root disk of a node that does
     * not netboot). Default: derived from the path: under an NFS export's mount point "nfs",
     * under the node's scratch mount point "scratch", else "ram" on a netbooted node and "local" otherwise.
     */
    backing: z.enum(VOLUME_BACKINGS).optional(),
  })
  .strict();

/** A directory the node (the util node) exports over NFS; every client it names mounts it at boot. */
export const nfsExportSchema = z
  .object({
    /** The exported directory on the node, e.g. "/opt/nfs". */
    path: directoryPath("the exported directory"),
    /** Where clients mount it. Default: "/mnt/" + the path's last part ("/opt/nfs" -> "/mnt/nfs"). */
    mountPoint: directoryPath("the export's mount point").optional(),
    /** Who may mount it: IPv4 subnets (CIDR) or addresses. Default: the inventory's subnet. */
    clients: z.array(ipv4AddressOrSubnet).optional(),
    readOnly: z.boolean().default(false),
    /** Map clients' root to nobody. Default: false (the seed's: containers such as the registry write as root). */
    rootSquash: z.boolean().default(false),
  })
  .strict();

export const nodeSchema = z
  .object({
    hostname: hostLabel,
    role: z.enum(ROLES),
    arch: z.enum(ARCHES),
    /** IPv4 address of the primary interface (the one agents bind to). */
    ip: ipv4Address,
    /** MAC of the interface the node boots from. Required for netbooted nodes. */
    mac: macAddress.optional(),
    /** Other interfaces' MACs, checked for duplicates. */
    extraMacs: z.array(macAddress).default([]),
    /** Defaults to "netboot" for clients and "ssh" for servers and util (the seed's pets). */
    boot: z.enum(BOOT_MODES).optional(),
    /**
     * How the plan machine reaches a node managed over ssh (boot "ssh"), at its `ip`.
     * Default when left out: user "root", port 22. A user other than root needs
     * passwordless sudo. Host aliases, keys and jump hosts belong in the ssh client's
     * configuration ($ELY_SSH_CONFIG, else ~/.ssh/config).
     */
    ssh: z
      .object({
        user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, tag("ELY-STR-023", "expected a Unix user name")).optional(),
        port: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .optional(),
    /**
     * The image channel this node boots (`images.channels`): "latest" (the newest image revision:
     * the seed's canary) or a channel of the table. Default: "stable".
     */
    imageChannel: imageChannelName("a channel name like stable or latest").optional(),
    hardware: hardwareSchema.optional(),
    hostVolumes: z.array(hostVolumeSchema).default([]),
    /** NFS exports (the util node's): see nfsExportSchema. Default: none. */
    nfsExports: z.array(nfsExportSchema).default([]),
    /** Nomad task drivers a client offers. Default: docker and exec; raw_exec is enabled only when listed. */
    drivers: z.array(z.enum(DRIVERS)).default(["docker", "exec"]),
    /** Extra Nomad client meta, merged over the meta derived from the hardware. */
    meta: z.record(metaKey, freeText("a meta value", 256)).default({}),
    /** Escape hatch: deep-merged over the rendered agent configuration files. */
    agentOverrides: z
      .object({
        consul: z.record(z.string(), z.unknown()).optional(),
        nomad: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

export const networkSchema = z
  .object({
    /** IPv4 subnet in CIDR notation. */
    subnet: ipv4Subnet,
    gateway: ipv4Address,
    /** Domain of the hosts, e.g. dmz.509ely.com. */
    internalDomain: dnsName("the hosts' domain"),
    /** Domain of the services routed by the ingress, e.g. apps.509ely.com. */
    servicesDomain: dnsName("the services' domain"),
    /** Address that the ingress answers on (the seed's keepalived VIP). */
    ingressAddress: ipv4Address,
    /** DNS servers the nodes use. Defaults to the gateway. */
    dnsServers: z.array(ipv4Address).optional(),
  })
  .strict();

export const securitySchema = z
  .object({
    /** Consul and Nomad ACLs with default deny. */
    acl: z.boolean().default(true),
    /** TLS on Consul's and Nomad's HTTP and RPC. */
    tls: z.boolean().default(true),
    /** Gossip encryption (the key arrives as a secret, never in the rendered files). */
    gossipEncryption: z.boolean().default(true),
    /** Directory on the nodes where the secret material is delivered. */
    secretsDir: secretsDirectory.default("/etc/ely/secrets"),
  })
  .strict();

export const endpointsSchema = z
  .object({
    /** Consul HTTP(S) address for the Terraform provider. Defaults to the first server, https :8501 (http :8500 without TLS). */
    consul: httpEndpoint("Consul's HTTP(S) address").optional(),
    /** Nomad HTTP(S) address for the Terraform provider. Defaults to the first server on :4646. */
    nomad: httpEndpoint("Nomad's HTTP(S) address").optional(),
    /** CA certificate file on the machine running Terraform, for TLS endpoints. */
    caFile: planMachinePath("the CA certificate file").optional(),
  })
  .strict();

export const stateSchema = z.discriminatedUnion("backend", [
  z
    .object({
      backend: z.literal("local"),
      /** Defaults to terraform.<stack>.tfstate in the working directory (cdktf's default). */
      path: planMachinePath("the state file").optional(),
    })
    .strict(),
  z
    .object({
      backend: z.literal("consul"),
      /** Consul address (host:port). Defaults to the Consul endpoint. */
      address: hostPort("the Consul address of the state").optional(),
      scheme: z.enum(["http", "https"]).optional(),
      /** KV path of the state. */
      path: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/, tag("ELY-STR-024", "expected a Consul KV path like ely/terraform/state (letters, digits, ., _, - and /)"))
        .default("ely/terraform/state"),
    })
    .strict(),
]);

export const versionsSchema = z
  .object({
    consul: releaseVersion("Consul", "1.16.3").default("1.16.3"),
    nomad: releaseVersion("Nomad", "1.6.3").default("1.6.3"),
  })
  .strict();

export const schedulerSchema = z
  .object({
    /** "spread" places allocations on the emptiest client (the seed spread its web replicas); "binpack" fills clients one by one. */
    algorithm: z.enum(["spread", "binpack"]).default("spread"),
    /** Lets tasks use memory above their reservation up to memory_max. */
    memoryOversubscription: z.boolean().default(false),
    /** Share of each client's CPU and memory kept free of jobs (system, agents, failover room). */
    headroomPercent: z.number().min(0).max(90).default(10),
  })
  .strict();

export const dnsSchema = z.discriminatedUnion("provider", [
  z
    .object({
      /** The seed's registrar. The API key is the sensitive variable namecheap_api_key. */
      provider: z.literal("namecheap"),
      apiUser: accountName("the Namecheap API user"),
      userName: accountName("the Namecheap user name"),
      /** Public name every exposed host points at (a CNAME), kept current by the ddns job. */
      ingressName: dnsName("the public name the exposed hosts point at"),
      /** Zones (registered domains) the records are written in. */
      zones: z.array(dnsName("a zone (registered domain) like ondy.org")).min(1),
      ttlSeconds: z.number().int().positive().default(300),
    })
    .strict(),
  z
    .object({
      /** RFC 2136 dynamic updates (BIND, Knot, PowerDNS...). The TSIG secret is the sensitive variable dns_tsig_secret. */
      provider: z.literal("rfc2136"),
      server: dnsName("the DNS server (a name or an IPv4 address)"),
      port: z.number().int().positive().default(53),
      keyName: dnsNameOrFqdn("the TSIG key name"),
      keyAlgorithm: z.enum(["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"]).default("hmac-sha256"),
      ingressName: dnsName("the public name the exposed hosts point at"),
      zones: z.array(dnsName("a zone (registered domain) like ondy.org")).min(1),
      ttlSeconds: z.number().int().positive().default(300),
    })
    .strict(),
  z.object({ provider: z.literal("none") }).strict(),
]);

/** The channel that always boots the newest image revision (the canary's). */
export const LATEST_IMAGE_CHANNEL = "latest";
/** The channel a node follows unless its `imageChannel` names another. */
export const DEFAULT_IMAGE_CHANNEL = "stable";
/** What an image revision's `extraPackages` is keyed by: "<role>-<arch>", e.g. "client-amd64". */
export const imageKeySchema = z
  .string()
  .regex(new RegExp(`^(${ROLES.join("|")})-(${ARCHES.join("|")})$`), tag("ELY-STR-025", `expected an image name <role>-<arch> like client-amd64 (roles ${ROLES.join(", ")}; architectures ${ARCHES.join(", ")})`));

/**
 * One image revision: a named, frozen set of the inputs of the netboot images that the
 * inventory decides. Every other input (the base packages, Ely's files, initrd, strip
 * rules) is Ely's code, the same for every revision. A channel names a revision, so the
 * build id of every channel follows from the inventory and the code alone, on any machine.
 */
export const imageRevisionSchema = z
  .object({
    name: imageChannelName("a revision name like 2026-11-a"),
    /** Consul and Nomad in the images. Default: the inventory's `versions` (a cluster upgrade then moves this revision too). */
    versions: z
      .object({
        consul: releaseVersion("Consul", "1.16.3").optional(),
        nomad: releaseVersion("Nomad", "1.6.3").optional(),
      })
      .strict()
      .optional(),
    /** Debian packages added to an image's profile: image ("client-amd64") -> packages. Default: none. */
    extraPackages: z.record(imageKeySchema, z.array(debianPackage)).default({}),
  })
  .strict();

/** How workers move to a new build in the apply: drained, rebooted and waited for one after another. */
export const imageRolloutSchema = z
  .object({
    /** Workers down for a reimage at once. Default: 1. */
    maxUnavailable: z.number().int().min(1).max(16).default(1),
    /** Bound of a worker's drain in Nomad (after it, Nomad stops what is left). Default: 600. */
    drainDeadlineSeconds: z.number().int().min(10).max(86400).default(600),
    /** Bound of the wait for a rebooted worker to be back on its build, ready in Nomad. Default: 1200. */
    bootTimeoutSeconds: z.number().int().min(30).max(7200).default(1200),
    /**
     * ssh public keys that may log in as root on the netbooted workers: the reimage reboots them over
     * ssh with one of them. Served beside the agent files (public, no secret). Default: none (no ssh
     * login; reboot them with WorkerReimageProps.rebootCommand).
     */
    sshAuthorizedKeys: z.array(sshPublicKey).default([]),
    /**
     * Reimage a worker even when the clients that stay up cannot hold its service and batch jobs (a lab
     * with one worker): those allocations wait, unplaced, until a client has room again (the worker
     * itself, once back). Default: false (the plan refuses, ELY-PLC-012, and so does the reimage step).
     */
    allowJobDowntime: z.boolean().default(false),
  })
  .strict();

/**
 * The cluster's image channels. `revisions` lists the image input sets, oldest first; the
 * channel "latest" always boots the last one, and `channels` names the revision of every
 * other channel. "stable" is the newest revision too unless `channels.stable` names one.
 */
export const imagesSchema = z
  .object({
    revisions: z.array(imageRevisionSchema).min(1).default([{ name: "current", extraPackages: {} }]),
    /** channel -> revision name. "latest" cannot be pinned. Default: none (every channel is the newest revision). */
    channels: z.record(imageChannelName("a channel name like stable"), imageChannelName("the name of a revision in images.revisions")).default({}),
    rollout: imageRolloutSchema.default(imageRolloutSchema.parse({})),
  })
  .strict();

export const inventorySchema = z
  .object({
    /** Cluster name; also the Terraform stack name. */
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, tag("ELY-STR-022", "expected a lowercase name of letters, digits and -")),
    datacenter: identifier("a datacenter name like 509ely"),
    region: identifier("a region name like global").default("global"),
    network: networkSchema,
    security: securitySchema.default(securitySchema.parse({})),
    endpoints: endpointsSchema.default({}),
    state: stateSchema.default({ backend: "local" }),
    versions: versionsSchema.default(versionsSchema.parse({})),
    scheduler: schedulerSchema.default(schedulerSchema.parse({})),
    /** Public DNS for the exposed services. Default: none (no records managed). */
    dns: dnsSchema.default({ provider: "none" }),
    /** Image revisions, channels and the workers' rollout. Default: one revision, every node on it. */
    images: imagesSchema.default(imagesSchema.parse({})),
    nodes: z.array(nodeSchema).min(1),
  })
  .strict();

/** The inventory as a user writes it (defaults may be left out). */
export type InventoryInput = z.input<typeof inventorySchema>;
/** The effective inventory, every default filled in. */
export type Inventory = z.output<typeof inventorySchema>;
export type InventoryNode = Inventory["nodes"][number];
export type Role = (typeof ROLES)[number];
export type Arch = (typeof ARCHES)[number];
export type BootMode = (typeof BOOT_MODES)[number];
export type HostVolume = InventoryNode["hostVolumes"][number];
export type VolumeBacking = (typeof VOLUME_BACKINGS)[number];
export type NfsExport = InventoryNode["nfsExports"][number];
export type Disk = z.output<typeof diskSchema>;
export type Driver = (typeof DRIVERS)[number];
export type DnsConfig = Inventory["dns"];
export type ImagesConfig = Inventory["images"];
export type ImageRevision = ImagesConfig["revisions"][number];

/**
 * The inventory schema with the fields the whole-inventory rules relate as free strings (roles,
 * architectures, boot modes, hostnames, addresses, storage paths and disk identities): when only
 * their format is wrong (the schema's error), the whole-inventory rules still run on the rest (they
 * skip a value of the wrong format), so every problem is reported at once, each once.
 */
export const lenientInventorySchema = inventorySchema.extend({
  network: networkSchema.extend({ subnet: z.string(), gateway: z.string(), ingressAddress: z.string(), dnsServers: z.array(z.string()).optional() }),
  nodes: z
    .array(
      nodeSchema.extend({
        hostname: z.string(),
        ip: z.string(),
        mac: z.string().optional(),
        extraMacs: z.array(z.string()).default([]),
        role: z.string(),
        arch: z.string(),
        boot: z.string().optional(),
        hardware: hardwareSchema
          .extend({ disks: z.array(diskSchema.extend({ byId: z.string().optional(), serial: z.string().optional(), scratchMountPoint: z.string().optional() })).default([]) })
          .optional(),
        hostVolumes: z.array(hostVolumeSchema.extend({ path: z.string() })).default([]),
        nfsExports: z.array(nfsExportSchema.extend({ path: z.string(), mountPoint: z.string().optional(), clients: z.array(z.string()).optional() })).default([]),
      }),
    )
    .min(1),
});
