/** The environment of e2e/tools/build-tools.sh --env (builds what is missing; a no-op when cached), for the suites that run Terraform. */
import * as path from "path";
import execa from "execa";

export async function toolsEnv(root: string, progress: (step: string) => void): Promise<NodeJS.ProcessEnv> {
  progress("tools: e2e/tools/build-tools.sh --env");
  const r = await execa(path.join(root, "e2e/tools/build-tools.sh"), ["--env"], { reject: false });
  if (r.exitCode !== 0) throw new Error(`build-tools.sh failed:\n${r.stderr.split("\n").slice(-20).join("\n")}`);
  const out: NodeJS.ProcessEnv = {};
  for (const line of r.stdout.split("\n")) {
    const m = /^export (\w+)='([^']*)'(:"\$PATH")?$/.exec(line.trim()) ?? /^export (\w+)=(\S+)$/.exec(line.trim());
    if (!m) continue;
    out[m[1]] = m[3] ? `${m[2]}:${process.env.PATH}` : m[2];
  }
  return out;
}
