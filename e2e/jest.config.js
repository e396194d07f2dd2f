/** The end-to-end suite (`npm run test:e2e`): real Terraform, providers and agents. */
module.exports = require("./suite-config")({
  testMatch: ["<rootDir>/e2e/**/*.e2e.ts"],
  testTimeout: 600000,
});
