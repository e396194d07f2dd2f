/**
 * The agent configuration Ely renders, checked by the real agents: `consul validate` and
 * `nomad config validate` on every node's files of the default cluster, with TLS material
 * made by `consul tls` and a gossip key, as the secret delivery step would place them.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App } from "cdktf";
import execa from "execa";
import { ElyStack, SECRETS_FILE } from "../constructs";
import { DEFAULT_INVENTORY, parseInventory } from "../nodes";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-agent-configs-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

test("every rendered consul.json and nomad.json passes the agents' own validation", async () => {
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
  const stack = new ElyStack(new App({ outdir: path.join(work, "out") }), inventory.name, { inventory });
  const failures: string[] = [];
  for (const node of stack.cluster.nodes.values()) {
    for (const [file, config] of node.agentConfigs) {
      const agent = file.replace(/\.json$/, "");
      const dir = path.join(work, node.hostname, agent);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, file), JSON.stringify(config));
      const secrets = agent === "consul" ? { encrypt: gossipKey } : node.role === "server" ? { server: { encrypt: gossipKey } } : {};
      fs.writeFileSync(path.join(dir, SECRETS_FILE), JSON.stringify(secrets), { mode: 0o600 });
      const result =
        agent === "consul"
          ? await execa("consul", ["validate", dir], { reject: false, all: true })
          : await execa("nomad", ["config", "validate", dir], { reject: false, all: true });
      if (result.exitCode !== 0 || !/valid/i.test(result.all ?? "")) failures.push(`${node.hostname}/${file}: ${result.all}`);
    }
  }
  expect(failures).toEqual([]);
}, 120_000);
