/**
 * `ely flash --node m1 --device /dev/sdX --image raspios.img.xz`: writes a server's SD card
 * (the seed's scripts/install_rasbian), so that the node boots, answers ssh, and the server
 * rollout (constructs/rollout/server-rollout.ts) can take it from there.
 *
 * Refuses, before writing anything:
 * - always: a node that is not in the inventory or does not boot from its card (boot "ssh"),
 *   a device that is not a whole disk, is read-only, or holds this machine's running system
 *   (/, /boot, /usr, /var, swap), an image that is missing or larger than the device;
 * - unless --force: a device with a mounted filesystem, or larger than --max-size-gb (default
 *   128: larger than any SD card a Pi server needs, smaller than most system disks).
 * After writing: the card's boot partition gets the empty `ssh` file (Raspberry Pi OS then
 * starts sshd), and with --ssh-key the root file system gets /etc/hostname and the key in
 * /root/.ssh/authorized_keys, which is what the rollout's default ssh user (root) needs.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { bootModeOf, Inventory } from "../nodes";

export const DEFAULT_MAX_SIZE_GB = 128;
const GB = 1e9;
/** Mount points that mean "this disk runs this machine": never written, even with --force. */
const SYSTEM_MOUNTS = ["/", "/boot", "/boot/efi", "/usr", "/var", "/home", "[SWAP]"];

/** One entry of `lsblk -J -b -o NAME,PATH,TYPE,SIZE,RO,RM,MOUNTPOINTS,MODEL,TRAN`. */
export interface BlockDevice {
  readonly name: string;
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly ro: boolean;
  readonly rm?: boolean;
  readonly mountpoints?: readonly (string | null)[];
  readonly model?: string | null;
  readonly tran?: string | null;
  readonly children?: readonly BlockDevice[];
}

export interface FlashRequest {
  readonly inventory: Inventory;
  readonly hostname: string;
  readonly devicePath: string;
  /** What lsblk says of the device; undefined when it is not a block device. */
  readonly device?: BlockDevice;
  readonly imagePath: string;
  /** Size of the image once decompressed, in bytes; undefined when the image is missing. */
  readonly imageBytes?: number;
  readonly maxSizeGb: number;
  readonly force: boolean;
}

export interface FlashCheck {
  /** Refusals --force cannot override. */
  readonly refusals: string[];
  /** Refusals --force overrides (mounted, larger than the limit). */
  readonly overridable: string[];
  /** Reasons that --force is overriding now. */
  readonly overridden: string[];
}

function mountsOf(device: BlockDevice): string[] {
  const own = (device.mountpoints ?? []).filter((m): m is string => typeof m === "string" && m.length > 0);
  return [...own, ...(device.children ?? []).flatMap(mountsOf)];
}

function gb(bytes: number): string {
  return `${(bytes / GB).toFixed(1)} GB`;
}

