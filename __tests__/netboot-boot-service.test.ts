import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack } from "cdktf";
import {
  BootEntry,
  BootService,
  bootConfigOf,
  kernelCommandLine,
  NOT_IN_INVENTORY,
  renderBootFiles,
  renderChainScript,
  renderDnsmasqConf,
  renderNginxConf,
  renderNodeScript,
  renderUnknownScript,
} from "../constructs/netboot/boot-service";
import { netbootStack } from "../e2e/netboot/netboot-stack";
import { DEFAULT_RAMROOT_COMPRESSION, ramrootArtifactOf } from "../images/ramroot-codec";
import { networkAndMask } from "../nodes";
import { requires } from "./helpers/requires";
import { testApp } from "./helpers/synth";
import { nginxConfigTest, nginxMissing } from "../e2e/netboot/util-nginx";

const entries: BootEntry[] = [
  { hostname: "w1", mac: "00:1e:06:45:28:5c", role: "client", arch: "amd64", imageKey: "client-amd64", buildId: "0123456789abcdef", channel: "latest" },
  { hostname: "w2", mac: "00:1e:06:45:20:02", role: "client", arch: "amd64", imageKey: "client-amd64", buildId: "fedcba9876543210", channel: "stable" },
  { hostname: "m1", mac: "dc:a6:32:55:33:40", role: "server", arch: "arm64", imageKey: "server-arm64", buildId: "00112233445566aa", channel: "stable" },
];
const config = bootConfigOf({
  entries,
  utilAddress: "10.25.89.4",
  subnetCidr: "10.25.89.0/24",
  serverAddresses: ["10.25.89.10", "10.25.89.20", "10.25.89.30"],
  domain: "dmz.509ely.com",
});

