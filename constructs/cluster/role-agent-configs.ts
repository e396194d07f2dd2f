/**
 * What each role adds to the agents' base configuration (consul-agent-config.ts,
 * nomad-agent-config.ts), and the one call that renders every node's agent files:
 *   Consul: servers (bootstrap_expect, TLS certificates, auto_encrypt for the clients) and
 *           client agents (every other node; certificates from the servers by auto_encrypt);
 *   Nomad:  servers (bootstrap_expect, retry_join over serf) and clients (drivers, host
 *           volumes, node_class and meta from the hardware).
 * Pure functions: they create no resource, so they are not constructs.
 */
import { hardwareMeta, Inventory, InventoryNode, nodeClassOf, NOMAD_RPC_PORT, NOMAD_SERF_PORT, serversOf } from "../../nodes";
import { CONSUL_CONFIG_FILE, NOMAD_CONFIG_FILE, tlsFilesOf } from "../../nodes/agent-paths";
import { ClusterNode } from "./cluster-node";
import { AgentConfig, consulBaseConfig } from "./consul-agent-config";
import { nomadBaseConfig } from "./nomad-agent-config";

/** consul.json of a server; `servers` are all the cluster's servers (bootstrap_expect is their count). */
export function consulServerConfig(inventory: Inventory, node: InventoryNode, servers: readonly InventoryNode[]): AgentConfig {
  const { security } = inventory;
  const config = consulBaseConfig(inventory, node);
  config.server = true;
  config.bootstrap_expect = servers.length;
  config.ui_config = { enabled: true };
  if (security.tls) {
    const tls = tlsFilesOf(security.secretsDir, "consul");
    const base = config.tls as { defaults: Record<string, unknown> };
    base.defaults = { ...base.defaults, cert_file: tls.certFile, key_file: tls.keyFile };
    // Servers sign the certificates of the clients (auto_encrypt): clients need only the CA.
    config.auto_encrypt = { allow_tls: true };
  }
  return config;
}

/** consul.json of a client agent (every node that is not a server). */
export function consulClientConfig(inventory: Inventory, node: InventoryNode): AgentConfig {
  const config = consulBaseConfig(inventory, node);
  config.server = false;
  if (inventory.security.tls) {
    const tls = config.tls as { defaults: Record<string, unknown> };
    // A client gets its certificate from the servers (auto_encrypt), so it cannot verify incoming with one of its own.
    tls.defaults = { ...tls.defaults, verify_incoming: false };
    config.auto_encrypt = { tls: true };
  }
  return config;
}

/** nomad.json of a server; `servers` are all the cluster's servers. */
export function nomadServerConfig(inventory: Inventory, node: InventoryNode, servers: readonly InventoryNode[]): AgentConfig {
  const config = nomadBaseConfig(inventory, node);
  // The gossip key ("encrypt") arrives in secrets.json.
  config.server = {
    enabled: true,
    bootstrap_expect: servers.length,
    server_join: { retry_join: servers.map((s) => `${s.ip}:${NOMAD_SERF_PORT}`) },
  };
  return config;
}

/**
 * Nomad's fingerprinters of cloud platforms (AWS, GCE, Azure, DigitalOcean). Each asks its metadata
 * address (169.254.169.254) in turn and, on a LAN whose router drops that traffic, waits out a 2 s
 * timeout first: 10.8-11.4 s before a home-lab client could register in the cluster suite's boots,
 * with nothing learned (BENCHMARKS.md). Clients skip
 * them; a node that does run in a cloud puts them back with its agent overrides
 * (`agentOverrides.nomad.client.options`).
 */
export const CLOUD_FINGERPRINTERS = ["env_aws", "env_gce", "env_azure", "env_digitalocean"] as const;

/**
 * nomad.json of a client: the docker driver (volumes enabled), host volumes, node_class and meta
 * from the hardware; no cloud fingerprinters (CLOUD_FINGERPRINTERS); the exec driver only when the
 * node lists it.
 */
export function nomadClientConfig(inventory: Inventory, node: InventoryNode, servers: readonly InventoryNode[]): AgentConfig {
  const config = nomadBaseConfig(inventory, node);
  config.client = {
    enabled: true,
    server_join: { retry_join: servers.map((s) => `${s.ip}:${NOMAD_RPC_PORT}`) },
    node_class: nodeClassOf(node),
    meta: { ...hardwareMeta(node), ...node.meta },
    // Nomad's JSON config reads labelled blocks reliably only as a list of { label: body }.
    host_volume: node.hostVolumes.map((v) => ({ [v.name]: { path: v.path, read_only: v.readOnly } })),
  };
  const plugin: Record<string, unknown> = {};
  if (node.drivers.includes("docker")) plugin.docker = { config: { volumes: [{ enabled: true }], allow_privileged: false } };
  if (node.drivers.includes("raw_exec")) plugin.raw_exec = { config: { enabled: true } };
  const options: Record<string, string> = { "fingerprint.denylist": CLOUD_FINGERPRINTERS.join(",") };
  if (!node.drivers.includes("exec")) options["driver.denylist"] = "exec";
  (config.client as Record<string, unknown>).options = options;
  config.plugin = plugin;
  return config;
}

/**
 * Renders the agent files of the given nodes: Consul on every node (server or client agent),
 * Nomad on servers and clients (the util node runs no Nomad). Every agent joins the
 * inventory's servers (serversOf, the same list Consul's retry_join takes).
 */
export function addAgentConfigs(inventory: Inventory, nodes: readonly ClusterNode[]): void {
  const servers = serversOf(inventory);
  for (const node of nodes) {
    if (node.role === "server") {
      node.addAgentConfig(CONSUL_CONFIG_FILE, consulServerConfig(inventory, node.spec, servers));
      node.addAgentConfig(NOMAD_CONFIG_FILE, nomadServerConfig(inventory, node.spec, servers));
    } else {
      node.addAgentConfig(CONSUL_CONFIG_FILE, consulClientConfig(inventory, node.spec));
      if (node.role === "client") node.addAgentConfig(NOMAD_CONFIG_FILE, nomadClientConfig(inventory, node.spec, servers));
    }
  }
}
