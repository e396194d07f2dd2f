/**
 * The example PR workflow (.github/workflows/plan.yml): every variable the stack declares is set from a
 * secret; the state comes from the real backend; the plan file and its JSON (sensitive values in clear)
 * never reach the workspace. Its scripts are run here for real (bash, terraform, the compiled ely).
 */
import * as fs from "fs";
import * as path from "path";
import execa from "execa";
import * as YAML from "yaml";
import { variablesOf } from "./helpers/variables";
import { stackOf } from "./helpers/synth";
import { TEST_OUTDIR_ROOT } from "./setup";

const root = path.join(__dirname, "..");
const ely = path.join(root, "dist", "cli", "ely.js");
interface Step {
  name?: string;
  id?: string;
  run?: string;
  env?: Record<string, string>;
  "working-directory"?: string;
}
const workflow = YAML.parse(fs.readFileSync(path.join(root, ".github", "workflows", "plan.yml"), "utf8")) as {
  jobs: { plan: { env?: Record<string, string>; steps: Step[] } };
};
const job = workflow.jobs.plan;
const stackStep = job.steps.find((s) => s.id === "stack")!;
const planStep = job.steps.find((s) => s.name === "terraform plan")!;

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, prefix));
}

/** Every file under dir whose content holds text. */
function filesHolding(dir: string, text: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .filter((f) => fs.readFileSync(f).includes(text));
}

describe("the plan workflow", () => {
  test("sets every Terraform variable the default stack declares, each from a secret, on the plan step only", () => {
    const declared = variablesOf(stackOf()).map((v) => `TF_VAR_${v.name}`).sort();
    expect(declared.length).toBeGreaterThanOrEqual(9);
    const set = Object.entries(planStep.env ?? {}).filter(([k]) => k.startsWith("TF_VAR_"));
    expect(set.map(([k]) => k).sort()).toEqual(declared);
    for (const [name, value] of set) expect([name, value]).toEqual([name, expect.stringMatching(/^\$\{\{ secrets\.[A-Z_]+ \}\}$/)]);
    expect(Object.keys(job.env ?? {}).filter((k) => k.startsWith("TF_VAR_"))).toEqual([]);
    expect(planStep.env?.CONSUL_HTTP_TOKEN).toMatch(/^\$\{\{ secrets\.[A-Z_]+ \}\}$/);
    expect(planStep["working-directory"]).toBe("${{ steps.stack.outputs.dir }}");
  });

  describe("the stack step", () => {
    async function runStackStep(inventory: string | undefined) {
      const dir = tempDir("workflow-stack-");
      const env = { ELY_INVENTORY: inventory ?? "", ELY_AGENT_BIN_DIR: process.env.ELY_AGENT_BIN_DIR! };
      expect((await execa(process.execPath, [ely, "synth"], { cwd: dir, env, reject: false })).exitCode).toBe(0);
      const output = path.join(dir, "github-output");
      fs.writeFileSync(output, "");
      const result = await execa("bash", ["-c", stackStep.run!], { cwd: dir, env: { GITHUB_OUTPUT: output }, reject: false });
      return { result, output: fs.readFileSync(output, "utf8") };
    }

    test("refuses a plan against a local state, saying what to set", async () => {
      const { result, output } = await runStackStep(undefined);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(
        "cdktf.out/stacks/ely: the state backend is local, expected consul: a plan against an empty local state would show the whole cluster as new; " +
          "set state: { backend: consul } in the inventory named by ELY_INVENTORY",
      );
      expect(output).toBe("");
    });

    test("with the state in Consul, names the stack's directory for the plan step", async () => {
      const input = JSON.parse((await execa(process.execPath, [ely, "inventory", "--json"], { env: { ELY_INVENTORY: "" } })).stdout);
      input.name = "lab";
      input.state = { backend: "consul", path: "lab/terraform/state" };
      const file = path.join(tempDir("workflow-inventory-"), "lab.json");
      fs.writeFileSync(file, JSON.stringify(input));
      const { result, output } = await runStackStep(file);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      expect(output).toBe("dir=cdktf.out/stacks/lab\n");
    }, 30_000);
  });

  const haveTerraform = execa.sync("sh", ["-c", "command -v terraform"], { reject: false }).exitCode === 0;
  (haveTerraform ? test : test.skip)("the plan step keeps the plan in a private directory it removes, and the summary holds no secret", async () => {
    // A configuration whose plan holds a sensitive value in clear, and an optional map variable whose secret is unset.
    const workdir = tempDir("workflow-plan-");
    fs.writeFileSync(
      path.join(workdir, "cdk.tf.json"),
      JSON.stringify({
        variable: { token: { type: "string", sensitive: true }, tokens: { type: "map(string)", default: {}, sensitive: true } },
        output: { o: { value: "${var.token}${length(var.tokens)}", sensitive: true } },
      }),
    );
    const runnerTemp = tempDir("workflow-runner-temp-");
    const secret = "s3cr3t-in-clear-7d1c";
    const result = await execa("bash", ["-c", planStep.run!], {
      cwd: workdir,
      env: { RUNNER_TEMP: runnerTemp, GITHUB_WORKSPACE: root, CHECKPOINT_DISABLE: "1", TF_VAR_token: secret, TF_VAR_tokens: "", TF_IN_AUTOMATION: "1" },
      reject: false,
    });
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.exitCode).toBe(0);
    expect(fs.readdirSync(runnerTemp)).toEqual(["plan-summary.md"]); // the private directory is gone
    expect(fs.readFileSync(path.join(runnerTemp, "plan-summary.md"), "utf8")).toContain("## Ely plan");
    expect(filesHolding(runnerTemp, secret)).toEqual([]);
    expect(filesHolding(workdir, secret)).toEqual([]);
    expect(fs.readdirSync(workdir).filter((f) => /plan|\.json$/.test(f) && f !== "cdk.tf.json")).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain(secret);
  }, 60_000);
});
