/**
 * One boot of the worker image's userspace at this machine's own speed: its ramroot unpacked into a tmpfs, booted
 * by its own systemd in a container (systemd-nspawn) on the netboot lab's bridge. No emulation: each stretch of
 * the userspace takes what this machine's CPU takes, which the benches scale to a node's CPU by one factor.
 *
 * What the initrd would hand over, this writes from the node's own iPXE script on the util node (its kernel
 * command line): the hostname, the boot interface's networkd file (DHCP, matched by the node's MAC) and
 * /etc/ely/boot.env. The boot interface is one end of a veth pair on the bridge, with the node's MAC: the lab's
 * router gives it its inventory address, the util node serves its configuration.
 *
 * What a container does not run: the kernel and the initrd, udev's coldplug of the hardware (systemd skips
 * systemd-udevd in a container) and the modules it loads (this machine's kernel has its own).
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { UNPACK_CPIO_ARCHIVES_SH } from "../images/layered-ramroot";
import { BOOT_ENV_FILE } from "../images/rootfs-files";
import { bootInterfaceNetwork, BOOT_INTERFACE_NETWORK_FILE } from "../images/initrd-files";
import { ip } from "../e2e/netboot/bridge-network";
import type { BootAwait } from "../e2e/netboot/harness";
import { sh } from "./measure";

export interface NativeBootOptions {
  /** The published kernel-unpacked ramroot (ramroot.cpio.zst). */
  readonly ramrootFile: string;
  /** The node's iPXE script as the util node serves it: its `kernel` line is the command line. */
  readonly ipxeScript: string;
  readonly hostname: string;
  readonly mac: string;
  /** The lab's bridge the node's link joins. */
  readonly bridge: string;
  /**
   * The veth pair's host end (on the bridge; at most 15 characters), the network namespace the container runs in,
   * and the node's end there (its boot interface).
   */
  readonly link: { readonly host: string; readonly netns: string; readonly node: string };
  /** A tmpfs directory to unpack into (removed at the end). */
  readonly rootDir: string;
  /** Conditions outside the node (e.g. ready in Nomad), asked every pollMs from the container's start. */
  readonly awaits: ReadonlyArray<BootAwait>;
  /** The node's journal of the boot is written here (monotonic timestamps). */
  readonly journalFile: string;
  /** The boot fails when the awaits do not all hold within this. */
  readonly timeoutSeconds: number;
  readonly pollMs: number;
  /** A line a unit of the node logs once it is done (the agents' report's boot line): waited for after the awaits, up to timeoutSeconds. */
  readonly doneWhen?: { readonly unit: string; readonly line: RegExp };
}

export interface NativeBootResult {
  readonly ok: boolean;
  readonly failure?: string;
  /** Seconds: zstd and cpio unpacking the ramroot into the tmpfs. */
  readonly unpackSeconds: number;
  /** CLOCK_MONOTONIC seconds (systemd's clock, and so the node's) when systemd-nspawn started. */
  readonly startedMono: number;
  /** CLOCK_MONOTONIC seconds at which each await first held. */
  readonly reachedMono: Record<string, number>;
  /** The node's journal, as it was at the end. */
  readonly journal: string;
}

/** Monotonic seconds, the clock systemd stamps its units with (libuv's hrtime is CLOCK_MONOTONIC on Linux). */
export const monoNow = (): number => Number(process.hrtime.bigint()) / 1e9;

/** The kernel command line's parameters (name=value words) from an iPXE script's `kernel` line. */
export function kernelParamsOfIpxe(script: string): Record<string, string> {
  const line = script.split("\n").find((l) => l.startsWith("kernel "));
  if (!line) throw new Error(`no 'kernel' line in the iPXE script: received ${JSON.stringify(script.slice(0, 200))}`);
  const words = line.replace(/\s*\|\|.*$/, "").split(/\s+/).slice(2);
  return Object.fromEntries(words.filter((w) => w.includes("=")).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]));
}

