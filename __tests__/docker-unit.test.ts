/**
 * docker.service of images with docker (images/docker-unit.ts): docker starts without waiting for
 * network-online.target, with docker0's address chosen from the initrd's lease by the start script,
 * run here by this machine's sh (dash, as on a node) with `echo` in dockerd's place.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DOCKER_BRIDGE_POOLS, DOCKER_UNIT_PATH, DOCKERD_START_PATH, DOCKERD_START_TAG, dockerBridgeFunctions, dockerdStartScript, dockerUnit } from "../images/docker-unit";
import { initScript } from "../images/initrd-files";
import { BOOT_ENV_FILE, rootfsFiles } from "../images/rootfs-files";

function bridgeFor(lan: string): { out: string; status: number | null } {
  const run = spawnSync("sh", ["-c", `${dockerBridgeFunctions}\ndocker_bridge_for "$1"`, "sh", lan], { encoding: "utf8" });
  expect(run.stderr).toBe("");
  return { out: run.stdout.trim(), status: run.status };
}

describe("docker0's address from the boot lease", () => {
  test.each([
    ["10.26.90.21/24", "172.17.0.1/16"],
    ["192.168.1.20/24", "172.17.0.1/16"],
    ["10.0.0.7/8", "172.17.0.1/16"],
    // A LAN inside docker's first pool: the next pool, as dockerd chooses when it sees the LAN's route.
    ["172.17.5.9/24", "172.18.0.1/16"],
    ["172.17.5.9/255.255.255.0", "172.18.0.1/16"],
    ["172.18.200.1/16", "172.17.0.1/16"],
    // A LAN over all of 172.16.0.0/12: docker's 192.168.0.0/20 pools.
    ["172.16.0.5/12", "192.168.0.1/20"],
    ["172.20.0.5/255.240.0.0", "192.168.0.1/20"],
    ["192.168.0.2/24", "172.17.0.1/16"],
  ])("a lease of %s gives docker0 %s", (lan, bridge) => {
    expect(bridgeFor(lan)).toEqual({ out: bridge, status: 0 });
  });

  test("a LAN that covers every pool gives none", () => {
    expect(bridgeFor("0.0.0.0/0")).toEqual({ out: "", status: 1 });
    expect(bridgeFor("128.0.0.0/1")).toEqual({ out: "", status: 1 });
  });

  test.each(["", "10.1.2.3", "10.1.2/24", "10.1.2.300/24", "10.1.2.3/33", "010.1.2.3/24", "10.1.2.3/x", "a.b.c.d/24", "10..2.3/24", "10.1.2.3/255.x.0.0"])(
    "a malformed lease %j gives none",
    (lan) => {
      expect(bridgeFor(lan)).toEqual({ out: "", status: 1 });
    },
  );

  test("the pools are docker's defaults, in its order", () => {
    expect(DOCKER_BRIDGE_POOLS.slice(0, 2)).toEqual(["172.17.0.0/16", "172.18.0.0/16"]);
    expect(DOCKER_BRIDGE_POOLS[14]).toBe("172.31.0.0/16");
    expect(DOCKER_BRIDGE_POOLS.slice(15, 17)).toEqual(["192.168.0.0/20", "192.168.16.0/20"]);
    expect(DOCKER_BRIDGE_POOLS[DOCKER_BRIDGE_POOLS.length - 1]).toBe("192.168.240.0/20");
  });
});

describe("the start script", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-dockerd-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function start(bootEnv: string | undefined): { stdout: string; stderr: string; status: number | null } {
    const envFile = path.join(dir, "boot.env");
    if (bootEnv !== undefined) fs.writeFileSync(envFile, bootEnv);
    const script = path.join(dir, "dockerd");
    fs.writeFileSync(script, dockerdStartScript(envFile), { mode: 0o755 });
    const run = spawnSync(script, ["-H", "fd://", "--containerd=/run/containerd/containerd.sock"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, ELY_DOCKERD: "echo" },
    });
    return { stdout: run.stdout, stderr: run.stderr, status: run.status };
  }

  test("gives dockerd docker0's address from the lease, then the unit's arguments, and says so", () => {
    const run = start("ELY_HOSTNAME='w1'\nELY_BOOT_ADDRESS='172.17.40.21/24'\n");
    expect(run.stdout).toBe("--bip=172.18.0.1/16 -H fd:// --containerd=/run/containerd/containerd.sock\n");
    expect(run.stderr).toBe(`${DOCKERD_START_TAG}: docker0 172.18.0.1/16 (the boot lease is 172.17.40.21/24)\n`);
    expect(run.status).toBe(0);
  });

  test("without a lease, or with one it cannot read, leaves the choice to dockerd and says why", () => {
    for (const bootEnv of [undefined, "ELY_HOSTNAME='w1'\n"]) {
      const run = start(bootEnv);
      expect(run.stdout).toBe("-H fd:// --containerd=/run/containerd/containerd.sock\n");
      expect(run.stderr).toContain("names no boot lease (ELY_BOOT_ADDRESS): docker chooses docker0's subnet itself");
    }
    const bad = start("ELY_BOOT_ADDRESS='10.1.2.3/'\n");
    expect(bad.stdout).toBe("-H fd:// --containerd=/run/containerd/containerd.sock\n");
    expect(bad.stderr).toBe(`${DOCKERD_START_TAG}: the boot lease 10.1.2.3/ is not a.b.c.d/len or overlaps every docker pool: docker chooses docker0's subnet itself\n`);
  });
});

describe("the unit", () => {
  test("starts docker after its socket and containerd, not after network-online.target, through the start script", () => {
    const unit = dockerUnit();
    expect(unit.split("\n").filter((line) => !line.startsWith("#") && line.includes("network-online"))).toEqual([]);
    expect(unit).toMatch(/^After=docker\.socket firewalld\.service containerd\.service$/m);
    expect(unit).toMatch(/^Wants=containerd\.service$/m);
    expect(unit).toMatch(/^Requires=docker\.socket$/m);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toContain(`ExecStart=/${DOCKERD_START_PATH} -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n`);
    expect(unit).toMatch(/^Delegate=yes$/m);
    expect(unit).toMatch(/^KillMode=process$/m);
  });

  test("images with docker carry the unit (in /etc, over the package's) and the script; others neither", () => {
    const withDocker = rootfsFiles({ withAgents: true, withDocker: true, withSsh: false }).files;
    expect(DOCKER_UNIT_PATH).toBe("etc/systemd/system/docker.service");
    expect(withDocker.find((f) => f.path === DOCKER_UNIT_PATH)?.content).toBe(dockerUnit());
    const script = withDocker.find((f) => f.path === DOCKERD_START_PATH);
    expect(script?.mode).toBe(0o755);
    expect(script?.content).toContain(`[ -r ${BOOT_ENV_FILE} ] && . ${BOOT_ENV_FILE}`);
    const without = rootfsFiles({ withAgents: true, withDocker: false, withSsh: false }).files.map((f) => f.path);
    expect(without).not.toContain(DOCKER_UNIT_PATH);
    expect(without).not.toContain(DOCKERD_START_PATH);
  });

  test("the initrd writes the lease it got into boot.env", () => {
    expect(initScript()).toContain("ELY_BOOT_ADDRESS='$ip/$mask'\n");
  });
});
