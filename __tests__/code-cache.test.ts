/**
 * What `cdktf.json` runs (dist/app.js) runs the app's bundle through V8's code cache (cli/code-cache.ts):
 * the same program as the bundle run directly, a cache made once and used after, never a stale one.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";

const root = path.join(__dirname, "..");
const codeCache = path.join(root, "dist", "cli", "code-cache.js");
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-code-cache-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A small CommonJS program: it requires a file beside it, reports its own module facts, and exits with `code`. */
function writeBundle(marker: string, code = 0): string {
  fs.writeFileSync(path.join(dir, "beside.js"), "module.exports = 'beside';\n");
  const bundle = path.join(dir, "bundle.js");
  fs.writeFileSync(
    bundle,
    `const beside = require("./beside");\n` +
      `console.log(JSON.stringify({ marker: ${JSON.stringify(marker)}, beside, filename: __filename, dirname: __dirname, exportsIsThis: this === module.exports }));\n` +
      `process.exitCode = ${code};\n`,
  );
  return bundle;
}

async function launch(bundle: string) {
  const cache = path.join(dir, "bundle.code-cache");
  const script = `const use = require(${JSON.stringify(codeCache)}).runWithCodeCache(${JSON.stringify(bundle)}, ${JSON.stringify(cache)}); console.error("use=" + use);`;
  const r = await execa(process.execPath, ["-e", script], { reject: false });
  return { exitCode: r.exitCode, out: r.stdout, use: /use=(\w+)/.exec(r.stderr)?.[1], cacheExists: fs.existsSync(cache), cache };
}

test("the program runs as `node bundle` would: its own require, __filename, __dirname and exports", async () => {
  const bundle = writeBundle("one");
  const r = await launch(bundle);
  expect(r.exitCode).toBe(0);
  expect(JSON.parse(r.out)).toEqual({ marker: "one", beside: "beside", filename: bundle, dirname: dir, exportsIsThis: true });
});

test("the first run makes the cache, the next runs use it and print the same", async () => {
  const bundle = writeBundle("one");
  const first = await launch(bundle);
  expect(first).toMatchObject({ use: "missing", cacheExists: true });
  const second = await launch(bundle);
  expect(second).toMatchObject({ use: "used", out: first.out });
  expect(fs.readFileSync(second.cache).subarray(0, 40).toString()).toMatch(/^[0-9a-f]{40}$/);
});

test("a changed bundle of the same length does not use the old cache, and gets a new one", async () => {
  const bundle = writeBundle("one");
  await launch(bundle);
  const old = fs.readFileSync(path.join(dir, "bundle.code-cache"));
  writeBundle("two"); // same length, other content: V8 itself would not notice
  const r = await launch(bundle);
  expect(r.use).toBe("stale");
  expect(JSON.parse(r.out).marker).toBe("two");
  expect(fs.readFileSync(r.cache).equals(old)).toBe(false);
  expect((await launch(bundle)).use).toBe("used");
});

test("cached data V8 refuses is not used; the program still runs and the cache is made again", async () => {
  const bundle = writeBundle("one");
  await launch(bundle);
  const cache = path.join(dir, "bundle.code-cache");
  const header = fs.readFileSync(cache).subarray(0, 41);
  fs.writeFileSync(cache, Buffer.concat([header, Buffer.from("not V8's cached data at all, but long enough to be read")]));
  const r = await launch(bundle);
  expect(r).toMatchObject({ use: "rejected", exitCode: 0 });
  expect(JSON.parse(r.out).marker).toBe("one");
  expect((await launch(bundle)).use).toBe("used");
});

test("a run that fails writes no cache", async () => {
  const r = await launch(writeBundle("one", 1));
  expect(r).toMatchObject({ exitCode: 1, use: "missing", cacheExists: false });
});

test("dist/app.js synthesizes exactly what the app's bundle does when run directly", async () => {
  const viaLauncher = path.join(dir, "launcher");
  const direct = path.join(dir, "direct");
  const env = { CHECKPOINT_DISABLE: "1" };
  for (const [outdir, file] of [[viaLauncher, "app.js"], [direct, "app-bundle.js"]]) {
    await execa(process.execPath, [path.join(root, "dist", file)], { env: { ...env, CDKTF_OUTDIR: outdir } });
  }
  const files = (d: string) => (fs.readdirSync(d, { recursive: true }) as string[]).sort();
  expect(files(viaLauncher)).toEqual(files(direct));
  expect(files(direct)).toContain(path.join("stacks", "ely", "cdk.tf.json"));
  for (const f of files(direct).filter((f) => fs.statSync(path.join(direct, f)).isFile())) {
    expect(fs.readFileSync(path.join(viaLauncher, f)).equals(fs.readFileSync(path.join(direct, f)))).toBe(true);
  }
});
