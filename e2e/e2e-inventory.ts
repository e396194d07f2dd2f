import * as path from "path";
import { InventoryInput } from "../nodes";
import { DevAgents } from "./dev-agents";

/**
 * An inventory whose endpoints are the dev agents: one server and one netbooted client on loopback,
 * ACLs on; TLS and gossip encryption off (dev agents run without them).
 */
export function e2eInventory(agents: DevAgents): InventoryInput {
  return {
    name: "e2e",
    datacenter: agents.datacenter,
    region: "global",
    network: {
      subnet: "127.0.0.0/8",
      gateway: "127.0.0.254",
      internalDomain: "e2e.ely.test",
      servicesDomain: "apps.ely.test",
      ingressAddress: "127.0.0.5",
    },
    security: { acl: true, tls: false, gossipEncryption: false },
    endpoints: { consul: agents.consulAddress, nomad: agents.nomadAddress },
    nodes: [
      {
        hostname: "util",
        role: "util",
        arch: "amd64",
        ip: "127.0.0.3",
        boot: "local",
        // The stateful jobs' volumes must survive a reboot of the netbooted c1: they live under the
        // util node's NFS export, whose mount point is where the dev agent keeps them (nothing is
        // exported for real: the e2e publishes no service).
        nfsExports: [{ path: "/srv/ely-e2e/nfs", mountPoint: volumesDirOf(agents) }],
      },
      { hostname: "s1", role: "server", arch: "amd64", ip: "127.0.0.1", boot: "local" },
      {
        hostname: "c1",
        role: "client",
        arch: "amd64",
        ip: "127.0.0.2",
        mac: "52:54:00:e2:e0:01",
        // Netbooted: the deploy builds its image (test profile) and publishes it.
        boot: "netboot",
        drivers: ["docker", "exec", "raw_exec"],
        hardware: { model: "dev agent", cores: 4, cpuMhz: 2000, memoryMb: 16384 },
        hostVolumes: Object.entries(agents.hostVolumes).map(([name, path]) => ({ name, path })),
      },
    ],
  };
}

/** The directory that holds every host volume of the dev agents. */
function volumesDirOf(agents: DevAgents): string {
  const dirs = [...new Set(Object.values(agents.hostVolumes).map((p) => path.dirname(p)))];
  if (dirs.length !== 1) throw new Error(`the dev agents' host volumes are in ${dirs.length} directories, expected one: ${dirs.join(", ")}`);
  return dirs[0];
}
