import { ddns } from "./ddns";
import { gitea } from "./gitea";
import { JobDefinition } from "./job-definition";
import { kyleondyWeb } from "./kyleondy-web";
import { nodeExporter } from "./node-exporter";
import { prometheus } from "./prometheus";
import { registry } from "./registry";
import { traefik } from "./traefik";
import { whoami } from "./whoami";

/** Every service of the cluster, in the order they are declared. */
export const ALL_JOBS: readonly JobDefinition[] = [traefik, kyleondyWeb, gitea, registry, prometheus, nodeExporter, whoami, ddns];
