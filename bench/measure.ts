/**
 * Measuring helpers shared by the benches: median (min-max) figures, timed shell commands
 * (wall and CPU time), and a tmpfs to unpack into.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";

export interface Figures {
  median: number;
  min: number;
  max: number;
}

export function figures(values: number[]): Figures {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

export const fmt = (f: Figures | undefined, digits = 1) => (f ? `${f.median.toFixed(digits)} (${f.min.toFixed(digits)}-${f.max.toFixed(digits)})` : "n/a");
export const mib = (bytes: number) => bytes / 1048576;

export async function sh(script: string, args: string[] = [], cwd?: string): Promise<execa.ExecaReturnValue> {
  return execa("bash", ["-o", "pipefail", "-c", script, "bash", ...args], { cwd, all: true });
}

/**
 * Runs a bash command under bash's `time`: wall and CPU (user + sys of every process of it)
 * seconds. CPU time is the figure that carries over to another machine: on this shared
 * machine, wall time also counts waiting for a core.
 */
export async function timedSh(command: string, args: string[]): Promise<{ wall: number; cpu: number }> {
  const timeFile = path.join(os.tmpdir(), `ely-bench-time-${process.pid}`);
  try {
    await sh(`exec 3>&2; TIMEFORMAT='%R %U %S'; { time { ${command} ; } 2>&3 ; } 2> "${timeFile}"`, args);
    const [wall, user, sys] = fs.readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
    return { wall, cpu: user + sys };
  } finally {
    fs.rmSync(timeFile, { force: true });
  }
}

/** A tmpfs to unpack into, as the initrd does; /dev/shm if it is one. */
export function tmpfsDir(): { dir: string; kind: string } {
  const mounts = fs.readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" "));
  const shm = mounts.find((m) => m[1] === "/dev/shm");
  if (shm && shm[2] === "tmpfs") return { dir: fs.mkdtempSync("/dev/shm/ely-bench-unpack-"), kind: "tmpfs (/dev/shm)" };
  return { dir: fs.mkdtempSync(path.join(os.tmpdir(), "ely-bench-unpack-")), kind: `disk (${os.tmpdir()}: /dev/shm is no tmpfs)` };
}

/** TCP goodput on Ethernet, ~94% of the line rate, in bytes per second. */
export function linkBytesPerSecond(linkMbit: number): number {
  return (linkMbit * 1e6 * 0.94) / 8;
}

/** What a decompression round records per row. */
export interface DecompressRow {
  decompressSeconds: number[];
  decompressCpuSeconds: number[];
}

/**
 * Decompress-and-unpack rounds over `rows`, interleaved, each round starting one row later (no
 * row always runs first), each run into the emptied `unpackDir`: `command` gives the timed
 * shell command and its arguments for a row. One progress line per round.
 */
export async function decompressRounds<R extends DecompressRow>(
  rows: R[],
  runs: number,
  unpackDir: string,
  command: (row: R) => [string, string[]],
  nameOf: (row: R) => string,
  progress: (line: string) => void,
): Promise<void> {
  for (let round = 1; round <= runs; round++) {
    const times: string[] = [];
    const order = rows.map((_, i) => rows[(i + round - 1) % rows.length]);
    for (const row of order) {
      fs.rmSync(unpackDir, { recursive: true, force: true });
      fs.mkdirSync(unpackDir);
      const t = await timedSh(...command(row));
      row.decompressSeconds.push(t.wall);
      row.decompressCpuSeconds.push(t.cpu);
      times.push(`${nameOf(row)} ${t.wall.toFixed(2)} s (CPU ${t.cpu.toFixed(2)})`);
    }
    fs.rmSync(unpackDir, { recursive: true, force: true });
    fs.mkdirSync(unpackDir);
    progress(`decompress + unpack round ${round}/${runs}: ${times.join(", ")}`);
  }
}

/** Writes a bench's results (stamped with the date) as JSON, and says where. */
export function writeResults(file: string, results: Record<string, unknown>, progress: (line: string) => void): void {
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2) + "\n");
  progress(`done; results in ${file}`);
}

/** Runs a bench's main: a failure is reported with its stack and the process exits 1. */
export function runBench(main: () => Promise<void>, progress: (line: string) => void): void {
  main().catch((e: Error) => {
    progress(`failed: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}
