/**
 * The util node's NFS export for the netboot test: the published, generated exports file
 * (<util root>/boot/current/exports) served by the real nfs-ganesha (e2e/nfs/ganesha.ts), its
 * directories under <work>/nfs-root as the boot service's activation lays them out. On the
 * bridge network it listens on the util address, port 2049, where the node mounts it.
 *
 * On QEMU's user network it listens on 127.0.0.1 and the guest's util:2049 is forwarded to it;
 * that network re-originates the guest's connections on this machine, so the server sees them
 * from 127.0.0.1: the test inventory's export then admits 127.0.0.1 as well as the lab's subnet
 * (see netboot.e2e.test.ts); without it the node is refused, as on a real network.
 */
import * as fs from "fs";
import * as path from "path";
import { nfsExportEntries } from "../../constructs/netboot/nfs-exports";
import { ganeshaConfig, RunningGanesha, startGanesha } from "../nfs/ganesha";
import { PreparedNetboot } from "./harness";
import { QemuOptions } from "./qemu";
import { freePort } from "../free-port";

/** NFSv4's port: all a v4 mount needs (no rpcbind, no mountd). */
export const NFS_PORT = 2049;

export interface UtilNfs {
  /** The directory that stands for the util node's "/": an export /opt/nfs is <root>/opt/nfs. */
  readonly root: string;
  /** User network: the guest's util:2049 -> the server on 127.0.0.1 (BootOptions.forwards). Bridge network: none. */
  readonly forwards: QemuOptions["forwards"];
  readonly server: RunningGanesha;
  stop(): Promise<void>;
}

export async function startUtilNfs(prepared: PreparedNetboot): Promise<UtilNfs> {
  const root = path.join(prepared.work, "nfs-root");
  const stateDir = path.join(prepared.work, "ganesha");
  // The activation step makes each export's directory and its volumes' directories (constructs/netboot/boot-service.ts).
  for (const e of nfsExportEntries(prepared.inventory)) for (const dir of [e.path, ...(e.directories ?? [])]) fs.mkdirSync(path.join(root, dir), { recursive: true });
  const exportsText = fs.readFileSync(path.join(prepared.utilRoot, "boot", "current", "exports"), "utf8");
  const address = prepared.network === "bridge" ? prepared.utilAddress : "127.0.0.1";
  const port = prepared.network === "bridge" ? NFS_PORT : await freePort();
  const server = await startGanesha(ganeshaConfig(exportsText, root, port, stateDir, address), port, stateDir, address);
  const forwards = prepared.network === "bridge" ? [] : [{ guestAddress: prepared.utilAddress, guestPort: NFS_PORT, hostPort: port }];
  return { root, forwards, server, stop: () => server.stop() };
}
