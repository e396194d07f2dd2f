/**
 * The path users run most: the real cdktf CLI running main.ts (compiled by the global setup).
 * A bad inventory must print the same problem list as `ely validate`, no stack trace, no cdktf hint, exit 1.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";

const root = path.join(__dirname, "..");
const cdktf = path.join(root, "node_modules", ".bin", "cdktf");
const ely = path.join(root, "dist", "cli", "ely.js");
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-cdktf-"));
  // cdktf.json as the project's, minus the compile step the global setup did already.
  const config = JSON.parse(fs.readFileSync(path.join(root, "cdktf.json"), "utf8"));
  expect(config.app).toBe("npm run --silent build && node dist/app.js");
  fs.writeFileSync(path.join(dir, "cdktf.json"), JSON.stringify({ ...config, app: `node ${JSON.stringify(path.join(root, "dist", "app.js"))}` }));
  fs.writeFileSync(path.join(dir, "terraformrc"), "");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function env(inventory: string) {
  return { ELY_INVENTORY: inventory, CHECKPOINT_DISABLE: "1", TF_CLI_CONFIG_FILE: path.join(dir, "terraformrc"), CI: "1" };
}

/** The header and the problem lines under it (up to the next blank line), trimmed, of a run's stderr. */
function problemList(stderr: string): string[] {
  const lines = stderr.split("\n").map((l) => l.trim());
  const header = lines.findIndex((l) => /: (the inventory has )?\d+ problems?[;:]/.test(l));
  if (header < 0) return [];
  const end = lines.indexOf("", header);
  return lines.slice(header + 1, end < 0 ? undefined : end);
}

const network = "network: {subnet: 10.0.0.0/24, gateway: 10.0.0.1, internalDomain: lab.example, servicesDomain: apps.lab.example, ingressAddress: 10.0.0.5}\n";
const INVENTORIES: Record<string, string> = {
  // Schema errors: an unknown role, a field of the wrong type.
  "schema.yaml":
    "name: lab\ndatacenter: dc1\n" + network + "nodes:\n" +
    "  - {hostname: s1, role: master, arch: arm64, ip: 10.0.0.10}\n" +
    "  - {hostname: c1, role: client, arch: amd64, ip: 10.0.0.20, mac: '52:54:00:00:00:01', hardware: {model: vm, cores: many, cpuMhz: 2000, memoryMb: 8192}}\n",
  // Construct validation errors: an even number of servers, jobs that fit no client.
  "constructs.yaml":
    "name: lab\ndatacenter: dc1\n" + network + "nodes:\n" +
    "  - {hostname: s1, role: server, arch: arm64, ip: 10.0.0.10}\n" +
    "  - {hostname: s2, role: server, arch: arm64, ip: 10.0.0.11}\n" +
    "  - {hostname: c1, role: client, arch: amd64, ip: 10.0.0.20, mac: '52:54:00:00:00:01', hardware: {model: vm, cores: 1, cpuMhz: 100, memoryMb: 64}}\n",
};

describe("cdktf synth with a bad inventory", () => {
  test.each(Object.keys(INVENTORIES))("%s: the problem list of `ely validate`, no stack trace, no cdktf hint, exit 1", async (name) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, INVENTORIES[name]);
    const outdir = path.join(dir, `out-${name}`);
    const [synth, validate] = await Promise.all([
      execa(cdktf, ["synth", "--output", outdir], { cwd: dir, env: env(file), reject: false, all: true }),
      execa(process.execPath, [ely, "validate"], { cwd: dir, env: env(file), reject: false }),
    ]);
    expect(validate.exitCode).toBe(1);
    const expected = problemList(validate.stderr);
    expect(expected.length).toBeGreaterThan(1);
    expect(expected.join("\n")).toContain(name === "schema.yaml" ? 'field nodes[0].role: received "master"' : "expected it to fit a client");
    expect(synth.exitCode).toBe(1);
    // The app's stderr, as cdktf reports it.
    const reported = synth.stderr.slice(synth.stderr.indexOf("Command output on stderr:"));
    expect(problemList(reported)).toEqual(expected);
    expect(reported).toContain(`${file}: `);
    for (const output of [synth.all!, validate.stderr]) {
      expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // a stack frame
      expect(output).not.toContain("skipValidation");
      expect(output).not.toContain("InventoryError");
      expect(output).not.toContain("terraform-stack.js");
    }
    expect(fs.existsSync(path.join(outdir, "stacks", "lab"))).toBe(false);
    expect(fs.existsSync(path.join(outdir, ".staging"))).toBe(false);
  }, 60_000);
});
