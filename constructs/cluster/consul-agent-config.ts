/**
 * Rendering of a Consul agent's JSON configuration (Consul reads JSON natively).
 * Servers and clients share the base; the role functions (role-agent-configs.ts) add their part.
 */
import { Inventory, InventoryNode, serversOf, CONSUL_HTTP_PORT, CONSUL_HTTPS_PORT } from "../../nodes";
import { CONSUL_DATA_DIR, tlsFilesOf } from "../../nodes/agent-paths";

export type AgentConfig = Record<string, unknown>;

export function consulBaseConfig(inventory: Inventory, node: InventoryNode): AgentConfig {
  const { security, network } = inventory;
  const config: AgentConfig = {
    datacenter: inventory.datacenter,
    node_name: node.hostname,
    data_dir: CONSUL_DATA_DIR,
    bind_addr: node.ip,
    advertise_addr: node.ip,
    client_addr: "0.0.0.0",
    retry_join: serversOf(inventory).map((s) => s.ip),
    recursors: network.dnsServers ?? [network.gateway],
    log_level: "INFO",
    telemetry: { prometheus_retention_time: "60s", disable_hostname: true },
  };
  if (security.gossipEncryption) {
    // The key itself ("encrypt") arrives in secrets.json.
    config.encrypt_verify_incoming = true;
    config.encrypt_verify_outgoing = true;
  }
  if (security.acl) {
    config.acl = { enabled: true, default_policy: "deny", down_policy: "extend-cache", enable_token_persistence: true };
  }
  if (security.tls) {
    const tls = tlsFilesOf(security.secretsDir, "consul");
    config.tls = {
      defaults: { ca_file: tls.caFile, verify_incoming: true, verify_outgoing: true },
      internal_rpc: { verify_server_hostname: true },
      // Browsers and the Terraform provider reach HTTPS without a client certificate.
      https: { verify_incoming: false },
    };
    // Plain HTTP stays on loopback for local tools; HTTPS serves the network.
    config.addresses = { http: "127.0.0.1" };
    config.ports = { http: CONSUL_HTTP_PORT, https: CONSUL_HTTPS_PORT };
  } else {
    config.ports = { http: CONSUL_HTTP_PORT };
  }
  return config;
}
