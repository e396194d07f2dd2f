/**
 * QEMU for the netboot test: software emulation (no KVM), the NIC's iPXE ROM, QEMU's
 * user-mode network as the lab's subnet. `restrict=on` keeps the guest off every real
 * network; its DHCP and TFTP are QEMU's own, and the one address it can reach, the util
 * node's HTTP port, is forwarded to the test's server on 127.0.0.1.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";

export interface QemuOptions {
  /** Subnet of the guest network, CIDR ("10.25.89.0/24"). */
  readonly subnetCidr: string;
  /** QEMU's own address in it (gateway, TFTP server); must be free in the inventory. */
  readonly hostAddress: string;
  /** The address QEMU's DHCP hands out first (the node's inventory address). */
  readonly dhcpStart: string;
  /** The NIC's MAC: the node's, so that the iPXE chain picks its script. */
  readonly mac: string;
  /** Directory QEMU's TFTP serves, and the boot file its DHCP names. */
  readonly tftpDir: string;
  readonly bootFile: string;
  /** util address:port inside the guest -> 127.0.0.1:port on this machine. */
  readonly forwards: ReadonlyArray<{ readonly guestAddress: string; readonly guestPort: number; readonly hostPort: number }>;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly serialLog: string;
  /** NIC model. Default: virtio-net-pci. */
  readonly nic?: string;
  /** Extra virtio disks (raw image files), each with the serial number the guest sees. Default: none. */
  readonly disks?: ReadonlyArray<{ readonly file: string; readonly serial: string }>;
}

export function qemuArgs(options: QemuOptions): string[] {
  const forwards = options.forwards.map((f) => `,guestfwd=tcp:${f.guestAddress}:${f.guestPort}-cmd:busybox nc 127.0.0.1 ${f.hostPort}`).join("");
  const netdev =
    `user,id=n0,net=${options.subnetCidr},host=${options.hostAddress},dhcpstart=${options.dhcpStart},restrict=on,` +
    `tftp=${options.tftpDir},bootfile=${options.bootFile}${forwards}`;
  return [
    "-machine", "pc,accel=tcg",
    "-m", String(options.memoryMb),
    "-smp", String(options.cpus),
    "-display", "none",
    "-monitor", "none",
    "-no-reboot",
    "-serial", `file:${options.serialLog}`,
    "-netdev", netdev,
    "-device", `${options.nic ?? "virtio-net-pci"},netdev=n0,mac=${options.mac},bootindex=1`,
    "-boot", "order=n",
    ...(options.disks ?? []).flatMap((d, i) => ["-drive", `file=${d.file},if=none,id=disk${i},format=raw`, "-device", `virtio-blk-pci,drive=disk${i},serial=${d.serial}`]),
  ];
}

export interface RunningQemu {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Output QEMU itself printed (errors). */
  output(): string;
  kill(): Promise<void>;
}

export function startQemu(options: QemuOptions, binary = "qemu-system-x86_64"): RunningQemu {
  fs.writeFileSync(options.serialLog, "");
  const child = spawn(binary, qemuArgs(options), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  // QEMU must not outlive the test, whatever ends it: exit, Ctrl-C, a CI runner's SIGTERM.
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killNow();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("exit", killNow);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      process.removeListener("exit", killNow);
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      resolve(code);
    });
    child.on("error", (e) => {
      output += String(e);
      resolve(-1);
    });
  });
  return {
    process: child,
    exited,
    output: () => output,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface WaitResult {
  readonly found: boolean;
  readonly reason: "marker" | "fatal" | "exited" | "timeout";
  readonly line?: string;
  readonly elapsedMs: number;
}

/**
 * Polls the serial log (every `pollMs`) until `marker` appears, `fatal` appears, QEMU exits,
 * or the timeout. A line's time is when the poll saw it: at most `pollMs` late.
 */
export async function waitForSerial(
  log: string,
  marker: RegExp,
  fatal: RegExp,
  qemu: RunningQemu,
  timeoutMs: number,
  onLine?: (line: string, atMs: number) => void,
  pollMs = 500,
): Promise<WaitResult> {
  const started = Date.now();
  let offset = 0;
  let partial = "";
  let exited = false;
  void qemu.exited.then(() => (exited = true));
  for (;;) {
    // Only the bytes written since the last poll (latin1: one char per byte).
    const size = fs.existsSync(log) ? fs.statSync(log).size : 0;
    if (size > offset) {
      const fd = fs.openSync(log, "r");
      const chunk = Buffer.alloc(size - offset);
      const read = fs.readSync(fd, chunk, 0, chunk.length, offset);
      fs.closeSync(fd);
      offset += read;
      partial += chunk.subarray(0, read).toString("latin1");
    }
    const lines = partial.split(/\r?\n/);
    // The last element is a partial line, or "" after a final newline: never complete yet.
    partial = lines.pop() ?? "";
    for (const line of lines) {
      onLine?.(line, Date.now() - started);
      if (marker.test(line)) return { found: true, reason: "marker", line, elapsedMs: Date.now() - started };
      if (fatal.test(line)) return { found: false, reason: "fatal", line, elapsedMs: Date.now() - started };
    }
    if (exited) return { found: false, reason: "exited", elapsedMs: Date.now() - started };
    if (Date.now() - started > timeoutMs) return { found: false, reason: "timeout", elapsedMs: Date.now() - started };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function tailOf(file: string, lines: number): string {
  if (!fs.existsSync(file)) return "(no serial log)";
  return fs.readFileSync(file, "latin1").replace(/\r/g, "").trimEnd().split("\n").slice(-lines).join("\n");
}
