import { Fn, ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { Resource } from "@cdktf/provider-null/lib/resource";
import {
  DEFAULT_SECRETS_PORT,
  NODE_HTPASSWD,
  nodeSecretsDir,
  REMOTE_SECRETS_DIR,
  SecretFeatures,
  secretsBundleUrlPath,
  SECRETS_BUNDLE,
  SECRETS_SERVICE_CERT,
  SECRETS_SERVICE_CONF,
  SECRETS_SERVICE_KEY,
  SECRETS_SERVICE_UNIT,
} from "../../nodes/secret-delivery";
import { hostLabel } from "../../nodes/safe-strings";
import { contentHashOf, GeneratedDirectory } from "../generated-directory";
import { listenProblems, nginxUnit, runDirectoryProblems } from "./boot-service";
import { problem, Problem } from "../../nodes/problems";
import { addChecks } from "../checks";
import { projectProgram } from "../project-program";
import { shellQuote } from "../shell-quote";

/** The secret values of one netbooted node: Terraform expressions (sensitive variables, token secrets). */
export interface NodeSecretValues {
  /** The node's enrollment key (64 hex digits), also on its key disk. */
  readonly nodeKey: string;
  /** PEM of the node's Nomad client certificate (client.<region>.nomad) and its key. Needed when TLS is on. */
  readonly nomadCert?: string;
  readonly nomadKey?: string;
  /** The node's Consul agent token (the one consul-acl created for it). Needed when ACLs are on. */
  readonly consulAgentToken?: string;
}

export interface SecretDeliveryProps {
  /** The netbooted nodes that run agents, by hostname, with their secrets. */
  readonly nodes: ReadonlyMap<string, NodeSecretValues>;
  /** Which secrets the cluster uses (the inventory's security). */
  readonly features: SecretFeatures;
  /** Where a node keeps its TLS files (the inventory's security.secretsDir). */
  readonly secretsDir: string;
  /** Consul's gossip key. Needed when gossip encryption is on. */
  readonly consulGossipKey?: string;
  /** PEM of the cluster CA. Needed when TLS is on. */
  readonly tlsCaCert?: string;
  /** The Nomad clients' Consul token. Needed when ACLs are on. */
  readonly nomadConsulToken?: string;
  /** The secrets server's certificate (signed by the cluster CA, naming the util node's address) and key, PEM. */
  readonly serviceCert: string;
  readonly serviceKey: string;
  /** Where the publish steps write: "user@host:/srv/ely", or a local directory (tests). */
  readonly target: string;
  /** Root of Ely's files on the util node, as the secrets server sees it. Default: "/srv/ely". */
  readonly remoteRoot?: string;
  /** The secrets server's port. Default: 8443. */
  readonly port?: number;
  /** What nginx listens on: a port or address:port. Default: `port` on every address. */
  readonly listen?: string;
  /** A directory for nginx's run-time files (pid, temporary files, access log): lets a test run it. Default: system paths, access log to syslog. */
  readonly stateDir?: string;
  /** The group of the secrets server's worker processes (which read the bundles), made by the publish step when missing. Default: "ely-secrets". */
  readonly group?: string;
  /** The user of the secrets server's worker processes, made by the publish step when missing. Default: the group's name. */
  readonly workerUser?: string;
  /** The publish program. Default: projectProgram("secret-publish.js", "cli"). */
  readonly publishCommand?: string;
  /** What must exist first (the Consul ACL tokens the bundles carry come from resources). Default: nothing. */
  readonly dependsOn?: readonly ITerraformDependable[];
}

const GROUP = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The secrets server's nginx.conf: one location per node, opened by that node's key only; everything else 404. */
export function renderSecretsNginxConf(options: { root: string; listen: string; stateDir?: string; group: string; workerUser?: string; hostnames: readonly string[] }): string {
  const dir = `${options.root}/${REMOTE_SECRETS_DIR}`;
  const state = options.stateDir;
  const temp = state ? ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) => `  ${kind}_temp_path ${state}/${kind}_temp;\n`).join("") : "";
  const locations = options.hostnames
    .map(
      (h) => `    location = ${secretsBundleUrlPath(h)} {
      auth_basic "ely ${h}";
      auth_basic_user_file ${nodeSecretsDir(options.root, h)}/${NODE_HTPASSWD};
      alias ${nodeSecretsDir(options.root, h)}/${SECRETS_BUNDLE};
    }
`,
    )
    .join("");
  return `# Ely: the util node's secrets server. Each netbooted node fetches its own bundle over HTTPS with
# its key (HTTP basic auth, checked against the key's hash); nothing is served without it.
# Generated; do not edit. Run as: nginx -c ${dir}/${SECRETS_SERVICE_CONF}
user ${options.workerUser ?? options.group} ${options.group};
worker_processes 1;
pid ${state ? `${state}/secrets-nginx.pid` : "/run/ely-secrets.pid"};
error_log stderr warn;
events { worker_connections 64; }
http {
  default_type application/octet-stream;
  server_tokens off;
  log_format ely_secrets '$msec $remote_addr $remote_user $status $request_method $request_uri';
  access_log ${state ? `${state}/secrets-access.log` : "syslog:server=unix:/dev/log,tag=ely_secrets"} ely_secrets;
${temp}  server {
    listen ${options.listen} ssl;
    ssl_certificate ${dir}/${SECRETS_SERVICE_CERT};
    ssl_certificate_key ${dir}/${SECRETS_SERVICE_KEY};
    ssl_protocols TLSv1.2 TLSv1.3;
${locations}    location / {
      return 404;
    }
  }
}
`;
}

