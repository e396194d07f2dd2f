/**
 * `ely status` where no agent is needed: reading the plan's outputs, and a clear message (exit 2,
 * no stack trace) when the token is missing, the servers are unreachable or TLS cannot be
 * verified. Against real agents: e2e/convergence.e2e.ts.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { ClusterApi } from "../cli/cluster-api";
import { parseOutputs } from "../cli/plan-outputs";
import { compareWithPlan } from "../cli/status-report";
import { defaultInventory } from "./helpers/inventory";

const ely = path.join(__dirname, "..", "dist", "cli", "ely.js");
let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-status-"))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `terraform output -json` of a deployed stack, in its exact shape. */
function outputs(consul: string, nomad: string) {
  return {
    consul_address: { sensitive: false, type: "string", value: consul },
    nomad_address: { sensitive: false, type: "string", value: nomad },
    node_image_builds: { sensitive: false, type: ["object", {}], value: { w1: { image: "client-amd64", build_id: "0123456789abcdef", channel: "stable" } } },
    jobs: { sensitive: false, type: ["object", {}], value: { whoami: { type: "service", count: 2, image: "traefik/whoami:v1.10.3" }, "node-exporter": { type: "system" } } },
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function run(args: string[], env: Record<string, string>) {
  return execa(process.execPath, [ely, "status", ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "", ELY_INVENTORY: "", ...env }, extendEnv: false, reject: false });
}

describe("plan outputs", () => {
  test("parses what terraform output -json prints", () => {
    const parsed = parseOutputs(JSON.stringify(outputs("http://a:8500", "http://a:4646")), "out.json");
    expect(parsed.node_image_builds.w1.build_id).toBe("0123456789abcdef");
    expect(parsed.jobs.whoami).toEqual({ type: "service", count: 2, image: "traefik/whoami:v1.10.3" });
    expect(parsed.consul_address).toBe("http://a:8500");
  });

  test.each([
    ["not JSON", "{", "out.json: expected the JSON of `terraform output -json`, could not parse it"],
    ["an array", "[]", "out.json: expected the JSON object of `terraform output -json`, received an array"],
    ["no outputs (nothing deployed)", "{}", "out.json: no outputs: the stack has not been deployed yet (or its state is elsewhere): deploy first"],
    [
      "every bad output at once",
      JSON.stringify({ consul_address: { value: "x" }, jobs: { value: { web: { count: "2" } } } }),
      'out.json: output node_image_builds: missing, expected an object (deploy with this version of Ely); output jobs.web: received {"count":"2"}, expected { type, count?, image? }',
    ],
  ])("refuses %s, naming the source and the output", (_name, text, message) => {
    expect(() => parseOutputs(text, "out.json")).toThrow(message);
  });
});

describe("ely status without a reachable cluster", () => {
  test("a missing token: exit 2 naming the variables, before asking anything", async () => {
    fs.writeFileSync(path.join(dir, "out.json"), JSON.stringify(outputs("http://127.0.0.1:1", "http://127.0.0.1:1")));
    const result = await run(["--outputs", "out.json"], { NOMAD_TOKEN: "x" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      "ely status: the cluster has ACLs on (security.acl) and CONSUL_HTTP_TOKEN is not set: export the operator's token (the one Terraform uses as TF_VAR_consul_token / TF_VAR_nomad_token)",
    );
  });

  test("unreachable servers: exit 2 naming the agent and the address, no stack trace", async () => {
    const port = await closedPort();
    fs.writeFileSync(path.join(dir, "out.json"), JSON.stringify(outputs(`http://127.0.0.1:${port}`, `http://127.0.0.1:${port}`)));
    const result = await run(["--outputs", "out.json"], { CONSUL_HTTP_TOKEN: "x", NOMAD_TOKEN: "y" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`^ely status: cannot reach (Consul|Nomad) at http://127\\.0\\.0\\.1:${port}: connection refused: is the agent running, and is the address right\\?$`));
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test("no deployed stack: exit 2 saying to deploy or pass --outputs", async () => {
    const result = await run([], { CONSUL_HTTP_TOKEN: "x", NOMAD_TOKEN: "y" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      "ely status: cdktf.out/stacks/ely: no such stack directory: synthesize and deploy first (npm run cdktf -- deploy), or pass --outputs <file of terraform output -json>",
    );
  });

  test("a file that is not terraform output -json: exit 2 naming it", async () => {
    fs.writeFileSync(path.join(dir, "plan.json"), JSON.stringify({ format_version: "1.2" }));
    const result = await run(["--outputs", "plan.json"], {});
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("ely status: plan.json: output node_image_builds: missing, expected an object");
  });
});

describe("TLS", () => {
  let server: https.Server;
  let address: string;
  let caFile: string;
  beforeAll(async () => {
    const tls = fs.mkdtempSync(path.join(os.tmpdir(), "ely-status-tls-"));
    const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: tls, stdio: "pipe" });
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=Ely test CA");
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "req.pem", "-subj", "/CN=server.dc1.consul");
    fs.writeFileSync(path.join(tls, "ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:server.dc1.consul\n");
    openssl("x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", "cert.pem", "-days", "1", "-extfile", "ext.cnf");
    caFile = path.join(tls, "ca.pem");
    server = https.createServer({ key: fs.readFileSync(path.join(tls, "key.pem")), cert: fs.readFileSync(path.join(tls, "cert.pem")) }, (req, res) => {
      res.writeHead(req.headers["x-consul-token"] === "t" ? 200 : 403).end(req.headers["x-consul-token"] === "t" ? "[]" : "ACL not found");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    address = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  test("verified with the cluster's CA file", async () => {
    await expect(new ClusterApi({ agent: "Consul", address, token: "t", caFile }).get("/v1/agent/members")).resolves.toEqual([]);
  });

  test("without the CA: refused, saying where to set it", async () => {
    await expect(new ClusterApi({ agent: "Consul", address, token: "t" }).get("/v1/agent/members")).rejects.toThrow(
      /^cannot reach Consul at https:\/\/127\.0\.0\.1:\d+: .* the server's certificate is not signed by a CA Ely trusts: set endpoints\.caFile in the inventory or CONSUL_CACERT$/,
    );
  });

  test("a CA file that does not exist, and a token the agent refuses, are named", async () => {
    expect(() => new ClusterApi({ agent: "Nomad", address, caFile: path.join(os.tmpdir(), "nope.pem") })).toThrow(/^Nomad CA file .*nope\.pem: ENOENT: cannot verify https:/);
    await expect(new ClusterApi({ agent: "Consul", address, token: "wrong", caFile }).get("/v1/agent/members")).rejects.toThrow(
      `Consul at ${address} refused GET /v1/agent/members (HTTP 403: ACL not found): set CONSUL_HTTP_TOKEN to a token that may read it (the operator token)`,
    );
  });
});

describe("the comparison with the plan", () => {
  const inventory = defaultInventory();
  const plan = parseOutputs(JSON.stringify(outputs("http://a:8500", "http://a:4646")), "out.json");
  const job = (name: string, type: string, desired: number, running = desired) => ({ name, type, status: "running", stopped: false, periodic: false, desired, running, healthy: running, groupCounts: {}, images: [] });
  const report = compareWithPlan(
    inventory,
    plan,
    {
      consulMembers: [{ name: "stranger", address: "10.0.0.9", status: "alive", version: "1.16.3", server: false }],
      nomadServers: [],
      nomadNodes: [],
      jobs: [job("whoami", "service", 5), job("node-exporter", "system", 0), job("adhoc", "service", 1)],
    },
    { consul: "http://a:8500", nomad: "http://a:4646" },
  );

  test("a count scaled by hand, a system job placed nowhere, a job and a member the plan does not know", () => {
    expect(report.differences).toEqual(
      expect.arrayContaining([
        "job whoami: count 5 in Nomad, 2 in the plan (scaled by hand?)",
        "job node-exporter: placed on no node (no client can run it)",
        "job adhoc: in Nomad, not in the plan",
        "Consul member stranger (10.0.0.9) is not in the inventory",
        "node m1 (server): no Nomad agent: not a member of Nomad",
        "node w1 (client): no Nomad client: not a node of Nomad",
      ]),
    );
  });
});
