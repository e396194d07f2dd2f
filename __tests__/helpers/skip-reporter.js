/**
 * A jest reporter that says what did not run: after the run it lists every skipped or todo test by
 * file and full name (tests skipped for want of root, a program or the agents carry the reason in
 * their names: __tests__/helpers/requires.ts). With ELY_SUITE_REPORT=<file> it also writes the
 * counts and those names as JSON, which .ci/run's summary reads. Every jest config lists it.
 */
const fs = require("fs");
const path = require("path");

class SkipReporter {
  onRunComplete(_contexts, results) {
    const skipped = [];
    for (const file of results.testResults) {
      const rel = path.relative(process.cwd(), file.testFilePath);
      for (const t of file.testResults) {
        if (t.status === "pending" || t.status === "skipped" || t.status === "todo") skipped.push(`${rel} › ${t.fullName}`);
      }
    }
    if (skipped.length > 0) process.stderr.write(`\nNot run (${skipped.length}):\n${skipped.map((s) => `  - ${s}\n`).join("")}`);
    const out = process.env.ELY_SUITE_REPORT;
    if (out) {
      const report = {
        passed: results.numPassedTests,
        failed: results.numFailedTests,
        failedFiles: results.numFailedTestSuites,
        skipped,
      };
      fs.writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
    }
  }
}

module.exports = SkipReporter;
