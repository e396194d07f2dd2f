/**
 * The worker reimage program (cli/worker-reimage.ts) against real agents (`npm run test:agents`):
 * dev agents as the server s1 (also a client), and the worker c1, one more Nomad client on its own
 * loopback address with the boot meta file its image writes (ely_build_id), and its Consul agent.
 * The program drains c1 in Nomad, reboots it, waits until Nomad lists it ready on the new build with
 * its Consul agent up, and marks it eligible. The reboot here is the seam the cluster suite fills
 * with a real netbooted worker: c1's Nomad agent stops and starts again (its data directory kept)
 * with the new build's boot meta, as a worker's agent would after a netboot of that build.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { ClusterApi } from "../../cli/cluster-api";
import { NomadNode, nodesNamed, reimageWorker, ReimageOptions } from "../../cli/worker-reimage";
import { BOOT_META_FILE, writeBootMetaFunction } from "../../images/rootfs-files";
import { DevAgents, ExtraAgent, http, startConsulClient, startDevAgents, startNomadClient, waitFor, withLogs } from "../dev-agents";
import { onPath } from "../on-path";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-reimage-agents-"));
const bin = (name: string) => onPath(name, "test:agents");
const OLD = "0123456789abcdef";
const NEW = "fedcba9876543210";
let agents: DevAgents;
let nomad: ClusterApi;
let consul: ClusterApi;
let c1: ExtraAgent | undefined;
const extra: ExtraAgent[] = [];
const logged: string[] = [];

/** The boot meta file a node's image writes from ely.image=<image>/<build>, made by that very script. */
function bootMeta(build: string): string {
  const dir = fs.mkdtempSync(path.join(work, "meta-"));
  const result = spawnSync("sh", ["-euc", `${writeBootMetaFunction}\nwrite_boot_meta "$1"`, "sh", dir], { env: { ELY_IMAGE: `client-amd64/${build}` }, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`write_boot_meta: ${result.stderr}`);
  return fs.readFileSync(path.join(dir, BOOT_META_FILE), "utf8");
}

/** c1's Nomad client booted on a build (raw_exec on, as the test job needs). */
async function bootC1(build: string): Promise<void> {
  c1 = await startNomadClient(path.join(work, "agents"), bin("nomad"), agents, {
    name: "c1",
    bindAddress: "127.0.0.2",
    configFiles: { [BOOT_META_FILE]: bootMeta(build), "raw-exec.json": JSON.stringify({ plugin: { raw_exec: { config: { enabled: true } } } }) },
  });
}

/** The reboot the cluster suite does to a real worker: its agent goes away and comes back on another build. */
const rebootOnto = (build: string) => async () => {
  await c1!.stop();
  c1 = undefined;
  void bootC1(build).catch((e) => logged.push(`c1 did not start: ${(e as Error).message}`));
};

async function node(name: string): Promise<NomadNode> {
  const nodes = await nodesNamed(nomad, name);
  return nodes.find((n) => n.Status === "ready") ?? nodes[0];
}

async function setEligibility(name: string, eligible: boolean): Promise<void> {
  const n = await node(name);
  const r = await http("POST", `${agents.nomadAddress}/v1/node/${n.ID}/eligibility`, agents.nomadToken, { NodeID: n.ID, Eligibility: eligible ? "eligible" : "ineligible" });
  if (r.status !== 200) throw new Error(`eligibility of ${name}: ${r.status} ${r.text}`);
}

/** Where the sleeper job's running allocations are, by node name. */
async function sleeperNodes(): Promise<string[]> {
  const r = await http("GET", `${agents.nomadAddress}/v1/job/sleeper/allocations`, agents.nomadToken);
  return ((r.json ?? []) as { NodeName: string; ClientStatus: string; DesiredStatus: string }[])
    .filter((a) => a.ClientStatus === "running" && a.DesiredStatus === "run")
    .map((a) => a.NodeName)
    .sort();
}

/** The sleeper job, placed on c1 (s1 ineligible while it is placed). */
async function sleeperOnC1(): Promise<void> {
  await setEligibility("s1", false);
  const job = {
    Job: {
      ID: "sleeper",
      Name: "sleeper",
      Type: "service",
      Datacenters: [agents.datacenter],
      TaskGroups: [
        {
          Name: "sleeper",
          Count: 1,
          Migrate: { MaxParallel: 1, HealthCheck: "task_states", MinHealthyTime: 1e9, HealthyDeadline: 60e9 },
          Tasks: [{ Name: "sleeper", Driver: "raw_exec", Config: { command: "/bin/sleep", args: ["3600"] }, Resources: { CPU: 100, MemoryMB: 32 } }],
        },
      ],
    },
  };
  const r = await http("PUT", `${agents.nomadAddress}/v1/jobs`, agents.nomadToken, job);
  if (r.status !== 200) throw new Error(`registering sleeper: ${r.status} ${r.text}`);
  await waitFor("sleeper running on c1", 120_000, async () => ((await sleeperNodes()).join() === "c1" ? true : undefined));
  await setEligibility("s1", true);
}

function options(over: Partial<ReimageOptions> = {}): ReimageOptions {
  return {
    node: "c1",
    buildId: NEW,
    workers: ["c1"],
    drainDeadlineSeconds: 60,
    bootTimeoutSeconds: 120,
    nomad,
    consul,
    reboot: rebootOnto(NEW),
    log: (line) => logged.push(line),
    pollMs: 500,
    ...over,
  };
}

beforeAll(async () => {
  agents = await startDevAgents(path.join(work, "agents"), { consul: bin("consul"), nomad: bin("nomad") }, { nodeName: "s1" });
  nomad = new ClusterApi({ agent: "Nomad", address: agents.nomadAddress, token: agents.nomadToken });
  consul = new ClusterApi({ agent: "Consul", address: agents.consulAddress, token: agents.consulToken });
  extra.push(await startConsulClient(path.join(work, "agents"), bin("consul"), agents, { name: "c1", bindAddress: "127.0.0.2" }));
  await bootC1(OLD);
  await sleeperOnC1();
}, 300_000);

afterAll(async () => {
  // A Nomad client that stops leaves its tasks running (it reattaches when it starts again): stop the job first.
  if (agents) {
    await http("DELETE", `${agents.nomadAddress}/v1/job/sleeper?purge=true`, agents.nomadToken).catch(() => undefined);
    await waitFor("sleeper stopped", 60_000, async () => ((await sleeperNodes()).length === 0 ? true : undefined)).catch(() => undefined);
    // ...and have c1 destroy its stopped allocations, whose log monitors would outlive it.
    const c1Node = c1 ? await node("c1").catch(() => undefined) : undefined;
    if (c1Node) await http("PUT", `${agents.nomadAddress}/v1/client/gc?node_id=${c1Node.ID}`, agents.nomadToken).catch(() => undefined);
  }
  await c1?.stop();
  for (const a of extra.reverse()) await a.stop();
  await agents?.stop();
  // Whatever the clients' collection raced with: Nomad's helpers (log monitors, executors) still holding files here.
  for (const pid of processesUsing(work)) spawnSync("kill", ["-KILL", String(pid)]);
  if (process.env.ELY_E2E_KEEP) return;
  // Nomad (as root) mounts a tmpfs in each allocation's directory, which its stop leaves behind.
  for (const mount of fs.readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1]).filter((m) => m?.startsWith(work)).reverse()) {
    spawnSync("umount", ["-l", mount]);
  }
  fs.rmSync(work, { recursive: true, force: true });
}, 120_000);

