/** The typed description of a service job, in the domain's own words. */

export type TaskDriver = "docker" | "exec" | "raw_exec";
export type JobType = "service" | "system" | "batch";

export interface ServicePort {
  /** Port label, used by checks, tags and `expose`. */
  readonly label: string;
  /** Port inside the container the host port maps to. Default: the host port itself. */
  readonly to?: number;
  /** A fixed host port. Default: a dynamic port chosen by Nomad. */
  readonly static?: number;
}

export interface ServiceTemplate {
  /** Path inside the task directory, e.g. "local/prometheus.yml" or "secrets/htpasswd". */
  readonly destination: string;
  /** consul-template text. */
  readonly data: string;
  /** What happens when the rendered content changes. Default: "restart". */
  readonly changeMode?: "restart" | "noop" | "signal";
  /** Render into environment variables. Default: false. */
  readonly envFile?: boolean;
}

export type ServiceVolume =
  | {
      /** A host volume declared by clients in the inventory (hostVolumes). */
      readonly kind: "host";
      readonly source: string;
      readonly destination: string;
      /** Default: false. */
      readonly readOnly?: boolean;
    }
  | {
      /** A directory of the util node's NFS export, mounted by Docker's local volume driver. */
      readonly kind: "nfs";
      /** Path under the NFS export, e.g. "/opt/nfs/gitea". */
      readonly path: string;
      readonly destination: string;
      /** Default: false. */
      readonly readOnly?: boolean;
    };

export interface HealthCheck {
  readonly type: "http" | "tcp";
  /** Port label the check targets. */
  readonly port: string;
  /** HTTP path. Default: "/". */
  readonly path?: string;
  /** Default: 10. */
  readonly intervalSeconds?: number;
  /** Default: 2. */
  readonly timeoutSeconds?: number;
}

export interface UpdateStrategy {
  /** Default: 1. */
  readonly maxParallel?: number;
  /** Canary allocations placed before the old ones are replaced. Default: 0. */
  readonly canaries?: number;
  /** Roll back to the last good version when a deployment fails. Default: false. */
  readonly autoRevert?: boolean;
  /** Promote healthy canaries without an operator. Default: true when canaries > 0. */
  readonly autoPromote?: boolean;
  /** Default: 10. */
  readonly minHealthySeconds?: number;
  /** Default: 300. */
  readonly healthyDeadlineSeconds?: number;
  /** Default: 600. */
  readonly progressDeadlineSeconds?: number;
}

export interface PlacementConstraint {
  /** A Nomad attribute, e.g. "${attr.cpu.arch}", "${node.class}", "${meta.model}". */
  readonly attribute: string;
  /** Default: "=". */
  readonly operator?: "=" | "!=" | "regexp" | "distinct_hosts";
  readonly value?: string;
}

export interface Exposure {
  /** Public host name routed to this service by the ingress, e.g. "www.kyleondy.com". */
  readonly host: string;
  /** Path prefix. Default: the whole host. */
  readonly path?: string;
  /** Port label the ingress forwards to. Default: the service's first port. */
  readonly port?: string;
}

export interface NomadServiceProps {
  /** Job name. Default: the construct id. */
  readonly name?: string;
  /** Default: "service". "system" runs one allocation on every eligible client. */
  readonly type?: JobType;
  /** Default: "docker". */
  readonly driver?: TaskDriver;
  /** Container image; required with the docker driver. */
  readonly image?: string;
  /** Command (required with exec and raw_exec; the image's entrypoint by default with docker). */
  readonly command?: string;
  /** Default: none. */
  readonly args?: readonly string[];
  /** Allocations of a service job. Default: 1. Ignored for system jobs. */
  readonly count?: number;
  /** Default: 100. */
  readonly cpuMhz?: number;
  /** Default: 128. */
  readonly memoryMb?: number;
  /** Default: no memory oversubscription. */
  readonly memoryMaxMb?: number;
  /** Default: no port. */
  readonly ports?: readonly ServicePort[];
  /** Docker network mode (e.g. "host" for node-exporter). Default: Nomad's (bridge for docker). */
  readonly networkMode?: "host" | "bridge";
  /** Default: none. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default: none. */
  readonly templates?: readonly ServiceTemplate[];
  /** Default: none. */
  readonly volumes?: readonly ServiceVolume[];
  /**
   * The job keeps data in its host volumes that must outlive a reboot (a git server's
   * repositories, a registry's images, a time-series store, ACME certificates): synth refuses
   * a host volume that a client running the job backs with RAM or its scratch disk
   * (see hostVolumeSchema.backing). Default: false.
   */
  readonly stateful?: boolean;
  /** Default: none: the allocation is healthy when its task runs. */
  readonly checks?: readonly HealthCheck[];
  /** Default: Nomad's (one at a time, no canary). */
  readonly update?: UpdateStrategy;
  /** Spread allocations over distinct nodes. Default: false. */
  readonly spreadOverNodes?: boolean;
  /** Default: none. */
  readonly constraints?: readonly PlacementConstraint[];
  /** Run a batch job on a schedule (cron syntax, e.g. "15 3 * * *" for 03:15 daily). Default: not periodic. */
  readonly periodicCron?: string;
  /** Route a public host to this service through the ingress, with TLS and a DNS record. Default: not exposed. */
  readonly expose?: Exposure;
  /** Extra Consul service tags. Default: none. */
  readonly tags?: readonly string[];
  /** Task-driver config merged over the rendered one (escape hatch). Default: none. */
  readonly driverConfig?: Readonly<Record<string, unknown>>;
  /** Nomad API job JSON deep-merged over the rendered job (escape hatch). Default: none. */
  readonly jobOverrides?: Readonly<Record<string, unknown>>;
}