/** Whether and why a flash must be refused; pure, so that every rule is tested. */
export function checkFlash(request: FlashRequest): FlashCheck {
  const refusals: string[] = [];
  const overridable: string[] = [];
  const { inventory, hostname, devicePath, device } = request;

  const node = inventory.nodes.find((n) => n.hostname === hostname);
  if (!node) {
    refusals.push(`node ${hostname}: not in the inventory (nodes: ${inventory.nodes.map((n) => n.hostname).join(", ")})`);
  } else if (bootModeOf(node) !== "ssh") {
    refusals.push(`node ${hostname}: field boot: received "${bootModeOf(node)}", expected "ssh": only nodes that boot from their own card are flashed`);
  }

  if (!Number.isFinite(request.maxSizeGb) || request.maxSizeGb <= 0) {
    refusals.push(`--max-size-gb: received ${String(request.maxSizeGb)}, expected a positive number of GB`);
  }

  if (!device) {
    refusals.push(`${devicePath}: not a block device (lsblk does not know it)`);
  } else {
    if (device.type !== "disk") {
      refusals.push(`${devicePath}: received a ${device.type}, expected a whole disk (e.g. /dev/sdb, not /dev/sdb1)`);
    }
    if (device.ro) refusals.push(`${devicePath}: is read-only (the card's lock switch?)`);
    const mounts = mountsOf(device);
    const system = mounts.filter((m) => SYSTEM_MOUNTS.includes(m));
    if (system.length > 0) {
      refusals.push(`${devicePath}: holds this machine's running system (${system.join(", ")}): never written, not even with --force`);
    } else if (mounts.length > 0) {
      overridable.push(`${devicePath}: is mounted (${mounts.join(", ")}): unmount it first, or pass --force`);
    }
    if (device.size > request.maxSizeGb * GB) {
      overridable.push(`${devicePath}: is ${gb(device.size)}, larger than the ${request.maxSizeGb} GB limit for an SD card: pass --max-size-gb or --force if it really is the card`);
    }
    if (request.imageBytes !== undefined && request.imageBytes > device.size) {
      refusals.push(`${request.imagePath}: is ${gb(request.imageBytes)} once decompressed, larger than ${devicePath} (${gb(device.size)})`);
    }
  }
  if (request.imageBytes === undefined) refusals.push(`${request.imagePath}: no such image file`);

  return {
    refusals,
    overridable: request.force ? [] : overridable,
    overridden: request.force ? overridable : [],
  };
}

