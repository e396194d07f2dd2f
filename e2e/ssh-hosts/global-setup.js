// The steps run the compiled step program (dist/cli/server-step.js), as Terraform does: compile first.
const { execFileSync } = require("child_process");
const path = require("path");
module.exports = () => {
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "."], { stdio: "inherit", cwd: path.resolve(__dirname, "../..") });
};
