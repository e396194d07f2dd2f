/**
 * Before a worker reimage drains anything: can the clients that stay up hold the allocations of
 * the workers about to go down? The same question the plan asks of the inventory's hardware
 * (constructs/services/service-placement.ts: every job fits the clients' capacity), asked here of
 * what Nomad runs now: each running allocation of a service or batch job on a draining worker must
 * find room (CPU and memory) on a ready, eligible client that is not going down, placed largest
 * first. System jobs are left out: they run on every client, and Nomad's drain stops them last.
 * Constraints other than CPU and memory (host volumes, drivers, node classes) are the plan's
 * placement checks' concern; Nomad reports an allocation it cannot place as it always does.
 */

/** An allocation as the check needs it. */
export interface AllocationLoad {
  /** "web.web[1]" */
  readonly name: string;
  readonly jobType: string;
  readonly cpuMhz: number;
  readonly memoryMb: number;
}

/** A client as the check needs it: what it can still take. */
export interface ClientRoom {
  readonly name: string;
  readonly freeCpuMhz: number;
  readonly freeMemoryMb: number;
}

/** Job types whose allocations move when a client drains (system jobs run everywhere and are not moved). */
export const MOVED_JOB_TYPES: readonly string[] = ["service", "batch"];

export interface CapacityVerdict {
  readonly fits: boolean;
  /** The allocations that must move. */
  readonly moved: readonly AllocationLoad[];
  /** Those that find no room, when it does not fit. */
  readonly homeless: readonly AllocationLoad[];
  /** One line for the operator. */
  readonly summary: string;
}

const describeRoom = (rooms: readonly ClientRoom[]) =>
  rooms.length === 0 ? "no other client is ready and eligible" : `free: ${rooms.map((r) => `${r.name} ${r.freeCpuMhz} MHz/${r.freeMemoryMb} MB`).join(", ")}`;

/** First fit, largest memory first (then CPU): a placement exists when this finds one, for the sizes of a home lab. */
export function capacityVerdict(draining: readonly string[], allocations: readonly AllocationLoad[], rooms: readonly ClientRoom[]): CapacityVerdict {
  const moved = allocations.filter((a) => MOVED_JOB_TYPES.includes(a.jobType));
  const free = rooms.map((r) => ({ ...r }));
  const homeless: AllocationLoad[] = [];
  for (const a of [...moved].sort((x, y) => y.memoryMb - x.memoryMb || y.cpuMhz - x.cpuMhz || x.name.localeCompare(y.name))) {
    const room = free.find((r) => r.freeCpuMhz >= a.cpuMhz && r.freeMemoryMb >= a.memoryMb);
    if (!room) {
      homeless.push(a);
      continue;
    }
    room.freeCpuMhz -= a.cpuMhz;
    room.freeMemoryMb -= a.memoryMb;
  }
  const what = `${draining.join(", ")} run${draining.length === 1 ? "s" : ""} ${moved.length} allocation${moved.length === 1 ? "" : "s"} to move`;
  if (homeless.length === 0) return { fits: true, moved, homeless, summary: `${what}; the other clients hold them (${describeRoom(rooms)})` };
  return {
    fits: false,
    moved,
    homeless,
    summary:
      `${what}, and the clients that stay up cannot hold ${homeless.map((a) => `${a.name} (${a.cpuMhz} MHz, ${a.memoryMb} MB)`).join(", ")} ` +
      `(${describeRoom(rooms)})`,
  };
}
