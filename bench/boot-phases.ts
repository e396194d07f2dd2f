/**
 * One netboot's phases, contiguous from QEMU start to the node-up marker (or, on an image with
 * agents, to their report; booted into the lab's server, to the node ready in Nomad), grouped as the issue asks: firmware/iPXE, kernel and initrd, ramroot
 * download and unpack, userspace (and agents). Times are host times: a serial line counts when
 * the harness read it, a fetch when the util server saw the request.
 *
 * The ramroot reaches the node one of two ways, and the phases follow it:
 *   streamed  (gzip, xz) the initrd downloads it and unpacks it into a tmpfs, in one pipeline;
 *   kernel    (zstd cpio) iPXE fetches it as a second initrd and the kernel unpacks it into its
 *             rootfs before the initrd's /init runs (no line marks the kernel's start of /init
 *             apart from the unpack: the kernel's own boot counts with it).
 */
import { NetbootBootResult } from "../e2e/netboot/harness";
import { RAMROOT_ARTIFACTS } from "../images/ramroot-codec";
import { AGENTS_BOOT_MILESTONES, agentsBootMilestones } from "../images/agents-report";

export interface BootPhase {
  readonly key: string;
  readonly group: string;
  readonly what: string;
}

export interface BootPath {
  /** The ramroot is unpacked by the kernel (iPXE's second initrd), not streamed by the initrd. */
  readonly kernelUnpack: boolean;
  /** The image runs agents: userspace ends when both have started, then their report. */
  readonly agents: boolean;
  /** The node boots into the lab's server (e2e/netboot/lab-servers.ts): the boot ends when Nomad lists it ready, not at the agents' report. */
  readonly nomadReady?: boolean;
}

export interface BootFigures {
  ok: boolean;
  failure?: string;
  totalSeconds: number;
  /** Seconds per phase (phasesOf keys) and per group (groupsOf). */
  phases: Record<string, number>;
  groups: Record<string, number>;
  /** Event times (s after QEMU start) the phases are cut at. */
  events: Record<string, number>;
  ramrootHttp?: { bytes: number; seconds: number };
  /** The initrd's own count, streamed: "unpacked N MiB in S s" (whole seconds, guest clock). */
  initrdUnpack?: { mib: number; seconds: number };
  /** The agents' report's boot line: the node's own milestones, seconds since its kernel started (its clock). */
  guest?: Partial<Record<(typeof AGENTS_BOOT_MILESTONES)[number], number>>;
}

const GROUP = { firmware: "firmware/iPXE", kernel: "kernel and initrd", ramroot: "ramroot download and unpack", userspace: "userspace", agents: "agents" } as const;

/** A phase: its key, its group, what it holds, and the two events it is cut between. */
type Cut = BootPhase & { readonly from: string; readonly to: string };

function cutsOf(path: BootPath): Cut[] {
  const firmware: Cut[] = [
    { key: "firmware.to-ipxe-script", group: GROUP.firmware, what: "QEMU start, SeaBIOS, iPXE ROM, DHCP, TFTP chain script, up to the per-MAC script request", from: "start", to: "ipxe-script" },
    { key: "firmware.ipxe-script", group: GROUP.firmware, what: "per-MAC script fetched and run, up to the vmlinuz request", from: "ipxe-script", to: "vmlinuz-request" },
    { key: "kernel.fetch", group: GROUP.kernel, what: "iPXE fetches vmlinuz and initrd over HTTP", from: "vmlinuz-request", to: "kernel-initrd-fetched" },
  ];
  const ramroot: Cut[] = path.kernelUnpack
    ? [
        { key: "ramroot.fetch", group: GROUP.ramroot, what: "iPXE fetches the ramroot (a zstd cpio) as a second initrd", from: "kernel-initrd-fetched", to: "ramroot-fetched" },
        {
          key: "ramroot.kernel-unpack",
          group: GROUP.ramroot,
          what: "iPXE starts the kernel, which boots and unpacks the ramroot into its rootfs, up to the initrd's first line",
          from: "ramroot-fetched",
          to: "initrd-init",
        },
        { key: "kernel.initrd", group: GROUP.kernel, what: "initrd: network drivers, DHCP, hostname, network and boot.env into the unpacked root, up to the chroot", from: "initrd-init", to: "switch-root" },
        { key: "userspace.systemd-start", group: GROUP.userspace, what: "chroot to systemd's first console line", from: "switch-root", to: "systemd" },
      ]
    : [
        { key: "kernel.boot", group: GROUP.kernel, what: "kernel boot, up to the initrd's first line", from: "kernel-initrd-fetched", to: "initrd-init" },
        { key: "kernel.initrd", group: GROUP.kernel, what: "initrd: network drivers, DHCP, tmpfs, up to the ramroot request", from: "initrd-init", to: "ramroot-request" },
        { key: "ramroot.stream", group: GROUP.ramroot, what: "the initrd's wget | decoder | tar -x into the tmpfs (pipelined)", from: "ramroot-request", to: "ramroot-unpacked" },
        { key: "ramroot.finish", group: GROUP.ramroot, what: "du, hostname, network and boot.env into the new root, up to switch_root", from: "ramroot-unpacked", to: "switch-root" },
        { key: "userspace.systemd-start", group: GROUP.userspace, what: "switch_root to systemd's first console line", from: "switch-root", to: "systemd" },
      ];
  const toAgents: Cut = { key: "userspace.to-agents", group: GROUP.userspace, what: "systemd to Consul and Nomad both started (systemd's console lines)", from: "systemd", to: "agents-started" };
  const end: Cut[] = !path.agents
    ? [{ key: "userspace.to-marker", group: GROUP.userspace, what: "systemd to the ELY-NODE-UP marker", from: "systemd", to: "marker" }]
    : path.nomadReady
      ? [
          toAgents,
          { key: "agents.to-nomad-ready", group: GROUP.agents, what: "agents started to the node ready in Nomad (asked of the server every 0.1 s): Nomad's fingerprints, its join and registration, its first heartbeat", from: "agents-started", to: "nomad-ready" },
        ]
      : [toAgents, { key: "agents.to-report", group: GROUP.agents, what: "agents started to their report: HTTP APIs answering, a first join to the servers tried", from: "agents-started", to: "agents-report" }];
  return [...firmware, ...ramroot, ...end];
}

