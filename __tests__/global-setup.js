// The CLI tests run the compiled CLI, as users do: compile once before the suites.
const { execFileSync } = require("child_process");
module.exports = () => {
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "."], { stdio: "inherit", cwd: __dirname + "/.." });
};
