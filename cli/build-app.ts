import "./token-creation-stacks"; // before cdktf creates a token (main.ts imports it earlier still)
import { App } from "cdktf";
import { ElyStack } from "../constructs";
import { ALL_JOBS } from "../jobs";
import { Inventory, inventorySource, loadInventory } from "../nodes";

export interface BuiltApp {
  readonly app: App;
  readonly stack: ElyStack;
  readonly inventory: Inventory;
}

export interface BuildAppOptions {
  /** Default: the inventory the environment names (ELY_INVENTORY, else the built-in cluster). */
  readonly inventory?: Inventory;
  /** Default: cdktf's own (cdktf.out, or what the cdktf CLI passes). */
  readonly outdir?: string;
  /** Named in validation messages. Default: the environment's inventory source when the inventory is loaded here. */
  readonly source?: string;
  /** Skip the construct validations in app.synth(), for callers that ran them already. Default: false. */
  readonly skipValidation?: boolean;
}

/** Builds the app's construct tree from an inventory. */
export function buildApp(options: BuildAppOptions = {}): BuiltApp {
  const inventory = options.inventory ?? loadInventory();
  const source = options.source ?? (options.inventory ? undefined : inventorySource());
  const app = new App({ ...(options.outdir ? { outdir: options.outdir } : {}), skipValidation: options.skipValidation ?? false });
  const stack = new ElyStack(app, inventory.name, { inventory, inventorySource: source, jobs: ALL_JOBS });
  return { app, stack, inventory };
}
