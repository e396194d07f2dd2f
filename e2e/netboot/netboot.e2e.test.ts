/**
 * Boots a freshly built image of the inventory's first netbooted node in QEMU via iPXE and
 * the generated boot configuration, served by nginx with the generated nginx.conf (see
 * harness.ts). The node has a second virtual disk that the inventory names as its scratch
 * disk (by serial): the node must format and mount it before its agents, at every boot.
 * Needs root, mmdebstrap, qemu-system-x86, ipxe-qemu, busybox-static, rsync, kmod, cpio,
 * xz-utils, nginx, e2fsprogs, and the compiled project (dist/).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_INVENTORY, parseInventory } from "../../nodes";
import { bootNetboot, formatReport, prepareNetboot, reportOf } from "./harness";

const SCRATCH_SERIAL = "ELY-E2E-SCRATCH";

/** The default inventory, w1 with a scratch disk; no NFS export (nothing in QEMU's restricted network serves NFS). */
function e2eInventory() {
  const input = JSON.parse(JSON.stringify(DEFAULT_INVENTORY));
  input.nodes.find((n: { role: string }) => n.role === "util").nfsExports = [];
  const w1 = input.nodes.find((n: { hostname: string }) => n.hostname === "w1");
  w1.hardware = { ...w1.hardware, disks: [{ device: "vdb", sizeGb: 1, kind: "ssd", serial: SCRATCH_SERIAL, scratchMountPoint: "/mnt/scratch" }] };
  return parseInventory(input, "netboot test inventory");
}

/** A disk image holding an ext4 file system with a file on it: what the last boot left behind. */
function usedDisk(file: string): void {
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, 256 * 1024 * 1024);
  execFileSync("mkfs.ext4", ["-F", "-q", "-L", "last-boot", file]);
  execFileSync("debugfs", ["-w", "-R", "mkdir left-over", file], { stdio: "ignore" });
}

test("a netbooted node boots its image through iPXE (served by nginx), formats its scratch disk, and reports up", async () => {
  const prepared = await prepareNetboot({ inventory: e2eInventory(), hostname: "w1" });
  const disk = path.join(prepared.work, "scratch.img");
  usedDisk(disk);
  expect(execFileSync("debugfs", ["-R", "ls -l /", disk], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })).toContain("left-over");
  const boot = await bootNetboot(prepared, { disks: [{ file: disk, serial: SCRATCH_SERIAL }] });
  process.stderr.write(formatReport(reportOf(prepared, boot)) + "\n");
  if (!boot.ok) throw new Error(`${boot.failure}\nlast serial lines:\n${boot.serialTail}`);
  expect(boot.markerLine).toContain(`hostname=${prepared.hostname}`);
  expect(boot.markerLine).toContain(`system-hostname=${prepared.hostname}`);
  expect(boot.markerLine).toContain("agent-config=active");
  expect(boot.markerLine).toContain("storage=active");
  const serial = boot.lines.map((l) => l.line).join("\n");
  expect(serial).toMatch(new RegExp(`ely-scratch: /dev/vd[a-z] \\(serial ${SCRATCH_SERIAL}\\) is mounted on /mnt/scratch, empty`));
  // The storage units came from the util node's HTTP server (nginx), before the node was up.
  expect(boot.httpRequests.map((r) => `${r.path} ${r.status}`)).toEqual(expect.arrayContaining(["/config/w1/storage/units 200", "/config/w1/storage/ely-scratch-mnt-scratch.service 200"]));
  // On the disk: the last boot's file system is gone; a fresh, empty scratch file system is there.
  expect(spawnSync("blkid", ["-o", "value", "-s", "LABEL", disk], { encoding: "utf8" }).stdout.trim()).toBe("ely-scratch");
  const listing = execFileSync("debugfs", ["-R", "ls -l /", disk], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  expect(listing).toContain("lost+found");
  expect(listing).not.toContain("left-over");
  if (!process.env.ELY_NETBOOT_KEEP && prepared.work.startsWith(os.tmpdir())) fs.rmSync(prepared.work, { recursive: true, force: true });
});
