/**
 * Tests that need something of the machine: root, a program, the agents built by
 * e2e/tools/build-tools.sh. Where it is there, they run. Where it is missing they are skipped, and
 * the name says so and why ("... [skipped: dnsmasq is not on PATH]"), which the skip reporter lists
 * at the end of the run. Where ELY_REQUIRE names the requirement (.ci/run sets it to what CI
 * provides), a missing requirement fails the test instead: CI never passes by skipping.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export type Requirement = "root" | "dnsmasq" | "rsync" | "agents" | "nginx" | "ganesha" | "chromium" | "codecs" | "radvd";

/** Debian's Chromium, which mermaid's CLI drives headless to render diagrams (__tests__/graph.test.ts). */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Where the consul and nomad binaries e2e/tools/build-tools.sh builds are: ELY_TEST_AGENT_BIN_DIR,
 * default ~/.cache/ely/bin (not $ELY_AGENT_BIN_DIR, which the tests point elsewhere).
 */
export function testAgentBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ELY_TEST_AGENT_BIN_DIR || path.join(os.homedir(), ".cache", "ely", "bin");
}

function onPath(program: string, env: NodeJS.ProcessEnv): string | undefined {
  return spawnSync(program, ["--version"], { env }).status === 0 ? undefined : `${program} is not on PATH`;
}

/** Why the requirement is not met here, or undefined when it is. */
export function missing(requirement: Requirement, env: NodeJS.ProcessEnv = process.env): string | undefined {
  switch (requirement) {
    case "root":
      return process.getuid?.() === 0 ? undefined : "not running as root";
    case "dnsmasq":
      return onPath("dnsmasq", env);
    case "rsync":
      return onPath("rsync", env);
    case "nginx":
      return spawnSync("nginx", ["-v"], { env }).status === 0 ? undefined : "nginx is not on PATH (apt-get install nginx)";
    case "ganesha":
      return spawnSync("sh", ["-c", "command -v ganesha.nfsd && command -v nfs-cp"], { env }).status === 0
        ? undefined
        : "ganesha.nfsd or nfs-cp is not on PATH (apt-get install nfs-ganesha nfs-ganesha-vfs libnfs-utils)";
    case "chromium":
      return fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is absent (apt-get install chromium)`;
    case "codecs":
      return spawnSync("sh", ["-c", "command -v busybox && command -v pigz && command -v xz && command -v zstd && command -v cpio"], { env }).status === 0
        ? undefined
        : "busybox, pigz, xz, zstd or cpio is not on PATH (apt-get install busybox-static pigz xz-utils zstd cpio)";
    case "radvd":
      // radvd sends the util node's advertisement; ndisc6's rdisc6 solicits one and prints it.
      return spawnSync("sh", ["-c", "command -v radvd && command -v rdisc6"], { env }).status === 0
        ? undefined
        : "radvd or rdisc6 is not on PATH (apt-get install radvd ndisc6)";
    case "agents": {
      const dir = testAgentBinDir(env);
      const absent = ["consul", "nomad"].filter((b) => !fs.existsSync(path.join(dir, b)));
      return absent.length === 0 ? undefined : `no ${absent.join(" or ")} in ${dir} (e2e/tools/build-tools.sh --agents-only builds them)`;
    }
  }
}

/** The requirements ELY_REQUIRE lists (comma-separated). */
export function requiredHere(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ELY_REQUIRE ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

type TestFn = (name: string, fn: jest.ProvidesCallback, timeout?: number) => void;
type DescribeFn = (name: string, fn: () => void) => void;

/**
 * `test` and `describe` for tests that need `requirement`: the plain ones where it is met; where it
 * is not, skipping ones whose names carry the reason, or, where ELY_REQUIRE names it, a failing test.
 */
export function requires(requirement: Requirement, why: string | undefined = missing(requirement)): { test: TestFn; describe: DescribeFn } {
  if (why === undefined) return { test, describe };
  if (requiredHere().includes(requirement)) {
    const fail = (name: string) =>
      test(`${name} [required by ELY_REQUIRE=${process.env.ELY_REQUIRE}]`, () => {
        throw new Error(`requirement "${requirement}" is not met: ${why}`);
      });
    return { test: (name) => fail(name), describe: (name) => describe(name, () => fail("needs " + requirement)) };
  }
  const suffix = ` [skipped: ${why}]`;
  return {
    test: (name, fn, timeout) => test.skip(name + suffix, fn, timeout),
    describe: (name, fn) => describe.skip(name + suffix, fn),
  };
}
