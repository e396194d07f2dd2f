import * as fs from "fs";
import * as path from "path";
import execa from "execa";

export interface JobValidation {
  readonly id: string;
  readonly exitCode: number;
  /** Nomad's output when it refused the job; "" when the job is valid. */
  readonly output: string;
}

/**
 * `nomad job validate -json` of each job (ID -> API job JSON), written to `<dir>/<id>.nomad.json`.
 * With NOMAD_ADDR and NOMAD_TOKEN in `env`, the Nomad server validates, as it would on submit.
 */
export async function validateJobs(jobs: ReadonlyMap<string, string>, dir: string, env: NodeJS.ProcessEnv): Promise<JobValidation[]> {
  const results: JobValidation[] = [];
  for (const [id, spec] of jobs) {
    const file = path.join(dir, `${id}.nomad.json`);
    fs.writeFileSync(file, spec);
    const result = await execa("nomad", ["job", "validate", "-json", file], { env, reject: false, all: true });
    results.push({ id, exitCode: result.exitCode, output: result.exitCode === 0 ? "" : result.all ?? "" });
  }
  return results;
}
