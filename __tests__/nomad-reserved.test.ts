import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NOMAD_RESERVED_FILE, nomadReservedScript } from "../images/nomad-reserved";
import { rootfsFiles } from "../images/rootfs-files";
import { requires, testAgentBinDir } from "./helpers/requires";

/** Runs the image's script on this machine with a meminfo file and a configuration directory of the test's own. */
function runScript(dir: string, meminfo: string) {
  const run = spawnSync("sh", ["-c", nomadReservedScript()], { encoding: "utf8", env: { ...process.env, ELY_MEMINFO: meminfo, ELY_NOMAD_CONFIG_DIR: dir } });
  const file = path.join(dir, NOMAD_RESERVED_FILE);
  return { ...run, written: fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined };
}

describe("what a netbooted node's Nomad reserves for the system", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-nomad-reserved-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("reserves what jobs cannot have when Nomad starts (MemTotal - MemAvailable, MiB rounded up) and says what is left for jobs", () => {
    const meminfo = path.join(dir, "meminfo");
    fs.writeFileSync(meminfo, "MemTotal:       32768000 kB\nMemFree:        30000000 kB\nMemAvailable:   31000000 kB\nShmem:            670000 kB\n");
    const run = runScript(path.join(dir, "nomad.d"), meminfo);
    expect(run.status).toBe(0);
    // (32768000 - 31000000) kB = 1726.6 MiB: 1727 reserved.
    expect(JSON.parse(run.written!)).toEqual({ client: { reserved: [{ memory: 1727 }] } });
    expect(run.stdout.trim()).toBe("ely-nomad-reserved: memory: total 32000 MiB, reserved 1727 MiB for the system (root file system and what runs beside Nomad), 30273 MiB for jobs");
    expect(fs.readdirSync(path.join(dir, "nomad.d"))).toEqual([NOMAD_RESERVED_FILE]);
  });

  test("this machine's /proc/meminfo gives a reservation between nothing and the whole memory", () => {
    const run = runScript(dir, "/proc/meminfo");
    expect(run.status).toBe(0);
    const memory = JSON.parse(run.written!).client.reserved[0].memory;
    const totalMib = Number(/^MemTotal:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"))![1]) / 1024;
    expect(memory).toBeGreaterThan(0);
    expect(memory).toBeLessThan(totalMib);
  });

  test("a later start in the same boot keeps the first start's reservation: the jobs running then are not the system", () => {
    const meminfo = path.join(dir, "meminfo");
    fs.writeFileSync(meminfo, "MemTotal:       4096000 kB\nMemAvailable:   3072000 kB\n");
    expect(JSON.parse(runScript(dir, meminfo).written!)).toEqual({ client: { reserved: [{ memory: 1000 }] } });
    // Jobs now use 2000 MiB more; Nomad crashed and starts again.
    fs.writeFileSync(meminfo, "MemTotal:       4096000 kB\nMemAvailable:   1024000 kB\n");
    const again = runScript(dir, meminfo);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.written!)).toEqual({ client: { reserved: [{ memory: 1000 }] } });
    expect(again.stdout.trim()).toBe(`ely-nomad-reserved: keeps this boot's reservation ({"client":{"reserved":[{"memory":1000}]}}): jobs may run now, and their memory is not the system's`);
  });

  test("without MemTotal and MemAvailable it reserves nothing, says what it received, and never fails Nomad's start", () => {
    const meminfo = path.join(dir, "meminfo");
    fs.writeFileSync(meminfo, "MemTotal:       32768000 kB\n");
    const run = runScript(dir, meminfo);
    expect(run.status).toBe(0);
    expect(run.written).toBeUndefined();
    expect(run.stderr.trim()).toBe(`ely-nomad-reserved: no MemTotal and MemAvailable in ${meminfo} (received "32768000" and ""): Nomad reserves nothing and offers jobs the whole memory`);
  });

  test("images with agents run it before every start of Nomad; images without have neither", () => {
    const full = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true });
    const dropIn = full.files.find((f) => f.path === "usr/lib/systemd/system/nomad.service.d/ely-reserved.conf");
    expect(dropIn?.content).toBe("[Service]\nExecStartPre=/usr/local/lib/ely/nomad-reserved\n");
    expect(full.files.find((f) => f.path === "usr/local/lib/ely/nomad-reserved")?.mode).toBe(0o755);
    const bare = rootfsFiles({ withAgents: false, withDocker: false, withSsh: false }).files.map((f) => f.path);
    expect(bare.filter((p) => p.includes("nomad-reserved") || p.includes("nomad.service.d"))).toEqual([]);
  });

  requires("agents").test("Nomad itself accepts the file beside a node's configuration (nomad config validate)", () => {
    const meminfo = path.join(dir, "meminfo");
    fs.writeFileSync(meminfo, "MemTotal:       4096000 kB\nMemAvailable:   3072000 kB\n");
    const nomadDir = path.join(dir, "nomad.d");
    expect(runScript(nomadDir, meminfo).status).toBe(0);
    fs.writeFileSync(path.join(nomadDir, "nomad.json"), JSON.stringify({ data_dir: path.join(dir, "data"), client: { enabled: true } }));
    const nomad = path.join(testAgentBinDir(), "nomad");
    const validate = spawnSync(nomad, ["config", "validate", nomadDir], { encoding: "utf8" });
    expect(`${validate.status} ${validate.stdout}${validate.stderr}`).toMatch(/^0 /);
  });
});
