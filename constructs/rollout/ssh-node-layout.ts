/**
 * What the server rollout (server-rollout.ts) leaves on a node managed over ssh: every
 * file with its path, mode and owner, the systemd units, and the shape of the secret
 * files. The construct hashes this for its triggers; the step program (cli/server-step.ts)
 * installs exactly this, so the two cannot disagree.
 *
 * Modes: binaries and units are world-readable, as on any Debian system; rendered
 * configuration is readable by the agent's user only; secrets (gossip key, tokens, TLS
 * keys) are 0600, owned by the agent that reads them.
 */
import * as crypto from "crypto";
import { AgentSource, AgentVersions, agentInputs } from "../../images/agents";
import { AGENT_BIN_DIR, consulUnit, nomadUnit } from "../../images/agent-units";
import { ImageArch } from "../../images/layout";
import {
  CONSUL_CONFIG_DIR,
  CONSUL_CONFIG_FILE,
  CONSUL_DATA_DIR,
  NOMAD_CONFIG_DIR,
  NOMAD_CONFIG_FILE,
  NOMAD_DATA_DIR,
  SECRETS_FILE,
  tlsFilesOf,
} from "../../nodes/agent-paths";

/**
 * Bump when a path, mode or owner below changes: every ssh node's steps are then
 * replaced, so that the next apply moves each node to the new layout.
 */
export const SSH_LAYOUT_VERSION = "1";

export const AGENTS = ["consul", "nomad"] as const;
export type Agent = (typeof AGENTS)[number];

/** The user the Consul agent runs as (Nomad servers run as root, as HashiCorp's packages do). */
export const CONSUL_USER = "consul";
export const UNIT_DIR = "/etc/systemd/system";
/** The node side of the steps (cli/server-step-remote.sh), installed by every step. */
export const NODE_STEP_PATH = "/usr/local/lib/ely/ely-node-step";
/** What the agents last (re)started with, per agent: the restart decision compares against it. */
export const ROLLOUT_STATE_DIR = "/var/lib/ely/rollout";

export function binaryPath(agent: Agent): string {
  return `${AGENT_BIN_DIR}/${agent}`;
}

export function unitPath(agent: Agent): string {
  return `${UNIT_DIR}/${agent}.service`;
}

export function configDirOf(agent: Agent): string {
  return agent === "consul" ? CONSUL_CONFIG_DIR : NOMAD_CONFIG_DIR;
}

export function configFileOf(agent: Agent): string {
  return agent === "consul" ? CONSUL_CONFIG_FILE : NOMAD_CONFIG_FILE;
}

function ownerOf(agent: Agent): { owner: string; group: string } {
  return agent === "consul" ? { owner: CONSUL_USER, group: CONSUL_USER } : { owner: "root", group: "root" };
}

/** A file the steps install. */
export interface NodeFile {
  readonly path: string;
  readonly mode: number;
  readonly owner: string;
  readonly group: string;
}

/** A directory the steps create (mode and owner are enforced on every run). */
export interface NodeDir {
  readonly path: string;
  readonly mode: number;
  readonly owner: string;
  readonly group: string;
}

/** The directories, created before any file (parents first). */
export function nodeDirs(secretsDir: string): NodeDir[] {
  return [
    { path: "/usr/local/lib/ely", mode: 0o755, owner: "root", group: "root" },
    { path: ROLLOUT_STATE_DIR, mode: 0o700, owner: "root", group: "root" },
    { path: CONSUL_CONFIG_DIR, mode: 0o750, owner: "root", group: CONSUL_USER },
    { path: NOMAD_CONFIG_DIR, mode: 0o750, owner: "root", group: "root" },
    { path: CONSUL_DATA_DIR, mode: 0o750, owner: CONSUL_USER, group: CONSUL_USER },
    { path: NOMAD_DATA_DIR, mode: 0o700, owner: "root", group: "root" },
    // Consul reads its key under here: it may traverse, nobody else may.
    { path: secretsDir, mode: 0o750, owner: "root", group: CONSUL_USER },
    { path: `${secretsDir}/tls`, mode: 0o750, owner: "root", group: CONSUL_USER },
  ];
}

/** The public files of an agent: its binary, its rendered configuration, its unit. */
export function publicFiles(agent: Agent): { binary: NodeFile; config: NodeFile; unit: NodeFile } {
  const { group } = ownerOf(agent);
  return {
    binary: { path: binaryPath(agent), mode: 0o755, owner: "root", group: "root" },
    config: { path: `${configDirOf(agent)}/${configFileOf(agent)}`, mode: 0o640, owner: "root", group },
    unit: { path: unitPath(agent), mode: 0o644, owner: "root", group: "root" },
  };
}

import type { SecretFeatures } from "../../nodes/secret-delivery";
export type { SecretFeatures };

