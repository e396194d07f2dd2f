import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { DEFAULT_INVENTORY, InventoryError, loadInventory, parseInventory, readInventoryFile } from "../nodes";
import { defaultInput } from "./helpers/inventory";

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-inv-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InventoryError);
    return (e as Error).message;
  }
  throw new Error("expected an InventoryError");
}

describe("loading an inventory", () => {
  test("the built-in default is the seed's seven hosts", () => {
    const inventory = loadInventory({});
    expect(inventory.nodes.map((n) => `${n.hostname}:${n.role}:${n.arch}:${n.ip}`)).toEqual([
      "util:util:arm64:10.25.89.4",
      "m1:server:arm64:10.25.89.10",
      "m2:server:arm64:10.25.89.20",
      "m3:server:arm64:10.25.89.30",
      "w1:client:amd64:10.25.89.21",
      "w2:client:amd64:10.25.89.22",
      "w3:client:amd64:10.25.89.23",
    ]);
    const w1 = inventory.nodes[4];
    expect(w1.mac).toBe("00:1e:06:45:28:5c");
    expect(w1.hardware).toMatchObject({ model: "ODROID H2", memoryMb: 32768, disks: [{ kind: "nvme", sizeGb: 1000 }] });
    expect(inventory.network).toMatchObject({ subnet: "10.25.89.0/24", internalDomain: "dmz.509ely.com", servicesDomain: "apps.509ely.com" });
  });

  test("the effective inventory, printed as JSON or YAML, loads back unchanged", () => {
    const effective = loadInventory({});
    const json = write("mine.json", JSON.stringify(effective));
    const yaml = write("mine.yaml", YAML.stringify(effective));
    expect(loadInventory({ ELY_INVENTORY: json })).toEqual(effective);
    expect(loadInventory({ ELY_INVENTORY: yaml })).toEqual(effective);
  });

  test("schema errors name the file, the node and the field, all at once", () => {
    const input = defaultInput();
    input.nodes[1].role = "master";
    input.nodes[2].arch = "armhf";
    input.nodes[4].ip = 21 as unknown as string;
    input.nodes[5].colour = "red";
    const file = write("bad.json", JSON.stringify(input));
    const message = problemsOf(() => readInventoryFile(file));
    expect(message).toContain(`${file}: the inventory has 4 problems`);
    expect(message).toContain(`error ELY-SCH-003: ${file}, node m1, field nodes[1].role: received "master", expected one of "util", "server", "client"`);
    expect(message).toContain(`error ELY-SCH-003: ${file}, node m2, field nodes[2].arch: received "armhf", expected one of "amd64", "arm64"`);
    expect(message).toContain(`error ELY-SCH-002: ${file}, node w1, field nodes[4].ip: received 21, expected a string`);
    expect(message).toContain(`error ELY-SCH-001: ${file}, node w2, field nodes[5].colour: received an unknown key "colour", expected one of "hostname", "role",`);
  });

  test("a wrong role still lets the whole-inventory rules report", () => {
    const input = defaultInput();
    input.nodes[1].role = "master";
    input.nodes[6].mac = input.nodes[5].mac;
    const message = problemsOf(() => parseInventory(input, "inv.yaml"));
    expect(message).toContain('error ELY-SCH-003: inv.yaml, node m1, field nodes[1].role: received "master", expected one of "util", "server", "client"');
    expect(message).toContain("received 2 servers, expected an odd number of at least 3");
    expect(message).toContain('error ELY-INV-006: inv.yaml, node w3, field nodes[6].mac: received "00:1e:06:45:20:02", expected a unique MAC address; node w2 has it already');
  });

  test("an unreadable or unparsable file is named", () => {
    expect(problemsOf(() => readInventoryFile(path.join(dir, "missing.json")))).toMatch(/error ELY-FILE-001: \S*missing\.json: received a file it cannot read/);
    const broken = write("broken.yaml", "nodes: [\n");
    expect(problemsOf(() => readInventoryFile(broken))).toMatch(/error ELY-FILE-002: \S*broken\.yaml: received text that does not parse/);
  });

  test("an unknown key is named with where it is and the closest known key, not the whole object", () => {
    const input = defaultInput();
    input.nodess = input.nodes;
    input.nodes[4].macc = "00:1e:06:45:28:5c";
    input.state = { backend: "consul", pth: "x" };
    const message = problemsOf(() => parseInventory(input, "inv.json"));
    expect(message).toContain('error ELY-SCH-001: inv.json, field nodess: received an unknown key "nodess", expected one of "name", "datacenter",');
    expect(message).toMatch(/field nodess: .*; did you mean "nodes"\?$/m);
    expect(message).toMatch(/node w1, field nodes\[4\]\.macc: received an unknown key "macc", expected one of "hostname", .*; did you mean "mac"\?$/m);
    expect(message).toMatch(/field state\.pth: received an unknown key "pth", expected one of "backend", "address", "scheme", "path"; did you mean "path"\?$/m);
    // no line carries a dump of the inventory or of a node
    for (const line of message.split("\n")) expect(line.length).toBeLessThan(400);
    expect(message).not.toContain("10.25.89.21");
  });

  test("a missing value says so once, and a long value is cut", () => {
    const input = defaultInput();
    delete input.nodes[2].ip;
    input.datacenter = "x".repeat(5000);
    const message = problemsOf(() => parseInventory(input, "inv.json"));
    expect(message).toContain("error ELY-SCH-002: inv.json, node m2, field nodes[2].ip: received nothing, expected a string");
    expect(message).not.toMatch(/received nothing: Invalid input/);
    expect(message).toMatch(/field datacenter: received "x{60,80}\.\.\." \(5000 characters\), expected a datacenter name/);
  });

  test("the default inventory input is not mutated by parsing", () => {
    const before = JSON.stringify(DEFAULT_INVENTORY);
    parseInventory(DEFAULT_INVENTORY, "x");
    expect(JSON.stringify(DEFAULT_INVENTORY)).toBe(before);
  });
});
