import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { INITRD_FATAL, initScript, udhcpcScript } from "../images/initrd-files";
import { compressModules, MODULE_ZSTD_LEVEL, parseModuleIndex, resolveModules } from "../images/kernel-modules";
import { imageRecipe, recipeInputs } from "../images/recipe";
import { requires } from "./helpers/requires";
import { clientImageSpec } from "./helpers/image-spec";
import { BOOT_META_FILE, CONTAINER_PROBE_TAG, NODE_UP_MARKER, RESOLV_CONF, rootfsFiles, STORAGE_PROBE_KERNEL_ARG, writeBootMetaFunction } from "../images/rootfs-files";
import { consulUnit } from "../images/agent-units";
import { AGENTS_BOOT_MILESTONES, AGENTS_MARKER, AGENTS_MEMORY_PATTERN, agentsBootMilestones } from "../images/agents-report";
import { enableUnit, maskUnit, parseInstallSection } from "../images/systemd-enable";

const MODULES_DEP = [
  "kernel/drivers/virtio/virtio.ko:",
  "kernel/drivers/virtio/virtio_ring.ko:",
  "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko",
  "kernel/net/core/failover.ko:",
  "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko",
  "kernel/drivers/net/phy/realtek.ko.xz: kernel/drivers/net/phy/libphy.ko.xz",
  "kernel/drivers/net/phy/libphy.ko.xz:",
  "",
].join("\n");

describe("initrd modules", () => {
  const index = parseModuleIndex(MODULES_DEP, "kernel/net/packet/af_packet.ko\n");

  test("dependencies load first, each module once, built-ins skipped", () => {
    expect(resolveModules(index, ["af_packet", "virtio_pci", "virtio-net", "virtio_pci"])).toEqual([
      "kernel/drivers/virtio/virtio_ring.ko",
      "kernel/drivers/virtio/virtio.ko",
      "kernel/drivers/virtio/virtio_pci.ko",
      "kernel/net/core/failover.ko",
      "kernel/drivers/net/net_failover.ko",
      "kernel/drivers/net/virtio_net.ko",
    ]);
  });

  test("compressed modules resolve by name", () => {
    expect(resolveModules(index, ["realtek"])).toEqual(["kernel/drivers/net/phy/libphy.ko.xz", "kernel/drivers/net/phy/realtek.ko.xz"]);
  });

  test("a driver the kernel lacks fails the build, naming it", () => {
    expect(() => resolveModules(index, ["virtio_net", "not_a_driver"])).toThrow("kernel has neither a module nor a built-in driver for: not_a_driver");
  });
});

