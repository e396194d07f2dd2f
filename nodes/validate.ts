/**
 * Rules over the whole inventory, reported all at once. Pairwise rules (duplicates)
 * index by value, so validation stays linear in the number of nodes.
 */
import * as ipaddr from "ipaddr.js";
import { Problem, shown } from "./problems";
import { Inventory, InventoryNode } from "./schema";
import { validateImageChannels } from "./image-channels";
import { validateStorage } from "./storage";
import { bootModeOf } from "./topology";

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function isIpv4(value: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(value);
}

function parseSubnet(subnet: string): [ipaddr.IPv4, number] | undefined {
  try {
    const [address, bits] = ipaddr.IPv4.parseCIDR(subnet);
    return [address, bits];
  } catch {
    return undefined;
  }
}

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

export function validateInventory(inventory: Inventory): Problem[] {
  const problems: Problem[] = [];
  const error = (field: string, message: string, subject?: string) =>
    problems.push({ severity: "error", field, message, subject });
  const warning = (field: string, message: string, subject?: string) =>
    problems.push({ severity: "warning", field, message, subject });

  const { network } = inventory;
  const subnet = parseSubnet(network.subnet);
  if (!subnet) error("network.subnet", `received ${shown(network.subnet)}, expected an IPv4 subnet in CIDR notation like 10.25.89.0/24`);
  else {
    const base = ipaddr.IPv4.networkAddressFromCIDR(network.subnet).toString();
    if (base !== subnet[0].toString()) {
      error("network.subnet", `received ${shown(network.subnet)}, expected the network address with no host bits set: ${base}/${subnet[1]}`);
    }
  }
  const reserved = subnet && subnet[1] <= 30 ? reservedAddresses(network.subnet) : undefined;

  const ips = new UniqueIndex("IP address");
  const checkAddress = (field: string, value: string, holder: string, subject?: string) => {
    if (!isIpv4(value)) {
      error(field, `received ${shown(value)}, expected an IPv4 address like 10.25.89.21`, subject);
      return;
    }
    if (subnet && !ipaddr.IPv4.parse(value).match(subnet)) {
      error(field, `received ${shown(value)}, expected an address inside the subnet ${network.subnet}`, subject);
    } else if (reserved?.has(value)) {
      error(field, `received ${shown(value)}, expected a host address: ${reserved.get(value)} of ${network.subnet}`, subject);
    }
    const duplicate = ips.claim(value, holder);
    if (duplicate) error(field, duplicate, subject);
  };
  checkAddress("network.gateway", network.gateway, "network.gateway");
  checkAddress("network.ingressAddress", network.ingressAddress, "network.ingressAddress");
  (network.dnsServers ?? []).forEach((server, i) => {
    if (!isIpv4(server)) error(`network.dnsServers[${i}]`, `received ${shown(server)}, expected an IPv4 address`);
  });

  const hostnames = new UniqueIndex("hostname");
  const macs = new UniqueIndex("MAC address");
  inventory.nodes.forEach((node, i) => {
    const at = `nodes[${i}]`;
    const subject = node.hostname;
    if (!HOSTNAME.test(node.hostname)) {
      error(`${at}.hostname`, `received ${shown(node.hostname)}, expected a DNS label (lowercase letters, digits, -)`, subject);
    }
    const duplicateName = hostnames.claim(node.hostname, at);
    if (duplicateName) error(`${at}.hostname`, duplicateName, subject);

    checkAddress(`${at}.ip`, node.ip, `node ${node.hostname}`, subject);

    const nodeMacs: [string, string][] = [];
    if (node.mac !== undefined) nodeMacs.push([`${at}.mac`, node.mac]);
    node.extraMacs.forEach((mac, j) => nodeMacs.push([`${at}.extraMacs[${j}]`, mac]));
    for (const [field, mac] of nodeMacs) {
      if (!MAC.test(mac)) {
        error(field, `received ${shown(mac)}, expected a MAC address like 00:1e:06:45:28:5c`, subject);
        continue;
      }
      if (parseInt(mac.slice(0, 2), 16) & 1) {
        error(field, `received ${shown(mac)}, expected the unicast MAC of an interface (the first octet's lowest bit is set: a multicast or broadcast address)`, subject);
        continue;
      }
      const duplicate = macs.claim(mac, `node ${node.hostname}`);
      if (duplicate) error(field, duplicate, subject);
    }

    if (bootModeOf(node) === "netboot" && node.mac === undefined) {
      error(`${at}.mac`, `received nothing, expected the MAC of the boot interface: the node netboots and its iPXE script is chosen by MAC`, subject);
    }
    const { security } = inventory;
    if (node.role === "server" && bootModeOf(node) === "netboot" && (security.acl || security.tls || security.gossipEncryption)) {
      error(
        `${at}.boot`,
        `received "netboot" for a server while security is on, expected "ssh": a netbooted node's secrets bundle holds a client's files only, ` +
          `and a server's certificates, gossip keys and Raft data would be lost from RAM at every reboot; the server rollout delivers them over ssh to a node with a disk`,
        subject,
      );
    }
    checkHardware(node, at, error);

    const volumes = new UniqueIndex("host volume name");
    node.hostVolumes.forEach((volume, j) => {
      const duplicate = volumes.claim(volume.name, `${at}.hostVolumes`);
      if (duplicate) error(`${at}.hostVolumes[${j}].name`, duplicate, subject);
    });
  });

  const servers = inventory.nodes.filter((n) => n.role === "server");
  const serverCount = servers.length;
  if (serverCount === 1) {
    warning("nodes[].role", `received 1 server, expected 3 or 5: a single server is fine for a lab but loses the cluster with that node`);
  } else if (serverCount < 3) {
    error("nodes[].role", `received ${serverCount} server${serverCount === 1 ? "" : "s"}, expected an odd number of at least 3 (or 1 for a lab)`);
  } else if (serverCount % 2 === 0) {
    error("nodes[].role", `received ${serverCount} servers (${servers.map((s) => s.hostname).join(", ")}), expected an odd number: an even count adds no fault tolerance`);
  }
  if (!inventory.nodes.some((n) => n.role === "client")) {
    error("nodes[].role", `received no node with role "client", expected at least one Nomad client to run the jobs`);
  }
  problems.push(...validateStorage(inventory));
  problems.push(...validateImageChannels(inventory));
  return problems;
}

/** Nomad clients need their capacity declared: the job placement checks use it. */
function checkHardware(node: InventoryNode, at: string, error: (field: string, message: string, subject?: string) => void): void {
  if (node.role !== "client") return;
  const needed = ["cores", "cpuMhz", "memoryMb"] as const;
  if (!node.hardware) {
    error(`${at}.hardware`, `received nothing, expected hardware with ${needed.join(", ")}: capacity checks of the jobs need them`, node.hostname);
    return;
  }
  for (const field of needed) {
    if (node.hardware[field] === undefined) {
      error(`${at}.hardware.${field}`, `received nothing, expected a positive integer: capacity checks of the jobs need it`, node.hostname);
    }
  }
}