/** Processes (other than this one) whose working directory or an open file lies under `dir`. */
function processesUsing(dir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)) {
    try {
      const links = [fs.readlinkSync(`/proc/${entry}/cwd`), ...fs.readdirSync(`/proc/${entry}/fd`).map((fd) => {
        try {
          return fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
        } catch {
          return "";
        }
      })];
      if (links.some((l) => l === dir || l.startsWith(`${dir}/`))) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

const withAgentLogs = (fn: () => Promise<void>) => withLogs(() => `${agents.logTails()}\n${c1?.logTail(20) ?? ""}\n--- program ---\n${logged.join("\n")}`, fn);

describe("worker reimage against real agents", () => {
  test("refuses, touching nothing, when the clients that stay up cannot hold the worker's allocations", () =>
    withAgentLogs(async () => {
      await setEligibility("s1", false);
      try {
        await expect(reimageWorker(options())).rejects.toThrow(
          /^c1: not drained: c1 runs 1 allocation to move, and the clients that stay up cannot hold sleeper\.sleeper\[0\] \(100 MHz, 32 MB\) \(no other client is ready and eligible\)\. Add room/,
        );
      } finally {
        await setEligibility("s1", true);
      }
      const n = await node("c1");
      expect([n.SchedulingEligibility, Boolean(n.DrainStrategy)]).toEqual(["eligible", false]);
      expect(await sleeperNodes()).toEqual(["c1"]);
    }), 120_000);

  test("refuses when another worker is down already and maxUnavailable would be passed", () =>
    withAgentLogs(async () => {
      await setEligibility("s1", false);
      try {
        await expect(reimageWorker(options({ workers: ["c1", "s1"] }))).rejects.toThrow(
          "c1: not drained: s1 (ready, ineligible, no build reported) is not available already, and rebooting c1 would take 2 workers down at once; images.rollout.maxUnavailable allows 1",
        );
      } finally {
        await setEligibility("s1", true);
      }
      expect((await node("c1")).SchedulingEligibility).toBe("eligible");
    }), 120_000);

  test("a reboot that cannot start: the worker is marked eligible again", () =>
    withAgentLogs(async () => {
      let during: NomadNode | undefined;
      await expect(
        reimageWorker(
          options({
            reboot: async () => {
              during = await node("c1");
              throw new Error("ssh root@127.0.0.2 -p 22 exited with 255: Connection refused");
            },
          }),
        ),
      ).rejects.toThrow("c1: could not start its reboot: ssh root@127.0.0.2 -p 22 exited with 255: Connection refused. It was marked eligible again, nothing changed on it");
      // It was drained (its allocation moved to s1) before the reboot was tried.
      expect(during!.SchedulingEligibility).toBe("ineligible");
      await waitFor("sleeper running on s1", 60_000, async () => ((await sleeperNodes()).join() === "s1" ? true : undefined));
      expect((await node("c1")).SchedulingEligibility).toBe("eligible");
      await sleeperOnC1Again();
    }), 180_000);

  test("drains the worker, reboots it, waits until it is back on the new build, marks it eligible", () =>
    withAgentLogs(async () => {
      expect(await sleeperNodes()).toEqual(["c1"]);
      let during: { eligibility: string; sleeper: string[] } | undefined;
      const outcome = await reimageWorker(
        options({
          reboot: async () => {
            const eligibility = (await node("c1")).SchedulingEligibility;
            const sleeper = await waitFor("sleeper running on s1", 60_000, async () => ((await sleeperNodes()).join() === "s1" ? ["s1"] : undefined));
            during = { eligibility, sleeper };
            await rebootOnto(NEW)();
          },
        }),
      );
      expect(outcome).toBe("rebooted");
      expect(during).toEqual({ eligibility: "ineligible", sleeper: ["s1"] });
      const back = await node("c1");
      expect([back.Status, back.SchedulingEligibility, back.Meta?.ely_build_id]).toEqual(["ready", "eligible", NEW]);
      expect(logged.join("\n")).toMatch(/on build 0123456789abcdef, to boot fedcba9876543210[\s\S]*draining \(deadline 60 s\)[\s\S]*drained[\s\S]*rebooting[\s\S]*back on build fedcba9876543210: Nomad node \w{8} ready, Consul agent up, eligible/);
    }), 240_000);

  test("a worker already on its build: nothing to do", () =>
    withAgentLogs(async () => {
      let rebooted = false;
      expect(await reimageWorker(options({ reboot: async () => void (rebooted = true) }))).toBe("already-on-build");
      expect(rebooted).toBe(false);
    }), 60_000);

  test("a worker Nomad does not know: nothing to drain", () =>
    withAgentLogs(async () => {
      expect(await reimageWorker(options({ node: "c9", workers: ["c9"] }))).toBe("not-in-nomad");
    }), 60_000);

  test("a worker that comes back on another build stops the rollout, saying which and why", () =>
    withAgentLogs(async () => {
      const OTHER = "00000000000000aa";
      await expect(reimageWorker(options({ buildId: OTHER, bootTimeoutSeconds: 30, reboot: rebootOnto(NEW) }))).rejects.toThrow(
        /^c1: did not come back on build 00000000000000aa within 30 s: Nomad lists it ready, ineligible, build fedcba9876543210\. The rollout stops here; the workers after it are not touched/,
      );
      expect((await node("c1")).SchedulingEligibility).toBe("ineligible");
    }), 180_000);

  test("the next deploy, the worker on its build but left drained by the failed reimage: marked eligible, not rebooted", () =>
    withAgentLogs(async () => {
      let rebooted = false;
      expect(await reimageWorker(options({ reboot: async () => void (rebooted = true) }))).toBe("already-on-build");
      expect(rebooted).toBe(false);
      expect((await node("c1")).SchedulingEligibility).toBe("eligible");
      expect(logged[logged.length - 1]).toBe("on build fedcba9876543210 already, drained by an earlier reimage: marked eligible");
    }), 60_000);

  test("the program, as Terraform runs it: tokens from the environment, a reboot command that fails", () =>
    withAgentLogs(async () => {
      const program = path.join(__dirname, "..", "..", "dist", "cli", "worker-reimage.js");
      if (!fs.existsSync(program)) throw new Error(`${program} is missing: run npm run build first`);
      const result = await execa(
        "node",
        [program, "reimage", "--node", "c1", "--address", "127.0.0.2", "--build", "00000000000000bb", "--nomad", agents.nomadAddress, "--consul", agents.consulAddress,
          "--workers", "c1", "--drain-deadline", "60", "--boot-timeout", "60", "--reboot-command", 'echo "no power switch for $ELY_REIMAGE_NODE at $ELY_REIMAGE_ADDRESS" >&2; exit 3'],
        { reject: false, env: { ELY_SECRET_NOMAD_TOKEN: agents.nomadToken, ELY_SECRET_CONSUL_TOKEN: agents.consulToken } },
      );
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toContain("[ely-reimage c1] drained (");
      expect(result.stderr).toBe(
        "ely-reimage: c1: could not start its reboot: the reboot command exited with 3: no power switch for c1 at 127.0.0.2. It was marked eligible again, nothing changed on it: the rollout stops here",
      );
      expect((await node("c1")).SchedulingEligibility).toBe("eligible");
      const noToken = await execa("node", [program, "reimage", "--node", "c1", "--address", "127.0.0.2", "--build", NEW, "--nomad", agents.nomadAddress], { reject: false, env: { ELY_SECRET_NOMAD_TOKEN: "" } });
      expect(noToken.exitCode).toBe(1);
      expect(noToken.stderr).toMatch(/^ely-reimage: Nomad at http:\/\/127\.0\.0\.1:\d+ refused GET \/v1\/nodes \(HTTP 403/);
    }), 120_000);

  test("images.rollout.allowJobDowntime: nothing can hold the allocation, the worker is drained and rebooted anyway, and the job comes back on it", () =>
    withAgentLogs(async () => {
      const THIRD = "00000000000000cc";
      await sleeperOnC1Again();
      await setEligibility("s1", false);
      try {
        let during: string[] | undefined;
        const outcome = await reimageWorker(
          options({
            buildId: THIRD,
            allowJobDowntime: true,
            reboot: async () => {
              during = await sleeperNodes();
              await rebootOnto(THIRD)();
            },
          }),
        );
        expect(outcome).toBe("rebooted");
        // While the worker was down the job ran nowhere: the downtime the operator accepted.
        expect(during).toEqual([]);
        expect(logged.join("\n")).toMatch(
          /c1 runs 1 allocation to move, and the clients that stay up cannot hold sleeper\.sleeper\[0\] \(100 MHz, 32 MB\) \(no other client is ready and eligible\); images\.rollout\.allowJobDowntime: draining anyway, they wait until a client has room \(c1 once back\)/,
        );
        const back = await node("c1");
        expect([back.Status, back.SchedulingEligibility, back.Meta?.ely_build_id]).toEqual(["ready", "eligible", THIRD]);
        await waitFor("sleeper running on c1 again", 120_000, async () => ((await sleeperNodes()).join() === "c1" ? true : undefined));
      } finally {
        await setEligibility("s1", true);
      }
    }), 300_000);
});

/** After a test moved the sleeper to s1: back onto c1, for the next test. */
async function sleeperOnC1Again(): Promise<void> {
  const r = await http("DELETE", `${agents.nomadAddress}/v1/job/sleeper?purge=true`, agents.nomadToken);
  if (r.status !== 200) throw new Error(`stopping sleeper: ${r.status} ${r.text}`);
  await waitFor("sleeper gone", 60_000, async () => ((await sleeperNodes()).length === 0 ? true : undefined));
  await sleeperOnC1();
}
