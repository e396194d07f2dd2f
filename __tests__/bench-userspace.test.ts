/**
 * bench:userspace's pieces: the node's command line read from its iPXE script, the files it hands the native boot
 * as the initrd hands them to a netbooted one, the stretches of a boot, its inventory and its option checks.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bootNative, handoverFiles, kernelParamsOfIpxe } from "../bench/native-boot";
import { nativeInventoryInput, nativeStretches, NATIVE_STRETCHES, userspaceOptionProblems } from "../bench/userspace";
import { BOOT_INTERFACE_NETWORK_FILE, initScript } from "../images/initrd-files";
import { BOOT_ENV_FILE } from "../images/rootfs-files";
import { parseInventory } from "../nodes";

const IPXE = [
  "#!ipxe",
  "echo Ely: booting w1",
  "kernel http://10.25.89.4:8080/images/client-amd64/b1/vmlinuz initrd=initrd initrd=ramroot ramroot=http://10.25.89.4:8080/images/client-amd64/b1/ramroot.cpio.zst hostname=w1 ely.domain=lab.internal ely.role=client ely.image=client-amd64/b1 ely.util=10.25.89.4:8080 ely.servers=10.25.89.10 BOOTIF=01-00-1e-06-45-28-5c console=ttyS0,115200 quiet || goto failed",
  "initrd --name initrd http://10.25.89.4:8080/images/client-amd64/b1/initrd || goto failed",
  "boot || goto failed",
].join("\n");

test("the command line is the iPXE script's kernel line, without the kernel's URL and the failure branch", () => {
  const params = kernelParamsOfIpxe(IPXE);
  expect(params).toMatchObject({ hostname: "w1", "ely.role": "client", "ely.util": "10.25.89.4:8080", "ely.servers": "10.25.89.10", "ely.domain": "lab.internal", console: "ttyS0,115200" });
  expect(params.ramroot).toBe("http://10.25.89.4:8080/images/client-amd64/b1/ramroot.cpio.zst");
  expect(Object.keys(params)).not.toContain("quiet"); // a word without '=' is no parameter
  expect(Object.values(params).join(" ")).not.toMatch(/goto|\|\|/);
});

test("a boot whose node has no published iPXE script is refused before anything is unpacked or started, and leaves no root", async () => {
  const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-native-boot-test-"));
  const options = { ramrootFile: "/nonexistent/ramroot.cpio.zst", ipxeScript: path.join(rootDir, "00-1e-06-45-28-5c.ipxe"), hostname: "w1", mac: "00:1e:06:45:28:5c", bridge: "none", link: { host: "none", netns: "none", node: "eth0" }, rootDir, awaits: [], journalFile: path.join(rootDir, "journal"), timeoutSeconds: 1, pollMs: 100 };
  await expect(bootNative(options)).rejects.toThrow(`no iPXE script for w1 (00:1e:06:45:28:5c) at ${options.ipxeScript}: is the boot published?`);
  expect(fs.existsSync(rootDir)).toBe(false);
});

test("a script without a kernel line is refused, naming what it received", () => {
  expect(() => kernelParamsOfIpxe("#!ipxe\necho nothing\n")).toThrow(/no 'kernel' line in the iPXE script: received "#!ipxe\\necho nothing/);
});

describe("the native boot's handover matches what the initrd writes", () => {
  const files = handoverFiles(kernelParamsOfIpxe(IPXE), "00:1e:06:45:28:5c", "eth0");
  const init = initScript();

  test("boot.env holds every variable the initrd writes, with this boot's values", () => {
    const initVars = [...init.matchAll(/^(ELY_[A-Z_]+)='/gm)].map((m) => m[1]).sort();
    const env = files[BOOT_ENV_FILE.slice(1)];
    expect([...env.matchAll(/^(ELY_[A-Z_]+)='/gm)].map((m) => m[1]).sort()).toEqual(initVars);
    expect(env).toContain("ELY_HOSTNAME='w1'\n");
    expect(env).toContain("ELY_BOOTIF_MAC='00:1e:06:45:28:5c'\n");
    expect(env).toContain("ELY_BOOT_INTERFACE='eth0'\n");
    expect(env).toContain("ELY_RAMROOT_URL='http://10.25.89.4:8080/images/client-amd64/b1/ramroot.cpio.zst'\n");
  });

  test("the boot interface's networkd file is the initrd's, at its path, for this MAC", () => {
    const initNetwork = new RegExp(`/newroot/${BOOT_INTERFACE_NETWORK_FILE.replace(/\./g, "\\.")} <<NETWORK\n([\\s\\S]*?)NETWORK\n`).exec(init)?.[1];
    expect(initNetwork).toContain("MACAddress=$mac\n");
    expect(files[BOOT_INTERFACE_NETWORK_FILE]).toBe(initNetwork!.replace("$mac", "00:1e:06:45:28:5c"));
  });

  test("the hostname and hosts name the node with its domain", () => {
    expect(files["etc/hostname"]).toBe("w1\n");
    expect(files["etc/hosts"]).toContain("127.0.1.1\tw1.lab.internal w1\n");
  });
});

test("a boot's stretches run from the container's start to ready in Nomad, each from its milestones", () => {
  const s = nativeStretches({ start: 100, userspace: 100.2, sysinit: 100.5, "network-online": 100.6, docker: 101.3, nomad: 101.4, "nomad-registered": 101.7, "nomad-ready": 101.75 });
  expect(s["container start to systemd"]).toBeCloseTo(0.2);
  expect(s["network-online.target to docker ready"]).toBeCloseTo(0.7);
  expect(s["registered to ready in Nomad (the server's view)"]).toBeCloseTo(0.05);
  expect(s["systemd to ready in Nomad"]).toBeCloseTo(1.55);
  // The stretches between systemd and ready add up to it.
  const inner = NATIVE_STRETCHES.slice(1).map(([name]) => s[name]!);
  expect(inner.reduce((a, b) => a + b, 0)).toBeCloseTo(s["systemd to ready in Nomad"]!);
});

test("a milestone the node did not reach leaves its stretches unknown, not zero", () => {
  const s = nativeStretches({ start: 100, userspace: 100.2, sysinit: 100.5, "network-online": 100.6, docker: undefined, nomad: 101.4 });
  expect(s["network-online.target to docker ready"]).toBeUndefined();
  expect(s["docker ready to Nomad started"]).toBeUndefined();
  expect(s["systemd to ready in Nomad"]).toBeUndefined();
  expect(s["systemd to sysinit.target"]).toBeCloseTo(0.3);
});

test("the native boots' inventory is valid: one server, no NFS export for the worker to mount", () => {
  const inventory = parseInventory(nativeInventoryInput(), "native userspace bench inventory");
  expect(inventory.nodes.filter((n) => n.role === "server")).toHaveLength(1);
  expect(inventory.nodes.find((n) => n.role === "util")?.nfsExports ?? []).toEqual([]);
});

test.each([
  [{ boots: 0, cpuFactor: 2.5, bootTimeout: 300 }, ["--boots: received 0, expected a whole number, 1 or more"]],
  [{ boots: 1.5, cpuFactor: 2.5, bootTimeout: 300 }, ["--boots: received 1.5, expected a whole number, 1 or more"]],
  [{ boots: 3, cpuFactor: 0, bootTimeout: 300 }, ["--cpu-factor: received 0, expected a number above 0"]],
  [{ boots: 3, cpuFactor: 2.5, bootTimeout: NaN }, ["--boot-timeout: received NaN, expected seconds above 0"]],
  [{ boots: 3, cpuFactor: 2.5, bootTimeout: 300 }, []],
])("options %j: %j", (options, problems) => {
  expect(userspaceOptionProblems(options)).toEqual(problems);
});

test("bench:userspace reports every problem of its options at once, before any build", () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, "..", "dist", "bench", "userspace.js"), "--boots", "0", "--cpu-factor", "-1", "--boot-timeout", "x"], { encoding: "utf8", timeout: 60_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/failed: Error: --boots: received 0, expected a whole number, 1 or more; --cpu-factor: received -1, expected a number above 0; --boot-timeout: received NaN, expected seconds above 0/);
});
