/**
 * `ely status`: the running cluster against the plan. Reads the inventory and the stack's
 * Terraform outputs (what the last apply published), asks Consul and Nomad, prints one
 * report; exit 0 when everything is as planned, 1 naming each difference, 2 when the cluster
 * or the plan cannot be read (address, token, CA, no outputs), with a message, never a trace.
 */
import * as path from "path";
import { Command } from "commander";
import { consulEndpoint, Inventory, nomadEndpoint } from "../nodes";
import { Agent, CACERT_ENV, ClusterApi, ClusterApiError, TOKEN_ENV } from "./cluster-api";
import { outputsFromFile, PlanOutputs, PlanOutputsError, terraformOutputs } from "./plan-outputs";
import { readClusterFacts } from "./status-facts";
import { compareWithPlan, renderStatus, StatusReport } from "./status-report";

export interface StatusOptions {
  /** The cdktf output directory; the stack is `<outdir>/stacks/<cluster name>`. Default: "cdktf.out". */
  readonly outdir?: string;
  /** A file written by `terraform output -json` ("-": stdin), instead of running it. */
  readonly outputs?: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Everything that `ely status` reports, or throws ClusterApiError / PlanOutputsError. */
export async function clusterStatus(inventory: Inventory, options: StatusOptions): Promise<StatusReport> {
  const plan: PlanOutputs = options.outputs ? outputsFromFile(options.outputs) : await terraformOutputs(path.join(options.outdir ?? "cdktf.out", "stacks", inventory.name));
  const addresses = { consul: plan.consul_address ?? consulEndpoint(inventory), nomad: plan.nomad_address ?? nomadEndpoint(inventory) };
  const agents: Agent[] = ["Consul", "Nomad"];
  if (inventory.security.acl) {
    const missing = agents.filter((a) => !options.env[TOKEN_ENV[a]]).map((a) => TOKEN_ENV[a]);
    if (missing.length > 0) {
      throw new ClusterApiError(`the cluster has ACLs on (security.acl) and ${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} not set: export the operator's token (the one Terraform uses as TF_VAR_consul_token / TF_VAR_nomad_token)`);
    }
  }
  const api = (agent: Agent, address: string) =>
    new ClusterApi({ agent, address, token: options.env[TOKEN_ENV[agent]] || undefined, caFile: options.env[CACERT_ENV[agent]] || inventory.endpoints.caFile });
  const facts = await readClusterFacts(api("Consul", addresses.consul), api("Nomad", addresses.nomad));
  return compareWithPlan(inventory, plan, facts, addresses);
}

export function registerStatusCommand(program: Command, inventoryOrExit: () => Inventory): void {
  program
    .command("status")
    .description("the running cluster against the plan: nodes, builds, agent versions, jobs; exit 1 naming each difference")
    .option("--json", "the report as JSON, for scripts")
    .option("-o, --outdir <dir>", "cdktf output directory whose stack `terraform output -json` reads", "cdktf.out")
    .option("--outputs <file>", "a file written by `terraform output -json` (- for stdin), instead of running it")
    .action(async (options: { json?: boolean; outdir: string; outputs?: string }) => {
      const inventory = inventoryOrExit();
      let report: StatusReport;
      try {
        report = await clusterStatus(inventory, { outdir: options.outdir, outputs: options.outputs, env: process.env });
      } catch (e) {
        if (e instanceof ClusterApiError || e instanceof PlanOutputsError) {
          console.error(`ely status: ${e.message}`);
          process.exit(2);
        }
        throw e;
      }
      process.stdout.write(options.json ? JSON.stringify(report, null, 2) + "\n" : renderStatus(report));
      process.exitCode = report.differences.length > 0 ? 1 : 0;
    });
}
