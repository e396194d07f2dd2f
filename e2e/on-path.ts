import * as fs from "fs";
import * as path from "path";

/** The path of `binary` on PATH; a clear error, naming the suite's npm script, when it is not there. */
export function onPath(binary: string, script: string): string {
  const found = (process.env.PATH ?? "").split(":").map((d) => path.join(d, binary)).find((f) => fs.existsSync(f));
  if (!found) throw new Error(`${binary} is not on PATH: run this suite through \`npm run ${script}\`, which builds it (e2e/tools/build-tools.sh)`);
  return found;
}
