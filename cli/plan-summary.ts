import { reimageOrder } from "../nodes/image-channels";

/**
 * Turns `terraform show -json <plan>` into Markdown grouped the way a reviewer thinks:
 * destroyed things first and loudly, then what changed in the cluster outside Terraform since
 * the last apply (`resource_drift`: a job scaled by hand, an ACL policy edited in a UI; a
 * `terraform plan -refresh-only` shows only that), then nodes that reimage (and which image input
 * changed), jobs that change (image, count, resources before and after), DNS and ACL
 * changes, and the rest. The text stays under a size limit however large the plan.
 */

export const DEFAULT_LIMIT_CHARS = 60_000;

type Action = "no-op" | "create" | "read" | "update" | "delete";

interface ResourceChange {
  address: string;
  type: string;
  name: string;
  change: { actions: Action[]; before: Record<string, unknown> | null; after: Record<string, unknown> | null };
}

export interface PlanJson {
  resource_changes?: ResourceChange[];
  /** What Terraform found changed outside it when it refreshed: before = the last apply, after = now. */
  resource_drift?: ResourceChange[];
}

/** What `terraform show -json <plan>` prints and other JSON does not: a format version and the planned values. */
const PLAN_EXPECTED = "the JSON of `terraform show -json <plan file>` (an object with format_version, planned_values and resource_changes)";

/**
 * Checks that a parsed JSON document is a plan as `terraform show -json <plan file>` prints it,
 * not a state (`terraform show -json` without a plan file), not another file: a reviewer must
 * never read "No changes." for something that is not a plan. Throws naming the source and the field.
 */
export function checkPlanJson(value: unknown, source: string): PlanJson {
  const refuse = (field: string, received: string) =>
    new Error(`${source}: not a Terraform plan: field ${field}: received ${received}, expected ${PLAN_EXPECTED}`);
  const describe = (v: unknown) => (v === undefined ? "nothing" : Array.isArray(v) ? "an array" : v === null ? "null" : typeof v === "object" ? "an object" : JSON.stringify(v));
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw refuse("(top level)", describe(value));
  const plan = value as Record<string, unknown>;
  if (typeof plan.format_version !== "string") throw refuse("format_version", describe(plan.format_version));
  if (typeof plan.planned_values !== "object" || plan.planned_values === null || Array.isArray(plan.planned_values)) {
    throw refuse("planned_values", describe(plan.planned_values) + ("values" in plan ? " (this looks like a state: run `terraform show -json` on the plan file)" : ""));
  }
  if (plan.errored === true) throw new Error(`${source}: field errored: received true: the plan failed part way, its list of changes is incomplete; fix the errors and plan again`);
  // Terraform leaves either list out when it is empty.
  for (const field of ["resource_changes", "resource_drift"] as const) {
    const list = plan[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw refuse(field, describe(list));
    list.forEach((c: unknown, i: number) => {
      const rc = c as { address?: unknown; type?: unknown; change?: { actions?: unknown } } | null;
      if (typeof rc?.address !== "string") throw refuse(`${field}[${i}].address`, describe(rc?.address));
      if (typeof rc.type !== "string") throw refuse(`${field}[${i}].type`, describe(rc.type));
      const actions = rc.change?.actions;
      if (!Array.isArray(actions) || !actions.every((a) => typeof a === "string")) throw refuse(`${field}[${i}].change.actions`, describe(actions));
    });
  }
  return plan as PlanJson;
}

interface JobFacts {
  images: string[];
  count: number[];
  cpu: number[];
  memory: number[];
}

function verb(actions: Action[]): string {
  if (actions.includes("delete") && actions.includes("create")) return "replace";
  if (actions.includes("delete")) return "destroy";
  if (actions.includes("create")) return "create";
  if (actions.includes("update")) return "update";
  return actions.join("+");
}

/** The jobspec Terraform holds (escaped `$${` already resolved), parsed. */
function jobFacts(state: Record<string, unknown> | null): { name: string; facts: JobFacts } | undefined {
  const spec = state?.jobspec;
  if (typeof spec !== "string") return undefined;
  try {
    const parsed = JSON.parse(spec) as { Job?: Record<string, unknown> };
    const job = (parsed.Job ?? parsed) as { ID?: string; TaskGroups?: { Count?: number; Tasks?: { Config?: { image?: string }; Resources?: { CPU?: number; MemoryMB?: number } }[] }[] };
    const groups = job.TaskGroups ?? [];
    const tasks = groups.flatMap((g) => g.Tasks ?? []);
    return {
      name: job.ID ?? "?",
      facts: {
        images: tasks.map((t) => t.Config?.image ?? "-"),
        count: groups.map((g) => g.Count ?? 1),
        cpu: tasks.map((t) => t.Resources?.CPU ?? 0),
        memory: tasks.map((t) => t.Resources?.MemoryMB ?? 0),
      },
    };
  } catch {
    return undefined;
  }
}

function beforeAfter(label: string, before: unknown[] | undefined, after: unknown[] | undefined): string | undefined {
  const b = before?.join(", ");
  const a = after?.join(", ");
  if (b === a) return undefined;
  return `${label} ${b ?? "-"} → ${a ?? "-"}`;
}

function triggerChanges(change: ResourceChange["change"]): string[] {
  const before = (change.before?.triggers ?? {}) as Record<string, string>;
  const after = (change.after?.triggers ?? {}) as Record<string, string>;
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]).sort();
}

