/**
 * Test hosts for the server rollout: Debian bookworm root filesystems booted with
 * `systemd-nspawn -b` (real systemd inside, so units, enablement and restarts are real),
 * each in its own network namespace on a private bridge, with sshd and a key made by the test.
 *
 *   host (bridge <br>, 10.231.N.1/24) --veth-- netns ely-<id>-<host> (eth0 10.231.N.1x) -- nspawn container
 *
 * Needs root, systemd-nspawn (systemd-container), mmdebstrap, iproute2, ssh-keygen. The root
 * filesystem tarball is built once and cached in $ELY_SSH_HOSTS_CACHE (default
 * ~/.cache/ely-ssh-hosts); each host unpacks its own copy. stop() undoes everything start()
 * made: containers, namespaces, links, directories. A run killed before stop() is cleaned by the
 * next run (its state file names what it made).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ChildProcess, spawn } from "child_process";
import execa from "execa";

/** Packages of the hosts' root filesystem: what a Raspberry Pi OS server has that the steps use. */
export const HOST_PACKAGES = ["systemd-sysv", "openssh-server", "iproute2", "curl", "ca-certificates", "procps", "passwd", "tar"];
export const SUITE = "bookworm";
export const MIRROR = process.env.ELY_DEBIAN_MIRROR || "http://deb.debian.org/debian";

export interface TestHost {
  readonly hostname: string;
  readonly ip: string;
  readonly netns: string;
  readonly rootDir: string;
  readonly logFile: string;
  process?: ChildProcess;
}

interface RunState {
  readonly runnerPid: number;
  readonly bridge: string;
  readonly netns: string[];
  readonly links: string[];
  readonly pids: number[];
  readonly dirs: string[];
}

export interface SshHostsOptions {
  /** Hostnames, e.g. ["s1", "s2", "s3"]. */
  readonly hostnames: readonly string[];
  /** Working directory (keys, ssh config, host roots); removed by stop(). */
  readonly workDir: string;
  /**
   * An existing bridge to join instead of a bridge of the run's own (the cluster suite puts the
   * servers on the netboot network): its gateway, prefix length, and each host's address. The
   * bridge is left as it is by stop(). Default: a new bridge 10.231.<random>.0/24.
   */
  readonly network?: { readonly bridge: string; readonly gateway: string; readonly prefixLength: number; readonly ips: Readonly<Record<string, string>> };
  readonly log?: (line: string) => void;
}

const STATE_ROOT = path.join(os.tmpdir(), "ely-ssh-hosts-state");

export function rootfsCacheDir(): string {
  return process.env.ELY_SSH_HOSTS_CACHE || path.join(os.homedir(), ".cache", "ely-ssh-hosts");
}

function run(cmd: string, args: string[], options: execa.Options = {}) {
  return execa(cmd, args, { ...options });
}

async function runQuiet(cmd: string, args: string[]): Promise<void> {
  await execa(cmd, args, { reject: false });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Checks that this machine can make the hosts; throws saying what is missing. */
export async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the ssh hosts need root (network namespaces, systemd-nspawn)");
  const missing: string[] = [];
  for (const tool of ["systemd-nspawn", "mmdebstrap", "ip", "ssh", "ssh-keygen", "tar"]) {
    if ((await execa("sh", ["-c", `command -v ${tool}`], { reject: false })).exitCode !== 0) missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(`missing on this machine: ${missing.join(", ")} (apt-get install systemd-container mmdebstrap iproute2 openssh-client)`);
  }
}

