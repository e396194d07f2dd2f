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

/** "nodes[3].mac" from ["nodes", 3, "mac"]. */
function fieldOf(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`)).join("") || "(top level)";
}

/** The value at a path of the input, when there is one. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const part of path) value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[part] : undefined;
  return value;
}

type AnySchema = z.core.$ZodType;
const defOf = (schema: AnySchema) => schema._zod.def as unknown as Record<string, unknown> & { type: string };

/** The keys an object schema accepts at a path of the input (for "did you mean"). */
export function knownKeysAt(schema: AnySchema, path: readonly PropertyKey[], input: unknown): string[] {
  let current: AnySchema | undefined = schema;
  for (let i = 0; i <= path.length && current; i++) {
    let def = defOf(current);
    while (def.innerType) {
      current = def.innerType as AnySchema;
      def = defOf(current);
    }
    if (def.type === "union") {
      const options = def.options as AnySchema[];
      const discriminator = def.discriminator as string | undefined;
      const here = valueAt(input, path.slice(0, i)) as Record<string, unknown> | undefined;
      const chosen = discriminator
        ? options.find((o) => {
            const literal = defOf((defOf(o).shape as Record<string, AnySchema>)[discriminator]);
            return (literal.values as unknown[] | undefined)?.includes(here?.[discriminator]);
          })
        : undefined;
      if (!chosen) return [...new Set(options.flatMap((o) => Object.keys((defOf(o).shape as object) ?? {})))];
      current = chosen;
      def = defOf(current);
    }
    if (i === path.length) return def.type === "object" ? Object.keys(def.shape as object) : [];
    const part = path[i];
    if (def.type === "object") current = (def.shape as Record<string, AnySchema>)[String(part)];
    else if (def.type === "array") current = def.element as AnySchema;
    else if (def.type === "record") current = def.valueType as AnySchema;
    else return [];
  }
  return [];
}

/** The known key closest to a mistyped one, when it is close enough to be a typo. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const { closest, distance } = require("fastest-levenshtein") as typeof import("fastest-levenshtein");
  if (known.length === 0) return undefined;
  const best = closest(key, [...known]);
  return distance(key.toLowerCase(), best.toLowerCase()) <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** What one zod issue says, in the inventory's words: the field, what was received, what was expected. */
function issueProblems(issue: z.core.$ZodIssue, root: AnySchema, input: unknown): { field: string; message: string }[] {
  const received = "input" in issue ? shown(issue.input) : shown(valueAt(input, issue.path));
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeysAt(root, issue.path, input);
      return issue.keys.map((key) => {
        const near = closestKey(key, known);
        return {
          field: fieldOf([...issue.path, key]),
          message:
            `received an unknown key ${JSON.stringify(key)}, expected one of ${known.map((k) => JSON.stringify(k)).join(", ")}` +
            (near ? `; did you mean ${JSON.stringify(near)}?` : ""),
        };
      });
    }
    case "invalid_key": {
      const inner = issue.issues[0]?.message ?? issue.message;
      return [{ field: fieldOf(issue.path), message: `received ${received}, ${inner.startsWith("expected ") ? inner : `expected a valid key: ${inner}`}` }];
    }
    case "invalid_type":
      return [{ field: fieldOf(issue.path), message: `received ${received}, expected ${issue.expected === "string" ? "a string" : `a value of type ${issue.expected}`}` }];
    case "invalid_value":
      return [{ field: fieldOf(issue.path), message: `received ${received}, expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}` }];
    case "invalid_union":
      return [{ field: fieldOf(issue.path), message: `received ${received}, expected ${issue.message.replace(/^Invalid input:?\s*/, "") || "one of the documented shapes"}` }];
    case "too_small":
    case "too_big": {
      const custom = issue.message.startsWith("expected ");
      const bound = issue.code === "too_small" ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      const unit = issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " character(s)" : "";
      return [{ field: fieldOf(issue.path), message: `received ${received}, ${custom ? issue.message : `expected ${bound}${unit}`}` }];
    }
    default:
      return [{ field: fieldOf(issue.path), message: `received ${received}, ${issue.message.startsWith("expected ") ? issue.message : `expected: ${issue.message}`}` }];
  }
}

/** Turns zod issues into problems naming the node (by hostname when it has one) and the field. */
export function schemaProblems(input: unknown, issues: readonly z.core.$ZodIssue[], root: AnySchema = inventorySchema): Problem[] {
  const nodes = (input as { nodes?: unknown })?.nodes;
  return issues.flatMap((issue) => {
    let subject: string | undefined;
    if (issue.path[0] === "nodes" && typeof issue.path[1] === "number" && Array.isArray(nodes)) {
      const hostname = (nodes[issue.path[1]] as { hostname?: unknown })?.hostname;
      subject = typeof hostname === "string" ? hostname : `#${issue.path[1]}`;
    }
    return issueProblems(issue, root, input).map(({ field, message }) => ({ severity: "error" as const, subject, field, message }));
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
  // A format rule checked by both the schema and the whole-inventory rules is reported once.
  const seen = new Set<string>();
  throw new InventoryError(source, problems.filter((p) => !seen.has(formatProblem(p)) && !!seen.add(formatProblem(p))));
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
