/**
 * Storage from the inventory: the util node's NFS exports and who mounts them, each node's
 * scratch disk, and what backs each host volume (nfs, scratch, ram, local). The rules here
 * relate the storage fields. Inventory strings end up in /etc/exports, systemd units and shell
 * scripts: the schema holds paths and disk identities to characters that cannot break a line
 * (safe-strings.ts), and the rules here skip a path of another shape (the schema's error).
 */
import * as ipaddr from "ipaddr.js";
import { problem, Problem, shown } from "./problems";
import { RuleId } from "./rules";
import { absolutePath } from "./safe-strings";
import { Disk, HostVolume, Inventory, InventoryNode, NfsExport, VolumeBacking } from "./schema";
import { bootModeOf } from "./topology";

const SAFE_PATH = absolutePath("a path");
/** True when `value` is an absolute path of the shape Ely writes into configuration files (ELY-STR-005). */
export function isSafePath(value: string): boolean {
  return SAFE_PATH.safeParse(value).success;
}

/** "/opt/nfs/" -> "/opt/nfs". */
function trimmed(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/** True when `path` is `dir` or below it. */
export function isUnder(path: string, dir: string): boolean {
  const d = trimmed(dir);
  const p = trimmed(path);
  return d === "/" || p === d || p.startsWith(`${d}/`);
}

/** An NFS export with its defaults filled in from the inventory. */
export interface ResolvedNfsExport {
  /** The exporting node (the util node). */
  readonly server: InventoryNode;
  readonly path: string;
  readonly mountPoint: string;
  readonly clients: readonly string[];
  readonly readOnly: boolean;
  readonly rootSquash: boolean;
}

export function resolveExport(inventory: Inventory, server: InventoryNode, e: NfsExport): ResolvedNfsExport {
  const path = trimmed(e.path);
  return {
    server,
    path,
    mountPoint: trimmed(e.mountPoint ?? `/mnt/${path.split("/").filter(Boolean).pop() ?? "nfs"}`),
    clients: e.clients ?? [inventory.network.subnet],
    readOnly: e.readOnly,
    rootSquash: e.rootSquash,
  };
}

/** Every NFS export of the inventory (its util nodes'), defaults filled in. */
export function nfsExportsOf(inventory: Inventory): ResolvedNfsExport[] {
  return inventory.nodes.filter((n) => n.role === "util").flatMap((n) => n.nfsExports.map((e) => resolveExport(inventory, n, e)));
}

/** True when `ip` is one of `clients` (addresses or CIDR subnets). */
export function clientsCover(clients: readonly string[], ip: string): boolean {
  if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return false;
  const address = ipaddr.IPv4.parse(ip);
  return clients.some((c) => {
    try {
      return c.includes("/") ? address.match(ipaddr.IPv4.parseCIDR(c)) : ipaddr.IPv4.parse(c).toString() === address.toString();
    } catch {
      return false;
    }
  });
}

/** The exports a node mounts at boot: a client's, where the export's clients include its address. */
export function nfsMountsOf(inventory: Inventory, node: InventoryNode): ResolvedNfsExport[] {
  if (node.role !== "client") return [];
  return nfsExportsOf(inventory).filter((e) => clientsCover(e.clients, node.ip));
}

/** The node's scratch disks (formatted and mounted at every boot). */
export function scratchDisksOf(node: InventoryNode): Array<Disk & { scratchMountPoint: string }> {
  return (node.hardware?.disks ?? []).filter((d): d is Disk & { scratchMountPoint: string } => d.scratchMountPoint !== undefined);
}

/** What holds a host volume's data: its `backing`, else derived from its path (see hostVolumeSchema). */
export function volumeBackingOf(inventory: Inventory, node: InventoryNode, volume: HostVolume): VolumeBacking {
  if (volume.backing) return volume.backing;
  // Under an export's mount point means NFS, whether or not this node may mount it (a rule checks that).
  if (nfsExportsOf(inventory).some((e) => isUnder(volume.path, e.mountPoint))) return "nfs";
  if (scratchDisksOf(node).some((d) => isUnder(volume.path, d.scratchMountPoint))) return "scratch";
  return bootModeOf(node) === "netboot" ? "ram" : "local";
}

/** Backings whose data is still there after the node reboots. */
export const PERSISTENT_BACKINGS: readonly VolumeBacking[] = ["nfs", "local"];

/** Rules over the storage fields: exports, scratch disks, host volumes and their backing. */
export function validateStorage(inventory: Inventory): Problem[] {
  const problems: Problem[] = [];
  const error = (rule: RuleId, field: string, message: string, node?: string) => problems.push(problem(rule, { field, node }, message));

  inventory.nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    const subject = node.hostname;
    if (node.nfsExports.length > 0 && node.role !== "util") {
      error("ELY-STO-001", `${at}.nfsExports`, `received ${node.nfsExports.length} export(s) on a node with role ${shown(node.role)}, expected exports on the util node only (the NFS host clients mount)`, subject);
    }

    const scratchMounts = new Map<string, number>();
    (node.hardware?.disks ?? []).forEach((disk, j) => {
      const field = `${at}.hardware.disks[${j}]`;
      if (disk.scratchMountPoint === undefined) return;
      if (disk.byId === undefined && disk.serial === undefined) {
        error(
          "ELY-STO-002",
          `${field}.byId`,
          `received nothing (only device ${shown(disk.device)}), expected byId or serial: the disk is formatted at every boot, and a device name can name another disk after a reboot`,
          subject,
        );
      }
      if (bootModeOf(node) !== "netboot") {
        error("ELY-STO-003", `${field}.scratchMountPoint`, `received ${shown(disk.scratchMountPoint)} on a node that boots ${shown(bootModeOf(node))}, expected a netbooted node: its boot image formats and mounts scratch disks`, subject);
      }
      const other = scratchMounts.get(disk.scratchMountPoint);
      if (other !== undefined) error("ELY-STO-004", `${field}.scratchMountPoint`, `received ${shown(disk.scratchMountPoint)}, expected one disk per mount point; disks[${other}] mounts there already`, subject);
      else scratchMounts.set(disk.scratchMountPoint, j);
    });

    const mounts = nfsMountsOf(inventory, node);
    // An address outside the subnet is the address rule's error: not repeated for each of its volumes.
    const addressInSubnet = clientsCover([inventory.network.subnet], node.ip);
    node.hostVolumes.forEach((volume, j) => {
      const field = `${at}.hostVolumes[${j}]`;
      if (!isSafePath(volume.path)) return;
      const onNfs = volumeBackingOf(inventory, node, volume) === "nfs";
      if (onNfs && addressInSubnet && !mounts.some((e) => isUnder(volume.path, e.mountPoint))) {
        const offered = mounts.map((e) => `${e.mountPoint} (${e.server.hostname}:${e.path})`).join(", ");
        const why = node.role === "client" ? "no export of the util node includes this node's address" : "only clients mount the util node's exports";
        error(
          "ELY-STO-005",
          `${field}.path`,
          `received ${shown(volume.path)} for NFS-backed volume ${shown(volume.name)}, expected a path under an NFS mount point of this node: ${offered || `none: ${why}`}`,
          subject,
        );
      }
      if (volume.backing === "scratch" && !scratchDisksOf(node).some((d) => isUnder(volume.path, d.scratchMountPoint))) {
        const offered = scratchDisksOf(node).map((d) => d.scratchMountPoint).join(", ");
        error("ELY-STO-006", `${field}.path`, `received ${shown(volume.path)} for scratch-backed volume ${shown(volume.name)}, expected a path under a scratch disk's mount point of this node: ${offered || "none (hardware.disks[].scratchMountPoint)"}`, subject);
      }
      if (volume.backing === "local" && bootModeOf(node) === "netboot") {
        error("ELY-STO-007", `${field}.backing`, `received "local" on a netbooted node, expected "nfs", "scratch" or "ram": a netbooted node has no root disk`, subject);
      }
      if (volume.backing === "ram" && bootModeOf(node) !== "netboot") {
        error("ELY-STO-008", `${field}.backing`, `received "ram" on a node that boots ${shown(bootModeOf(node))}, expected "local": only a netbooted node runs from RAM`, subject);
      }
    });
  });
  return problems;
}
