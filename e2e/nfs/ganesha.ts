/**
 * The util node's NFS exports served by a real NFS server in tests. This machine's kernel
 * has no nfsd (nor an NFS client), so the server is Debian's user-space nfs-ganesha (VFS
 * backend) on 127.0.0.1, and the client is libnfs's nfs-cp/nfs-cat/nfs-ls (libnfs-utils).
 *
 * The generated exports(5) file is read line by line and each export becomes a ganesha
 * EXPORT block with the same path (as its NFSv4 pseudo path, under a test root on disk), the
 * same clients and the same access and squash options; an option this translation does not
 * know fails the test, so the generated file and what is served cannot drift apart.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";

export const GANESHA = "ganesha.nfsd";

/** Why the ganesha test cannot run here, or undefined when it can. */
export function ganeshaMissing(): string | undefined {
  const missing = [GANESHA, "nfs-cp", "nfs-cat", "nfs-ls"].filter((tool) => spawnSync("sh", ["-c", `command -v "$1"`, "sh", tool]).status !== 0);
  if (missing.length) return `${missing.join(", ")} not installed; apt-get install nfs-ganesha nfs-ganesha-vfs libnfs-utils`;
  if (process.getuid?.() !== 0) return "nfs-ganesha's VFS backend needs root (file handles)";
  return undefined;
}

export interface ExportLine {
  readonly path: string;
  readonly clients: ReadonlyArray<{ readonly client: string; readonly options: readonly string[] }>;
}

/** exports(5) lines (comments and blank lines skipped); throws on a line that is not "path client(options)...". */
export function parseExportsFile(text: string): ExportLine[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.trim().startsWith("#"))
    .map((line) => {
      const [exportPath, ...clients] = line.trim().split(/\s+/);
      if (!exportPath.startsWith("/") || clients.length === 0) throw new Error(`exports: not "path client(options)...": ${JSON.stringify(line)}`);
      return {
        path: exportPath,
        clients: clients.map((c) => {
          const m = /^([^()]+)\(([^()]*)\)$/.exec(c);
          if (!m) throw new Error(`exports: not client(options): ${JSON.stringify(c)} in ${JSON.stringify(line)}`);
          return { client: m[1], options: m[2].split(",") };
        }),
      };
    });
}

/** One client's ganesha options from its exports(5) options. */
function clientBlock(client: string, options: readonly string[]): string {
  let access = "";
  let squash = "Root_Squash"; // exports(5)'s default
  for (const option of options) {
    if (option === "rw") access = "RW";
    else if (option === "ro") access = "RO";
    else if (option === "root_squash") squash = "Root_Squash";
    else if (option === "no_root_squash") squash = "No_Root_Squash";
    else if (option === "sync" || option === "no_subtree_check") continue; // ganesha commits synchronously; it has no subtree check
    else throw new Error(`exports: option ${JSON.stringify(option)} has no ganesha translation here: teach e2e/nfs/ganesha.ts`);
  }
  if (!access) throw new Error(`exports: client ${client} has neither rw nor ro`);
  return `  CLIENT { Clients = ${client}; Access_Type = ${access}; Squash = ${squash}; }`;
}

/** ganesha.conf serving the exports on 127.0.0.1:`port`, each export's directory under `root`. */
export function ganeshaConfig(exportsText: string, root: string, port: number, stateDir: string): string {
  const blocks = parseExportsFile(exportsText).map((e, i) =>
    [
      "EXPORT {",
      `  Export_Id = ${i + 1};`,
      `  Path = ${path.join(root, e.path)};`,
      `  Pseudo = ${e.path};`,
      "  Access_Type = None;", // only the listed clients get in
      "  SecType = sys;",
      "  Protocols = 4;",
      "  FSAL { Name = VFS; }",
      ...e.clients.map((c) => clientBlock(c.client, c.options)),
      "}",
    ].join("\n"),
  );
  return [
    `NFS_CORE_PARAM { Protocols = 4; NFS_Port = ${port}; Bind_addr = 127.0.0.1; Enable_NLM = false; Enable_RQUOTA = false; }`,
    `NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = ${stateDir}/recovery; }`,
    "NFS_KRB5 { Active_krb5 = false; }",
    ...blocks,
    "",
  ].join("\n");
}

export interface RunningGanesha {
  readonly port: number;
  /** nfs:// URL of a path on the server. */
  url(remotePath: string): string;
  log(): string;
  stop(): Promise<void>;
}

export async function startGanesha(confText: string, port: number, stateDir: string): Promise<RunningGanesha> {
  fs.mkdirSync(path.join(stateDir, "recovery"), { recursive: true });
  const conf = path.join(stateDir, "ganesha.conf");
  const logFile = path.join(stateDir, "ganesha.log");
  fs.writeFileSync(conf, confText);
  const child: ChildProcess = spawn(GANESHA, ["-F", "-f", conf, "-L", logFile, "-p", path.join(stateDir, "ganesha.pid"), "-N", "NIV_EVENT"], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const killNow = () => child.exitCode === null && child.kill("SIGKILL");
  process.once("exit", killNow);
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "");
  const stop = async () => {
    process.removeListener("exit", killNow);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ganesha.nfsd exited (${child.exitCode}): ${log().slice(-2000)}`);
    if (/NFS SERVER INITIALIZED/.test(log())) {
      const open = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
      });
      if (open) break;
    }
    if (Date.now() - started > 30_000) {
      await stop();
      throw new Error(`ganesha.nfsd did not serve on 127.0.0.1:${port} within 30 s: ${log().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { port, url: (remotePath) => `nfs://127.0.0.1${remotePath}?version=4&nfsport=${port}`, log, stop };
}

/** Runs a libnfs tool; returns its exit status and output. */
export function nfsTool(tool: "nfs-cp" | "nfs-cat" | "nfs-ls", ...args: string[]): { status: number; output: string } {
  const result = spawnSync(tool, args, { encoding: "utf8", timeout: 60_000 });
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}
