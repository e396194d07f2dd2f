import { ElyStack } from "../../constructs";
import { Inventory } from "../../nodes";
import { inventoryWith } from "./inventory";
import { stackOf, synthOf } from "./synth";

export interface DeclaredVariable {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
  readonly default?: unknown;
}

/** The Terraform variables of a synthesized stack, as cdk.tf.json declares them. */
export function variablesOf(stack: ElyStack): DeclaredVariable[] {
  const json = JSON.parse(synthOf(stack)) as { variable?: Record<string, { type: string; default?: unknown }> };
  return Object.entries(json.variable ?? {}).map(([name, v]) => ({ name, type: v.type, required: !("default" in v), default: v.default }));
}

/**
 * Every variable the stacks can declare: the default cluster's, and the other DNS backend's.
 * (Each variable is declared by the default cluster or by rfc2136 DNS.)
 */
export function allDeclaredVariables(): DeclaredVariable[] {
  const rfc2136: Inventory = inventoryWith((i) => {
    i.dns = { provider: "rfc2136", server: "10.25.89.53", keyName: "ely", ingressName: i.dns.ingressName, zones: i.dns.zones };
  });
  const byName = new Map<string, DeclaredVariable>();
  for (const v of [...variablesOf(stackOf()), ...variablesOf(stackOf(rfc2136))]) byName.set(v.name, v);
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}