/** The secret file of each agent (the agents merge it over the rendered file). */
export function secretsFileOf(agent: Agent): NodeFile {
  return { path: `${configDirOf(agent)}/${SECRETS_FILE}`, mode: 0o600, ...ownerOf(agent) };
}

/**
 * The Consul token of a Nomad server: the one consul-acl made for the Nomad servers, delivered by
 * ServerRollout's <hostname>/nomad-consul-token step once the ACLs exist. Nomad merges it over its
 * other files (`nomad agent -config=<dir>`). Root only.
 */
export function nomadConsulTokenFile(): NodeFile {
  return { path: `${NOMAD_CONFIG_DIR}/consul-token.json`, mode: 0o600, owner: "root", group: "root" };
}

/** TLS files of an agent: CA and certificate are public (0644), the key is the agent's alone (0600). */
export function tlsNodeFiles(secretsDir: string, agent: Agent): { ca: NodeFile; cert: NodeFile; key: NodeFile } {
  const tls = tlsFilesOf(secretsDir, agent);
  return {
    ca: { path: tls.caFile, mode: 0o644, owner: "root", group: "root" },
    cert: { path: tls.certFile, mode: 0o644, owner: "root", group: "root" },
    key: { path: tls.keyFile, mode: 0o600, ...ownerOf(agent) },
  };
}

/**
 * Tokens the node-side health gate uses (operator read on both Raft peer sets) and, on a
 * cluster whose Nomad ACLs are not bootstrapped yet, the Nomad bootstrap secret. Root only.
 * A server's Raft data holds every token of its cluster already: this adds no exposure.
 */
export function gateEnvFile(secretsDir: string): NodeFile {
  return { path: `${secretsDir}/rollout.env`, mode: 0o600, owner: "root", group: "root" };
}

/** Every file an agent's restart decision covers: a change to any of them restarts it. */
export function watchedFiles(agent: Agent, secretsDir: string, features: SecretFeatures): string[] {
  const pub = publicFiles(agent);
  const files = [pub.binary.path, pub.config.path, pub.unit.path];
  if (features.gossip || features.acl) files.push(secretsFileOf(agent).path);
  if (features.tls) {
    const tls = tlsNodeFiles(secretsDir, agent);
    files.push(tls.ca.path, tls.cert.path, tls.key.path);
  }
  return files;
}

const MANAGED_BY = "Managed by Ely (server rollout over ssh): changes are overwritten.";

export function unitOf(agent: Agent): string {
  return agent === "consul" ? consulUnit({ managedBy: MANAGED_BY }) : nomadUnit({ managedBy: MANAGED_BY, after: ["consul.service"] });
}

export function sha256(text: string | Buffer): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

/**
 * What the plan records of one architecture's agents: versions and, for a directory source,
 * the content of the files found. The update step recomputes it and refuses to push binaries
 * that changed since the plan.
 */
export function agentsHash(source: AgentSource, versions: AgentVersions, arch: ImageArch): string {
  return sha256(JSON.stringify(agentInputs(source, versions, arch)));
}

/** Placeholder values of the secret files' shape, for `consul validate` / `nomad config validate` on the plan machine. */
export const PLACEHOLDER_GOSSIP_KEY = Buffer.alloc(32).toString("base64");
export const PLACEHOLDER_TOKEN = "00000000-0000-0000-0000-000000000000";

/** The secret values of one node, as the secrets step receives them. */
export interface NodeSecrets {
  readonly consulGossipKey?: string;
  readonly nomadGossipKey?: string;
  readonly consulAgentToken?: string;
  /** Becomes acl.tokens.initial_management: a fresh cluster is bootstrapped with the operator's token. */
  readonly consulManagementToken?: string;
  readonly nomadConsulToken?: string;
}

/**
 * The secret half of each agent's configuration (see agent-paths.ts SECRETS_FILE).
 * Empty values are left out, so an optional token that is not set yet is simply absent.
 */
export function secretConfigs(features: SecretFeatures, s: NodeSecrets): Record<Agent, Record<string, unknown>> {
  const consul: Record<string, unknown> = {};
  const nomad: Record<string, unknown> = {};
  if (features.gossip && s.consulGossipKey) consul.encrypt = s.consulGossipKey;
  if (features.gossip && s.nomadGossipKey) nomad.server = { encrypt: s.nomadGossipKey };
  if (features.acl) {
    const tokens: Record<string, string> = {};
    if (s.consulAgentToken) tokens.agent = s.consulAgentToken;
    if (s.consulManagementToken) tokens.initial_management = s.consulManagementToken;
    if (Object.keys(tokens).length > 0) consul.acl = { tokens };
    if (s.nomadConsulToken) nomad.consul = { token: s.nomadConsulToken };
  }
  return { consul, nomad };
}
