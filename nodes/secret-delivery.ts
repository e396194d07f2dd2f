/**
 * How a netbooted node gets its secrets after every boot (its root is in RAM: a reboot loses them).
 *
 *   node key disk (label ELY-KEY: node.key "<hostname>:<key>", ca.pem)
 *       -> HTTPS to the util node's secrets server (its certificate signed by the cluster CA, checked
 *          against the ca.pem of the key disk), HTTP basic auth with the node's key
 *       -> /secrets/<hostname>/bundle.tar: that node's files only, extracted in RAM
 *
 * The util node's secrets server is a second nginx (ely-secrets.service), apart from the public
 * boot server: it serves nothing to a request without the node's key (401), nothing for a
 * hostname it does not know (404), and each node's location accepts that node's key only.
 */
import { CONSUL_CONFIG_DIR, NOMAD_CONFIG_DIR, SECRETS_FILE, tlsFilesOf } from "./agent-paths";

/** Which secret files a node gets, from the cluster's security settings. */
export interface SecretFeatures {
  readonly gossip: boolean;
  readonly tls: boolean;
  readonly acl: boolean;
}

/** The label of the file system that holds a node's key (a small partition, or a USB stick). */
export const KEY_DISK_LABEL = "ELY-KEY";
/** On the key disk: "<hostname>:<key>", one line. */
export const KEY_DISK_NODE_KEY = "node.key";
/** On the key disk: the cluster CA, which the node trusts for the secrets server. */
export const KEY_DISK_CA = "ca.pem";
/** The secrets server's HTTPS port on the util node. */
export const DEFAULT_SECRETS_PORT = 8443;
/** Directory of the secrets server's files under the util node's root (/srv/ely/secrets). */
export const REMOTE_SECRETS_DIR = "secrets";
/** The bundle of one node, as served: /secrets/<hostname>/bundle.tar. */
export const SECRETS_BUNDLE = "bundle.tar";
/** The enrollment keys are 32 random bytes, hex. */
export const NODE_KEY_PATTERN = /^[0-9a-f]{64}$/;

/** Under the util node's secrets directory: the server's configuration, unit, certificate and key. */
export const SECRETS_SERVICE_CONF = "nginx.conf";
export const SECRETS_SERVICE_UNIT = "ely-secrets.service";
export const SECRETS_SERVICE_CERT = "tls/server.pem";
export const SECRETS_SERVICE_KEY = "tls/server-key.pem";
/** Beside a node's bundle: the hash of its key, as nginx's auth_basic_user_file reads it. */
export const NODE_HTPASSWD = "htpasswd";

/** A node's directory on the util node: <root>/secrets/nodes/<hostname>/{bundle.tar,htpasswd}. */
export function nodeSecretsDir(root: string, hostname: string): string {
  return `${root}/${REMOTE_SECRETS_DIR}/nodes/${hostname}`;
}

export function secretsBundleUrlPath(hostname: string): string {
  return `/${REMOTE_SECRETS_DIR}/${hostname}/${SECRETS_BUNDLE}`;
}

/** One file of a node's bundle: its path on the node (no leading slash), who reads it. */
export interface BundleFile {
  readonly path: string;
  readonly mode: number;
  /** The group that reads it besides root ("consul" for Consul's files). */
  readonly group: "root" | "consul";
}

/** The files of a netbooted agent node's bundle, by what they hold. */
export function bundleFilesOf(secretsDir: string): Record<"consulSecrets" | "nomadSecrets" | "ca" | "nomadCert" | "nomadKey", BundleFile> {
  const nomad = tlsFilesOf(secretsDir, "nomad");
  const strip = (p: string) => p.replace(/^\/+/, "");
  return {
    consulSecrets: { path: strip(`${CONSUL_CONFIG_DIR}/${SECRETS_FILE}`), mode: 0o640, group: "consul" },
    nomadSecrets: { path: strip(`${NOMAD_CONFIG_DIR}/${SECRETS_FILE}`), mode: 0o600, group: "root" },
    ca: { path: strip(nomad.caFile), mode: 0o644, group: "root" },
    nomadCert: { path: strip(nomad.certFile), mode: 0o644, group: "root" },
    nomadKey: { path: strip(nomad.keyFile), mode: 0o600, group: "root" },
  };
}
