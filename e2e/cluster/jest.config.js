/**
 * The cluster-in-a-box suite (`npm run test:cluster`): one apply of the whole stack against three
 * systemd-nspawn servers, this machine as the util node and a QEMU worker netbooted with the real
 * client image. Needs root, QEMU, systemd-container, mmdebstrap, nginx, dnsmasq, radvd, the agents and
 * the Terraform providers of e2e/tools/build-tools.sh.
 */
module.exports = require("../suite-config")({
  testMatch: ["<rootDir>/e2e/cluster/**/*.cluster-e2e.ts"],
  globalSetup: "<rootDir>/e2e/ssh-hosts/global-setup.js",
  testTimeout: 3600000,
});
