/** Generated clusters and job sets for the benchmarks: the same shapes as the seed, scaled. */
import { JobDefinition } from "../jobs";
import { DEFAULT_INVENTORY, InventoryInput } from "../nodes";

/** n nodes: util, three servers, the rest ODROID-like clients, in a /16 so that 200 fit. */
export function generatedInventory(nodes: number): InventoryInput {
  if (nodes <= 7) return DEFAULT_INVENTORY;
  const ip = (i: number) => `10.25.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  const mac = (i: number) => `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`;
  const volumes = ["scratch", "traefik-acme", "gitea-data", "registry-data", "prometheus-data"].map((name) => ({ name, path: `/mnt/nfs/${name}` }));
  return {
    ...DEFAULT_INVENTORY,
    network: { ...DEFAULT_INVENTORY.network, subnet: "10.25.0.0/16", gateway: "10.25.255.1", ingressAddress: "10.25.255.5" },
    nodes: [
      // The default's util node, exports included (the workers' stateful volumes are on its NFS).
      { ...DEFAULT_INVENTORY.nodes.find((n) => n.role === "util")!, ip: ip(0) },
      ...[1, 2, 3].map((i) => ({ hostname: `m${i}`, role: "server" as const, arch: "arm64" as const, ip: ip(i) })),
      ...Array.from({ length: nodes - 4 }, (_, k) => ({
        hostname: `w${k + 1}`,
        role: "client" as const,
        arch: "amd64" as const,
        ip: ip(k + 4),
        mac: mac(k + 4),
        hardware: { model: "ODROID H2", cores: 4, cpuMhz: 1500, memoryMb: 32768, disks: [{ device: "nvme0n1", sizeGb: 1000, kind: "nvme" as const }] },
        hostVolumes: volumes,
      })),
    ],
  };
}

/** n small web services, each with a port, a check, a canary update and a public host. */
export function generatedJobs(n: number): JobDefinition[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `svc-${i}`,
    props: () => ({
      image: `nginx:1.${i % 27}`,
      count: 1 + (i % 3),
      cpuMhz: 5,
      memoryMb: 8,
      ports: [{ label: "http", to: 80 }],
      checks: [{ type: "http" as const, port: "http", path: "/" }],
      update: { canaries: 1, autoRevert: true },
      expose: { host: `svc-${i}.apps.509ely.com` },
    }),
  }));
}
