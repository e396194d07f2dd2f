/**
 * The image build's work directory (root filesystem, artifacts, log): `.<build id>.work-XXXXXX`
 * beside the build's final directory. A build that is killed cannot clean up after itself in
 * every case, so the work directory records its owner (process id and boot id), SIGINT, SIGTERM
 * and SIGHUP remove it, and the next build removes those whose owner is gone.
 */
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import execa from "execa";

const OWNER_FILE = "owner";
/** The owner of a work directory kept on purpose (--keep-work): never stale. */
const KEPT = "kept";
const WORK_DIR_PATTERN = /^\..+\.work-[A-Za-z0-9]+$/;
/** A work directory without an owner file this recent may be a build's that is just starting. */
const UNOWNED_GRACE_MS = 60_000;

/** Creates the work directory of a build whose final directory is outDir, owned by this process. */
export function createWorkDir(outDir: string): string {
  const work = fs.mkdtempSync(path.join(path.dirname(outDir), `.${path.basename(outDir)}.work-`));
  fs.writeFileSync(path.join(work, OWNER_FILE), `${process.pid} ${bootId()}\n`);
  return work;
}

/**
 * Removes the work directories in `dir` (an image's directory of builds) whose build is gone:
 * its process no longer runs, or the machine rebooted since. Returns what it removed.
 */
export function removeStaleWorkDirs(dir: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return []; // no build of this image yet
  }
  const removed: string[] = [];
  for (const name of entries.filter((e) => WORK_DIR_PATTERN.test(e))) {
    const work = path.join(dir, name);
    if (ownerIsAlive(work)) continue;
    removeTree(work);
    removed.push(work);
  }
  return removed;
}

/** Marks a work directory as kept on purpose (--keep-work): later builds leave it alone. */
export function keepWorkDir(work: string): void {
  fs.writeFileSync(path.join(work, OWNER_FILE), KEPT + "\n");
}

function ownerIsAlive(work: string): boolean {
  let owner: string;
  try {
    owner = fs.readFileSync(path.join(work, OWNER_FILE), "utf8");
  } catch {
    try {
      return Date.now() - fs.statSync(work).mtimeMs < UNOWNED_GRACE_MS;
    } catch {
      return true; // gone meanwhile: nothing to remove
    }
  }
  if (owner.trim() === KEPT) return true;
  const [pid, boot] = owner.trim().split(" ");
  if (boot !== bootId()) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
}

function bootId(): string {
  try {
    return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/**
 * Removes a work directory without leaving its file system: a root filesystem may still have
 * something mounted inside (a killed mmdebstrap), which is left alone rather than emptied.
 */
export function removeTree(dir: string): void {
  execFileSync("rm", removeArgs(dir), { stdio: "ignore" });
}

/** removeTree without blocking (rm -rf is faster than fs.rm on a root filesystem). */
export async function removeTreeAsync(dir: string): Promise<void> {
  await execa("rm", removeArgs(dir), { reject: false });
}

function removeArgs(dir: string): string[] {
  return ["-rf", "--one-file-system", dir];
}

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Until the returned function is called: on SIGINT, SIGTERM or SIGHUP, removes `dir` and exits
 * with 128 + the signal's number (the shell's convention), as a killed build would.
 */
export function removeOnSignal(dir: string, log: (line: string) => void = (l) => process.stderr.write(l + "\n")): () => void {
  const handlers = Object.entries(SIGNALS).map(([signal, number]) => {
    const handler = () => {
      log(`${signal}: removing the work directory ${dir}`);
      try {
        removeTree(dir);
      } finally {
        process.exit(128 + number);
      }
    };
    process.once(signal as NodeJS.Signals, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  };
}
