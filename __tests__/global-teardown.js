// Removes the run's temporary directory (see global-setup.js).
const fs = require("fs");

module.exports = () => {
  const root = process.env.ELY_JEST_TMP_ROOT;
  if (root) fs.rmSync(root, { recursive: true, force: true });
};
