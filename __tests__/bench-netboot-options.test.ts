/**
 * bench:netboot refuses options it cannot measure, saying what it received and what it expects, before
 * any build or boot (dist/ is built by the tests' global setup).
 */
import { spawnSync } from "child_process";
import * as path from "path";

const bench = path.join(__dirname, "..", "dist", "bench", "netboot.js");

function refusal(...args: string[]): { status: number | null; message: string | undefined } {
  const r = spawnSync(process.execPath, [bench, ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, message: /failed: Error: (.*)/.exec(r.stderr)?.[1] };
}

test.each([
  [["--network", "wifi"], '--network: received "wifi", expected user or bridge'],
  [["--router-advertisement", "sometimes"], '--router-advertisement: received "sometimes", expected on, off or both'],
  [["--profile", "huge"], '--profile: received "huge", expected one of full, test'],
  [["--boots", "-1"], "--boots must be >= 0 and --xz-runs >= 1"],
  [["--xz-levels", "6,x"], '--xz-levels: received "x", expected presets 0-9, optionally with e'],
])("bench:netboot %j is refused: %s", (args, message) => {
  expect(refusal(...args)).toEqual({ status: 1, message });
});

test("every problem of the options is reported at once", () => {
  expect(refusal("--network", "wifi", "--profile", "huge", "--router-advertisement", "x").message).toBe(
    '--profile: received "huge", expected one of full, test; --network: received "wifi", expected user or bridge; --router-advertisement: received "x", expected on, off or both',
  );
});
