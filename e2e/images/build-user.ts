/**
 * The unprivileged user the suites build images as: $ELY_BUILD_USER, which .ci/run makes (with
 * its /etc/subuid and /etc/subgid ranges). The suites themselves run as root (the netboot test's
 * network and NFS server, the root build the unprivileged one is compared with); only the build
 * runs as this user, through runuser, with its own home and apt cache.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const BUILD_USER_ENV = "ELY_BUILD_USER";

export interface BuildUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** The user named `name`, from the passwd database; undefined when there is none. */
export function lookupUser(name: string): BuildUser | undefined {
  const entry = spawnSync("getent", ["passwd", name], { encoding: "utf8" });
  if (entry.status !== 0) return undefined;
  const [, , uid, gid, , home] = entry.stdout.trim().split(":");
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/** Why `user` cannot run this checkout's build program, or undefined when it can. */
export function buildUserMissing(name: string | undefined, projectDir: string): string | undefined {
  if (!name) return `${BUILD_USER_ENV} is not set (the unprivileged user that builds; .ci/run makes ely-build)`;
  if (process.getuid?.() !== 0) return `building as ${name} (runuser) needs the suite to run as root`;
  const user = lookupUser(name);
  if (!user) return `${BUILD_USER_ENV}=${name}: no such user (.ci/run makes it: useradd --create-home ${name})`;
  const program = path.join(projectDir, "dist", "images", "build.js");
  const read = spawnSync("runuser", ["-u", name, "--", "test", "-r", program]);
  if (read.status !== 0) return `${name} cannot read ${program}: the checkout and its parent directories must be readable by others (o+rx)`;
  return undefined;
}

/**
 * runuser's arguments that run `command` as `user`, in its own home and apt cache
 * (ELY_APT_CACHE_DIR) unless `aptCacheDir` names another.
 */
export function asUser(user: BuildUser, command: readonly string[], aptCacheDir?: string): string[] {
  return ["-u", user.name, "--", "env", `HOME=${user.home}`, `ELY_APT_CACHE_DIR=${aptCacheDir ?? path.join(user.home, ".cache", "ely", "apt")}`, ...command];
}

/** $ELY_BUILD_USER, checked (a problem throws, naming it); undefined when it is not set. */
export function buildUserFromEnv(projectDir: string, env: NodeJS.ProcessEnv = process.env): BuildUser | undefined {
  const name = env[BUILD_USER_ENV];
  if (!name) return undefined;
  const missing = buildUserMissing(name, projectDir);
  if (missing) throw new Error(missing);
  return lookupUser(name);
}

/**
 * What a build as `user` needs from a suite that runs as root: the builds directory its own (made
 * here when it does not exist yet), and the agent binaries where it can read them: a copy of
 * $ELY_AGENT_BIN_DIR in `scratchDir` when that is root's (~/.cache/ely/bin under a 0700 home). The
 * image's input hash counts the binaries by content, not by path, so the copy builds the same image.
 * Returns the environment for the build.
 */
export function prepareBuildAs(user: BuildUser, artifactsDir: string, scratchDir: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Every directory made here is the user's (its home's .cache/ely/images: each level, not only the last).
  const made: string[] = [];
  for (let dir = path.resolve(artifactsDir); !fs.existsSync(dir); dir = path.dirname(dir)) made.unshift(dir);
  for (const dir of made) {
    fs.mkdirSync(dir);
    fs.chownSync(dir, user.uid, user.gid);
  }
  const agents = env.ELY_AGENT_BIN_DIR;
  if (!agents || !fs.existsSync(agents) || spawnSync("runuser", ["-u", user.name, "--", "test", "-r", agents, "-a", "-x", agents]).status === 0) return env;
  const copy = path.join(scratchDir, `agents-for-${user.name}`);
  fs.cpSync(agents, copy, { recursive: true, verbatimSymlinks: true });
  fs.chmodSync(scratchDir, fs.statSync(scratchDir).mode | 0o005);
  return { ...env, ELY_AGENT_BIN_DIR: copy };
}
