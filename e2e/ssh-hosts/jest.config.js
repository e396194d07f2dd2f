/**
 * The ssh-hosts integration test (`npx jest -c e2e/ssh-hosts/jest.config.js`): the server
 * rollout's real steps over real ssh against systemd-nspawn test hosts. Needs root,
 * systemd-container, mmdebstrap; builds or reuses the tools of e2e/tools/build-tools.sh.
 */
module.exports = require("../suite-config")({
  // Not *.e2e.ts: the real-convergence suite (e2e/jest.config.js) must not pick this one up.
  testMatch: ["<rootDir>/e2e/ssh-hosts/**/*.ssh-e2e.ts"],
  globalSetup: "<rootDir>/e2e/ssh-hosts/global-setup.js",
  testTimeout: 600000,
});
