/**
 * One kind of check: every rule has an id a user can look up in docs/rules.md (generated from
 * nodes/rules.ts), a test that checks its message with the id, and each problem is reported once.
 */
import * as fs from "fs";
import * as path from "path";
import { AnnotationMetadataEntryType, Testing } from "cdktf";
import { collectProblems } from "../cli/collect-problems";
import { rulesDoc, RULES_DOC } from "../cli/rules-doc";
import { ElyStack } from "../constructs";
import { ALL_JOBS } from "../jobs";
import { z } from "zod";
import { formatProblem, InventoryError, parseInventory, problem, RULES, RuleId, schemaProblems } from "../nodes";
import { defaultInput } from "./helpers/inventory";

const ROOT = path.join(__dirname, "..");

/** The text of every test file, this one included. */
function testSources(): string {
  return fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => fs.readFileSync(path.join(__dirname, f), "utf8"))
    .join("\n");
}

describe("rule ids", () => {
  test("docs/rules.md is generated from the rules in the code (npm run docs:rules)", () => {
    expect(fs.readFileSync(path.join(ROOT, RULES_DOC), "utf8")).toBe(rulesDoc());
  });

  test("every rule is looked up by its id in docs/rules.md", () => {
    const doc = fs.readFileSync(path.join(ROOT, RULES_DOC), "utf8");
    for (const id of Object.keys(RULES)) expect(doc).toContain(`\`${id}\` | ${RULES[id as RuleId].severity} |`);
  });

  test("ids are ELY-<area>-<three digits>, numbered without gaps in each area", () => {
    const byArea = new Map<string, number[]>();
    for (const id of Object.keys(RULES)) {
      const m = /^ELY-([A-Z]{3,4})-(\d{3})$/.exec(id);
      expect(m).not.toBeNull();
      byArea.set(m![1], [...(byArea.get(m![1]) ?? []), Number(m![2])]);
    }
    for (const numbers of byArea.values()) expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  });

  test("every rule has a test that checks its message with its id", () => {
    const tests = testSources();
    const untested = Object.keys(RULES).filter((id) => !tests.includes(id));
    expect(untested).toEqual([]);
  });

  test("every message the tests check says what was received and what was expected", () => {
    const tests = testSources();
    // Whole string literals ('...', "..." or `...`) that hold a formatted problem.
    const literals = ["'", '"', "`"].flatMap((q) => [...tests.matchAll(new RegExp(`${q}((?:error|warning) ELY-[A-Z]+-\\d{3}: (?:\\\\.|[^${q}\\\\\\n])*)${q}`, "g"))].map((m) => m[1]));
    expect(literals.length).toBeGreaterThan(100);
    // Template literals (with ${...}) and short prefixes are left out: the whole message is not in them.
    const vague = literals.filter((m) => m.length > 40 && !m.includes("${") && !/received .*expected/.test(m));
    expect(vague).toEqual([]);
  });

  test("every rule of the code is in the table, and each id in the table is used by the code", () => {
    const sources = ["nodes", "constructs", "cli"].flatMap((dir) => filesUnder(path.join(ROOT, dir))).map((f) => fs.readFileSync(f, "utf8"));
    const code = sources.join("\n").replace(fs.readFileSync(path.join(ROOT, "nodes/rules.ts"), "utf8"), "");
    const used = new Set([...code.matchAll(/"(ELY-[A-Z]+-\d{3})"/g)].map((m) => m[1]));
    for (const id of used) expect(Object.keys(RULES)).toContain(id);
    // The schema's generic rules are chosen by the kind of zod issue (nodes/load.ts), named there too.
    expect(Object.keys(RULES).filter((id) => !used.has(id))).toEqual([]);
  });

  test("a problem takes its rule's severity, and prints the id first", () => {
    const p = problem("ELY-INV-012", { field: "nodes[].role" }, "received 1 server, expected 3 or 5");
    expect(p.severity).toBe("warning");
    expect(formatProblem(p, "lab.yaml")).toBe("warning ELY-INV-012: lab.yaml, field nodes[].role: received 1 server, expected 3 or 5");
    expect(formatProblem(problem("ELY-JOB-002", { job: "web", field: "image" }, "received nothing, expected an image"))).toBe(
      "error ELY-JOB-002: job web, field image: received nothing, expected an image",
    );
  });
});

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

