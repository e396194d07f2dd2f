// Before the suites: compile once (the CLI tests run the compiled CLI, as users do), and give the
// whole run its own temporary directory, removed by global-teardown.js: whatever a test, cdktf's
// Testing helpers or a program they run put in the temporary directory goes away with the run.
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

module.exports = () => {
  // The same build as users run: tsc, then the one-file app cdktf runs (dist/app.js).
  execFileSync("npm", ["run", "--silent", "build"], { stdio: "inherit", cwd: path.join(__dirname, "..") });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-jest-"));
  // Traversable, not listable: daemons a test starts drop to another user (nginx's workers) and must reach their files.
  fs.chmodSync(root, 0o711);
  process.env.ELY_JEST_TMP_ROOT = root;
  process.env.TMPDIR = root;
};
