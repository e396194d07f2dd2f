/** `ely flash`: every refusal rule, on lsblk's view of typical devices; and the CLI refusing for real. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { BlockDevice, checkFlash, decompressorOf, DEFAULT_MAX_SIZE_GB, FlashRequest } from "../cli/flash";
import { defaultInventory, inventoryWith } from "./helpers/inventory";

const GB = 1e9;

/** A 32 GB SD card in a USB reader, nothing mounted (what lsblk -J -b prints). */
function sdCard(over: Partial<BlockDevice> = {}, partitions: Partial<BlockDevice>[] = [{}, {}]): BlockDevice {
  return {
    name: "sdb",
    path: "/dev/sdb",
    type: "disk",
    size: 31.9 * GB,
    ro: false,
    rm: true,
    mountpoints: [null],
    model: "SD/MMC",
    tran: "usb",
    children: partitions.map((p, i) => ({ name: `sdb${i + 1}`, path: `/dev/sdb${i + 1}`, type: "part", size: 10 * GB, ro: false, mountpoints: [null], ...p })),
    ...over,
  };
}

function request(over: Partial<FlashRequest> = {}): FlashRequest {
  return {
    inventory: defaultInventory(),
    hostname: "m1",
    devicePath: "/dev/sdb",
    device: sdCard(),
    imagePath: "raspios.img.xz",
    imageBytes: 2.8 * GB,
    maxSizeGb: DEFAULT_MAX_SIZE_GB,
    force: false,
    ...over,
  };
}

describe("ely flash refuses", () => {
  test("nothing to refuse: an unmounted 32 GB card for a server that boots from it", () => {
    expect(checkFlash(request())).toEqual({ refusals: [], overridable: [], overridden: [] });
  });

  test("a mounted card, unless --force", () => {
    const mounted = request({ device: sdCard({}, [{ mountpoints: ["/media/pi/bootfs"] }, { mountpoints: ["/media/pi/rootfs"] }]) });
    expect(checkFlash(mounted).overridable).toEqual(["/dev/sdb: is mounted (/media/pi/bootfs, /media/pi/rootfs): unmount it first, or pass --force"]);
    expect(checkFlash({ ...mounted, force: true })).toEqual({
      refusals: [],
      overridable: [],
      overridden: ["/dev/sdb: is mounted (/media/pi/bootfs, /media/pi/rootfs): unmount it first, or pass --force"],
    });
  });

  test("a device larger than the limit (default 128 GB), unless --force or a higher --max-size-gb", () => {
    const disk = request({ device: sdCard({ size: 500.1 * GB, rm: false, tran: "sata", model: "Samsung SSD" }) });
    expect(checkFlash(disk).overridable).toEqual([
      "/dev/sdb: is 500.1 GB, larger than the 128 GB limit for an SD card: pass --max-size-gb or --force if it really is the card",
    ]);
    expect(checkFlash({ ...disk, maxSizeGb: 512 }).overridable).toEqual([]);
    expect(checkFlash({ ...disk, force: true }).overridden).toHaveLength(1);
  });

  test("this machine's own system disk, even with --force", () => {
    const system = request({ devicePath: "/dev/nvme0n1", device: sdCard({ path: "/dev/nvme0n1", size: 100 * GB }, [{ mountpoints: ["/boot/efi"] }, { mountpoints: ["/"] }, { mountpoints: ["[SWAP]"] }]), force: true });
    expect(checkFlash(system).refusals).toEqual(["/dev/nvme0n1: holds this machine's running system (/boot/efi, /, [SWAP]): never written, not even with --force"]);
  });

  test("the running system behind LVM or crypt is found through the children", () => {
    const lvm = sdCard({}, [{ children: [{ name: "vg-root", path: "/dev/mapper/vg-root", type: "lvm", size: 20 * GB, ro: false, mountpoints: ["/"] }] }]);
    expect(checkFlash(request({ device: lvm, force: true })).refusals).toEqual([
      "/dev/sdb: holds this machine's running system (/): never written, not even with --force",
    ]);
  });

  test("a partition, a read-only card, a device lsblk does not know", () => {
    expect(checkFlash(request({ devicePath: "/dev/sdb1", device: { ...sdCard().children![0] } })).refusals).toEqual([
      "/dev/sdb1: received a part, expected a whole disk (e.g. /dev/sdb, not /dev/sdb1)",
    ]);
    expect(checkFlash(request({ device: sdCard({ ro: true }), force: true })).refusals).toEqual(["/dev/sdb: is read-only (the card's lock switch?)"]);
    expect(checkFlash(request({ devicePath: "/dev/sdz", device: undefined })).refusals).toEqual(["/dev/sdz: not a block device (lsblk does not know it)"]);
  });

  test("a node not in the inventory, or one that does not boot from a card", () => {
    expect(checkFlash(request({ hostname: "m9" })).refusals).toEqual(["node m9: not in the inventory (nodes: util, m1, m2, m3, w1, w2, w3)"]);
    expect(checkFlash(request({ hostname: "w1" })).refusals).toEqual([
      'node w1: field boot: received "netboot", expected "ssh": only nodes that boot from their own card are flashed',
    ]);
    const local = inventoryWith((i) => (i.nodes[1].boot = "local"));
    expect(checkFlash(request({ inventory: local })).refusals[0]).toMatch(/^node m1: field boot: received "local"/);
  });

  test("a missing image, or one larger than the card", () => {
    expect(checkFlash(request({ imageBytes: undefined })).refusals).toEqual(["raspios.img.xz: no such image file"]);
    expect(checkFlash(request({ imageBytes: 40 * GB })).refusals).toEqual(["raspios.img.xz: is 40.0 GB once decompressed, larger than /dev/sdb (31.9 GB)"]);
  });

  test("--force overrides only the overridable", () => {
    const everything = request({ hostname: "w1", device: sdCard({ size: 1000 * GB }, [{ mountpoints: ["/mnt/x"] }]), force: true });
    const check = checkFlash(everything);
    expect(check.refusals).toHaveLength(1);
    expect(check.overridden).toHaveLength(2);
  });

  test("an invalid limit", () => {
    expect(checkFlash(request({ maxSizeGb: Number("lots") })).refusals).toEqual(["--max-size-gb: received NaN, expected a positive number of GB"]);
  });
});

