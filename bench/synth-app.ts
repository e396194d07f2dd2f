/**
 * The app the benchmarks synthesize: the default cluster and jobs, or a generated cluster
 * (ELY_BENCH_NODES) and job set (ELY_BENCH_JOBS). Prints its peak RSS (KB) on stderr.
 */
import { App } from "cdktf";
import { ElyStack } from "../constructs";
import { ALL_JOBS } from "../jobs";
import { parseInventory } from "../nodes";
import { generatedInventory, generatedJobs } from "./generated";

const nodes = Number(process.env.ELY_BENCH_NODES ?? 7);
const jobCount = Number(process.env.ELY_BENCH_JOBS ?? 0);
const inventory = parseInventory(generatedInventory(nodes), `generated ${nodes} nodes`);
const app = new App();
new ElyStack(app, inventory.name, { inventory, jobs: jobCount > 0 ? generatedJobs(jobCount) : ALL_JOBS });
app.synth();
