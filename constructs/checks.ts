/**
 * Constructs check their props the one way the inventory is checked: each check returns
 * `Problem`s of a rule (nodes/rules.ts). `addChecks` registers them as the construct's validation
 * (synth fails on an error, printing it as `ely validate` does) and `problemsIn` gathers every
 * construct's problems, warnings included, for the app to print once: the same list on every path.
 */
import { IConstruct } from "constructs";
import { errorsOf, formatProblem, Problem } from "../nodes/problems";

const CHECKS = Symbol.for("ely.checks");

interface Check {
  readonly run: () => readonly Problem[];
  readonly file?: string;
}

interface Checked {
  [CHECKS]?: Check[];
}

/**
 * Registers a check of `scope`; it runs once (when validated or gathered), its result kept.
 * `file` is named in the messages of problems found in a file (the inventory's).
 */
export function addChecks(scope: IConstruct, check: () => readonly Problem[], file?: string): void {
  let found: readonly Problem[] | undefined;
  const once = () => (found ??= check());
  const checked = scope as Checked;
  (checked[CHECKS] ??= []).push({ run: once, file });
  scope.node.addValidation({ validate: () => errorsOf(once()).map((p) => formatProblem(p, file)) });
}

/** The problems every check under `root` finds, each with the file it names; and other validations' errors, as `[path] message`. */
export function problemsIn(root: IConstruct): { problems: { problem: Problem; file?: string }[]; otherErrors: string[] } {
  const problems: { problem: Problem; file?: string }[] = [];
  const otherErrors: string[] = [];
  for (const c of root.node.findAll()) {
    const ours = new Set<string>();
    for (const { run, file } of (c as Checked)[CHECKS] ?? []) {
      for (const p of run()) {
        problems.push({ problem: p, file });
        ours.add(formatProblem(p, file));
      }
    }
    for (const message of c.node.validate()) if (!ours.has(message)) otherErrors.push(`[${c.node.path}] ${message}`);
  }
  return { problems, otherErrors };
}