describe("the ramroot's modules, zstd-compressed", () => {
  test("both profiles compress them, and the level is an input of the build id", () => {
    for (const profile of ["full", "test"] as const) {
      const recipe = imageRecipe(clientImageSpec(profile));
      expect(recipe.strip.moduleZstdLevel).toBe(MODULE_ZSTD_LEVEL);
      expect(recipeInputs(recipe)).toContainEqual(["strip.modules", `zstd-${MODULE_ZSTD_LEVEL}`]);
    }
  });

  requires("codecs").test("every .ko under kernel/ becomes a .ko.zst with its content and mode; other files stay", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-modules-"));
    try {
      const a = path.join(dir, "kernel/drivers/net/a.ko");
      const b = path.join(dir, "kernel/fs/b.ko");
      const xz = path.join(dir, "kernel/fs/c.ko.xz");
      fs.mkdirSync(path.dirname(a), { recursive: true });
      fs.mkdirSync(path.dirname(b), { recursive: true });
      const content = Buffer.from("\x7fELF module ".repeat(4000));
      fs.writeFileSync(a, content);
      fs.writeFileSync(b, content.subarray(0, 1000));
      fs.writeFileSync(xz, "already compressed");
      fs.writeFileSync(path.join(dir, "modules.order"), "kernel/drivers/net/a.ko\n");
      fs.chmodSync(a, 0o600);
      const result = await compressModules(dir, 3);
      expect(result.files).toBe(2);
      expect(result.bytesBefore).toBe(content.length + 1000);
      expect(result.bytesAfter).toBeLessThan(result.bytesBefore / 10);
      expect([a, b].map((f) => fs.existsSync(f))).toEqual([false, false]);
      expect(spawnSync("zstd", ["-d", "-c", `${a}.zst`]).stdout).toEqual(content);
      expect(fs.statSync(`${a}.zst`).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(xz, "utf8")).toBe("already compressed");
      expect(fs.readFileSync(path.join(dir, "modules.order"), "utf8")).toBe("kernel/drivers/net/a.ko\n");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("initrd init script", () => {
  const script = initScript();

  test("is valid shell", () => {
    const shell = spawnSync("busybox", ["--help"]).status === 0 ? ["busybox", "sh"] : ["sh"];
    for (const text of [script, udhcpcScript()]) expect(spawnSync(shell[0], [...shell.slice(1), "-n", "-c", text]).status).toBe(0);
  });

  test("implements the ramroot boot: BOOTIF, DHCP, tmpfs sized to RAM, streamed unpack, hostname, network, switch_root", () => {
    expect(script).toContain('BOOTIF=*) bootif="${word#BOOTIF=}"');
    expect(script).toContain("udhcpc -i \"$iface\"");
    expect(script).toContain("awk '/^MemTotal:/ { print $2 }' /proc/meminfo");
    expect(script).toMatch(/wget -q -O - "\$ramroot".*\n.*\$decoder \|\|.*\n.*tar -x -C \/newroot/);
    expect(script).toContain('echo "$hostname" > /newroot/etc/hostname');
    expect(script).toContain("MACAddress=$mac");
    expect(script).toContain("exec switch_root /newroot /sbin/init");
  });

  test("the command line's facts reach the booted system in /etc/ely/boot.env, where the secrets server is among them", () => {
    expect(script).toContain('ely.secrets=*) secrets="${word#ely.secrets=}"');
    expect(script).toMatch(/cat > \/newroot\/etc\/ely\/boot\.env <<ENV\n(.*\n)*ELY_SECRETS='\$secrets'\n(.*\n)*ENV\n/);
  });

  test("DHCP waits for the link's carrier (at most 10 s) and the initrd logs how long the link took", () => {
    const start = script.indexOf('ip link set "$iface" up\n');
    const end = script.indexOf("lease=\n", start);
    expect(start).toBeGreaterThan(0);
    expect(script.indexOf("udhcpc -i", start)).toBeGreaterThan(end);
    const wait = script.slice(start + 'ip link set "$iface" up\n'.length, end);
    // Run here on the loopback interface, which has its carrier: no wait, one line.
    const run = spawnSync("sh", ["-c", `log() { echo "ely-initrd: $*"; }\niface=lo\n${wait}`], { encoding: "utf8" });
    expect(run.stdout).toMatch(/^ely-initrd: lo: link up after 0\.\d s\n$/);
    expect(run.status).toBe(0);
    // An interface with no carrier file (none here by that name) is waited for, then DHCP tries anyway.
    const missing = spawnSync("sh", ["-c", `log() { echo "ely-initrd: $*"; }\niface=ely-none0\n${wait.replace("-lt 100", "-lt 3")}`], { encoding: "utf8" });
    expect(missing.stdout).toMatch(/^ely-initrd: ely-none0: link still down \(DHCP tries anyway\) after 0\.\d s\n$/);
  });

  test("the boot interface is handed over up, keeping its kernel name and its IPv6 link-local address, without its IPv4 address", () => {
    expect(script).toMatch(/\nip -4 addr flush dev "\$iface"\n/);
    expect(script).not.toMatch(/ip link set "\$iface" down/);
    // udev would rename it, which it does only while the link is down: the .link file names it as the kernel did.
    expect(script).toMatch(/cat > \/newroot\/etc\/systemd\/network\/10-ely-bootif\.link <<LINK\n(#.*\n)*\[Match\]\nMACAddress=\$mac\n\n\[Link\]\nName=\$iface\nAlternativeNamesPolicy=database onboard slot path\nLINK\n/);
    // udhcpc's deconfig flushes IPv4 only, so the link-local address made when the link came up survives.
    expect(udhcpcScript()).toContain('deconfig)\n    # IPv4 only');
    expect(udhcpcScript()).toContain('    ip -4 addr flush dev "$interface"\n');
    expect(udhcpcScript()).not.toMatch(/ip addr flush/);
  });

  test("download and unpack failures each get a clear console message", () => {
    expect(script).toContain(INITRD_FATAL);
    expect(script).toContain("is the util node's HTTP server up, and this image published?");
    expect(script).toContain("is not a complete compressed stream ($decoder exit");
    expect(script).toContain('fail "ramroot=$ramroot: expected a file named ramroot.tar.gz or ramroot.tar.xz or ramroot.cpio.zst"');
    expect(script).toContain("out of memory, or not a tar archive");
  });

  test("a ramroot the kernel unpacked: no download, no tmpfs of its own; / becomes a mount of its own (bind, move, chroot), not rootfs", () => {
    const kernelArm = /if \[ "\$decoder" = kernel \]; then\n  if \[ ! -e \/newroot\/sbin\/init \] && \[ ! -L \/newroot\/sbin\/init \]; then\n    fail "(.*)"/.exec(script);
    expect(kernelArm?.[1]).toBe(
      "$ramroot: the kernel unpacked no /newroot/sbin/init: iPXE did not load it as a second initrd (initrd --name ramroot), or the kernel cannot decode zstd (CONFIG_RD_ZSTD)",
    );
    // The milestone the netboot harness reads ("ely-initrd: unpacked ").
    expect(script).toContain('log "unpacked by the kernel: $(( ($1 - $2) * $3 / 1048576 )) MiB');
    // The download, the tmpfs and its unpack are in the other branch only.
    const mountTmpfs = script.indexOf('mount -t tmpfs -o "size=$size,mode=0755" ramroot /newroot');
    const bind = script.indexOf("mount -o bind /newroot /newroot");
    expect(bind).toBeGreaterThan(0);
    expect(script.slice(bind, mountTmpfs)).toMatch(/\nelse\n$/);
    expect(script).toContain('mount -o remount,size="$size" /newroot');
    // switch_root would refuse (/newroot is on the same file system) and empty rootfs: move and chroot instead.
    expect(script).toMatch(/if \[ "\$decoder" = kernel \]; then\n.*\n  cd \/newroot && mount -o move \/newroot \/ && exec chroot \. \/sbin\/init\n.*FATAL.*\n.*fi\nexec switch_root \/newroot \/sbin\/init\n/);
    // Whatever the mode, the root gets this boot's identity and network before the switch.
    expect(script.indexOf('echo "$hostname" > /newroot/etc/hostname')).toBeGreaterThan(bind);
  });
});

describe("root filesystem files", () => {
  test("agents' units only where the profile ships agents; no secret in any file", () => {
    const full = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true });
    const test = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false });
    expect(full.enable).toEqual([
      "consul.service",
      "ely-agent-config.service",
      "ely-agents-report.service",
      "ely-container-probe.service",
      "ely-node-up.service",
      "ely-secrets.service",
      "ely-ssh-host-keys.service",
      "ely-storage-probe.service",
      "ely-storage.service",
      "nomad.service",
      "systemd-networkd.service",
    ]);
    expect(test.enable).toEqual(["ely-agent-config.service", "ely-node-up.service", "ely-secrets.service", "ely-storage-probe.service", "ely-storage.service", "systemd-networkd.service"]);
    // Docker loads its own AppArmor profile; the boot does not wait for Debian's others to compile.
    expect(full.mask).toEqual(["apparmor.service"]);
    expect(test.mask).toEqual([]);
    expect(full.files.length).toBeGreaterThan(test.files.length);
    for (const file of full.files) expect(file.content).not.toMatch(/encrypt\s*=|"encrypt"|token\s*=|BEGIN .*PRIVATE KEY/);
  });

  test("the storage probe is in every image and runs only when the kernel command line asks, after the storage and before the node-up marker", () => {
    const withProbe = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true });
    expect(withProbe.enable).toContain("ely-storage-probe.service");
    const unit = withProbe.files.find((f) => f.path.endsWith("/ely-storage-probe.service"))!.content;
    expect(unit).toContain(`ConditionKernelCommandLine=${STORAGE_PROBE_KERNEL_ARG}\nAfter=ely-storage.service\nBefore=ely-node-up.service`);
    expect(STORAGE_PROBE_KERNEL_ARG).toBe("ely.storage-probe");
    // Where nothing is mounted, it says so and fails nothing (this machine has no NFS client).
    const script = withProbe.files.find((f) => f.path.endsWith("/storage-probe"))!.content;
    const run = spawnSync("sh", ["-c", script], { encoding: "utf8" });
    expect(run.stdout).toContain("ely-storage-probe: no NFS mount");
    expect(run.status).toBe(0);
  });

  test("the container probe is in images with docker, runs only when the kernel command line asks, after docker and before the agents' report", () => {
    expect(rootfsFiles({ withAgents: true, withDocker: false, withSsh: false }).enable).not.toContain("ely-container-probe.service");
    const files = rootfsFiles({ withAgents: true, withDocker: true, withSsh: false }).files;
    const unit = files.find((f) => f.path.endsWith("/ely-container-probe.service"))!.content;
    expect(unit).toContain(`ConditionKernelCommandLine=${STORAGE_PROBE_KERNEL_ARG}\nRequires=docker.service\nAfter=docker.service\nBefore=ely-agents-report.service`);
    // Without docker it fails, saying so on the console.
    const script = files.find((f) => f.path.endsWith("/container-probe"))!.content;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-container-probe-"));
    for (const tool of ["sh", "tar", "findmnt", "readlink", "busybox", "tail", "tr"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      if (found) fs.symlinkSync(found, path.join(dir, tool));
    }
    const run = spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: dir } });
    fs.rmSync(dir, { recursive: true });
    expect(run.stdout).toMatch(new RegExp(`^${CONTAINER_PROBE_TAG}: FAILED: docker run: .*docker.* \\(/ is \\S+ \\S+\\)\n$`));
    expect(run.status).toBe(1);
  });

  test("every image carries its own resolv.conf, naming no DNS server (the build machine's stays out); the initrd replaces it from the lease", () => {
    for (const withAgents of [false, true]) {
      const file = rootfsFiles({ withAgents, withDocker: withAgents, withSsh: withAgents }).files.find((f) => f.path === "etc/resolv.conf");
      expect(file?.content).toBe(RESOLV_CONF);
    }
    expect(RESOLV_CONF.split("\n").filter((line) => line && !line.startsWith("#"))).toEqual([]);
    expect(initScript()).toMatch(/if \[ -n "\$dns" \]; then\n  rm -f \/newroot\/etc\/resolv\.conf\n/);
  });

  test("the node-up unit prints the marker with the command line's hostname on the consoles", () => {
    const script = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false }).files.find((f) => f.path.endsWith("/node-up"))!;
    expect(script.content).toContain(`${NODE_UP_MARKER} hostname=\${ELY_HOSTNAME:-unknown}`);
    expect(script.content).toContain("> /dev/console");
  });

  test("a Nomad client reports the build it booted: ely.image=<image>/<build> becomes meta ely_build_id and ely_image", () => {
    const script = rootfsFiles({ withAgents: true, withDocker: true, withSsh: false }).files.find((f) => f.path.endsWith("/fetch-agent-config"))!;
    expect(script.content).toContain(`[ -f /etc/nomad.d/nomad.json ] && write_boot_meta /etc/nomad.d`);
    const run = (image: string | undefined) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-boot-meta-"));
      const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
      if (image !== undefined) env.ELY_IMAGE = image;
      const result = spawnSync("sh", ["-euc", `${writeBootMetaFunction}\nwrite_boot_meta "$1"`, "sh", dir], { env, encoding: "utf8" });
      const file = path.join(dir, BOOT_META_FILE);
      const written = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
      fs.rmSync(dir, { recursive: true });
      return { status: result.status, stderr: result.stderr, written };
    };
    expect(run("client-amd64/0123456789abcdef")).toEqual({ status: 0, stderr: "", written: { client: { meta: { ely_build_id: "0123456789abcdef", ely_image: "client-amd64" } } } });
    for (const bad of ['client-amd64/0123"},"x":{"', "a/b/c", "client-amd64/", "/0123"]) {
      expect(run(bad)).toEqual({ status: 0, stderr: `ely-agent-config: ely.image=${bad} is not <image>/<build id>; not reported\n`, written: undefined });
    }
    expect(run(undefined)).toEqual({ status: 0, stderr: expect.stringContaining("no ely.image=<image>/<build> on the kernel command line"), written: undefined });
  });

  test("units follow the seed's: consul Type=notify where it waits for a join, nomad KillSignal=SIGINT, both LimitNOFILE=65536", () => {
    const files = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true }).files;
    const consul = files.find((f) => f.path.endsWith("consul.service"))!.content;
    const nomad = files.find((f) => f.path.endsWith("nomad.service"))!.content;
    // The image's Consul is started once it runs: a worker boots before its servers may be up, and Nomad is ordered after it.
    expect(consul).toContain("Type=exec");
    expect(consul).not.toContain("Type=notify");
    expect(consul).not.toContain("TimeoutStartSec");
    // Elsewhere (servers updated over ssh) systemd waits for Consul's join.
    expect(consulUnit({ managedBy: "x" })).toContain("Type=notify");
    expect(consulUnit({ managedBy: "x" })).toContain("TimeoutStartSec=infinity");
    expect(consul).toContain("User=consul");
    expect(nomad).toContain("KillSignal=SIGINT");
    expect(nomad).toContain("After=network-online.target ely-agent-config.service consul.service docker.service ely-storage.service ely-secrets.service");
    for (const unit of [consul, nomad]) expect(unit).toContain("LimitNOFILE=65536");
  });

  test("the boot's milestones are read from a console line, with its systemd prefix; a '?' is a milestone the node did not reach", () => {
    const line = "[  141.1] agents-report[743]: ely-agents: boot, seconds since the kernel started: userspace 44.1, sysinit 52.3, network-online 60.0, docker 95.2, consul 80.4, nomad 96.0, nomad-registered ?\r";
    expect(agentsBootMilestones(`earlier line\n${line}\nlater line`)).toEqual({ userspace: 44.1, sysinit: 52.3, "network-online": 60, docker: 95.2, consul: 80.4, nomad: 96, "nomad-registered": undefined });
    expect(agentsBootMilestones("ely-agents: memory: total 1 MiB")).toBeUndefined();
  });

  test("images with agents report them on the console once started, with the boot's milestones; the report says what it could not ask", () => {
    const full = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true });
    expect(rootfsFiles({ withAgents: false, withDocker: false, withSsh: false }).files.map((f) => f.path)).not.toContain("usr/local/lib/ely/agents-report");
    const unit = full.files.find((f) => f.path.endsWith("/ely-agents-report.service"))!.content;
    expect(unit).toContain("After=consul.service nomad.service docker.service ely-node-up.service");
    expect(unit).toContain("ExecStart=/usr/local/lib/ely/agents-report");
    expect(unit).toContain("StandardOutput=journal+console");
    // Where no agent is configured (this machine), it says so and prints the marker without waiting.
    const script = full.files.find((f) => f.path.endsWith("/agents-report"))!.content;
    if (fs.existsSync("/etc/consul.d/consul.json") || fs.existsSync("/etc/nomad.d/nomad.json")) return; // this machine runs agents
    const run = spawnSync("sh", ["-c", script], { encoding: "utf8", timeout: 30000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("ely-agents: consul: no configuration (/etc/consul.d/consul.json): not run on this node");
    expect(run.stdout).toContain("ely-agents: nomad: no configuration (/etc/nomad.d/nomad.json): not run on this node");
    // This machine's memory, as /proc/meminfo and df say it: what a worker has left for its jobs.
    const memory = AGENTS_MEMORY_PATTERN.exec(run.stdout);
    expect(memory).not.toBeNull();
    const [total, rootUsed, available] = memory!.slice(1).map(Number);
    const meminfoMib = (key: string) => Math.floor(Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync("/proc/meminfo", "utf8"))![1]) / 1024);
    expect(total).toBe(meminfoMib("MemTotal"));
    expect(available).toBeGreaterThan(0);
    expect(available).toBeLessThanOrEqual(total);
    expect(rootUsed).toBe(Math.floor(Number(execFileSync("df", ["-k", "/"], { encoding: "utf8" }).split("\n")[1].trim().split(/\s+/)[2]) / 1024));
    // The boot's milestones, as this machine's systemd answers (a number each), or "?" for each where none runs.
    const boot = agentsBootMilestones(run.stdout);
    expect(boot).toBeDefined();
    expect(Object.keys(boot!)).toEqual([...AGENTS_BOOT_MILESTONES]);
    expect(boot!["nomad-registered"]).toBeUndefined(); // no Nomad here
    if (spawnSync("systemctl", ["show", "-p", "UserspaceTimestampMonotonic", "--value"], { encoding: "utf8" }).status !== 0) {
      expect(run.stdout).toContain("ely-agents: boot, seconds since the kernel started: userspace ?, sysinit ?, network-online ?, docker ?, consul ?, nomad ?, nomad-registered ?");
    }
    expect(run.stdout.trim().split("\n").pop()).toMatch(new RegExp(`^${AGENTS_MARKER} hostname=\\S+ consul=\\S+ consul-joined=no consul-retrying=no nomad=\\S+ nomad-servers=0 nomad-retrying=no docker=\\S+ failed-units=\\S+$`));
  });
});