export function renderSecretsUnit(root: string): string {
  return nginxUnit("Ely secrets server: each netbooted node's secrets, over HTTPS, to that node's key only", `${root}/${REMOTE_SECRETS_DIR}/${SECRETS_SERVICE_CONF}`);
}

/**
 * Secret delivery to netbooted nodes (nodes/secret-delivery.ts): the util node's secrets server
 * (a second nginx, HTTPS only) and one bundle per node, published at apply time by
 * cli/secret-publish.js with the secrets in its environment: none is in the synthesized
 * configuration, on a command line or in an image. A node's step is replaced when its secrets
 * change (the trigger is a hash: "(sensitive value)" in the plan); destroying it (the node left
 * the inventory) removes its bundle and key from the util node.
 *
 * Construct ids (a public contract): service, node-<hostname>.
 */
export class SecretDelivery extends Construct {
  readonly service: Resource;
  readonly nodeSteps: ReadonlyMap<string, Resource>;
  readonly files: ReadonlyMap<string, string>;
  readonly contentHash: string;
  readonly asset: GeneratedDirectory;

  constructor(scope: Construct, id: string, props: SecretDeliveryProps) {
    super(scope, id);
    const root = props.remoteRoot ?? "/srv/ely";
    const port = props.port ?? DEFAULT_SECRETS_PORT;
    const listen = props.listen ?? String(port);
    const group = props.group ?? "ely-secrets";
    const hostnames = [...props.nodes.keys()].sort();
    addChecks(this, () => this.check(props, { listen, group, port, hostnames }));

    this.files = new Map([
      [SECRETS_SERVICE_CONF, renderSecretsNginxConf({ root, listen, stateDir: props.stateDir, group, workerUser: props.workerUser, hostnames })],
      [SECRETS_SERVICE_UNIT, renderSecretsUnit(root)],
    ]);
    this.contentHash = contentHashOf(this.files);
    this.asset = new GeneratedDirectory(this, "files", { files: this.files, assetHash: this.contentHash.slice(0, 32) });
    const program = props.publishCommand ?? projectProgram("secret-publish.js", "cli");
    const target = shellQuote(props.target);
    const groupFlag = ` --group ${shellQuote(group)}`;
    const userFlag = props.workerUser ? ` --user ${shellQuote(props.workerUser)}` : "";

    const serviceEnv = { ELY_SECRET_SERVICE_CERT: props.serviceCert, ELY_SECRET_SERVICE_KEY: props.serviceKey };
    this.service = new Resource(this, "service", {
      triggers: { conf_sha256: this.contentHash, target: props.target, tls_sha256: Fn.sha256(Fn.jsonencode([props.serviceCert, props.serviceKey])) },
      provisioners: [{ type: "local-exec", command: `${program} service --conf "${this.asset.path}" --target ${target}${groupFlag}${userFlag}`, environment: serviceEnv }],
    });
    this.service.addOverride("//", { description: `Ely secrets server on the util node (HTTPS :${port}): its configuration and certificate` });

    const f = props.features;
    const featureList = (Object.keys(f) as (keyof SecretFeatures)[]).filter((k) => f[k]).join(",");
    const steps = new Map<string, Resource>();
    for (const host of hostnames) {
      const s = props.nodes.get(host)!;
      const environment: Record<string, string> = { ELY_SECRET_NODE_KEY: s.nodeKey };
      if (f.gossip && props.consulGossipKey) environment.ELY_SECRET_CONSUL_GOSSIP_KEY = props.consulGossipKey;
      if (f.acl && s.consulAgentToken) environment.ELY_SECRET_CONSUL_AGENT_TOKEN = s.consulAgentToken;
      if (f.acl && props.nomadConsulToken) environment.ELY_SECRET_NOMAD_CONSUL_TOKEN = props.nomadConsulToken;
      if (f.tls && props.tlsCaCert) environment.ELY_SECRET_TLS_CA = props.tlsCaCert;
      if (f.tls && s.nomadCert) environment.ELY_SECRET_NOMAD_CERT = s.nomadCert;
      if (f.tls && s.nomadKey) environment.ELY_SECRET_NOMAD_KEY = s.nomadKey;
      const values = Object.keys(environment).sort().map((k) => environment[k]);
      const step = new Resource(this, `node-${host}`, {
        triggers: {
          host,
          target: props.target,
          secrets_dir: props.secretsDir,
          features: featureList,
          // A hash of sensitive values is sensitive too: the plan shows "(sensitive value)".
          secrets_sha256: Fn.sha256(Fn.jsonencode(values)),
        },
        dependsOn: [this.service, ...(props.dependsOn ?? [])],
        provisioners: [
          {
            type: "local-exec",
            command: `${program} node --host ${host} --target ${target} --secrets-dir ${shellQuote(props.secretsDir)} --features ${featureList || '""'}${groupFlag}`,
            environment,
          },
          { type: "local-exec", when: "destroy", command: `${program} revoke --host ${host} --target ${target}` },
        ],
      });
      step.addOverride("//", { description: `Ely secrets of ${host}: its bundle and the hash of its key on the util node (fetched over HTTPS at every boot)` });
      steps.set(host, step);
    }
    this.nodeSteps = steps;
  }

