/**
 * Real convergence: the cdktf CLI drives Terraform with the real nomad, consul and null
 * providers against real Consul and Nomad dev agents (ACLs on), and every effect is
 * checked through the agents' HTTP APIs. Needs the tools of e2e/tools/build-tools.sh
 * (`npm run test:e2e` builds or reuses them).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { checkPlanJson, summarizePlan } from "../cli/plan-summary";
import { StatusReport } from "../cli/status-report";
import { DEFAULT_RAMROOT_COMPRESSION, ramrootArtifactOf } from "../images/ramroot-codec";
import { validateJobs } from "./agents/job-validate";
import { DevAgents, http, startDevAgents, waitFor, withLogs } from "./dev-agents";
import { e2eInventory } from "./e2e-inventory";
import { onPath } from "./on-path";
import { renderedJobs } from "./rendered-jobs";

const root = path.resolve(__dirname, "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-e2e-"));
const out = path.join(work, "cdktf.out");
const stackDir = path.join(out, "stacks", "e2e");
const started = Date.now();
let agents: DevAgents;
let env: NodeJS.ProcessEnv;
/** What the agents hold before Ely deploys anything: destroy must return to exactly this. */
let baseline: Awaited<ReturnType<typeof agentState>>;

async function agentState() {
  const names = (list: { Name?: string; Description?: string }[] | undefined) => (list ?? []).map((x) => x.Name ?? x.Description).sort();
  return {
    // Children that Nomad's periodic scheduler launches (ddns/periodic-<time>) are Nomad's, not declared by Ely.
    nomadJobs: names((await nomadGet<{ Name: string; ParentID?: string }[]>("/v1/jobs")).filter((j) => !j.ParentID)),
    nomadPolicies: names(await nomadGet<{ Name: string }[]>("/v1/acl/policies")),
    consulPolicies: names(await consulGet<{ Name: string }[]>("/v1/acl/policies")),
    consulTokens: names(await consulGet<{ Description: string }[]>("/v1/acl/tokens")),
    anonymousPolicies: names((await consulGet<{ Policies?: { Name: string }[] }>("/v1/acl/token/00000000-0000-0000-0000-000000000002"))?.Policies),
    kv: (await consulGet<string[]>("/v1/kv/?keys=true")) ?? [],
  };
}

function progress(step: string): void {
  process.stderr.write(`[e2e] ${step} (${Math.round((Date.now() - started) / 1000)}s)\n`);
}

async function cdktf(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  progress(`cdktf ${args[0]}`);
  const result = await execa(process.execPath, [require.resolve("cdktf-cli/bundle/bin/cdktf"), ...args, "--output", out], {
    cwd: work,
    env: { ...env, ...extraEnv },
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) throw new Error(`cdktf ${args.join(" ")} failed (${result.exitCode}):\n${result.all}\n${agents.logTails()}`);
  return result.all ?? "";
}

async function terraform(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return execa(process.env.TERRAFORM_BINARY_NAME || "terraform", args, { cwd: stackDir, env: { ...env, ...extraEnv }, reject: false, all: true });
}

/** The changes of a fresh plan of the synthesized stack, from `terraform show -json`. */
async function planChanges(extraEnv: NodeJS.ProcessEnv = {}) {
  const plan = await terraform(["plan", "-input=false", "-lock=false", "-out=e2e.plan"], extraEnv);
  if (plan.exitCode !== 0) throw new Error(`terraform plan failed:\n${plan.all}`);
  const shown = await terraform(["show", "-json", "e2e.plan"]);
  const json = JSON.parse(shown.stdout);
  const changed = (json.resource_changes as { address: string; change: { actions: string[] } }[]).filter((c) => !c.change.actions.every((a) => a === "no-op"));
  return { json, changed };
}

/** The compiled `ely` command, as an operator runs it, with the operator's tokens. */
async function ely(args: string[]) {
  return execa(process.execPath, [path.join(root, "dist", "cli", "ely.js"), ...args], {
    cwd: work,
    env: { ...env, CONSUL_HTTP_TOKEN: agents.consulToken, NOMAD_TOKEN: agents.nomadToken },
    reject: false,
  });
}

/** `terraform show -json` of a plan made with these arguments. */
async function shownPlan(args: string[], file: string) {
  const plan = await terraform(["plan", "-input=false", "-lock=false", ...args, `-out=${file}`]);
  if (plan.exitCode !== 0) throw new Error(`terraform plan ${args.join(" ")} failed:\n${plan.all}`);
  return JSON.parse((await terraform(["show", "-json", file])).stdout);
}

/**
 * The parts of a real plan the unit tests read (__tests__/fixtures/), written when
 * ELY_E2E_WRITE_FIXTURES names a directory: no variables, no configuration, and a check
 * that no token of the run is in it.
 */
function writeFixture(name: string, plan: Record<string, unknown>, types: string[]) {
  const dir = process.env.ELY_E2E_WRITE_FIXTURES;
  if (!dir) return;
  const keep = (list: unknown) =>
    ((list ?? []) as { type: string; change: { actions: string[] } }[]).filter((c) => types.includes(c.type) && !c.change.actions.every((a) => a === "no-op"));
  const trimmed = {
    format_version: plan.format_version,
    terraform_version: plan.terraform_version,
    planned_values: { root_module: {} },
    resource_drift: keep(plan.resource_drift),
    resource_changes: keep(plan.resource_changes),
    applyable: plan.applyable,
    complete: plan.complete,
    errored: plan.errored,
  };
  const text = JSON.stringify(trimmed, null, 2) + "\n";
  for (const secret of [agents.consulToken, agents.nomadToken]) if (text.includes(secret)) throw new Error(`fixture ${name} would hold a token`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), text);
}

