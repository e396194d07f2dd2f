import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";

const ely = path.join(__dirname, "..", "dist", "cli", "ely.js");
let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-cli-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [ely, ...args], { cwd: dir, env: { ...env, ELY_INVENTORY: env.ELY_INVENTORY ?? "" }, reject: false });
}

describe("ely CLI", () => {
  test("inventory --json > mine.json && ELY_INVENTORY=mine.json ely validate passes", async () => {
    const printed = await run(["inventory", "--json"]);
    expect(printed.exitCode).toBe(0);
    const file = path.join(dir, "mine.json");
    fs.writeFileSync(file, printed.stdout);
    const validated = await run(["validate"], { ELY_INVENTORY: file });
    expect(validated.stderr).toBe("");
    expect(validated.stdout).toBe(`${file}: valid (7 nodes)`);
    expect(validated.exitCode).toBe(0);
  });

  test("validate exits 1 listing every problem with file, node and field", async () => {
    const inventory = JSON.parse((await run(["inventory", "--json"])).stdout);
    inventory.nodes[6].mac = inventory.nodes[4].mac;
    inventory.nodes[5].ip = "10.0.0.1";
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify(inventory));
    const result = await run(["validate", "--inventory", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`${file}: 2 problems:`);
    expect(result.stderr).toContain(`error ELY-INV-002: ${file}, node w2, field nodes[5].ip: received "10.0.0.1", expected an address inside the subnet 10.25.89.0/24`);
    expect(result.stderr).toContain(`error ELY-INV-006: ${file}, node w3, field nodes[6].mac: received "00:1e:06:45:28:5c", expected a unique MAC address; node w1 has it already`);
  });

  test("synth fails on the same problems and leaves the previous output intact", async () => {
    expect((await run(["synth"])).exitCode).toBe(0);
    const previous = path.join(dir, "cdktf.out", "stacks", "ely", "cdk.tf.json");
    const before = fs.readFileSync(previous, "utf8");
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "name: lab\ndatacenter: dc1\nnetwork: {subnet: 10.0.0.0/24, gateway: 10.0.0.1, internalDomain: a, servicesDomain: b, ingressAddress: 10.0.0.5}\nnodes:\n  - {hostname: s1, role: server, arch: arm64, ip: 10.0.0.10}\n  - {hostname: s2, role: server, arch: arm64, ip: 10.0.0.11}\n");
    const result = await run(["synth"], { ELY_INVENTORY: file });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("received 2 servers, expected an odd number of at least 3 (or 1 for a lab)");
    expect(result.stderr).toContain('received no node with role "client"');
    expect(result.stderr).toContain("nothing synthesized");
    expect(fs.readFileSync(previous, "utf8")).toBe(before);
    expect(fs.existsSync(path.join(dir, "cdktf.out", "stacks", "lab"))).toBe(false);
  });

  test("a single-server lab synthesizes with a warning", async () => {
    const file = path.join(dir, "lab.yaml");
    const volumes = ["traefik-acme", "gitea-data", "registry-data", "prometheus-data"].map((v) => `{name: ${v}, path: /mnt/nfs/${v}}`).join(", ");
    fs.writeFileSync(
      file,
      "name: lab\ndatacenter: dc1\nnetwork: {subnet: 10.0.0.0/24, gateway: 10.0.0.1, internalDomain: lab.example, servicesDomain: apps.lab.example, ingressAddress: 10.0.0.5}\nnodes:\n" +
        // The stateful jobs' volumes on the util node's NFS export (in RAM, synth would refuse them).
        "  - {hostname: util, role: util, arch: arm64, ip: 10.0.0.4, nfsExports: [{path: /opt/nfs}]}\n" +
        "  - {hostname: s1, role: server, arch: arm64, ip: 10.0.0.10}\n" +
        `  - {hostname: c1, role: client, arch: amd64, ip: 10.0.0.20, mac: '52:54:00:00:00:01', hardware: {model: vm, cores: 4, cpuMhz: 2000, memoryMb: 8192}, hostVolumes: [${volumes}]}\n`,
    );
    const result = await run(["synth"], { ELY_INVENTORY: file });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("warning ELY-INV-012: " + file + ", field nodes[].role: received 1 server, expected 3 or 5");
    expect(fs.existsSync(path.join(dir, "cdktf.out", "stacks", "lab", "cdk.tf.json"))).toBe(true);
  });

  test("synth writes the stack and prints nodes by role and resources by type", async () => {
    const result = await run(["synth"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("stack ely: cdktf.out/stacks/ely/cdk.tf.json");
    expect(result.stdout).toContain("nodes: util 1 (util); server 3 (m1, m2, m3); client 3 (w1, w2, w3)");
    expect(result.stdout).toMatch(/consul_acl_token\s+9/);
    const stack = path.join(dir, "cdktf.out", "stacks", "ely");
    const config = JSON.parse(fs.readFileSync(path.join(stack, "cdk.tf.json"), "utf8"));
    expect(Object.keys(config.provider).sort()).toEqual(["consul", "namecheap", "nomad", "null"]);
    expect(Object.keys(config.resource.nomad_job)).toHaveLength(8);
    const assets = path.join(stack, "assets");
    const [bundle] = fs.readdirSync(assets);
    const [hash] = fs.readdirSync(path.join(assets, bundle));
    expect(fs.readdirSync(path.join(assets, bundle, hash)).sort()).toEqual(["m1", "m2", "m3", "util", "w1", "w2", "w3"]);
    const w1 = JSON.parse(fs.readFileSync(path.join(assets, bundle, hash, "w1", "nomad.json"), "utf8"));
    expect(w1.client.enabled).toBe(true);
  });

  test("--version prints the package's version", async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8"));
    for (const flag of ["--version", "-V"]) {
      const result = await run([flag]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe(version);
    }
  });

  test("inventory --json --yaml is refused as conflicting, printing nothing else", async () => {
    const result = await run(["inventory", "--json", "--yaml"]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("error: option '--json' cannot be used with option '--yaml'");
  });

  test("bare ely prints the help and exits 0", async () => {
    const result = await run([]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^Usage: ely \[options\] \[command\]/);
    for (const command of ["validate", "inventory", "synth", "plan-summary", "flash"]) expect(result.stdout).toContain(`\n  ${command} `);
    expect(result.stderr).toBe("");
  });

  test("plan-summary refuses what is not the JSON of a plan, naming the file and the field", async () => {
    const cases: [string, string][] = [
      ['{"hello":"world"}', "field format_version: received nothing"],
      ['{"format_version":"1.0","values":{"root_module":{}}}', "field planned_values: received nothing (this looks like a state"],
      ["[]", "field (top level): received an array"],
    ];
    for (const [text, expected] of cases) {
      const file = path.join(dir, "not-a-plan.json");
      fs.writeFileSync(file, text);
      const result = await run(["plan-summary", file]);
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(`ely: ${file}: not a Terraform plan: ${expected}`);
      expect(result.stderr).not.toContain("No changes");
    }
  });

  test("graph prints the cluster's Mermaid diagram; --markdown -o writes a block GitHub renders", async () => {
    const printed = await run(["graph"]);
    expect(printed.exitCode).toBe(0);
    expect(printed.stdout.startsWith("flowchart LR\n")).toBe(true);
    for (const host of ["util", "m1", "m2", "m3", "w1", "w2", "w3"]) expect(printed.stdout).toContain(`node_${host}["${host}<br/>`);
    const written = await run(["graph", "--markdown", "-o", "graph.md"]);
    expect(written.exitCode).toBe(0);
    expect(fs.readFileSync(path.join(dir, "graph.md"), "utf8")).toBe("```mermaid\n" + printed.stdout + "\n```\n"); // execa drops the last newline
  }, 30_000);

  test("graph of a bad inventory prints its problems and exits 1", async () => {
    const inventory = JSON.parse((await run(["inventory", "--json"])).stdout);
    inventory.nodes[5].ip = "10.0.0.1";
    fs.writeFileSync(path.join(dir, "bad.json"), JSON.stringify(inventory));
    const result = await run(["graph", "--inventory", "bad.json"]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("node w2, field nodes[5].ip: received \"10.0.0.1\"");
  }, 30_000);

  test("plan-summary --graph adds the picture of the nodes and jobs the plan changes", async () => {
    const jobspec = (image: string) => JSON.stringify({ Job: { ID: "whoami", TaskGroups: [{ Count: 3, Tasks: [{ Config: { image } }] }] } });
    const plan = {
      format_version: "1.2",
      planned_values: { root_module: {} },
      resource_changes: [{ address: "nomad_job.w", type: "nomad_job", change: { actions: ["update"], before: { jobspec: jobspec("a:1") }, after: { jobspec: jobspec("a:2") } } }],
    };
    fs.writeFileSync(path.join(dir, "plan.json"), JSON.stringify(plan));
    const result = await run(["plan-summary", "--graph", "plan.json"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("- **whoami** (update): image a:1 → a:2");
    expect(result.stdout).toContain("### The part of the cluster this plan changes\n\n```mermaid\nflowchart LR\n");
    expect(result.stdout).toContain('ingress -- "whoami.apps.509ely.com" --> job_whoami');
    expect(result.stdout).not.toContain("job_gitea");
    const plain = await run(["plan-summary", "plan.json"]);
    expect(plain.stdout).not.toContain("mermaid");
  }, 30_000);
});
