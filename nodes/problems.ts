import { RuleId, RULES } from "./rules";

/**
 * A problem found in an inventory or in what is declared from it: one kind of check for every
 * rule (the inventory's, storage, image channels, the jobs and their placement, DNS, netboot,
 * the rollout). It names its rule (see rules.ts and docs/rules.md), its subject (the node or job,
 * the field; the file is the caller's) and says what was received and what was expected.
 */
export interface Problem {
  /** The rule's id, which docs/rules.md explains: "ELY-INV-005". */
  readonly rule: RuleId;
  readonly severity: "error" | "warning";
  /** The node (hostname) or job (name, with subjectKind "job") the problem is about, when there is one. */
  readonly subject?: string;
  /** What the subject names. Default: "node". */
  readonly subjectKind?: "node" | "job";
  /** The construct whose own props are wrong, for a problem outside the inventory: "boot service". */
  readonly component?: string;
  /** The field, as a path: "nodes[4].mac", "network.subnet". */
  readonly field?: string;
  /** What was received and what was expected. */
  readonly message: string;
}

/** Where a problem is: the field, and the node, job or construct it belongs to. */
export interface ProblemPlace {
  readonly field?: string;
  readonly node?: string;
  readonly job?: string;
  readonly component?: string;
}

/** A problem of a rule (its severity is the rule's). */
export function problem(rule: RuleId, place: ProblemPlace, message: string): Problem {
  const subject = place.job !== undefined ? { subject: place.job, subjectKind: "job" as const } : place.node !== undefined ? { subject: place.node } : {};
  return {
    rule,
    severity: RULES[rule].severity,
    ...subject,
    ...(place.component !== undefined ? { component: place.component } : {}),
    ...(place.field !== undefined ? { field: place.field } : {}),
    message,
  };
}

/** "error ELY-INV-005: mine.yaml, node w2, field nodes[5].hostname: received ..., expected ...". */
export function formatProblem(p: Problem, file?: string): string {
  const where = [file, p.component, p.subject !== undefined ? `${p.subjectKind ?? "node"} ${p.subject}` : undefined, p.field !== undefined ? `field ${p.field}` : undefined]
    .filter((part) => part !== undefined)
    .join(", ");
  return `${p.severity} ${p.rule}: ${where ? `${where}: ` : ""}${p.message}`;
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

/**
 * A string shape's message carries its rule: "ELY-STR-016|expected a MAC address ...". The
 * schema's issues are turned into problems of that rule (load.ts); shapeRuleOf splits them.
 */
export function ruleTagged(rule: RuleId, message: string): string {
  return `${rule}|${message}`;
}

/** The rule and the message of a tagged shape message; no rule when it carries none. */
export function shapeRuleOf(message: string): { rule?: RuleId; message: string } {
  const m = /^(ELY-[A-Z]+-\d{3})\|/.exec(message);
  if (m && m[1] in RULES) return { rule: m[1] as RuleId, message: message.slice(m[0].length) };
  return { message };
}
