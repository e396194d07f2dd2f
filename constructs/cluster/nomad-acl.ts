import { Construct } from "constructs";
import { AclPolicy } from "@cdktf/provider-nomad/lib/acl-policy";

/**
 * Nomad ACL policies for the people who run the cluster: "operator" (deploy and manage
 * jobs, read nodes and agents) and "read-only" (dashboards, on-call look-ups).
 */
export class NomadAcl extends Construct {
  readonly operatorPolicy: AclPolicy;
  readonly readOnlyPolicy: AclPolicy;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.operatorPolicy = new AclPolicy(this, "operator-policy", {
      name: "operator",
      description: "Deploy and manage jobs; read nodes, agents and the operator API.",
      rulesHcl: [
        'namespace "*" {',
        '  policy = "write"',
        "}",
        'node { policy = "read" }',
        'agent { policy = "read" }',
        'operator { policy = "read" }',
        'quota { policy = "read" }',
        'host_volume "*" { policy = "write" }',
        "",
      ].join("\n"),
    });
    this.readOnlyPolicy = new AclPolicy(this, "read-only-policy", {
      name: "read-only",
      description: "Read jobs, allocations, nodes and agents.",
      rulesHcl: [
        'namespace "*" {',
        '  policy = "read"',
        "}",
        'node { policy = "read" }',
        'agent { policy = "read" }',
        'operator { policy = "read" }',
        "",
      ].join("\n"),
    });
  }
}
