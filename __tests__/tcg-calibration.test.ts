import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { calibrationScript, parseCalibration } from "../e2e/cluster/tcg-calibration";

describe("the cluster suite's calibration of emulated against native CPUs", () => {
  test("the script times every workload three times, in milliseconds, with the binaries it is given", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-calibration-test-"));
    const log = path.join(dir, "calls");
    // A stand-in for each binary that notes its calls: the test is of the script's shape, not of timing.
    for (const name of ["nomad", "consul", "busybox"]) {
      fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho "${name} $1" >> ${log}\n`, { mode: 0o755 });
    }
    const b = { nomad: path.join(dir, "nomad"), consul: path.join(dir, "consul"), busybox: path.join(dir, "busybox") };
    const run = spawnSync("sh", ["-c", calibrationScript(b)], { encoding: "utf8" });
    expect(run.status).toBe(0);
    const medians = parseCalibration(run.stdout);
    expect(medians).toHaveLength(4);
    for (const m of medians) expect(m).toBeGreaterThanOrEqual(0);
    const calls = fs.readFileSync(log, "utf8").trim().split("\n");
    expect(calls.filter((c) => c === "nomad version")).toHaveLength(9);
    expect(calls.filter((c) => c === "consul version")).toHaveLength(9);
    expect(calls.filter((c) => c === "busybox true")).toHaveLength(600);
    expect(calls.filter((c) => c === "busybox gzip")).toHaveLength(3);
  });

  test("takes the median of each workload's rounds", () => {
    expect(parseCalibration("w0 30 10 20\nw1 5 5 6\nw2 100 300 200\nw3 7 9 8\n")).toEqual([20, 5, 200, 8]);
  });

  test("a workload without its three timings is an error naming it and quoting the output", () => {
    expect(() => parseCalibration("w0 1 2 3\nw1 1 2\nw2 1 2 3\nw3 1 2 3")).toThrow('calibration: no 3 timings for "Go start: 3 x consul version" (w1) in:\nw0 1 2 3');
    expect(() => parseCalibration("")).toThrow('no 3 timings for "Go start: 3 x nomad version" (w0)');
  });
});
