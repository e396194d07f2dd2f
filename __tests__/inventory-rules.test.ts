import { formatProblem, Inventory, InventoryError, Problem, validateInventory } from "../nodes";
import { inventoryWith as parsedWith, defaultInventory, LooseInput } from "./helpers/inventory";

/** The inventory after a change, or the problems that refused it while loading. */
function inventoryWith(change: (i: LooseInput) => void): Inventory | readonly Problem[] {
  try {
    return parsedWith(change);
  } catch (e) {
    if (e instanceof InventoryError) return e.problems;
    throw e;
  }
}

/** Every problem, whether found while loading (format) or by the whole-inventory rules. */
function messages(inventory: Inventory | readonly Problem[] = defaultInventory()): string[] {
  return (Array.isArray(inventory) ? (inventory as readonly Problem[]) : validateInventory(inventory as Inventory)).map((p) => formatProblem(p));
}

describe("inventory rules", () => {
  test("the default inventory has no problem", () => {
    expect(messages()).toEqual([]);
  });

  test("duplicate hostname names both nodes", () => {
    const m = messages(inventoryWith((i) => (i.nodes[5].hostname = "w1")));
    expect(m).toContain('error ELY-INV-005: node w1, field nodes[5].hostname: received "w1", expected a unique hostname; nodes[4] has it already');
  });

  test("duplicate MAC, also across extra MACs and letter case", () => {
    const m = messages(inventoryWith((i) => (i.nodes[6].extraMacs = ["00:1E:06:45:28:5C"])));
    expect(m).toContain('error ELY-INV-006: node w3, field nodes[6].extraMacs[0]: received "00:1E:06:45:28:5C", expected a unique MAC address; node w1 has it already');
  });

  test("duplicate IP, also against the ingress address", () => {
    const m = messages(inventoryWith((i) => {
      i.nodes[5].ip = "10.25.89.21";
      i.nodes[6].ip = "10.25.89.5";
    }));
    expect(m).toContain('error ELY-INV-004: node w2, field nodes[5].ip: received "10.25.89.21", expected a unique IP address; node w1 has it already');
    expect(m).toContain('error ELY-INV-004: node w3, field nodes[6].ip: received "10.25.89.5", expected a unique IP address; network.ingressAddress has it already');
  });

  test("malformed MAC", () => {
    const m = messages(inventoryWith((i) => (i.nodes[4].mac = "00:1e:06:45:28")));
    expect(m).toContain('error ELY-STR-016: node w1, field nodes[4].mac: received "00:1e:06:45:28", expected a MAC address like 00:1e:06:45:28:5c');
  });

  test("a subnet with host bits set", () => {
    const m = messages(inventoryWith((i) => (i.network.subnet = "10.25.89.1/24")));
    expect(m).toContain('error ELY-INV-001: field network.subnet: received "10.25.89.1/24", expected the network address with no host bits set: 10.25.89.0/24');
  });

  test("a node on the subnet's network or broadcast address", () => {
    const m = messages(inventoryWith((i) => {
      i.nodes[4].ip = "10.25.89.0";
      i.nodes[5].ip = "10.25.89.255";
    }));
    expect(m).toContain('error ELY-INV-003: node w1, field nodes[4].ip: received "10.25.89.0", expected a host address: it is the network address of 10.25.89.0/24');
    expect(m).toContain('error ELY-INV-003: node w2, field nodes[5].ip: received "10.25.89.255", expected a host address: it is the broadcast address of 10.25.89.0/24');
  });

  test("a multicast or broadcast MAC", () => {
    const m = messages(inventoryWith((i) => {
      i.nodes[4].mac = "01:00:5e:00:00:01";
      i.nodes[5].extraMacs = ["ff:ff:ff:ff:ff:ff"];
    }));
    expect(m).toContain('error ELY-INV-007: node w1, field nodes[4].mac: received "01:00:5e:00:00:01", expected the unicast MAC of an interface (the first octet\'s lowest bit is set: a multicast or broadcast address)');
    expect(m).toContain('error ELY-INV-007: node w2, field nodes[5].extraMacs[0]: received "ff:ff:ff:ff:ff:ff", expected the unicast MAC of an interface (the first octet\'s lowest bit is set: a multicast or broadcast address)');
  });

  test("malformed IP", () => {
    const m = messages(inventoryWith((i) => (i.nodes[4].ip = "10.25.89.300")));
    expect(m).toContain('error ELY-STR-014: node w1, field nodes[4].ip: received "10.25.89.300", expected an IPv4 address like 10.25.89.21');
  });

  test("IP outside the subnet", () => {
    const m = messages(inventoryWith((i) => (i.nodes[4].ip = "192.168.1.21")));
    expect(m).toContain('error ELY-INV-002: node w1, field nodes[4].ip: received "192.168.1.21", expected an address inside the subnet 10.25.89.0/24');
  });

  test("malformed subnet", () => {
    const m = messages(inventoryWith((i) => (i.network.subnet = "10.25.89.0")));
    expect(m).toContain('error ELY-STR-015: field network.subnet: received "10.25.89.0", expected an IPv4 subnet in CIDR notation like 10.25.89.0/24');
  });

  test("an even server count is an error", () => {
    const m = messages(inventoryWith((i) => i.nodes.push({ hostname: "m4", role: "server", arch: "arm64", ip: "10.25.89.40" })));
    expect(m).toContain("error ELY-INV-011: field nodes[].role: received 4 servers (m1, m2, m3, m4), expected an odd number: an even count adds no fault tolerance");
  });

  test("fewer than 3 servers is an error", () => {
    const m = messages(inventoryWith((i) => (i.nodes = i.nodes.filter((n) => n.hostname !== "m3"))));
    expect(m).toContain("error ELY-INV-011: field nodes[].role: received 2 servers, expected an odd number of at least 3 (or 1 for a lab)");
  });

  test("a single server is allowed with a warning", () => {
    const problems = validateInventory(parsedWith((i) => (i.nodes = i.nodes.filter((n) => n.hostname !== "m2" && n.hostname !== "m3"))));
    expect(problems.map((p) => formatProblem(p))).toEqual([
      "warning ELY-INV-012: field nodes[].role: received 1 server, expected 3 or 5: a single server is fine for a lab but loses the cluster with that node",
    ]);
  });

  test("no client node", () => {
    const m = messages(inventoryWith((i) => (i.nodes = i.nodes.filter((n) => n.role !== "client"))));
    expect(m).toContain('error ELY-INV-013: field nodes[].role: received no node with role "client", expected at least one Nomad client to run the jobs');
  });

  test("client hardware missing where capacity checks need it", () => {
    const m = messages(inventoryWith((i) => {
      delete (i.nodes[4].hardware as Record<string, unknown>).memoryMb;
      delete i.nodes[5].hardware;
    }));
    expect(m).toContain("error ELY-INV-009: node w1, field nodes[4].hardware.memoryMb: received nothing, expected a positive integer: capacity checks of the jobs need it");
    expect(m).toContain("error ELY-INV-009: node w2, field nodes[5].hardware: received nothing, expected hardware with cores, cpuMhz, memoryMb: capacity checks of the jobs need them");
  });

  test("a netbooted node needs its MAC", () => {
    const m = messages(inventoryWith((i) => delete i.nodes[4].mac));
    expect(m).toContain("error ELY-INV-008: node w1, field nodes[4].mac: received nothing, expected the MAC of the boot interface: the node netboots and its iPXE script is chosen by MAC");
  });

  test("a netbooted server while security is on: it would get no secrets", () => {
    const m = messages(inventoryWith((i) => ((i.nodes[1] as Record<string, unknown>).boot = "netboot")));
    expect(m).toContain(
      'error ELY-INV-014: node m1, field nodes[1].boot: received "netboot" for a server while security is on, expected "ssh": a netbooted node\'s secrets bundle holds a client\'s files only, and a server\'s certificates, gossip keys and Raft data would be lost from RAM at every reboot; the server rollout delivers them over ssh to a node with a disk',
    );
    const open = messages(inventoryWith((i) => {
      (i.nodes[1] as Record<string, unknown>).boot = "netboot";
      i.security = { acl: false, tls: false, gossipEncryption: false };
    }));
    expect(open.filter((line) => line.includes("nodes[1].boot"))).toEqual([]);
  });

  test("hostname that is not a DNS label", () => {
    const m = messages(inventoryWith((i) => (i.nodes[4].hostname = "W_1")));
    expect(m).toContain('error ELY-STR-013: node W_1, field nodes[4].hostname: received "W_1", expected a DNS label (lowercase letters, digits, -)');
  });

  test("duplicate host volume on a node", () => {
    const m = messages(inventoryWith((i) => (i.nodes[4].hostVolumes = [{ name: "a", path: "/a" }, { name: "a", path: "/b" }])));
    expect(m).toContain('error ELY-INV-010: node w1, field nodes[4].hostVolumes[1].name: received "a", expected a unique host volume name; nodes[4].hostVolumes has it already');
  });

  test("every problem is reported at once", () => {
    const m = messages(inventoryWith((i) => {
      i.nodes[4].mac = "bad";
      i.nodes[5].ip = "1.2.3.4";
      i.nodes = i.nodes.filter((n) => n.hostname !== "m3");
    }));
    expect(m).toEqual([
      'error ELY-STR-016: node w1, field nodes[3].mac: received "bad", expected a MAC address like 00:1e:06:45:28:5c',
      'error ELY-INV-002: node w2, field nodes[4].ip: received "1.2.3.4", expected an address inside the subnet 10.25.89.0/24',
      "error ELY-INV-011: field nodes[].role: received 2 servers, expected an odd number of at least 3 (or 1 for a lab)",
    ]);
  });
});
