/**
 * The build's root filesystem as an overlay: the cached base (images/base-rootfs.ts) read-only below,
 * the build's own changes (extra packages, agents, Ely's files, the strip step's removals as whiteouts)
 * in the work directory above. Nothing is copied and the base is never written.
 *
 * Mounting needs a private mount namespace (the build's: images/user-namespace.ts), so the mount never
 * outlives the build: when its process ends, so does the namespace and the mount with it. In the
 * unprivileged build's user namespace overlayfs keeps its own attributes as user.overlay.* (userxattr),
 * which that namespace may write.
 */
import * as fs from "fs";
import execa from "execa";

export interface OverlayDirs {
  /** The read-only layer (the base's root filesystem). */
  readonly lower: string;
  /** Where changes go. */
  readonly upper: string;
  /** overlayfs's own scratch directory, on the upper's file system. */
  readonly work: string;
  /** The mount point: the root filesystem the build sees. */
  readonly merged: string;
}

/** mount's arguments; a directory name overlayfs's option syntax cannot carry (",", ":", "\") is refused. */
export function overlayMountArgs(dirs: OverlayDirs, userns: boolean): string[] {
  const bad = Object.entries(dirs).filter(([, dir]) => /[,:\\]/.test(dir));
  if (bad.length) throw new Error(`overlay: ${bad.map(([k, d]) => `${k} directory ${JSON.stringify(d)}`).join(", ")} holds ",", ":" or "\\", which a mount option cannot carry`);
  const options = [`lowerdir=${dirs.lower}`, `upperdir=${dirs.upper}`, `workdir=${dirs.work}`, ...(userns ? ["userxattr"] : [])];
  return ["-t", "overlay", "overlay", "-o", options.join(","), dirs.merged];
}

/**
 * Mounts the overlay. The upper directory's root takes the lower root's owner and mode (overlayfs shows
 * the upper's), so the merged root is the base's.
 */
export async function mountOverlay(dirs: OverlayDirs, userns: boolean): Promise<void> {
  for (const dir of [dirs.upper, dirs.work, dirs.merged]) fs.mkdirSync(dir, { recursive: true });
  const base = fs.statSync(dirs.lower);
  fs.chownSync(dirs.upper, base.uid, base.gid);
  fs.chmodSync(dirs.upper, base.mode & 0o7777);
  const run = await execa("mount", overlayMountArgs(dirs, userns), { reject: false });
  if (run.exitCode !== 0) throw new Error(`mounting the overlay on ${dirs.merged} failed: ${(run.stderr || run.stdout).trim() || `exit ${run.exitCode}`}`);
}

export async function unmountOverlay(merged: string): Promise<void> {
  const run = await execa("umount", [merged], { reject: false });
  if (run.exitCode !== 0) throw new Error(`unmounting ${merged} failed: ${(run.stderr || run.stdout).trim() || `exit ${run.exitCode}`}`);
}

/**
 * For --keep-work: the merged tree copied into a plain directory at `merged` (the mount goes with the
 * build's namespace), so the kept work directory still holds the whole root filesystem.
 */
export async function materializeOverlay(merged: string): Promise<void> {
  const copy = `${merged}.kept`;
  fs.mkdirSync(copy);
  await execa("cp", ["-a", `${merged}/.`, copy]); // not path.join: it drops the "/."
  await unmountOverlay(merged);
  fs.rmdirSync(merged);
  fs.renameSync(copy, merged);
}
