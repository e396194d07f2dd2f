/** The netboot end-to-end test (QEMU): `npx jest -c e2e/netboot/jest.config.js` after `npm run build`. */
module.exports = {
  rootDir: "../..",
  preset: "ts-jest",
  testEnvironment: "node",
  // Every test that did not run is listed by name at the end (and for .ci/run's summary).
  reporters: ["default", "<rootDir>/__tests__/helpers/skip-reporter.js"],
  testMatch: ["<rootDir>/e2e/netboot/**/*.e2e.test.ts"],
  testTimeout: 45 * 60 * 1000,
  maxWorkers: 1,
};