/** `dnsmasq --test` of a configuration text, in a temporary directory. */
function dnsmasqCheck(conf: string): { status: number | null; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-dnsmasq-"));
  try {
    const file = path.join(dir, "dnsmasq.conf");
    fs.writeFileSync(file, conf);
    const result = spawnSync("dnsmasq", ["--test", `--conf-file=${file}`], { encoding: "utf8" });
    return { status: result.status, stderr: result.stderr.trim() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("dnsmasq configuration", () => {
  test("snapshot", () => {
    expect(renderDnsmasqConf(config)).toMatchSnapshot();
  });

  test("proxy DHCP on the inventory's subnet, TFTP from the current release, no DNS", () => {
    const conf = renderDnsmasqConf(config);
    expect(conf).toContain("dhcp-range=10.25.89.0,proxy,255.255.255.0");
    expect(conf).toContain("tftp-root=/srv/ely/boot/current/tftp");
    expect(conf).toMatch(/^port=0$/m);
  });

  test("firmware gets iPXE for its architecture: BIOS, x86-64 UEFI, arm64 UEFI", () => {
    const conf = renderDnsmasqConf(config);
    expect(conf).toContain('pxe-service=tag:!ipxe,X86-64_EFI,"Ely: iPXE for x86-64 UEFI",ipxe.efi');
    expect(conf).toContain('pxe-service=tag:!ipxe,ARM64_EFI,"Ely: iPXE for arm64 UEFI",snp.efi');
  });

  test("a Raspberry Pi's own network boot (it reports x86PC) gets the Pi's TFTP boot, not BIOS iPXE", () => {
    const conf = renderDnsmasqConf(config);
    expect(conf).toContain("dhcp-mac=set:rpi,dc:a6:32:*:*:*");
    expect(conf).toContain('pxe-service=tag:rpi,tag:!ipxe,x86PC,"Raspberry Pi Boot"');
    expect(conf).toContain('pxe-service=tag:!ipxe,tag:!rpi,x86PC,"Ely: iPXE for BIOS",undionly.kpxe');
  });

  test("known MACs chain to their script, others get the not-in-inventory script", () => {
    const conf = renderDnsmasqConf(config);
    for (const e of entries) expect(conf).toContain(`dhcp-mac=set:ely-known,${e.mac}`);
    expect(conf).toContain('pxe-service=tag:ipxe,tag:ely-known,x86PC,"Ely: boot",ely.ipxe');
    expect(conf).toContain('pxe-service=tag:ipxe,tag:!ely-known,ARM64_EFI,"Ely: unknown machine",unknown.ipxe');
  });

  const withDnsmasq = requires("dnsmasq");
  withDnsmasq.test("dnsmasq --test accepts the generated configuration", () => {
    const ok = { status: 0, stderr: "dnsmasq: syntax check OK." };
    expect(dnsmasqCheck(renderDnsmasqConf({ ...config, dhcpInterface: "eth0" }))).toEqual(ok);
    // Also the configuration as the Netboot construct renders it from the default inventory.
    expect(dnsmasqCheck(netbootStack().netboot.bootService!.files.get("dnsmasq.conf")!)).toEqual(ok);
  });

  withDnsmasq.test("dnsmasq --test rejects a broken line (the check is real)", () => {
    const good = renderDnsmasqConf(config);
    const result = dnsmasqCheck(good + 'pxe-service=tag:ipxe,NOT_AN_ARCH,"x",y\n');
    const brokenLine = good.split("\n").length; // the line after the last newline of the good text
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^dnsmasq: error at line ${brokenLine} of `));
    expect(result.stderr).not.toMatch(/syntax check OK/);
  });

  test("network and mask of a CIDR", () => {
    expect(networkAndMask("10.25.89.0/24")).toEqual(["10.25.89.0", "255.255.255.0"]);
    expect(networkAndMask("192.168.17.130/25")).toEqual(["192.168.17.128", "255.255.255.128"]);
  });
});

describe("iPXE scripts", () => {
  test("a node's script: kernel, initrd and command line from its entry (snapshot)", () => {
    expect(renderNodeScript(config, { ...entries[0], ramrootArtifact: "ramroot.tar.gz" })).toMatchSnapshot();
  });

  test("the command line carries hostname, role, ramroot URL, util, servers and BOOTIF", () => {
    const line = kernelCommandLine(config, { ...entries[0], ramrootArtifact: "ramroot.tar.gz" });
    expect(line).toContain("ramroot=http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.tar.gz");
    expect(line).toContain("hostname=w1");
    expect(line).toContain("ely.role=client");
    expect(line).toContain("ely.util=10.25.89.4:8080");
    expect(line).toContain("ely.servers=10.25.89.10,10.25.89.20,10.25.89.30");
    expect(line).toContain("BOOTIF=01-00-1e-06-45-28-5c");
    expect(line).toContain("initrd=initrd");
    // The serial console is last: it is /dev/console.
    expect(line.endsWith("console=tty0 console=ttyS0,115200n8")).toBe(true);
  });

  test("the ramroot URL names the entry's artifact (its codec)", () => {
    expect(kernelCommandLine(config, { ...entries[0], ramrootArtifact: "ramroot.tar.xz" })).toContain(
      "ramroot=http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.tar.xz ",
    );
    expect(kernelCommandLine(config, { ...entries[0], ramrootArtifact: "ramroot.tar.gz" })).toContain("/0123456789abcdef/ramroot.tar.gz ");
  });

  test("the default ramroot is the default codec's artifact (images/ramroot-codec.ts)", () => {
    expect(kernelCommandLine(config, entries[0])).toContain(`/0123456789abcdef/${ramrootArtifactOf(DEFAULT_RAMROOT_COMPRESSION.codec)} `);
  });

  test("a ramroot the initrd streams: iPXE loads kernel and initrd only, the initrd downloads the ramroot", () => {
    for (const artifact of ["ramroot.tar.gz", "ramroot.tar.xz"]) {
      const entry = { ...entries[0], ramrootArtifact: artifact };
      const script = renderNodeScript(config, entry);
      expect(script.split("\n").filter((l) => l.startsWith("initrd "))).toEqual(["initrd --name initrd http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/initrd || goto failed"]);
      expect(kernelCommandLine(config, entry).split(" ").filter((w) => w.startsWith("initrd="))).toEqual(["initrd=initrd"]);
    }
  });

  test("a ramroot the kernel unpacks: iPXE loads it as a second initrd after the initrd, named on the command line too (EFI stub)", () => {
    const entry = { ...entries[0], ramrootArtifact: "ramroot.cpio.zst" };
    const script = renderNodeScript(config, entry).split("\n");
    expect(script.filter((l) => l.startsWith("initrd "))).toEqual([
      "initrd --name initrd http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/initrd || goto failed",
      "initrd --name ramroot http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.cpio.zst || goto failed",
    ]);
    // Both initrds before boot: the kernel unpacks them in this order (the initrd's /init, then the tree under /newroot).
    expect(script.findIndex((l) => l.startsWith("initrd --name ramroot"))).toBeLessThan(script.findIndex((l) => l.startsWith("boot ")));
    const line = kernelCommandLine(config, entry);
    expect(line.split(" ").filter((w) => w.startsWith("initrd="))).toEqual(["initrd=initrd", "initrd=ramroot"]);
    // The initrd still reads the URL: its name tells it the kernel unpacked the ramroot.
    expect(line).toContain("ramroot=http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.cpio.zst ");
    expect(renderNodeScript(config, entry)).toMatchSnapshot();
  });

  test.each([
    ["a ramroot artifact of no known codec", { ramrootArtifact: "ramroot.tar.zst" }, 'error ELY-NET-004: boot service, node w1, field ramrootArtifact: received "ramroot.tar.zst", expected one of ramroot.tar.gz, ramroot.tar.xz, ramroot.cpio.zst'],
    ["a build id other than 16 hex digits", { buildId: "0123" }, 'error ELY-NET-003: boot service, node w1, field buildId: received "0123", expected 16 hex digits'],
  ])("%s is a validation error naming the node", (_what, change, message) => {
    const stack = new TerraformStack(testApp(), "boot");
    const service = new BootService(stack, "boot-service", {
      entries: [{ ...entries[0], ...change }],
      utilAddress: "10.25.89.4",
      subnetCidr: "10.25.89.0/24",
      serverAddresses: ["10.25.89.10"],
    });
    expect(service.node.validate()).toEqual([message]);
  });

  test("kernel and initrd come from the node's own build (canary: w1 and w2 differ)", () => {
    expect(renderNodeScript(config, entries[0])).toContain("/images/client-amd64/0123456789abcdef/vmlinuz");
    expect(renderNodeScript(config, entries[1])).toContain("/images/client-amd64/fedcba9876543210/vmlinuz");
    expect(renderNodeScript(config, entries[1])).toContain("initrd --name initrd http://10.25.89.4:8080/images/client-amd64/fedcba9876543210/initrd");
  });

  test("the chain script fetches the MAC's script and says so when there is none", () => {
    const script = renderChainScript(config);
    expect(script).toMatchSnapshot();
    expect(script).toContain("chain --autofree http://10.25.89.4:8080/ipxe/${mac:hexhyp}.ipxe || goto failed");
  });

  test("an unknown MAC is told it is not in the inventory", () => {
    const script = renderUnknownScript(config);
    expect(script).toMatchSnapshot();
    expect(script).toContain(NOT_IN_INVENTORY);
    expect(script.startsWith("#!ipxe\n")).toBe(true);
  });

  test("the boot directory: one script per MAC, fallbacks, services, activation", () => {
    const files = [...renderBootFiles(config).keys()];
    expect(files).toEqual([
      "activate.sh",
      "dnsmasq.conf",
      "exports",
      "ipxe/00-1e-06-45-20-02.ipxe",
      "ipxe/00-1e-06-45-28-5c.ipxe",
      "ipxe/dc-a6-32-55-33-40.ipxe",
      "ipxe/unknown.ipxe",
      "nginx.conf",
      "nodes.json",
      "radvd-config.sh",
      "systemd/ely-dnsmasq.service",
      "systemd/ely-http.service",
      "systemd/ely-radvd.service",
      "tftp/ely.ipxe",
      "tftp/unknown.ipxe",
    ]);
  });

  const nginxTest = requires("nginx", nginxMissing()).test;
  nginxTest("nginx -t accepts the generated nginx.conf of the default inventory", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-nginx-"));
    try {
      // As on the util node (pid in /run: root only), then with a state directory (any user).
      const { netboot } = netbootStack();
      const production = path.join(dir, "nginx.conf");
      fs.writeFileSync(production, netboot.bootService!.files.get("nginx.conf")!);
      if (process.getuid?.() === 0) expect(nginxConfigTest(production)).toEqual({ ok: true, output: "" });
      const local = path.join(dir, "nginx-local.conf");
      fs.writeFileSync(local, renderNginxConf(bootConfigOf({ ...config, entries, httpListen: "127.0.0.1:18080", httpStateDir: dir })));
      expect(nginxConfigTest(local)).toEqual({ ok: true, output: "" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  nginxTest("nginx -t rejects a broken file (the check is real): a syslog tag with a hyphen", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-nginx-"));
    try {
      const file = path.join(dir, "nginx.conf");
      fs.writeFileSync(file, renderNginxConf(bootConfigOf({ ...config, entries, httpStateDir: dir })).replace(`${dir}/access.log`, "syslog:server=unix:/dev/log,tag=ely-http"));
      const result = nginxConfigTest(file);
      expect(result.ok).toBe(false);
      expect(result.output).toContain('syslog "tag" only allows alphanumeric characters and underscore');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nginx: listens on the HTTP port everywhere by default; logs to syslog, tag ely_http", () => {
    const nginx = renderNginxConf(config);
    expect(nginx).toContain("listen 8080;");
    expect(nginx).toContain("access_log syslog:server=unix:/dev/log,tag=ely_http ely;");
    expect(nginx).toContain("pid /run/ely-http.pid;");
    expect(nginx).not.toContain("_temp_path");
    const local = renderNginxConf(bootConfigOf({ ...config, entries, httpListen: "127.0.0.1:18080", httpStateDir: "/tmp/x/" }));
    expect(local).toContain("listen 127.0.0.1:18080;");
    expect(local).toContain("access_log /tmp/x/access.log ely;");
    expect(local).toContain("pid /tmp/x/nginx.pid;");
    expect(local).toContain("client_body_temp_path /tmp/x/client_body_temp;");
  });

  test("nginx serves unknown MACs the not-in-inventory script", () => {
    const nginx = renderBootFiles(config).get("nginx.conf")!;
    expect(nginx).toContain("try_files $uri /ipxe/unknown.ipxe;");
    expect(nginx).toContain("listen 8080;");
  });

  test("activation keeps the builds the five newest releases boot and those the images' links name, and removes the others, naming them", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-activate-"));
    try {
      const id = (n: number) => `${n}`.repeat(16).slice(0, 16);
      for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) fs.mkdirSync(path.join(root, "images/client-amd64", id(n), "x"), { recursive: true });
      fs.mkdirSync(path.join(root, "images/server-arm64", id(9)), { recursive: true });
      // An older revision's build that no node boots now: its link keeps it.
      fs.mkdirSync(path.join(root, "images/client-amd64", "a".repeat(16)));
      fs.symlinkSync("a".repeat(16), path.join(root, "images/client-amd64/revision-2026-11"));
      fs.mkdirSync(path.join(root, "images/client-amd64/.aaaaaaaaaaaaaaaa.partial"));
      fs.symlinkSync(id(8), path.join(root, "images/client-amd64/latest"));
      // Releases r1 (oldest) .. r7 (current); r1 and r2 fall out of the five kept. Each boots build n, r7 also build 3.
      const base = Date.now() / 1000 - 1000;
      for (const n of [1, 2, 3, 4, 5, 6, 7]) {
        const dir = path.join(root, "boot/releases", `r${n}`);
        fs.mkdirSync(path.join(dir, "ipxe"), { recursive: true });
        const boots = n === 7 ? [id(7), id(3)] : [id(n)];
        // Each node's script as the boot service renders it.
        boots.forEach((b, i) => fs.writeFileSync(path.join(dir, "ipxe", `${i}.ipxe`), renderNodeScript(config, { ...entries[i], imageKey: "client-amd64", buildId: b })));
        fs.utimesSync(dir, base + n, base + n);
      }
      const run = spawnSync("sh", ["-c", renderBootFiles(config).get("activate.sh")!, "activate.sh", root, "r7"], { encoding: "utf8", env: { ...process.env, ELY_PUBLISH_SERVICES: "0" } });
      expect(run.status).toBe(0);
      expect(fs.readdirSync(path.join(root, "boot/releases")).sort()).toEqual(["r3", "r4", "r5", "r6", "r7"]);
      expect(fs.readdirSync(path.join(root, "images/client-amd64")).sort()).toEqual([".aaaaaaaaaaaaaaaa.partial", id(3), id(4), id(5), id(6), id(7), id(8), "a".repeat(16), "latest", "revision-2026-11"].sort());
      // An image whose builds no kept release boots and no link names goes too.
      expect(fs.readdirSync(path.join(root, "images/server-arm64"))).toEqual([]);
      expect(run.stdout).toContain(`ely-boot: removed image build client-amd64/${id(1)}: none of the kept releases boots it and no link names it`);
      expect(run.stdout).toContain(`ely-boot: removed image build client-amd64/${id(2)}: none of the kept releases boots it and no link names it`);
      expect(run.stdout).toContain(`ely-boot: removed image build server-arm64/${id(9)}: none of the kept releases boots it and no link names it`);
      expect(run.stdout.match(/removed image build/g)).toHaveLength(3);
      // Activated again with nothing left to remove (and on a root without images at all), it names nothing.
      const again = spawnSync("sh", ["-c", renderBootFiles(config).get("activate.sh")!, "activate.sh", root, "r7"], { encoding: "utf8", env: { ...process.env, ELY_PUBLISH_SERVICES: "0" } });
      expect(again.status).toBe(0);
      expect(again.stdout).not.toContain("removed image build");
      fs.rmSync(path.join(root, "images"), { recursive: true });
      const bare = spawnSync("sh", ["-c", renderBootFiles(config).get("activate.sh")!, "activate.sh", root, "r7"], { encoding: "utf8", env: { ...process.env, ELY_PUBLISH_SERVICES: "0" } });
      expect(bare.status).toBe(0);
      expect(bare.stdout).not.toContain("removed image build");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test("activation switches boot/current in one rename and installs the arm64 iPXE if present", () => {
    const script = renderBootFiles(config).get("activate.sh")!;
    expect(script).toContain('mv -T "$root/boot/.current.tmp" "$root/boot/current"');
    expect(script).toContain("/srv/ely/ipxe/arm64/snp.efi");
    expect(spawnSync("sh", ["-n", "-c", script]).status).toBe(0);
  });
});
