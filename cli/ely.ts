#!/usr/bin/env node
/**
 * ely: validate the inventory, print it, synthesize the cluster, draw it, and compare the running
 * cluster with the plan (status); the plan summary, secrets and SD cards.
 * The inventory is the built-in default, or the JSON/YAML file in ELY_INVENTORY (or --inventory).
 */
import * as fs from "fs";
import * as path from "path";
import { Command, Option } from "commander";
import * as YAML from "yaml";
import { INVENTORY_ENV, inventorySource } from "../nodes";
import { checkedAppOrExit, inventoryOrExit, throwawayOutdir } from "./checked-app";
import { registerFlashCommand } from "./flash";
import { registerGraphCommand } from "./graph-command";
import { registerSecretsCommand } from "./secrets";
import { registerStatusCommand } from "./status";
import { clusterGraph, mermaidBlock } from "./graph";
import { ChangedParts, checkPlanJson, DEFAULT_LIMIT_CHARS, summarizePlan } from "./plan-summary";
import { summarizeSynth } from "./synth-summary";
import { projectRoot } from "../constructs/project-program";

const program = new Command();
program
  .name("ely")
  .description("A netbooted Consul/Nomad home lab, declared with CDK for Terraform")
  .version(packageVersion(), "-V, --version", "print the version")
  .option("-i, --inventory <file>", `inventory file (JSON or YAML); default: $${INVENTORY_ENV}, else the built-in cluster`)
  .hook("preAction", (command) => {
    const file = command.opts().inventory as string | undefined;
    if (file) process.env[INVENTORY_ENV] = path.resolve(file);
  });

/** The version in the checkout's package.json. */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as { version: string }).version;
}

program
  .command("validate")
  .description("check the inventory and everything declared from it; exit 1 listing every problem")
  .action(() => {
    const { inventory } = checkedAppOrExit({ outdir: throwawayOutdir("ely-validate-") });
    console.log(`${inventorySource()}: valid (${inventory.nodes.length} nodes)`);
  });

program
  .command("inventory")
  .description("print the effective inventory, every default filled in")
  .addOption(new Option("--json", "as JSON, in the shape ELY_INVENTORY accepts").conflicts("yaml"))
  .addOption(new Option("--yaml", "as YAML, in the shape ELY_INVENTORY accepts").conflicts("json"))
  .action((options: { json?: boolean; yaml?: boolean }) => {
    const inventory = inventoryOrExit();
    if (options.yaml) {
      process.stdout.write(YAML.stringify(inventory));
      return;
    }
    if (options.json) {
      process.stdout.write(JSON.stringify(inventory, null, 2) + "\n");
      return;
    }
    console.log(`${inventory.name}: datacenter ${inventory.datacenter}, region ${inventory.region}, subnet ${inventory.network.subnet}`);
    for (const n of inventory.nodes) {
      console.log(`  ${n.hostname.padEnd(10)} ${n.role.padEnd(7)} ${n.arch.padEnd(6)} ${n.ip.padEnd(16)} ${n.mac ?? "-"}`);
    }
  });

program
  .command("synth")
  .description("synthesize the Terraform configuration into cdktf.out and print a summary")
  .option("-o, --outdir <dir>", "output directory", "cdktf.out")
  .action((options: { outdir: string }) => {
    const started = Date.now();
    const { app, inventory } = checkedAppOrExit({ outdir: options.outdir, consequence: "; nothing synthesized" });
    app.synth();
    console.log(summarizeSynth(options.outdir, inventory, Date.now() - started));
  });

program
  .command("plan-summary")
  .description("Markdown review of a plan: pass `terraform show -json <plan>` output as a file or on stdin")
  .argument("[file]", "plan JSON file; default: standard input")
  .option("--limit <chars>", "maximum length of the summary", String(DEFAULT_LIMIT_CHARS))
  .option("--graph", "add a Mermaid picture of the nodes and jobs the plan changes (builds the inventory's stack)")
  .action((file: string | undefined, options: { limit: string; graph?: boolean }) => {
    const text = fs.readFileSync(file ?? 0, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file ?? "stdin"}: expected the JSON of \`terraform show -json <plan>\`, could not parse it: ${(e as Error).message}`);
    }
    const plan = checkPlanJson(parsed, file ?? "stdin");
    const picture = options.graph ? (parts: ChangedParts) => mermaidBlock(clusterGraph(graphStack(), { only: parts })) : undefined;
    process.stdout.write(summarizePlan(plan, Number(options.limit), { picture }));
  });

/** The inventory's checked stack, for a picture. */
function graphStack() {
  return checkedAppOrExit({ outdir: throwawayOutdir("ely-graph-") }).stack;
}

registerFlashCommand(program, inventoryOrExit);
registerSecretsCommand(program, inventoryOrExit);
registerStatusCommand(program, inventoryOrExit);
registerGraphCommand(program, graphStack);

// Bare `ely`: the help, on standard output, exit 0 (commander's default is an error).
if (process.argv.length <= 2) program.help();

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`ely: ${e.message}`);
  process.exit(1);
});
