/** The end-to-end suite (`npm run test:e2e`): real Terraform, providers and agents. */
module.exports = {
  rootDir: "..",
  preset: "ts-jest",
  testEnvironment: "node",
  testMatch: ["<rootDir>/e2e/**/*.e2e.ts"],
  maxWorkers: 1,
  testTimeout: 600000,
};