test("images are decompressed by extension", () => {
  expect(decompressorOf("a.img.xz")).toEqual(["xz", "-dc", "a.img.xz"]);
  expect(decompressorOf("a.img.gz")).toEqual(["gzip", "-dc", "a.img.gz"]);
  expect(decompressorOf("a.img")).toBeUndefined();
});

describe("the CLI", () => {
  const ely = path.join(__dirname, "..", "dist", "cli", "ely.js");
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-flash-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[]) => execa(process.execPath, [ely, "flash", ...args], { cwd: dir, reject: false, env: { ELY_INVENTORY: "", ELY_FLASH_IMAGE: "" } });

  test("refuses a regular file as device and a client node, writing nothing", async () => {
    const notADevice = path.join(dir, "disk.img");
    fs.writeFileSync(notADevice, "");
    const image = path.join(dir, "os.img");
    fs.writeFileSync(image, "image");
    const r = await run(["--node", "w1", "--device", notADevice, "--image", image, "--force"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `ely: refusing to write ${notADevice}:\n` +
        '  node w1: field boot: received "netboot", expected "ssh": only nodes that boot from their own card are flashed\n' +
        `  ${notADevice}: not a block device (lsblk does not know it)`,
    );
    expect(fs.readFileSync(notADevice, "utf8")).toBe("");
  });

  test("needs an image", async () => {
    const r = await run(["--node", "m1", "--device", "/dev/null"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe("ely: --image: received nothing, expected the OS image file (or $ELY_FLASH_IMAGE)");
  });
});
