/**
 * The order of the inventory's nodes is not a fact of the cluster: reversing or shuffling
 * them changes nothing in cdk.tf.json or in the synthesized assets.
 */
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { ElyStack } from "../constructs";
import { Inventory, parseInventory } from "../nodes";
import { defaultInput } from "./helpers/inventory";
import { testApp } from "./helpers/synth";
import { ALL_JOBS } from "../jobs";

/** Every file of a synth, by path relative to the output directory -> content. */
function synthesized(inventory: Inventory): Map<string, string> {
  const app = testApp();
  new ElyStack(app, inventory.name, { inventory, jobs: ALL_JOBS });
  app.synth();
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (!full.includes(`${path.sep}.staging${path.sep}`)) files.set(path.relative(app.outdir, full), fs.readFileSync(full, "utf8"));
    }
  };
  walk(app.outdir);
  return files;
}

describe("node order", () => {
  const baseline = synthesized(parseInventory(defaultInput(), "test"));

  test("the baseline has the stack and its assets", () => {
    expect([...baseline.keys()].some((f) => f.endsWith("cdk.tf.json"))).toBe(true);
    expect([...baseline.keys()].filter((f) => f.includes("assets")).length).toBeGreaterThan(10);
  });

  test("reversed nodes synthesize byte for byte the same", () => {
    const input = defaultInput();
    input.nodes.reverse();
    expect(synthesized(parseInventory(input, "test"))).toEqual(baseline);
  });

  test("any shuffle of the nodes synthesizes the same", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(defaultInput().nodes.map((_, i) => i), { minLength: 7, maxLength: 7 }), (order) => {
        const input = defaultInput();
        input.nodes = order.map((i) => input.nodes[i]);
        expect(synthesized(parseInventory(input, "test"))).toEqual(baseline);
      }),
      { numRuns: 3 },
    );
  });

  test("validation messages still index the nodes as written", () => {
    const input = defaultInput();
    input.nodes.reverse();
    input.nodes[0].mac = input.nodes[1].mac; // w3 takes w2's MAC
    const app = testApp();
    const stack = new ElyStack(app, "ely", { inventory: parseInventory({ ...input, nodes: input.nodes }, "test") as Inventory, jobs: ALL_JOBS });
    expect(stack.node.findAll().flatMap((c) => c.node.validate())).toContain(
      'error ELY-INV-006: node w2, field nodes[1].mac: received "00:1e:06:45:20:02", expected a unique MAC address; node w3 has it already',
    );
  });
});
