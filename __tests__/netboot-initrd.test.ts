import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { INITRD_FATAL, initScript, udhcpcScript } from "../images/initrd-files";
import { parseModuleIndex, resolveModules } from "../images/kernel-modules";
import { NODE_UP_MARKER, rootfsFiles } from "../images/rootfs-files";
import { enableUnit, parseInstallSection } from "../images/systemd-enable";

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

  test("download and unpack failures each get a clear console message", () => {
    expect(script).toContain(INITRD_FATAL);
    expect(script).toContain("is the util node's HTTP server up, and this image published?");
    expect(script).toContain("is not a complete compressed stream ($decoder exit");
    expect(script).toContain('fail "ramroot=$ramroot: expected a file named ramroot.tar.gz or ramroot.tar.xz"');
    expect(script).toContain("out of memory, or not a tar archive");
  });
});

describe("root filesystem files", () => {
  test("agents' units only where the profile ships agents; no secret in any file", () => {
    const full = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true });
    const test = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false });
    expect(full.enable).toEqual(["consul.service", "ely-agent-config.service", "ely-node-up.service", "ely-ssh-host-keys.service", "ely-storage.service", "nomad.service", "systemd-networkd.service"]);
    expect(test.enable).toEqual(["ely-agent-config.service", "ely-node-up.service", "ely-storage.service", "systemd-networkd.service"]);
    expect(full.files.length).toBeGreaterThan(test.files.length);
    for (const file of full.files) expect(file.content).not.toMatch(/encrypt\s*=|"encrypt"|token\s*=|BEGIN .*PRIVATE KEY/);
  });

  test("the node-up unit prints the marker with the command line's hostname on the consoles", () => {
    const script = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false }).files.find((f) => f.path.endsWith("/node-up"))!;
    expect(script.content).toContain(`${NODE_UP_MARKER} hostname=\${ELY_HOSTNAME:-unknown}`);
    expect(script.content).toContain("> /dev/console");
  });

  test("units follow the seed's: consul Type=notify, nomad KillSignal=SIGINT, both LimitNOFILE=65536", () => {
    const files = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true }).files;
    const consul = files.find((f) => f.path.endsWith("consul.service"))!.content;
    const nomad = files.find((f) => f.path.endsWith("nomad.service"))!.content;
    expect(consul).toContain("Type=notify");
    expect(consul).toContain("User=consul");
    expect(nomad).toContain("KillSignal=SIGINT");
    expect(nomad).toContain("After=network-online.target ely-agent-config.service consul.service docker.service");
    for (const unit of [consul, nomad]) expect(unit).toContain("LimitNOFILE=65536");
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

  test("parses WantedBy, RequiredBy, Also and Alias only in [Install]", () => {
    expect(parseInstallSection("[Unit]\nWantedBy=x\n[Install]\nWantedBy=a b\nRequiredBy=c\n")).toEqual({ wantedBy: ["a", "b"], requiredBy: ["c"], also: [], alias: [] });
  });
});
