import { CERT_RESOLVER, INGRESS_ENTRYPOINT } from "./ingress";
import { consulEndpoint } from "../nodes";
import { JobDefinition, jobSecret } from "./job-definition";

/**
 * The ingress, as a Nomad system job on every client's host network (ports 80 and 443;
 * the ingress address floats between clients). Routes come from Consul's catalog, only for
 * services tagged traefik.enable=true; http redirects to https; ACME certificates (TLS-ALPN)
 * are kept on the shared traefik-acme volume so every instance and restart reuses them.
 */
export const traefik: JobDefinition = {
  id: "traefik",
  props: (inventory) => ({
    type: "system",
    image: "traefik:v2.11",
    networkMode: "host",
    cpuMhz: 200,
    memoryMb: 256,
    ports: [
      { label: "web", static: 80 },
      { label: "websecure", static: 443 },
      { label: "admin", static: 8081 },
    ],
    args: [
      "--entrypoints.web.address=:80",
      `--entrypoints.web.http.redirections.entrypoint.to=${INGRESS_ENTRYPOINT}`,
      "--entrypoints.web.http.redirections.entrypoint.scheme=https",
      `--entrypoints.${INGRESS_ENTRYPOINT}.address=:443`,
      "--entrypoints.admin.address=:8081",
      "--ping=true",
      "--ping.entrypoint=admin",
      "--metrics.prometheus=true",
      "--metrics.prometheus.entrypoint=admin",
      "--providers.consulcatalog=true",
      "--providers.consulcatalog.exposedbydefault=false",
      `--providers.consulcatalog.endpoint.address=${consulEndpoint(inventory).replace(/^https?:\/\//, "")}`,
      `--providers.consulcatalog.endpoint.scheme=${inventory.security.tls ? "https" : "http"}`,
      `--certificatesresolvers.${CERT_RESOLVER}.acme.tlschallenge=true`,
      `--certificatesresolvers.${CERT_RESOLVER}.acme.storage=/acme/acme.json`,
    ],
    templates: [
      {
        // Consul token (catalog read) and ACME account e-mail, from the job's Nomad variable.
        destination: "secrets/traefik.env",
        envFile: true,
        data: [
          `TRAEFIK_PROVIDERS_CONSULCATALOG_ENDPOINT_TOKEN=${jobSecret("traefik", "consul_token")}`,
          `TRAEFIK_CERTIFICATESRESOLVERS_${CERT_RESOLVER.toUpperCase()}_ACME_EMAIL=${jobSecret("traefik", "acme_email")}`,
          "",
        ].join("\n"),
      },
    ],
    stateful: true,
    volumes: [{ kind: "host", source: "traefik-acme", destination: "/acme" }],
    checks: [{ type: "http", port: "admin", path: "/ping" }],
    update: { maxParallel: 1, autoRevert: false, minHealthySeconds: 10 },
  }),
};
