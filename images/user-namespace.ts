/**
 * The image build without root. Run by a user other than root, `node dist/images/build.js` runs
 * itself again in a user namespace where it is root, as podman's rootless mode does:
 *
 *   unshare --user --map-auto --map-root-user   (util-linux 2.38)
 *     id 0 inside           -> the user (the output, the work directory and the apt cache are the user's files)
 *     ids 1-65535 inside    -> the user's first range in /etc/subuid and /etc/subgid (newuidmap, newgidmap)
 *
 * Inside, mmdebstrap --mode=unshare adds its mount, pid, uts and ipc namespaces (it is already root
 * there, so it adds no user namespace of its own), and every later step (Ely's files, the kernel, the
 * initrd, depmod, the ramroot's tar) sees the root filesystem's owners as a root build does: the
 * ramroot archive holds 0:0 for root's files, the _apt user's 42, and so on. The only programs that
 * run with root's privileges are newuidmap and newgidmap (setuid, from the `uidmap` package), which
 * map the subordinate ids that /etc/subuid and /etc/subgid grant the user.
 *
 * What the machine needs is checked first, and every missing piece is named at once.
 *
 * Either way the build runs in a private mount namespace (`--mount`; run by root, `unshare --mount`
 * alone): it mounts its root filesystem as an overlay on the cached base (images/overlay.ts), and the
 * mount goes with the namespace when the build ends, however it ends.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import execa from "execa";

/** Set in the namespace's environment: the build is the re-run one. */
export const USERNS_ENV = "ELY_IMAGE_USERNS";
/** Set in the environment of a build re-run in its private mount namespace (root's and the user namespace's). */
export const MOUNTNS_ENV = "ELY_IMAGE_MOUNTNS";

/** Ids an image uses: 0 (mapped to the user) and 1-65535 (nobody and nogroup are 65534): the subordinate range must hold this many. */
export const SUBORDINATE_IDS_NEEDED = 65535;

/** The command that makes the namespace; the build's own command line follows it. */
export const UNSHARE_ARGS = ["--user", "--map-auto", "--map-root-user", "--mount", "--"];
/** The same for a build run by root: a private mount namespace only. */
export const ROOT_UNSHARE_ARGS = ["--mount", "--"];

/** What decides whether this machine can build unprivileged (readUsernsFacts reads it; tests make it up). */
export interface UsernsFacts {
  readonly user: string;
  readonly uid: number;
  /** /etc/subuid and /etc/subgid, or undefined when the file is missing. */
  readonly subuid?: string;
  readonly subgid?: string;
  /** Programs found on PATH. */
  readonly newuidmap: boolean;
  readonly newgidmap: boolean;
  /** `unshare --help` mentions --map-auto (util-linux 2.38 and later); undefined when there is no unshare. */
  readonly unshareMapAuto?: boolean;
  /** /proc/sys values, undefined where the file does not exist (the kernel has no such switch). */
  readonly maxUserNamespaces?: string;
  readonly unprivilegedUsernsClone?: string;
  readonly apparmorRestrictUnprivilegedUserns?: string;
}

