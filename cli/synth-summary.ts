import * as fs from "fs";
import * as path from "path";
import { Inventory } from "../nodes";

interface Manifest {
  stacks: Record<string, { synthesizedStackPath: string }>;
}

/** A short account of a synth: stacks, nodes by role, resources by type. */
export function summarizeSynth(outdir: string, inventory: Inventory, elapsedMs: number): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(outdir, "manifest.json"), "utf8")) as Manifest;
  const lines: string[] = [`synthesized in ${elapsedMs} ms into ${outdir}`];
  for (const [name, stack] of Object.entries(manifest.stacks)) {
    const file = path.join(outdir, stack.synthesizedStackPath);
    const config = JSON.parse(fs.readFileSync(file, "utf8")) as { resource?: Record<string, Record<string, unknown>> };
    const byType = Object.entries(config.resource ?? {})
      .map(([type, resources]) => [type, Object.keys(resources).length] as const)
      .sort(([a], [b]) => a.localeCompare(b));
    const total = byType.reduce((sum, [, n]) => sum + n, 0);
    lines.push(`stack ${name}: ${path.relative(process.cwd(), file)}`);
    const roles = new Map<string, string[]>();
    for (const n of inventory.nodes) roles.set(n.role, [...(roles.get(n.role) ?? []), n.hostname]);
    lines.push(`  nodes: ${[...roles].map(([role, hosts]) => `${role} ${hosts.length} (${hosts.join(", ")})`).join("; ")}`);
    lines.push(`  resources: ${total}`);
    for (const [type, n] of byType) lines.push(`    ${type.padEnd(36)} ${n}`);
  }
  return lines.join("\n");
}