/** Lists items, cutting the list short with a count when the budget is spent. */
function bounded(lines: string[], budgetChars: number): string[] {
  const out: string[] = [];
  let used = 0;
  for (const [i, line] of lines.entries()) {
    if (used + line.length + 1 > budgetChars) {
      out.push(`- … and ${lines.length - i} more`);
      break;
    }
    out.push(line);
    used += line.length + 1;
  }
  return out;
}

/** The nodes and jobs a plan changes (netboot entries and image builds name nodes; job specs name jobs). */
export interface ChangedParts {
  readonly nodes: readonly string[];
  readonly jobs: readonly string[];
}

export function changedParts(plan: PlanJson): ChangedParts {
  const changes = (plan.resource_changes ?? []).filter((c) => !c.change.actions.every((a) => a === "no-op" || a === "read"));
  const nodes = new Set<string>();
  const jobs = new Set<string>();
  for (const c of [...changes, ...(plan.resource_drift ?? [])]) {
    const triggers = (c.change.after?.triggers ?? c.change.before?.triggers ?? {}) as Record<string, unknown>;
    if (c.type === "null_resource" && typeof triggers.hostname === "string") nodes.add(triggers.hostname);
    if (c.type === "null_resource" && typeof triggers.worker === "string") nodes.add(triggers.worker);
    if (c.type === "null_resource" && typeof triggers.nodes === "string") for (const n of triggers.nodes.split(/[\s,]+/)) if (n) nodes.add(n);
    if (c.type === "nomad_job") {
      const name = jobFacts(c.change.after)?.name ?? jobFacts(c.change.before)?.name;
      if (name && name !== "?") jobs.add(name);
    }
  }
  return { nodes: [...nodes].sort(), jobs: [...jobs].sort() };
}

export interface SummaryOptions {
  /**
   * Draws the part of the cluster a plan changes (a Mermaid diagram, see cli/graph.ts), shown
   * under the changes when the plan changes a node or a job. Default: no picture.
   */
  readonly picture?: (parts: ChangedParts) => string;
}

