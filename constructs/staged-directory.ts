import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { App } from "cdktf";
import { IConstruct } from "constructs";

/** sha256 (hex) of files in the order given: each name and text, NUL-separated. */
export function contentHashOf(files: Iterable<readonly [string, string]>): string {
  const hash = crypto.createHash("sha256");
  for (const [file, text] of files) hash.update(file).update("\0").update(text).update("\0");
  return hash.digest("hex");
}

/**
 * Writes generated files into a directory of the app's output named by their content
 * hash (<outdir>/.staging/<kind>/<hash>), for a TerraformAsset to pick up. The complete
 * directory is moved into place in one rename, so a reader never sees half of it; the
 * same content is staged once.
 *
 * A staged directory is only needed until synth has copied it into the stack's assets, and
 * it is written when the construct is built, before validation: so that neither a synth
 * refused for a bad inventory nor a successful one leaves them piling up in .staging, every
 * directory this process staged is removed when the process exits.
 */
export function stageFiles(scope: IConstruct, kind: string, contentHash: string, files: ReadonlyMap<string, string>): string {
  const root = path.resolve(App.of(scope).outdir, ".staging", kind);
  fs.mkdirSync(root, { recursive: true });
  const target = path.join(root, contentHash);
  removeAtExit(target);
  if (fs.existsSync(target)) return target;
  const temp = fs.mkdtempSync(path.join(root, "tmp-"));
  try {
    for (const [file, text] of files) {
      fs.mkdirSync(path.dirname(path.join(temp, file)), { recursive: true });
      fs.writeFileSync(path.join(temp, file), text, { mode: file.endsWith(".sh") ? 0o755 : 0o644 });
    }
    fs.renameSync(temp, target);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    // Another synth staged the same content first.
    if (!fs.existsSync(target)) throw e;
  }
  return target;
}

const staged = new Set<string>();

function removeAtExit(dir: string): void {
  if (staged.size === 0) process.once("exit", removeStaged);
  staged.add(dir);
}

/** Removes the staged directories, then <kind>/ and .staging/ when nothing else is left in them. */
function removeStaged(): void {
  for (const dir of staged) {
    fs.rmSync(dir, { recursive: true, force: true });
    for (const parent of [path.dirname(dir), path.dirname(path.dirname(dir))]) {
      try {
        fs.rmdirSync(parent);
      } catch {
        break; // not empty (another kind, or another process's), or gone already
      }
    }
  }
  staged.clear();
}
