import { JobDefinition } from "./job-definition";

/** The smoke test: three tiny replicas that echo the request. */
export const whoami: JobDefinition = {
  id: "whoami",
  props: (inventory) => ({
    image: "traefik/whoami:v1.10.3",
    count: 3,
    cpuMhz: 50,
    memoryMb: 32,
    ports: [{ label: "http", to: 80 }],
    checks: [{ type: "http", port: "http", path: "/health" }],
    spreadOverNodes: true,
    expose: { host: `whoami.${inventory.network.servicesDomain}` },
  }),
};
