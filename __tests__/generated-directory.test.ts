/**
 * GeneratedDirectory: generated files written straight into the stack's assets at synth, laid
 * out as a cdktf TerraformAsset directory (assets/<logical id>/<hash>/), older versions removed.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, TerraformStack } from "cdktf";
import { GeneratedDirectory } from "../constructs/generated-directory";

function synthOnce(outdir: string, files: ReadonlyMap<string, string>, hash: string): GeneratedDirectory {
  const app = new App({ outdir });
  const stack = new TerraformStack(app, "s");
  const dir = new GeneratedDirectory(stack, "files", { files, assetHash: hash });
  app.synth();
  return dir;
}

describe("GeneratedDirectory", () => {
  test("writes its files at synth under the asset path, scripts executable, and replaces the previous version", () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-generated-"));
    try {
      const first = synthOnce(outdir, new Map([["a/b.json", "{}\n"], ["run.sh", "#!/bin/sh\n"]]), "h1");
      expect(first.path).toBe("assets/files/h1");
      const stackDir = path.join(outdir, "stacks", "s");
      expect(fs.readFileSync(path.join(stackDir, first.path, "a/b.json"), "utf8")).toBe("{}\n");
      expect(fs.statSync(path.join(stackDir, first.path, "run.sh")).mode & 0o777).toBe(0o755);
      expect(fs.statSync(path.join(stackDir, first.path, "a/b.json")).mode & 0o777).toBe(0o644);
      expect(fs.existsSync(path.join(outdir, ".staging"))).toBe(false);

      const second = synthOnce(outdir, new Map([["c.txt", "x"]]), "h2");
      expect(fs.readdirSync(path.join(stackDir, "assets", "files"))).toEqual(["h2"]);
      expect(fs.readdirSync(path.join(stackDir, second.path))).toEqual(["c.txt"]);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});
