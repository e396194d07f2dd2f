import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { ISynthesisSession, TerraformStack } from "cdktf";
import { Construct } from "constructs";

/** sha256 (hex) of files in the order given: each name and text, NUL-separated. */
export function contentHashOf(files: Iterable<readonly [string, string]>): string {
  const hash = crypto.createHash("sha256");
  for (const [file, text] of files) hash.update(file).update("\0").update(text).update("\0");
  return hash.digest("hex");
}

export interface GeneratedDirectoryProps {
  /** Relative path of each file -> its text. Files ending in .sh are written executable (0755), others 0644. */
  readonly files: ReadonlyMap<string, string>;
  /** Names the directory: a changed hash changes the path Terraform reads. */
  readonly assetHash: string;
}

/**
 * Generated files as a directory of the stack's assets, laid out as a cdktf `TerraformAsset`
 * of type DIRECTORY lays its copy out (`assets/<logical id>/<hash>/`, the older versions
 * removed), written once, straight from memory at synth: no staging directory written at
 * construction, copied at synth and removed at exit.
 */
export class GeneratedDirectory extends Construct {
  readonly files: ReadonlyMap<string, string>;
  readonly assetHash: string;
  private readonly stack: TerraformStack;

  constructor(scope: Construct, id: string, props: GeneratedDirectoryProps) {
    super(scope, id);
    this.files = props.files;
    this.assetHash = props.assetHash;
    this.stack = TerraformStack.of(this);
    writeAtSynth(this.stack, this);
  }

  private get namedFolder(): string {
    return path.posix.join("assets", this.stack.getLogicalId(this.node));
  }

  /** The directory, relative to the stack's directory (what Terraform reads). */
  get path(): string {
    return path.posix.join(this.namedFolder, this.assetHash);
  }

  /** Writes the files under the stack's directory `stackDir`, replacing any earlier version. */
  write(stackDir: string): void {
    fs.rmSync(path.join(stackDir, this.namedFolder), { recursive: true, force: true });
    const target = path.join(stackDir, this.path);
    // Each directory made once: on a busy disk a mkdir costs as much as writing a file.
    const made = new Set<string>();
    for (const dir of [target, ...[...this.files.keys()].map((file) => path.dirname(path.join(target, file)))]) {
      if (made.has(dir)) continue;
      fs.mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    for (const [file, text] of this.files) {
      fs.writeFileSync(path.join(target, file), text, { mode: file.endsWith(".sh") ? 0o755 : 0o644 });
    }
  }
}

const directoriesOf = new WeakMap<TerraformStack, GeneratedDirectory[]>();

/** Has the stack's synthesizer write the directory after the stack's own synthesis (which makes its directory). */
function writeAtSynth(stack: TerraformStack, directory: GeneratedDirectory): void {
  const known = directoriesOf.get(stack);
  if (known) {
    known.push(directory);
    return;
  }
  const directories = [directory];
  directoriesOf.set(stack, directories);
  const synthesizer = stack.synthesizer;
  stack.synthesizer = {
    synthesize(session: ISynthesisSession): void {
      synthesizer.synthesize(session);
      const stackDir = path.join(session.manifest.outdir, session.manifest.forStack(stack).workingDirectory);
      for (const d of directories) d.write(stackDir);
    },
  };
}
