import { formatProblem, InventoryError, nfsExportsOf, nfsMountsOf, validateInventory, volumeBackingOf } from "../nodes";
import { defaultInventory, inventoryWith, LooseInput } from "./helpers/inventory";

/** Every problem: the schema's shapes while loading (paths, disk identities, clients), then the storage rules. */
function messages(change: (i: LooseInput) => void): string[] {
  try {
    return validateInventory(inventoryWith(change)).map((p) => formatProblem(p));
  } catch (e) {
    if (e instanceof InventoryError) return e.problems.map((p) => formatProblem(p));
    throw e;
  }
}

/** w1 (nodes[4]) with a scratch NVMe at /mnt/scratch, found by serial. */
function withScratch(i: LooseInput): void {
  i.nodes[4].hardware = { ...i.nodes[4].hardware, disks: [{ device: "nvme0n1", sizeGb: 1000, kind: "nvme", serial: "S4EWNX0R123456", scratchMountPoint: "/mnt/scratch" }] };
}

describe("storage facts", () => {
  test("the default inventory: util exports /opt/nfs to the subnet, read-write; every worker mounts it at /mnt/nfs", () => {
    const inventory = defaultInventory();
    expect(nfsExportsOf(inventory).map(({ server, ...e }) => ({ server: server.hostname, ...e }))).toEqual([
      { server: "util", path: "/opt/nfs", mountPoint: "/mnt/nfs", clients: ["10.25.89.0/24"], readOnly: false, rootSquash: false },
    ]);
    for (const node of inventory.nodes) {
      expect(nfsMountsOf(inventory, node).map((e) => e.mountPoint)).toEqual(node.role === "client" ? ["/mnt/nfs"] : []);
    }
  });

  test("backing derived from the path: NFS mount, scratch disk, else RAM on a netbooted node and local otherwise", () => {
    const inventory = inventoryWith((i) => {
      withScratch(i);
      i.nodes[1].hostVolumes = [{ name: "m1-data", path: "/var/lib/m1" }];
    });
    const w1 = inventory.nodes[4];
    const w2 = inventory.nodes[5];
    const backing = (node = w1) => Object.fromEntries(node.hostVolumes.map((v) => [v.name, volumeBackingOf(inventory, node, v)]));
    expect(backing()).toEqual({ scratch: "scratch", "traefik-acme": "nfs", "gitea-data": "nfs", "registry-data": "nfs", "prometheus-data": "nfs" });
    expect(backing(w2).scratch).toBe("ram"); // w2's NVMe is not a scratch disk: /mnt/scratch is in its RAM root
    expect(backing(inventory.nodes[1])).toEqual({ "m1-data": "local" });
    expect(volumeBackingOf(inventory, w1, { name: "x", path: "/mnt/nfs/x", readOnly: false, backing: "ram" })).toBe("ram"); // explicit wins
  });

  test("an export's clients decide who mounts it", () => {
    const inventory = inventoryWith((i) => (i.nodes[0].nfsExports = [{ path: "/opt/nfs", clients: ["10.25.89.21", "10.25.89.22/32"] }]));
    expect(inventory.nodes.filter((n) => nfsMountsOf(inventory, n).length > 0).map((n) => n.hostname)).toEqual(["w1", "w2"]);
  });
});

