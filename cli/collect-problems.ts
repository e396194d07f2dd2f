import { IConstruct } from "constructs";
import { formatProblem } from "../nodes";
import { problemsIn } from "../constructs/checks";

export interface CollectedProblems {
  /** Every error, formatted as formatProblem does (with its rule id); other validations' as `[path] message`. */
  readonly errors: string[];
  /** Every warning, formatted the same way, each once. */
  readonly warnings: string[];
}

/**
 * Runs every construct's checks (as synth does) without writing anything, and formats what they
 * find: the one list `ely validate`, `ely synth` and the cdktf app (main.ts) print.
 */
export function collectProblems(root: IConstruct): CollectedProblems {
  const { problems, otherErrors } = problemsIn(root);
  const formatted = (severity: "error" | "warning") => problems.filter(({ problem }) => problem.severity === severity).map(({ problem, file }) => formatProblem(problem, file));
  return { errors: [...formatted("error"), ...otherErrors], warnings: formatted("warning") };
}
