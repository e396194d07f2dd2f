/**
 * The one way every entry point (`ely validate`, `ely synth`, and main.ts, which `cdktf synth|diff|deploy`
 * runs) loads the inventory and reports what is wrong with it: the same list of problems, no stack
 * trace, exit 1.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { InventoryError, inventorySource, loadInventory, Inventory } from "../nodes";
import { buildApp, BuiltApp } from "./build-app";
import { collectProblems } from "./collect-problems";

/** Loads the inventory, printing its problems and exiting 1 when it does not parse. */
export function inventoryOrExit(): Inventory {
  try {
    return loadInventory();
  } catch (e) {
    if (e instanceof InventoryError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
}

/**
 * Builds the app of the environment's inventory and runs every construct's validations; prints
 * the warnings, and when there is an error prints every one (`<source>: N problems<consequence>:`)
 * and exits 1. The returned app is built with skipValidation: its validations have run here.
 */
export function checkedAppOrExit(options: { readonly outdir?: string; readonly consequence?: string } = {}): BuiltApp {
  const inventory = inventoryOrExit();
  const source = inventorySource();
  const built = buildApp({ inventory, outdir: options.outdir, source, skipValidation: true });
  const { errors, warnings } = collectProblems(built.stack);
  for (const w of warnings) console.error(w);
  if (errors.length > 0) {
    console.error(`${source}: ${errors.length} problem${errors.length === 1 ? "" : "s"}${options.consequence ?? ""}:`);
    for (const e of errors) console.error("  " + e);
    process.exit(1);
  }
  return built;
}

/** A directory for constructs to stage files in (they do at construction), removed when the process exits, however it ends. */
export function throwawayOutdir(prefix: string): string {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => fs.rmSync(outdir, { recursive: true, force: true }));
  return outdir;
}
