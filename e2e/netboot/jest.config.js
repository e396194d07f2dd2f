/** The netboot end-to-end test (QEMU): `npx jest -c e2e/netboot/jest.config.js` after `npm run build`. */
module.exports = require("../suite-config")({
  testMatch: ["<rootDir>/e2e/netboot/**/*.e2e.test.ts"],
  testTimeout: 45 * 60 * 1000,
});
