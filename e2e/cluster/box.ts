/**
 * The cluster in a box's inventory and stack, shared by the suite (cluster-in-a-box.cluster-e2e.ts)
 * and the app the cdktf CLI runs for it (box-app.ts). What changes between the suite's deploys (the
 * image revisions and channels) is in the box's configuration file, $ELY_BOX_CONFIG, which the
 * suite rewrites before each `cdktf deploy`.
 */
import * as fs from "fs";
import * as path from "path";
import { App } from "cdktf";
import { ElyStack } from "../../constructs";
import { JobDefinition } from "../../jobs";
import { Inventory, InventoryInput } from "../../nodes";

export const NET = "10.26.90";
export const UTIL_IP = `${NET}.4`;
export const SERVERS = ["s1", "s2", "s3"];
/** Two netbooted workers: w1 follows "latest" (the canary), w2 "stable". */
export const WORKERS = [
  { hostname: "w1", ip: `${NET}.21`, mac: "52:54:00:e1:00:21", channel: "latest" },
  { hostname: "w2", ip: `${NET}.22`, mac: "52:54:00:e1:00:22", channel: "stable" },
] as const;
export type BoxWorker = (typeof WORKERS)[number];
export const HTTP_PORT = 8080;
export const SECRETS_PORT = 8443;
export const DATACENTER = "box";
export const JOB = "hello-box";
export const STACK = "box";

/** What the suite sets for a deploy. */
export interface BoxConfig {
  /** The suite's work directory: util root, nginx state, the synth output. */
  readonly work: string;
  /** `ely secrets init`'s directory. */
  readonly secretsDir: string;
  /** The bridge the util node's dnsmasq serves. */
  readonly bridge: string;
  /** Where image builds are kept. Default: the plan's own (NetbootProps.artifactsDir: ~/.cache/ely/images). */
  readonly artifactsDir?: string;
  /** The public key the reimage logs in to the workers with. */
  readonly sshPublicKey: string;
  /** images.revisions, oldest first. */
  readonly revisions: ReadonlyArray<{ readonly name: string; readonly extraPackages?: Readonly<Record<string, readonly string[]>> }>;
  /** images.channels. */
  readonly channels: Readonly<Record<string, string>>;
}

export const BOX_CONFIG_ENV = "ELY_BOX_CONFIG";

export function readBoxConfig(file = process.env[BOX_CONFIG_ENV]): BoxConfig {
  if (!file) throw new Error(`${BOX_CONFIG_ENV}: received nothing, expected the box's configuration file (written by the cluster suite)`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as BoxConfig;
}

/**
 * A web server from the image's busybox on each worker (two allocations on distinct workers): the
 * job needs nothing but the client's raw_exec driver, and a worker drained for its reimage leaves
 * the other allocation serving.
 */
export const helloJob: JobDefinition = {
  id: JOB,
  props: () => ({
    driver: "raw_exec",
    command: "/bin/busybox",
    args: ["httpd", "-f", "-p", "${NOMAD_IP_http}:${NOMAD_PORT_http}", "-h", "${NOMAD_TASK_DIR}"],
    count: 2,
    constraints: [{ attribute: "${node.unique.id}", operator: "distinct_hosts", value: "true" }],
    cpuMhz: 50,
    memoryMb: 32,
    ports: [{ label: "http" }],
    templates: [{ destination: "local/index.html", data: "hello from the box\n" }],
    checks: [{ type: "http", port: "http", path: "/index.html", intervalSeconds: 2 }],
  }),
};

export function boxInventory(config: BoxConfig): InventoryInput {
  return {
    name: "box",
    datacenter: DATACENTER,
    region: "global",
    network: { subnet: `${NET}.0/24`, gateway: `${NET}.1`, internalDomain: "box.ely.test", servicesDomain: "apps.box.ely.test", ingressAddress: `${NET}.5` },
    security: { acl: true, tls: true, gossipEncryption: true },
    versions: { consul: "1.16.3", nomad: "1.6.3" },
    endpoints: { consul: `https://${NET}.11:8501`, nomad: `https://${NET}.11:4646`, caFile: path.join(config.secretsDir, "ca.pem") },
    images: {
      revisions: config.revisions.map((r) => ({ name: r.name, extraPackages: r.extraPackages ?? {} })),
      channels: config.channels,
      rollout: { maxUnavailable: 1, drainDeadlineSeconds: 120, bootTimeoutSeconds: 1500, sshAuthorizedKeys: [config.sshPublicKey] },
    },
    nodes: [
      { hostname: "util", role: "util", arch: "amd64", ip: UTIL_IP, boot: "local", hardware: { model: "this machine", cores: 2, cpuMhz: 2000, memoryMb: 2048 } },
      ...SERVERS.map((h, i) => ({ hostname: h, role: "server" as const, arch: "amd64" as const, ip: `${NET}.${11 + i}`, boot: "ssh" as const, ssh: { user: "root", port: 22 } })),
      ...WORKERS.map((w) => ({
        hostname: w.hostname,
        role: "client" as const,
        arch: "amd64" as const,
        ip: w.ip,
        mac: w.mac,
        imageChannel: w.channel,
        drivers: ["raw_exec"],
        hardware: { model: "QEMU", cores: 2, cpuMhz: 2000, memoryMb: 3072 },
      })),
    ],
  } as InventoryInput;
}

/** The box's ElyStack: servers over ssh, this machine as the util node, both workers netbooted with the full client image. */
export function boxStack(app: App, config: BoxConfig, inventory: Inventory): ElyStack {
  const utilRoot = path.join(config.work, "util-root");
  return new ElyStack(app, STACK, {
    inventory,
    jobs: [helloJob],
    netboot: {
      imageProfile: "full",
      publishTarget: utilRoot,
      remoteRoot: utilRoot,
      httpPort: HTTP_PORT,
      httpListen: `${UTIL_IP}:${HTTP_PORT}`,
      httpStateDir: path.join(config.work, "nginx-boot"),
      dhcpInterface: config.bridge,
      artifactsDir: config.artifactsDir,
    },
    nodeSecrets: { listen: `${UTIL_IP}:${SECRETS_PORT}`, stateDir: path.join(config.work, "nginx-secrets"), group: "nogroup", workerUser: "nobody" },
  });
}