/** lsblk's view of one device (with its partitions); undefined when it is not a block device. */
export async function describeDevice(devicePath: string): Promise<BlockDevice | undefined> {
  const r = await execa("lsblk", ["-J", "-b", "-o", "NAME,PATH,TYPE,SIZE,RO,RM,MOUNTPOINTS,MODEL,TRAN", devicePath], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const json = JSON.parse(r.stdout) as { blockdevices: BlockDevice[] };
  return json.blockdevices[0];
}

/** The command that streams the image decompressed, by its extension. */
export function decompressorOf(imagePath: string): string[] | undefined {
  if (imagePath.endsWith(".xz")) return ["xz", "-dc", imagePath];
  if (imagePath.endsWith(".gz")) return ["gzip", "-dc", imagePath];
  if (imagePath.endsWith(".zst")) return ["zstd", "-dc", imagePath];
  return undefined;
}

/** Decompressed size: exact for raw and xz images (xz records it), the compressed size as a floor otherwise. */
async function imageBytesOf(imagePath: string): Promise<number | undefined> {
  if (!fs.existsSync(imagePath)) return undefined;
  if (imagePath.endsWith(".xz")) {
    const r = await execa("xz", ["--robot", "--list", imagePath], { reject: false });
    const totals = r.stdout.split("\n").find((l) => l.startsWith("totals"));
    if (totals) return Number(totals.split("\t")[4]);
  }
  return fs.statSync(imagePath).size;
}

export interface FlashOptions {
  readonly node: string;
  readonly device: string;
  readonly image: string;
  readonly sshKey?: string;
  readonly maxSizeGb: number;
  readonly force: boolean;
  readonly dryRun: boolean;
}

function progress(started: number, message: string): void {
  console.log(`[ely flash] ${message} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
}

/** Partitions of the device after writing, by number: /dev/sdb1, /dev/mmcblk0p1, /dev/loop0p1. */
function partitionPath(device: string, n: number): string {
  return /\d$/.test(device) ? `${device}p${n}` : `${device}${n}`;
}

export async function flash(inventory: Inventory, options: FlashOptions): Promise<void> {
  const started = Date.now();
  const device = await describeDevice(options.device);
  const check = checkFlash({
    inventory,
    hostname: options.node,
    devicePath: options.device,
    device,
    imagePath: options.image,
    imageBytes: await imageBytesOf(options.image),
    maxSizeGb: options.maxSizeGb,
    force: options.force,
  });
  const refused = [...check.refusals, ...check.overridable];
  if (refused.length > 0) throw new Error(`refusing to write ${options.device}:\n  ${refused.join("\n  ")}`);
  for (const reason of check.overridden) console.error(`[ely flash] --force: writing although ${reason}`);
  const what = `${options.image} -> ${options.device} (${device!.model ?? "no model"}, ${gb(device!.size)}) for ${options.node}`;
  if (options.dryRun) {
    progress(started, `dry run: would write ${what}`);
    return;
  }
  progress(started, `writing ${what}`);
  const decompress = decompressorOf(options.image);
  const dd = ["dd", `of=${options.device}`, "bs=4M", "conv=fsync", "status=progress", ...(decompress ? [] : [`if=${options.image}`])];
  if (decompress) {
    const source = execa(decompress[0], decompress.slice(1), { buffer: false, stdout: "pipe", stderr: "inherit" });
    const sink = execa(dd[0], dd.slice(1), { stdin: source.stdout!, stderr: "inherit" });
    await Promise.all([source, sink]);
  } else {
    await execa(dd[0], dd.slice(1), { stderr: "inherit" });
  }
  await execa("sync");
  progress(started, "image written");
  await execa("partprobe", [options.device], { reject: false });
  await execa("udevadm", ["settle"], { reject: false });
  await customize(options, started);
  progress(started, `done: put the card in ${options.node}, boot it, then apply the plan (the server rollout takes over over ssh)`);
}

/** Enables sshd on first boot; with --ssh-key, authorizes the key for root and names the host. */
async function customize(options: FlashOptions, started: number): Promise<void> {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "ely-flash-"));
  const mountAnd = async (partition: string, fn: () => void) => {
    await execa("mount", [partition, mnt]);
    try {
      fn();
    } finally {
      await execa("umount", [mnt]);
    }
  };
  try {
    await mountAnd(partitionPath(options.device, 1), () => fs.writeFileSync(path.join(mnt, "ssh"), ""));
    progress(started, "boot partition: ssh enabled");
    if (options.sshKey) {
      const key = fs.readFileSync(options.sshKey, "utf8");
      await mountAnd(partitionPath(options.device, 2), () => {
        fs.mkdirSync(path.join(mnt, "root/.ssh"), { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(mnt, "root/.ssh/authorized_keys"), key, { mode: 0o600 });
        fs.writeFileSync(path.join(mnt, "etc/hostname"), `${options.node}\n`);
      });
      progress(started, `root file system: hostname ${options.node}, ${options.sshKey} authorized for root`);
    }
  } finally {
    fs.rmSync(mnt, { recursive: true, force: true });
  }
}

/** Registers `ely flash` on the CLI. */
export function registerFlashCommand(program: Command, loadInventory: () => Inventory): void {
  program
    .command("flash")
    .description("write a server's SD card image; refuses mounted or oversized devices unless --force")
    .requiredOption("--node <hostname>", "the node the card is for (boot \"ssh\" in the inventory)")
    .requiredOption("--device <path>", "the card's whole-disk device, e.g. /dev/sdb or /dev/mmcblk0")
    .option("--image <file>", "the OS image (.img, .img.xz, .img.gz, .img.zst); default: $ELY_FLASH_IMAGE")
    .option("--ssh-key <file>", "public key authorized for root on the card (the rollout's default ssh user)")
    .option("--max-size-gb <n>", "largest device accepted without --force", String(DEFAULT_MAX_SIZE_GB))
    .option("--force", "write even if the device is mounted or larger than --max-size-gb", false)
    .option("--dry-run", "check and say what would be written, write nothing", false)
    .action(async (o: { node: string; device: string; image?: string; sshKey?: string; maxSizeGb: string; force: boolean; dryRun: boolean }) => {
      const image = o.image ?? process.env.ELY_FLASH_IMAGE;
      if (!image) throw new Error("--image: received nothing, expected the OS image file (or $ELY_FLASH_IMAGE)");
      await flash(loadInventory(), {
        node: o.node,
        device: o.device,
        image,
        sshKey: o.sshKey,
        maxSizeGb: Number(o.maxSizeGb),
        force: o.force,
        dryRun: o.dryRun,
      });
    });
}
