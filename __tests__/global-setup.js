// Before the suites: compile once (the CLI tests run the compiled CLI, as users do), and give the
// whole run its own temporary directory, removed by global-teardown.js: whatever a test, cdktf's
// Testing helpers or a program they run put in the temporary directory goes away with the run.
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

module.exports = () => {
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "."], { stdio: "inherit", cwd: path.join(__dirname, "..") });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-jest-"));
  process.env.ELY_JEST_TMP_ROOT = root;
  process.env.TMPDIR = root;
};
