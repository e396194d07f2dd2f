#!/usr/bin/env node
/**
 * `npm run bench:rebuild`: what an image build costs after each kind of input change (issue 16), in one
 * run on this machine, as the plan runs it (`node dist/images/build.js ...`, as root, or as the calling
 * user in its user namespace):
 *
 *   cold         an empty base cache: mmdebstrap of the profile's packages, then every step
 *   no-op        the same inputs again: the output holds the build, nothing runs
 *   one package  --extra-packages <pkg>: apt installs it on the cached base
 *   Ely file     one of Ely's files in the image changed: the same build run from a copy of dist/ whose
 *                systemd-networkd-wait-online drop-in has one more comment line
 *   agent        --nomad-version <other>: an agent version input changed (the binary from the same directory)
 *
 * Every scenario after "cold" must reuse the cached base (checked: the bench fails otherwise), and each
 * changed input must give another build id. The apt cache (--apt-cache, default ~/.cache/ely/apt) is kept
 * warm, as in a developer's loop. Markdown on stdout, figures in bench/rebuild-last-run.json.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";
import { figures, fmt, runBench, writeResults } from "./measure";

const root = path.resolve(__dirname, "..", "..");
const started = Date.now();
const progress = (line: string) => process.stderr.write(`[bench:rebuild +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

/** The line the Ely-file scenario changes in the compiled rootfs-files.js, and what it becomes. */
export const ELY_FILE_MARKER = "content: waitOnlineDropIn }";
export const ELY_FILE_CHANGED = 'content: waitOnlineDropIn + "# bench:rebuild: an Ely file changed\\n" }';

/** One build's facts from its progress lines. */
export interface BuildRun {
  readonly buildId: string;
  /** Seconds per step that ran ("rootfs", "ramroot", ...). */
  readonly steps: Readonly<Record<string, number>>;
  readonly upToDate: boolean;
  /** "cache", "mmdebstrap", or undefined when no base was needed. */
  readonly base?: "cache" | "mmdebstrap";
}

/** Reads `ely-image <image> <build id> [n/N] <step>: ok in X s` lines and the base line. */
export function parseBuildOutput(stderr: string): BuildRun {
  const steps: Record<string, number> = {};
  let buildId = "";
  for (const m of stderr.matchAll(/^ely-image \S+ ([0-9a-f]{16}) \[\d+\/\d+\] ([\w-]+): ok in ([\d.]+) s/gm)) {
    buildId = m[1];
    steps[m[2]] = Number(m[3]);
  }
  const upToDate = /^ely-image \S+ ([0-9a-f]{16}): up to date in /m.exec(stderr);
  if (upToDate) buildId = upToDate[1];
  const base = /rootfs: base \S+ (from the cache|made by mmdebstrap)/.exec(stderr);
  return { buildId, steps, upToDate: Boolean(upToDate), base: base ? (base[1] === "from the cache" ? "cache" : "mmdebstrap") : undefined };
}

/** The compiled rootfs-files.js with one Ely file's content changed; throws when the marker is gone. */
export function changeElyFile(source: string): string {
  const at = source.indexOf(ELY_FILE_MARKER);
  if (at < 0 || source.indexOf(ELY_FILE_MARKER, at + 1) >= 0) {
    throw new Error(`bench:rebuild: dist/images/rootfs-files.js must hold "${ELY_FILE_MARKER}" exactly once (the wait-online drop-in's entry): update ELY_FILE_MARKER`);
  }
  return source.replace(ELY_FILE_MARKER, ELY_FILE_CHANGED);
}

interface Scenario {
  readonly name: string;
  readonly what: string;
  /** Extra build arguments. */
  readonly args: readonly string[];
  /** The dist/ directory to run (a changed copy for the Ely-file scenario). */
  readonly dist: string;
  readonly expect: { readonly upToDate: boolean; readonly base?: "cache" | "mmdebstrap"; readonly newBuildId: boolean };
  /** Reuse this scenario's (first) output directory (the no-op). */
  readonly outOf?: string;
}

interface Measured {
  readonly scenario: Scenario;
  readonly seconds: number[];
  readonly runs: BuildRun[];
}

