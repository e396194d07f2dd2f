/** A problem found in an inventory or in what is declared from it. */
export interface Problem {
  readonly severity: "error" | "warning";
  /** The node (hostname) or job the problem is about, when there is one. */
  readonly subject?: string;
  /** The field, as a path: "nodes[4].mac", "network.subnet". */
  readonly field: string;
  /** What was received and what was expected. */
  readonly message: string;
}

export function formatProblem(problem: Problem, file?: string): string {
  const where = [file, problem.subject ? `node ${problem.subject}` : undefined, `field ${problem.field}`]
    .filter((part) => part !== undefined)
    .join(", ");
  return `${problem.severity}: ${where}: ${problem.message}`;
}

export function errorsOf(problems: readonly Problem[]): Problem[] {
  return problems.filter((p) => p.severity === "error");
}

export function warningsOf(problems: readonly Problem[]): Problem[] {
  return problems.filter((p) => p.severity === "warning");
}

/** JSON.stringify for messages: strings quoted, everything else as JSON. */
export function shown(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}
