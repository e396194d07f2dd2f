import { TerraformOutput } from "cdktf";
import { Construct } from "constructs";
import { consulEndpoint, nomadEndpoint } from "../nodes";
import { Cluster } from "./cluster/cluster";
import { Netboot } from "./netboot/netboot";
import { escapeTerraformTemplate } from "./services/nomad-service";
import { Services } from "./services/services";

export interface ClusterOutputsProps {
  readonly cluster: Cluster;
  readonly netboot: Netboot;
  readonly services: Services;
}

/**
 * What an operator asks after a deploy, as Terraform outputs (`terraform output -json`,
 * read by `ely status`): the endpoints, the build each netbooted node boots, the jobs, and
 * the accessor ids of the tokens Ely created. Never a secret: accessor ids name tokens
 * without granting anything.
 *
 * Output names (a public contract): consul_address, nomad_address, node_image_builds,
 * jobs, consul_agent_token_accessors, nomad_consul_token_accessors.
 */
export class ClusterOutputs extends Construct {
  constructor(scope: Construct, id: string, props: ClusterOutputsProps) {
    super(scope, id);
    const output = (name: string, value: unknown, description: string) =>
      new TerraformOutput(this, name, { value, description, staticId: true });
    const { cluster, netboot, services } = props;
    output("consul_address", consulEndpoint(cluster.inventory), "Consul's HTTP(S) address the plan talks to");
    output("nomad_address", nomadEndpoint(cluster.inventory), "Nomad's HTTP(S) address the plan talks to");
    output(
      "node_image_builds",
      Object.fromEntries(netboot.entries.map((e) => [e.hostname, { image: e.imageKey, build_id: e.buildId, channel: e.channel }])),
      "Per netbooted node: the image and build it boots next, and its channel",
    );
    output(
      "jobs",
      Object.fromEntries(
        // Job props are free strings: Terraform must read them as text, not as templates.
        services.services.map((s) => [
          s.name,
          { type: escapeTerraformTemplate(s.type), ...(s.type === "system" ? {} : { count: s.count }), ...(s.props.image ? { image: escapeTerraformTemplate(s.props.image) } : {}) },
        ]),
      ),
      "The service jobs Ely registers: type, count and image",
    );
    if (cluster.consulAcl) {
      output(
        "consul_agent_token_accessors",
        Object.fromEntries([...cluster.consulAcl.agentTokens].map(([host, token]) => [host, token.accessorId])),
        "Accessor id of each node's Consul agent token (not the secret)",
      );
      output(
        "nomad_consul_token_accessors",
        { server: cluster.consulAcl.nomadServerToken.accessorId, client: cluster.consulAcl.nomadClientToken.accessorId },
        "Accessor ids of the Consul tokens of Nomad's servers and clients (not the secrets)",
      );
    }
  }
}
