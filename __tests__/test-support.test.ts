/**
 * The test support that keeps CI honest: why a requirement is missing (__tests__/helpers/requires.ts),
 * and the reporter that lists the tests that did not run (__tests__/helpers/skip-reporter.js).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as net from "net";
import { freePort } from "../e2e/free-port";
import { missing, requiredHere, testAgentBinDir } from "./helpers/requires";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SkipReporter = require("./helpers/skip-reporter.js");

describe("requirements", () => {
  test("ELY_REQUIRE is a comma-separated list; blanks and spaces are ignored", () => {
    expect(requiredHere({ ELY_REQUIRE: " root, dnsmasq,,agents " })).toEqual(["root", "dnsmasq", "agents"]);
    expect(requiredHere({})).toEqual([]);
  });

  test("a program that is not on PATH is named", () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "ely-empty-path-"));
    expect(missing("dnsmasq", { PATH: empty })).toBe("dnsmasq is not on PATH");
    expect(missing("rsync", { PATH: empty })).toBe("rsync is not on PATH");
  });

  test("missing agents name the binaries and the directory, and how to build them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-agents-"));
    const env = { ELY_TEST_AGENT_BIN_DIR: dir };
    expect(testAgentBinDir(env)).toBe(dir);
    expect(missing("agents", env)).toBe(`no consul or nomad in ${dir} (e2e/tools/build-tools.sh --agents-only builds them)`);
    fs.writeFileSync(path.join(dir, "consul"), "");
    expect(missing("agents", env)).toBe(`no nomad in ${dir} (e2e/tools/build-tools.sh --agents-only builds them)`);
    fs.writeFileSync(path.join(dir, "nomad"), "");
    expect(missing("agents", env)).toBeUndefined();
  });
});

describe("the skip reporter", () => {
  const results = {
    numPassedTests: 2,
    numFailedTests: 1,
    numFailedTestSuites: 1,
    testResults: [
      {
        testFilePath: path.join(process.cwd(), "__tests__", "a.test.ts"),
        testResults: [
          { status: "passed", fullName: "a works" },
          { status: "pending", fullName: "a needs dnsmasq [skipped: dnsmasq is not on PATH]" },
          { status: "failed", fullName: "a fails" },
        ],
      },
      { testFilePath: path.join(process.cwd(), "__tests__", "b.test.ts"), testResults: [{ status: "todo", fullName: "b later" }] },
    ],
  };

  test("lists every test that did not run, by file and name, and writes the counts for .ci/run", () => {
    const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ely-report-")), "report.json");
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (written.push(String(chunk)), true));
    const saved = process.env.ELY_SUITE_REPORT;
    process.env.ELY_SUITE_REPORT = report;
    try {
      new SkipReporter().onRunComplete(new Set(), results);
    } finally {
      spy.mockRestore();
      if (saved === undefined) delete process.env.ELY_SUITE_REPORT;
      else process.env.ELY_SUITE_REPORT = saved;
    }
    const skipped = ["__tests__/a.test.ts › a needs dnsmasq [skipped: dnsmasq is not on PATH]", "__tests__/b.test.ts › b later"];
    expect(written.join("")).toBe(`\nNot run (2):\n${skipped.map((s) => `  - ${s}\n`).join("")}`);
    expect(JSON.parse(fs.readFileSync(report, "utf8"))).toEqual({ passed: 2, failed: 1, failedFiles: 1, skipped });
  });
});

describe("the agents' ports (e2e/dev-agents.ts)", () => {
  test("freePort never hands out a port twice in one process, and each is free when handed out", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    // The last one can be listened on.
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.on("error", reject);
      server.listen(ports[ports.length - 1], "127.0.0.1", () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
