import { DEFAULT_INVENTORY, Inventory, parseInventory } from "../../nodes";

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The inventory input loosely typed, so that a test can break it in any way. */
export type LooseInput = Record<string, any> & { nodes: Record<string, any>[] };

/** A deep copy of the default inventory input, for a test to break. */
export function defaultInput(): LooseInput {
  return JSON.parse(JSON.stringify(DEFAULT_INVENTORY));
}

export function defaultInventory(): Inventory {
  return parseInventory(defaultInput(), "test");
}

/** The default inventory with a change applied to the input before parsing. */
export function inventoryWith(change: (input: ReturnType<typeof defaultInput>) => void): Inventory {
  const input = defaultInput();
  change(input);
  return parseInventory(input, "test");
}
