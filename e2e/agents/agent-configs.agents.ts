/**
 * The agent configuration Ely renders, checked by the real agents: `consul validate` and
 * `nomad config validate` on every node's files of the default cluster, with TLS material
 * made by `consul tls` and a gossip key, as the secret delivery step would place them. Needs only
 * the agents (`npm run test:agents`).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App } from "cdktf";
import execa from "execa";
import { ElyStack } from "../../constructs";
import { DEFAULT_INVENTORY, parseInventory, SECRETS_FILE } from "../../nodes";
import { onPath } from "../on-path";
import { ALL_JOBS } from "../../jobs";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-agent-configs-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** `consul validate` or `nomad config validate` of a directory of agent files. */
async function agentValidate(agent: string, dir: string): Promise<{ ok: boolean; output: string }> {
  const result =
    agent === "consul"
      ? await execa(onPath("consul", "test:agents"), ["validate", dir], { reject: false, all: true })
      : await execa(onPath("nomad", "test:agents"), ["config", "validate", dir], { reject: false, all: true });
  const output = result.all ?? "";
  return { ok: result.exitCode === 0 && /valid/i.test(output), output };
}

/** Per node and agent, a directory with the rendered file and the secrets file, as a node holds them. */
let rendered: { node: string; agent: string; dir: string }[];

beforeAll(async () => {
  const tls = path.join(work, "secrets", "tls");
  fs.mkdirSync(tls, { recursive: true });
  await execa("consul", ["tls", "ca", "create", "-domain=consul"], { cwd: tls });
  await execa("consul", ["tls", "cert", "create", "-server", "-dc=509ely"], { cwd: tls });
  fs.renameSync(path.join(tls, "consul-agent-ca.pem"), path.join(tls, "ca.pem"));
  fs.renameSync(path.join(tls, "509ely-server-consul-0.pem"), path.join(tls, "consul.pem"));
  fs.renameSync(path.join(tls, "509ely-server-consul-0-key.pem"), path.join(tls, "consul-key.pem"));
  fs.copyFileSync(path.join(tls, "consul.pem"), path.join(tls, "nomad.pem"));
  fs.copyFileSync(path.join(tls, "consul-key.pem"), path.join(tls, "nomad-key.pem"));
  const gossipKey = (await execa("consul", ["keygen"])).stdout.trim();

  const inventory = parseInventory({ ...DEFAULT_INVENTORY, security: { secretsDir: path.join(work, "secrets") } }, "default with test secrets");
  const stack = new ElyStack(new App({ outdir: path.join(work, "out") }), inventory.name, { inventory, jobs: ALL_JOBS });
  rendered = [];
  for (const node of stack.cluster.nodes.values()) {
    for (const [file, config] of node.agentConfigs) {
      const agent = file.replace(/\.json$/, "");
      const dir = path.join(work, node.hostname, agent);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, file), JSON.stringify(config));
      const secrets = agent === "consul" ? { encrypt: gossipKey } : node.role === "server" ? { server: { encrypt: gossipKey } } : {};
      fs.writeFileSync(path.join(dir, SECRETS_FILE), JSON.stringify(secrets), { mode: 0o600 });
      rendered.push({ node: node.hostname, agent, dir });
    }
  }
}, 60_000);

test("every rendered consul.json and nomad.json passes the agents' own validation", async () => {
  // Every server and client has both files (the loop below checks something).
  expect(rendered.map((r) => `${r.node}/${r.agent}`)).toEqual(
    expect.arrayContaining(["m1", "m2", "m3", "w1", "w2", "w3"].flatMap((h) => [`${h}/consul`, `${h}/nomad`])),
  );
  const failures: string[] = [];
  for (const r of rendered) {
    const { ok, output } = await agentValidate(r.agent, r.dir);
    if (!ok) failures.push(`${r.node}/${r.agent}.json: ${output}`);
  }
  expect(failures).toEqual([]);
}, 120_000);

test("a rendered file with a field the agent does not know is refused, naming it (the check is real)", async () => {
  for (const agent of ["consul", "nomad"]) {
    const { dir } = rendered.find((r) => r.node === "m1" && r.agent === agent)!;
    const broken = path.join(work, "broken", agent);
    fs.cpSync(dir, broken, { recursive: true });
    const file = path.join(broken, `${agent}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), ely_no_such_field: 1 }));
    const { ok, output } = await agentValidate(agent, broken);
    expect({ agent, ok }).toEqual({ agent, ok: false });
    expect(output).toContain("ely_no_such_field");
  }
}, 60_000);