async function main(): Promise<void> {
  const program = new Command("bench:rebuild")
    .description("The image build after each kind of input change: cold, no-op, one package, an Ely file, an agent version")
    .option("--profile <profile>", "image profile", "full")
    .option("--role <role>", "image role", "client")
    .option("--arch <arch>", "image architecture", "amd64")
    .option("--package <name>", "the one-package change's package", "tree")
    .option("--nomad-version <v>", "the agent scenario's Nomad version (an input only: the binary comes from the same directory)", "1.6.99")
    .option("--rounds <n>", "rounds of the warm scenarios (the cold build runs once)", (v) => Number(v), 1)
    .option("--apt-cache <dir>", "apt cache, kept warm", process.env.ELY_APT_CACHE_DIR ?? path.join(os.homedir(), ".cache", "ely", "apt"))
    .option("--work <dir>", "scratch directory (base cache and builds)", os.tmpdir())
    .option("--json <file>", "results file", path.join(root, "bench", "rebuild-last-run.json"))
    .option("--keep", "keep the scratch directory", false)
    .parse(process.argv);
  const o = program.opts<{ profile: string; role: string; arch: string; package: string; nomadVersion: string; rounds: number; aptCache: string; work: string; json: string; keep: boolean }>();
  const dist = path.join(root, "dist");
  if (!fs.existsSync(path.join(dist, "images", "build.js"))) throw new Error("dist/images/build.js is missing: npm run build");
  const work = fs.mkdtempSync(path.join(o.work, "ely-bench-rebuild-"));
  fs.chmodSync(work, 0o755);
  const cleanup = async (): Promise<void> => {
    if (o.keep) {
      progress(`kept ${work}`);
      return;
    }
    // An unprivileged build's base holds the user's subordinate ids: removed from its user namespace.
    const asRoot = process.getuid?.() === 0;
    await execa(asRoot ? "rm" : "unshare", asRoot ? ["-rf", work] : ["--user", "--map-auto", "--map-root-user", "rm", "-rf", work], { reject: false });
  };
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
  process.on("SIGTERM", () => void cleanup().then(() => process.exit(143)));

  // The Ely-file scenario's program: a copy of dist/ with one file's content changed (node_modules linked).
  const changed = path.join(work, "changed-checkout");
  fs.mkdirSync(changed);
  await execa("cp", ["-a", dist, path.join(changed, "dist")]);
  fs.symlinkSync(path.join(root, "node_modules"), path.join(changed, "node_modules"));
  const rootfsFilesJs = path.join(changed, "dist", "images", "rootfs-files.js");
  fs.writeFileSync(rootfsFilesJs, changeElyFile(fs.readFileSync(rootfsFilesJs, "utf8")));

  const scenarios: Scenario[] = [
    { name: "cold", what: "empty base cache: mmdebstrap, then every step", args: [], dist, expect: { upToDate: false, base: "mmdebstrap", newBuildId: false } },
    { name: "no-op", what: "the same inputs again", args: [], dist, expect: { upToDate: true, newBuildId: false }, outOf: "cold" },
    { name: "one package", what: `--extra-packages ${o.package}: apt on the cached base`, args: ["--extra-packages", o.package], dist, expect: { upToDate: false, base: "cache", newBuildId: true } },
    { name: "Ely file", what: "one of Ely's files in the image changed", args: [], dist: path.join(changed, "dist"), expect: { upToDate: false, base: "cache", newBuildId: true } },
    { name: "agent version", what: `--nomad-version ${o.nomadVersion}`, args: ["--nomad-version", o.nomadVersion], dist, expect: { upToDate: false, base: "cache", newBuildId: true } },
  ];
  const load0 = os.loadavg();
  progress(`start: ${os.cpus()[0]?.model}, ${os.cpus().length} cores, load ${load0.map((l) => l.toFixed(2)).join(" ")}; ${o.role}-${o.arch}, profile ${o.profile}; scratch ${work}`);
  const results: Measured[] = [];
  let coldId = "";
  try {
    for (const scenario of scenarios) {
      const rounds = scenario.name === "cold" ? 1 : o.rounds;
      const measured: Measured = { scenario, seconds: [], runs: [] };
      for (let round = 1; round <= rounds; round++) {
        const dirOf = (name: string, r: number) => `${name.replace(/ /g, "-")}-${r}`;
        const out = path.join(work, "images", `${o.role}-${o.arch}`, scenario.outOf ? dirOf(scenario.outOf, 1) : dirOf(scenario.name, round));
        fs.mkdirSync(path.dirname(out), { recursive: true });
        const args = [
          path.join(scenario.dist, "images", "build.js"),
          ...["--role", o.role, "--arch", o.arch, "--profile", o.profile, "--out", out],
          ...["--base-cache", path.join(work, "bases"), "--apt-cache", o.aptCache],
          ...scenario.args,
        ];
        const t0 = Date.now();
        const run = await execa(process.execPath, args, { reject: false, cwd: os.tmpdir(), env: { ...process.env, ELY_BASE_CACHE_DIR: "" } });
        const seconds = (Date.now() - t0) / 1000;
        if (run.exitCode !== 0) throw new Error(`${scenario.name}: the build exited ${run.exitCode}:\n${run.stderr.split("\n").slice(-30).join("\n")}`);
        const parsed = parseBuildOutput(run.stderr);
        const problems = [
          parsed.upToDate !== scenario.expect.upToDate ? `up to date: ${parsed.upToDate}, expected ${scenario.expect.upToDate}` : undefined,
          parsed.base !== scenario.expect.base ? `base: ${parsed.base ?? "none"}, expected ${scenario.expect.base ?? "none"}` : undefined,
          scenario.name === "cold" || (parsed.buildId !== coldId) === scenario.expect.newBuildId ? undefined : `build id ${parsed.buildId}, cold ${coldId}: expected ${scenario.expect.newBuildId ? "another" : "the same"}`,
        ].filter((p): p is string => p !== undefined);
        if (problems.length) throw new Error(`${scenario.name}: ${problems.join("; ")}\n${run.stderr.split("\n").slice(-20).join("\n")}`);
        if (scenario.name === "cold") coldId = parsed.buildId;
        measured.seconds.push(seconds);
        measured.runs.push(parsed);
        const slow = Object.entries(parsed.steps).filter(([, s]) => s >= 1).map(([n, s]) => `${n} ${s.toFixed(1)}`);
        progress(`${scenario.name} ${round}/${rounds}: ${seconds.toFixed(1)} s, build ${parsed.buildId}${parsed.upToDate ? " (up to date)" : ""}${slow.length ? `; steps ${slow.join(", ")}` : ""}; load ${os.loadavg()[0].toFixed(2)}`);
      }
      results.push(measured);
    }
  } finally {
    await cleanup();
  }
  const load1 = os.loadavg();
  const cold = results[0].seconds[0];
  const stepCell = (m: Measured, name: string) => {
    const values = m.runs.map((r) => r.steps[name]).filter((v): v is number => v !== undefined);
    return values.length ? fmt(figures(values)) : "-";
  };
  const lines = [
    `## Image rebuilds: ${o.role}-${o.arch}, profile ${o.profile} (${new Date().toISOString().slice(0, 10)})`,
    ``,
    `${os.cpus()[0]?.model}, ${os.cpus().length} cores, load ${load0[0].toFixed(2)} at start and ${load1[0].toFixed(2)} at end; apt cache warm; ` +
      `${o.rounds} round(s) of each warm scenario, median (min-max); ratios against this run's cold build.`,
    ``,
    `| scenario | what changed | wall s | / cold | base | rootfs s | packages s | ramroot s |`,
    `|---|---|---|---|---|---|---|---|`,
    ...results.map((m) => {
      const f = figures(m.seconds);
      return (
        `| ${m.scenario.name} | ${m.scenario.what} | ${fmt(f)} | ${(f.median / cold).toFixed(3)} | ${m.runs[0].base ?? "-"} | ` +
        `${stepCell(m, "rootfs")} | ${stepCell(m, "packages")} | ${stepCell(m, "ramroot")} |`
      );
    }),
  ];
  console.log(lines.join("\n"));
  writeResults(
    o.json,
    {
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadAverageStart: load0, loadAverageEnd: load1 },
      options: { profile: o.profile, role: o.role, arch: o.arch, package: o.package, nomadVersion: o.nomadVersion, rounds: o.rounds },
      scenarios: results.map((m) => ({ name: m.scenario.name, what: m.scenario.what, seconds: m.seconds, ratioToCold: figures(m.seconds).median / cold, runs: m.runs })),
    },
    progress,
  );
}

if (require.main === module) runBench(main, progress);
