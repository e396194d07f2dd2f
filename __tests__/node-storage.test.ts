import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNodeStorage, systemdEscapePath } from "../nodes/node-storage";
import { netbootStack } from "../e2e/netboot/netboot-stack";
import { rootfsFiles } from "../images/rootfs-files";
import { Inventory } from "../nodes";
import { defaultInventory, inventoryWith, LooseInput } from "./helpers/inventory";

function storageOf(inventory: Inventory, hostname: string): Map<string, string> {
  return renderNodeStorage(inventory, inventory.nodes.find((n) => n.hostname === hostname)!);
}

/** key=value lines of a unit's [section]. */
function section(unit: string, name: string): Record<string, string> {
  const body = unit.split(/^\[/m).find((part) => part.startsWith(`${name}]`)) ?? "";
  return Object.fromEntries(body.split("\n").slice(1).filter((l) => l.includes("=") && !l.startsWith("#")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

function withScratch(i: LooseInput): void {
  i.nodes[4].hardware.disks = [{ device: "nvme0n1", sizeGb: 1000, kind: "nvme", serial: "S4EWNX0R123456", byId: "nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R123456", scratchMountPoint: "/mnt/scratch" }];
}

describe("a netbooted node's storage units", () => {
  test("the default inventory's w1: the util node's export on /mnt/nfs, then its volumes' directories (snapshot)", () => {
    const files = storageOf(defaultInventory(), "w1");
    expect([...files.keys()]).toEqual(["storage/units", "storage/mnt-nfs.mount", "storage/ely-volumes.service"]);
    expect(files.get("storage/units")).toBe("mnt-nfs.mount\nely-volumes.service\n");
    const mount = files.get("storage/mnt-nfs.mount")!;
    expect(section(mount, "Unit")).toMatchObject({ Before: "consul.service nomad.service", After: "network-online.target", Wants: "network-online.target" });
    expect(section(mount, "Mount")).toEqual({
      What: "10.25.89.4:/opt/nfs",
      Where: "/mnt/nfs",
      Type: "nfs",
      Options: "rw,nfsvers=4.2,addr=10.25.89.4,hard,timeo=100,retrans=3,retry=1,_netdev",
      TimeoutSec: "90",
    });
    const volumes = files.get("storage/ely-volumes.service")!;
    expect(section(volumes, "Unit")).toMatchObject({ Requires: "mnt-nfs.mount", After: "mnt-nfs.mount", Before: "consul.service nomad.service" });
    expect(section(volumes, "Service").ExecStart).toBe("/bin/mkdir -p /mnt/nfs/gitea /mnt/nfs/prometheus /mnt/nfs/registry /mnt/nfs/traefik /mnt/scratch");
    expect(Object.fromEntries(files)).toMatchSnapshot();
  });

  test("a scratch disk: formatted by its serial and by-id name before the volumes, never by its device name", () => {
    const files = storageOf(inventoryWith(withScratch), "w1");
    expect(files.get("storage/units")).toBe("mnt-nfs.mount\nely-scratch-mnt-scratch.service\nely-volumes.service\n");
    const scratch = files.get("storage/ely-scratch-mnt-scratch.service")!;
    expect(section(scratch, "Service")).toMatchObject({
      Type: "oneshot",
      ExecStart: "/usr/local/lib/ely/scratch-disk --serial S4EWNX0R123456 --by-id nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R123456 --mount /mnt/scratch",
      TimeoutStartSec: "300",
    });
    expect(section(scratch, "Service").ExecStart).not.toContain("nvme0n1");
    expect(section(scratch, "Unit").Before).toBe("consul.service nomad.service");
    expect(section(files.get("storage/ely-volumes.service")!, "Unit").Requires).toBe("mnt-nfs.mount ely-scratch-mnt-scratch.service");
  });

  test("read-only exports mount read-only; a node outside an export's clients does not mount it", () => {
    const inventory = inventoryWith((i) => (i.nodes[0].nfsExports = [{ path: "/srv/media", mountPoint: "/mnt/media-ro", clients: ["10.25.89.21"], readOnly: true }]));
    const w1 = storageOf(inventory, "w1");
    expect(section(w1.get("storage/mnt-media\\x2dro.mount")!, "Mount").Options).toMatch(/^ro,/);
    expect([...storageOf(inventory, "w2").keys()]).toEqual(["storage/units", "storage/ely-volumes.service"]);
  });

  test("a node with no mount, scratch disk or volume gets no storage files", () => {
    expect(storageOf(inventoryWith((i) => (i.nodes[4].hostVolumes = [])), "m1").size).toBe(0);
    expect(storageOf(inventoryWith((i) => ((i.nodes[0].nfsExports = []), (i.nodes[4].hostVolumes = []))), "w1").size).toBe(0);
  });

  test("unit names are systemd's escaping of the mount point", () => {
    for (const p of ["/mnt/nfs", "/mnt/nfs-data", "/srv/a.b/c_d", "/mnt/scratch/", "/"]) {
      const real = spawnSync("systemd-escape", ["--path", p], { encoding: "utf8" });
      if (real.status === 0) expect(systemdEscapePath(p)).toBe(real.stdout.trim());
    }
    expect(systemdEscapePath("/mnt/nfs-data")).toBe("mnt-nfs\\x2ddata");
  });

  test("served with the agent files, for netbooted nodes only: /config/<hostname>/storage/", () => {
    const { cluster } = netbootStack();
    const files = [...cluster.agentConfigs.files.keys()].filter((f) => f.includes("/storage/"));
    expect(files.filter((f) => f.endsWith("/storage/units"))).toEqual(["w1/storage/units", "w2/storage/units", "w3/storage/units"]);
  });
});

describe("the image's storage step", () => {
  const image = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true });
  const file = (p: string) => image.files.find((f) => f.path === p)!.content;

  test("ely-storage.service runs before the agents, after the network and the agent files; Nomad requires it", () => {
    expect(image.enable).toContain("ely-storage.service");
    const unit = file("usr/lib/systemd/system/ely-storage.service");
    expect(section(unit, "Unit")).toMatchObject({ Before: "consul.service nomad.service", After: "network-online.target ely-agent-config.service" });
    expect(section(unit, "Service")).toMatchObject({ ExecStart: "/usr/local/lib/ely/storage", StandardOutput: "journal+console" });
    const nomad = section(file("usr/lib/systemd/system/nomad.service"), "Unit");
    expect(nomad.Requires).toBe("ely-storage.service ely-secrets.service");
    expect(nomad.After).toContain("ely-storage.service");
    // Consul needs its secrets, not the storage.
    expect(section(file("usr/lib/systemd/system/consul.service"), "Unit").Requires).toBe("ely-secrets.service");
  });

  test("the storage script fetches the listed units, starts them in one transaction (mounts and scratch disks side by side), names each that failed, and says clearly when the util node does not answer", () => {
    const script = file("usr/local/lib/ely/storage");
    expect(spawnSync("sh", ["-n", "-c", script]).status).toBe(0);
    expect(script).toContain("if ! systemctl start $units; then\n  for unit in $units; do\n    systemctl is-active --quiet \"$unit\" && continue\n");
    expect(script).not.toMatch(/systemctl start "\$unit"/);
    expect(script).toContain('if [ -z "$units" ]; then\n  say "$base/units lists no unit: nothing to mount"\n  exit 0\nfi\n');
    expect(script).toContain('base="http://$ELY_UTIL/config/$ELY_HOSTNAME/storage"');
    expect(script).toContain("FAILED: the util node $ELY_UTIL does not answer");
    expect(script).toContain("did not mount on");
    expect(script).toContain("/run/systemd/system/$unit");
  });

  test("the storage script without a kernel command line naming the util node fails with a message", () => {
    if (fs.existsSync("/etc/ely/boot.env")) return; // this machine is an Ely node
    const run = spawnSync("sh", ["-c", file("usr/local/lib/ely/storage")], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("ely-storage: FAILED: no ely.util= or hostname= on the kernel command line");
  });
});

/**
 * The storage script run by this machine's sh, with curl, systemctl and journalctl stood in for (the util node's
 * answers and systemd's are what is under test elsewhere: the netboot test); its /run paths under a temporary directory.
 */
describe("the storage script's start of the listed units", () => {
  const script = rootfsFiles({ withAgents: true, withDocker: false, withSsh: false }).files.find((f) => f.path === "usr/local/lib/ely/storage")!.content;
  const onNode = fs.existsSync("/etc/ely/boot.env"); // this machine is an Ely node: its boot.env would win
  const runTest = onNode ? test.skip : test;
  let dir = "";
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-storage-script-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.mkdirSync(path.join(dir, "run"));
    const tool = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}`, { mode: 0o755 });
    tool("curl", 'out=; url=; while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift ;; http*) url="$1" ;; esac; shift; done\ncase "$url" in */units) printf \'%s\' "$LIST" > "$out"; printf 200 ;; *) : > "$out" ;; esac\n');
    tool("systemctl", 'echo "$*" >> "$LOG"\ncase "$1" in\n  show) echo "($5)" ;;\n  start) shift; for u; do case " $FAILING " in *" $u "*) exit 1 ;; esac; done ;;\n  is-active) case " $FAILING " in *" $3 "*) exit 3 ;; esac ;;\nesac\nexit 0\n');
    tool("journalctl", 'echo "the journal of $2"\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(list: string, failing: string[] = []) {
    const log = path.join(dir, "systemctl.log");
    const r = spawnSync("sh", ["-c", script.split("/run/").join(`${dir}/run/`)], {
      encoding: "utf8",
      env: { PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, ELY_UTIL: "10.0.0.4:8080", ELY_HOSTNAME: "w1", LIST: list, FAILING: failing.join(" "), LOG: log },
    });
    const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    return { stdout: r.stdout, status: r.status, starts: calls.filter((c) => c.startsWith("start ")) };
  }

  runTest("starts every listed unit in one systemctl start (blank lines skipped) and says the storage is ready", () => {
    const r = run("mnt-nfs.mount\n\n   \nely-scratch-mnt-scratch.service\nely-volumes.service\n");
    expect(r.starts).toEqual(["start mnt-nfs.mount ely-scratch-mnt-scratch.service ely-volumes.service"]);
    expect(r.stdout).toContain("ely-storage: starting mnt-nfs.mount: (mnt-nfs.mount)\n");
    expect(r.stdout).toContain("ely-storage: storage ready: mnt-nfs.mount ely-scratch-mnt-scratch.service ely-volumes.service");
    expect(r.status).toBe(0);
  });

  runTest("names every unit that did not start, each with its own message, and fails", () => {
    const r = run("mnt-nfs.mount\nely-scratch-mnt-scratch.service\nely-volumes.service\n", ["mnt-nfs.mount", "ely-volumes.service"]);
    expect(r.stdout).toContain("ely-storage: FAILED: (mnt-nfs.mount) did not mount on (mnt-nfs.mount) within 90 s");
    expect(r.stdout).toContain("ely-storage: FAILED: ely-volumes.service: the journal of ely-volumes.service");
    expect(r.stdout).not.toContain("FAILED: ely-scratch");
    expect(r.stdout).not.toContain("storage ready");
    expect(r.status).toBe(1);
  });

  runTest("a list with no unit starts nothing and says so", () => {
    const r = run("\n  \n");
    expect(r.starts).toEqual([]);
    expect(r.stdout).toBe("ely-storage: http://10.0.0.4:8080/config/w1/storage/units lists no unit: nothing to mount\n");
    expect(r.status).toBe(0);
  });
});

/** The scratch disk program on a real block device: a loop device (root only). */
describe("the scratch disk program", () => {
  const script = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false }).files.find((f) => f.path === "usr/local/lib/ely/scratch-disk")!.content;
  const probeScript = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false }).files.find((f) => f.path === "usr/local/lib/ely/storage-probe")!.content;
  const canLoop = process.getuid?.() === 0 && spawnSync("losetup", ["--version"]).status === 0 && fs.existsSync("/dev/loop-control");
  const loopTest = canLoop ? test : test.skip;
  const skipped = canLoop ? "" : " (skipped: needs root and loop devices)";

  let dir = "";
  let device = "";
  beforeAll(() => {
    if (!canLoop) return;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-scratch-"));
    fs.writeFileSync(path.join(dir, "disk.img"), Buffer.alloc(0));
    fs.truncateSync(path.join(dir, "disk.img"), 64 * 1024 * 1024);
    device = spawnSync("losetup", ["-f", "--show", path.join(dir, "disk.img")], { encoding: "utf8" }).stdout.trim();
    fs.mkdirSync(path.join(dir, "by-id"));
    fs.symlinkSync(device, path.join(dir, "by-id", "ata-ELY_TEST_SCRATCH"));
    fs.writeFileSync(path.join(dir, "program"), script, { mode: 0o755 });
  });
  afterAll(() => {
    if (!canLoop) return;
    spawnSync("umount", [path.join(dir, "mnt")]);
    if (device) spawnSync("losetup", ["-d", device]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const run = (...args: string[]) =>
    spawnSync(path.join(dir, "program"), args, { encoding: "utf8", env: { ...process.env, ELY_DISK_BY_ID_DIR: path.join(dir, "by-id"), ELY_DISK_WAIT_S: "1" } });
  const label = () => spawnSync("blkid", ["-o", "value", "-s", "LABEL", device], { encoding: "utf8" }).stdout.trim();

  loopTest(`formats the disk its by-id name finds and mounts it empty, again at every boot${skipped}`, () => {
    const mnt = path.join(dir, "mnt");
    const first = run("--by-id", "ata-ELY_TEST_SCRATCH", "--mount", mnt);
    expect(first.stdout).toContain(`ely-scratch: ${device} (by-id ata-ELY_TEST_SCRATCH) is mounted on ${mnt}, empty`);
    expect(first.status).toBe(0);
    expect(spawnSync("findmnt", ["-n", "-o", "SOURCE,FSTYPE", mnt], { encoding: "utf8" }).stdout.trim()).toBe(`${device} ext4`);
    fs.writeFileSync(path.join(mnt, "left-over"), "x");
    expect(spawnSync("umount", [mnt]).status).toBe(0);
    // The next boot: the disk is formatted again, the file is gone.
    expect(run("--by-id", "ata-ELY_TEST_SCRATCH", "--mount", mnt).status).toBe(0);
    expect(fs.readdirSync(mnt)).toEqual(["lost+found"]);
    expect(label()).toBe("ely-scratch");
    // The test image's storage probe finds the scratch disk by its label, shows it empty, writes this boot's file.
    const probe = () => spawnSync("sh", ["-c", probeScript], { encoding: "utf8" });
    const probed = probe();
    expect(probed.stdout).toContain(`ely-storage-probe: scratch ${device} on ${mnt} holds: nothing`);
    const written = /ely-storage-probe: scratch wrote (\S+)/.exec(probed.stdout)?.[1];
    expect(written).toMatch(new RegExp(`^${mnt}/[^/]+-boot-[0-9a-f-]{36}$`));
    expect(fs.readFileSync(written!, "utf8").trim()).toBe(fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
    expect(probe().stdout).toContain(`holds: ${path.basename(written!)} `);
    expect(probed.status).toBe(0);
  });

  loopTest(`refuses a disk that is mounted${skipped}`, () => {
    const again = run("--by-id", "ata-ELY_TEST_SCRATCH", "--mount", path.join(dir, "other"));
    expect(again.status).toBe(1);
    expect(again.stdout).toContain(`has mounted file systems (${path.join(dir, "mnt")} ): refusing to format it (nothing was formatted)`);
    spawnSync("umount", [path.join(dir, "mnt")]);
  });

  loopTest(`formats nothing it cannot identify: an unknown by-id name, an unknown serial, no identity${skipped}`, () => {
    spawnSync("mkfs.ext4", ["-F", "-q", "-L", "keep-me", device]);
    const unknownId = run("--by-id", "ata-NOT_THERE", "--mount", path.join(dir, "x"));
    expect(unknownId.status).toBe(1);
    expect(unknownId.stdout).toContain("ely-scratch: FAILED: no disk with by-id ata-NOT_THERE on this node after 1 s");
    const unknownSerial = run("--serial", "NO-SUCH-SERIAL", "--mount", path.join(dir, "x"));
    expect(unknownSerial.stdout).toContain("FAILED: no disk with serial NO-SUCH-SERIAL on this node");
    const none = run("--mount", path.join(dir, "x"));
    expect(none.stdout).toContain("FAILED: no --serial or --by-id: Ely formats only a disk the inventory identifies (nothing was formatted)");
    expect([unknownSerial.status, none.status]).toEqual([1, 1]);
    expect(label()).toBe("keep-me");
  });
});
