import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * `node <project>/dist/images/<script>` as a command for Terraform's local-exec, with no path
 * of this machine in it: the project is $ELY_PROJECT_DIR, else the git checkout that holds
 * Terraform's working directory (cdktf.out/stacks/<stack>). No "${": Terraform would read it.
 */
export function projectProgram(script: string, folder = "images"): string {
  return `node "$(if [ -n "$ELY_PROJECT_DIR" ]; then echo "$ELY_PROJECT_DIR"; else git rev-parse --show-toplevel; fi)/dist/${folder}/${script}"`;
}

/** The checkout holding package.json, found from this file (constructs/ or dist/constructs/). */
export function projectRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return os.homedir();
    dir = parent;
  }
}
