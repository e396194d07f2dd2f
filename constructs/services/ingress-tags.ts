/**
 * Traefik's consulCatalog tags for a service exposed through the ingress: a router on
 * the websecure entrypoint with an ACME certificate. Derived from `expose`, never written by hand.
 */
import { CERT_RESOLVER, INGRESS_ENTRYPOINT } from "../../jobs/ingress";
import { Exposure } from "../../jobs/service-props";


export function ingressTags(router: string, expose: Exposure): string[] {
  const rule = expose.path ? `Host(\`${expose.host}\`) && PathPrefix(\`${expose.path}\`)` : `Host(\`${expose.host}\`)`;
  return [
    "traefik.enable=true",
    `traefik.http.routers.${router}.rule=${rule}`,
    `traefik.http.routers.${router}.entrypoints=${INGRESS_ENTRYPOINT}`,
    `traefik.http.routers.${router}.tls=true`,
    `traefik.http.routers.${router}.tls.certresolver=${CERT_RESOLVER}`,
  ];
}
