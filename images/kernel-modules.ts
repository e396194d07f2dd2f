/** Kernel module selection from a root filesystem's modules.dep, for the initrd and the ramroot. */
import * as fs from "fs";
import * as path from "path";
import execa from "execa";

export interface ModuleIndex {
  /** "kernel/drivers/net/virtio_net.ko" -> its dependencies (paths), as modules.dep lists them. */
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** Module name ("virtio_net"; "-" and "_" alike) -> path. */
  readonly byName: ReadonlyMap<string, string>;
  readonly builtin: ReadonlySet<string>;
}

export function moduleNameOf(modulePath: string): string {
  return path.basename(modulePath).replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");
}

export function parseModuleIndex(modulesDep: string, modulesBuiltin: string): ModuleIndex {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const file = line.slice(0, colon).trim();
    deps.set(file, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
    byName.set(moduleNameOf(file), file);
  }
  const builtin = new Set(modulesBuiltin.split("\n").map((l) => l.trim()).filter(Boolean).map(moduleNameOf));
  return { deps, byName, builtin };
}

export function readModuleIndex(moduleDir: string): ModuleIndex {
  const builtinFile = path.join(moduleDir, "modules.builtin");
  return parseModuleIndex(
    fs.readFileSync(path.join(moduleDir, "modules.dep"), "utf8"),
    fs.existsSync(builtinFile) ? fs.readFileSync(builtinFile, "utf8") : "",
  );
}

/**
 * The module files to load for `names`, dependencies before dependents, each once.
 * Built-in names are skipped; a name that is neither built in nor a module throws.
 */
export function resolveModules(index: ModuleIndex, names: readonly string[]): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (file: string) => {
    if (order.includes(file) || visiting.has(file)) return;
    visiting.add(file);
    for (const dep of index.deps.get(file) ?? []) visit(dep);
    order.push(file);
  };
  const missing: string[] = [];
  for (const raw of names) {
    const name = raw.replace(/-/g, "_");
    const file = index.byName.get(name);
    if (file) visit(file);
    else if (!index.builtin.has(name)) missing.push(raw);
  }
  if (missing.length) throw new Error(`kernel has neither a module nor a built-in driver for: ${missing.join(", ")}`);
  return order;
}

/**
 * zstd level of the ramroot's kernel modules. Debian ships them uncompressed (234 MiB on disk in
 * the full image, a quarter of what the kernel unpacks at every boot); kmod (modprobe, udev) reads
 * `.ko.zst` and decompresses a module when it loads it. Every build compresses them again (the
 * strip step runs after the initrd took its modules as they are), so the level is the fast one:
 * measured on this machine's 2942 modules, level 3 took 2.1 s for 71 MiB, 9 took 7.3 s for 66 MiB,
 * 19 took 79 s for 61 MiB (BENCHMARKS.md).
 */
export const MODULE_ZSTD_LEVEL = 3;

/** Files given to one zstd command: far below the argument list's limit. */
const ZSTD_BATCH = 500;

/**
 * Compresses every uncompressed module (`*.ko`) under `moduleDir` with zstd, in place: `x.ko`
 * becomes `x.ko.zst` with the same mode and owner, and the `.ko` is removed only once its
 * `.zst` is written (zstd --rm). The caller runs depmod afterwards (modules.dep names the new files).
 * Returns the modules' bytes before and after.
 */
export async function compressModules(moduleDir: string, level: number = MODULE_ZSTD_LEVEL): Promise<{ files: number; bytesBefore: number; bytesAfter: number }> {
  const modules = listModuleFiles(path.join(moduleDir, "kernel")).filter((f) => f.endsWith(".ko"));
  const bytesBefore = modules.reduce((sum, f) => sum + fs.statSync(f).size, 0);
  for (let i = 0; i < modules.length; i += ZSTD_BATCH) {
    await execa("zstd", ["-q", "--rm", "-f", `-${level}`, "-T0", "--", ...modules.slice(i, i + ZSTD_BATCH)]);
  }
  const bytesAfter = modules.reduce((sum, f) => sum + fs.statSync(`${f}.zst`).size, 0);
  return { files: modules.length, bytesBefore, bytesAfter };
}

function listModuleFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listModuleFiles(path.join(dir, e.name)) : e.isFile() ? [path.join(dir, e.name)] : []));
}
