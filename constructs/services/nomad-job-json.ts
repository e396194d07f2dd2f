/**
 * Rendering of a service into Nomad's API job JSON (what `nomad job run -output` prints),
 * which the nomad_job resource takes with `json = true`.
 */
import { deepMerge } from "../deep-merge";
import { ingressTags } from "./ingress-tags";
import { NomadServiceProps } from "../../jobs/service-props";

const SECOND_NS = 1_000_000_000;

export interface JobContext {
  /** Datacenters the job may run in. */
  readonly datacenters: readonly string[];
  /** Address of the NFS server (the util node), for "nfs" volumes. */
  readonly nfsServer: string;
}

export type NomadJobJson = { Job: Record<string, unknown> };

export const DEFAULT_CPU_MHZ = 100;
export const DEFAULT_MEMORY_MB = 128;

export function renderJob(name: string, props: NomadServiceProps, context: JobContext): NomadJobJson {
  const type = props.type ?? "service";
  const driver = props.driver ?? "docker";
  const ports = props.ports ?? [];
  const tags = [...(props.expose ? ingressTags(name, props.expose) : []), ...(props.tags ?? [])];

  const volumes: Record<string, unknown> = {};
  const volumeMounts: unknown[] = [];
  const dockerMounts: unknown[] = [];
  (props.volumes ?? []).forEach((volume, i) => {
    const readOnly = volume.readOnly ?? false;
    if (volume.kind === "host") {
      const label = `${volume.source}`;
      volumes[label] = { Name: label, Type: "host", Source: volume.source, ReadOnly: readOnly };
      volumeMounts.push({ Volume: label, Destination: volume.destination, ReadOnly: readOnly });
    } else {
      dockerMounts.push({
        type: "volume",
        target: volume.destination,
        source: `${name}-nfs-${i}`,
        readonly: readOnly,
        volume_options: {
          driver_config: {
            name: "local",
            options: { type: "nfs", o: `addr=${context.nfsServer},nfsvers=4,${readOnly ? "ro" : "rw"}`, device: `:${volume.path}` },
          },
        },
      });
    }
  });

  const config: Record<string, unknown> = {};
  if (driver === "docker") {
    config.image = props.image;
    if (ports.length > 0) config.ports = ports.map((p) => p.label);
    if (props.networkMode === "host") config.network_mode = "host";
    if (dockerMounts.length > 0) config.mount = dockerMounts;
  }
  if (props.command !== undefined) config.command = props.command;
  if (props.args && props.args.length > 0) config.args = [...props.args];

  const task: Record<string, unknown> = {
    Name: name,
    Driver: driver,
    Config: props.driverConfig ? deepMerge(config, props.driverConfig) : config,
    Resources: {
      CPU: props.cpuMhz ?? DEFAULT_CPU_MHZ,
      MemoryMB: props.memoryMb ?? DEFAULT_MEMORY_MB,
      ...(props.memoryMaxMb !== undefined ? { MemoryMaxMB: props.memoryMaxMb } : {}),
    },
  };
  if (props.env && Object.keys(props.env).length > 0) task.Env = { ...props.env };
  if (props.templates && props.templates.length > 0) {
    task.Templates = props.templates.map((t) => ({
      EmbeddedTmpl: t.data,
      DestPath: t.destination,
      ChangeMode: t.changeMode ?? "restart",
      Envvars: t.envFile ?? false,
    }));
  }
  if (volumeMounts.length > 0) task.VolumeMounts = volumeMounts;

  const group: Record<string, unknown> = {
    Name: name,
    Count: type === "system" ? 1 : (props.count ?? 1),
    Tasks: [task],
  };
  if (ports.length > 0 || props.networkMode) {
    const network: Record<string, unknown> = {};
    if (props.networkMode === "host") network.Mode = "host";
    const dynamic = ports.filter((p) => p.static === undefined);
    const reserved = ports.filter((p) => p.static !== undefined);
    if (dynamic.length > 0) network.DynamicPorts = dynamic.map((p) => ({ Label: p.label, ...(p.to !== undefined ? { To: p.to } : {}) }));
    if (reserved.length > 0) network.ReservedPorts = reserved.map((p) => ({ Label: p.label, Value: p.static, ...(p.to !== undefined ? { To: p.to } : {}) }));
    group.Networks = [network];
  }
  if (Object.keys(volumes).length > 0) group.Volumes = volumes;
  if (ports.length > 0) {
    const servicePort = props.expose?.port ?? ports[0].label;
    group.Services = [
      {
        Name: name,
        PortLabel: servicePort,
        Provider: "consul",
        Tags: tags,
        Checks: (props.checks ?? []).map((c) => ({
          Name: `${name}-${c.type}-${c.port}`,
          Type: c.type,
          PortLabel: c.port,
          ...(c.type === "http" ? { Path: c.path ?? "/" } : {}),
          Interval: (c.intervalSeconds ?? 10) * SECOND_NS,
          Timeout: (c.timeoutSeconds ?? 2) * SECOND_NS,
        })),
      },
    ];
  }

  const job: Record<string, unknown> = {
    ID: name,
    Name: name,
    Type: type,
    Datacenters: [...context.datacenters],
    TaskGroups: [group],
  };
  if (props.constraints && props.constraints.length > 0) {
    job.Constraints = props.constraints.map((c) => ({ LTarget: c.attribute, RTarget: c.value ?? "", Operand: c.operator ?? "=" }));
  }
  if (props.periodicCron) job.Periodic = { Enabled: true, SpecType: "cron", Spec: props.periodicCron, ProhibitOverlap: true };
  if (props.spreadOverNodes) job.Spreads = [{ Attribute: "${node.unique.id}", Weight: 100 }];
  if (props.update && type !== "batch") {
    const u = props.update;
    const canaries = u.canaries ?? 0;
    job.Update = {
      MaxParallel: u.maxParallel ?? 1,
      Canary: canaries,
      AutoRevert: u.autoRevert ?? false,
      AutoPromote: u.autoPromote ?? canaries > 0,
      HealthCheck: (props.checks ?? []).length > 0 ? "checks" : "task_states",
      MinHealthyTime: (u.minHealthySeconds ?? 10) * SECOND_NS,
      HealthyDeadline: (u.healthyDeadlineSeconds ?? 300) * SECOND_NS,
      ProgressDeadline: (u.progressDeadlineSeconds ?? 600) * SECOND_NS,
    };
  }
  return { Job: props.jobOverrides ? deepMerge(job, props.jobOverrides) : job };
}