describe("each problem once", () => {
  test("a field of the wrong shape is the schema's problem alone, not the whole-inventory rules' again", () => {
    const input = defaultInput();
    input.nodes[4].mac = "00:1e:06:45:28";
    input.nodes[5].ip = "10.25.89.300";
    input.nodes[6].hostname = "W3";
    input.network.subnet = "10.25.89.0/33";
    input.nodes[0].nfsExports = [{ path: "/opt/nfs dir" }];
    input.nodes[1].role = "master";
    let problems: string[] = [];
    try {
      parseInventory(input, "inv.json");
    } catch (e) {
      expect(e).toBeInstanceOf(InventoryError);
      problems = (e as InventoryError).problems.map((p) => formatProblem(p));
    }
    expect(problems).toEqual([
      'error ELY-STR-015: field network.subnet: received "10.25.89.0/33", expected an IPv4 subnet in CIDR notation like 10.25.89.0/24',
      'error ELY-STR-005: node util, field nodes[0].nfsExports[0].path: received "/opt/nfs dir", expected the exported directory: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")',
      'error ELY-SCH-003: node m1, field nodes[1].role: received "master", expected one of "util", "server", "client"',
      'error ELY-STR-016: node w1, field nodes[4].mac: received "00:1e:06:45:28", expected a MAC address like 00:1e:06:45:28:5c',
      'error ELY-STR-014: node w2, field nodes[5].ip: received "10.25.89.300", expected an IPv4 address like 10.25.89.21',
      'error ELY-STR-013: node W3, field nodes[6].hostname: received "W3", expected a DNS label (lowercase letters, digits, -)',
      // The whole-inventory rules still run on the rest: m1 is no server now.
      'error ELY-INV-011: field nodes[].role: received 2 servers, expected an odd number of at least 3 (or 1 for a lab)',
    ]);
  });

  test("a warning is gathered once, however often the validations run", () => {
    const input = defaultInput();
    input.nodes = input.nodes.filter((n) => n.hostname !== "m2" && n.hostname !== "m3");
    const inventory = parseInventory(input, "lab.json");
    const app = Testing.app();
    const stack = new ElyStack(app, inventory.name, { inventory, inventorySource: "lab.json", jobs: ALL_JOBS });
    for (let i = 0; i < 3; i++) for (const c of stack.node.findAll()) c.node.validate();
    const { errors, warnings } = collectProblems(stack);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([
      "warning ELY-INV-012: lab.json, field nodes[].role: received 1 server, expected 3 or 5: a single server is fine for a lab but loses the cluster with that node",
    ]);
    // Printed by the app from the gathered list, not annotated (cdktf would print an annotation a second time).
    expect(stack.node.findAll().flatMap((c) => c.node.metadata).filter((m) => m.type === AnnotationMetadataEntryType.WARN)).toEqual([]);
  });
});

describe("the schema's generic rules", () => {
  // Every shape of the inventory's schema names its own rule; a shape that names none (a schema of
  // a future field) still gets the generic rule of its kind of issue.
  const schema = z.object({ tags: z.record(z.string().regex(/^[a-z]+$/), z.string()), code: z.string().regex(/^[A-Z]{3}$/) });

  test("a key of a map that does not fit its shape: ELY-SCH-006; any other constraint: ELY-SCH-007", () => {
    const input = { tags: { "Bad Key": "x" }, code: "abcd" };
    const parsed = schema.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(schemaProblems(input, parsed.error!.issues, schema).map((p) => formatProblem(p))).toEqual([
      'error ELY-SCH-006: field tags.Bad Key: received "x", expected a valid key: Invalid string: must match pattern /^[a-z]+$/',
      'error ELY-SCH-007: field code: received "abcd", expected: Invalid string: must match pattern /^[A-Z]{3}$/',
    ]);
  });
});
