import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Testing } from "cdktf";

Testing.setupJest();

/** Every test app synthesizes under this file's own temporary directory, removed at the end. */
export const TEST_OUTDIR_ROOT = fs.mkdtempSync(path.join(os.tmpdir(), "ely-test-"));
afterAll(() => fs.rmSync(TEST_OUTDIR_ROOT, { recursive: true, force: true }));

// Synth hashes the agent binaries it finds (image and rollout triggers): point it at an empty
// directory so that synthesized output does not depend on what this machine has built.
if (!process.env.ELY_AGENT_BIN_DIR) {
  process.env.ELY_AGENT_BIN_DIR = path.join(TEST_OUTDIR_ROOT, "no-agents");
  fs.mkdirSync(process.env.ELY_AGENT_BIN_DIR);
}
