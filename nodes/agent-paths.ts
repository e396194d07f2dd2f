/**
 * Where things live on a node. The rendered configuration files hold no secret: they
 * point at files that the secret delivery step places on the node (mode 0600), and the
 * agents merge every file of their configuration directory.
 */
export const CONSUL_CONFIG_DIR = "/etc/consul.d";
export const NOMAD_CONFIG_DIR = "/etc/nomad.d";
export const CONSUL_DATA_DIR = "/opt/consul";
export const NOMAD_DATA_DIR = "/opt/nomad";

/** The rendered, public configuration file of each agent. */
export const CONSUL_CONFIG_FILE = "consul.json";
export const NOMAD_CONFIG_FILE = "nomad.json";

/**
 * The secret half of each agent's configuration, delivered beside the rendered file:
 * consul: { "encrypt": <gossip key>, "acl": { "tokens": { "agent": <token> } } }
 * nomad:  { "server": { "encrypt": <gossip key> } } on servers, { "consul": { "token": <token> } } on all.
 */
export const SECRETS_FILE = "secrets.json";

export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** TLS material of one agent under the inventory's secrets directory. */
export function tlsFilesOf(secretsDir: string, agent: "consul" | "nomad"): TlsFiles {
  return {
    caFile: `${secretsDir}/tls/ca.pem`,
    certFile: `${secretsDir}/tls/${agent}.pem`,
    keyFile: `${secretsDir}/tls/${agent}-key.pem`,
  };
}

/**
 * The ssh public keys that may log in as root on a netbooted node (images.rollout.sshAuthorizedKeys):
 * served beside its agent files as this file, fetched at boot into /root/.ssh/. Public: no secret.
 */
export const AUTHORIZED_KEYS_FILE = "authorized_keys";
export const ROOT_SSH_DIR = "/root/.ssh";
