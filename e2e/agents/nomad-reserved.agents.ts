/**
 * What a netbooted node's Nomad reserves for the system (images/nomad-reserved.ts), with real agents
 * (`npm run test:agents`): the image's own script writes its file from a meminfo of the test's, a Nomad
 * client (c1) starts with it beside its nomad.json, and the servers' view of c1 carries the reservation;
 * a file later in name order (as the node's nomad.json, with an inventory's agentOverrides) wins over it.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NOMAD_RESERVED_FILE, nomadReservedScript } from "../../images/nomad-reserved";
import { allLogTails, DevAgents, ExtraAgent, http, startDevAgents, startNomadClient, stopAgents, withLogs } from "../dev-agents";
import { onPath } from "../on-path";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-nomad-reserved-"));
const bin = (name: string) => onPath(name, "test:agents");
let agents: DevAgents;
const extra: ExtraAgent[] = [];

/** The reservation file the image's script writes for a node with `totalKib` of memory, `availableKib` of it available. */
function reservedFile(totalKib: number, availableKib: number): string {
  const dir = fs.mkdtempSync(path.join(work, "reserved-"));
  fs.writeFileSync(path.join(dir, "meminfo"), `MemTotal: ${totalKib} kB\nMemAvailable: ${availableKib} kB\n`);
  const run = spawnSync("sh", ["-c", nomadReservedScript()], { env: { ...process.env, ELY_MEMINFO: path.join(dir, "meminfo"), ELY_NOMAD_CONFIG_DIR: dir }, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`nomad-reserved: ${run.stderr}`);
  return fs.readFileSync(path.join(dir, NOMAD_RESERVED_FILE), "utf8");
}

/** The node's reserved and total memory, as the servers see it. */
async function nodeMemory(name: string): Promise<{ reservedMb: number; totalMb: number }> {
  const nodes = (await http("GET", `${agents.nomadAddress}/v1/nodes`, agents.nomadToken)).json as { ID: string; Name: string }[];
  const id = nodes.find((n) => n.Name === name)!.ID;
  const node = (await http("GET", `${agents.nomadAddress}/v1/node/${id}`, agents.nomadToken)).json as {
    ReservedResources: { Memory: { MemoryMB: number } };
    NodeResources: { Memory: { MemoryMB: number } };
  };
  return { reservedMb: node.ReservedResources.Memory.MemoryMB, totalMb: node.NodeResources.Memory.MemoryMB };
}

beforeAll(async () => {
  agents = await startDevAgents(path.join(work, "agents"), { consul: bin("consul"), nomad: bin("nomad") }, { nodeName: "s1" });
}, 120_000);

afterAll(() => stopAgents(agents, extra, work), 120_000);

const withAgentLogs = (fn: () => Promise<void>) => withLogs(() => allLogTails(agents, extra), fn);

test("a Nomad client started with the image's reservation offers jobs the rest; a later file's reservation wins", () =>
  withAgentLogs(async () => {
    // 4000 MiB, 3000 of them available when Nomad starts: 1000 MiB reserved.
    const file = reservedFile(4_096_000, 3_072_000);
    expect(JSON.parse(file)).toEqual({ client: { reserved: [{ memory: 1000 }] } });
    extra.push(await startNomadClient(path.join(work, "agents"), bin("nomad"), agents, { name: "c1", bindAddress: "127.0.0.2", configFiles: { [NOMAD_RESERVED_FILE]: file } }));
    const c1 = await nodeMemory("c1");
    expect(c1.reservedMb).toBe(1000);
    expect(c1.totalMb).toBeGreaterThan(1000);

    // An operator's own reservation in a file read after it (nomad.json, with agentOverrides, sorts after ely-reserved.json).
    extra.push(
      await startNomadClient(path.join(work, "agents"), bin("nomad"), agents, {
        name: "c2",
        bindAddress: "127.0.0.3",
        configFiles: { [NOMAD_RESERVED_FILE]: file, "operator.json": JSON.stringify({ client: { reserved: [{ memory: 1500 }] } }) },
      }),
    );
    expect((await nodeMemory("c2")).reservedMb).toBe(1500);
  }));
