/**
 * Loading the inventory: the built-in default, or a JSON/YAML file named by ELY_INVENTORY.
 * Schema errors name the file, the node and the field, and are all reported at once.
 */
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { DEFAULT_INVENTORY } from "./default-inventory";
import { formatProblem, problem, Problem, shapeRuleOf, shown } from "./problems";
import { RuleId } from "./rules";
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
function issueProblems(issue: z.core.$ZodIssue, root: AnySchema, input: unknown): { rule: RuleId; field: string; message: string }[] {
  const received = "input" in issue ? shown(issue.input) : shown(valueAt(input, issue.path));
  // A string shape of safe-strings.ts names its own rule in its message.
  const shape = shapeRuleOf(issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message);
  switch (issue.code) {
    case "unrecognized_keys": {
      const known = knownKeysAt(root, issue.path, input);
      return issue.keys.map((key) => {
        const near = closestKey(key, known);
        return {
          rule: "ELY-SCH-001" as const,
          field: fieldOf([...issue.path, key]),
          message:
            `received an unknown key ${JSON.stringify(key)}, expected one of ${known.map((k) => JSON.stringify(k)).join(", ")}` +
            (near ? `; did you mean ${JSON.stringify(near)}?` : ""),
        };
      });
    }
    case "invalid_key": {
      const inner = shape.message;
      return [{ rule: shape.rule ?? "ELY-SCH-006", field: fieldOf(issue.path), message: `received ${received}, ${inner.startsWith("expected ") ? inner : `expected a valid key: ${inner}`}` }];
    }
    case "invalid_type":
      return [{ rule: "ELY-SCH-002", field: fieldOf(issue.path), message: `received ${received}, expected ${issue.expected === "string" ? "a string" : `a value of type ${issue.expected}`}` }];
    case "invalid_value":
      return [{ rule: "ELY-SCH-003", field: fieldOf(issue.path), message: `received ${received}, expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}` }];
    case "invalid_union":
      // zod words a wrong discriminator "Invalid discriminator value. Expected 'local' | 'consul'".
      const shapes = issue.message.replace(/^Invalid input:?\s*/, "").replace(/^Invalid discriminator value\. Expected /, "one of ");
      return [{ rule: "ELY-SCH-004", field: fieldOf(issue.path), message: `received ${received}, expected ${shapes || "one of the documented shapes"}` }];
    case "too_small":
    case "too_big": {
      const custom = shape.message.startsWith("expected ");
      const bound = issue.code === "too_small" ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      const unit = issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " character(s)" : "";
      return [{ rule: shape.rule ?? "ELY-SCH-005", field: fieldOf(issue.path), message: `received ${received}, ${custom ? shape.message : `expected ${bound}${unit}`}` }];
    }
    default:
      return [{ rule: shape.rule ?? "ELY-SCH-007", field: fieldOf(issue.path), message: `received ${received}, ${shape.message.startsWith("expected ") ? shape.message : `expected: ${shape.message}`}` }];
  }
}

/** Turns zod issues into problems naming the node (by hostname when it has one) and the field. */
export function schemaProblems(input: unknown, issues: readonly z.core.$ZodIssue[], root: AnySchema = inventorySchema): Problem[] {
  const nodes = (input as { nodes?: unknown })?.nodes;
  return issues.flatMap((issue) => {
    let node: string | undefined;
    if (issue.path[0] === "nodes" && typeof issue.path[1] === "number" && Array.isArray(nodes)) {
      const hostname = (nodes[issue.path[1]] as { hostname?: unknown })?.hostname;
      node = typeof hostname === "string" ? hostname : `#${issue.path[1]}`;
    }
    return issueProblems(issue, root, input).map(({ rule, field, message }) => problem(rule, { node, field }, message));
  });
}

/**
 * Parses and fills defaults; throws InventoryError listing every schema problem, and also the
 * whole-inventory rules' errors when only fields they relate (a role, an address, a path...) were
 * of the wrong shape: the schema checks a field's shape, the whole-inventory rules never again.
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
    throw new InventoryError(file, [problem("ELY-FILE-001", {}, `received a file it cannot read (${(e as Error).message}), expected a readable JSON or YAML file`)]);
  }
  let data: unknown;
  try {
    // yaml is loaded only for YAML files: synth of a JSON or built-in inventory skips its load time.
    data = /\.ya?ml$/i.test(file) ? (require("yaml") as typeof import("yaml")).parse(text) : JSON.parse(text);
  } catch (e) {
    throw new InventoryError(file, [problem("ELY-FILE-002", {}, `received text that does not parse (${(e as Error).message.split("\n")[0]}), expected ${path.extname(file) || "JSON"} syntax`)]);
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
