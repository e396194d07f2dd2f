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

/** Longest value quoted whole in a message; longer ones are cut, saying how long they were. */
const SHOWN_MAX_CHARS = 80;

/** JSON.stringify for messages: strings quoted, everything else as JSON, long values cut. */
export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "object" && value !== null) {
    const json = JSON.stringify(value);
    if (json.length <= SHOWN_MAX_CHARS) return json;
    return Array.isArray(value) ? `a list of ${value.length} item(s)` : `an object with keys ${Object.keys(value).slice(0, 8).join(", ")}${Object.keys(value).length > 8 ? ", ..." : ""}`;
  }
  const json = JSON.stringify(value);
  return json.length <= SHOWN_MAX_CHARS ? json : `${json.slice(0, SHOWN_MAX_CHARS - 10)}..." (${String(value).length} characters)`;
}
