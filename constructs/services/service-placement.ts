/**
 * Synth-time placement checks across all services, against the inventory's clients:
 * capacity with headroom (per job and in total), static port collisions on shared nodes,
 * duplicate exposed hosts, host volumes no client provides, drivers no client offers, a stateful
 * job's volume that would not survive a reboot.
 * Every check indexes by value (port, host, node), so the cost is linear in jobs x clients.
 */
import { bootModeOf, capacityOf, clientsOf, hardwareMeta, Inventory, InventoryNode, isUnder, nfsExportsOf, nodeClassOf, PERSISTENT_BACKINGS, VolumeBacking, volumeBackingOf } from "../../nodes";
import { NomadService } from "./nomad-service";
import { PlacementConstraint } from "../../jobs/service-props";
import { problem, Problem } from "../../nodes/problems";

/** Value of a Nomad interpolation target on a node, or undefined when the inventory does not know it. */
function attributeOf(node: InventoryNode, inventory: Inventory, attribute: string): string | undefined {
  const meta = /^\$\{meta\.(.+)\}$/.exec(attribute);
  if (meta) return { ...hardwareMeta(node), ...node.meta }[meta[1]];
  switch (attribute) {
    case "${attr.cpu.arch}":
      return node.arch;
    case "${attr.kernel.name}":
      return "linux";
    case "${node.class}":
      return nodeClassOf(node);
    case "${node.unique.name}":
      return node.hostname;
    case "${node.datacenter}":
      return inventory.datacenter;
    default:
      return undefined;
  }
}

