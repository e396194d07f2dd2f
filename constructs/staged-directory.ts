import * as fs from "fs";
import * as path from "path";
import { App } from "cdktf";
import { IConstruct } from "constructs";

/**
 * Writes generated files into a directory of the app's output named by their content
 * hash (<outdir>/.staging/<kind>/<hash>), for a TerraformAsset to pick up. The complete
 * directory is moved into place in one rename, so a reader never sees half of it; the
 * same content is staged once.
 */
export function stageFiles(scope: IConstruct, kind: string, contentHash: string, files: ReadonlyMap<string, string>): string {
  const root = path.resolve(App.of(scope).outdir, ".staging", kind);
  fs.mkdirSync(root, { recursive: true });
  const target = path.join(root, contentHash);
  if (fs.existsSync(target)) return target;
  const temp = fs.mkdtempSync(path.join(root, "tmp-"));
  for (const [file, text] of files) {
    fs.mkdirSync(path.dirname(path.join(temp, file)), { recursive: true });
    fs.writeFileSync(path.join(temp, file), text, { mode: file.endsWith(".sh") ? 0o755 : 0o644 });
  }
  try {
    fs.renameSync(temp, target);
  } catch (e) {
    // Another synth staged the same content first.
    fs.rmSync(temp, { recursive: true, force: true });
    if (!fs.existsSync(target)) throw e;
  }
  return target;
}
