import { JobDefinition } from "./job-definition";

export const NODE_EXPORTER_PORT = 9100;

/** Host metrics from every client: a system job on the host network and the host's root read-only. */
export const nodeExporter: JobDefinition = {
  id: "node-exporter",
  props: () => ({
    type: "system",
    image: "prom/node-exporter:v1.8.2",
    networkMode: "host",
    cpuMhz: 50,
    memoryMb: 64,
    ports: [{ label: "metrics", static: NODE_EXPORTER_PORT }],
    args: ["--path.rootfs=/host"],
    driverConfig: { pid_mode: "host", volumes: ["/:/host:ro,rslave"] },
    checks: [{ type: "http", port: "metrics", path: "/metrics" }],
  }),
};
