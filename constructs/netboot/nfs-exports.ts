/**
 * The util node's NFS exports, exports(5) syntax, generated from the inventory
 * (nodes/storage.ts). Installed as /etc/exports.d/ely.exports by the boot service's
 * activation step, which then runs `exportfs -ra`.
 */
import { Inventory } from "../../nodes/schema";
import { problem, Problem } from "../../nodes/problems";
import { absolutePath, ipv4AddressOrSubnet, shapeProblemOf } from "../../nodes/safe-strings";
import { isUnder, nfsExportsOf, volumeBackingOf } from "../../nodes/storage";

/** One exported directory. */
export interface NfsExportEntry {
  /** The exported directory on the util node, e.g. "/opt/nfs". */
  readonly path: string;
  /** IPv4 subnets (CIDR) or addresses that may mount it. */
  readonly clients: readonly string[];
  readonly readOnly: boolean;
  /** Map clients' root to nobody. */
  readonly rootSquash: boolean;
  /** Directories made under the export before it is exported (the NFS-backed host volumes). Default: none. */
  readonly directories?: readonly string[];
}

/** Where the activation step installs the generated file (exportfs reads /etc/exports.d/*.exports). */
export const EXPORTS_INSTALL_PATH = "/etc/exports.d/ely.exports";

/** The options of one export: read-write or read-only, synchronous writes, root squashing. */
export function exportOptions(e: NfsExportEntry): string {
  return [e.readOnly ? "ro" : "rw", "sync", "no_subtree_check", e.rootSquash ? "root_squash" : "no_root_squash"].join(",");
}

/** exports(5): one line per directory, each client with its options ("/opt/nfs 10.25.89.0/24(rw,...)"). */
export function renderExports(entries: readonly NfsExportEntry[]): string {
  const lines = [
    `# Ely: the util node's NFS exports, generated from the inventory; do not edit. Installed as ${EXPORTS_INSTALL_PATH}.`,
    ...[...entries].sort((a, b) => a.path.localeCompare(b.path)).map((e) => `${e.path} ${e.clients.map((c) => `${c}(${exportOptions(e)})`).join(" ")}`),
    "",
  ];
  return lines.join("\n");
}

/** Problems of entries given to the boot service directly (the inventory's rules catch them first). */
export function exportEntryProblems(entries: readonly NfsExportEntry[]): Problem[] {
  const problems: Problem[] = [];
  const check = (field: string, shape: Parameters<typeof shapeProblemOf>[0], value: string) => {
    const wrong = shapeProblemOf(shape, value);
    if (wrong) problems.push(problem(wrong.rule, { component: "boot service", field }, `received ${JSON.stringify(value)}, ${wrong.message}`));
  };
  entries.forEach((e, i) => {
    check(`nfsExports[${i}].path`, EXPORT_PATH, e.path);
    (e.directories ?? []).forEach((d, j) => check(`nfsExports[${i}].directories[${j}]`, EXPORT_PATH, d));
    if (e.clients.length === 0) {
      problems.push(problem("ELY-NET-005", { component: "boot service", field: `nfsExports[${i}].clients` }, "received none, expected at least one subnet or address"));
    }
    e.clients.forEach((c, j) => check(`nfsExports[${i}].clients[${j}]`, ipv4AddressOrSubnet, c));
  });
  return problems;
}

const EXPORT_PATH = absolutePath("a directory on the util node");

/**
 * The util node's exports for its boot service: each with the directories of the clients'
 * NFS-backed host volumes under it ("/mnt/nfs/gitea" on a client -> "/opt/nfs/gitea").
 */
export function nfsExportEntries(inventory: Inventory): NfsExportEntry[] {
  return nfsExportsOf(inventory).map((e) => {
    const directories = new Set<string>();
    for (const node of inventory.nodes) {
      for (const volume of node.hostVolumes) {
        if (isUnder(volume.path, e.mountPoint) && volumeBackingOf(inventory, node, volume) === "nfs") {
          directories.add(e.path + volume.path.replace(/\/+$/, "").slice(e.mountPoint.length));
        }
      }
    }
    return { path: e.path, clients: e.clients, readOnly: e.readOnly, rootSquash: e.rootSquash, directories: [...directories].sort() };
  });
}
