/** `ely graph`: the Mermaid picture of the cluster (cli/graph.ts), on standard output or into a file. */
import * as fs from "fs";
import { Command } from "commander";
import { ElyStack } from "../constructs";
import { clusterGraph, mermaidBlock } from "./graph";

/** `stackOrExit` builds and checks the inventory's stack (printing its problems and exiting 1 when it has some). */
export function registerGraphCommand(program: Command, stackOrExit: () => ElyStack): void {
  program
    .command("graph")
    .description("a Mermaid diagram of the cluster: nodes (role, arch, image channel), the util node's services, jobs and where each is exposed")
    .option("--markdown", "as a ```mermaid block, for Markdown (GitHub renders it)")
    .option("-o, --output <file>", "write it to this file instead of standard output")
    .action((options: { markdown?: boolean; output?: string }) => {
      const graph = clusterGraph(stackOrExit());
      const text = options.markdown ? mermaidBlock(graph) : graph;
      if (options.output) fs.writeFileSync(options.output, text);
      else process.stdout.write(text);
    });
}
