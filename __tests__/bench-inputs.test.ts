/** The benchmarks' generated clusters and job sets are valid: a bench must measure synth, not a refusal. */
import { generatedInventory, generatedJobs } from "../bench/generated";
import { ElyStack } from "../constructs";
import { ALL_JOBS } from "../jobs";
import { parseInventory } from "../nodes";
import { testApp } from "./helpers/synth";

test.each([
  [50, 0],
  [7, 100],
])("%i nodes and %i generated jobs synthesize without a problem", (nodes, jobs) => {
  const inventory = parseInventory(generatedInventory(nodes), `generated ${nodes}`);
  const stack = new ElyStack(testApp(), inventory.name, { inventory, jobs: jobs > 0 ? generatedJobs(jobs) : ALL_JOBS });
  expect(stack.node.findAll().flatMap((c) => c.node.validate())).toEqual([]);
  expect(inventory.nodes).toHaveLength(nodes);
});
