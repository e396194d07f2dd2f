/** Facts derived from the inventory that several constructs need. */
import * as ipaddr from "ipaddr.js";
import { BootMode, Inventory, InventoryNode, ROLES } from "./schema";

export const CONSUL_HTTP_PORT = 8500;
export const CONSUL_HTTPS_PORT = 8501;
export const NOMAD_HTTP_PORT = 4646;
export const NOMAD_RPC_PORT = 4647;
/** Nomad's serf (gossip) port, which servers join each other on. */
export const NOMAD_SERF_PORT = 4648;

/** Clients netboot (cattle); servers and util are pets managed over ssh until they netboot too. */
export function bootModeOf(node: InventoryNode): BootMode {
  return node.boot ?? (node.role === "client" ? "netboot" : "ssh");
}

/**
 * The inventory with its nodes in one canonical order, role (util, servers, clients) then
 * hostname: whatever follows "the first server" or list order (provider endpoints, the
 * rollout's order, the metadata, the boot service) does not change when the file's nodes
 * are reordered. Validation messages index the nodes as written, so validate the original.
 */
export function inCanonicalOrder(inventory: Inventory): Inventory {
  const rank = (n: InventoryNode) => (ROLES as readonly string[]).indexOf(n.role);
  const nodes = inventory.nodes
    .map((node, index) => ({ node, index }))
    .sort((a, b) => rank(a.node) - rank(b.node) || (a.node.hostname < b.node.hostname ? -1 : a.node.hostname > b.node.hostname ? 1 : a.index - b.index))
    .map((e) => e.node);
  return { ...inventory, nodes };
}

/** The util node (netboot and NFS host), the first in canonical order; undefined when the inventory has none. */
export function utilNodeOf(inventory: Inventory): InventoryNode | undefined {
  return inventory.nodes.find((n) => n.role === "util");
}

export function serversOf(inventory: Inventory): InventoryNode[] {
  return inventory.nodes.filter((n) => n.role === "server");
}

export function clientsOf(inventory: Inventory): InventoryNode[] {
  return inventory.nodes.filter((n) => n.role === "client");
}

/** Consul's HTTP address for the Terraform provider. */
export function consulEndpoint(inventory: Inventory): string {
  if (inventory.endpoints.consul) return inventory.endpoints.consul;
  const first = serversOf(inventory)[0] ?? inventory.nodes[0];
  return inventory.security.tls ? `https://${first.ip}:${CONSUL_HTTPS_PORT}` : `http://${first.ip}:${CONSUL_HTTP_PORT}`;
}

/** Nomad's HTTP address for the Terraform provider. */
export function nomadEndpoint(inventory: Inventory): string {
  if (inventory.endpoints.nomad) return inventory.endpoints.nomad;
  const first = serversOf(inventory)[0] ?? inventory.nodes[0];
  return `${inventory.security.tls ? "https" : "http"}://${first.ip}:${NOMAD_HTTP_PORT}`;
}

/** "ODROID H2" -> "odroid-h2": the Nomad node_class of a client. */
export function nodeClassOf(node: InventoryNode): string {
  const model = node.hardware?.model ?? "unknown";
  return model.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

/** A client's schedulable capacity, as Nomad fingerprints it. */
export interface Capacity {
  readonly cpuMhz: number;
  readonly memoryMb: number;
}

export function capacityOf(node: InventoryNode): Capacity {
  const hw = node.hardware;
  return { cpuMhz: (hw?.cores ?? 0) * (hw?.cpuMhz ?? 0), memoryMb: hw?.memoryMb ?? 0 };
}

export function fqdnOf(inventory: Inventory, node: InventoryNode): string {
  return `${node.hostname}.${inventory.network.internalDomain}`;
}

/** "https://10.25.89.10:8501" -> { scheme: "https", host: "10.25.89.10:8501" }; tolerant of bad input (validation reports it). */
export function splitEndpoint(endpoint: string): { scheme: string; host: string } {
  const match = /^([a-z]+):\/\/([^/]+)/i.exec(endpoint);
  return match ? { scheme: match[1].toLowerCase(), host: match[2] } : { scheme: "http", host: endpoint };
}

/** Nomad client meta derived from the inventory hardware (strings, as Nomad requires). */
export function hardwareMeta(node: InventoryNode): Record<string, string> {
  const hw = node.hardware;
  const meta: Record<string, string> = { arch: node.arch };
  if (!hw) return meta;
  meta.model = hw.model;
  if (hw.cores !== undefined) meta.cores = String(hw.cores);
  if (hw.memoryMb !== undefined) meta.memory_mb = String(hw.memoryMb);
  const kinds = [...new Set(hw.disks.map((d) => d.kind))].sort();
  if (kinds.length > 0) meta.disk_kinds = kinds.join(",");
  const totalGb = hw.disks.reduce((sum, d) => sum + d.sizeGb, 0);
  if (totalGb > 0) meta.disk_gb = String(totalGb);
  return meta;
}

/** Default ssh user and port of a node managed over ssh (the inventory's `ssh` field overrides them). */
export const DEFAULT_SSH_USER = "root";
export const DEFAULT_SSH_PORT = 22;

/** Where and as whom ssh reaches a node: the inventory's `ssh` field, else root on port 22. */
export function sshTargetOf(node: InventoryNode): { user: string; port: number } {
  return { user: node.ssh?.user ?? DEFAULT_SSH_USER, port: node.ssh?.port ?? DEFAULT_SSH_PORT };
}

/** "10.25.89.0/24" -> ["10.25.89.0", "255.255.255.0"] (a valid CIDR; the inventory's subnet is checked when it loads). */
export function networkAndMask(cidr: string): [string, string] {
  const [, bits] = ipaddr.IPv4.parseCIDR(cidr);
  return [ipaddr.IPv4.networkAddressFromCIDR(cidr).toString(), ipaddr.IPv4.subnetMaskFromPrefixLength(bits).toString()];
}
