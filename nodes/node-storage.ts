/**
 * A netbooted node's storage at boot, generated per node from the inventory and served with
 * its agent configuration (http://<util>/config/<hostname>/storage/): systemd units that the
 * image's ely-storage.service fetches into /run/systemd/system and starts, in the order of
 * storage/units, before Consul and Nomad start:
 *   - one .mount unit per NFS export of the util node that includes the node's address;
 *   - one ely-scratch-<mount>.service per scratch disk: finds the disk by the serial or by-id
 *     name the inventory gives (never by device name), formats it and mounts it, every boot;
 *   - ely-volumes.service: the host volumes' directories, made once their storage is mounted.
 * Units come over plain HTTP like the images: they hold no secret.
 */
import { Inventory, InventoryNode } from "./schema";
import { nfsMountsOf, scratchDisksOf } from "./storage";

/** Directory of a node's storage files in its configuration (served under /config/<hostname>/). */
export const STORAGE_DIR = "storage";
/** The list of units, one per line, in start order. */
export const STORAGE_INDEX = "units";
/** Where the image's programs live (images/rootfs-files.ts). */
export const SCRATCH_DISK_PROGRAM = "/usr/local/lib/ely/scratch-disk";
/** How long a mount or a scratch disk may take before the node gives up on it. */
export const NFS_MOUNT_TIMEOUT_S = 90;
export const SCRATCH_TIMEOUT_S = 300;

/** systemd's path escaping (systemd-escape --path) for the paths the inventory rules allow. */
export function systemdEscapePath(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, "");
  if (trimmed === "") return "-";
  return trimmed
    .split("/")
    .filter(Boolean)
    .map((part) =>
      [...part]
        .map((ch, i) => (/[A-Za-z0-9:_]/.test(ch) || (ch === "." && i > 0) ? ch : `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`))
        .join(""),
    )
    .join("-");
}

const AGENTS = "consul.service nomad.service";

function nfsMountUnit(node: InventoryNode, serverIp: string, serverName: string, exportPath: string, mountPoint: string, readOnly: boolean): string {
  const options = [readOnly ? "ro" : "rw", "nfsvers=4", "hard", "timeo=100", "retrans=3", "retry=1", "_netdev"].join(",");
  return `# Ely: ${node.hostname} mounts the util node's export ${serverName}:${exportPath}. Generated from the inventory; do not edit.
[Unit]
Description=Ely: NFS ${serverName}:${exportPath} on ${mountPoint}
Wants=network-online.target
After=network-online.target
Before=${AGENTS}

[Mount]
What=${serverIp}:${exportPath}
Where=${mountPoint}
Type=nfs
Options=${options}
TimeoutSec=${NFS_MOUNT_TIMEOUT_S}
`;
}

function scratchUnit(node: InventoryNode, disk: ReturnType<typeof scratchDisksOf>[number]): string {
  const identity = [disk.serial !== undefined ? `--serial ${disk.serial}` : "", disk.byId !== undefined ? `--by-id ${disk.byId}` : ""].filter(Boolean).join(" ");
  const named = [disk.serial !== undefined ? `serial ${disk.serial}` : "", disk.byId !== undefined ? `by-id ${disk.byId}` : ""].filter(Boolean).join(", ");
  return `# Ely: ${node.hostname}'s scratch disk (${named}; ${disk.device}, ${disk.sizeGb} GB ${disk.kind}), formatted at every boot. Generated from the inventory; do not edit.
[Unit]
Description=Ely: scratch disk (${named}) on ${disk.scratchMountPoint}, formatted at every boot
Before=${AGENTS}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${SCRATCH_DISK_PROGRAM} ${identity} --mount ${disk.scratchMountPoint}
TimeoutStartSec=${SCRATCH_TIMEOUT_S}
StandardOutput=journal+console
`;
}

function volumesUnit(node: InventoryNode, after: readonly string[]): string {
  const paths = [...new Set(node.hostVolumes.map((v) => v.path))].sort();
  return `# Ely: ${node.hostname}'s host volumes' directories, made on their storage. Generated from the inventory; do not edit.
[Unit]
Description=Ely: host volume directories
${after.length ? `Requires=${after.join(" ")}\nAfter=${after.join(" ")}\n` : ""}Before=${AGENTS}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mkdir -p ${paths.join(" ")}
`;
}

/** A node's storage files (relative to its configuration directory), or none when it has no storage to set up. */
export function renderNodeStorage(inventory: Inventory, node: InventoryNode): Map<string, string> {
  const units: Array<[string, string]> = [];
  for (const e of nfsMountsOf(inventory, node)) {
    units.push([`${systemdEscapePath(e.mountPoint)}.mount`, nfsMountUnit(node, e.server.ip, e.server.hostname, e.path, e.mountPoint, e.readOnly)]);
  }
  for (const disk of scratchDisksOf(node)) {
    units.push([`ely-scratch-${systemdEscapePath(disk.scratchMountPoint)}.service`, scratchUnit(node, disk)]);
  }
  if (node.hostVolumes.length > 0) units.push(["ely-volumes.service", volumesUnit(node, units.map(([name]) => name))]);
  const files = new Map<string, string>();
  if (units.length === 0) return files;
  files.set(`${STORAGE_DIR}/${STORAGE_INDEX}`, units.map(([name]) => name).join("\n") + "\n");
  for (const [name, text] of units) files.set(`${STORAGE_DIR}/${name}`, text);
  return files;
}