/** The files the initrd writes into the new root for this boot (images/initrd-files.ts), from its command line. */
export function handoverFiles(params: Record<string, string>, mac: string, iface: string): Record<string, string> {
  const hostname = params.hostname ?? "";
  const domain = params["ely.domain"];
  const fqdn = domain ? `${hostname}.${domain} ${hostname}` : hostname;
  const env: Record<string, string> = {
    ELY_HOSTNAME: hostname,
    ELY_ROLE: params["ely.role"] ?? "",
    ELY_UTIL: params["ely.util"] ?? "",
    ELY_SERVERS: params["ely.servers"] ?? "",
    ELY_IMAGE: params["ely.image"] ?? "",
    ELY_SECRETS: params["ely.secrets"] ?? "",
    ELY_BOOTIF_MAC: mac,
    ELY_BOOT_INTERFACE: iface,
    ELY_RAMROOT_URL: params.ramroot ?? "",
  };
  return {
    "etc/hostname": `${hostname}\n`,
    "etc/hosts": `127.0.0.1\tlocalhost\n127.0.1.1\t${fqdn}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    [BOOT_INTERFACE_NETWORK_FILE]: bootInterfaceNetwork(mac),
    [BOOT_ENV_FILE.replace(/^\//, "")]: Object.entries(env).map(([k, v]) => `${k}='${v}'\n`).join(""),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The container's init (systemd, PID 1 inside): systemd-nspawn's child. */
function containerInit(nspawnPid: number): number | undefined {
  const children = fs.readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return children.length ? Number(children[0]) : undefined;
}

/** Runs a command inside the container's namespaces (its own binaries): its stdout, "" when it fails. */
function inContainer(initPid: number, command: string[]): string {
  const r = spawnSync("nsenter", ["-t", String(initPid), "-m", "-u", "-i", "-n", "-p", ...command], { encoding: "utf8", timeout: 30000 });
  return r.status === 0 ? r.stdout : "";
}

/** Unpacks, hands over, boots and waits; the container, its link and its root are gone when this returns. */
export async function bootNative(options: NativeBootOptions): Promise<NativeBootResult> {
  const tree = path.join(options.rootDir, "newroot");
  const removeRoot = () => fs.rmSync(options.rootDir, { recursive: true, force: true });
  process.once("exit", removeRoot); // whatever ends this process during the unpack
  const unpackStart = monoNow();
  let unpackSeconds = 0;
  try {
    if (!fs.existsSync(options.ipxeScript)) throw new Error(`no iPXE script for ${options.hostname} (${options.mac}) at ${options.ipxeScript}: is the boot published?`);
    // Every archive of the layered cpio, as the kernel unpacks them (the tree under newroot/).
    await sh(`zstd -d -c -q "$1" | (cd "$2" && ${UNPACK_CPIO_ARCHIVES_SH})`, [options.ramrootFile, options.rootDir]);
    unpackSeconds = monoNow() - unpackStart;
    if (!fs.existsSync(path.join(tree, "sbin", "init"))) throw new Error(`${options.ramrootFile} unpacked into ${options.rootDir} without newroot/sbin/init: not a kernel-unpacked ramroot`);
    const params = kernelParamsOfIpxe(fs.readFileSync(options.ipxeScript, "utf8"));
    for (const [file, content] of Object.entries(handoverFiles(params, options.mac, options.link.node))) {
      fs.mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
      fs.rmSync(path.join(tree, file), { force: true }); // resolv.conf and hosts may be links
      fs.writeFileSync(path.join(tree, file), content);
    }
  } catch (e) {
    process.removeListener("exit", removeRoot);
    removeRoot();
    throw e;
  }
  process.removeListener("exit", removeRoot);

  let child: ChildProcess | undefined;
  let initPid: number | undefined;
  const killNow = () => {
    if (initPid) spawnSync("kill", ["-KILL", String(initPid)]); // PID 1 of its namespace: every process of the container goes with it
    if (child?.pid) spawnSync("kill", ["-KILL", String(child.pid)]);
    spawnSync("ip", ["netns", "del", options.link.netns], { stdio: "ignore" }); // the node's end goes with it, and so the host's
    spawnSync("ip", ["link", "del", options.link.host], { stdio: "ignore" });
  };
  // Whatever ends this process (Ctrl-C, SIGTERM), the container, its link and its root go with it.
  const onExit = () => {
    killNow();
    removeRoot();
  };
  process.once("exit", onExit);
  const reachedMono: Record<string, number> = {};
  let journal = "";
  let failure: string | undefined;
  let startedMono = monoNow();
  let consoleFd: number | undefined;
  try {
    killNow(); // what a killed run left
    ip("netns", "add", options.link.netns);
    ip("link", "add", options.link.host, "type", "veth", "peer", "name", options.link.node, "address", options.mac, "netns", options.link.netns);
    ip("link", "set", options.link.host, "master", options.bridge, "up");
    // As the initrd hands it over: up, its IPv6 link-local address past duplicate address detection (which networkd
    // would otherwise wait for: 1-2 s of timers). The initrd's own DHCP is its phase, not the userspace's.
    ip("-n", options.link.netns, "link", "set", options.link.node, "up");
    const handoverDeadline = monoNow() + 15;
    const linkLocalReady = () => /inet6 fe80::\S+ scope link(?! .*tentative)/.test(spawnSync("ip", ["-n", options.link.netns, "-6", "addr", "show", "dev", options.link.node], { encoding: "utf8" }).stdout ?? "");
    while (!linkLocalReady()) {
      if (monoNow() > handoverDeadline) throw new Error(`${options.link.node} in ${options.link.netns}: no IPv6 link-local address past duplicate address detection within 15 s`);
      await sleep(50);
    }
    consoleFd = fs.openSync(`${options.journalFile}.console`, "w");
    // No machine registration and the caller's cgroup: this machine need not run systemd itself.
    startedMono = monoNow();
    child = spawn(
      "systemd-nspawn",
      ["-D", tree, "--boot", "--register=no", "--keep-unit", "--capability=all", `--network-namespace-path=/run/netns/${options.link.netns}`, `--machine=${options.hostname}`, "--console=pipe"],
      // docker enables IP forwarding: /proc/sys/net writable (the container's own network namespace), the rest of /proc/sys not.
      { stdio: ["ignore", consoleFd, consoleFd], env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: "network" } },
    );
    let exited: string | undefined;
    child.on("exit", (code, signal) => (exited = `systemd-nspawn exited (${signal ?? `code ${code}`}): ${fs.readFileSync(`${options.journalFile}.console`, "utf8").slice(-2000)}`));
    const deadline = startedMono + options.timeoutSeconds;
    while (!exited && monoNow() < deadline) {
      initPid ??= child.pid ? containerInit(child.pid) : undefined;
      for (const a of options.awaits) if (reachedMono[a.name] === undefined && (await a.reached().catch(() => false))) reachedMono[a.name] = monoNow();
      if (options.awaits.every((a) => reachedMono[a.name] !== undefined)) break;
      await sleep(options.pollMs);
    }
    const missing = options.awaits.filter((a) => reachedMono[a.name] === undefined).map((a) => a.name);
    if (exited) failure = exited;
    else if (missing.length) failure = `not reached within ${options.timeoutSeconds} s: ${missing.join(", ")}`;
    else if (options.doneWhen && initPid) {
      const { unit, line } = options.doneWhen;
      while (!exited && monoNow() < deadline && !line.test(inContainer(initPid, ["journalctl", "-u", unit, "-o", "cat", "--no-pager"]))) await sleep(500);
      if (exited) failure = exited;
      else if (monoNow() >= deadline) failure = `${unit} logged no line matching ${line.source.slice(0, 60)}… within ${options.timeoutSeconds} s`;
    }
    if (initPid) journal = inContainer(initPid, ["journalctl", "-o", "short-monotonic", "--no-pager"]);
    fs.writeFileSync(options.journalFile, journal);
  } finally {
    // systemd-nspawn asks the container to halt on SIGTERM; its init is killed if it takes longer than 20 s.
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      if ((await Promise.race([gone.then(() => true), sleep(20000).then(() => false)])) === false) {
        killNow();
        await gone;
      }
    }
    killNow();
    process.removeListener("exit", onExit);
    removeRoot();
    if (consoleFd !== undefined) fs.closeSync(consoleFd);
  }
  return { ok: !failure, failure, unpackSeconds, startedMono, reachedMono, journal };
}
