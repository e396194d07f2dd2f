/**
 * Boots the real image (the full profile: Consul, Nomad, docker; ELY_NETBOOT_PROFILE=test for the
 * smaller image without agents) of the inventory's first netbooted node in QEMU via iPXE and
 * the generated boot configuration, served by nginx with the generated nginx.conf (see
 * harness.ts), twice, with a power cut between (QEMU killed, started again on the same disks).
 * On the bridge network (where root and /dev/net/tun allow; see bridge-network.ts) the QEMU
 * ROM gets iPXE's chain script from the generated dnsmasq.conf (proxy DHCP and TFTP) and its
 * address from a router namespace; on QEMU's user network, from QEMU's own DHCP and TFTP.
 *  - the node has a second virtual disk that the inventory names as its scratch disk (by
 *    serial): it must format and mount it before its agents, at every boot;
 *  - it mounts the util node's NFS export (the generated exports file served by nfs-ganesha,
 *    see util-nfs.ts) with its generated mount unit, before its agents.
 * The image's storage probe (run by a kernel argument the test adds) writes a file on each at every
 * boot: the NFS file is still there after the power cut, the scratch disk is empty again.
 * With agents, no server is reachable: at every boot Consul and Nomad must be started and waiting
 * for the inventory's servers (retrying their join), docker running, no unit failed; the image's
 * agents report (images/agents-report.ts) says so on the console, from the agents' own HTTP APIs.
 * Needs root, mmdebstrap, qemu-system-x86, ipxe-qemu, busybox-static, rsync, kmod, cpio,
 * xz-utils, nginx, e2fsprogs, nfs-ganesha, nfs-ganesha-vfs, and the compiled project (dist/).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseInventory } from "../../nodes";
import { CONTAINER_PROBE_TAG, STORAGE_PROBE_TAG } from "../../images/rootfs-files";
import { AGENTS_MARKER, AGENTS_MEMORY_PATTERN, agentsBootMilestones, AGENTS_REPORT_TAG, CONSUL_JOIN_RETRY_LOG, NOMAD_JOIN_RETRY_LOG } from "../../images/agents-report";
import { PROFILES } from "../../images/profiles";
import { UNPACK_CPIO_ARCHIVES_SH } from "../../images/layered-ramroot";
import { NOMAD_RPC_PORT, serversOf } from "../../nodes";
import { TFTP_CHAIN_SCRIPT } from "../../constructs/netboot/boot-service";
import { bootNetboot, formatReport, NetbootBootResult, netbootInventoryInput, NetbootNetwork, netbootNetwork, netbootProfile, PreparedNetboot, prepareNetboot, reportOf, startNetbootLab } from "./harness";
import { startUtilNfs } from "./util-nfs";
import { BridgeNetwork, linkLocalOfMac } from "./bridge-network";
import { QemuOptions } from "./qemu";

const SCRATCH_SERIAL = "ELY-E2E-SCRATCH";

/** The netboot inventory (netbootInventoryInput: no secrets, the util node's NFS export), w1 with a scratch disk. */
function e2eInventory(network: NetbootNetwork) {
  const input = netbootInventoryInput(network);
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

/**
 * The root directory of the disk image's file system, as the next mount would see it: after a power
 * cut the last writes may be in the journal only, which e2fsck replays (debugfs does not).
 */
function diskListing(file: string): string {
  const fsck = spawnSync("e2fsck", ["-fy", file], { encoding: "utf8" });
  if (fsck.status !== 0 && fsck.status !== 1) throw new Error(`e2fsck ${file} exited ${fsck.status}: ${fsck.stdout}${fsck.stderr}`);
  return execFileSync("debugfs", ["-R", "ls -l /", file], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

/** One boot, reported; what the storage probe saw and wrote on the NFS mount and the scratch disk. */
async function bootOnce(prepared: PreparedNetboot, n: number, disk: string, forwards: QemuOptions["forwards"], lab: BridgeNetwork | undefined) {
  const boot: NetbootBootResult = await bootNetboot(prepared, {
    disks: [{ file: disk, serial: SCRATCH_SERIAL }],
    forwards,
    tap: lab?.tap,
    serialLog: path.join(prepared.work, `serial-${n}.log`),
  });
  process.stderr.write(`netboot-test: boot ${n}\n${formatReport(reportOf(prepared, boot))}\n`);
  if (!boot.ok) throw new Error(`boot ${n}: ${boot.failure}\nlast serial lines:\n${boot.serialTail}`);
  const serial = boot.lines.map((l) => l.line).join("\n");
  const probe = (kind: string) => ({
    held: new RegExp(`${STORAGE_PROBE_TAG}: ${kind} \\S+ on \\S+ holds: (.*)$`, "m").exec(serial)?.[1].trim(),
    wrote: new RegExp(`${STORAGE_PROBE_TAG}: ${kind} wrote (\\S+)`, "m").exec(serial)?.[1],
  });
  const t = boot.timings;
  process.stderr.write(`netboot-test: boot ${n}: power-on -> storage started ${t["boot.storage-start"]?.toFixed(1)} s, storage ready ${t["boot.storage-ready"]?.toFixed(1)} s, node up ${t.boot?.toFixed(1)} s\n`);
  if (boot.agentsLine) process.stderr.write(`netboot-test: boot ${n}: power-on -> consul started ${t["boot.consul-started"]?.toFixed(1)} s, nomad started ${t["boot.nomad-started"]?.toFixed(1)} s, agents' report ${t["boot.agents-report"]?.toFixed(1)} s\n`);
  return { boot, serial, nfs: probe("nfs"), scratch: probe("scratch") };
}

/**
 * With agents: both started and waiting for the inventory's servers (none is reachable), as the
 * agents themselves say through their HTTP APIs and logs (images/agents-report.ts), docker up, no unit failed.
 */
function expectAgentsWaitingForServers(prepared: PreparedNetboot, boot: NetbootBootResult, serial: string) {
  const servers = serversOf(prepared.inventory).map((s) => s.ip);
  // The console line carries systemd's prefix ("[  252.7] agents-report[537]: "): the facts follow the marker.
  const report = boot.agentsLine?.slice(boot.agentsLine.indexOf(`${AGENTS_MARKER} `));
  expect(report).toMatch(new RegExp(`^${AGENTS_MARKER} hostname=${prepared.hostname} `));
  const facts = Object.fromEntries(report!.split(" ").slice(1).map((kv) => kv.split("=") as [string, string]));
  expect(facts).toEqual({
    hostname: prepared.hostname,
    consul: "active",
    "consul-joined": "no",
    "consul-retrying": "yes",
    nomad: "active",
    "nomad-servers": "0",
    "nomad-retrying": "yes",
    docker: "active",
    "failed-units": "none",
  });
  // Consul's own account: this node alone, alive, a client with no leader, joining the inventory's servers.
  const consul = new RegExp(`${AGENTS_REPORT_TAG}: consul: active, pid (\\d+), agent (\\S+) client \\S+, members: (.*), leader: (.*), retry_join: (.*)$`, "m").exec(serial);
  expect(consul).not.toBeNull();
  expect(Number(consul![1])).toBeGreaterThan(0);
  expect(consul![2]).toBe(prepared.hostname);
  expect(consul![3]).toBe(`${prepared.hostname} alive (node)`);
  expect(consul![4]).toBe("none");
  expect(consul![5].split(" ")).toEqual(servers);
  expect(serial).toMatch(new RegExp(`${AGENTS_REPORT_TAG}: consul: .*${CONSUL_JOIN_RETRY_LOG}`));
  // Nomad's: a client with no known server, joining the inventory's servers, with the inventory's drivers configured.
  const nomad = new RegExp(`${AGENTS_REPORT_TAG}: nomad: active, pid (\\d+), agent (\\S+) client \\S+, client health: (.*), known servers: (.*), retry_join: (.*), drivers configured: (.*), reserved memory: (\\d+) MiB$`, "m").exec(serial);
  expect(nomad).not.toBeNull();
  expect(Number(nomad![1])).toBeGreaterThan(0);
  expect(nomad![2]).toBe(prepared.hostname);
  expect(nomad![3]).toBe("no known servers");
  expect(nomad![4]).toBe("none");
  expect(nomad![5].split(" ")).toEqual(servers.map((ip) => `${ip}:${NOMAD_RPC_PORT}`));
  const node = prepared.inventory.nodes.find((n) => n.hostname === prepared.hostname)!;
  // exec is built in (no plugin block); docker and raw_exec are configured when the node offers them.
  expect(nomad![6].split(" ").filter(Boolean).sort()).toEqual(node.drivers.filter((d) => d !== "exec").sort());
  expect(serial).toMatch(new RegExp(`${AGENTS_REPORT_TAG}: nomad: .*${NOMAD_JOIN_RETRY_LOG}`));
  expect(serial).toMatch(new RegExp(`${AGENTS_REPORT_TAG}: docker: active, server \\S+, storage \\S+`));
  // The boot's milestones on the node's own clock (seconds since its kernel started), in the order its units are
  // ordered: the agents after the network is online, Nomad after docker and Consul; Nomad never registered (no server).
  const milestones = agentsBootMilestones(serial);
  expect(milestones).toBeDefined();
  const { userspace, sysinit, "network-online": online, docker, consul: consulAt, nomad: nomadAt } = milestones!;
  expect({ userspace, sysinit, online, docker, consulAt, nomadAt }).toEqual({
    userspace: expect.any(Number),
    sysinit: expect.any(Number),
    online: expect.any(Number),
    docker: expect.any(Number),
    consulAt: expect.any(Number),
    nomadAt: expect.any(Number),
  });
  expect(userspace).toBeLessThan(sysinit!);
  expect(userspace).toBeLessThan(online!);
  expect(online).toBeLessThanOrEqual(docker!);
  expect(online).toBeLessThanOrEqual(consulAt!);
  expect(docker).toBeLessThanOrEqual(nomadAt!);
  expect(consulAt).toBeLessThanOrEqual(nomadAt!);
  expect(milestones!["nomad-registered"]).toBeUndefined();
  process.stderr.write(`netboot-test: the node's own account, seconds since its kernel started: ${JSON.stringify(milestones)}\n`);
  // The worker's memory once its agents run: its root file system is RAM, none of it available to jobs.
  const memory = AGENTS_MEMORY_PATTERN.exec(serial);
  expect(memory).not.toBeNull();
  const [total, rootUsed, available] = memory!.slice(1).map(Number);
  process.stderr.write(`netboot-test: memory: total ${total} MiB, root file system ${rootUsed} MiB, available ${available} MiB\n`);
  expect(rootUsed).toBeGreaterThan(400);
  expect(available).toBeLessThan(total - rootUsed);
  // Nomad reserves for the system what jobs could not have when it started (images/nomad-reserved.ts): the root and more.
  const reserved = Number(nomad![7]);
  process.stderr.write(`netboot-test: nomad reserves ${reserved} MiB, offers jobs ${total - reserved} MiB\n`);
  expect(reserved).toBeGreaterThan(rootUsed);
  expect(reserved).toBeLessThan(total);
  // docker starts a container: runc's pivot_root works on this root (not on the kernel's rootfs itself).
  expect(serial).toMatch(new RegExp(`${CONTAINER_PROBE_TAG}: docker run: ok \\(the container said: inside; / is \\S+ \\S+\\)`));
  // A container on docker0 reaches the util node through docker's NAT; docker gave docker0 its first pool, which
  // the test LAN (10.x) does not overlap.
  expect(serial).toMatch(new RegExp(`${CONTAINER_PROBE_TAG}: docker bridge: ok \\(docker0 172\\.17\\.0\\.0/16; a container reached http://\\S+\\)`));
}

test("a netbooted node boots through iPXE (served by nginx), mounts the util node's NFS export and formats its scratch disk; after a power cut the NFS file is still there, the scratch disk empty", async () => {
  const network = netbootNetwork();
  const prepared = await prepareNetboot({ inventory: e2eInventory(network), hostname: "w1", network });
  process.stderr.write(`netboot-test: network ${network}\n`);
  const disk = path.join(prepared.work, "scratch.img");
  usedDisk(disk);
  expect(diskListing(disk)).toContain("left-over");
  const nodeIp = prepared.inventory.nodes.find((n) => n.hostname === prepared.hostname)!.ip;
  const lab = network === "bridge" ? await startNetbootLab(prepared, path.join(prepared.work, "network")) : undefined;
  let nfs: Awaited<ReturnType<typeof startUtilNfs>> | undefined;
  try {
    nfs = await startUtilNfs(prepared);
    const onExport = (guestPath: string) => path.join(nfs!.root, "opt/nfs", path.relative("/mnt/nfs", guestPath));
    // Boot 1.
    const first = await bootOnce(prepared, 1, disk, nfs.forwards, lab);
    if (lab) {
      // The QEMU ROM (iPXE) got the chain script from the generated dnsmasq.conf: proxy DHCP, then TFTP.
      expect(lab.utilDnsmasqLog()).toContain(`PXE(${prepared.bridgeNames!.bridge}) ${nodeIp} ${prepared.mac} ${TFTP_CHAIN_SCRIPT}`);
      expect(lab.utilDnsmasqLog()).toMatch(new RegExp(`dnsmasq-tftp(\\[\\d+\\])?: sent \\S+/tftp/${TFTP_CHAIN_SCRIPT.replace(".", "\\.")} to ${nodeIp.replace(/\./g, "\\.")}`));
      expect(lab.routerLog()).toContain(`DHCPACK(eth0) ${nodeIp} ${prepared.mac}`);
      // iPXE's IPv6 configuration asked for a router, and the util node's radvd answered at once (no 16 s wait).
      expect(lab.utilRadvdLog()).toContain(`${prepared.bridgeNames!.bridge} received RS from: ${linkLocalOfMac(prepared.mac)}`);
    }
    expect(first.boot.markerLine).toContain(`hostname=${prepared.hostname}`);
    expect(first.boot.markerLine).toContain(`system-hostname=${prepared.hostname}`);
    expect(first.boot.markerLine).toContain("agent-config=active");
    expect(first.boot.markerLine).toContain("storage=active");
    if (PROFILES[prepared.profile].includeAgents) expectAgentsWaitingForServers(prepared, first.boot, first.serial);
    expect(first.serial).toMatch(new RegExp(`ely-scratch: /dev/vd[a-z] \\(serial ${SCRATCH_SERIAL}\\) is mounted on /mnt/scratch, empty`));
    expect(first.serial).toContain("ely-storage: starting mnt-nfs.mount: Ely: NFS util:/opt/nfs on /mnt/nfs");
    expect(first.serial).toContain(`${STORAGE_PROBE_TAG}: nfs ${prepared.utilAddress}:/opt/nfs on /mnt/nfs/ely-probe holds: nothing`);
    // The storage units came from the util node's HTTP server (nginx), before the node was up.
    expect(first.boot.httpRequests.map((r) => `${r.path} ${r.status}`)).toEqual(
      expect.arrayContaining(["/config/w1/storage/units 200", "/config/w1/storage/mnt-nfs.mount 200", "/config/w1/storage/ely-scratch-mnt-scratch.service 200"]),
    );
    // What the node wrote through NFS is in the exported directory on the util node (as root: no_root_squash).
    expect(first.nfs.wrote).toMatch(/^\/mnt\/nfs\/ely-probe\/w1-boot-[0-9a-f-]{36}$/);
    const nfsFile = onExport(first.nfs.wrote!);
    expect(fs.readFileSync(nfsFile, "utf8").trim()).toBe(first.nfs.wrote!.replace(/^.*-boot-/, ""));
    // On the disk: the last boot's file system is gone; this boot's scratch file system holds the probe's file.
    expect(spawnSync("blkid", ["-o", "value", "-s", "LABEL", disk], { encoding: "utf8" }).stdout.trim()).toBe("ely-scratch");
    const afterFirst = diskListing(disk);
    expect(afterFirst).not.toContain("left-over");
    expect(first.scratch.wrote).toMatch(/^\/mnt\/scratch\/w1-boot-/);
    expect(afterFirst).toContain(path.basename(first.scratch.wrote!));

    // Power cut (QEMU was killed), then boot 2 on the same disks.
    const second = await bootOnce(prepared, 2, disk, nfs.forwards, lab);
    expect(second.boot.markerLine).toContain("storage=active");
    if (PROFILES[prepared.profile].includeAgents) expectAgentsWaitingForServers(prepared, second.boot, second.serial);
    // Through the mount, the node sees what it wrote before the power cut; its scratch disk is empty again.
    expect(second.nfs.held?.split(" ")).toContain(path.basename(first.nfs.wrote!));
    expect(second.scratch.held).toBe("nothing");
    expect(second.nfs.wrote).not.toBe(first.nfs.wrote);
    expect(fs.existsSync(nfsFile)).toBe(true);
    expect(fs.existsSync(onExport(second.nfs.wrote!))).toBe(true);
    const afterSecond = diskListing(disk);
    expect(afterSecond).not.toContain(path.basename(first.scratch.wrote!));
    expect(afterSecond).toContain(path.basename(second.scratch.wrote!));
  } catch (e) {
    if (nfs) process.stderr.write(`netboot-test: nfs-ganesha's log (last lines):\n${nfs.server.log().split("\n").slice(-30).join("\n")}\n`);
    if (lab) process.stderr.write(`netboot-test: the util node's dnsmasq (last lines):\n${lab.utilDnsmasqLog().split("\n").slice(-30).join("\n")}\n`);
    throw e;
  } finally {
    await nfs?.stop();
    await lab?.stop();
  }
  if (!process.env.ELY_NETBOOT_KEEP && prepared.work.startsWith(os.tmpdir())) fs.rmSync(prepared.work, { recursive: true, force: true });
});

/**
 * What a worker never runs stays out of the served full image (it is unpacked into every worker's RAM): perl (apt
 * chose usrmerge for it without mmdebstrap's merged-/usr hooks), xfsprogs and its ICU data, containerd's own client, wireless and
 * bluetooth firmware. What the worker runs stays: perl-base (dpkg's), docker's CLI, the Ethernet chips' firmware.
 */
(netbootProfile() === "full" ? test : test.skip)("the full image leaves out what a worker never runs: perl, xfsprogs and ICU, ctr, wireless firmware", async () => {
  const network = netbootNetwork();
  const prepared = await prepareNetboot({ inventory: e2eInventory(network), hostname: "w1", network });
  const root = path.join(prepared.work, "ramroot");
  fs.mkdirSync(root);
  try {
    execFileSync("sh", ["-c", `zstd -dc "$1" | (cd "$2" && ${UNPACK_CPIO_ARCHIVES_SH})`, "sh", path.join(prepared.imageDir, "ramroot.cpio.zst"), root]);
    const inRoot = (p: string) => fs.existsSync(path.join(root, "newroot", p));
    const installed = [...fs.readFileSync(path.join(root, "newroot/var/lib/dpkg/status"), "utf8").matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]);
    expect(installed).toEqual(expect.arrayContaining(["usr-is-merged", "perl-base", "docker.io", "nfs-common", "firmware-realtek"]));
    expect(installed.filter((p) => ["usrmerge", "perl", "libperl5.36", "perl-modules-5.36", "xfsprogs", "libicu72"].includes(p))).toEqual([]);
    expect(["usr/bin/perl", "usr/bin/docker", "usr/sbin/dockerd", "usr/bin/containerd", "usr/lib/firmware/rtl_nic/rtl8168g-2.fw"].filter((p) => !inRoot(p))).toEqual([]);
    expect(["usr/bin/ctr", "usr/lib/firmware/rtw89", "usr/lib/firmware/rtl_bt", "usr/lib/firmware/rtlwifi"].filter(inRoot)).toEqual([]);
  } finally {
    if (!process.env.ELY_NETBOOT_KEEP && prepared.work.startsWith(os.tmpdir())) fs.rmSync(prepared.work, { recursive: true, force: true });
  }
});
