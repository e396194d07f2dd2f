import { Fn, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { AgentSource, agentSourceFromEnv, formatAgentSource } from "../../images/agents";
import { Inventory, sshTargetOf } from "../../nodes";
import { AgentConfigBundle } from "../cluster/agent-config-bundle";
import { CONSUL_CONFIG_FILE, NOMAD_CONFIG_FILE } from "../../nodes/agent-paths";
import { ClusterNode } from "../cluster/cluster-node";
import { projectProgram } from "../project-program";
import { SSH_UNATTENDED_OPTIONS, withSshTimeouts } from "../../nodes/network-timeouts";
import { agentsHash, SecretFeatures, sha256, SSH_LAYOUT_VERSION, unitOf } from "./ssh-node-layout";
import { shellQuote } from "../shell-quote";
import { addChecks } from "../checks";
import { problem, Problem } from "../../nodes/problems";

/** Default bound of each server's health gate. */
export const DEFAULT_HEALTH_TIMEOUT_SECONDS = 300;
/**
 * Default ssh client options. accept-new trusts a node's host key at first contact (a freshly
 * flashed card) and refuses a changed one; pin keys in known_hosts for stricter checking.
 */
export const DEFAULT_SSH_OPTIONS: readonly string[] = [...SSH_UNATTENDED_OPTIONS, "StrictHostKeyChecking=accept-new"];

/** Names of the sensitive variables the rollout creates for what its props leave out. */
export const ROLLOUT_VARIABLES = {
  consulGossipKey: "consul_gossip_key",
  nomadGossipKey: "nomad_gossip_key",
  tlsCaCert: "tls_ca_cert",
  serverTls: "server_tls",
  consulAgentTokens: "consul_agent_tokens",
  nomadConsulToken: "nomad_server_consul_token",
} as const;

export interface ServerRolloutProps {
  /** The cluster's inventory: agent versions, security settings, datacenter and region. */
  readonly inventory: Inventory;
  /**
   * The servers, in rollout order (Cluster.servers: the inventory's order). Those with boot
   * mode "ssh" get steps; the others are left out of the rollout.
   */
  readonly nodes: readonly ClusterNode[];
  /** The rendered agent configuration (Cluster.agentConfigs): the steps validate and push its files. */
  readonly agentConfigs: AgentConfigBundle;
  /**
   * Consul operator token, as a Terraform expression (ClusterProviders.consulToken.stringValue).
   * The health gate lists the Raft peers with it, and a fresh cluster gets it as its ACL
   * initial management token. Required when security.acl is on. Default: none.
   */
  readonly consulToken?: string;
  /**
   * Nomad operator token, as a Terraform expression (ClusterProviders.nomadToken.stringValue).
   * The health gate lists the Raft peers with it; on a cluster whose Nomad ACLs were never
   * bootstrapped, it becomes the bootstrap token. Required when security.acl is on. Default: none.
   */
  readonly nomadToken?: string;
  /** Consul gossip key (base64, `consul keygen`). Default: the sensitive variable consul_gossip_key. */
  readonly consulGossipKey?: string;
  /** Nomad gossip key (base64, `nomad operator gossip keyring generate`). Default: the sensitive variable nomad_gossip_key. */
  readonly nomadGossipKey?: string;
  /** PEM of the CA of the agents' certificates. Default: the sensitive variable tls_ca_cert. */
  readonly tlsCaCert?: string;
  /**
   * Map hostname -> { consul_cert, consul_key, nomad_cert, nomad_key } (PEM), as a Terraform
   * expression. Certificates must name server.<datacenter>.consul and server.<region>.nomad.
   * Default: the sensitive variable server_tls.
   */
  readonly serverTls?: string;
  /** Map hostname -> Consul agent token. Default: the sensitive variable consul_agent_tokens (default {}: no agent token). Ignored when `agentTokens` is given. */
  readonly consulAgentTokens?: string;
  /**
   * Each server's Consul agent token as the plan itself creates it (ConsulAcl's tokens, read by
   * consul_acl_token_secret_id): hostname -> Terraform expression. When given, a step per server
   * (<hostname>/agent-token) gives the running agent its token through Consul's API once the
   * servers are up, and no consul_agent_tokens variable exists. Default: none (the variable).
   */
  readonly agentTokens?: ReadonlyMap<string, string>;
  /** The token Nomad servers use with Consul. Default: the sensitive variable nomad_server_consul_token (default "": none). Ignored when `nomadServerConsulToken` is given. */
  readonly nomadConsulToken?: string;
  /**
   * The Nomad servers' Consul token as the plan itself creates it (ConsulAcl's nomad-server token, read by
   * consul_acl_token_secret_id), as a Terraform expression. When given, a step per server
   * (<hostname>/nomad-consul-token), after the servers are up and one server at a time, gives Nomad
   * that token and restarts it behind the quorum gate, and no nomad_server_consul_token variable
   * exists. Default: none (the variable).
   */
  readonly nomadServerConsulToken?: string;
  /**
   * Where the Consul and Nomad binaries come from. Default: the environment at synth and at
   * apply ($ELY_AGENT_SOURCE=official: HashiCorp's release archives checked against their
   * SHA256SUMS; else the directory $ELY_AGENT_BIN_DIR or ~/.cache/ely/bin).
   */
  readonly agentSource?: AgentSource;
  /**
   * Bound of the wait for each agent to be healthy and a Raft voter after its restart (and after
   * a rollback's), in seconds; the quorum gate before a restart waits up to the smaller of this and
   * 60 s for the cluster to tolerate it. Default: 300.
   */
  readonly healthTimeoutSeconds?: number;
  /** ssh -o options of every step. Default: DEFAULT_SSH_OPTIONS. The connection bounds (SSH_TIMEOUT_OPTIONS) are added to those they leave out. */
  readonly sshOptions?: readonly string[];
  /** The step program. Default: "node <checkout>/dist/cli/server-step.js", the checkout being $ELY_PROJECT_DIR or the git work tree Terraform runs in. */
  readonly stepCommand?: string;
}

/** The steps of one server. */
export interface ServerSteps {
  readonly hostname: string;
  /** 1-based position in the rollout. */
  readonly position: number;
  /** Writes the node's secrets (its local-exec output is suppressed by Terraform: it holds sensitive values). */
  readonly secrets: Resource;
  /** Pushes binaries, configuration and units, restarts what changed, waits for health. */
  readonly update: Resource;
  /** Gives the server's Consul agent the token the plan created for it (with ServerRolloutProps.agentTokens). */
  readonly agentToken?: Resource;
  /** Gives the server's Nomad the Consul token the plan created for the Nomad servers (with ServerRolloutProps.nomadServerConsulToken). */
  readonly nomadConsulToken?: Resource;
}

/**
 * Bootstraps and updates the servers managed over ssh, one at a time: validation of every
 * server's rendered configuration first, then for each server in order its secrets step and
 * its update step, the next server's steps depending on the previous server's update, which
 * ends only once the server's Consul and Nomad are healthy and it is a Raft voter again.
 * Before a step replaces a file that restarts an agent, its quorum gate (cli/quorum-gate.ts)
 * requires that the cluster tolerates losing the server; a server whose new agent does not come
 * up healthy is rolled back to its previous files (cli/server-step.ts).
 *
 * Triggers are content hashes of what each step pushes: an unchanged node plans nothing.
 * Secrets come from sensitive variables through the local-exec environment: none is in the
 * synthesized configuration, on a command line, or in the output.
 *
 * Construct ids (a public contract): validate, <hostname>/secrets, <hostname>/update,
 * <hostname>/agent-token (with agentTokens), <hostname>/nomad-consul-token (with nomadServerConsulToken).
 */
export class ServerRollout extends Construct {
  /** The servers the rollout updates, in order. */
  readonly servers: readonly ClusterNode[];
  readonly validation?: Resource;
  readonly steps: readonly ServerSteps[];
  /** Sensitive variables created for secrets the props left out, by name. */
  readonly variables: ReadonlyMap<string, TerraformVariable>;
  readonly features: SecretFeatures;

  constructor(scope: Construct, id: string, props: ServerRolloutProps) {
    super(scope, id);
    const { inventory } = props;
    this.features = {
      gossip: inventory.security.gossipEncryption,
      tls: inventory.security.tls,
      acl: inventory.security.acl,
    };
    // A server listed twice is reported by validation; only its first entry gets steps.
    this.servers = props.nodes.filter((n, i) => n.bootMode === "ssh" && n.role === "server" && props.nodes.findIndex((m) => m.hostname === n.hostname) === i);
    const timeout = props.healthTimeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS;
    const sshOptions = props.sshOptions ?? DEFAULT_SSH_OPTIONS;
    addChecks(this, () => this.check(props, timeout, sshOptions));

    const variables = new Map<string, TerraformVariable>();
    this.variables = variables;
    if (this.servers.length === 0) {
      this.steps = [];
      return;
    }

    const secret = (name: string, description: string, type = "string", extra: Partial<ConstructorParameters<typeof TerraformVariable>[2]> = {}) => {
      const v = new TerraformVariable(this, name, { type, sensitive: true, description, ...extra });
      v.overrideLogicalId(name);
      variables.set(name, v);
      return v;
    };
    const hostnames = this.servers.map((n) => n.hostname);
    const f = this.features;
    const consulGossipKey = f.gossip
      ? props.consulGossipKey ?? secret(ROLLOUT_VARIABLES.consulGossipKey, "Consul gossip encryption key (base64 of 32 bytes: `consul keygen`).").stringValue
      : undefined;
    const nomadGossipKey = f.gossip
      ? props.nomadGossipKey ?? secret(ROLLOUT_VARIABLES.nomadGossipKey, "Nomad gossip encryption key (base64 of 32 bytes: `nomad operator gossip keyring generate`).").stringValue
      : undefined;
    const tlsCa = f.tls ? props.tlsCaCert ?? secret(ROLLOUT_VARIABLES.tlsCaCert, "PEM of the CA that signed the Consul and Nomad agents' certificates.").stringValue : undefined;
    const serverTls = f.tls
      ? props.serverTls ??
        secret(
          ROLLOUT_VARIABLES.serverTls,
          "Per server updated over ssh: { consul_cert, consul_key, nomad_cert, nomad_key } (PEM). Certificates name server.<datacenter>.consul and server.<region>.nomad.",
          "map(object({ consul_cert = string, consul_key = string, nomad_cert = string, nomad_key = string }))",
          {
            validation: [
              {
                condition: `\${alltrue([for h in ${JSON.stringify(hostnames)} : contains(keys(var.${ROLLOUT_VARIABLES.serverTls}), h)])}`,
                errorMessage: `server_tls needs an entry for each server updated over ssh: ${hostnames.join(", ")}.`,
              },
            ],
          },
        ).value
      : undefined;
    const agentTokens = f.acl && !props.agentTokens
      ? props.consulAgentTokens ??
        secret(ROLLOUT_VARIABLES.consulAgentTokens, "Consul agent token per server (hostname -> token); a server without one runs without an agent token.", "map(string)", { default: {} }).value
      : undefined;
    const nomadConsulToken = f.acl && !props.nomadServerConsulToken
      ? props.nomadConsulToken ?? secret(ROLLOUT_VARIABLES.nomadConsulToken, "The Consul token of the Nomad servers (empty: none).", "string", { default: "" }).stringValue
      : undefined;

    // Found at apply time from the checkout, so that the plan does not depend on where it was made.
    const program = props.stepCommand ?? projectProgram("server-step.js", "cli");
    const source = props.agentSource ?? agentSourceFromEnv();
    const pins = props.agentSource?.kind === "official" ? Object.entries(props.agentSource.pinnedSha256 ?? {}) : [];
    const agentsFlag = props.agentSource
      ? ` --agents ${shellQuote(formatAgentSource(props.agentSource))}` + pins.map(([name, sha]) => ` --pin ${name}=${sha}`).join("")
      : "";
    const versions = { consul: inventory.versions.consul, nomad: inventory.versions.nomad };
    const configs = props.agentConfigs.path;
    const featureList = (Object.keys(f) as (keyof SecretFeatures)[]).filter((k) => f[k]).join(",");
    const featureFlag = featureList ? ` --features ${featureList}` : "";
    const unitsHash = sha256(unitOf("consul") + unitOf("nomad"));

    const validateTriggers: Record<string, string> = { layout: SSH_LAYOUT_VERSION, consul_version: versions.consul, nomad_version: versions.nomad, features: featureList };
    for (const n of this.servers) {
      validateTriggers[`${n.hostname}_consul_json`] = props.agentConfigs.fileHash(n.hostname, CONSUL_CONFIG_FILE) ?? "missing";
      validateTriggers[`${n.hostname}_nomad_json`] = props.agentConfigs.fileHash(n.hostname, NOMAD_CONFIG_FILE) ?? "missing";
    }
    this.validation = new Resource(this, "validate", {
      triggers: validateTriggers,
      provisioners: [
        {
          type: "local-exec",
          command:
            `${program} validate --configs ${shellQuote(configs)} --hosts ${hostnames.join(",")}` +
            ` --consul-version ${shellQuote(versions.consul)} --nomad-version ${shellQuote(versions.nomad)}${featureFlag}${agentsFlag}`,
        },
      ],
    });
    this.validation.addOverride("//", { description: `Ely server rollout: consul validate / nomad config validate of ${hostnames.join(", ")} before any server is touched` });

    const steps: ServerSteps[] = [];
    const servers = this.servers.map((n) => `${n.hostname}=${n.ip}`).join(",");
    const cluster = ` --servers ${servers} --datacenter ${shellQuote(inventory.datacenter)} --region ${shellQuote(inventory.region)} --timeout ${timeout}`;
    let previous: Resource | undefined;
    /** Each server's ssh target and secrets options on a step's command line. */
    const commonOf = new Map<string, string>();
    this.servers.forEach((n, i) => {
      const ssh = sshTargetOf(n.spec);
      const position = i + 1;
      const scope = new Construct(this, n.hostname);
      const common =
        ` --host ${n.hostname} --address ${n.ip} --user ${shellQuote(ssh.user)} --port ${ssh.port}` +
        withSshTimeouts(sshOptions).map((o) => ` --ssh-option ${shellQuote(o)}`).join("") +
        ` --secrets-dir ${shellQuote(inventory.security.secretsDir)}${featureFlag}`;
      commonOf.set(n.hostname, common);
      const target = `${ssh.user}@${n.ip}:${ssh.port}`;

      const environment: Record<string, string> = {};
      if (consulGossipKey) environment.ELY_SECRET_CONSUL_GOSSIP_KEY = consulGossipKey;
      if (nomadGossipKey) environment.ELY_SECRET_NOMAD_GOSSIP_KEY = nomadGossipKey;
      if (tlsCa) environment.ELY_SECRET_TLS_CA = tlsCa;
      // Fn._lookup, not Fn.lookup: lookup() drops a falsy default (null, "") and renders map[key], which fails when the key is absent.
      if (serverTls) environment.ELY_SECRET_TLS = Fn.jsonencode(Fn._lookup(serverTls, n.hostname, [null]));
      if (agentTokens) environment.ELY_SECRET_CONSUL_AGENT_TOKEN = Fn._lookup(agentTokens, n.hostname, [""]);
      if (nomadConsulToken) environment.ELY_SECRET_NOMAD_CONSUL_TOKEN = nomadConsulToken;
      if (f.acl && props.consulToken) environment.ELY_SECRET_CONSUL_TOKEN = props.consulToken;
      if (f.acl && props.nomadToken) environment.ELY_SECRET_NOMAD_TOKEN = props.nomadToken;
      const secretValues = Object.keys(environment).sort().map((k) => environment[k]);

      const secrets = new Resource(scope, "secrets", {
        // A hash of sensitive values is sensitive too: the plan shows "(sensitive value)".
        triggers: {
          target,
          secrets_dir: inventory.security.secretsDir,
          features: featureList,
          layout: SSH_LAYOUT_VERSION,
          ...(secretValues.length > 0 ? { secrets_sha256: Fn.sha256(Fn.jsonencode(secretValues)) } : {}),
        },
        dependsOn: [this.validation!, ...(previous ? [previous] : [])],
        provisioners: [
          {
            type: "local-exec",
            command: `${program} secrets${common}${cluster} --label ${shellQuote(`${n.hostname} ${position}/${this.servers.length} secrets`)}`,
            environment,
          },
        ],
      });
      secrets.addOverride("//", { description: `Ely server rollout ${position}/${this.servers.length}: secrets of ${n.hostname}${previous ? `, after ${this.servers[i - 1].hostname} is healthy` : ""}` });

      const update = new Resource(scope, "update", {
        triggers: {
          target,
          arch: n.arch,
          consul_version: versions.consul,
          nomad_version: versions.nomad,
          agents_sha256: agentsHash(source, versions, n.arch),
          consul_json_sha256: props.agentConfigs.fileHash(n.hostname, CONSUL_CONFIG_FILE) ?? "missing",
          nomad_json_sha256: props.agentConfigs.fileHash(n.hostname, NOMAD_CONFIG_FILE) ?? "missing",
          units_sha256: unitsHash,
          secrets_dir: inventory.security.secretsDir,
          features: featureList,
          layout: SSH_LAYOUT_VERSION,
          // New secrets restart the agents that read them: the secrets step's id changes when it is replaced.
          secrets_step: secrets.id,
        },
        provisioners: [
          {
            type: "local-exec",
            command:
              `${program} update${common} --arch ${n.arch} --configs ${shellQuote(configs)}` +
              ` --consul-version ${shellQuote(versions.consul)} --nomad-version ${shellQuote(versions.nomad)}${agentsFlag}` +
              ` --expect-agents ${agentsHash(source, versions, n.arch)}` +
              ` --position ${position} --count ${this.servers.length}${cluster}`,
          },
        ],
      });
      update.addOverride("//", {
        description: `Ely server rollout ${position}/${this.servers.length}: update ${n.hostname}, then wait until its Consul and Nomad are healthy and it is a Raft voter`,
      });
      const token = f.acl ? props.agentTokens?.get(n.hostname) : undefined;
      let agentToken: Resource | undefined;
      if (token) {
        const environment: Record<string, string> = { ELY_SECRET_CONSUL_AGENT_TOKEN: token };
        if (props.consulToken) environment.ELY_SECRET_CONSUL_TOKEN = props.consulToken;
        if (tlsCa) environment.ELY_SECRET_TLS_CA = tlsCa;
        agentToken = new Resource(scope, "agent-token", {
          // Again after every update: a reinstalled server has lost the token it held.
          triggers: { token_sha256: Fn.sha256(token), update_step: update.id },
          dependsOn: [update],
          provisioners: [{ type: "local-exec", command: `${program} agent-token --host ${n.hostname} --address ${n.ip}${f.tls ? " --tls" : ""}`, environment }],
        });
        agentToken.addOverride("//", { description: `Ely server rollout: the Consul agent of ${n.hostname} gets the agent token consul-acl made for it` });
      }
      steps.push({ hostname: n.hostname, position, secrets, update, agentToken });
      previous = update;
    });
    this.steps = f.acl && props.nomadServerConsulToken ? this.nomadConsulTokenSteps(steps, props.nomadServerConsulToken, program, commonOf, cluster) : steps;
  }

  /**
   * <hostname>/nomad-consul-token, one server after the other once every server is up (the token
   * exists only then): again after the server's update (a reinstalled server lost it) and when the
   * token changes. The step restarts Nomad only when the file on the node differs.
   */
  private nomadConsulTokenSteps(steps: ServerSteps[], token: string, program: string, commonOf: ReadonlyMap<string, string>, cluster: string): ServerSteps[] {
    let previous: Resource | undefined;
    return steps.map((s) => {
      const n = this.servers[s.position - 1];
      const resource = new Resource(this.node.findChild(n.hostname) as Construct, "nomad-consul-token", {
        triggers: { token_sha256: Fn.sha256(token), update_step: s.update.id },
        dependsOn: [...steps.map((x) => x.update), ...(s.agentToken ? [s.agentToken] : []), ...(previous ? [previous] : [])],
        provisioners: [
          {
            type: "local-exec",
            command:
              `${program} nomad-consul-token${commonOf.get(n.hostname)}${cluster} --label ${shellQuote(`${n.hostname} ${s.position}/${steps.length} nomad consul token`)}`,
            environment: { ELY_SECRET_NOMAD_CONSUL_TOKEN: token },
          },
        ],
      });
      resource.addOverride("//", { description: `Ely server rollout: Nomad on ${n.hostname} gets the Consul token consul-acl made for the Nomad servers (restarted behind the quorum gate when it changes)` });
      previous = resource;
      return { ...s, nomadConsulToken: resource };
    });
  }

  private check(props: ServerRolloutProps, timeout: number, sshOptions: readonly string[]): Problem[] {
    const component = "server rollout";
    const errors: Problem[] = [];
    const seen = new Set<string>();
    for (const n of props.nodes) {
      if (n.role !== "server") errors.push(problem("ELY-RLO-001", { component, node: n.hostname, field: "role" }, `received "${n.role}", expected "server" (the rollout updates servers only)`));
      if (seen.has(n.hostname)) errors.push(problem("ELY-RLO-001", { component, node: n.hostname, field: "hostname" }, "received it twice, expected each server once"));
      seen.add(n.hostname);
    }
    for (const n of this.servers) {
      const files = [...n.agentConfigs.keys()];
      for (const file of [CONSUL_CONFIG_FILE, NOMAD_CONFIG_FILE]) {
        if (props.agentConfigs.fileHash(n.hostname, file) === undefined) {
          errors.push(problem("ELY-RLO-002", { component, node: n.hostname, field: "agentConfigs" }, `received ${JSON.stringify(files)}, expected ${file} rendered in the agent configuration bundle`));
        }
      }
    }
    if (this.servers.length > 0 && this.features.acl) {
      const why = "(security.acl is on: the health gate lists the Raft peers with it)";
      if (!props.consulToken) errors.push(problem("ELY-RLO-003", { component, field: "consulToken" }, `received nothing, expected the Consul operator token ${why}`));
      if (!props.nomadToken) errors.push(problem("ELY-RLO-003", { component, field: "nomadToken" }, `received nothing, expected the Nomad operator token ${why}`));
    }
    if (!Number.isInteger(timeout) || timeout < 10 || timeout > 3600) {
      errors.push(problem("ELY-RLO-004", { component, field: "healthTimeoutSeconds" }, `received ${JSON.stringify(timeout)}, expected whole seconds from 10 to 3600`));
    }
    for (const o of sshOptions) {
      if (!/^[A-Za-z]+=\S+$/.test(o)) errors.push(problem("ELY-RLO-005", { component, field: "sshOptions" }, `received ${JSON.stringify(o)}, expected Key=Value as ssh -o takes it`));
    }
    return errors;
  }
}


