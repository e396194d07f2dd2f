/** The end-to-end suite (`npm run test:e2e`): real Terraform, providers and agents. */
module.exports = {
  rootDir: "..",
  preset: "ts-jest",
  testEnvironment: "node",
  // Every test that did not run is listed by name at the end (and for .ci/run's summary).
  reporters: ["default", "<rootDir>/__tests__/helpers/skip-reporter.js"],
  testMatch: ["<rootDir>/e2e/**/*.e2e.ts"],
  maxWorkers: 1,
  testTimeout: 600000,
};
