import { NomadServiceProps } from "./service-props";
import { Inventory } from "../nodes";

/**
 * A service of the cluster: its construct id (the job's contract) and its typed props,
 * derived from the inventory where the service depends on it (domains, nodes).
 */
export interface JobDefinition {
  readonly id: string;
  readonly props: (inventory: Inventory) => NomadServiceProps;
}

/**
 * consul-template reading a key of the job's own Nomad variable (nomad/jobs/<job>):
 * secrets stay in Nomad, out of the job JSON, the plan and the repo.
 * Put them with: nomad var put nomad/jobs/<job> <key>=<value>
 */
export function jobSecret(job: string, key: string): string {
  return `{{ with nomadVar "nomad/jobs/${job}" }}{{ .${key} }}{{ end }}`;
}
