/**
 * Nothing left behind, nothing tied to where the checkout lives: staged asset folders after a
 * synth (refused or not), image build work directories after a killed build, and the local
 * state path in cdk.tf.json.
 */
import * as fs from "fs";
import * as path from "path";
import execa from "execa";
import { buildImage } from "../images/build-image";
import { createWorkDir, keepWorkDir, removeStaleWorkDirs } from "../images/work-dir";
import { TEST_OUTDIR_ROOT } from "./setup";

const root = path.join(__dirname, "..");

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, prefix));
}

/** A copy of the compiled project in a new directory (its node_modules linked), as another checkout would be. */
function checkoutCopy(at: string): string {
  fs.mkdirSync(at, { recursive: true });
  fs.cpSync(path.join(root, "dist"), path.join(at, "dist"), { recursive: true });
  fs.copyFileSync(path.join(root, "package.json"), path.join(at, "package.json"));
  fs.symlinkSync(path.join(root, "node_modules"), path.join(at, "node_modules"));
  return at;
}

function synth(checkout: string, env: Record<string, string> = {}) {
  return execa(process.execPath, [path.join(checkout, "dist", "cli", "ely.js"), "synth"], {
    cwd: checkout,
    env: { ELY_INVENTORY: "", ELY_AGENT_BIN_DIR: process.env.ELY_AGENT_BIN_DIR!, ...env },
    reject: false,
  });
}

describe("synth leaves nothing in cdktf.out/.staging", () => {
  test("after a synth refused for a bad inventory, and after a good one", async () => {
    const dir = tempDir("staging-");
    const bad = path.join(dir, "bad.json");
    const input = JSON.parse((await execa(process.execPath, [path.join(root, "dist", "cli", "ely.js"), "inventory", "--json"], { env: { ELY_INVENTORY: "" } })).stdout);
    input.nodes[1].role = "server";
    input.nodes.splice(2, 1); // two servers: refused by the cluster's validation, after the assets were staged
    fs.writeFileSync(bad, JSON.stringify(input));
    const run = (env: Record<string, string>) =>
      execa(process.execPath, [path.join(root, "dist", "cli", "ely.js"), "synth"], { cwd: dir, env: { ELY_AGENT_BIN_DIR: process.env.ELY_AGENT_BIN_DIR!, ...env }, reject: false });
    const failed = await run({ ELY_INVENTORY: bad });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain("nothing synthesized");
    expect(fs.readdirSync(path.join(dir, "cdktf.out"))).toEqual(["stacks"]); // the app makes it, empty
    expect(fs.readdirSync(path.join(dir, "cdktf.out", "stacks"))).toEqual([]);
    const ok = await run({ ELY_INVENTORY: "" });
    expect(ok.exitCode).toBe(0);
    expect(fs.readdirSync(path.join(dir, "cdktf.out")).sort()).toEqual(["manifest.json", "stacks"]);
    const assets = path.join(dir, "cdktf.out", "stacks", "ely", "assets");
    expect(fs.readdirSync(assets).length).toBe(3); // the agent configurations, the boot service and the secrets server, written at synth
  }, 60_000);
});

describe("cdk.tf.json does not depend on where the checkout lives", () => {
  test("two checkouts at different paths synthesize the same file, with a relative local state path", async () => {
    const base = tempDir("checkouts-");
    const a = checkoutCopy(path.join(base, "a"));
    const b = checkoutCopy(path.join(base, "elsewhere", "deeper", "b"));
    const [ra, rb] = await Promise.all([synth(a), synth(b)]);
    expect([ra.exitCode, rb.exitCode]).toEqual([0, 0]);
    const fileA = fs.readFileSync(path.join(a, "cdktf.out", "stacks", "ely", "cdk.tf.json"), "utf8");
    const fileB = fs.readFileSync(path.join(b, "cdktf.out", "stacks", "ely", "cdk.tf.json"), "utf8");
    expect(fileA).toBe(fileB);
    expect(fileA).not.toContain(base);
    expect(JSON.parse(fileA).terraform.backend).toEqual({ local: { path: "../../../terraform.ely.tfstate" } });
    // Relative to Terraform's working directory (cdktf.out/stacks/ely): the checkout, where cdktf put it before.
    expect(path.resolve(a, "cdktf.out", "stacks", "ely", "../../../terraform.ely.tfstate")).toBe(path.join(a, "terraform.ely.tfstate"));
  }, 60_000);
});