export function summarizePlan(plan: PlanJson, limitChars = DEFAULT_LIMIT_CHARS, options: SummaryOptions = {}): string {
  const changes = (plan.resource_changes ?? []).filter((c) => !c.change.actions.every((a) => a === "no-op" || a === "read"));
  const destroyed = changes.filter((c) => c.change.actions.includes("delete"));
  const triggersOf = (c: ResourceChange) => (c.change.after?.triggers ?? c.change.before?.triggers ?? {}) as Record<string, string>;
  // Image builds carry their input hashes; node entries carry the build a node boots.
  const images = changes.filter((c) => c.type === "null_resource" && triggersOf(c).input_hash !== undefined);
  const nodeEntries = changes.filter((c) => c.type === "null_resource" && triggersOf(c).hostname !== undefined && triggersOf(c).build_id !== undefined);
  // Worker reimage steps carry the worker and the build it reboots onto.
  const reboots = changes.filter((c) => c.type === "null_resource" && c.change.after !== null && triggersOf(c).worker !== undefined && triggersOf(c).build_id !== undefined);
  const jobs = changes.filter((c) => c.type === "nomad_job");
  const dns = changes.filter((c) => c.type.startsWith("dns_") || c.type.startsWith("namecheap_"));
  const acl = changes.filter((c) => /_acl_/.test(c.type));
  const grouped = new Set([...images, ...nodeEntries, ...reboots, ...jobs, ...dns, ...acl]);
  const other = changes.filter((c) => !grouped.has(c));

  const drift = (plan.resource_drift ?? []).filter((c) => !c.change.actions.every((a) => a === "no-op" || a === "read"));
  const reverted = new Set(changes.map((c) => c.address));

  const counts = new Map<string, number>();
  for (const c of changes) counts.set(verb(c.change.actions), (counts.get(verb(c.change.actions)) ?? 0) + 1);
  const header = [
    `## Ely plan`,
    "",
    ...(drift.length > 0 ? [`${drift.length} resource${drift.length === 1 ? "" : "s"} changed outside Terraform since the last apply.`] : []),
    changes.length === 0 ? "No changes." : `${changes.length} change${changes.length === 1 ? "" : "s"}: ${[...counts].map(([v, n]) => `${n} to ${v}`).join(", ")}.`,
  ];

  const sections: { title: string; lines: string[] }[] = [];
  if (destroyed.length > 0) {
    sections.push({
      title: `> [!WARNING]\n> **${destroyed.length} resource${destroyed.length === 1 ? "" : "s"} will be DESTROYED** (deleted or replaced). Check that this is intended.`,
      lines: destroyed.map((c) => `- **${verb(c.change.actions)}** \`${c.address}\``),
    });
  }
  if (drift.length > 0) {
    sections.push({
      title: "### Changed outside Terraform since the last apply\n\nWhat the cluster holds now against what the last apply left, and whether this plan changes it back.",
      lines: drift.map((c) => `${describeDrift(c)} — ${reverted.has(c.address) ? "this plan changes it back" : "**this plan leaves it so** (nothing planned for it)"}`),
    });
  }
  if (images.length > 0 || nodeEntries.length > 0) {
    sections.push({
      title: "### Nodes that will reimage",
      lines: [
        ...nodeEntries.map((c) => {
          const before = (c.change.before?.triggers ?? {}) as Record<string, string>;
          const after = (c.change.after?.triggers ?? {}) as Record<string, string>;
          const t = triggersOf(c);
          const build = before.build_id && after.build_id ? `${before.build_id} → ${after.build_id}` : (after.build_id ?? before.build_id);
          return `- **${t.hostname}** (${verb(c.change.actions)}): ${t.image} build ${build}${t.channel ? ` (channel ${t.channel})` : ""}`;
        }),
        ...images.map((c) => {
          const t = triggersOf(c);
          const why = triggerChanges(c.change)
            .filter((k) => k.startsWith("input_") && k !== "input_hash")
            .map((k) => k.slice("input_".length));
          const nodes = t.nodes ? ` — nodes: ${t.nodes}` : "";
          return `- image \`${t.image ?? c.address}\` rebuilt (${verb(c.change.actions)})${nodes}${why.length > 0 ? ` — changed: ${why.join(", ")}` : ""}`;
        }),
      ],
    });
  }
  if (reboots.length > 0) {
    const order = reimageOrder(reboots.map((c) => ({ hostname: triggersOf(c).worker, channel: triggersOf(c).channel ?? "", c })));
    sections.push({
      title:
        "### Workers that will reboot, in this order\n\nEach is drained in Nomad, rebooted onto its new build and waited for (ready, eligible) before the next; the canary channel first.",
      lines: order.map(({ hostname, channel, c }, i) => {
        const before = (c.change.before?.triggers ?? {}) as Record<string, string>;
        const t = triggersOf(c);
        return `${i + 1}. **${hostname}**${channel ? ` (channel ${channel})` : ""}: ${t.image ?? "image"} build ${before.build_id && before.build_id !== t.build_id ? `${before.build_id} → ` : ""}${t.build_id}`;
      }),
    });
  }
  if (jobs.length > 0) {
    sections.push({
      title: "### Jobs",
      lines: jobs.map((c) => {
        const before = jobFacts(c.change.before);
        const after = jobFacts(c.change.after);
        const name = after?.name ?? before?.name ?? c.address;
        const details = [
          beforeAfter("image", before?.facts.images, after?.facts.images),
          beforeAfter("count", before?.facts.count, after?.facts.count),
          beforeAfter("cpu MHz", before?.facts.cpu, after?.facts.cpu),
          beforeAfter("memory MB", before?.facts.memory, after?.facts.memory),
        ].filter((d): d is string => d !== undefined);
        return `- **${name}** (${verb(c.change.actions)})${details.length > 0 ? ": " + details.join("; ") : ""}`;
      }),
    });
  }
  for (const [title, list] of [["### DNS", dns], ["### ACLs", acl], ["### Other", other]] as const) {
    if (list.length > 0) sections.push({ title, lines: list.map((c) => `- ${verb(c.change.actions)} \`${c.address}\``) });
  }
  const parts = changedParts(plan);
  // A picture is one block: it is shown whole or not at all (a cut diagram does not render).
  const picture = options.picture && (parts.nodes.length > 0 || parts.jobs.length > 0) ? options.picture(parts) : undefined;

  // Share the budget between sections, keeping room for titles and cut-off lines.
  const fixed = header.join("\n").length + sections.reduce((n, s) => n + s.title.length + 4, 0) + sections.length * 40;
  const perSection = Math.max(200, Math.floor((limitChars - fixed) / Math.max(1, sections.length)));
  const body = sections.map((s) => [s.title, "", ...bounded(s.lines, perSection)].join("\n"));
  const text = [...header, "", ...body.flatMap((b) => [b, ""])].join("\n").trimEnd() + "\n";
  if (!picture) return text;
  const withPicture = `${text}\n### The part of the cluster this plan changes\n\n${picture}`;
  return withPicture.length <= limitChars ? withPicture : `${text}\n(The picture of the changed part of the cluster is left out: it would pass the size limit.)\n`;
}

