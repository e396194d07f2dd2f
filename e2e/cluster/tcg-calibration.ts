/**
 * How much slower a worker's emulated CPUs (QEMU without KVM) run the kinds of work a boot does
 * than this machine's own CPUs: the same static binaries (the image's busybox, the agents Nomad and
 * Consul, byte for byte the ones the image carries) timed in the guest over ssh and here. The
 * cluster suite reports the factors; BENCHMARKS.md scales the guest's boot phases to an ODROID H2
 * with them instead of one factor taken from gunzip alone.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";

/** Where each binary is: in the guest, or here. */
export interface CalibrationBinaries {
  readonly nomad: string;
  readonly consul: string;
  readonly busybox: string;
}

export interface CalibrationRow {
  readonly workload: string;
  /** Median of the rounds, milliseconds. */
  readonly guestMs: number;
  readonly hostMs: number;
  /** guestMs / hostMs. */
  readonly factor: number;
}

const ROUNDS = 3;

/** The workloads: a Go agent's start (a 100 MB binary paged in), process creation, and plain computation. */
const WORKLOADS: ReadonlyArray<{ readonly name: string; readonly command: (b: CalibrationBinaries) => string }> = [
  { name: "Go start: 3 x nomad version", command: (b) => `${b.nomad} version; ${b.nomad} version; ${b.nomad} version` },
  { name: "Go start: 3 x consul version", command: (b) => `${b.consul} version; ${b.consul} version; ${b.consul} version` },
  { name: "fork and exec: 200 x busybox true", command: (b) => `i=0; while [ $i -lt 200 ]; do ${b.busybox} true; i=$((i+1)); done` },
  { name: "compute: busybox gzip of 4 MiB of nomad", command: (b) => `${b.busybox} head -c 4194304 ${b.nomad} | ${b.busybox} gzip -c > /dev/null` },
];

/** A POSIX sh script printing one line per workload: its name, then each round's milliseconds. */
export function calibrationScript(b: CalibrationBinaries): string {
  const ms = "$(( $(date +%s%N) / 1000000 ))";
  return WORKLOADS.map(
    (w, i) => `printf 'w${i}'; for r in ${Array.from({ length: ROUNDS }, (_, k) => k + 1).join(" ")}; do s=${ms}; ( ${w.command(b)} ) >/dev/null 2>&1; e=${ms}; printf ' %s' $((e - s)); done; echo`,
  ).join("\n");
}

/** The medians of the script's output, by workload index; throws, quoting the output, when a line is missing. */
export function parseCalibration(output: string): number[] {
  return WORKLOADS.map((w, i) => {
    const line = output.split("\n").find((l) => l.startsWith(`w${i} `));
    const values = line?.split(/\s+/).slice(1).map(Number) ?? [];
    if (values.length !== ROUNDS || values.some((v) => !Number.isFinite(v))) {
      throw new Error(`calibration: no ${ROUNDS} timings for "${w.name}" (w${i}) in:\n${output}`);
    }
    return [...values].sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
  });
}

/**
 * Times the workloads in the guest (`inGuest` runs a script there) and here, with the guest's
 * busybox copied over and the agents from `hostAgentDir`, which must be the same files as the
 * guest's (checked by SHA-256 first: another build would compare other work).
 */
export async function calibrate(inGuest: (script: string) => Promise<string>, guest: CalibrationBinaries, hostAgentDir: string): Promise<CalibrationRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-calibration-"));
  try {
    const host: CalibrationBinaries = { nomad: path.join(hostAgentDir, "nomad"), consul: path.join(hostAgentDir, "consul"), busybox: path.join(dir, "busybox") };
    const guestSums = await inGuest(`sha256sum ${guest.nomad} ${guest.consul}; base64 -w0 ${guest.busybox}`);
    const lines = guestSums.trim().split("\n");
    const hostSums = (await execa("sha256sum", [host.nomad, host.consul])).stdout;
    const hashes = (text: string) => text.split("\n").slice(0, 2).map((l) => l.split(/\s+/)[0]);
    if (hashes(lines.join("\n")).join(",") !== hashes(hostSums).join(",")) {
      throw new Error(`calibration: the guest's agents are not the files in ${hostAgentDir}:\nguest:\n${lines.slice(0, 2).join("\n")}\nhere:\n${hostSums}`);
    }
    fs.writeFileSync(host.busybox, Buffer.from(lines[2] ?? "", "base64"), { mode: 0o755 });
    const guestMs = parseCalibration(await inGuest(calibrationScript(guest)));
    const hostMs = parseCalibration((await execa("sh", ["-c", calibrationScript(host)])).stdout);
    return WORKLOADS.map((w, i) => ({ workload: w.name, guestMs: guestMs[i], hostMs: hostMs[i], factor: Math.round((guestMs[i] / Math.max(hostMs[i], 1)) * 10) / 10 }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
