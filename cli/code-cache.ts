/**
 * Runs a bundled CommonJS program through V8's code cache, so that a process does not parse and
 * compile the same 3 MB bundle again on every `cdktf synth|diff|deploy`.
 *
 * The cache file holds the SHA-1 of the bundle it was made from, then V8's cached data. It is used only
 * when that hash matches the bundle's and V8 accepts the data (same Node version and flags); otherwise
 * the bundle is compiled from source as usual and, when the program exits with status 0, a new cache is
 * written (into a temporary file, renamed into place). The cache is made after the run, so it holds the
 * functions the run compiled, not only the top level. It holds compiled code and the bundle's own
 * literals, never run-time data.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as vm from "vm";
import Module = require("module");

const HASH_LENGTH = 40;

/** What `runWithCodeCache` found: whether the cache was used, and why not when it was not. */
export type CodeCacheUse = "used" | "missing" | "stale" | "rejected";

function readCache(cacheFile: string, sourceHash: string): { data?: Buffer; state: Exclude<CodeCacheUse, "used" | "rejected"> | "found" } {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(cacheFile);
  } catch {
    return { state: "missing" };
  }
  if (raw.length <= HASH_LENGTH + 1 || raw.subarray(0, HASH_LENGTH).toString("latin1") !== sourceHash) return { state: "stale" };
  return { data: raw.subarray(HASH_LENGTH + 1), state: "found" };
}

function writeCache(cacheFile: string, sourceHash: string, data: Buffer): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${sourceHash}\n`, "latin1"), data]));
    fs.renameSync(tmp, cacheFile);
  } catch {
    // The cache only saves time: a read-only or full disk leaves the program compiling from source.
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Runs `bundleFile` as CommonJS module (with its own `require`, `__filename` and `__dirname`, as
 * `node bundleFile` would) using `cacheFile`; returns how the cache was used.
 */
export function runWithCodeCache(bundleFile: string, cacheFile: string): CodeCacheUse {
  const source = fs.readFileSync(bundleFile, "utf8");
  const sourceHash = crypto.createHash("sha1").update(source).digest("hex");
  const cached = readCache(cacheFile, sourceHash);
  const script = new vm.Script(Module.wrap(source), { filename: bundleFile, cachedData: cached.data });
  const use: CodeCacheUse = cached.state === "found" ? (script.cachedDataRejected ? "rejected" : "used") : cached.state;
  if (use !== "used") {
    process.on("exit", (code) => {
      if (code === 0) writeCache(cacheFile, sourceHash, script.createCachedData());
    });
  }
  const mod = new Module(bundleFile, require.main);
  mod.filename = bundleFile;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(bundleFile));
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeRequire, module: Module, filename: string, dirname: string) => void;
  wrapper.call(mod.exports, mod.exports, Module.createRequire(bundleFile), mod, bundleFile, path.dirname(bundleFile));
  mod.loaded = true;
  return use;
}
