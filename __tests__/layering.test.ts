/**
 * Imports flow one way. From the bottom: the data (nodes/: the inventory and the facts of a
 * node's layout; jobs/: the services), the apply-time image programs (images/), the constructs
 * (constructs/), the app (cli/, main.ts). A folder imports only from its own floor or below;
 * nothing of the product imports the tests, the E2E suites or the benchmarks.
 */
import * as fs from "fs";
import * as path from "path";

const ROOT = path.join(__dirname, "..");
/** Floor of each folder of the product; a module may import from its floor or below. */
const FLOORS: Record<string, number> = { nodes: 0, jobs: 1, images: 2, constructs: 3, cli: 4, "main.ts": 5 };
const TEST_CODE = ["__tests__", "e2e", "bench"];

function filesOf(dir: string): string[] {
  const full = path.join(ROOT, dir);
  if (fs.statSync(full).isFile()) return [dir];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesOf(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** Relative import specifiers of a file, resolved to the top-level folder they land in. */
function importsOf(file: string): { spec: string; folder: string }[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const specs = [...text.matchAll(/(?:from|import|require\()\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  return specs.map((spec) => {
    const target = path.normalize(path.join(path.dirname(file), spec));
    return { spec, folder: target.split(path.sep)[0] === "main" ? "main.ts" : target.split(path.sep)[0] };
  });
}

/** Every import of the files that goes up a floor or into test code. */
function violations(files: readonly string[]): string[] {
  const wrong: string[] = [];
  for (const file of files) {
    const from = file === "main.ts" ? "main.ts" : file.split(path.sep)[0];
    for (const { spec, folder } of importsOf(file)) {
      if (TEST_CODE.includes(folder)) wrong.push(`${file} imports ${spec}: test code`);
      else if (folder in FLOORS && FLOORS[folder] > FLOORS[from]) wrong.push(`${file} (floor ${FLOORS[from]}, ${from}/) imports ${spec} (floor ${FLOORS[folder]}, ${folder}/)`);
    }
  }
  return wrong;
}

/** Within constructs/: the groups a group may import (besides constructs/'s own top files, which they share). */
const GROUPS: Record<string, readonly string[]> = { cluster: [], netboot: ["cluster"], rollout: ["cluster"], services: [] };

/** Imports from one construct group into another that it may not use. */
function groupViolations(files: readonly string[]): string[] {
  const wrong: string[] = [];
  for (const file of files) {
    const parts = file.split(path.sep);
    if (parts[0] !== "constructs" || parts.length < 3) continue;
    const from = parts[1];
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = path.normalize(path.join(path.dirname(file), m[1])).split(path.sep);
      if (target[0] !== "constructs" || target.length < 3 || target[1] === from) continue;
      if (!(GROUPS[from] ?? []).includes(target[1])) wrong.push(`${file} (constructs/${from}/) imports ${m[1]} (constructs/${target[1]}/)`);
    }
  }
  return wrong;
}

describe("layering", () => {
  const product = Object.keys(FLOORS).flatMap(filesOf);

  test("the product's files are all seen", () => {
    expect(product.length).toBeGreaterThan(80);
    expect(product).toContain(path.join("nodes", "schema.ts"));
    expect(product).toContain("main.ts");
  });

  test("no folder imports a folder above it, and the product never imports test code", () => {
    expect(violations(product)).toEqual([]);
  });

  test("construct groups import only the cluster group and constructs/'s shared files", () => {
    expect(product.filter((f) => f.split(path.sep).length > 2 && f.startsWith("constructs")).length).toBeGreaterThan(20);
    expect(groupViolations(product)).toEqual([]);
    const probe = path.join("constructs", "services", `.group-probe-${process.pid}.ts`);
    fs.writeFileSync(path.join(ROOT, probe), 'import { Netboot } from "../netboot/netboot";\nexport const x = Netboot;\n');
    try {
      expect(groupViolations([probe])).toEqual([`${probe} (constructs/services/) imports ../netboot/netboot (constructs/netboot/)`]);
    } finally {
      fs.rmSync(path.join(ROOT, probe));
    }
  });

  test("the rule can fail: an import upwards, or of test code, is reported", () => {
    const probe = path.join("jobs", `.layering-probe-${process.pid}.ts`);
    fs.writeFileSync(path.join(ROOT, probe), 'import { ElyStack } from "../constructs";\nimport { stackOf } from "../__tests__/helpers/synth";\nexport const x = [ElyStack, stackOf];\n');
    try {
      expect(violations([probe])).toEqual([`${probe} (floor 1, jobs/) imports ../constructs (floor 3, constructs/)`, `${probe} imports ../__tests__/helpers/synth: test code`]);
    } finally {
      fs.rmSync(path.join(ROOT, probe));
    }
  });
});
