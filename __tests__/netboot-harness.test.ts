import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { qemuArgs } from "../e2e/netboot/qemu";
import { bridgeNames, linkLocalOfMac } from "../e2e/netboot/bridge-network";
import { freePort } from "../e2e/free-port";
import { letWorkersRead, nginxMissing, parseAccessLog, startUtilNginx } from "../e2e/netboot/util-nginx";
import { bootConfigOf, renderNginxConf } from "../constructs/netboot/boot-service";

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: urlPath }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("netboot test harness", () => {
  test("a NIC's IPv6 link-local address from its MAC (modified EUI-64): where the test looks for iPXE's router solicitation", () => {
    expect(linkLocalOfMac("00:1e:06:45:28:5c")).toBe("fe80::21e:6ff:fe45:285c");
    expect(linkLocalOfMac("52:54:00:12:34:56")).toBe("fe80::5054:ff:fe12:3456");
    // As Linux formed it for a veth (radvd's log of a test link).
    expect(linkLocalOfMac("12:de:43:cf:ef:a7")).toBe("fe80::10de:43ff:fecf:efa7");
  });

  test("QEMU: software emulation, restricted user network as the lab's subnet, util port forwarded to loopback", () => {
    const args = qemuArgs({
      subnetCidr: "10.25.89.0/24",
      hostAddress: "10.25.89.2",
      dhcpStart: "10.25.89.21",
      mac: "00:1e:06:45:28:5c",
      tftpDir: "/t",
      bootFile: "ely.ipxe",
      forwards: [{ guestAddress: "10.25.89.4", guestPort: 8080, hostPort: 40000 }],
      memoryMb: 2048,
      cpus: 2,
      serialLog: "/s.log",
    });
    expect(args).toEqual(expect.arrayContaining(["pc,accel=tcg", "file:/s.log", "virtio-net-pci,netdev=n0,mac=00:1e:06:45:28:5c,bootindex=1"]));
    const netdev = args[args.indexOf("-netdev") + 1];
    expect(netdev).toBe(
      "user,id=n0,net=10.25.89.0/24,host=10.25.89.2,dhcpstart=10.25.89.21,restrict=on,tftp=/t,bootfile=ely.ipxe," +
        "guestfwd=tcp:10.25.89.4:8080-cmd:busybox nc 127.0.0.1 40000",
    );
  });

  test("QEMU: extra disks are virtio disks with the serial the inventory names", () => {
    const args = qemuArgs({
      subnetCidr: "10.25.89.0/24", hostAddress: "10.25.89.2", dhcpStart: "10.25.89.21", mac: "00:1e:06:45:28:5c", tftpDir: "/t", bootFile: "ely.ipxe",
      forwards: [], memoryMb: 2048, cpus: 2, serialLog: "/s.log", disks: [{ file: "/w/scratch.img", serial: "ELY-E2E-SCRATCH" }],
    });
    expect(args.slice(-4)).toEqual(["-drive", "file=/w/scratch.img,if=none,id=disk0,format=raw", "-device", "virtio-blk-pci,drive=disk0,serial=ELY-E2E-SCRATCH"]);
  });

  test("QEMU: on a tap device, the lab's DHCP and TFTP answer the ROM (no user network, no forwards)", () => {
    const args = qemuArgs({
      subnetCidr: "10.25.89.0/24", hostAddress: "10.25.89.2", dhcpStart: "10.25.89.21", mac: "00:1e:06:45:28:5c", tftpDir: "/t", bootFile: "ely.ipxe",
      forwards: [{ guestAddress: "10.25.89.4", guestPort: 8080, hostPort: 40000 }], memoryMb: 2048, cpus: 2, serialLog: "/s.log", tap: "elynbt1",
    });
    expect(args[args.indexOf("-netdev") + 1]).toBe("tap,id=n0,ifname=elynbt1,script=no,downscript=no");
    expect(args.join(" ")).not.toContain("guestfwd");
  });

  test("bridge network names fit Linux's 15-character interface names", () => {
    for (const id of [1, 99999, 4194304]) {
      const { bridge, tap, veth, serverLink } = bridgeNames(id);
      for (const name of [bridge, tap, veth, serverLink]) expect(name.length).toBeLessThanOrEqual(15);
    }
  });

  const missing = nginxMissing();
  const withNginx = missing ? test.skip : test;
  withNginx(`the util server is nginx with the generated nginx.conf: images, configs, per-MAC scripts, the not-in-inventory script for unknown MACs${missing ? ` (skipped: ${missing})` : ""}`, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-util-"));
    letWorkersRead(root);
    const port = await freePort();
    const stateDir = path.join(root, "nginx-state");
    const config = bootConfigOf({ entries: [], utilAddress: "10.25.89.4", subnetCidr: "10.25.89.0/24", serverAddresses: [], remoteRoot: root, httpListen: `127.0.0.1:${port}`, httpStateDir: stateDir });
    fs.mkdirSync(path.join(root, "images/client-amd64/0123456789abcdef"), { recursive: true });
    fs.writeFileSync(path.join(root, "images/client-amd64/0123456789abcdef/initrd"), "initrd");
    fs.mkdirSync(path.join(root, "boot/releases/r1/ipxe"), { recursive: true });
    fs.mkdirSync(path.join(root, "boot/releases/r1/config/w1"), { recursive: true });
    fs.writeFileSync(path.join(root, "boot/releases/r1/nginx.conf"), renderNginxConf(config));
    fs.writeFileSync(path.join(root, "boot/releases/r1/ipxe/00-1e-06-45-28-5c.ipxe"), "#!ipxe\necho w1\n");
    fs.writeFileSync(path.join(root, "boot/releases/r1/ipxe/unknown.ipxe"), "#!ipxe\necho not in the Ely inventory\n");
    fs.writeFileSync(path.join(root, "boot/releases/r1/config/w1/consul.json"), "{}");
    // A storage unit whose name has systemd's escaping (the node's script asks for "\\" as %5C).
    fs.mkdirSync(path.join(root, "boot/releases/r1/config/w1/storage"));
    fs.writeFileSync(path.join(root, "boot/releases/r1/config/w1/storage/mnt-nfs\\x2ddata.mount"), "[Mount]\n");
    fs.symlinkSync("releases/r1", path.join(root, "boot/current"));
    const server = await startUtilNginx(path.join(root, "boot/current/nginx.conf"), port, stateDir);
    try {
      expect(await get(server.port, "/images/client-amd64/0123456789abcdef/initrd")).toEqual({ status: 200, body: "initrd" });
      expect((await get(server.port, "/ipxe/00-1e-06-45-28-5c.ipxe")).body).toContain("echo w1");
      expect((await get(server.port, "/ipxe/aa-bb-cc-dd-ee-ff.ipxe")).body).toContain("not in the Ely inventory");
      expect(await get(server.port, "/config/w1/consul.json")).toEqual({ status: 200, body: "{}" });
      expect((await get(server.port, "/config/w9/consul.json")).status).toBe(404);
      expect(await get(server.port, "/config/w1/storage/mnt-nfs%5Cx2ddata.mount")).toEqual({ status: 200, body: "[Mount]\n" });
      expect((await get(server.port, "/../../etc/passwd")).status).toBe(400);
      expect((await get(server.port, "/nginx.conf")).status).toBe(404);
    } finally {
      await server.close();
    }
    const requests = server.requests();
    expect(requests.map((r) => r.path)).toEqual([
      "/images/client-amd64/0123456789abcdef/initrd",
      "/ipxe/00-1e-06-45-28-5c.ipxe",
      "/ipxe/aa-bb-cc-dd-ee-ff.ipxe",
      "/config/w1/consul.json",
      "/config/w9/consul.json",
      "/config/w1/storage/mnt-nfs%5Cx2ddata.mount",
      "-", // "/../../etc/passwd": nginx answers 400 before parsing a URI it logs
      "/nginx.conf",
    ]);
    expect(requests.slice(0, 4).map((r) => [r.status, r.bytes > 0])).toEqual([[200, true], [200, true], [200, true], [200, true]]);
    expect(requests.every((r) => r.doneMs >= r.atMs && r.atMs > Date.now() - 60_000)).toBe(true);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test("access log lines of the generated format become request records", () => {
    expect(parseAccessLog("1700000000.250 0.125 200 4096 GET /images/a/initrd\ngarbage\n1700000001.000 0.000 499 10 GET /x\n")).toEqual([
      { atMs: 1700000000125, doneMs: 1700000000250, status: 200, bytes: 4096, path: "/images/a/initrd" },
      { atMs: 1700000001000, doneMs: 1700000001000, status: 499, bytes: 10, path: "/x" },
    ]);
  });
});
