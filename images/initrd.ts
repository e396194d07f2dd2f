/**
 * Assembles the initrd (a gzip-compressed newc cpio) from the image's own root filesystem:
 * its busybox-static, the network drivers with their dependencies and firmware, and the
 * scripts of initrd-files.ts. Only file copies: the same for amd64 and arm64.
 */
import * as fs from "fs";
import * as path from "path";
import execa from "execa";
import { INITRD_MODULE_LIST, INITRD_UDHCPC_SCRIPT } from "./initrd-files";
import { readModuleIndex, resolveModules } from "./kernel-modules";

export interface InitrdOptions {
  /** The image's root filesystem (busybox, /lib/modules/<kernel>). */
  readonly rootfs: string;
  readonly kernelVersion: string;
  readonly initScript: string;
  readonly udhcpcScript: string;
  /** Module names to load, in this order (each after its dependencies). */
  readonly modules: readonly string[];
  /** Scratch directory for the initrd's tree. */
  readonly workDir: string;
  /** The initrd file to write. */
  readonly output: string;
  /** Written as /etc/ely/initrd-release. */
  readonly release: string;
}

export interface InitrdResult {
  /** Module files (relative to /lib/modules/<kernel>) in load order. */
  readonly modules: readonly string[];
  readonly firmware: readonly string[];
}

export async function buildInitrd(options: InitrdOptions): Promise<InitrdResult> {
  const tree = options.workDir;
  fs.rmSync(tree, { recursive: true, force: true });
  for (const dir of ["bin", "dev", "proc", "sys", "run", "tmp", "newroot", "etc/ely", "lib"]) fs.mkdirSync(path.join(tree, dir), { recursive: true });

  const busybox = ["bin/busybox", "usr/bin/busybox"].map((p) => path.join(options.rootfs, p)).find((p) => fs.existsSync(p));
  if (!busybox) throw new Error(`no busybox in the root filesystem (is busybox-static in the package list?)`);
  fs.copyFileSync(busybox, path.join(tree, "bin/busybox"));
  fs.chmodSync(path.join(tree, "bin/busybox"), 0o755);
  // /init's interpreter must exist before /init runs `busybox --install`.
  fs.symlinkSync("busybox", path.join(tree, "bin/sh"));
  fs.symlinkSync("bin", path.join(tree, "sbin"));

  const moduleDir = path.join(options.rootfs, "lib/modules", options.kernelVersion);
  const modules = resolveModules(readModuleIndex(moduleDir), options.modules);
  const firmware = new Set<string>();
  for (const module of modules) {
    const source = path.join(moduleDir, module);
    const dest = path.join(tree, "lib/modules", options.kernelVersion, module.replace(/\.(xz|zst|gz)$/, ""));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    await copyModule(source, dest);
    for (const fw of await firmwareOf(dest)) {
      const fwSource = path.join(options.rootfs, "lib/firmware", fw);
      if (!fs.existsSync(fwSource)) continue;
      const fwDest = path.join(tree, "lib/firmware", fw);
      fs.mkdirSync(path.dirname(fwDest), { recursive: true });
      fs.copyFileSync(fwSource, fwDest);
      firmware.add(fw);
    }
  }
  const loadOrder = modules.map((m) => m.replace(/\.(xz|zst|gz)$/, ""));
  fs.writeFileSync(path.join(tree, INITRD_MODULE_LIST), loadOrder.join("\n") + "\n");
  fs.writeFileSync(path.join(tree, INITRD_UDHCPC_SCRIPT), options.udhcpcScript, { mode: 0o755 });
  fs.writeFileSync(path.join(tree, "etc/ely/initrd-release"), options.release);
  fs.writeFileSync(path.join(tree, "init"), options.initScript, { mode: 0o755 });

  // newc cpio, owned by root, in a stable order; then gzip (every kernel unpacks it).
  const files = (await execa("find", [".", "-mindepth", "1"], { cwd: tree })).stdout.split("\n").sort();
  await execa("sh", ["-c", `cpio --quiet -o -H newc -R 0:0 | gzip -9n > "$1"`, "sh", options.output], { cwd: tree, input: files.join("\n") + "\n" });
  return { modules: loadOrder, firmware: [...firmware].sort() };
}

async function copyModule(source: string, dest: string): Promise<void> {
  if (source.endsWith(".xz")) await execa("sh", ["-c", `xz -dc "$1" > "$2"`, "sh", source, dest]);
  else if (source.endsWith(".zst")) await execa("sh", ["-c", `zstd -qdc "$1" > "$2"`, "sh", source, dest]);
  else if (source.endsWith(".gz")) await execa("sh", ["-c", `gzip -dc "$1" > "$2"`, "sh", source, dest]);
  else fs.copyFileSync(source, dest);
}

/** Firmware files a module asks for (modinfo reads any architecture's modules). */
async function firmwareOf(moduleFile: string): Promise<string[]> {
  try {
    const { stdout } = await execa("modinfo", ["-F", "firmware", moduleFile]);
    return stdout.split("\n").map((l) => l.trim()).filter(Boolean);
  } catch {
    return [];
  }
}
