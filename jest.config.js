/** Unit, snapshot and CLI tests (`npm test`). The suites that need real tools have their own configs (e2e/). */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  // Every test that did not run is listed by name at the end (and for .ci/run's summary).
  reporters: ["default", "<rootDir>/__tests__/helpers/skip-reporter.js"],
  testMatch: ["<rootDir>/__tests__/**/*.test.ts"],
  // Several tests run real programs (the CLI, consul, dnsmasq, ssh): on a loaded 2-core machine
  // jest's 5 s default fails them for slowness alone. A hung program still fails, at 60 s.
  testTimeout: 60000,
  setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
  globalSetup: "<rootDir>/__tests__/global-setup.js",
  globalTeardown: "<rootDir>/__tests__/global-teardown.js",
};
