/**
 * The lab's network for the netboot test, where this machine allows it (root, /dev/net/tun):
 *
 *   this machine: bridge <br> holding the util node's address (nginx, nfs-ganesha, the
 *   generated dnsmasq.conf, proxy DHCP + TFTP on <br> only, and radvd with the generated
 *   radvd-config.sh's configuration, listen there)
 *     |-- tap <tap>: QEMU's NIC (the node, its inventory MAC)
 *     `-- veth --- netns <router>: the lab's router at the gateway address, a plain DHCP server
 *                  (dnsmasq) that gives the node its inventory address
 *
 * A proxy DHCP server gives no addresses: the router does, as in the lab. Two DHCP servers
 * cannot share one interface's port 67, hence the router's own namespace.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as readline from "readline";

/** Interface and namespace names of one run (interface names: at most 15 characters). */
export function bridgeNames(id: number = process.pid): { bridge: string; tap: string; veth: string; router: string; serverLink: string; server: string; nodeLink: string; node: string } {
  const n = id % 100000;
  return {
    bridge: `elynb${n}`,
    tap: `elynbt${n}`,
    veth: `elynbr${n}`,
    router: `ely-nb-${n}-router`,
    serverLink: `elynbs${n}`,
    server: `ely-nb-${n}-server`,
    // A node booted natively, in a container (bench/native-boot.ts), instead of through the tap.
    nodeLink: `elynbn${n}`,
    node: `ely-nb-${n}-node`,
  };
}

/** Why the bridge network cannot be made here, or undefined when it can. */
export function bridgeNetworkMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "a bridge and a tap device need root";
  if (!fs.existsSync("/dev/net/tun")) return "no /dev/net/tun (tap devices)";
  const packages: Record<string, string> = { ip: "iproute2", dnsmasq: "dnsmasq-base", radvd: "radvd" };
  for (const [tool, pkg] of Object.entries(packages)) if (spawnSync("sh", ["-c", `command -v "$1"`, "sh", tool]).status !== 0) return `${tool} is missing (apt-get install ${pkg})`;
  return undefined;
}

/** The IPv6 link-local address a NIC forms from its MAC (modified EUI-64), as iPXE and Linux do: the source of its router solicitations. */
export function linkLocalOfMac(mac: string): string {
  const b = mac.split(":").map((h) => parseInt(h, 16));
  b[0] ^= 0x02;
  const words = [(b[0] << 8) | b[1], (b[2] << 8) | 0xff, (0xfe << 8) | b[3], (b[4] << 8) | b[5]];
  return `fe80::${words.map((w) => w.toString(16)).join(":")}`;
}

export interface BridgeNetworkOptions {
  readonly names: ReturnType<typeof bridgeNames>;
  /** The util node's address and the subnet's prefix length ("10.25.89.4", 24). */
  readonly utilAddress: string;
  readonly prefixLength: number;
  readonly gateway: string;
  /** The node the router gives an address: its MAC and inventory address. */
  readonly node: { readonly mac: string; readonly ip: string };
  /** More machines the router gives an address, as a home router gives any device one (e.g. one the inventory does not know). Default: none. */
  readonly otherMachines?: ReadonlyArray<{ readonly mac: string; readonly ip: string }>;
  /**
   * The generated dnsmasq.conf file, run as it is (its dhcpInterface must be names.bridge).
   * Default: none yet: start it later with startUtilDnsmasq (once its TFTP root is published).
   */
  readonly dnsmasqConf?: string;
  /** The generated radvd-config.sh, run as the util node's unit runs it. Default: none yet: start it later with startUtilRadvd. */
  readonly radvdConfigScript?: string;
  /** Logs, leases and pid files. */
  readonly stateDir: string;
}

export interface BridgeNetwork {
  readonly tap: string;
  /** Starts the util node's dnsmasq with the generated configuration (when startBridgeNetwork was given none). */
  startUtilDnsmasq(conf: string): Promise<void>;
  /** What the util node's dnsmasq (the generated configuration) logged. */
  utilDnsmasqLog(): string;
  /**
   * Starts the util node's radvd as its unit does: the generated radvd-config.sh writes the
   * configuration (here: for the bridge, which holds the util address), radvd runs it (logging
   * each solicitation it answers).
   */
  startUtilRadvd(configScript: string): Promise<void>;
  /** What the util node's radvd logged. */
  utilRadvdLog(): string;
  routerLog(): string;
  stop(): Promise<void>;
}

/** Runs `ip` with these arguments; throws with its message when it fails. */
export function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim() || `exit ${r.status}`}`);
}

/**
 * Runs a daemon whose output lines go to `logFile`, each after the time it was read (ISO 8601, ms):
 * dnsmasq logs to standard error without times, and the firmware's DHCP, ProxyDHCP and TFTP steps
 * are told apart by them (iPXE prints on VGA only).
 */
function daemon(command: string[], logFile: string): { child: ChildProcess; stop: () => Promise<void> } {
  fs.writeFileSync(logFile, "");
  const child = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  // Lines that come once stop() has returned are dropped: the caller may have removed the log's directory
  // (a daemon's forked child, such as radvd's privilege-separation process, can hold the pipe open a while).
  let logging = true;
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on("line", (line) => logging && fs.appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`));
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const killNow = () => child.exitCode === null && child.kill("SIGKILL");
  process.once("exit", killNow);
  return {
    child,
    stop: async () => {
      process.removeListener("exit", killNow);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      // Its last lines, read once its output closes (or after a second, if a child of its own holds it).
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
      logging = false;
    },
  };
}