/** The groups, in boot order; each one's phases sum to it and the groups to the total. */
export function groupsOf(path: BootPath): string[] {
  return [GROUP.firmware, GROUP.kernel, GROUP.ramroot, GROUP.userspace, ...(path.agents ? [GROUP.agents] : [])];
}

/** The phases, in boot order. */
export function phasesOf(path: BootPath): BootPhase[] {
  return cutsOf(path).map(({ key, group, what }) => ({ key, group, what }));
}

/** One boot's phases and groups, from the harness's milestones and the util server's requests. */
export function bootFigures(boot: NetbootBootResult, path: BootPath): BootFigures {
  const t = boot.timings;
  const request = (test: (p: string) => boolean) => boot.httpRequests.find((r) => test(r.path));
  const vmlinuz = request((p) => p.endsWith("/vmlinuz"));
  const initrd = request((p) => p.endsWith("/initrd"));
  const script = request((p) => p.startsWith("/ipxe/"));
  const ramroot = request((p) => RAMROOT_ARTIFACTS.some((a) => p.endsWith(`/${a}`)));
  const marker = boot.lines.find((l) => l.line === boot.markerLine || (boot.markerLine !== undefined && l.line.trim() === boot.markerLine));
  const events: Record<string, number | undefined> = {
    "ipxe-script": script?.startS,
    "vmlinuz-request": vmlinuz?.startS,
    "kernel-initrd-fetched": vmlinuz && initrd ? Math.max(vmlinuz.doneS, initrd.doneS) : undefined,
    "ramroot-fetched": ramroot?.doneS,
    "initrd-init": t["boot.initrd-init"],
    "ramroot-request": t["boot.ramroot-download"],
    "ramroot-unpacked": t["boot.ramroot-unpacked"],
    "switch-root": t["boot.switch-root"],
    systemd: t["boot.systemd"],
    marker: marker?.atS,
    "agents-started": t["boot.consul-started"] !== undefined && t["boot.nomad-started"] !== undefined ? Math.max(t["boot.consul-started"], t["boot.nomad-started"]) : undefined,
    "agents-report": t["boot.agents-report"],
    "consul-started": t["boot.consul-started"],
    "nomad-started": t["boot.nomad-started"],
    "consul-member": t["boot.consul-member"],
    "nomad-ready": t["boot.nomad-ready"],
  };
  const at = (name: string) => (name === "start" ? 0 : events[name]);
  const phases: Record<string, number> = {};
  for (const cut of cutsOf(path)) {
    const a = at(cut.from);
    const b = at(cut.to);
    if (a !== undefined && b !== undefined) phases[cut.key] = b - a;
  }
  const groups: Record<string, number> = {};
  for (const g of groupsOf(path)) {
    const keys = phasesOf(path).filter((p) => p.group === g).map((p) => p.key);
    if (keys.every((k) => phases[k] !== undefined)) groups[g] = keys.reduce((sum, k) => sum + phases[k], 0);
  }
  const guest = agentsBootMilestones(boot.lines.map((l) => l.line).join("\n"));
  const unpackMatch = boot.lines.map((l) => l.line.match(/ely-initrd: unpacked (\d+) MiB in (\d+) s/)).find((m) => m);
  return {
    ok: boot.ok,
    failure: boot.failure,
    totalSeconds: (!path.agents ? marker?.atS : path.nomadReady ? events["nomad-ready"] : events["agents-report"]) ?? boot.timings.boot,
    phases,
    groups,
    events: Object.fromEntries(Object.entries(events).filter(([, v]) => v !== undefined)) as Record<string, number>,
    ramrootHttp: ramroot ? { bytes: ramroot.bytes, seconds: ramroot.seconds } : undefined,
    initrdUnpack: unpackMatch ? { mib: Number(unpackMatch[1]), seconds: Number(unpackMatch[2]) } : undefined,
    guest: guest ? (Object.fromEntries(Object.entries(guest).filter(([, v]) => v !== undefined)) as BootFigures["guest"]) : undefined,
  };
}
