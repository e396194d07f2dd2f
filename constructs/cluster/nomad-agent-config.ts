/**
 * Rendering of a Nomad agent's JSON configuration (Nomad reads JSON natively).
 * The role functions (role-agent-configs.ts) add their block to this base.
 */
import { CONSUL_HTTP_PORT, Inventory, InventoryNode } from "../../nodes";
import { NOMAD_DATA_DIR, tlsFilesOf } from "../../nodes/agent-paths";
import { AgentConfig } from "./consul-agent-config";

export function nomadBaseConfig(inventory: Inventory, node: InventoryNode): AgentConfig {
  const { security } = inventory;
  const config: AgentConfig = {
    name: node.hostname,
    region: inventory.region,
    datacenter: inventory.datacenter,
    data_dir: NOMAD_DATA_DIR,
    bind_addr: node.ip,
    advertise: { http: node.ip, rpc: node.ip, serf: node.ip },
    log_level: "INFO",
    // The local Consul agent, on loopback plain HTTP; its token arrives in secrets.json.
    consul: { address: `127.0.0.1:${CONSUL_HTTP_PORT}`, auto_advertise: true },
    telemetry: {
      prometheus_metrics: true,
      publish_allocation_metrics: true,
      publish_node_metrics: true,
      collection_interval: "10s",
      disable_hostname: true,
    },
  };
  if (security.acl) config.acl = { enabled: true };
  if (security.tls) {
    const tls = tlsFilesOf(security.secretsDir, "nomad");
    config.tls = {
      http: true,
      rpc: true,
      ca_file: tls.caFile,
      cert_file: tls.certFile,
      key_file: tls.keyFile,
      verify_server_hostname: true,
      verify_https_client: false,
    };
  }
  return config;
}
