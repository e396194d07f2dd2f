import { clientsOf, CONSUL_HTTP_PORT, CONSUL_HTTPS_PORT, Inventory, NOMAD_HTTP_PORT } from "../nodes";
import { JobDefinition, jobSecret } from "./job-definition";
import { NODE_EXPORTER_PORT } from "./node-exporter";

/**
 * The scrape configuration: the Nomad and Consul metrics endpoints of every agent node of
 * the inventory, and node-exporter on every client (the original had no targets at all).
 */
export function scrapeConfig(inventory: Inventory): string {
  const agents = inventory.nodes;
  const nomadNodes = agents.filter((n) => n.role !== "util");
  const tls = inventory.security.tls;
  const tlsConfig = tls ? { tls_config: { ca_file: "/local/ca.pem" } } : {};
  const config = {
    global: { scrape_interval: "30s", evaluation_interval: "30s" },
    scrape_configs: [
      {
        job_name: "nomad",
        metrics_path: "/v1/metrics",
        params: { format: ["prometheus"] },
        scheme: tls ? "https" : "http",
        ...tlsConfig,
        static_configs: [{ targets: nomadNodes.map((n) => `${n.ip}:${NOMAD_HTTP_PORT}`) }],
      },
      {
        job_name: "consul",
        metrics_path: "/v1/agent/metrics",
        params: { format: ["prometheus"] },
        scheme: tls ? "https" : "http",
        ...tlsConfig,
        authorization: { credentials_file: "/secrets/consul_token" },
        static_configs: [{ targets: agents.map((n) => `${n.ip}:${tls ? CONSUL_HTTPS_PORT : CONSUL_HTTP_PORT}`) }],
      },
      {
        job_name: "node-exporter",
        static_configs: [{ targets: clientsOf(inventory).map((n) => `${n.ip}:${NODE_EXPORTER_PORT}`) }],
      },
    ],
  };
  // JSON is YAML: Prometheus reads it as its configuration file.
  return JSON.stringify(config, null, 2) + "\n";
}

/** Prometheus with real targets, its TSDB on persistent storage. */
export const prometheus: JobDefinition = {
  id: "prometheus",
  props: (inventory) => ({
    image: "prom/prometheus:v2.53.2",
    cpuMhz: 500,
    memoryMb: 1024,
    ports: [{ label: "http", to: 9090 }],
    args: ["--config.file=/local/prometheus.yml", "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=30d"],
    templates: [
      // Literal text: the scrape configuration has no template actions.
      { destination: "local/prometheus.yml", data: scrapeConfig(inventory), changeMode: "signal" },
      { destination: "secrets/consul_token", data: jobSecret("prometheus", "consul_token") + "\n" },
      ...(inventory.security.tls ? [{ destination: "local/ca.pem", data: jobSecret("prometheus", "ca_pem") + "\n" }] : []),
    ],
    stateful: true,
    volumes: [{ kind: "host", source: "prometheus-data", destination: "/prometheus" }],
    checks: [{ type: "http", port: "http", path: "/-/healthy" }],
    update: { maxParallel: 1, autoRevert: true },
    expose: { host: `prometheus.${inventory.network.servicesDomain}` },
  }),
};
