/**
 * Every job of jobs/, rendered for the default cluster as the nomad_job resources hold it, checked
 * by a real Nomad server (a dev agent with ACLs on): `nomad job validate`, and the server's own
 * validation endpoint (the one the provider's submit goes through). Needs only the agents.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, Testing } from "cdktf";
import { ElyStack } from "../../constructs";
import { ALL_JOBS } from "../../jobs";
import { DEFAULT_INVENTORY, parseInventory } from "../../nodes";
import { DevAgents, http, startDevAgents } from "../dev-agents";
import { onPath } from "../on-path";
import { renderedJobs } from "../rendered-jobs";
import { validateJobs } from "./job-validate";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-agent-jobs-"));
let agents: DevAgents;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  agents = await startDevAgents(path.join(work, "agents"), { consul: onPath("consul", "test:agents"), nomad: onPath("nomad", "test:agents") });
  env = { ...process.env, NOMAD_ADDR: agents.nomadAddress, NOMAD_TOKEN: agents.nomadToken };
}, 240_000);

afterAll(async () => {
  await agents?.stop();
  fs.rmSync(work, { recursive: true, force: true });
}, 60_000);

function defaultClusterJobs(): Map<string, string> {
  const inventory = parseInventory(DEFAULT_INVENTORY, "default inventory");
  const stack = new ElyStack(new App({ outdir: path.join(work, "out") }), inventory.name, { inventory, jobs: ALL_JOBS });
  return renderedJobs(JSON.parse(Testing.synth(stack)));
}

/** The Nomad server's answer to POST /v1/validate/job: the errors it finds. */
async function serverValidation(spec: string): Promise<{ status: number; errors: string[] }> {
  const r = await http("POST", `${agents.nomadAddress}/v1/validate/job`, agents.nomadToken, JSON.parse(spec));
  const body = (r.json ?? {}) as { ValidationErrors?: string[] | null; Error?: string };
  return { status: r.status, errors: [...(body.ValidationErrors ?? []), ...(body.Error ? [body.Error] : [])] };
}

test("every job of jobs/, as the default cluster renders it, passes `nomad job validate` and the server's validation", async () => {
  const jobs = defaultClusterJobs();
  expect([...jobs.keys()].sort()).toEqual(ALL_JOBS.map((j) => j.id).sort());
  expect(await validateJobs(jobs, work, env)).toEqual([...jobs.keys()].map((id) => ({ id, exitCode: 0, output: "" })));
  for (const [id, spec] of jobs) expect({ id, ...(await serverValidation(spec)) }).toEqual({ id, status: 200, errors: [] });
});

test("a job Nomad refuses fails both checks, with Nomad's reason (the check is real)", async () => {
  const [id, spec] = [...defaultClusterJobs()][0];
  const broken = JSON.parse(spec);
  broken.Job.TaskGroups[0].Count = -1;
  const [cli] = await validateJobs(new Map([[id, JSON.stringify(broken)]]), work, env);
  expect(cli.exitCode).not.toBe(0);
  expect(cli.output).toMatch(/count can't be negative/i);
  const server = await serverValidation(JSON.stringify(broken));
  expect(server.errors.join("\n")).toMatch(/count can't be negative/i);
});
