/** The image build as an unprivileged user, against a root build: `npm run test:image-build` (as root, ELY_BUILD_USER set). */
module.exports = require("../suite-config")({
  testMatch: ["<rootDir>/e2e/images/**/*.e2e.test.ts"],
  testTimeout: 30 * 60 * 1000,
});
