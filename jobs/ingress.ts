/** The ingress's names, shared by the traefik job (which defines them) and the route tags of every exposed job. */
export const INGRESS_ENTRYPOINT = "websecure";
export const CERT_RESOLVER = "letsencrypt";
