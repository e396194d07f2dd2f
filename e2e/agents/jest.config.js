/**
 * The suite that needs only the Consul and Nomad agents, no Terraform providers (`npm run
 * test:agents`, which builds or reuses the agents: e2e/tools/build-tools.sh --agents-only): the
 * agents' own validation of every rendered agent file and of every job. CI runs it on every machine.
 */
module.exports = require("../suite-config")({
  testMatch: ["<rootDir>/e2e/agents/**/*.agents.ts"],
  testTimeout: 300000,
});
