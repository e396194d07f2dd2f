/**
 * The picture of the cluster: what it shows (from the constructs), the README's copy kept in
 * step with the code, the part of it a plan changes, and a real render to PNG by mermaid's CLI
 * in Debian's Chromium (headless), so that a diagram Mermaid cannot draw fails here.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App } from "cdktf";
import execa from "execa";
import { ElyStack } from "../constructs";
import { ALL_JOBS } from "../jobs";
import { clusterGraph, mermaidBlock } from "../cli/graph";
import { PlanJson, summarizePlan } from "../cli/plan-summary";
import { defaultClusterGraph, graphIn, GRAPH_BEGIN, GRAPH_END, withGraph } from "../cli/readme-graph";
import { defaultInventory } from "./helpers/inventory";
import { requires } from "./helpers/requires";
import { TEST_OUTDIR_ROOT } from "./setup";

const root = path.join(__dirname, "..");
const stack = new ElyStack(new App({ outdir: fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, "graph-")) }), "ely", { inventory: defaultInventory(), jobs: ALL_JOBS });
const graph = clusterGraph(stack);

describe("cluster graph", () => {
  test("every node with its role, architecture, address and boot; netbooted nodes with their image and channel", () => {
    for (const n of stack.cluster.inventory.nodes) expect(graph).toContain(`node_${n.hostname}["${n.hostname}<br/>${n.role} · ${n.arch} · ${n.ip}<br/>`);
    expect(graph).toContain('node_w1["w1<br/>client · amd64 · 10.25.89.21<br/>netboot client-amd64, channel latest"]');
    expect(graph).toContain('node_w2["w2<br/>client · amd64 · 10.25.89.22<br/>netboot client-amd64, channel stable"]');
    expect(graph).toContain('node_m1["m1<br/>server · arm64 · 10.25.89.10<br/>boot ssh"]');
  });

  test("the util node's boot service, and which nodes it boots with which image", () => {
    expect(graph).toContain("node_util --- util_boot");
    expect(graph).toContain("proxy DHCP + TFTP (dnsmasq), HTTP :8080");
    for (const host of ["w1", "w2", "w3"]) expect(graph).toMatch(new RegExp(`util_boot -\\. "client-amd64 \\((latest|stable)\\)" \\.-> node_${host}\\n`));
    expect(graph).not.toMatch(/util_boot -\..*node_m1/);
  });

  test("every job with its type and size, and every exposed host routed by the ingress", () => {
    for (const s of stack.services.services) expect(graph).toContain(`job_${s.name.replace(/-/g, "_")}`);
    expect(graph).toContain('job_traefik[["traefik<br/>system · every client<br/>traefik:v2.11"]]');
    expect(graph).toContain('job_whoami("whoami<br/>service · count 3<br/>traefik/whoami:v1.10.3")');
    expect(graph).toContain('job_ddns[/"ddns<br/>batch · periodic */5 * * * *<br/>curlimages/curl:8.10.1"/]');
    for (const s of stack.services.exposed) expect(graph).toContain(`ingress -- "${s.props.expose!.host}" --> job_${s.name.replace(/-/g, "_")}`);
    expect(graph).toContain("10.25.89.5 :443, TLS<br/>DNS: CNAME to home.ondy.org");
    expect(graph).toContain('role_client == "runs" ==> jobs');
  });

  test("only the nodes and jobs a plan changes, with what connects them", () => {
    const part = clusterGraph(stack, { only: { nodes: ["w2"], jobs: ["whoami"] } });
    expect(part).toContain("node_w2[");
    expect(part).not.toContain("node_w1[");
    expect(part).not.toContain("node_m1[");
    expect(part).toContain('node_util["util<br/>util · arm64 · 10.25.89.4"]'); // the node that boots it
    expect(part).toContain('util_boot -. "client-amd64 (stable)" .-> node_w2');
    expect(part).toContain("job_whoami(");
    expect(part).not.toContain("job_gitea");
    expect(part).toContain('ingress -- "whoami.apps.509ely.com" --> job_whoami');
  });
});

describe("README", () => {
  test("shows the default cluster's graph as the code draws it (npm run docs:graph regenerates it)", () => {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const block = graphIn(readme);
    expect(block).toBeDefined();
    // Out of date? Run `npm run docs:graph` and commit README.md.
    expect(block).toBe(defaultClusterGraph());
    expect(defaultClusterGraph()).toBe(mermaidBlock(graph));
  });

  test("regenerating replaces only what is between the markers; missing markers are an error naming them", () => {
    const readme = `# x\n\n${GRAPH_BEGIN}\nold\n${GRAPH_END}\n\nrest\n`;
    expect(withGraph(readme, "NEW\n", "R.md")).toBe(`# x\n\n${GRAPH_BEGIN}\nNEW\n${GRAPH_END}\n\nrest\n`);
    expect(() => withGraph("# x\n", "NEW\n", "R.md")).toThrow(`R.md: expected the markers ${GRAPH_BEGIN} and ${GRAPH_END}, in this order`);
  });
});