/** Top-level attributes whose values differ, sorted. */
function changedAttributes(before: Record<string, unknown> | null, after: Record<string, unknown> | null): string[] {
  const b = before ?? {};
  const a = after ?? {};
  return [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k])).sort();
}

/** The counts of a nomad_job's task groups as the provider holds them in state. */
function stateGroupCounts(state: Record<string, unknown> | null): number[] | undefined {
  const groups = state?.task_groups;
  return Array.isArray(groups) ? groups.map((g) => (g as { count?: number }).count ?? 1) : undefined;
}

/** One line per drifted resource, in the cluster's terms. */
export function describeDrift(c: ResourceChange): string {
  const { before, after, actions } = c.change;
  const text = (state: Record<string, unknown> | null, key: string) => (typeof state?.[key] === "string" ? (state[key] as string) : undefined);
  const changed = changedAttributes(before, after);
  if (actions.includes("delete")) {
    const name = text(before, "name") ?? text(before, "description") ?? c.address;
    return `- ${kindOf(c.type)} **${name}**: deleted outside Terraform (the plan creates it again)`;
  }
  switch (c.type) {
    case "nomad_job": {
      const name = jobFacts(before)?.name ?? text(before, "name") ?? text(after, "name") ?? c.address;
      const details = [beforeAfter("count", stateGroupCounts(before), stateGroupCounts(after))].filter((d): d is string => d !== undefined);
      if (details.length > 0) return `- job **${name}**: ${details.join("; ")} (scaled by hand?)`;
      return `- job **${name}**: changed in Nomad (${changed.join(", ")})`;
    }
    case "consul_acl_policy":
    case "nomad_acl_policy": {
      const name = text(after, "name") ?? text(before, "name") ?? c.address;
      const what = changed.map((k) => (k === "rules" || k === "rules_hcl" ? "rules edited" : `${k} edited`));
      return `- ${kindOf(c.type)} **${name}**: ${what.join(", ")}`;
    }
    case "consul_acl_token":
    case "nomad_acl_token": {
      const name = text(after, "description") ?? text(after, "name") ?? c.address;
      const policies = beforeAfter("policies", before?.policies as string[] | undefined, after?.policies as string[] | undefined);
      return `- ${kindOf(c.type)} **${name}**: ${policies ?? changed.map((k) => `${k} edited`).join(", ")}`;
    }
    default:
      return `- \`${c.address}\`: changed outside Terraform (${changed.join(", ") || actions.join("+")})`;
  }
}

const KINDS: Record<string, string> = {
  nomad_job: "job",
  consul_acl_policy: "Consul ACL policy",
  nomad_acl_policy: "Nomad ACL policy",
  consul_acl_token: "Consul ACL token",
  nomad_acl_token: "Nomad ACL token",
};

function kindOf(type: string): string {
  return KINDS[type] ?? type;
}
