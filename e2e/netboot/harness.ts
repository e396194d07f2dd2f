/**
 * The netboot test, end to end, with the project's own synthesized commands:
 *  1. synth the default inventory's cluster with Netboot (test profile, publishing to a local
 *     directory that stands for the util node);
 *  2. run the image build's local-exec command (a fresh build unless ELY_NETBOOT_ARTIFACTS_DIR
 *     names a directory of earlier builds), then the publish commands;
 *  3. serve the util node's root with the real nginx and the generated nginx.conf (the synth
 *     sets BootServiceProps.httpListen and httpStateDir for that);
 *  4. boot QEMU (TCG) from its NIC's iPXE ROM with the node's MAC, on one of two networks:
 *     "bridge" (where root and /dev/net/tun allow, bridge-network.ts): a tap on a bridge that
 *     holds the util address, where nginx listens and the generated dnsmasq.conf answers the
 *     ROM as proxy DHCP and TFTP, beside a router namespace giving the address; or "user":
 *     QEMU's user-mode network laid out as the lab's subnet, whose own DHCP/TFTP hand iPXE the
 *     generated chain script, nginx on 127.0.0.1 behind a forward of util:8080. Either way the
 *     chain script (tftp/ely.ipxe) fetches the generated per-MAC script from the util address;
 *  5. wait for the image's node-up marker with the hostname of the kernel command line, and on an
 *     image with agents (the full profile) for their report (images/agents-report.ts) after it.
 * The image is the full profile's (Consul, Nomad, docker) unless ELY_NETBOOT_PROFILE=test (no agents,
 * a smaller and quicker build). Builds are kept in ~/.cache/ely/images, keyed by their inputs' hash
 * (the plan's own default): an unchanged image is not built again. Every boot runs the image's storage
 * probe (its kernel argument ely.storage-probe is added to the generated iPXE scripts).
 * QEMU and the HTTP server are stopped whatever happens.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, TerraformStack } from "cdktf";
import execa from "execa";
import { Cluster, Netboot, projectRoot } from "../../constructs";
import { DEFAULT_KERNEL_ARGS, TFTP_CHAIN_SCRIPT } from "../../constructs/netboot/boot-service";
import { DEFAULT_HTTP_PORT, IMAGE_PROFILES, ImageProfile } from "../../images/layout";
import { NODE_UP_MARKER, STORAGE_PROBE_KERNEL_ARG } from "../../images/rootfs-files";
import { AGENTS_MARKER } from "../../images/agents-report";
import { PROFILES } from "../../images/profiles";
import { INITRD_FATAL } from "../../images/initrd-files";
import { RAMROOT_ARTIFACTS, RamrootCompression, ramrootCompression } from "../../images/ramroot-codec";
import { DEFAULT_INVENTORY, Inventory, parseInventory } from "../../nodes";
import { QemuOptions, RunningQemu, startQemu, tailOf, waitForSerial } from "./qemu";
import { freePort } from "../free-port";
import { letWorkersRead, startUtilNginx } from "./util-nginx";
import { ganeshaMissing } from "../nfs/ganesha";
import { BridgeNetwork, bridgeNames, bridgeNetworkMissing, startBridgeNetwork } from "./bridge-network";
import { RADVD_CONFIG_SCRIPT } from "../../constructs/netboot/router-advertisement";
import { asUser, buildUserFromEnv, prepareBuildAs } from "../images/build-user";

export type NetbootNetwork = "bridge" | "user";

export interface NetbootE2eOptions {
  /** Scratch directory. Default: a new directory under the system temp dir (removed on success). */
  readonly workDir?: string;
  /** Builds directory. Default: $ELY_NETBOOT_ARTIFACTS_DIR, else $ELY_CACHE/images, else ~/.cache/ely/images (reused when the inputs are unchanged). */
  readonly artifactsDir?: string;
  /** The node to boot. Default: $ELY_NETBOOT_NODE, else the first netbooted node. */
  readonly hostname?: string;
  /** Default: $ELY_NETBOOT_TIMEOUT_S, else 1500 s. */
  readonly bootTimeoutSeconds?: number;
  /** Guest memory. Default: $ELY_NETBOOT_MEMORY_MB, else 2048 (test profile) or 3072 (full). */
  readonly memoryMb?: number;
  /** Image profile. Default: $ELY_NETBOOT_PROFILE, else "full" (the real image: it needs the agent binaries, see e2e/tools/build-tools.sh). */
  readonly profile?: ImageProfile;
  /** The guest's network (see above). Default: $ELY_NETBOOT_NETWORK, else "bridge" where bridgeNetworkMissing() allows, else "user". */
  readonly network?: NetbootNetwork;
  /**
   * The image's ramroot codec (and so its mode: streamed by the initrd, or unpacked by the kernel). Default:
   * $ELY_NETBOOT_RAMROOT ("<codec>" or "<codec>-<level>": gzip, xz, zstd-3), else the profile's (the default mode).
   */
  readonly ramroot?: RamrootCompression;
  readonly inventory?: Inventory;
  readonly log?: (line: string) => void;
}