describe("plan summary picture", () => {
  const job = (image: string) => ({ jobspec: JSON.stringify({ Job: { ID: "whoami", TaskGroups: [{ Count: 3, Tasks: [{ Config: { image } }] }] } }) });
  const plan: PlanJson = {
    resource_changes: [
      { address: "nomad_job.whoami", type: "nomad_job", name: "whoami", change: { actions: ["update"], before: job("a:1"), after: job("a:2") } },
      {
        address: "null_resource.netboot_node-w2",
        type: "null_resource",
        name: "x",
        change: { actions: ["delete", "create"], before: { triggers: { hostname: "w2", build_id: "a" } }, after: { triggers: { hostname: "w2", build_id: "b" } } },
      },
    ],
  };
  const picture = (parts: { nodes: readonly string[]; jobs: readonly string[] }) => mermaidBlock(clusterGraph(stack, { only: parts }));

  test("shows the part of the cluster the plan changes, after the changes", () => {
    const md = summarizePlan(plan, undefined, { picture });
    expect(md.indexOf("### The part of the cluster this plan changes")).toBeGreaterThan(md.indexOf("### Jobs"));
    expect(md).toContain("```mermaid\nflowchart LR\n");
    expect(md).toContain("node_w2[");
    expect(md).toContain("job_whoami(");
    expect(md).not.toContain("job_gitea");
  });

  test("is left out whole, saying so, when it would pass the size limit; and absent for a plan that changes no node or job", () => {
    const small = summarizePlan(plan, 700, { picture });
    expect(small.length).toBeLessThanOrEqual(700);
    expect(small).toContain("(The picture of the changed part of the cluster is left out: it would pass the size limit.)");
    expect(small).not.toContain("```mermaid");
    expect(summarizePlan({ resource_changes: [] }, undefined, { picture })).not.toContain("mermaid");
  });
});

// A real render: mermaid's CLI drives Debian's Chromium, headless; skipped, saying why, without it.
const { describe: withChromium } = requires("chromium");

withChromium("render", () => {
  const mmdc = path.join(root, "node_modules", ".bin", "mmdc");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-mermaid-"));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  const puppeteerConfig = path.join(__dirname, "helpers", "mermaid-puppeteer.json");
  const run = (input: string, output: string) =>
    execa(mmdc, ["--quiet", "-p", puppeteerConfig, "-e", "png", "-w", "1600", "-i", input, "-o", output], { reject: false, all: true, env: { PUPPETEER_SKIP_DOWNLOAD: "1" }, timeout: 120_000 });

  test("the README's graph and a plan's picture render to PNG in headless Chromium", async () => {
    const input = path.join(work, "pictures.md");
    fs.writeFileSync(input, `${mermaidBlock(graph)}\n${mermaidBlock(clusterGraph(stack, { only: { nodes: ["w2"], jobs: ["whoami"] } }))}`);
    const result = await run(input, path.join(work, "out.md"));
    expect({ exitCode: result.exitCode, output: result.exitCode === 0 ? "" : result.all }).toEqual({ exitCode: 0, output: "" });
    const pngs = fs.readdirSync(work).filter((f) => f.endsWith(".png")).sort();
    expect(pngs).toEqual(["out-1.png", "out-2.png"]);
    const sizes = pngs.map((png) => {
      const bytes = fs.readFileSync(path.join(work, png));
      expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      // IHDR's width and height: a drawn diagram, not an empty page or an error box.
      return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20), bytes: bytes.length };
    });
    console.log(`rendered: ${JSON.stringify(sizes)}`);
    expect(sizes[0].width).toBeGreaterThan(1000);
    expect(sizes[0].height).toBeGreaterThan(400);
    expect(sizes[1].height).toBeGreaterThan(200);
    expect(sizes[1].height).toBeLessThan(sizes[0].height); // the part is smaller than the whole
  }, 180_000);

  test("a diagram Mermaid cannot parse fails the render", async () => {
    const input = path.join(work, "broken.mmd");
    fs.writeFileSync(input, graph.replace("flowchart LR", "flowchart LR\n  node_x[[unclosed"));
    const result = await run(input, path.join(work, "broken.png"));
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toMatch(/Parse error|Error/);
  }, 180_000);
});
