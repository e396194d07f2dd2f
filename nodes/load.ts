/**
 * Loading the inventory: the built-in default, or a JSON/YAML file named by ELY_INVENTORY.
 * Schema errors name the file, the node and the field, and are all reported at once.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { DEFAULT_INVENTORY } from "./default-inventory";
import { formatProblem, Problem, shown } from "./problems";
import { Inventory, inventorySchema, lenientInventorySchema } from "./schema";
import { validateInventory } from "./validate";

export const INVENTORY_ENV = "ELY_INVENTORY";

/** Thrown when an inventory cannot be read or does not match the schema. */
export class InventoryError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly Problem[],
  ) {
    super(
      `${file}: the inventory has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n` +
        problems.map((p) => "  " + formatProblem(p, file)).join("\n"),
    );
    this.name = "InventoryError";
  }
}

/** Turns zod issues into problems naming the node (by hostname when it has one) and the field. */
export function schemaProblems(input: unknown, issues: readonly z.core.$ZodIssue[]): Problem[] {
  const nodes = (input as { nodes?: unknown })?.nodes;
  return issues.map((issue) => {
    const field = issue.path
      .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
      .join("");
    let subject: string | undefined;
    if (issue.path[0] === "nodes" && typeof issue.path[1] === "number" && Array.isArray(nodes)) {
      const hostname = (nodes[issue.path[1]] as { hostname?: unknown })?.hostname;
      subject = typeof hostname === "string" ? hostname : `#${issue.path[1]}`;
    }
    const received = "input" in issue ? `received ${shown(issue.input)}: ` : "";
    return { severity: "error" as const, subject, field: field || "(top level)", message: `${received}${issue.message}` };
  });
}

/**
 * Parses and fills defaults; throws InventoryError listing every schema problem, and
 * also the whole-inventory rules' errors when only a role, arch or boot mode was wrong.
 */
export function parseInventory(input: unknown, source: string): Inventory {
  const result = inventorySchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  const problems = schemaProblems(input, result.error.issues);
  const lenient = lenientInventorySchema.safeParse(input);
  if (lenient.success) {
    problems.push(...validateInventory(lenient.data as unknown as Inventory).filter((p) => p.severity === "error"));
  }
  throw new InventoryError(source, problems);
}

export function readInventoryFile(file: string): Inventory {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new InventoryError(file, [
      { severity: "error", field: "(file)", message: `cannot read it (${(e as Error).message}), expected a readable JSON or YAML file` },
    ]);
  }
  let data: unknown;
  try {
    // yaml is loaded only for YAML files: synth of a JSON or built-in inventory skips its load time.
    data = /\.ya?ml$/i.test(file) ? (require("yaml") as typeof import("yaml")).parse(text) : JSON.parse(text);
  } catch (e) {
    throw new InventoryError(file, [
      { severity: "error", field: "(file)", message: `cannot parse it: ${(e as Error).message.split("\n")[0]}; expected ${path.extname(file) || "JSON"} syntax` },
    ]);
  }
  return parseInventory(data, file);
}

/** Where the inventory comes from: the file in ELY_INVENTORY, or the built-in default. */
export function inventorySource(env: NodeJS.ProcessEnv = process.env): string {
  return env[INVENTORY_ENV] || "(built-in default inventory)";
}

export function loadInventory(env: NodeJS.ProcessEnv = process.env): Inventory {
  const file = env[INVENTORY_ENV];
  return file ? readInventoryFile(file) : parseInventory(DEFAULT_INVENTORY, inventorySource(env));
}
