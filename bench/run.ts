/**
 * `npm run bench [-- --quick]`: synth cost and scale, measured against cdktf's own fixed
 * cost in the same run. Every scenario runs in a fresh process, interleaved with the
 * others round by round so that machine noise spreads evenly; wall time and peak RSS
 * (GNU time) are taken per run; figures are median (min-max). Results go to stdout and
 * to bench/last-run.json; BENCHMARKS.md holds the figures of a full run.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Command } from "commander";
import execa from "execa";

interface Scenario {
  readonly name: string;
  readonly what: string;
  readonly command: string[];
  readonly env?: Record<string, string>;
  readonly cli?: boolean;
  readonly fullOnly?: boolean;
}

interface Figures {
  median: number;
  min: number;
  max: number;
}

const root = path.resolve(__dirname, "..", "..");
const dist = path.join(root, "dist", "bench");
const cdktfBin = require.resolve("cdktf-cli/bundle/bin/cdktf");

function direct(name: string, what: string, app: string, env: Record<string, string> = {}): Scenario {
  return { name, what, command: [process.execPath, path.join(dist, app)], env };
}

function viaCli(name: string, what: string, app: string, env: Record<string, string> = {}, fullOnly = false): Scenario {
  return { name, what, command: [process.execPath, cdktfBin, "synth", "--app", `${process.execPath} ${path.join(dist, app)}`], env, cli: true, fullOnly };
}

const SCENARIOS: Scenario[] = [
  direct("minimal", "cdktf's fixed cost: one stack, one null_resource", "minimal-app.js"),
  direct("default", "the built-in cluster: 7 nodes, 8 jobs", "synth-app.js"),
  direct("app", "what cdktf runs: dist/app.js, main.ts's bundle through V8's code cache (made by the warm-up run), the built-in cluster", "../app.js"),
  direct("nodes-50", "50 generated nodes, 8 jobs", "synth-app.js", { ELY_BENCH_NODES: "50" }),
  direct("nodes-200", "200 generated nodes, 8 jobs", "synth-app.js", { ELY_BENCH_NODES: "200" }),
  direct("jobs-10", "7 nodes, 10 generated jobs", "synth-app.js", { ELY_BENCH_JOBS: "10" }),
  direct("jobs-100", "7 nodes, 100 generated jobs", "synth-app.js", { ELY_BENCH_JOBS: "100" }),
  direct("jobs-1000", "7 nodes, 1000 generated jobs", "synth-app.js", { ELY_BENCH_JOBS: "1000" }),
  viaCli("cli:minimal", "`cdktf synth` of the minimal app", "minimal-app.js"),
  viaCli("cli:default", "`cdktf synth` of the built-in cluster", "synth-app.js"),
  viaCli("cli:jobs-1000", "`cdktf synth` of 1000 jobs", "synth-app.js", { ELY_BENCH_JOBS: "1000" }, true),
  viaCli("cli:nodes-200", "`cdktf synth` of 200 nodes", "synth-app.js", { ELY_BENCH_NODES: "200" }, true),
];

function figures(values: number[]): Figures {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

const fmt = (f: Figures, unit: string, digits = 0) => `${f.median.toFixed(digits)} ${unit} (${f.min.toFixed(digits)}-${f.max.toFixed(digits)})`;

async function runOnce(s: Scenario, workDir: string): Promise<{ ms: number; cpuMs: number; rssKb: number }> {
  const outdir = fs.mkdtempSync(path.join(workDir, "out-"));
  const timeFile = path.join(workDir, "time.txt");
  const started = process.hrtime.bigint();
  const args = [...s.command, ...(s.cli ? ["--output", outdir] : [])];
  const result = await execa("/usr/bin/time", ["-f", "%M %U %S", "-o", timeFile, ...args], {
    cwd: root,
    env: { ...process.env, ...s.env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: "1" },
    reject: false,
    all: true,
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  fs.rmSync(outdir, { recursive: true, force: true });
  if (result.exitCode !== 0) throw new Error(`${s.name}: exit ${result.exitCode}\n${result.all}`);
  const [rssKb, user, sys] = fs.readFileSync(timeFile, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
  return { ms, cpuMs: (user + sys) * 1000, rssKb };
}

async function main(): Promise<void> {
  const options = new Command()
    .option("--quick", "3 rounds, no CLI runs of the large scenarios, no npm test timing")
    .option("--rounds <n>", "rounds of every scenario")
    .parse(process.argv)
    .opts<{ quick?: boolean; rounds?: string }>();
  const quick = options.quick ?? false;
  const rounds = Number(options.rounds ?? (quick ? 3 : 7));
  if (!fs.existsSync("/usr/bin/time")) throw new Error("/usr/bin/time (Debian package `time`) is needed to measure peak memory");
  const scenarios = SCENARIOS.filter((s) => !(quick && s.fullOnly));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-bench-"));
  const started = Date.now();
  const samples = new Map<string, { ms: number[]; cpuMs: number[]; rssKb: number[] }>(scenarios.map((s) => [s.name, { ms: [], cpuMs: [], rssKb: [] }]));
  try {
    for (const s of scenarios) await runOnce(s, workDir); // warm the file cache once
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`[bench] round ${round}/${rounds} (${Math.round((Date.now() - started) / 1000)}s)\n`);
      for (const s of scenarios) {
        const r = await runOnce(s, workDir);
        samples.get(s.name)!.ms.push(r.ms);
        samples.get(s.name)!.cpuMs.push(r.cpuMs);
        samples.get(s.name)!.rssKb.push(r.rssKb);
      }
    }
    let npmTest: Figures | undefined;
    if (!quick) {
      process.stderr.write(`[bench] npm test (${Math.round((Date.now() - started) / 1000)}s)\n`);
      const t0 = Date.now();
      const result = await execa("npm", ["test", "--silent"], { cwd: root, all: true, reject: false });
      npmTest = figures([(Date.now() - t0) / 1000]);
      if (result.exitCode !== 0) process.stderr.write(`[bench] note: npm test failed (exit ${result.exitCode}); its time is still reported\n`);
    }

    const time = (n: string) => figures(samples.get(n)!.ms);
    const rss = (n: string) => figures(samples.get(n)!.rssKb.map((kb) => kb / 1024));
    const cpu = (n: string) => figures(samples.get(n)!.cpuMs);
    const lines = [`| scenario | what | wall time | CPU time (user+sys) | peak RSS |`, `|---|---|---|---|---|`];
    for (const s of scenarios) lines.push(`| ${s.name} | ${s.what} | ${fmt(time(s.name), "ms")} | ${fmt(cpu(s.name), "ms")} | ${fmt(rss(s.name), "MB", 1)} |`);
    // Ratios per round (same round, same machine state), then their median.
    const ratio = (a: string, b: string) => figures(samples.get(a)!.ms.map((v, i) => v / samples.get(b)!.ms[i]));
    // CPU time (GNU time counts it in 10 ms steps) is what a loaded machine disturbs least.
    const cpuRatio = (a: string, b: string) => figures(samples.get(a)!.cpuMs.map((v, i) => v / samples.get(b)!.cpuMs[i]));
    const ratios: Record<string, Figures> = {
      "default / minimal (node)": ratio("default", "minimal"),
      "app / minimal (node)": ratio("app", "minimal"),
      "app / minimal (node), CPU time": cpuRatio("app", "minimal"),
      "default / minimal (cdktf CLI)": ratio("cli:default", "cli:minimal"),
      "jobs-1000 / default (node)": ratio("jobs-1000", "default"),
      "nodes-200 / default (node)": ratio("nodes-200", "default"),
    };
    const perNode = (a: string, b: string, na: number, nb: number) => ((rss(b).median - rss(a).median) * 1024) / (nb - na);
    const memory = {
      "KB per node, 7 -> 50": perNode("default", "nodes-50", 7, 50),
      "KB per node, 50 -> 200": perNode("nodes-50", "nodes-200", 50, 200),
      "KB per job, 10 -> 100": perNode("jobs-10", "jobs-100", 10, 100),
      "KB per job, 100 -> 1000": perNode("jobs-100", "jobs-1000", 100, 1000),
    };
    const targets = [
      // What cdktf runs is the bundled app: the target is on it (the unbundled synth-app shows what bundling saves).
      ...["app / minimal (node)", "app / minimal (node), CPU time"].map((k) => `${k} ${ratios[k].median.toFixed(2)}x, target <= 1.5x: ${ratios[k].median <= 1.5 ? "met" : "NOT met"}`),
      `jobs-1000 / default (node) ${ratios["jobs-1000 / default (node)"].median.toFixed(2)}x, target <= 5x: ${ratios["jobs-1000 / default (node)"].median <= 5 ? "met" : "NOT met"}`,
    ];
    console.log(`# Ely synth benchmark (${quick ? "quick" : "full"}, ${rounds} rounds, ${os.cpus().length} cores, node ${process.version})\n`);
    console.log(lines.join("\n"));
    console.log("\n| ratio | median (min-max) |\n|---|---|");
    for (const [k, f] of Object.entries(ratios)) console.log(`| ${k} | ${f.median.toFixed(2)}x (${f.min.toFixed(2)}-${f.max.toFixed(2)}) |`);
    console.log("\n| memory growth | |\n|---|---|");
    for (const [k, v] of Object.entries(memory)) console.log(`| ${k} | ${v.toFixed(1)} |`);
    if (npmTest) console.log(`\nnpm test: ${npmTest.median.toFixed(1)} s`);
    console.log(`\n${targets.join("\n")}`);
    fs.writeFileSync(
      path.join(root, "bench", "last-run.json"),
      JSON.stringify({ date: new Date().toISOString(), quick, rounds, samples: Object.fromEntries(samples), ratios, memory, npmTestSeconds: npmTest?.median }, null, 2),
    );
    process.stderr.write(`[bench] done (${Math.round((Date.now() - started) / 1000)}s)\n`);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