async function nomadGet<T>(p: string): Promise<T> {
  const r = await http("GET", `${agents.nomadAddress}${p}`, agents.nomadToken);
  if (r.status !== 200) throw new Error(`GET nomad ${p}: ${r.status} ${r.text}`);
  return r.json as T;
}

async function consulGet<T>(p: string): Promise<T | undefined> {
  const r = await http("GET", `${agents.consulAddress}${p}`, agents.consulToken);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET consul ${p}: ${r.status} ${r.text}`);
  return r.json as T;
}

function synthesizedJobs(): Map<string, string> {
  return renderedJobs(JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")));
}

beforeAll(async () => {
  progress("starting Consul and Nomad dev agents");
  // Named as the inventory's server, so that `ely status` finds it.
  agents = await startDevAgents(path.join(work, "agents"), { consul: onPath("consul", "test:e2e"), nomad: onPath("nomad", "test:e2e") }, { nodeName: "s1" });
  const inventoryFile = path.join(work, "e2e.json");
  fs.writeFileSync(inventoryFile, JSON.stringify(e2eInventory(agents), null, 2));
  fs.writeFileSync(path.join(work, "cdktf.json"), JSON.stringify({ language: "typescript", app: `node ${path.join(root, "dist", "e2e", "app.js")}`, sendCrashReports: "false" }));
  env = {
    ...process.env,
    ELY_INVENTORY: inventoryFile,
    TF_VAR_consul_token: agents.consulToken,
    TF_VAR_nomad_token: agents.nomadToken,
    NOMAD_ADDR: agents.nomadAddress,
    NOMAD_TOKEN: agents.nomadToken,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    CI: "1",
    // Netboot: the e2e app builds the test image into $ELY_E2E_WORK and publishes it there.
    ELY_E2E_WORK: work,
    ELY_PROJECT_DIR: root,
    ELY_PUBLISH_SERVICES: "0",
    ELY_APT_CACHE_DIR: process.env.ELY_APT_CACHE_DIR ?? path.join(os.homedir(), ".cache", "ely", "apt"),
  };
  baseline = await agentState();
}, 240_000);

afterAll(async () => {
  progress("stopping the agents");
  await agents?.stop();
  if (!process.env.ELY_E2E_KEEP) fs.rmSync(work, { recursive: true, force: true });
}, 60_000);

/** On failure, the agents' logs say what the agents saw. */
const withAgentLogs = (fn: () => Promise<void>) => withLogs(() => agents.logTails(), fn);

const EXPECTED_JOBS = ["ddns", "gitea", "hello", "kyleondy-web", "node-exporter", "prometheus", "registry", "traefik", "whoami"];

describe("cdktf against real agents", () => {
  test("synth, then every rendered job passes `nomad job validate`", () =>
    withAgentLogs(async () => {
      await cdktf(["synth"]);
      const jobs = synthesizedJobs();
      expect([...jobs.keys()].sort()).toEqual(EXPECTED_JOBS);
      expect(await validateJobs(jobs, work, env)).toEqual([...jobs.keys()].map((id) => ({ id, exitCode: 0, output: "" })));
    }), 300_000);

  test("deploy registers every job, the ACL policies and the KV, as the agents' APIs show", () =>
    withAgentLogs(async () => {
      const output = await cdktf(["deploy", "--auto-approve", "--skip-provider-lock"]);
      // The image build ran once, in the plan, and its build was published.
      expect(output.match(/ely-image client-amd64 [0-9a-f]{16} \[(\d+)\/\1\] install: ok/g) ?? []).toHaveLength(1);
      const [buildId] = fs.readdirSync(path.join(work, "images", "client-amd64")).filter((d) => /^[0-9a-f]{16}$/.test(d));
      expect(fs.existsSync(path.join(work, "images", "client-amd64", buildId, "manifest.json"))).toBe(true);
      expect(fs.existsSync(path.join(work, "util", "images", "client-amd64", buildId, ramrootArtifactOf(DEFAULT_RAMROOT_COMPRESSION.codec)))).toBe(true);
      const jobs = await nomadGet<{ ID: string; ParentID?: string }[]>("/v1/jobs");
      expect(jobs.filter((j) => !j.ParentID).map((j) => j.ID).sort()).toEqual(EXPECTED_JOBS);
      // A periodic launch may already have happened; it is a child of ddns and nothing else.
      expect(jobs.filter((j) => j.ParentID).map((j) => j.ParentID)).toEqual(jobs.filter((j) => j.ParentID).map(() => "ddns"));
      const consulPolicies = await consulGet<{ Name: string }[]>("/v1/acl/policies");
      expect(consulPolicies!.map((p) => p.Name)).toEqual(expect.arrayContaining(["nomad-server", "nomad-client", "dns-read"]));
      const anonymous = await consulGet<{ Policies: { Name: string }[] }>("/v1/acl/token/00000000-0000-0000-0000-000000000002");
      expect(anonymous!.Policies.map((p) => p.Name)).toContain("dns-read");
      const kv = await consulGet<{ Key: string; Value: string }[]>("/v1/kv/ely/cluster/?recurse=true");
      const values = Object.fromEntries(kv!.map((e) => [e.Key, Buffer.from(e.Value, "base64").toString()]));
      expect(values).toMatchObject({ "ely/cluster/datacenter": "dc1", "ely/cluster/name": "e2e", "ely/cluster/servers": "127.0.0.1" });
      const nomadPolicies = await nomadGet<{ Name: string }[]>("/v1/acl/policies");
      expect(nomadPolicies.map((p) => p.Name).sort()).toEqual(["operator", "read-only"]);
      const scheduler = await nomadGet<{ SchedulerConfig: { SchedulerAlgorithm: string } }>("/v1/operator/scheduler/configuration");
      expect(scheduler.SchedulerConfig.SchedulerAlgorithm).toBe("spread");
    }), 600_000);

  test("a service really runs and answers HTTP at the address of its Consul registration", () =>
    withAgentLogs(async () => {
      const address = await waitFor("a passing hello service in Consul", 180_000, async () => {
        const entries = await consulGet<{ Service: { Address: string; Port: number } }[]>("/v1/health/service/hello?passing=true");
        const s = entries?.[0]?.Service;
        return s ? `http://${s.Address}:${s.Port}` : undefined;
      });
      const res = await http("GET", `${address}/index.html`);
      expect(res.status).toBe(200);
      expect(res.text).toBe("hello from ely\n");
    }), 240_000);

  test("a second diff shows no change, and a second deploy builds no image", () =>
    withAgentLogs(async () => {
      const output = await cdktf(["diff", "--skip-provider-lock"]);
      expect(output).toMatch(/No changes/);
      const again = await cdktf(["deploy", "--auto-approve", "--skip-provider-lock"]);
      expect(again).not.toMatch(/ely-image client-amd64/);
      expect(again).toMatch(/No changes/);
      const { changed } = await planChanges();
      expect(changed.map((c) => c.address)).toEqual([]);
    }), 300_000);

  test("changing one service's image changes exactly that job, and the plan summary says so", () =>
    withAgentLogs(async () => {
      const changedImage = { ELY_E2E_WHOAMI_IMAGE: "traefik/whoami:v1.10.2" };
      const output = await cdktf(["diff", "--skip-provider-lock"], changedImage);
      expect(output).toMatch(/1 to change/);
      const { json, changed } = await planChanges(changedImage);
      expect(changed.map((c) => [c.address, c.change.actions])).toEqual([[expect.stringMatching(/^nomad_job\.services_whoami_job_/), ["update"]]]);
      const summary = summarizePlan(json);
      expect(summary).toContain("- **whoami** (update): image traefik/whoami:v1.10.3 → traefik/whoami:v1.10.2");
      expect(summary).not.toContain("DESTROYED");
      fs.writeFileSync(path.join(work, "plan-summary.md"), summary);
      // Back to the deployed state for what follows.
      await cdktf(["synth"]);
    }), 300_000);

  test("drift: a job scaled by hand and an ACL policy edited outside Terraform show in the summary, before the changes that revert them", () =>
    withAgentLogs(async () => {
      const job = await nomadGet<{ TaskGroups: { Name: string; Count: number }[] }>("/v1/job/hello");
      expect(job.TaskGroups[0].Count).toBe(1);
      const scaled = await http("POST", `${agents.nomadAddress}/v1/job/hello/scale`, agents.nomadToken, {
        Count: 2,
        Target: { Group: job.TaskGroups[0].Name },
        Message: "scaled by hand (e2e)",
      });
      expect(scaled.status).toBe(200);
      const listed = await consulGet<{ ID: string; Name: string }[]>("/v1/acl/policies");
      const policy = await consulGet<{ ID: string; Name: string; Rules: string; Description: string }>(`/v1/acl/policy/${listed!.find((p) => p.Name === "dns-read")!.ID}`);
      const edited = await http("PUT", `${agents.consulAddress}/v1/acl/policy/${policy!.ID}`, agents.consulToken, {
        ...policy,
        Rules: `${policy!.Rules}\nkey_prefix "" { policy = "read" }\n`,
      });
      expect(edited.status).toBe(200);

      // What `terraform plan -refresh-only` sees: the drift alone.
      const refreshOnly = await shownPlan(["-refresh-only"], "drift.plan");
      writeFixture("plan-refresh-only.json", refreshOnly, ["nomad_job", "consul_acl_policy"]);
      const drift = summarizePlan(checkPlanJson(refreshOnly, "refresh-only plan"));
      expect(drift).toContain("### Changed outside Terraform since the last apply");
      expect(drift).toContain("- job **hello**: count 1 → 2 (scaled by hand?) — **this plan leaves it so** (nothing planned for it)");
      expect(drift).toContain("- Consul ACL policy **dns-read**: rules edited — **this plan leaves it so** (nothing planned for it)");
      expect(drift).toContain("No changes.");

      // The pull request's plan: the drift first, then the planned changes. The nomad provider plans from the
      // jobspec alone, so the count scaled by hand stays; the policy's rules are put back.
      const plan = await shownPlan([], "pr.plan");
      writeFixture("plan-with-drift.json", plan, ["nomad_job", "consul_acl_policy"]);
      const summary = summarizePlan(checkPlanJson(plan, "plan"));
      fs.writeFileSync(path.join(work, "plan-summary-drift.md"), summary);
      expect(summary).toContain("2 resources changed outside Terraform since the last apply.");
      expect(summary).toContain("- job **hello**: count 1 → 2 (scaled by hand?) — **this plan leaves it so** (nothing planned for it)");
      expect(summary).toContain("- Consul ACL policy **dns-read**: rules edited — this plan changes it back");
      expect(summary.indexOf("### Changed outside Terraform")).toBeLessThan(summary.indexOf("### ACLs"));
      expect(summary).toMatch(/### ACLs\n\n- update `consul_acl_policy\.cluster_consul-acl_dns-read-policy_/);

      // ely status says the same of the job.
      const status = await ely(["status", "--json", "--outdir", out]);
      expect(JSON.parse(status.stdout).differences).toContain("job hello: count 2 in Nomad, 1 in the plan (scaled by hand?)");

      // Back to the plan: the count by hand (as an operator would), the policy by a deploy.
      // Nomad refuses to scale while the deployment of the first scaling runs: retry until it is done.
      await waitFor("hello scaled back to 1", 120_000, async () => {
        const back = await http("POST", `${agents.nomadAddress}/v1/job/hello/scale`, agents.nomadToken, { Count: 1, Target: { Group: job.TaskGroups[0].Name } });
        if (back.status !== 200) throw new Error(`HTTP ${back.status}: ${back.text}`);
        return true;
      });
      await cdktf(["deploy", "--auto-approve", "--skip-provider-lock"]);
      expect((await nomadGet<{ TaskGroups: { Count: number }[] }>("/v1/job/hello")).TaskGroups[0].Count).toBe(1);
      expect((await shownPlan(["-refresh-only"], "after.plan")).resource_drift ?? []).toEqual([]);
    }), 600_000);

  test("ely status reads the applied stack's outputs (terraform output -json) and reports the agents this machine lacks", () =>
    withAgentLogs(async () => {
      const [buildId] = fs.readdirSync(path.join(work, "images", "client-amd64")).filter((d) => /^[0-9a-f]{16}$/.test(d));
      const hello = (r: StatusReport) => r.jobs.find((j) => j.name === "hello")!;
      const report = await waitFor("hello healthy in ely status", 120_000, async () => {
        const result = await ely(["status", "--json", "--outdir", out]);
        if (result.exitCode !== 1) throw new Error(`ely status exited ${result.exitCode}: ${result.stderr}`);
        const r = JSON.parse(result.stdout) as StatusReport;
        if (hello(r).healthy !== 1) throw new Error(`hello: ${JSON.stringify(hello(r))}`);
        return r;
      });
      expect(report.planSource).toBe(`terraform output -json in ${stackDir}`);
      expect(report.nodes.find((n) => n.hostname === "s1")).toEqual({
        hostname: "s1",
        role: "server",
        address: "127.0.0.1",
        consul: "alive",
        nomad: "alive",
        versions: { consul: "1.16.3", nomad: "1.6.3" },
        differences: [],
      });
      expect(hello(report)).toEqual({ name: "hello", type: "service", status: "running", desired: 1, planned: 1, running: 1, healthy: 1, differences: [] });
      // The plan's outputs name the build the deploy published for c1; no agent runs for c1 or util here.
      expect(report.nodes.find((n) => n.hostname === "c1")).toMatchObject({ consul: "missing", nomad: "missing", build: { image: "client-amd64", planned: buildId } });
      expect(report.differences).toEqual(
        expect.arrayContaining([
          "node util (util): no Consul agent: not a member of Consul",
          "node c1 (client): no Consul agent: not a member of Consul",
          "node c1 (client): no Nomad client: not a node of Nomad",
        ]),
      );
      // The table, as an operator reads it.
      const table = await ely(["status", "--outdir", out]);
      fs.writeFileSync(path.join(work, "status.txt"), table.stdout);
      expect(table.exitCode).toBe(1);
      expect(table.stdout).toMatch(/^hello +service +running +1 +1 +1 +1$/m);
    }), 300_000);

  test("destroy leaves Nomad and Consul clean", () =>
    withAgentLogs(async () => {
      await cdktf(["destroy", "--auto-approve", "--skip-provider-lock"]);
      expect(baseline.nomadJobs).toEqual([]);
      expect(baseline.kv).toEqual([]);
      expect(await agentState()).toEqual(baseline);
    }), 600_000);
});
