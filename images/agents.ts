/**
 * The Consul and Nomad binaries an image ships, from one of two sources:
 * - "official": the HashiCorp release archives, verified against the release's SHA256SUMS
 *   (and against a pinned sum when one is given);
 * - "dir": a local directory, for offline builds (this project's CI): per binary, the first of
 *   <dir>/linux_<arch>/<name>, <dir>/<name>_<version>_linux_<arch>.zip, <dir>/<name>.
 * A binary's ELF header must match the image's architecture.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ImageArch } from "./layout";
import { DOWNLOAD_IDLE_TIMEOUT_SECONDS } from "../nodes/network-timeouts";

export const AGENT_NAMES = ["consul", "nomad"] as const;
export type AgentName = (typeof AGENT_NAMES)[number];
export type AgentVersions = Readonly<Record<AgentName, string>>;

export type AgentSource =
  | { readonly kind: "official"; readonly baseUrl?: string; readonly pinnedSha256?: Partial<Record<AgentName, string>> }
  | { readonly kind: "dir"; readonly path: string };

/** Environment variable naming the offline agents directory. */
export const AGENT_BIN_DIR_ENV = "ELY_AGENT_BIN_DIR";
/** Environment variable choosing the source: "official", or "dir" (the default). */
export const AGENT_SOURCE_ENV = "ELY_AGENT_SOURCE";
export const OFFICIAL_RELEASES_URL = "https://releases.hashicorp.com";

export function defaultAgentBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[AGENT_BIN_DIR_ENV] || path.join(os.homedir(), ".cache", "ely", "bin");
}

/**
 * The source the environment chooses. By default HashiCorp's official release archives,
 * checked against their SHA256SUMS; a local directory for offline builds when
 * ELY_AGENT_SOURCE=dir or ELY_AGENT_BIN_DIR names one (e2e/tools/build-tools.sh --env sets it).
 */
export function agentSourceFromEnv(env: NodeJS.ProcessEnv = process.env): AgentSource {
  const chosen = env[AGENT_SOURCE_ENV] ?? (env[AGENT_BIN_DIR_ENV] ? "dir" : "official");
  return chosen === "official" ? { kind: "official" } : { kind: "dir", path: defaultAgentBinDir(env) };
}

/** "--agents official" / "--agents dir:/path" on the build's command line. */
export function parseAgentSource(text: string): AgentSource {
  if (text === "official") return { kind: "official" };
  if (text.startsWith("dir:") && text.length > 4) return { kind: "dir", path: text.slice(4) };
  throw new Error(`--agents: expected "official" or "dir:<path>", received "${text}"`);
}

export function formatAgentSource(source: AgentSource): string {
  return source.kind === "official" ? "official" : `dir:${source.path}`;
}

const ELF_MACHINE: Readonly<Record<ImageArch, number>> = { amd64: 0x3e, arm64: 0xb7 };

