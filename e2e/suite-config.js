/**
 * What the jest configs of the suites that need real tools share: ts-jest on node, one worker
 * (they start agents, hosts and VMs), rooted at the checkout, and the skip reporter (every test
 * that did not run is listed by name at the end, and for .ci/run's summary). `suite` adds
 * testMatch, testTimeout and whatever else the suite needs.
 */
const path = require("path");

module.exports = function suiteConfig(suite) {
  return {
    rootDir: path.resolve(__dirname, ".."),
    preset: "ts-jest",
    testEnvironment: "node",
    reporters: ["default", "<rootDir>/__tests__/helpers/skip-reporter.js"],
    maxWorkers: 1,
    ...suite,
  };
};