export interface NetbootE2eReport {
  readonly ok: boolean;
  readonly hostname: string;
  readonly mac: string;
  readonly buildId: string;
  readonly markerLine?: string;
  readonly failure?: string;
  readonly serialLog: string;
  readonly serialTail: string;
  /** Seconds: synth, build, publish, boot (QEMU start to marker), and boot phases from QEMU start. */
  readonly timings: Record<string, number>;
  readonly httpRequests: ReadonlyArray<{ path: string; status: number; bytes: number; seconds: number }>;
}

/** Boot milestones, by the serial line that marks them (the first line that matches). */
export const MILESTONES: ReadonlyArray<[string, RegExp]> = [
  ["ipxe", /iPXE/],
  ["node-script", /Ely: booting /],
  ["kernel-start", /Linux version /],
  ["initrd-init", /ely-initrd: Ely ramroot boot/],
  ["initrd-network", /ely-initrd: \S+ \(.*\) up: /],
  ["ramroot-download", /ely-initrd: downloading and unpacking/],
  ["ramroot-unpacked", /ely-initrd: unpacked /],
  ["switch-root", /ely-initrd: switching to the ramroot/],
  ["systemd", /systemd\[1\]: .*running in system mode|Welcome to /],
  ["storage-start", /ely-storage: starting /],
  ["storage-ready", /ely-storage: storage ready/],
  ["node-up", new RegExp(NODE_UP_MARKER)],
  ["consul-started", /Started consul\.service|Started Consul agent/],
  ["nomad-started", /Started nomad\.service|Started Nomad agent/],
  ["agents-report", new RegExp(AGENTS_MARKER)],
];

