import * as fs from "fs";
import * as path from "path";

/**
 * The path of `binary` on PATH; a clear error when it is not there, saying how to get it: by default, the suite's
 * npm script `script`, which builds it.
 */
export function onPath(binary: string, script: string, howToGetIt = `run this suite through \`npm run ${script}\`, which builds it (e2e/tools/build-tools.sh)`): string {
  const found = (process.env.PATH ?? "").split(":").map((d) => path.join(d, binary)).find((f) => fs.existsSync(f));
  if (!found) throw new Error(`${binary} is not on PATH: ${howToGetIt}`);
  return found;
}
