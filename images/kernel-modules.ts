/** Kernel module selection from a root filesystem's modules.dep, for the initrd and the ramroot. */
import * as fs from "fs";
import * as path from "path";

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