/** Colour and style escapes on the console. */
const ANSI_SGR = /\x1b\[[0-9;]*m/g;

/** What the test needs on this machine (Debian packages in parentheses). */
const REQUIRED_TOOLS: Array<[string, string]> = [
  ["qemu-system-x86_64", "qemu-system-x86"],
  ["busybox", "busybox-static"],
  ["mmdebstrap", "mmdebstrap"],
  ["rsync", "rsync"],
  ["depmod", "kmod"],
  ["cpio", "cpio"],
  ["xz", "xz-utils"],
  ["pigz", "pigz"],
  ["zstd", "zstd"],
  ["nginx", "nginx"],
  ["mkfs.ext4", "e2fsprogs"],
  ["debugfs", "e2fsprogs"],
];

/** Fails with one message naming every missing tool and the packages to install. */
export async function preflight(): Promise<void> {
  const missing: Array<[string, string]> = [];
  for (const [tool, pkg] of REQUIRED_TOOLS) {
    if ((await execa("sh", ["-c", `command -v "$1"`, "sh", tool], { reject: false })).exitCode !== 0) missing.push([tool, pkg]);
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.map(([t]) => t).join(", ")}: apt-get install ${[...new Set(missing.map(([, p]) => p))].join(" ")}`);
  if (!fs.existsSync("/usr/lib/ipxe/qemu/efi-virtio.rom") && !fs.existsSync("/usr/share/qemu/efi-virtio.rom")) problems.push("QEMU's iPXE ROM is missing: apt-get install ipxe-qemu");
  const ganesha = ganeshaMissing(); // the util node's NFS export, served to the booted node
  if (ganesha) problems.push(ganesha);
  if (!fs.existsSync(path.join(projectRoot(), "dist", "images", "build.js"))) problems.push("dist/images/build.js is missing: run npm run build first");
  if (problems.length) throw new Error(`netboot-test cannot run: ${problems.join("; ")}`);
}

/** A synthesized, built and published netboot setup, ready to boot one node (any number of times). */
export interface PreparedNetboot {
  /** Scratch directory (serial logs, the util node's root, cdktf.out). */
  readonly work: string;
  readonly profile: ImageProfile;
  readonly inventory: Inventory;
  readonly hostname: string;
  readonly mac: string;
  readonly imageKey: string;
  readonly buildId: string;
  /** How many nodes of the inventory netboot. */
  readonly netbootedNodes: number;
  /** The local directory that stands for the util node's root (/srv/ely). */
  readonly utilRoot: string;
  /** The published build: <utilRoot>/images/<image>/<build id>. */
  readonly imageDir: string;
  /** Seconds: synth, build, publish. */
  readonly timings: Record<string, number>;
  /** What QEMU needs besides the serial log and the forwarded port. */
  readonly qemu: Omit<QemuOptions, "serialLog" | "forwards">;
  readonly utilAddress: string;
  readonly utilHttpPort: number;
  readonly network: NetbootNetwork;
  /** Bridge network only: its interface and namespace names (the generated dnsmasq.conf binds the bridge). */
  readonly bridgeNames?: ReturnType<typeof bridgeNames>;
  /** The generated nginx.conf's listen address and port (127.0.0.1 on the user network), and its run-time directory. */
  readonly nginxHost: string;
  readonly nginxPort: number;
  readonly nginxStateDir: string;
}

export interface BootOptions {
  /** Default: <work>/serial.log. */
  readonly serialLog?: string;
  /** Default: $ELY_NETBOOT_TIMEOUT_S, else 1500 s. */
  readonly timeoutSeconds?: number;
  /** How often the serial log is read (a line's time is at most this late). Default: 500 ms. */
  readonly pollMs?: number;
  /** Extra virtio disks of the guest (e.g. a scratch disk, by the serial the inventory names). Default: none. */
  readonly disks?: QemuOptions["disks"];
  /** User network: more of the util node's ports the guest reaches (e.g. NFS, 2049), besides its HTTP port. Default: none. */
  readonly forwards?: QemuOptions["forwards"];
  /** Bridge network: the tap device the NIC uses (bridge-network.ts). Required there. */
  readonly tap?: string;
  /**
   * Conditions outside the guest (e.g. the node ready in Nomad), asked every pollMs from QEMU's start; each one's
   * first true answer is timed as boot.<name>. The boot ends once the serial marker came and every one holds;
   * one that never holds within the timeout fails the boot. Default: none.
   */
  readonly awaits?: ReadonlyArray<BootAwait>;
  readonly log?: (line: string) => void;
}

export interface BootAwait {
  readonly name: string;
  readonly reached: () => Promise<boolean>;
}

export interface NetbootBootResult {
  readonly ok: boolean;
  readonly failure?: string;
  readonly markerLine?: string;
  readonly serialLog: string;
  readonly serialTail: string;
  /** Seconds after QEMU start: boot (to the marker or the failure) and boot.<milestone>. */
  readonly timings: Record<string, number>;
  /** Every request to the util server; startS and doneS in seconds after QEMU start. */
  readonly httpRequests: ReadonlyArray<{ path: string; status: number; bytes: number; seconds: number; startS: number; doneS: number }>;
  /** The agents' report (images/agents-report.ts), on an image with agents. */
  readonly agentsLine?: string;
  /** Every serial line, with the time (seconds after QEMU start) the harness saw it. */
  readonly lines: ReadonlyArray<{ atS: number; line: string }>;
}

/**
 * A copy of the default inventory's input, to edit, as the netboot test serves it (util-nfs.ts):
 * - ACLs, TLS and gossip encryption off: their secrets reach a node by their own path, which the
 *   test does not serve (with TLS on and no CA on the node, Consul refuses to start), so that the
 *   agents start and wait for their servers;
 * - the util node's export /opt/nfs for the lab's subnet; on QEMU's user network also for 127.0.0.1,
 *   where that network makes the guest's connections come from.
 */
export function netbootInventoryInput(network: NetbootNetwork) {
  const input = JSON.parse(JSON.stringify(DEFAULT_INVENTORY));
  input.security = { ...input.security, acl: false, tls: false, gossipEncryption: false };
  const clients = network === "user" ? [input.network.subnet, "127.0.0.1"] : [input.network.subnet];
  input.nodes.find((n: { role: string }) => n.role === "util").nfsExports = [{ path: "/opt/nfs", clients }];
  return input;
}

/** The network to boot on: `requested`, else $ELY_NETBOOT_NETWORK, else "bridge" where this machine allows it, else "user". */
export function netbootNetwork(requested?: NetbootNetwork): NetbootNetwork {
  const network = requested ?? (process.env.ELY_NETBOOT_NETWORK as NetbootNetwork | undefined) ?? (bridgeNetworkMissing() ? "user" : "bridge");
  if (!["bridge", "user"].includes(network)) throw new Error(`netboot-test: ELY_NETBOOT_NETWORK: received "${network}", expected bridge or user`);
  const missing = network === "bridge" ? bridgeNetworkMissing() : undefined;
  if (missing) throw new Error(`netboot-test: the bridge network cannot be made here: ${missing}`);
  return network;
}

/** $ELY_NETBOOT_RAMROOT: "zstd", "gzip-6"; undefined when unset (the profile's codec). */
export function ramrootFromEnv(value = process.env.ELY_NETBOOT_RAMROOT): RamrootCompression | undefined {
  if (!value) return undefined;
  const [codec, level] = value.split("-");
  try {
    return ramrootCompression(codec, level);
  } catch (e) {
    throw new Error(`netboot-test: ELY_NETBOOT_RAMROOT: ${(e as Error).message}`);
  }
}

/** The image profile the netboot test boots: `profile` if given, else $ELY_NETBOOT_PROFILE, else "full". */
export function netbootProfile(profile?: ImageProfile): ImageProfile {
  const chosen = profile ?? (process.env.ELY_NETBOOT_PROFILE as ImageProfile | undefined) ?? "full";
  if (!IMAGE_PROFILES.includes(chosen)) throw new Error(`netboot-test: ELY_NETBOOT_PROFILE: received "${chosen}", expected one of ${IMAGE_PROFILES.join(", ")}`);
  return chosen;
}

/** Synth, build and publish (steps 1 and 2). */
export async function prepareNetboot(options: NetbootE2eOptions = {}): Promise<PreparedNetboot> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  await preflight();
  const work = options.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "ely-netboot-"));
  letWorkersRead(work); // nginx's workers (user nobody) read the util node's root below it
  // $ELY_BUILD_USER (CI's ely-build): the build runs unprivileged, as in a plan run by that user (e2e/images/build-user.ts),
  // into that user's own builds cache, as its plan would (root's ~/.cache is not the user's to write).
  const builder = buildUserFromEnv(projectRoot());
  const cacheHome = builder ? path.join(builder.home, ".cache", "ely") : (process.env.ELY_CACHE ?? path.join(os.homedir(), ".cache", "ely"));
  const artifactsDir = options.artifactsDir ?? process.env.ELY_NETBOOT_ARTIFACTS_DIR ?? path.join(cacheHome, "images");
  const utilRoot = path.join(work, "util-root");
  const timings: Record<string, number> = {};
  const time = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const start = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = (Date.now() - start) / 1000;
      log(`netboot-test: ${name} took ${timings[name].toFixed(1)} s`);
    }
  };

  const profile = netbootProfile(options.profile);

  const network = netbootNetwork(options.network);
  const ramroot = options.ramroot ?? ramrootFromEnv();

  // 1. Synth.
  const inventory = options.inventory ?? parseInventory(DEFAULT_INVENTORY, "default inventory");
  const outdir = path.join(work, "cdktf.out");
  const names = network === "bridge" ? bridgeNames() : undefined;
  const utilIp = inventory.nodes.find((n) => n.role === "util")?.ip;
  // On the bridge nginx listens where the nodes reach the util node; on the user network, on loopback behind QEMU's forward.
  const nginxHost = network === "bridge" && utilIp ? utilIp : "127.0.0.1";
  const nginxPort = network === "bridge" ? DEFAULT_HTTP_PORT : await freePort();
  const nginxStateDir = path.join(work, "nginx");
  const { netboot, stackDir, commands } = await time("synth", () => {
    const app = new App({ outdir });
    const stack = new TerraformStack(app, inventory.name);
    const cluster = new Cluster(stack, "cluster", { inventory });
    // The util node's root is the local directory.
    const nb = new Netboot(stack, "netboot", {
      cluster,
      imageProfile: profile,
      imageRamroot: ramroot,
      publishTarget: utilRoot,
      remoteRoot: utilRoot,
      httpListen: `${nginxHost}:${nginxPort}`,
      httpStateDir: nginxStateDir,
      dhcpInterface: names?.bridge,
      artifactsDir,
      kernelArgs: [...DEFAULT_KERNEL_ARGS, STORAGE_PROBE_KERNEL_ARG],
    });
    app.synth();
    const dir = path.join(outdir, "stacks", inventory.name);
    return { netboot: nb, stackDir: dir, commands: localExecCommands(path.join(dir, "cdk.tf.json")) };
  });
  const hostname = options.hostname ?? process.env.ELY_NETBOOT_NODE ?? netboot.entries[0]?.hostname;
  const entry = netboot.entries.find((e) => e.hostname === hostname);
  if (!entry) throw new Error(`netboot-test: node "${hostname}" is not netbooted in the inventory (netbooted: ${netboot.entries.map((e) => e.hostname).join(", ")})`);
  const util = netboot.utilNode!;
  log(`netboot-test: node ${entry.hostname} (${entry.mac}) boots ${entry.imageKey} build ${entry.buildId} (profile ${profile}); util ${util.ip}; work ${work}`);

  // 2. Build and publish, with the synthesized commands, in the plan's order.
  const env = { ...process.env, ELY_PROJECT_DIR: projectRoot(), ELY_PUBLISH_SERVICES: "0", ELY_APT_CACHE_DIR: process.env.ELY_APT_CACHE_DIR ?? path.join(os.homedir(), ".cache", "ely", "apt") };
  const run = (command: string) => execa("sh", ["-c", command], { cwd: stackDir, env, stdio: ["ignore", "inherit", "inherit"] });
  if (builder) log(`netboot-test: the image build runs as ${builder.name} (uid ${builder.uid}), unprivileged`);
  const runBuild = (command: string) =>
    builder
      ? execa("runuser", asUser(builder, ["sh", "-c", command], process.env.ELY_APT_CACHE_DIR), {
          cwd: stackDir,
          env: prepareBuildAs(builder, artifactsDir, work, env),
          stdio: ["ignore", "inherit", "inherit"],
        })
      : run(command);
  await time("build", async () => {
    for (const c of commands.filter((c) => /\/image-[^/]+\/build$/.test(c.path))) await runBuild(c.command);
  });
  await time("publish", async () => {
    for (const c of commands.filter((c) => /\/publish-[^/]+\/publish$/.test(c.path))) await run(c.command);
    for (const c of commands.filter((c) => /\/boot-publish\/publish$/.test(c.path))) await run(c.command);
  });

  const [hostAddress] = freeAddresses(inventory, 1);
  return {
    work,
    profile,
    inventory,
    hostname: entry.hostname,
    mac: entry.mac,
    imageKey: entry.imageKey,
    buildId: entry.buildId,
    netbootedNodes: netboot.entries.length,
    utilRoot,
    imageDir: path.join(utilRoot, "images", entry.imageKey, entry.buildId),
    timings,
    qemu: {
      subnetCidr: inventory.network.subnet,
      hostAddress,
      dhcpStart: util.ip === entry.hostname ? util.ip : nodeIp(inventory, entry.hostname),
      mac: entry.mac,
      tftpDir: fs.realpathSync(path.join(utilRoot, "boot", "current", "tftp")),
      bootFile: TFTP_CHAIN_SCRIPT,
      memoryMb: options.memoryMb ?? (Number(process.env.ELY_NETBOOT_MEMORY_MB) || (profile === "full" ? 3072 : 2048)),
      cpus: Math.min(2, os.cpus().length),
    },
    utilAddress: util.ip,
    utilHttpPort: netboot.bootService!.config.httpPort,
    network,
    bridgeNames: names,
    nginxHost,
    nginxPort,
    nginxStateDir,
  };
}

/**
 * The lab around a prepared node on the bridge network: the router, and the util node's generated dnsmasq.conf
 * and (unless `routerAdvertisement` is false, as a util node with `routerAdvertisement: false`) its radvd.
 */
export function startNetbootLab(prepared: PreparedNetboot, stateDir: string, options: { routerAdvertisement?: boolean } = {}): Promise<BridgeNetwork> {
  if (prepared.network !== "bridge" || !prepared.bridgeNames) throw new Error(`netboot-test: the lab needs the bridge network (prepared for "${prepared.network}")`);
  const current = path.join(prepared.utilRoot, "boot", "current");
  return startBridgeNetwork({
    names: prepared.bridgeNames,
    utilAddress: prepared.utilAddress,
    prefixLength: Number(prepared.inventory.network.subnet.split("/")[1]),
    gateway: prepared.inventory.network.gateway,
    node: { mac: prepared.mac, ip: nodeIp(prepared.inventory, prepared.hostname) },
    dnsmasqConf: path.join(current, "dnsmasq.conf"),
    radvdConfigScript: options.routerAdvertisement === false ? undefined : path.join(current, RADVD_CONFIG_SCRIPT),
    stateDir,
  });
}

/** The util node's HTTP server for a prepared netboot: the real nginx on the published, generated nginx.conf. */
export function startPreparedNginx(prepared: PreparedNetboot): ReturnType<typeof startUtilNginx> {
  return startUtilNginx(path.join(prepared.utilRoot, "boot", "current", "nginx.conf"), prepared.nginxPort, prepared.nginxStateDir, prepared.nginxHost);
}

/** Serve and boot (steps 3 to 5): one boot of the prepared node. QEMU and the HTTP server are stopped whatever happens. */
export async function bootNetboot(prepared: PreparedNetboot, options: BootOptions = {}): Promise<NetbootBootResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const serialLog = options.serialLog ?? path.join(prepared.work, "serial.log");
  const timings: Record<string, number> = {};
  const lines: Array<{ atS: number; line: string }> = [];
  if (prepared.network === "bridge" && !options.tap) throw new Error("netboot-test: the bridge network needs the tap device (BootOptions.tap)");
  const server = await startPreparedNginx(prepared);
  let bootStarted = Date.now();
  let qemu: RunningQemu | undefined;
  const seen = new Set<string>();
  let result;
  let awaiting: ReturnType<typeof pollAwaits> | undefined;
  let unmet: string[] = [];
  const withAgents = PROFILES[prepared.profile].includeAgents;
  try {
    bootStarted = Date.now();
    qemu = startQemu({
      ...prepared.qemu,
      forwards: [{ guestAddress: prepared.utilAddress, guestPort: prepared.utilHttpPort, hostPort: server.port }, ...(options.forwards ?? [])],
      disks: options.disks,
      tap: prepared.network === "bridge" ? options.tap : undefined,
      serialLog,
    });
    const timeoutMs = (options.timeoutSeconds ?? Number(process.env.ELY_NETBOOT_TIMEOUT_S ?? 1500)) * 1000;
    awaiting = pollAwaits(options.awaits ?? [], options.pollMs ?? 500, bootStarted, timings, log);
    result = await waitForSerial(
      serialLog,
      // With agents, their report comes after the node-up marker (its unit is ordered after it).
      new RegExp(`${withAgents ? AGENTS_MARKER : NODE_UP_MARKER} hostname=${prepared.hostname}\\b`),
      new RegExp(`${INITRD_FATAL}|Kernel panic|not in the Ely inventory|could not load|no boot script for`),
      qemu,
      timeoutMs,
      (raw) => {
        // systemd colours its status lines ("Started \x1b[0;1;39mconsul.service\x1b[0m"): matched and kept without.
        const line = raw.replace(ANSI_SGR, "");
        const atMs = Date.now() - bootStarted;
        lines.push({ atS: atMs / 1000, line });
        for (const [name, re] of MILESTONES) {
          if (!seen.has(name) && re.test(line)) {
            seen.add(name);
            timings[`boot.${name}`] = atMs / 1000;
            log(`netboot-test: +${(atMs / 1000).toFixed(1)} s ${name}: ${line.trim().slice(0, 140)}`);
          }
        }
      },
      options.pollMs,
    );
    if (result.found) unmet = await awaiting.until(bootStarted + timeoutMs, () => qemu!.process.exitCode !== null);
  } finally {
    await awaiting?.stop();
    await qemu?.kill();
    await server.close();
  }
  timings.boot = (Date.now() - bootStarted) / 1000;
  const requests = server.requests();
  // iPXE prints on the VGA console only: its steps show as requests to the util server.
  const firstRequest = (name: string, test: (p: string) => boolean, field: "atMs" | "doneMs" = "atMs") => {
    const r = requests.find((q) => test(q.path));
    if (r) timings[`boot.${name}`] = (r[field] - bootStarted) / 1000;
  };
  firstRequest("ipxe-script", (p) => p.startsWith("/ipxe/"));
  firstRequest("kernel-fetched", (p) => p.endsWith("/vmlinuz"), "doneMs");
  firstRequest("ramroot-fetched", (p) => RAMROOT_ARTIFACTS.some((a) => p.endsWith(`/${a}`)), "doneMs");
  firstRequest("agent-config", (p) => p.startsWith("/config/"));
  const httpRequests = requests.map((r) => ({
    path: r.path,
    status: r.status,
    bytes: r.bytes,
    seconds: (r.doneMs - r.atMs) / 1000,
    startS: (r.atMs - bootStarted) / 1000,
    doneS: (r.doneMs - bootStarted) / 1000,
  }));
  const markerLine = lines.find((l) => new RegExp(`${NODE_UP_MARKER} hostname=${prepared.hostname}\\b`).test(l.line))?.line.trim();
  const awaited = `${withAgents ? AGENTS_MARKER : NODE_UP_MARKER} hostname=${prepared.hostname}`;
  const failure = result.found
    ? !markerLine
      ? `the agents reported, but no "${NODE_UP_MARKER} hostname=${prepared.hostname}" before`
      : unmet.length
        ? `"${awaited}" came, but not ${unmet.join(", ")} within ${((Date.now() - bootStarted) / 1000).toFixed(0)} s`
        : undefined
    : result.reason === "timeout"
      ? `no "${awaited}" on the serial console within ${(result.elapsedMs / 1000).toFixed(0)} s`
      : result.reason === "exited"
        ? `QEMU exited before the marker: ${qemu!.output().trim() || "(no output)"}`
        : `boot failed: ${result.line?.trim()}`;
  return {
    ok: failure === undefined,
    failure,
    markerLine,
    agentsLine: withAgents && result.found ? result.line?.trim() : undefined,
    serialLog,
    serialTail: tailOf(serialLog, 60),
    timings,
    httpRequests,
    lines,
  };
}

/**
 * Asks each await every `pollMs` (one at a time, in order) until it holds, timing it in `timings` as boot.<name>.
 * until(deadline, gone) waits for all of them, up to the deadline or until gone() (QEMU exited), and returns the
 * names still unmet; stop() ends the asking.
 */
function pollAwaits(awaits: ReadonlyArray<BootAwait>, pollMs: number, startedMs: number, timings: Record<string, number>, log: (line: string) => void) {
  const pending = new Map(awaits.map((a) => [a.name, a]));
  let stopped = false;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const loop = (async () => {
    while (!stopped && pending.size) {
      for (const [name, a] of pending) {
        if (await a.reached().catch(() => false)) {
          const atS = (Date.now() - startedMs) / 1000;
          timings[`boot.${name}`] = atS;
          pending.delete(name);
          log(`netboot-test: +${atS.toFixed(1)} s ${name}`);
        }
      }
      await sleep(pollMs);
    }
  })();
  return {
    async until(deadlineMs: number, gone: () => boolean): Promise<string[]> {
      while (pending.size && Date.now() < deadlineMs && !gone()) await sleep(pollMs);
      return [...pending.keys()];
    },
    async stop(): Promise<void> {
      stopped = true;
      await loop;
    },
  };
}

/** The report of one boot of a prepared node. */
export function reportOf(prepared: PreparedNetboot, boot: NetbootBootResult): NetbootE2eReport {
  return {
    ok: boot.ok,
    hostname: prepared.hostname,
    mac: prepared.mac,
    buildId: prepared.buildId,
    markerLine: boot.markerLine,
    failure: boot.failure,
    serialLog: boot.serialLog,
    serialTail: boot.serialTail,
    timings: { ...prepared.timings, ...boot.timings },
    httpRequests: boot.httpRequests,
  };
}

/** One boot of the default setup on QEMU's user network (the bridge network's lab is the jest test's: netboot.e2e.test.ts). */
export async function runNetbootE2e(options: NetbootE2eOptions = {}): Promise<NetbootE2eReport> {
  const prepared = await prepareNetboot({ network: "user", ...options });
  const boot = await bootNetboot(prepared, { timeoutSeconds: options.bootTimeoutSeconds, log: options.log });
  const report = reportOf(prepared, boot);
  if (report.ok && !options.workDir && !process.env.ELY_NETBOOT_KEEP) fs.rmSync(prepared.work, { recursive: true, force: true });
  return report;
}

interface LocalExec {
  readonly path: string;
  readonly command: string;
}

/** The null_resources' local-exec commands of a synthesized stack, with their construct paths. */
export function localExecCommands(cdkTfJson: string): LocalExec[] {
  const config = JSON.parse(fs.readFileSync(cdkTfJson, "utf8"));
  const out: LocalExec[] = [];
  for (const [, resource] of Object.entries<Record<string, unknown>>(config.resource?.null_resource ?? {})) {
    const meta = (resource["//"] as { metadata?: { path?: string } } | undefined)?.metadata?.path ?? "";
    const provisioners = (resource.provisioner as Array<Record<string, { command?: string }>> | undefined) ?? [];
    for (const p of provisioners) if (p["local-exec"]?.command) out.push({ path: meta, command: p["local-exec"].command });
  }
  return out;
}

function nodeIp(inventory: Inventory, hostname: string): string {
  return inventory.nodes.find((n) => n.hostname === hostname)!.ip;
}

/** Addresses of the subnet that no inventory node, gateway or ingress uses, from .2 up (QEMU's own). */
function freeAddresses(inventory: Inventory, count: number): string[] {
  const used = new Set([inventory.network.gateway, inventory.network.ingressAddress, ...inventory.nodes.map((n) => n.ip)]);
  const base = inventory.network.subnet.split("/")[0].split(".").slice(0, 3).join(".");
  const free: string[] = [];
  // .3 is QEMU's DNS address: it must be free too.
  if (used.has(`${base}.3`)) throw new Error(`netboot-test: ${base}.3 is used by the inventory; QEMU's user network needs it`);
  for (let i = 2; i < 255 && free.length < count; i++) if (i !== 3 && !used.has(`${base}.${i}`)) free.push(`${base}.${i}`);
  return free;
}

export function formatReport(report: NetbootE2eReport): string {
  const t = report.timings;
  const lines = [
    `netboot-test: ${report.ok ? "PASSED" : "FAILED"}: ${report.hostname} (${report.mac}) build ${report.buildId}`,
    report.ok ? `netboot-test: marker: ${report.markerLine}` : `netboot-test: ${report.failure}`,
    `netboot-test: timings: synth ${t.synth?.toFixed(1)} s, build ${t.build?.toFixed(1)} s, publish ${t.publish?.toFixed(1)} s, boot ${t.boot?.toFixed(1)} s`,
    `netboot-test: boot phases (s after QEMU start): ${Object.entries(t)
      .filter(([k]) => k.startsWith("boot."))
      .sort(([, a], [, b]) => a - b)
      .map(([k, v]) => `${k.slice(5)} ${v.toFixed(1)}`)
      .join(", ")}`,
    `netboot-test: HTTP: ${report.httpRequests.map((r) => `${r.path} ${r.status} ${(r.bytes / 1048576).toFixed(1)} MiB ${r.seconds.toFixed(1)} s`).join("; ")}`,
  ];
  if (!report.ok) lines.push(`netboot-test: serial log ${report.serialLog}, last lines:`, report.serialTail);
  return lines.join("\n");
}
