import "cdktf/lib/testing/adapters/jest"; // the cdktf matchers' types
import { Testing } from "cdktf";
import { ElyStack } from "../../constructs";
import { Inventory } from "../../nodes";
import { defaultInventory } from "./inventory";

/** The stack of an inventory (default: the built-in cluster), in a test app. */
export function stackOf(inventory: Inventory = defaultInventory()): ElyStack {
  const app = Testing.app();
  return new ElyStack(app, inventory.name, { inventory });
}

/** The synthesized Terraform JSON of a stack, as text (what the cdktf matchers take). */
export function synthOf(stack: ElyStack): string {
  return Testing.synth(stack);
}

/** Validation messages of every construct of the stack. */
export function validationErrorsOf(stack: ElyStack): string[] {
  return stack.node.findAll().flatMap((c) => c.node.validate());
}