/** Throws unless `file` starts with a 64-bit little-endian ELF header for `arch`. */
export function checkElfArch(file: string, arch: ImageArch): void {
  const fd = fs.openSync(file, "r");
  const head = Buffer.alloc(20);
  try {
    fs.readSync(fd, head, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF executable`);
  const machine = head.readUInt16LE(18);
  if (machine !== ELF_MACHINE[arch]) {
    const found = Object.entries(ELF_MACHINE).find(([, m]) => m === machine)?.[0] ?? `ELF machine 0x${machine.toString(16)}`;
    throw new Error(`${file} is built for ${found}, expected ${arch}`);
  }
}

export interface ResolvedAgentFile {
  readonly name: AgentName;
  /** The binary, or the zip archive holding it. */
  readonly file: string;
  readonly kind: "binary" | "zip";
}

/** Finds one agent in a directory source; undefined when the directory has none of the accepted names. */
export function findAgentInDir(dir: string, name: AgentName, version: string, arch: ImageArch): ResolvedAgentFile | undefined {
  const candidates: ResolvedAgentFile[] = [
    { name, file: path.join(dir, `linux_${arch}`, name), kind: "binary" },
    { name, file: path.join(dir, `${name}_${version}_linux_${arch}.zip`), kind: "zip" },
    { name, file: path.join(dir, name), kind: "binary" },
  ];
  return candidates.find((c) => fs.existsSync(c.file));
}

const fileHashCache = new Map<string, string>();
let diskCache: Record<string, string> | undefined;

/**
 * Where file hashes persist between synths: hashing the agents (a few hundred MB) would
 * otherwise dominate every synth. Entries are keyed by path, size, mtime and inode, so a
 * changed file is hashed again.
 */
function diskCacheFile(): string {
  return path.join(process.env.ELY_CACHE ?? path.join(os.homedir(), ".cache", "ely"), "file-sha256.json");
}

function readDiskCache(): Record<string, string> {
  if (diskCache) return diskCache;
  try {
    diskCache = JSON.parse(fs.readFileSync(diskCacheFile(), "utf8")) as Record<string, string>;
  } catch {
    diskCache = {};
  }
  return diskCache;
}

function writeDiskCache(cache: Record<string, string>): void {
  const file = diskCacheFile();
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(cache));
    fs.renameSync(temp, file);
  } catch {
    // A cache that cannot be written only costs time.
  }
}

/** sha256 of a file, memoized by path, size, mtime and inode, in memory and on disk. */
export function sha256File(file: string): string {
  const stat = fs.statSync(file);
  const key = `${path.resolve(file)}\0${stat.size}\0${stat.mtimeMs}\0${stat.ino}`;
  const cached = fileHashCache.get(key) ?? readDiskCache()[key];
  if (cached) return cached;
  const hash = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (let n = fs.readSync(fd, buffer); n > 0; n = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  const digest = hash.digest("hex");
  fileHashCache.set(key, digest);
  // Only large files are worth a disk entry; keep the cache small.
  if (stat.size > 1 << 20) {
    const disk = readDiskCache();
    const kept = Object.fromEntries(Object.entries(disk).filter(([k]) => !k.startsWith(`${path.resolve(file)}\0`)));
    diskCache = { ...kept, [key]: digest };
    writeDiskCache(diskCache);
  }
  return digest;
}

/**
 * What of the agents goes into the image's input hash: the versions and, for a directory
 * source, the content of the files found (not their path, which differs between machines).
 */
export function agentInputs(source: AgentSource, versions: AgentVersions, arch: ImageArch): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const name of AGENT_NAMES) {
    inputs[`${name}.version`] = versions[name];
    if (source.kind === "official") {
      inputs[`${name}.source`] = `official${source.pinnedSha256?.[name] ? `:${source.pinnedSha256[name]}` : ""}`;
    } else {
      const found = findAgentInDir(source.path, name, versions[name], arch);
      inputs[`${name}.source`] = found ? `${found.kind}:${sha256File(found.file)}` : "missing";
    }
  }
  return inputs;
}

export interface InstalledAgent {
  readonly name: AgentName;
  readonly version: string;
  /** sha256 of the installed binary. */
  readonly sha256: string;
  /** Where it came from: a URL or a local file. */
  readonly origin: string;
}

/**
 * Puts each agent's binary at <destDir>/<name> (mode 0755) and returns what was installed.
 * Fails with a message naming the agent, the source and what to do.
 */
export async function installAgents(options: {
  source: AgentSource;
  versions: AgentVersions;
  arch: ImageArch;
  destDir: string;
  workDir: string;
}): Promise<InstalledAgent[]> {
  const { source, versions, arch, destDir, workDir } = options;
  fs.mkdirSync(destDir, { recursive: true });
  const installed: InstalledAgent[] = [];
  for (const name of AGENT_NAMES) {
    const version = versions[name];
    const dest = path.join(destDir, name);
    let origin: string;
    if (source.kind === "dir") {
      const found = findAgentInDir(source.path, name, version, arch);
      if (!found) {
        throw new Error(
          `${name} ${version} for linux/${arch} not found in ${source.path} (looked for linux_${arch}/${name}, ` +
            `${name}_${version}_linux_${arch}.zip, ${name}); put the binary there, set ${AGENT_BIN_DIR_ENV} to its directory, ` +
            `or use the official release archives (${AGENT_SOURCE_ENV}=official)`,
        );
      }
      if (found.kind === "zip") await unzipOne(found.file, name, dest);
      else fs.copyFileSync(found.file, dest);
      origin = found.file;
    } else {
      const base = source.baseUrl ?? OFFICIAL_RELEASES_URL;
      const zipName = `${name}_${version}_linux_${arch}.zip`;
      const url = `${base}/${name}/${version}/${zipName}`;
      const sumsUrl = `${base}/${name}/${version}/${name}_${version}_SHA256SUMS`;
      const zip = path.join(workDir, zipName);
      await download(url, zip);
      const sums = (await downloadText(sumsUrl)).split("\n");
      const expected = sums.map((l) => l.trim().split(/\s+/)).find(([, file]) => file === zipName)?.[0];
      if (!expected) throw new Error(`${sumsUrl} lists no sha256 for ${zipName}`);
      const actual = sha256File(zip);
      if (actual !== expected) throw new Error(`${url}: sha256 ${actual} does not match ${expected} from ${sumsUrl}`);
      const pinned = source.pinnedSha256?.[name];
      if (pinned && pinned !== actual) throw new Error(`${url}: sha256 ${actual} does not match the pinned ${pinned}`);
      await unzipOne(zip, name, dest);
      origin = url;
    }
    fs.chmodSync(dest, 0o755);
    checkElfArch(dest, arch);
    installed.push({ name, version, sha256: sha256File(dest), origin });
  }
  return installed;
}

async function unzipOne(zip: string, member: string, dest: string): Promise<void> {
  const out = fs.openSync(dest, "w");
  try {
    // Loaded here, not at the top: every synth imports this module, only an image build unzips.
    const { default: execa } = await import("execa");
    await execa("unzip", ["-p", zip, member], { stdout: out, stderr: "pipe" });
  } catch (e) {
    throw new Error(`cannot extract ${member} from ${zip}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(out);
  }
}

async function download(url: string, dest: string): Promise<void> {
  fs.writeFileSync(dest, await fetchBounded(url));
}

async function downloadText(url: string): Promise<string> {
  return (await fetchBounded(url)).toString("utf8");
}

/**
 * GET of a whole body that fails, naming the URL, when no byte arrives for idleTimeoutMs
 * (connecting, waiting for the headers, or mid-body): a silent server never hangs a build
 * or `terraform apply`.
 */
export async function fetchBounded(url: string, idleTimeoutMs = DOWNLOAD_IDLE_TIMEOUT_SECONDS * 1000): Promise<Buffer> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), idleTimeoutMs);
  };
  const timedOut = () => new Error(`GET ${url}: no data for ${idleTimeoutMs / 1000} s, gave up (is the server reachable? set ${AGENT_BIN_DIR_ENV} to use local binaries)`);
  arm();
  try {
    const response = await fetch(url, { signal: abort.signal });
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    const chunks: Buffer[] = [];
    const reader = response.body!.getReader();
    for (;;) {
      arm();
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
    return Buffer.concat(chunks);
  } catch (e) {
    if (abort.signal.aborted) throw timedOut();
    const cause = (e as { cause?: Error }).cause;
    if (cause && (e as Error).message === "fetch failed") throw new Error(`GET ${url}: ${cause.message}`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
