import { bootFigures, groupsOf, phasesOf } from "../bench/boot-phases";
import { NetbootBootResult } from "../e2e/netboot/harness";

const MARKER = "ELY-NODE-UP hostname=w1";

/** A boot as the harness reports it: milestones (s after QEMU start), the util server's requests, the console. */
function boot(timings: Record<string, number>, requests: Array<[string, number, number]>, lines: Array<[number, string]> = []): NetbootBootResult {
  return {
    ok: true,
    markerLine: MARKER,
    serialLog: "/dev/null",
    serialTail: "",
    timings: { boot: 200, ...timings },
    httpRequests: requests.map(([p, startS, doneS]) => ({ path: p, status: 200, bytes: 1048576, seconds: doneS - startS, startS, doneS })),
    lines: lines.map(([atS, line]) => ({ atS, line })),
  } as NetbootBootResult;
}

const FIRMWARE: Array<[string, number, number]> = [
  ["/ipxe/52-54-00-12-34-56.ipxe", 18, 18.1],
  ["/images/client-amd64/b/vmlinuz", 18.2, 18.4],
  ["/images/client-amd64/b/initrd", 18.4, 18.5],
];

describe("bench:netboot's phases of a boot", () => {
  test("the kernel's path: iPXE fetches the ramroot, the kernel unpacks it before the initrd; every group complete and summing to the total", () => {
    const b = boot(
      { "boot.kernel-start": 29, "boot.initrd-init": 55, "boot.ramroot-unpacked": 55.2, "boot.switch-root": 57, "boot.systemd": 57.5 },
      [...FIRMWARE, ["/images/client-amd64/b/ramroot.cpio.zst", 18.5, 22.5]],
      [[80, MARKER]],
    );
    const path = { kernelUnpack: true, agents: false };
    const f = bootFigures(b, path);
    expect(f.phases).toEqual({
      "firmware.to-ipxe-script": 18,
      "firmware.ipxe-script": expect.closeTo(0.2, 5),
      "kernel.fetch": expect.closeTo(0.3, 5),
      "ramroot.fetch": 4,
      "ramroot.kernel-unpack": 32.5,
      "kernel.initrd": 2,
      "userspace.systemd-start": 0.5,
      "userspace.to-marker": 22.5,
    });
    expect(Object.keys(f.groups)).toEqual(groupsOf(path));
    expect(Object.values(f.groups).reduce((a, v) => a + v, 0)).toBeCloseTo(f.totalSeconds, 5);
    expect(f.totalSeconds).toBe(80);
    expect(phasesOf(path).map((p) => p.key)).not.toContain("ramroot.stream");
  });

  test("the streamed path: the initrd downloads and unpacks; with agents, userspace ends when both have started", () => {
    const b = boot(
      {
        "boot.initrd-init": 23,
        "boot.ramroot-download": 25,
        "boot.ramroot-unpacked": 87,
        "boot.switch-root": 88,
        "boot.systemd": 88.5,
        "boot.consul-started": 130,
        "boot.nomad-started": 131,
        "boot.agents-report": 150,
      },
      [...FIRMWARE, ["/images/client-amd64/b/ramroot.tar.gz", 25, 86]],
      [[100, MARKER], [70, "ely-initrd: unpacked 957 MiB in 60 s"]],
    );
    const path = { kernelUnpack: false, agents: true };
    const f = bootFigures(b, path);
    expect(f.phases["ramroot.stream"]).toBe(62);
    expect(f.phases["userspace.to-agents"]).toBe(42.5);
    expect(f.phases["agents.to-report"]).toBe(19);
    expect(f.phases["ramroot.fetch"]).toBeUndefined();
    expect(Object.keys(f.groups)).toEqual(groupsOf(path));
    expect(Object.values(f.groups).reduce((a, v) => a + v, 0)).toBeCloseTo(150, 5);
    expect(f.initrdUnpack).toEqual({ mib: 957, seconds: 60 });
  });

  test("booted into the lab's server: the boot ends when Nomad lists the node ready, whether before or after the agents' report", () => {
    const timings = { "boot.kernel-start": 29, "boot.initrd-init": 40, "boot.switch-root": 42, "boot.systemd": 42.5, "boot.consul-started": 60, "boot.nomad-started": 61 };
    const requests: Array<[string, number, number]> = [...FIRMWARE, ["/images/client-amd64/b/ramroot.cpio.zst", 18.5, 21.5]];
    const path = { kernelUnpack: true, agents: true, nomadReady: true };
    for (const [ready, report] of [[66, 75], [80, 75]]) {
      const account = "[  70.1] agents-report[743]: ely-agents: boot, seconds since the kernel started: userspace 20.5, sysinit 24.0, network-online 30.2, docker 40.1, consul 35.0, nomad 40.5, nomad-registered 44.9";
      const f = bootFigures(boot({ ...timings, "boot.consul-member": 63, "boot.nomad-ready": ready, "boot.agents-report": report }, requests, [[report - 1, account]]), path);
      expect(f.guest).toEqual({ userspace: 20.5, sysinit: 24, "network-online": 30.2, docker: 40.1, consul: 35, nomad: 40.5, "nomad-registered": 44.9 });
      expect(f.phases["agents.to-nomad-ready"]).toBe(ready - 61);
      expect(f.phases["agents.to-report"]).toBeUndefined();
      expect(f.totalSeconds).toBe(ready);
      expect(Object.values(f.groups).reduce((a, v) => a + v, 0)).toBeCloseTo(ready, 5);
      expect(f.events).toMatchObject({ "consul-member": 63, "nomad-ready": ready, "agents-report": report });
    }
    // Nomad never listed it ready: no end phase, no agents group, and the total is the harness's (the failed boot's length).
    const f = bootFigures(boot({ ...timings, "boot.agents-report": 75 }, requests), path);
    expect(f.phases["agents.to-nomad-ready"]).toBeUndefined();
    expect(f.groups.agents).toBeUndefined();
    expect(f.totalSeconds).toBe(200);
  });

  test("a milestone missing leaves its phases and group out rather than guessing", () => {
    const f = bootFigures(boot({ "boot.initrd-init": 55, "boot.systemd": 57.5 }, FIRMWARE, [[80, MARKER]]), { kernelUnpack: true, agents: false });
    expect(f.phases["ramroot.fetch"]).toBeUndefined();
    expect(f.groups["ramroot download and unpack"]).toBeUndefined();
    expect(f.groups["firmware/iPXE"]).toBeCloseTo(18.2, 5);
  });
});
