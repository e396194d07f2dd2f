/**
 * `ely status` (its report, as the command builds it) against real Consul and Nomad agents, without
 * Terraform providers (`npm run test:agents`): dev agents as
 * the server s1, and one more Consul and Nomad agent per other node on its own loopback address
 * (util: Consul; c1: Consul and Nomad, with the boot meta file its image writes). The plan's
 * outputs are those of the e2e stack, synthesized here and written as `terraform output -json`
 * prints them (e2e/convergence.e2e.ts reads them from a real apply's state instead).
 * Every node up as planned: no difference; then c1 boots an old build, hello's allocation is
 * stopped and util's Consul agent goes away: each is reported. The command's exit status and
 * messages are tested through the compiled CLI in __tests__/status.test.ts and e2e/convergence.e2e.ts.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App } from "cdktf";
import { clusterStatus } from "../../cli/status";
import { renderStatus, StatusReport } from "../../cli/status-report";
import { ElyStack } from "../../constructs";
import { BOOT_META_FILE, writeBootMetaFunction } from "../../images/rootfs-files";
import { Inventory, parseInventory } from "../../nodes";
import execa from "execa";
import { ClusterApi } from "../../cli/cluster-api";
import { allLogTails, DevAgents, ExtraAgent, http, startConsulClient, startDevAgents, startExtraAgent, startNomadClient, stopAgents, waitFor, withLogs } from "../dev-agents";
import { freePort } from "../free-port";
import { e2eInventory } from "../e2e-inventory";
import { hello } from "../hello-job";
import { onPath } from "../on-path";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-status-agents-"));
const bin = (name: string) => onPath(name, "test:agents");
let agents: DevAgents;
let inventory: Inventory;
const extra: ExtraAgent[] = [];
let inventoryFile: string;
let outputsFile: string;
let plannedBuild: string;

/** The boot meta file a node's image writes from ely.image=<image>/<build> (images/rootfs-files.ts), made by that very script. */
function bootMeta(image: string): string {
  const dir = fs.mkdtempSync(path.join(work, "meta-"));
  const result = spawnSync("sh", ["-euc", `${writeBootMetaFunction}\nwrite_boot_meta "$1"`, "sh", dir], { env: { ELY_IMAGE: image }, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`write_boot_meta: ${result.stderr}`);
  return fs.readFileSync(path.join(dir, BOOT_META_FILE), "utf8");
}

/** c1's Nomad client, booted from `image` (<image>/<build>): its image's boot meta file beside nomad.json. */
function startC1(image: string): Promise<ExtraAgent> {
  return startNomadClient(path.join(work, "agents"), bin("nomad"), agents, { name: "c1", bindAddress: "127.0.0.2", configFiles: { [BOOT_META_FILE]: bootMeta(image) } });
}

/** What `ely status --outputs <file>` reports, with the operator's tokens in the environment. */
function report(): Promise<StatusReport> {
  return clusterStatus(inventory, { outputs: outputsFile, env: { CONSUL_HTTP_TOKEN: agents.consulToken, NOMAD_TOKEN: agents.nomadToken } });
}

beforeAll(async () => {
  agents = await startDevAgents(path.join(work, "agents"), { consul: bin("consul"), nomad: bin("nomad") }, { nodeName: "s1" });
  const input = e2eInventory(agents);
  inventoryFile = path.join(work, "e2e.json");
  fs.writeFileSync(inventoryFile, JSON.stringify(input));

  // The plan: the e2e stack with the hello job, synthesized; its outputs as `terraform output -json` prints them.
  inventory = parseInventory(input, inventoryFile);
  const app = new App({ outdir: path.join(work, "cdktf.out") });
  const stack = new ElyStack(app, inventory.name, { inventory, jobs: [hello] });
  app.synth();
  const config = JSON.parse(fs.readFileSync(path.join(work, "cdktf.out", "stacks", inventory.name, "cdk.tf.json"), "utf8"));
  const outputs = Object.fromEntries(["consul_address", "nomad_address", "node_image_builds", "jobs"].map((name) => [name, { sensitive: false, value: config.output[name].value }]));
  outputsFile = path.join(work, "outputs.json");
  fs.writeFileSync(outputsFile, JSON.stringify(outputs));
  plannedBuild = outputs.node_image_builds.value.c1.build_id;
  expect(plannedBuild).toMatch(/^[0-9a-f]{16}$/);

  // The other nodes' agents; c1 booted the build the plan publishes.
  extra.push(await startConsulClient(path.join(work, "agents"), bin("consul"), agents, { name: "util", bindAddress: "127.0.0.3" }));
  extra.push(await startConsulClient(path.join(work, "agents"), bin("consul"), agents, { name: "c1", bindAddress: "127.0.0.2" }));
  extra.push(await startC1(`client-amd64/${plannedBuild}`));
  // hello, as the plan registers it: the job JSON the stack renders.
  const spec = stack.services.services.find((s) => s.name === "hello")!.jobJson;
  const registered = await http("PUT", `${agents.nomadAddress}/v1/jobs`, agents.nomadToken, spec);
  if (registered.status !== 200) throw new Error(`registering hello: ${registered.status} ${registered.text}`);
}, 240_000);

afterAll(() => stopAgents(agents, extra, work), 120_000);

/** On failure, every agent's log tail. */
const withAgentLogs = (fn: () => Promise<void>) => withLogs(() => allLogTails(agents, extra), fn);

describe("ely status against real agents", () => {
  test("every node up on its planned build and versions, every job healthy: no difference", () =>
    withAgentLogs(async () => {
      const r = await waitFor("the cluster as planned", 120_000, async () => {
        const got = await report();
        if (got.differences.length > 0) throw new Error(got.differences.join("; "));
        return got;
      });
      expect(r.nodes.map((n) => [n.hostname, n.consul, n.nomad])).toEqual([
        ["util", "alive", "-"],
        ["s1", "alive", "alive"],
        ["c1", "alive", "ready, eligible"],
      ]);
      expect(r.nodes.find((n) => n.hostname === "c1")!.build).toEqual({ image: "client-amd64", planned: plannedBuild, booted: plannedBuild });
      expect(r.nodes.map((n) => n.versions)).toEqual([{ consul: "1.16.3" }, { consul: "1.16.3", nomad: "1.6.3" }, { consul: "1.16.3", nomad: "1.6.3" }]);
      expect(r.jobs).toEqual([{ name: "hello", type: "service", status: "running", desired: 1, planned: 1, running: 1, healthy: 1, differences: [] }]);
      expect(renderStatus(r)).toContain("\nAs planned: every node up on its planned build and versions, every job healthy.\n");
    }), 180_000);

  test("a node on an old build, a stopped allocation and a missing agent: each reported", () =>
    withAgentLogs(async () => {
      // c1 reboots into an old build: the same node (its data directory kept), another boot meta file.
      const c1 = extra.pop()!;
      await c1.stop();
      extra.push(await startC1("client-amd64/0000000000000000"));
      // hello's allocation stopped by hand.
      const stopped = await http("DELETE", `${agents.nomadAddress}/v1/job/hello`, agents.nomadToken);
      expect(stopped.status).toBe(200);
      // util's Consul agent goes away.
      await extra[0].stop();

      const expected = [
        "node util (util): Consul member left",
        `node c1 (client): booted client-amd64 build 0000000000000000, the plan publishes client-amd64 build ${plannedBuild}: reboot it to take the new build`,
        "job hello: stopped (its allocations are stopped; the plan runs it)",
      ];
      const r = await waitFor("the three differences", 120_000, async () => {
        const got = await report();
        if (expected.some((d) => !got.differences.includes(d)) || got.jobs[0].running !== 0) throw new Error(`not yet: ${JSON.stringify(got.differences)} ${JSON.stringify(got.jobs)}`);
        return got;
      });
      expect(r.differences).toEqual(expected);
      expect(r.jobs).toEqual([{ name: "hello", type: "service", status: "stopped", desired: 1, planned: 1, running: 0, healthy: 0, differences: [expected[2]] }]);

      const table = renderStatus(r);
      fs.writeFileSync(path.join(work, "status.txt"), table);
      const lines = table.split("\n");
      expect(lines).toContainEqual(expect.stringMatching(/^util +util +127\.0\.0\.3 +left +- +- +1\.16\.3 +-$/));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^c1 +client +127\\.0\\.0\\.2 +alive +ready, eligible +0000000000000000 / ${plannedBuild} ! +1\\.16\\.3 +1\\.6\\.3$`)));
      expect(lines).toContainEqual(expect.stringMatching(/^hello +service +stopped +1 +1 +0 +0$/));
      expect(table.endsWith(`3 differences from the plan:\n${expected.map((d) => `  - ${d}`).join("\n")}\n`)).toBe(true);
    }), 240_000);
});

describe("TLS", () => {
  test("a Consul agent on HTTPS is read with the cluster's CA file, and refused, saying what to set, without it", () =>
    withAgentLogs(async () => {
      // The cluster's CA and a server certificate, made by Consul's own tools as `ely secrets init` makes them.
      const tls = path.join(work, "tls");
      fs.mkdirSync(tls);
      await execa(bin("consul"), ["tls", "ca", "create", "-domain=consul"], { cwd: tls });
      await execa(bin("consul"), ["tls", "cert", "create", "-server", "-dc=tls", "-additional-ipaddress=127.0.0.4"], { cwd: tls });
      const https = await freePort();
      const config = {
        node_name: "tls1",
        datacenter: "tls",
        server: true,
        bootstrap_expect: 1,
        bind_addr: "127.0.0.4",
        client_addr: "127.0.0.4",
        data_dir: path.join(work, "tls-consul", "data"),
        ports: { http: -1, https, dns: -1, grpc: -1, grpc_tls: -1, serf_lan: await freePort(), serf_wan: -1, server: await freePort() },
        tls: { defaults: { ca_file: path.join(tls, "consul-agent-ca.pem"), cert_file: path.join(tls, "tls-server-consul-0.pem"), key_file: path.join(tls, "tls-server-consul-0-key.pem"), verify_incoming: false } },
        log_level: "INFO",
      };
      const address = `https://127.0.0.4:${https}`;
      const caFile = path.join(tls, "consul-agent-ca.pem");
      const withCa = new ClusterApi({ agent: "Consul", address, caFile });
      extra.push(
        await startExtraAgent(bin("consul"), (c) => ["agent", `-config-dir=${c}`], path.join(work, "tls-consul"), { "consul.json": JSON.stringify(config) }, "Consul on HTTPS", async () => {
          const members = await withCa.get<{ Name: string; Status: number }[]>("/v1/agent/members").catch(() => undefined);
          return members?.some((m) => m.Name === "tls1" && m.Status === 1) ?? false;
        }),
      );
      expect(await withCa.get("/v1/agent/members")).toEqual([expect.objectContaining({ Name: "tls1", Status: 1 })]);
      await expect(new ClusterApi({ agent: "Consul", address }).get("/v1/agent/members")).rejects.toThrow(
        /^cannot reach Consul at https:\/\/127\.0\.0\.4:\d+: .* the server's certificate is not signed by a CA Ely trusts: set endpoints\.caFile in the inventory or CONSUL_CACERT$/,
      );
    }), 180_000);
});