describe("image build work directories", () => {
  async function deadPid(): Promise<number> {
    const child = execa("true");
    await child;
    return child.pid!;
  }

  test("stale ones (owner gone, or from before a reboot) are removed; a running build's, a kept one and other files are kept", async () => {
    const dir = tempDir("works-");
    const out = path.join(dir, "0123456789abcdef");
    const live = createWorkDir(out);
    const dead = createWorkDir(out);
    fs.writeFileSync(path.join(dead, "owner"), `${await deadPid()} ${fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}\n`);
    const rebooted = createWorkDir(path.join(dir, "fedcba9876543210"));
    fs.writeFileSync(path.join(rebooted, "owner"), `${process.pid} another-boot\n`);
    const unownedOld = path.join(dir, ".0123456789abcdef.work-old123");
    fs.mkdirSync(path.join(unownedOld, "rootfs", "etc"), { recursive: true });
    fs.utimesSync(unownedOld, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    const unownedNew = path.join(dir, ".0123456789abcdef.work-new123");
    fs.mkdirSync(unownedNew);
    const kept = createWorkDir(out); // --keep-work, for debugging: its build is gone, but it was kept on purpose
    fs.writeFileSync(path.join(kept, "owner"), `${await deadPid()} x\n`);
    keepWorkDir(kept);
    fs.mkdirSync(path.join(dir, "0123456789abcdef"));
    fs.mkdirSync(path.join(dir, ".0123456789abcdef.partial"));

    expect(removeStaleWorkDirs(dir).sort()).toEqual([dead, rebooted, unownedOld].sort());
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(live), path.basename(unownedNew), path.basename(kept), ".0123456789abcdef.partial", "0123456789abcdef"].sort());
    expect(removeStaleWorkDirs(path.join(dir, "no-such-image"))).toEqual([]);
  });

  test("a build starts by removing the work directories of builds that are gone", async () => {
    const dir = tempDir("works-");
    const stale = createWorkDir(path.join(dir, "0123456789abcdef"));
    fs.writeFileSync(path.join(stale, "owner"), `${await deadPid()} ${fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}\n`);
    const lines: string[] = [];
    const build = buildImage({
      role: "client",
      arch: "amd64",
      profile: "test",
      agentVersions: { consul: "1.16.3", nomad: "1.6.3" },
      agentSource: { kind: "dir", path: process.env.ELY_AGENT_BIN_DIR! },
      outDir: path.join(dir, "fedcba9876543210"),
      expectedInputHash: "0".repeat(64), // refused right after the cleanup: no real build starts
      write: (l) => lines.push(l),
    });
    await expect(build).rejects.toThrow(/input hash mismatch/);
    expect(fs.existsSync(stale)).toBe(false);
    expect(lines).toEqual([`ely-image client-amd64: removed the work directory of a build that is gone: ${stale}`]);
  });

  test.each(["SIGTERM", "SIGINT"] as const)("%s removes a running build's work directory and exits 128 + the signal", async (signal) => {
    const dir = tempDir("works-");
    const script = `
      const { createWorkDir, removeOnSignal } = require(${JSON.stringify(path.join(root, "dist", "images", "work-dir.js"))});
      const work = createWorkDir(${JSON.stringify(path.join(dir, "0123456789abcdef"))});
      require("fs").mkdirSync(work + "/rootfs/usr/bin", { recursive: true });
      removeOnSignal(work);
      console.log(work);
      setTimeout(() => {}, 60000);
    `;
    const child = execa(process.execPath, ["-e", script], { reject: false });
    const work = await new Promise<string>((resolve) => child.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim())));
    expect(fs.existsSync(path.join(work, "rootfs", "usr", "bin"))).toBe(true);
    child.kill(signal);
    const result = await child;
    expect(result.exitCode).toBe(signal === "SIGTERM" ? 143 : 130);
    expect(result.stderr).toContain(`${signal}: removing the work directory ${work}`);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
