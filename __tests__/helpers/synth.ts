import "cdktf/lib/testing/adapters/jest"; // the cdktf matchers' types
import * as fs from "fs";
import * as path from "path";
import { App, Testing } from "cdktf";
import { TEST_OUTDIR_ROOT } from "../setup";
import { ElyStack } from "../../constructs";
import { Inventory } from "../../nodes";
import { defaultInventory } from "./inventory";
import { ALL_JOBS } from "../../jobs";

/** A test app that synthesizes into the suite's temporary directory (removed after the suite). */
export function testApp(): App {
  return Testing.app({ outdir: fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, "app-")) });
}

/** The stack of an inventory (default: the built-in cluster), in a test app. */
export function stackOf(inventory: Inventory = defaultInventory()): ElyStack {
  const app = testApp();
  return new ElyStack(app, inventory.name, { inventory, jobs: ALL_JOBS });
}

/** The synthesized Terraform JSON of a stack, as text (what the cdktf matchers take). */
export function synthOf(stack: ElyStack): string {
  return Testing.synth(stack);
}

/** Validation messages of every construct of the stack. */
export function validationErrorsOf(stack: ElyStack): string[] {
  return stack.node.findAll().flatMap((c) => c.node.validate());
}