/** The cached root filesystem tarball, built with mmdebstrap when missing (about 20 s). */
export async function ensureRootfs(log: (line: string) => void): Promise<string> {
  const key = crypto.createHash("sha256").update(JSON.stringify({ SUITE, HOST_PACKAGES, v: 1 })).digest("hex").slice(0, 12);
  const dir = rootfsCacheDir();
  const tarball = path.join(dir, `rootfs-${SUITE}-${key}.tar`);
  if (fs.existsSync(tarball)) {
    log(`root filesystem cached: ${tarball}`);
    return tarball;
  }
  fs.mkdirSync(dir, { recursive: true });
  log(`building the hosts' root filesystem with mmdebstrap (${SUITE}: ${HOST_PACKAGES.join(", ")})`);
  // mmdebstrap picks the output format from the name: keep ".tar" at the end.
  const temp = path.join(dir, `.building-${process.pid}-${path.basename(tarball)}`);
  const result = await run("mmdebstrap", ["--variant=minbase", `--include=${HOST_PACKAGES.join(",")}`, SUITE, temp, MIRROR], { reject: false, all: true });
  if (result.exitCode !== 0) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw new Error(`mmdebstrap failed (${result.exitCode}):\n${(result.all ?? "").split("\n").slice(-30).join("\n")}`);
  }
  fs.renameSync(temp, tarball);
  return tarball;
}

