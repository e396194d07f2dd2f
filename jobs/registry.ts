import { JobDefinition, jobSecret } from "./job-definition";

/** A private Docker registry with htpasswd auth (from the job's Nomad variable) and persistent data. */
export const registry: JobDefinition = {
  id: "registry",
  props: (inventory) => ({
    image: "registry:2.8.3",
    cpuMhz: 200,
    memoryMb: 256,
    ports: [{ label: "http", to: 5000 }],
    env: {
      REGISTRY_AUTH: "htpasswd",
      REGISTRY_AUTH_HTPASSWD_REALM: "Registry",
      REGISTRY_AUTH_HTPASSWD_PATH: "/secrets/htpasswd",
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: "/var/lib/registry",
    },
    templates: [{ destination: "secrets/htpasswd", data: jobSecret("registry", "htpasswd") + "\n" }],
    stateful: true,
    volumes: [{ kind: "host", source: "registry-data", destination: "/var/lib/registry" }],
    checks: [{ type: "tcp", port: "http" }],
    update: { maxParallel: 1, autoRevert: true },
    expose: { host: `registry.${inventory.network.servicesDomain}` },
  }),
};