describe("enabling units in a root filesystem", () => {
  test("links from [Install], following Also=", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-units-"));
    const units = path.join(root, "usr/lib/systemd/system");
    fs.mkdirSync(units, { recursive: true });
    fs.writeFileSync(path.join(units, "a.service"), "[Unit]\n[Install]\nWantedBy=multi-user.target\nAlso=a.socket\nAlias=b.service\n");
    fs.writeFileSync(path.join(units, "a.socket"), "[Install]\nWantedBy=sockets.target\n");
    enableUnit(root, "a.service");
    expect(fs.readlinkSync(path.join(root, "etc/systemd/system/multi-user.target.wants/a.service"))).toBe("/usr/lib/systemd/system/a.service");
    expect(fs.readlinkSync(path.join(root, "etc/systemd/system/sockets.target.wants/a.socket"))).toBe("/usr/lib/systemd/system/a.socket");
    expect(fs.readlinkSync(path.join(root, "etc/systemd/system/b.service"))).toBe("/usr/lib/systemd/system/a.service");
    expect(() => enableUnit(root, "missing.service")).toThrow(/cannot enable missing.service: no such unit/);
  });

  test("masks as systemctl mask does: a link to /dev/null that replaces what was there; a bad name is refused, naming it", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-units-"));
    fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/systemd/system/apparmor.service"), "[Unit]\n");
    maskUnit(root, "apparmor.service");
    expect(fs.readlinkSync(path.join(root, "etc/systemd/system/apparmor.service"))).toBe("/dev/null");
    expect(() => maskUnit(root, "../etc/passwd")).toThrow('cannot mask "../etc/passwd": expected a unit name such as apparmor.service');
  });

  test("parses WantedBy, RequiredBy, Also and Alias only in [Install]", () => {
    expect(parseInstallSection("[Unit]\nWantedBy=x\n[Install]\nWantedBy=a b\nRequiredBy=c\n")).toEqual({ wantedBy: ["a", "b"], requiredBy: ["c"], also: [], alias: [] });
  });
});