/** Removes what runs killed before their stop() left behind. */
export async function cleanStaleRuns(log: (line: string) => void): Promise<void> {
  if (!fs.existsSync(STATE_ROOT)) return;
  for (const name of fs.readdirSync(STATE_ROOT)) {
    const file = path.join(STATE_ROOT, name);
    let state: RunState;
    try {
      state = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (alive(state.runnerPid)) continue;
    log(`cleaning a stale run (runner pid ${state.runnerPid} is gone): ${state.netns.join(", ")}`);
    if ((await teardown(state, log)).length === 0) fs.rmSync(file, { force: true });
  }
}

/** Undoes what a run made; returns what could not be removed (empty when all is gone). */
async function teardown(state: RunState, log: (line: string) => void): Promise<string[]> {
  for (const pid of state.pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  for (const ns of state.netns) {
    // Anything still running in the namespace (a container's processes) goes first.
    const pids = (await execa("ip", ["netns", "pids", ns], { reject: false })).stdout.split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    await runQuiet("ip", ["netns", "del", ns]);
  }
  for (const link of [...state.links, state.bridge].filter(Boolean)) await runQuiet("ip", ["link", "del", link]);
  for (const dir of state.dirs) {
    const mounts = (await execa("findmnt", ["-rn", "-o", "TARGET"], { reject: false })).stdout.split("\n");
    if (mounts.some((m) => m.startsWith(dir + "/"))) {
      log(`warning: mounts remain under ${dir}; not removing it`);
      continue;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const left: string[] = [];
  const namespaces = (await execa("ip", ["netns", "list"], { reject: false })).stdout;
  for (const ns of state.netns) if (new RegExp(`^${ns}( |$)`, "m").test(namespaces)) left.push(`netns ${ns}`);
  for (const link of [...state.links, state.bridge].filter(Boolean)) {
    if ((await execa("ip", ["link", "show", link], { reject: false })).exitCode === 0) left.push(`link ${link}`);
  }
  for (const pid of state.pids) if (alive(pid)) left.push(`pid ${pid}`);
  if (left.length > 0) log(`warning: could not remove ${left.join(", ")}; the next run retries`);
  return left;
}

export class SshHosts {
  readonly id = crypto.randomBytes(2).toString("hex");
  readonly subnetOctet = 100 + crypto.randomInt(0, 150);
  readonly bridge: string;
  readonly gateway: string;
  readonly hosts: TestHost[];
  readonly keyFile: string;
  readonly sshConfigFile: string;
  readonly knownHostsFile: string;
  private readonly stateFile: string;
  private readonly state: RunState;
  private readonly log: (line: string) => void;

  constructor(private readonly options: SshHostsOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.bridge = options.network?.bridge ?? `elybr${this.id}`;
    this.gateway = options.network?.gateway ?? `10.231.${this.subnetOctet}.1`;
    this.hosts = options.hostnames.map((hostname, i) => ({
      hostname,
      ip: options.network?.ips[hostname] ?? `10.231.${this.subnetOctet}.${11 + i}`,
      netns: `ely-${this.id}-${hostname}`,
      rootDir: path.join(options.workDir, "hosts", hostname),
      logFile: path.join(options.workDir, "hosts", `${hostname}.console.log`),
    }));
    this.keyFile = path.join(options.workDir, "id_ed25519");
    this.sshConfigFile = path.join(options.workDir, "ssh_config");
    this.knownHostsFile = path.join(options.workDir, "known_hosts");
    this.stateFile = path.join(STATE_ROOT, `${this.id}.json`);
    // A bridge of someone else's is not the run's to remove.
    this.state = { runnerPid: process.pid, bridge: options.network ? "" : this.bridge, netns: [], links: [], pids: [], dirs: [] };
  }

  get subnet(): string {
    return `10.231.${this.subnetOctet}.0/24`;
  }

  private saveState(): void {
    fs.mkdirSync(STATE_ROOT, { recursive: true });
    fs.writeFileSync(this.stateFile, JSON.stringify(this.state));
  }

  /** Builds (or reuses) the root filesystem, then creates and boots every host and waits for its sshd. */
  async start(): Promise<void> {
    await checkPrerequisites();
    await cleanStaleRuns(this.log);
    const tarball = await ensureRootfs(this.log);
    fs.mkdirSync(path.join(this.options.workDir, "hosts"), { recursive: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `ely-ssh-e2e-${this.id}`, "-f", this.keyFile]);
    fs.writeFileSync(this.knownHostsFile, "");
    fs.writeFileSync(
      this.sshConfigFile,
      [
        `# ssh configuration of the ssh-hosts E2E run ${this.id}`,
        `Host ${this.hosts.map((h) => h.ip).join(" ")}`,
        `  IdentityFile ${this.keyFile}`,
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile ${this.knownHostsFile}`,
        "  LogLevel ERROR",
        "",
      ].join("\n"),
    );

    this.saveState();
    if (!this.options.network) {
      await run("ip", ["link", "add", this.bridge, "type", "bridge"]);
      await run("ip", ["addr", "add", `${this.gateway}/24`, "dev", this.bridge]);
      await run("ip", ["link", "set", this.bridge, "up"]);
    }
    const pub = fs.readFileSync(`${this.keyFile}.pub`, "utf8");
    // allSettled: on a failure, stop() must not race hosts still being made.
    const prepared = await Promise.allSettled(this.hosts.map((h) => this.prepareHost(h, tarball, pub)));
    const failed = prepared.find((p): p is PromiseRejectedResult => p.status === "rejected");
    if (failed) throw failed.reason;
    for (const h of this.hosts) this.boot(h);
    await Promise.all(this.hosts.map((h) => this.waitForSsh(h)));
  }

  private async prepareHost(h: TestHost, tarball: string, pub: string): Promise<void> {
    const hostLink = `elyv${this.id}${h.hostname}`.slice(0, 15);
    this.state.netns.push(h.netns);
    this.state.links.push(hostLink);
    this.state.dirs.push(h.rootDir);
    this.saveState();
    await run("ip", ["netns", "add", h.netns]);
    await run("ip", ["link", "add", hostLink, "type", "veth", "peer", "name", "eth0", "netns", h.netns]);
    await run("ip", ["link", "set", hostLink, "master", this.bridge, "up"]);
    await run("ip", ["-n", h.netns, "addr", "add", `${h.ip}/${this.options.network?.prefixLength ?? 24}`, "dev", "eth0"]);
    await run("ip", ["-n", h.netns, "link", "set", "eth0", "up"]);
    await run("ip", ["-n", h.netns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", h.netns, "route", "add", "default", "via", this.gateway]);

    fs.mkdirSync(h.rootDir, { recursive: true });
    await run("tar", ["-x", "-f", tarball, "-C", h.rootDir]);
    const r = (p: string) => path.join(h.rootDir, p);
    fs.writeFileSync(r("etc/hostname"), `${h.hostname}\n`);
    fs.writeFileSync(r("etc/hosts"), `127.0.0.1 localhost\n${h.ip} ${h.hostname}\n`);
    fs.mkdirSync(r("root/.ssh"), { recursive: true, mode: 0o700 });
    fs.writeFileSync(r("root/.ssh/authorized_keys"), pub, { mode: 0o600 });
    // Host keys per host, made now (the tarball's would be shared by every host).
    for (const f of fs.readdirSync(r("etc/ssh")).filter((f) => f.startsWith("ssh_host_"))) fs.rmSync(r(`etc/ssh/${f}`));
    await run("ssh-keygen", ["-A", "-f", h.rootDir]);
    fs.writeFileSync(r("etc/machine-id"), "");
    // Timers that would run apt inside the hosts have no business in a test.
    for (const unit of ["apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer"]) {
      fs.rmSync(r(`etc/systemd/system/timers.target.wants/${unit}`), { force: true });
    }
  }

  private boot(h: TestHost): void {
    const out = fs.openSync(h.logFile, "w");
    const child = spawn(
      "systemd-nspawn",
      [
        "--quiet",
        "-D", h.rootDir,
        "--boot",
        "--register=no",
        "--keep-unit",
        `--machine=ely-${this.id}-${h.hostname}`,
        `--hostname=${h.hostname}`,
        `--network-namespace-path=/run/netns/${h.netns}`,
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
      ],
      { stdio: ["ignore", out, out] },
    );
    fs.closeSync(out);
    h.process = child;
    this.state.pids.push(child.pid!);
    this.saveState();
  }

  private async waitForSsh(h: TestHost): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await execa("ssh", ["-F", this.sshConfigFile, "-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "StrictHostKeyChecking=accept-new", `root@${h.ip}`, "systemctl is-system-running --wait || true"], { reject: false, all: true });
      if (r.exitCode === 0) {
        this.log(`${h.hostname} (${h.ip}) is up: systemd ${r.stdout.trim()}`);
        return;
      }
      if (h.process?.exitCode !== null && h.process?.exitCode !== undefined) {
        throw new Error(`${h.hostname}: systemd-nspawn exited (${h.process.exitCode}):\n${this.consoleTail(h)}`);
      }
      if (Date.now() > deadline) throw new Error(`${h.hostname}: no ssh after 90 s (${r.all}):\n${this.consoleTail(h)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  consoleTail(h: TestHost, lines = 30): string {
    try {
      return fs.readFileSync(h.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no console log)";
    }
  }

  /** Runs a command on a host as root over ssh. */
  async ssh(hostname: string, command: string): Promise<execa.ExecaReturnValue> {
    const h = this.hosts.find((x) => x.hostname === hostname);
    if (!h) throw new Error(`no test host ${hostname}`);
    return execa("ssh", ["-F", this.sshConfigFile, "-o", "BatchMode=yes", `root@${h.ip}`, command], { reject: false, all: true });
  }

  /** Shuts every container down (orderly, then by force), removes namespaces, links and directories. */
  async stop(): Promise<void> {
    await Promise.all(
      this.hosts.map(async (h) => {
        const child = h.process;
        if (!child || child.exitCode !== null) return;
        const exited = new Promise<void>((res) => child.once("exit", () => res()));
        child.kill("SIGTERM"); // nspawn asks the container's systemd for an orderly poweroff
        let timer: NodeJS.Timeout | undefined;
        // Servers leaving a cluster that lost its quorum can take long to stop: a test host need not wait.
        const timeout = new Promise<boolean>((res) => (timer = setTimeout(() => res(false), 10_000)));
        const orderly = await Promise.race([exited.then(() => true), timeout]);
        clearTimeout(timer);
        if (!orderly) {
          this.log(`${h.hostname}: no orderly shutdown within 10 s; killing`);
          child.kill("SIGKILL");
          await exited;
        }
      }),
    );
    const left = await teardown(this.state, this.log);
    if (left.length === 0) fs.rmSync(this.stateFile, { force: true });
    else throw new Error(`ssh hosts: could not remove ${left.join(", ")} (the next run retries; see ${this.stateFile})`);
  }
}
