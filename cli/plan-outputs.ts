/**
 * What the last apply says the cluster should be: the stack's Terraform outputs
 * (constructs/cluster-outputs.ts), from `terraform output -json` in the stack's directory or
 * from a file that command wrote. Shape errors name the source and the output.
 */
import * as fs from "fs";
import execa from "execa";

export interface PlannedBuild {
  readonly image: string;
  readonly build_id: string;
  readonly channel: string;
}

export interface PlannedJob {
  readonly type: string;
  readonly count?: number;
  readonly image?: string;
}

export interface PlanOutputs {
  readonly consul_address?: string;
  readonly nomad_address?: string;
  /** Per netbooted node. */
  readonly node_image_builds: Readonly<Record<string, PlannedBuild>>;
  readonly jobs: Readonly<Record<string, PlannedJob>>;
  /** Where these came from, for messages. */
  readonly source: string;
}

export class PlanOutputsError extends Error {}

/** Runs `terraform output -json` in the stack directory (initialized by cdktf deploy). */
export async function terraformOutputs(stackDir: string): Promise<PlanOutputs> {
  if (!fs.existsSync(stackDir)) {
    throw new PlanOutputsError(`${stackDir}: no such stack directory: synthesize and deploy first (npm run cdktf -- deploy), or pass --outputs <file of terraform output -json>`);
  }
  const terraform = process.env.TERRAFORM_BINARY_NAME || "terraform";
  const source = `terraform output -json in ${stackDir}`;
  let result: execa.ExecaReturnValue;
  try {
    result = await execa(terraform, ["output", "-json"], { cwd: stackDir, reject: false, env: { CHECKPOINT_DISABLE: "1" } });
  } catch (e) {
    throw new PlanOutputsError(`${source}: could not run ${terraform}: ${(e as Error).message}`);
  }
  if ((result as { failed?: boolean; exitCode?: number }).exitCode !== 0) {
    const why = (result.stderr || result.stdout).replace(/\x1b\[[0-9;]*m/g, "").trim().split("\n").filter((l) => l.trim()).slice(0, 4).join(" ");
    throw new PlanOutputsError(`${source} failed (${result.exitCode ?? result.signal}): ${why}`);
  }
  return parseOutputs(result.stdout, source);
}

export function outputsFromFile(file: string): PlanOutputs {
  let text: string;
  try {
    text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new PlanOutputsError(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}: expected a file written by \`terraform output -json\``);
  }
  return parseOutputs(text, file === "-" ? "stdin" : file);
}

/** Parses `terraform output -json`: `{ name: { value, type, sensitive } }`. */
export function parseOutputs(text: string, source: string): PlanOutputs {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PlanOutputsError(`${source}: expected the JSON of \`terraform output -json\`, could not parse it: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PlanOutputsError(`${source}: expected the JSON object of \`terraform output -json\`, received ${Array.isArray(parsed) ? "an array" : JSON.stringify(parsed)}`);
  }
  const outputs = parsed as Record<string, { value?: unknown } | undefined>;
  if (Object.keys(outputs).length === 0) {
    throw new PlanOutputsError(`${source}: no outputs: the stack has not been deployed yet (or its state is elsewhere): deploy first`);
  }
  const problems: string[] = [];
  const value = (name: string) => outputs[name]?.value;
  const record = <T>(name: string, check: (key: string, v: unknown) => string | undefined): Record<string, T> => {
    const v = value(name);
    if (v === undefined) {
      problems.push(`output ${name}: missing, expected an object (deploy with this version of Ely)`);
      return {};
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      problems.push(`output ${name}: received ${JSON.stringify(v)}, expected an object`);
      return {};
    }
    for (const [k, item] of Object.entries(v)) {
      const problem = check(k, item);
      if (problem) problems.push(`output ${name}.${k}: ${problem}`);
    }
    return v as Record<string, T>;
  };
  const node_image_builds = record<PlannedBuild>("node_image_builds", (_k, b) => {
    const build = b as Partial<PlannedBuild> | null;
    return typeof build?.build_id === "string" && typeof build.image === "string" ? undefined : `received ${JSON.stringify(b)}, expected { image, build_id, channel }`;
  });
  const jobs = record<PlannedJob>("jobs", (_k, j) => {
    const job = j as Partial<PlannedJob> | null;
    return typeof job?.type === "string" && (job.count === undefined || typeof job.count === "number") ? undefined : `received ${JSON.stringify(j)}, expected { type, count?, image? }`;
  });
  if (problems.length > 0) throw new PlanOutputsError(`${source}: ${problems.join("; ")}`);
  const stringOutput = (name: string) => (typeof value(name) === "string" ? (value(name) as string) : undefined);
  return { consul_address: stringOutput("consul_address"), nomad_address: stringOutput("nomad_address"), node_image_builds, jobs, source };
}
