/**
 * Rules over the whole inventory, reported all at once. Pairwise rules (duplicates)
 * index by value, so validation stays linear in the number of nodes.
 */
import * as ipaddr from "ipaddr.js";
import { problem, Problem, ProblemPlace, shown } from "./problems";
import { RuleId } from "./rules";
import { Inventory, InventoryNode } from "./schema";
import { validateImageChannels } from "./image-channels";
import { validateStorage } from "./storage";
import { bootModeOf } from "./topology";
import { ipv4Address, ipv4Subnet, macAddress } from "./safe-strings";

/** A value of the shape the schema requires; one of another shape is the schema's error, not checked again here. */
const fits = (shape: { safeParse(v: unknown): { success: boolean } }, value: unknown) => shape.safeParse(value).success;

/** The network and broadcast addresses of a subnet, which no host may take. */
function reservedAddresses(cidr: string): Map<string, string> {
  return new Map([
    [ipaddr.IPv4.networkAddressFromCIDR(cidr).toString(), "it is the network address"],
    [ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString(), "it is the broadcast address"],
  ]);
}

/** Records the first holder of each value; reports later holders as duplicates. */
class UniqueIndex {
  private readonly seen = new Map<string, string>();
  constructor(private readonly what: string) {}

  claim(value: string, holder: string): string | undefined {
    const key = value.toLowerCase();
    const first = this.seen.get(key);
    if (first !== undefined) return `received ${shown(value)}, expected a unique ${this.what}; ${first} has it already`;
    this.seen.set(key, holder);
    return undefined;
  }
}

type Report = (rule: RuleId, field: string, message: string, node?: string) => void;

/**
 * The rules relating the inventory's fields and nodes. The shape of each field (an IPv4 address,
 * a MAC, a hostname, a path) is the schema's rule (safe-strings.ts): a value of another shape is
 * left out here, so that each problem is reported once.
 */
export function validateInventory(inventory: Inventory): Problem[] {
  const problems: Problem[] = [];
  const report: Report = (rule, field, message, node) => problems.push(problem(rule, { field, node } satisfies ProblemPlace, message));

  const { network } = inventory;
  const subnet = fits(ipv4Subnet, network.subnet) ? ipaddr.IPv4.parseCIDR(network.subnet) : undefined;
  if (subnet) {
    const base = ipaddr.IPv4.networkAddressFromCIDR(network.subnet).toString();
    if (base !== subnet[0].toString()) {
      report("ELY-INV-001", "network.subnet", `received ${shown(network.subnet)}, expected the network address with no host bits set: ${base}/${subnet[1]}`);
    }
  }
  const reserved = subnet && subnet[1] <= 30 ? reservedAddresses(network.subnet) : undefined;

  const ips = new UniqueIndex("IP address");
  const checkAddress = (field: string, value: string, holder: string, node?: string) => {
    if (!fits(ipv4Address, value)) return;
    if (subnet && !ipaddr.IPv4.parse(value).match(subnet)) {
      report("ELY-INV-002", field, `received ${shown(value)}, expected an address inside the subnet ${network.subnet}`, node);
    } else if (reserved?.has(value)) {
      report("ELY-INV-003", field, `received ${shown(value)}, expected a host address: ${reserved.get(value)} of ${network.subnet}`, node);
    }
    const duplicate = ips.claim(value, holder);
    if (duplicate) report("ELY-INV-004", field, duplicate, node);
  };
  checkAddress("network.gateway", network.gateway, "network.gateway");
  checkAddress("network.ingressAddress", network.ingressAddress, "network.ingressAddress");

  const hostnames = new UniqueIndex("hostname");
  const macs = new UniqueIndex("MAC address");
  inventory.nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    const subject = node.hostname;
    const duplicateName = hostnames.claim(node.hostname, at);
    if (duplicateName) report("ELY-INV-005", `${at}.hostname`, duplicateName, subject);

    checkAddress(`${at}.ip`, node.ip, `node ${node.hostname}`, subject);

    const nodeMacs: [string, string][] = [];
    if (node.mac !== undefined) nodeMacs.push([`${at}.mac`, node.mac]);
    node.extraMacs.forEach((mac, j) => nodeMacs.push([`${at}.extraMacs[${j}]`, mac]));
    for (const [field, mac] of nodeMacs) {
      if (!fits(macAddress, mac)) continue;
      if (parseInt(mac.slice(0, 2), 16) & 1) {
        report("ELY-INV-007", field, `received ${shown(mac)}, expected the unicast MAC of an interface (the first octet's lowest bit is set: a multicast or broadcast address)`, subject);
        continue;
      }
      const duplicate = macs.claim(mac, `node ${node.hostname}`);
      if (duplicate) report("ELY-INV-006", field, duplicate, subject);
    }

    if (bootModeOf(node) === "netboot" && node.mac === undefined) {
      report("ELY-INV-008", `${at}.mac`, `received nothing, expected the MAC of the boot interface: the node netboots and its iPXE script is chosen by MAC`, subject);
    }
    const { security } = inventory;
    if (node.role === "server" && bootModeOf(node) === "netboot" && (security.acl || security.tls || security.gossipEncryption)) {
      report(
        "ELY-INV-014",
        `${at}.boot`,
        `received "netboot" for a server while security is on, expected "ssh": a netbooted node's secrets bundle holds a client's files only, ` +
          `and a server's certificates, gossip keys and Raft data would be lost from RAM at every reboot; the server rollout delivers them over ssh to a node with a disk`,
        subject,
      );
    }
    checkHardware(node, at, report);

    const volumes = new UniqueIndex("host volume name");
    node.hostVolumes.forEach((volume, j) => {
      const duplicate = volumes.claim(volume.name, `${at}.hostVolumes`);
      if (duplicate) report("ELY-INV-010", `${at}.hostVolumes[${j}].name`, duplicate, subject);
    });
  });

  const servers = inventory.nodes.filter((n) => n.role === "server");
  const serverCount = servers.length;
  if (serverCount === 1) {
    report("ELY-INV-012", "nodes[].role", `received 1 server, expected 3 or 5: a single server is fine for a lab but loses the cluster with that node`);
  } else if (serverCount < 3) {
    report("ELY-INV-011", "nodes[].role", `received ${serverCount} server${serverCount === 1 ? "" : "s"}, expected an odd number of at least 3 (or 1 for a lab)`);
  } else if (serverCount % 2 === 0) {
    report("ELY-INV-011", "nodes[].role", `received ${serverCount} servers (${servers.map((s) => s.hostname).join(", ")}), expected an odd number: an even count adds no fault tolerance`);
  }
  if (!inventory.nodes.some((n) => n.role === "client")) {
    report("ELY-INV-013", "nodes[].role", `received no node with role "client", expected at least one Nomad client to run the jobs`);
  }
  problems.push(...validateStorage(inventory));
  problems.push(...validateImageChannels(inventory));
  return problems;
}

/** Nomad clients need their capacity declared: the job placement checks use it. */
function checkHardware(node: InventoryNode, at: string, report: Report): void {
  if (node.role !== "client") return;
  const needed = ["cores", "cpuMhz", "memoryMb"] as const;
  if (!node.hardware) {
    report("ELY-INV-009", `${at}.hardware`, `received nothing, expected hardware with ${needed.join(", ")}: capacity checks of the jobs need them`, node.hostname);
    return;
  }
  for (const field of needed) {
    if (node.hardware[field] === undefined) {
      report("ELY-INV-009", `${at}.hardware.${field}`, `received nothing, expected a positive integer: capacity checks of the jobs need it`, node.hostname);
    }
  }
}
