/**
 * A netbooted worker of the cluster in a box as a machine: a QEMU guest on a tap of the box's
 * bridge, with its key disk. QEMU runs with -no-reboot, so a reboot from inside the guest (the
 * reimage's `systemctl reboot` over ssh) ends the process; the machine then powers on again at
 * once, as a real one's firmware would, with a fresh serial log per boot. `powerCycle` is the
 * operator pulling the plug; `stop` switches it off for good.
 */
import * as path from "path";
import { RunningQemu, startQemu } from "../netboot/qemu";

export interface WorkerMachineOptions {
  readonly hostname: string;
  readonly mac: string;
  readonly ip: string;
  readonly tap: string;
  readonly subnetCidr: string;
  readonly utilAddress: string;
  readonly keyDisk: string;
  readonly workDir: string;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly log: (line: string) => void;
}

export class WorkerMachine {
  /** Every boot's serial log, oldest first. */
  readonly serialLogs: string[] = [];
  /** Power-on time of every boot (ms since the epoch), as serialLogs. */
  readonly poweredOn: number[] = [];
  private vm?: RunningQemu;
  private off = true;

  constructor(private readonly options: WorkerMachineOptions) {}

  get qemu(): RunningQemu {
    if (!this.vm) throw new Error(`${this.options.hostname}: not powered on`);
    return this.vm;
  }

  get serialLog(): string {
    return this.serialLogs[this.serialLogs.length - 1];
  }

  get boots(): number {
    return this.serialLogs.length;
  }

  powerOn(label: string): void {
    this.off = false;
    const o = this.options;
    const serialLog = path.join(o.workDir, `${o.hostname}-${this.serialLogs.length + 1}.serial.log`);
    this.serialLogs.push(serialLog);
    this.poweredOn.push(Date.now());
    o.log(`QEMU: ${o.hostname} (${o.mac}) powers on (${label}), serial ${path.basename(serialLog)}`);
    const vm = startQemu({
      subnetCidr: o.subnetCidr,
      hostAddress: o.utilAddress,
      dhcpStart: o.ip,
      mac: o.mac,
      tftpDir: "/nonexistent",
      bootFile: "unused",
      forwards: [],
      memoryMb: o.memoryMb,
      cpus: o.cpus,
      serialLog,
      tap: o.tap,
      disks: [{ file: o.keyDisk, serial: `ELY-KEY-${o.hostname.toUpperCase()}` }],
    });
    this.vm = vm;
    void vm.exited.then((code) => {
      if (this.vm !== vm || this.off) return;
      o.log(`QEMU: ${o.hostname} rebooted from inside (QEMU exit ${code}): powering on again`);
      this.powerOn("after its reboot");
    });
  }

  async powerCycle(label: string): Promise<void> {
    await this.stop();
    this.powerOn(label);
  }

  async stop(): Promise<void> {
    this.off = true;
    await this.vm?.kill();
  }
}
