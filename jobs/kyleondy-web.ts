import { JobDefinition } from "./job-definition";

/** www.kyleondy.com: three replicas on distinct nodes, canary updates that roll back on failure. */
export const kyleondyWeb: JobDefinition = {
  id: "kyleondy-web",
  props: () => ({
    image: "kyleondy/website:latest",
    count: 3,
    cpuMhz: 100,
    memoryMb: 64,
    ports: [{ label: "web", to: 80 }],
    checks: [{ type: "http", port: "web", path: "/" }],
    spreadOverNodes: true,
    update: { canaries: 1, autoRevert: true, autoPromote: true, maxParallel: 1 },
    expose: { host: "www.kyleondy.com" },
  }),
};