function satisfies(node: InventoryNode, inventory: Inventory, c: PlacementConstraint): boolean {
  const value = attributeOf(node, inventory, c.attribute);
  if (value === undefined) return true; // Unknown here: Nomad decides.
  switch (c.operator ?? "=") {
    case "=":
      return value === c.value;
    case "!=":
      return value !== c.value;
    case "regexp":
      return new RegExp(c.value ?? "").test(value);
    default:
      return true;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const LOST_AT_REBOOT: Partial<Record<VolumeBacking, string>> = {
  ram: "RAM, lost at every reboot",
  scratch: "the scratch disk, reformatted at every boot",
};

/** A stateful job's host volumes must be on storage that survives a reboot on every client that may run it. */
function statefulVolumeProblems(inventory: Inventory, job: string, hostVolumes: ReadonlyArray<readonly [number, string]>, eligible: readonly InventoryNode[]): Problem[] {
  const problems: Problem[] = [];
  for (const [i, source] of hostVolumes) {
    for (const node of eligible) {
      const volume = node.hostVolumes.find((v) => v.name === source);
      if (!volume) continue;
      const backing = volumeBackingOf(inventory, node, volume);
      if (PERSISTENT_BACKINGS.includes(backing)) continue;
      problems.push(
        problem(
          "ELY-PLC-005",
          { job, field: `volumes[${i}].source` },
          `received host volume ${JSON.stringify(source)} on node ${node.hostname} (${volume.path}) is on ${LOST_AT_REBOOT[backing]}, ` +
            `expected ${PERSISTENT_BACKINGS.map((b) => JSON.stringify(b)).join(" or ")} storage: job ${job} is stateful and its data must survive a reboot`,
        ),
      );
    }
  }
  return problems;
}

export function checkPlacement(inventory: Inventory, services: readonly NomadService[]): Problem[] {
  const errors: Problem[] = [];
  const clients = clientsOf(inventory);
  const headroom = inventory.scheduler.headroomPercent / 100;
  const usable = new Map(clients.map((n) => {
    const c = capacityOf(n);
    return [n.hostname, { cpuMhz: Math.floor(c.cpuMhz * (1 - headroom)), memoryMb: Math.floor(c.memoryMb * (1 - headroom)) }];
  }));
  const drivers = new Set(clients.flatMap((n) => n.drivers));
  const volumes = new Set(clients.flatMap((n) => n.hostVolumes.map((v) => v.name)));
  const exportPaths = nfsExportsOf(inventory).map((e) => e.path);

  const portOwners = new Map<number, Map<string, string>>(); // port -> node -> job
  const exposedHosts = new Map<string, string>(); // host+path -> job
  let totalCpu = 0;
  let totalMemory = 0;
  // What moves when workers drain for a reimage: the service and batch jobs' allocations (system jobs run on every client).
  let movedCpu = 0;
  let movedMemory = 0;

  for (const service of services) {
    const job = service.name;
    const p = service.props;
    const before = errors.length;
    if (!drivers.has(service.driver)) {
      errors.push(problem("ELY-PLC-001", { job, field: "driver" }, `received ${JSON.stringify(service.driver)}, expected a driver some client offers (${[...drivers].sort().join(", ") || "no client"})`));
    }
    const hostVolumes = (p.volumes ?? []).flatMap((v, i) => (v.kind === "host" ? [[i, v.source] as const] : []));
    for (const [i, source] of hostVolumes) {
      if (!volumes.has(source)) {
        errors.push(problem("ELY-PLC-002", { job, field: `volumes[${i}].source` }, `received ${JSON.stringify(source)}, expected a host volume some client provides (${[...volumes].sort().join(", ") || "none declared"})`));
      }
    }
    (p.volumes ?? []).forEach((v, i) => {
      if (v.kind === "nfs" && !exportPaths.some((e) => isUnder(v.path, e))) {
        errors.push(problem("ELY-PLC-003", { job, field: `volumes[${i}].path` }, `received ${JSON.stringify(v.path)}, expected a path under an NFS export of the util node (${exportPaths.join(", ") || "none declared: nodes[].nfsExports"})`));
      }
    });
    const eligible = clients.filter(
      (n) =>
        n.drivers.includes(service.driver) &&
        hostVolumes.every(([, source]) => n.hostVolumes.some((v) => v.name === source)) &&
        (p.constraints ?? []).every((c) => satisfies(n, inventory, c)),
    );
    if (eligible.length === 0) {
      // Said already when a missing driver or volume explains it.
      if (errors.length === before) {
        const asked = `driver ${service.driver}, host volumes ${hostVolumes.map(([, s]) => s).join(", ") || "none"}, ${plural((p.constraints ?? []).length, "constraint")}`;
        errors.push(problem("ELY-PLC-004", { job }, `received ${asked}, expected a client that can run it; clients: ${clients.map((n) => n.hostname).join(", ")}`));
      }
      continue;
    }
    if (p.stateful) errors.push(...statefulVolumeProblems(inventory, job, hostVolumes, eligible));
    const names = eligible.map((n) => n.hostname).join(", ");
    const allocations = service.type === "system" ? eligible.length : service.count;

    // Capacity: one allocation must fit one client; all of them must fit the eligible clients.
    const fitting = eligible.filter((n) => usable.get(n.hostname)!.cpuMhz >= service.cpuMhz && usable.get(n.hostname)!.memoryMb >= service.memoryMb);
    if (fitting.length === 0) {
      const biggest = eligible.map((n) => `${n.hostname} ${usable.get(n.hostname)!.cpuMhz} MHz/${usable.get(n.hostname)!.memoryMb} MB`).join(", ");
      errors.push(problem("ELY-PLC-006", { job }, `received one allocation asking for ${service.cpuMhz} MHz CPU and ${service.memoryMb} MB memory, expected it to fit a client after ${inventory.scheduler.headroomPercent}% headroom (${biggest})`));
    }
    const jobCpu = allocations * service.cpuMhz;
    const jobMemory = allocations * service.memoryMb;
    const offerCpu = eligible.reduce((s, n) => s + usable.get(n.hostname)!.cpuMhz, 0);
    const offerMemory = eligible.reduce((s, n) => s + usable.get(n.hostname)!.memoryMb, 0);
    if (fitting.length > 0 && (jobCpu > offerCpu || jobMemory > offerMemory)) {
      errors.push(problem("ELY-PLC-007", { job }, `received ${plural(allocations, "allocation")} asking for ${jobCpu} MHz CPU and ${jobMemory} MB memory, expected at most what its clients ${names} offer after ${inventory.scheduler.headroomPercent}% headroom: ${offerCpu} MHz and ${offerMemory} MB`));
    }
    totalCpu += jobCpu;
    totalMemory += jobMemory;
    if (service.type !== "system") {
      movedCpu += jobCpu;
      movedMemory += jobMemory;
    }

    // Static ports: each node can give a port to one allocation of one job.
    const staticPorts = (p.ports ?? []).flatMap((port) => (port.static !== undefined ? [port.static] : []));
    for (const port of staticPorts) {
      if (service.type !== "system" && allocations > eligible.length) {
        errors.push(problem("ELY-PLC-008", { job, field: "ports" }, `received ${plural(allocations, "allocation")} each needing static port ${port}, expected at most one per client (${plural(eligible.length, "eligible client")}: ${names})`));
      }
      const owners = portOwners.get(port) ?? new Map<string, string>();
      portOwners.set(port, owners);
      const clashes = new Map<string, string[]>();
      for (const n of eligible) {
        const other = owners.get(n.hostname);
        if (other !== undefined && other !== job) clashes.set(other, [...(clashes.get(other) ?? []), n.hostname]);
        else owners.set(n.hostname, job);
      }
      for (const [other, nodes] of clashes) {
        errors.push(problem("ELY-PLC-009", { job, field: "ports" }, `received static port ${port} on ${nodes.join(", ")}, expected each static port to belong to one job per node; job ${other} claims it there`));
      }
    }

    if (p.expose) {
      const key = `${p.expose.host.toLowerCase()}${p.expose.path ?? ""}`;
      const other = exposedHosts.get(key);
      if (other !== undefined) errors.push(problem("ELY-PLC-010", { job, field: "expose.host" }, `received ${JSON.stringify(key)}, expected a host not exposed already; job ${other} exposes it`));
      else exposedHosts.set(key, job);
    }
  }

  const allCpu = [...usable.values()].reduce((s, c) => s + c.cpuMhz, 0);
  const allMemory = [...usable.values()].reduce((s, c) => s + c.memoryMb, 0);
  if (clients.length > 0 && (totalCpu > allCpu || totalMemory > allMemory)) {
    errors.push(problem("ELY-PLC-011", { component: "all jobs" }, `received ${plural(services.length, "job")} asking for ${totalCpu} MHz CPU and ${totalMemory} MB memory in total, expected at most what the clients offer after ${inventory.scheduler.headroomPercent}% headroom: ${allCpu} MHz and ${allMemory} MB`));
  } else errors.push(...reimageRoomProblems(inventory, usable, movedCpu, movedMemory));
  return errors;
}

/**
 * A worker reimage (constructs/rollout/worker-reimage.ts) takes up to images.rollout.maxUnavailable
 * netbooted clients down at once: the others must hold the service and batch jobs meanwhile, whichever
 * workers those are (the largest taken out). The program checks the same against what Nomad runs
 * before each drain (cli/worker-capacity.ts). Left out where no client would stay up (a one-worker lab), and
 * when images.rollout.allowJobDowntime accepts that those jobs wait.
 */
function reimageRoomProblems(inventory: Inventory, usable: ReadonlyMap<string, { cpuMhz: number; memoryMb: number }>, cpu: number, memory: number): Problem[] {
  const down = inventory.images.rollout.maxUnavailable;
  if (inventory.images.rollout.allowJobDowntime) return [];
  const workers = clientsOf(inventory).filter((n) => bootModeOf(n) === "netboot");
  if (workers.length === 0 || cpu + memory === 0) return [];
  const left = (key: "cpuMhz" | "memoryMb") => {
    const sizes = [...usable].map(([host, c]) => ({ host, size: c[key], worker: workers.some((w) => w.hostname === host) }));
    const out = sizes.filter((s) => s.worker).sort((a, b) => b.size - a.size).slice(0, down).map((s) => s.host);
    return { offer: sizes.filter((s) => !out.includes(s.host)).reduce((n, s) => n + s.size, 0), out };
  };
  const c = left("cpuMhz");
  const m = left("memoryMb");
  // A lab whose every client reimages at once has nothing to hold the jobs anyway: the program refuses to drain it (it says why).
  if (clientsOf(inventory).length <= down) return [];
  if (c.offer >= cpu && m.offer >= memory) return [];
  return [
    problem(
      "ELY-PLC-012",
      { field: "images.rollout.maxUnavailable" },
      `received ${down}, expected the clients that stay up while ${plural(down, "worker")} reimage${down === 1 ? "s" : ""} to hold the service and batch jobs: ` +
      `they ask for ${cpu} MHz CPU and ${memory} MB memory, and without ${[...new Set([...c.out, ...m.out])].join(", ")} the clients offer ${c.offer} MHz and ${m.offer} MB after ${inventory.scheduler.headroomPercent}% headroom ` +
        `(images.rollout.allowJobDowntime: true accepts that they wait during a reimage)`,
    ),
  ];
}