/** Makes the bridge, the tap, the router; starts the router's DHCP and the util node's dnsmasq. Undone by stop(), whatever failed. */
export async function startBridgeNetwork(options: BridgeNetworkOptions): Promise<BridgeNetwork> {
  const { bridge, tap, veth, router } = options.names;
  const state = options.stateDir;
  fs.mkdirSync(state, { recursive: true });
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
  const daemons: Array<ReturnType<typeof daemon>> = [];
  // A daemon answers once it logs `ready` (dnsmasq: that it started); a configuration error ends it at once.
  const started = async (d: ReturnType<typeof daemon>, log: string, name = "dnsmasq", ready = /started, version/, late = "did not start") => {
    const since = Date.now();
    while (!ready.test(read(log))) {
      if (d.child.exitCode !== null) throw new Error(`${name} exited (${d.child.exitCode}): ${read(log).trim()}`);
      if (Date.now() - since > 10_000) throw new Error(`${name} ${late} within 10 s: ${read(log).trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const startUtilDnsmasq = async (conf: string) => {
    const log = path.join(state, "util-dnsmasq.log");
    const util = daemon(["dnsmasq", "--keep-in-foreground", "--log-facility=-", "--user=root", `--conf-file=${conf}`, `--dhcp-leasefile=${path.join(state, "util.leases")}`, `--pid-file=${path.join(state, "util-dnsmasq.pid")}`], log);
    daemons.push(util);
    await started(util, log);
  };
  const startUtilRadvd = async (configScript: string) => {
    if (spawnSync("sh", ["-c", "command -v radvd"]).status !== 0) throw new Error("radvd is missing (apt-get install radvd): the util node's IPv6 router advertisement cannot be sent");
    const conf = path.join(state, "radvd.conf");
    const written = spawnSync("sh", [configScript, conf], { encoding: "utf8" });
    if (written.status !== 0) throw new Error(`sh ${configScript} ${conf} failed (${written.status}): ${written.stderr.trim()}`);
    const log = path.join(state, "util-radvd.log");
    // --debug=4: radvd logs each router solicitation it receives (3) and when the interface is ready (4).
    const radvd = daemon(["radvd", "--nodaemon", "--logmethod=stderr", "--debug=4", `--config=${conf}`, `--pidfile=${path.join(state, "radvd.pid")}`], log);
    daemons.push(radvd);
    await started(radvd, log, "radvd", / is ready/, `was not ready on ${bridge}`);
  };
  // The links and the router's namespace go whatever ends this process (its daemons go by their own exit handlers).
  const removeLinks = () => {
    spawnSync("ip", ["netns", "del", router], { stdio: "ignore" });
    for (const link of [veth, tap, bridge]) spawnSync("ip", ["link", "del", link], { stdio: "ignore" });
  };
  const stop = async () => {
    process.removeListener("exit", removeLinks);
    for (const d of daemons) await d.stop();
    removeLinks();
  };
  process.once("exit", removeLinks);
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${options.utilAddress}/${options.prefixLength}`, "dev", bridge);
    ip("link", "set", bridge, "up");
    ip("tuntap", "add", tap, "mode", "tap");
    ip("link", "set", tap, "master", bridge, "up");
    ip("netns", "add", router);
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", router);
    ip("link", "set", veth, "master", bridge, "up");
    ip("-n", router, "addr", "add", `${options.gateway}/${options.prefixLength}`, "dev", "eth0");
    ip("-n", router, "link", "set", "eth0", "up");
    ip("-n", router, "link", "set", "lo", "up");
    const common = ["--keep-in-foreground", "--log-facility=-", "--user=root"];
    const routerDhcp = daemon(
      [
        "ip", "netns", "exec", router, "dnsmasq", ...common, "--conf-file=/dev/null", "--port=0", "--log-dhcp", "--dhcp-authoritative",
        `--dhcp-range=${options.node.ip},static,1h`, `--dhcp-host=${options.node.mac},${options.node.ip}`, `--dhcp-option=option:router,${options.gateway}`,
        ...(options.otherMachines ?? []).map((m) => `--dhcp-host=${m.mac},${m.ip}`),
        `--dhcp-leasefile=${path.join(state, "router.leases")}`, `--pid-file=${path.join(state, "router.pid")}`,
      ],
      path.join(state, "router-dnsmasq.log"),
    );
    daemons.push(routerDhcp);
    await started(routerDhcp, path.join(state, "router-dnsmasq.log"));
    if (options.dnsmasqConf) await startUtilDnsmasq(options.dnsmasqConf);
    if (options.radvdConfigScript) await startUtilRadvd(options.radvdConfigScript);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    tap,
    startUtilDnsmasq,
    utilDnsmasqLog: () => read(path.join(state, "util-dnsmasq.log")),
    startUtilRadvd,
    utilRadvdLog: () => read(path.join(state, "util-radvd.log")),
    routerLog: () => read(path.join(state, "router-dnsmasq.log")),
    stop,
  };
}