describe("storage rules", () => {
  test("the default inventory, and one with a scratch disk, have no storage problem", () => {
    expect(validateInventory(defaultInventory())).toEqual([]);
    expect(messages(withScratch)).toEqual([]);
  });

  test("an export path, mount point or client that would break /etc/exports", () => {
    const m = messages((i) => (i.nodes[0].nfsExports = [{ path: "/opt/nfs\n/ *(rw,no_root_squash)", mountPoint: "/mnt/a b", clients: ["everyone"] }]));
    expect(m).toEqual([
      'error ELY-STR-005: node util, field nodes[0].nfsExports[0].path: received "/opt/nfs\\n/ *(rw,no_root_squash)", expected the exported directory: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")',
      'error ELY-STR-005: node util, field nodes[0].nfsExports[0].mountPoint: received "/mnt/a b", expected the export\'s mount point: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")',
      'error ELY-STR-027: node util, field nodes[0].nfsExports[0].clients[0]: received "everyone", expected an IPv4 subnet (10.25.89.0/24) or address',
    ]);
  });

  test("a relative or dot-dot export path", () => {
    expect(messages((i) => (i.nodes[0].nfsExports = [{ path: "opt/nfs" }, { path: "/opt/../etc" }]))).toEqual([
      'error ELY-STR-005: node util, field nodes[0].nfsExports[0].path: received "opt/nfs", expected the exported directory: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")',
      'error ELY-STR-005: node util, field nodes[0].nfsExports[1].path: received "/opt/../etc", expected the exported directory: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")',
    ]);
  });

  test("exports belong to the util node", () => {
    expect(messages((i) => (i.nodes[1].nfsExports = [{ path: "/srv" }]))).toEqual([
      'error ELY-STO-001: node m1, field nodes[1].nfsExports: received 1 export(s) on a node with role "server", expected exports on the util node only (the NFS host clients mount)',
    ]);
  });

  test("a scratch disk named by its device only is refused: never sda alone", () => {
    const m = messages((i) => {
      i.nodes[4].hardware.disks = [{ device: "sda", sizeGb: 500, kind: "ssd", scratchMountPoint: "/mnt/scratch" }];
    });
    expect(m).toEqual([
      'error ELY-STO-002: node w1, field nodes[4].hardware.disks[0].byId: received nothing (only device "sda"), expected byId or serial: the disk is formatted at every boot, and a device name can name another disk after a reboot',
    ]);
  });

  test("disk identities and scratch mount points that would break a unit or a script", () => {
    const m = messages((i) => {
      i.nodes[4].hardware.disks = [{ device: "nvme0n1", sizeGb: 1, kind: "nvme", byId: "nvme-x;reboot", serial: "A B", scratchMountPoint: "/mnt/scr'atch" }];
    });
    expect(m).toEqual([
      'error ELY-STR-026: node w1, field nodes[4].hardware.disks[0].byId: received "nvme-x;reboot", expected a name under /dev/disk/by-id/ of letters, digits, ".", "_", ":", "+", "@", "-"',
      'error ELY-STR-026: node w1, field nodes[4].hardware.disks[0].serial: received "A B", expected a serial number of letters, digits, ".", "_", ":", "+", "@", "-"',
      'error ELY-STR-005: node w1, field nodes[4].hardware.disks[0].scratchMountPoint: received "/mnt/scr\'atch", expected the scratch disk\'s mount point: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")',
    ]);
  });

  test("a scratch disk on a node that does not netboot, and two disks on one mount point", () => {
    const m = messages((i) => {
      i.nodes[1].hardware = { ...i.nodes[1].hardware, disks: [{ device: "sda", sizeGb: 1, kind: "ssd", serial: "X1", scratchMountPoint: "/mnt/scratch" }] };
      i.nodes[4].hardware.disks = [
        { device: "nvme0n1", sizeGb: 1, kind: "nvme", serial: "A1", scratchMountPoint: "/mnt/scratch" },
        { device: "sda", sizeGb: 1, kind: "ssd", serial: "A2", scratchMountPoint: "/mnt/scratch" },
      ];
    });
    expect(m).toEqual([
      'error ELY-STO-003: node m1, field nodes[1].hardware.disks[0].scratchMountPoint: received "/mnt/scratch" on a node that boots "ssh", expected a netbooted node: its boot image formats and mounts scratch disks',
      'error ELY-STO-004: node w1, field nodes[4].hardware.disks[1].scratchMountPoint: received "/mnt/scratch", expected one disk per mount point; disks[0] mounts there already',
    ]);
  });

  test("a host volume path that would break the agent or mount files", () => {
    // Refused while loading (nodes/safe-strings.ts), once: the storage rules skip a path of another shape.
    expect(messages((i) => (i.nodes[4].hostVolumes = [{ name: "x", path: "/mnt/nfs/x\ny" }]))).toEqual([
      'error ELY-STR-005: node w1, field nodes[4].hostVolumes[0].path: received "/mnt/nfs/x\\ny", expected the volume\'s directory on the node: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no "..", no trailing /)',
    ]);
  });

  test("an NFS-backed volume needs an export of the util node covering its path", () => {
    const m = messages((i) => {
      i.nodes[4].hostVolumes = [{ name: "data", path: "/srv/data", backing: "nfs" }];
      i.nodes[0].nfsExports = [{ path: "/opt/nfs", clients: ["10.25.89.22", "10.25.89.23"] }];
      i.nodes[5].hostVolumes = [{ name: "data", path: "/data", backing: "nfs" }];
    });
    expect(m).toEqual([
      'error ELY-STO-005: node w1, field nodes[4].hostVolumes[0].path: received "/srv/data" for NFS-backed volume "data", expected a path under an NFS mount point of this node: none: no export of the util node includes this node\'s address',
      'error ELY-STO-005: node w2, field nodes[5].hostVolumes[0].path: received "/data" for NFS-backed volume "data", expected a path under an NFS mount point of this node: /mnt/nfs (util:/opt/nfs)',
    ]);
  });

  test("a volume under the NFS mount point on a node the export does not admit, or on a server", () => {
    const m = messages((i) => {
      i.nodes[0].nfsExports = [{ path: "/opt/nfs", clients: ["10.25.89.22", "10.25.89.23"] }];
      i.nodes[1].hostVolumes = [{ name: "m1-data", path: "/mnt/nfs/m1" }];
    });
    expect(m).toEqual([
      'error ELY-STO-005: node m1, field nodes[1].hostVolumes[0].path: received "/mnt/nfs/m1" for NFS-backed volume "m1-data", expected a path under an NFS mount point of this node: none: only clients mount the util node\'s exports',
      ...["traefik", "gitea", "registry", "prometheus"].map(
        (v, j) => `error ELY-STO-005: node w1, field nodes[4].hostVolumes[${j + 1}].path: received "/mnt/nfs/${v}" for NFS-backed volume "${v === "traefik" ? "traefik-acme" : `${v}-data`}", expected a path under an NFS mount point of this node: none: no export of the util node includes this node's address`,
      ),
    ]);
    // A node whose address is outside the subnet gets that error only, not one per volume.
    expect(messages((i) => (i.nodes[5].ip = "10.0.0.1")).filter((x) => x.includes("NFS"))).toEqual([]);
  });

  test("a scratch-backed volume needs a scratch disk mounted above its path", () => {
    expect(messages((i) => (i.nodes[4].hostVolumes = [{ name: "tmp", path: "/mnt/scratch", backing: "scratch" }]))).toEqual([
      'error ELY-STO-006: node w1, field nodes[4].hostVolumes[0].path: received "/mnt/scratch" for scratch-backed volume "tmp", expected a path under a scratch disk\'s mount point of this node: none (hardware.disks[].scratchMountPoint)',
    ]);
  });

  test("RAM only on a netbooted node; local only on one that is not", () => {
    expect(
      messages((i) => {
        i.nodes[1].hostVolumes = [{ name: "a", path: "/a", backing: "ram" }];
        i.nodes[4].hostVolumes = [{ name: "b", path: "/b", backing: "local" }];
      }),
    ).toEqual([
      'error ELY-STO-008: node m1, field nodes[1].hostVolumes[0].backing: received "ram" on a node that boots "ssh", expected "local": only a netbooted node runs from RAM',
      'error ELY-STO-007: node w1, field nodes[4].hostVolumes[0].backing: received "local" on a netbooted node, expected "nfs", "scratch" or "ram": a netbooted node has no root disk',
    ]);
  });
});