  private check(props: SecretDeliveryProps, o: { listen: string; group: string; port: number; hostnames: string[] }): Problem[] {
    const component = "secret delivery";
    const errors: Problem[] = [...listenProblems(component, "listen", o.listen, "8443, 127.0.0.1:18443")];
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) errors.push(problem("ELY-SEC-001", { component, field: "port" }, `received ${JSON.stringify(o.port)}, expected a TCP port (1-65535)`));
    errors.push(...runDirectoryProblems(component, "stateDir", props.stateDir));
    if (!GROUP.test(o.group)) errors.push(problem("ELY-SEC-002", { component, field: "group" }, `received ${JSON.stringify(o.group)}, expected a system group name (lower case letters, digits, "_", "-")`));
    if (props.workerUser !== undefined && !GROUP.test(props.workerUser)) {
      errors.push(problem("ELY-SEC-002", { component, field: "workerUser" }, `received ${JSON.stringify(props.workerUser)}, expected a system user name (lower case letters, digits, "_", "-")`));
    }
    for (const h of o.hostnames) {
      if (!hostLabel.safeParse(h).success) errors.push(problem("ELY-STR-013", { component, field: "nodes" }, `received the hostname ${JSON.stringify(h)}, expected a DNS label`));
    }
    const f = props.features;
    const need = (on: boolean, value: unknown, field: string, why: string) => {
      if (on && !value) errors.push(problem("ELY-SEC-003", { component, field }, `received nothing, expected it (${why})`));
    };
    need(f.gossip, props.consulGossipKey, "consulGossipKey", "security.gossipEncryption is on");
    need(f.tls, props.tlsCaCert, "tlsCaCert", "security.tls is on");
    need(f.acl, props.nomadConsulToken, "nomadConsulToken", "security.acl is on");
    for (const h of o.hostnames) {
      const s = props.nodes.get(h)!;
      need(f.tls, s.nomadCert && s.nomadKey, `nodes.${h}.nomadCert/nomadKey`, "security.tls is on");
      need(f.acl, s.consulAgentToken, `nodes.${h}.consulAgentToken`, "security.acl is on");
    }
    return errors;
  }
}
