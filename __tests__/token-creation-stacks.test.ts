/**
 * cdktf's token creation stacks (cli/token-creation-stacks.ts): not recorded unless ELY_TOKEN_STACKS=1 asks.
 */
import * as path from "path";
import execa from "execa";
import { Lazy, Tokenization } from "cdktf";
import { TOKEN_STACKS_OFF, tokenStacksWanted } from "../cli/token-creation-stacks";

const root = path.join(__dirname, "..");

function creationStackOf(token: string): string[] {
  return Tokenization.reverseString(token).firstToken!.creationStack;
}

test("a token made after the module loads records no stack, and says how to get one", () => {
  expect(creationStackOf(Lazy.stringValue({ produce: () => "x" }))).toEqual(TOKEN_STACKS_OFF);
  expect(TOKEN_STACKS_OFF[0]).toMatch(/ELY_TOKEN_STACKS=1/);
});

test("only ELY_TOKEN_STACKS=1 asks for them", () => {
  expect(tokenStacksWanted({})).toBe(false);
  expect(tokenStacksWanted({ ELY_TOKEN_STACKS: "0" })).toBe(false);
  expect(tokenStacksWanted({ ELY_TOKEN_STACKS: "1" })).toBe(true);
});

test.each([
  ["unset", {}, false],
  ["ELY_TOKEN_STACKS=1", { ELY_TOKEN_STACKS: "1" }, true],
])("in a process of its own with %s, cdktf records stacks: %s", async (_name, env, recorded) => {
  const script = `require(${JSON.stringify(path.join(root, "dist", "cli", "token-creation-stacks.js"))});
    const { Lazy, Tokenization } = require("cdktf");
    const stack = Tokenization.reverseString(Lazy.stringValue({ produce: () => "x" })).firstToken.creationStack;
    console.log(JSON.stringify(stack));`;
  const { stdout } = await execa(process.execPath, ["-e", script], { cwd: root, env: { ...env }, extendEnv: false });
  const stack = JSON.parse(stdout) as string[];
  if (recorded) {
    expect(stack.length).toBeGreaterThan(1);
    expect(stack.join("\n")).toMatch(/\[eval\]|evalScript|node:internal/);
  } else {
    expect(stack).toEqual(TOKEN_STACKS_OFF);
  }
});