/** The user's first range in a subordinate id file ("name-or-uid:start:count" lines), as --map-auto takes it. */
export function firstSubordinateRange(content: string, user: string, uid: number): { start: number; count: number } | undefined {
  for (const line of content.split("\n")) {
    const [owner, start, count] = line.trim().split(":");
    if (owner !== user && owner !== String(uid)) continue;
    if (!/^\d+$/.test(start ?? "") || !/^\d+$/.test(count ?? "")) continue;
    return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

/** The first id from 100000 on that no range of either file holds, with room for 65536 ids (usermod's suggestion). */
export function freeSubordinateStart(...contents: ReadonlyArray<string | undefined>): number {
  let start = 100000;
  for (const content of contents) {
    for (const line of (content ?? "").split("\n")) {
      const [, from, count] = line.trim().split(":");
      if (/^\d+$/.test(from ?? "") && /^\d+$/.test(count ?? "")) start = Math.max(start, Number(from) + Number(count));
    }
  }
  return start;
}

/** Every reason this machine cannot build unprivileged, each naming what to install or configure. Empty when it can. */
export function usernsProblems(f: UsernsFacts): string[] {
  const problems: string[] = [];
  const who = `${f.user} (uid ${f.uid})`;
  const from = freeSubordinateStart(f.subuid, f.subgid);
  const range = `${from}-${from + SUBORDINATE_IDS_NEEDED}`;
  const grant = `as root, once: usermod --add-subuids ${range} --add-subgids ${range} ${f.user}`;
  if (f.unshareMapAuto === undefined) problems.push("unshare is missing (Debian: apt-get install util-linux)");
  else if (!f.unshareMapAuto) problems.push("unshare has no --map-auto: util-linux 2.38 or later is needed (Debian 12 has it)");
  const missingTools = [f.newuidmap ? undefined : "newuidmap", f.newgidmap ? undefined : "newgidmap"].filter((t): t is string => t !== undefined);
  if (missingTools.length) problems.push(`${missingTools.join(" and ")} ${missingTools.length > 1 ? "are" : "is"} missing (Debian: apt-get install uidmap)`);
  for (const [file, content] of [["/etc/subuid", f.subuid], ["/etc/subgid", f.subgid]] as const) {
    const own = content === undefined ? undefined : firstSubordinateRange(content, f.user, f.uid);
    if (content === undefined) problems.push(`${file} is missing: ${grant}`);
    else if (!own) problems.push(`${file} has no range for ${who}: ${grant}`);
    else if (own.count < SUBORDINATE_IDS_NEEDED) {
      problems.push(`${file} gives ${who} ${own.count} ids from ${own.start} (its first range), the build needs ${SUBORDINATE_IDS_NEEDED} (an image's ids 1-65535): ${grant}`);
    }
  }
  if (f.maxUserNamespaces !== undefined && f.maxUserNamespaces.trim() === "0") {
    problems.push("user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0 (as root: sysctl -w user.max_user_namespaces=15000)");
  }
  if (f.unprivilegedUsernsClone !== undefined && f.unprivilegedUsernsClone.trim() === "0") {
    problems.push("unprivileged user namespaces are disabled: /proc/sys/kernel/unprivileged_userns_clone is 0 (as root: sysctl -w kernel.unprivileged_userns_clone=1)");
  }
  if (f.apparmorRestrictUnprivilegedUserns !== undefined && f.apparmorRestrictUnprivilegedUserns.trim() === "1") {
    problems.push(
      "AppArmor restricts unprivileged user namespaces: /proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1 " +
        "(as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile allowing userns for unshare)",
    );
  }
  return problems;
}

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

async function onPath(tool: string): Promise<boolean> {
  return (await execa("sh", ["-c", `command -v "$1"`, "sh", tool], { reject: false })).exitCode === 0;
}

/** This machine's facts, for the calling user. */
export async function readUsernsFacts(): Promise<UsernsFacts> {
  const unshareHelp = (await onPath("unshare")) ? (await execa("unshare", ["--help"], { reject: false })).stdout : undefined;
  return {
    user: os.userInfo().username,
    uid: process.getuid ? process.getuid() : -1,
    subuid: readOptional("/etc/subuid"),
    subgid: readOptional("/etc/subgid"),
    newuidmap: await onPath("newuidmap"),
    newgidmap: await onPath("newgidmap"),
    unshareMapAuto: unshareHelp === undefined ? undefined : unshareHelp.includes("--map-auto"),
    maxUserNamespaces: readOptional("/proc/sys/user/max_user_namespaces"),
    unprivilegedUsernsClone: readOptional("/proc/sys/kernel/unprivileged_userns_clone"),
    apparmorRestrictUnprivilegedUserns: readOptional("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
  };
}

/**
 * Why this machine cannot build unprivileged, or undefined when it can: the facts' problems, and
 * when there are none, a real namespace made the build's way (a kernel or a container policy may
 * still refuse it).
 */
export async function unprivilegedBuildMissing(): Promise<string | undefined> {
  const problems = usernsProblems(await readUsernsFacts());
  if (problems.length === 0) {
    const probe = await execa("unshare", [...UNSHARE_ARGS, "sh", "-c", "cat /proc/self/uid_map"], { reject: false });
    const lines = probe.stdout.trim().split("\n").filter(Boolean);
    if (probe.exitCode !== 0) problems.push(`unshare ${UNSHARE_ARGS.slice(0, -1).join(" ")} failed: ${(probe.stderr || probe.stdout).trim() || `exit ${probe.exitCode}`}`);
    else if (lines.length < 2) problems.push(`unshare ${UNSHARE_ARGS.slice(0, -1).join(" ")} mapped only ${JSON.stringify(probe.stdout.trim())}: the subordinate ids are not mapped`);
  }
  if (problems.length === 0) return undefined;
  return `the image build runs as root or, unprivileged, in a user namespace; for that this machine lacks: ${problems.join("; ")}`;
}

/** True in the namespace the build re-runs in: root there, in a private mount namespace. */
export function inBuildNamespace(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[MOUNTNS_ENV] === "1" && process.getuid?.() === 0;
}

/** True in the user namespace an unprivileged build re-runs in. */
export function inUserNamespace(env: NodeJS.ProcessEnv = process.env): boolean {
  return inBuildNamespace(env) && env[USERNS_ENV] === "1";
}

/**
 * Runs `node <script> <args>` in the build's namespace (`user`: the user namespace with its own mount
 * namespace; `root`: a private mount namespace), passing on SIGINT, SIGTERM and SIGHUP (the build inside
 * removes its work directory on them); resolves with its exit code.
 */
export function runInBuildNamespace(script: string, args: readonly string[], kind: "user" | "root" = "user"): Promise<number> {
  return new Promise((resolve) => {
    const unshare = kind === "user" ? UNSHARE_ARGS : ROOT_UNSHARE_ARGS;
    const env = { ...process.env, [MOUNTNS_ENV]: "1", ...(kind === "user" ? { [USERNS_ENV]: "1" } : {}) };
    const child = spawn("unshare", [...unshare, process.execPath, script, ...args], { stdio: "inherit", env });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    child.on("error", (e) => {
      process.stderr.write(`ely-image: could not start unshare: ${e.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => {
      for (const [s, h] of handlers) process.removeListener(s, h);
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
    });
  });
}
