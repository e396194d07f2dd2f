import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Testing } from "cdktf";

Testing.setupJest();

/** Every test app synthesizes under this file's own temporary directory, removed at the end. */
export const TEST_OUTDIR_ROOT = fs.mkdtempSync(path.join(os.tmpdir(), "ely-test-"));
afterAll(() => fs.rmSync(TEST_OUTDIR_ROOT, { recursive: true, force: true }));
