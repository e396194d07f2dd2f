import { Construct } from "constructs";
import { Job } from "@cdktf/provider-nomad/lib/job";
import { JobContext, NomadJobJson, renderJob, DEFAULT_CPU_MHZ, DEFAULT_MEMORY_MB } from "./nomad-job-json";
import { NomadServiceProps } from "../../jobs/service-props";
import { problem, Problem } from "../../nodes/problems";
import { RuleId } from "../../nodes/rules";
import { addChecks } from "../checks";

const JOB_NAME = /^[a-z0-9][a-z0-9-]*$/;
const PORT_LABEL = /^[a-z][a-z0-9_]{0,62}$/;
/** A URL path the ingress routes on: no backtick, quote or space that would end Traefik's rule. */
const ROUTE_PATH = /^\/[A-Za-z0-9._~!$&*+,;=:@%\/-]*$/;

/**
 * Nomad's own interpolations (${node.unique.id}, ${attr.cpu.arch}) must reach Nomad
 * as written: Terraform would read them as its own template sequences unless escaped.
 */
export function escapeTerraformTemplate(text: string): string {
  return text.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}

export interface NomadServiceContextProps extends NomadServiceProps {
  /** Where the job runs and what it mounts from: the cluster's datacenter and NFS server. */
  readonly context: JobContext;
}

/**
 * One service job: typed props rendered into Nomad's API job JSON and registered by a
 * nomad_job resource (`json = true`). Its ingress route, TLS and public DNS record follow
 * from `expose`. Escape hatches: `jobOverrides` (raw job JSON), `driverConfig`, and
 * `job.addOverride` on the resource.
 */
export class NomadService extends Construct {
  readonly name: string;
  readonly props: NomadServiceProps;
  readonly jobJson: NomadJobJson;
  readonly job: Job;

  constructor(scope: Construct, id: string, props: NomadServiceContextProps) {
    super(scope, id);
    const { context, ...service } = props;
    this.name = props.name ?? id;
    this.props = service;
    this.jobJson = renderJob(this.name, service, context);
    this.job = new Job(this, "job", {
      jobspec: escapeTerraformTemplate(JSON.stringify(this.jobJson, null, 2)),
      json: true,
      // Registration returns at once; the deployment (canaries, health) is Nomad's to drive.
      detach: true,
      purgeOnDestroy: true,
    });
    addChecks(this, () => this.validateProps());
  }

  get type() {
    return this.props.type ?? "service";
  }

  get cpuMhz(): number {
    return this.props.cpuMhz ?? DEFAULT_CPU_MHZ;
  }

  get memoryMb(): number {
    return this.props.memoryMb ?? DEFAULT_MEMORY_MB;
  }

  get driver() {
    return this.props.driver ?? "docker";
  }

  /** Allocations of a service or batch job (system jobs: one per eligible client). */
  get count(): number {
    return this.props.count ?? 1;
  }

  private validateProps(): Problem[] {
    const p = this.props;
    const errors: Problem[] = [];
    const err = (rule: RuleId, field: string, message: string) => errors.push(problem(rule, { job: this.name, field }, message));
    if (!JOB_NAME.test(this.name)) err("ELY-JOB-001", "name", `received ${JSON.stringify(this.name)}, expected lowercase letters, digits and -`);
    if (this.driver === "docker" && !p.image) err("ELY-JOB-002", "image", "received nothing, expected a container image: the docker driver needs one");
    if (this.driver !== "docker" && !p.command) err("ELY-JOB-002", "command", `received nothing, expected a command: the ${this.driver} driver needs one`);
    if (p.count !== undefined && (!Number.isInteger(p.count) || p.count < 1)) err("ELY-JOB-003", "count", `received ${p.count}, expected a whole number of at least 1`);
    if (p.count !== undefined && this.type === "system") err("ELY-JOB-003", "count", `received ${p.count}, expected no count: a system job runs on every eligible client`);
    if (!(this.cpuMhz > 0)) err("ELY-JOB-004", "cpuMhz", `received ${this.cpuMhz}, expected a positive number of MHz`);
    if (!(this.memoryMb > 0)) err("ELY-JOB-004", "memoryMb", `received ${this.memoryMb}, expected a positive number of MB`);
    if (p.memoryMaxMb !== undefined && p.memoryMaxMb < this.memoryMb) err("ELY-JOB-004", "memoryMaxMb", `received ${p.memoryMaxMb}, expected at least memoryMb (${this.memoryMb})`);

    const labels = new Set<string>();
    for (const [i, port] of (p.ports ?? []).entries()) {
      if (!PORT_LABEL.test(port.label)) err("ELY-JOB-005", `ports[${i}].label`, `received ${JSON.stringify(port.label)}, expected a port label of lowercase letters, digits and _ (it names NOMAD_PORT_<label>)`);
      if (labels.has(port.label)) err("ELY-JOB-005", `ports[${i}].label`, `received ${JSON.stringify(port.label)}, expected a label not used by another port`);
      labels.add(port.label);
      for (const key of ["static", "to"] as const) {
        const value = port[key];
        if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= 65535)) err("ELY-JOB-005", `ports[${i}].${key}`, `received ${value}, expected a port number 1-65535`);
      }
    }
    const needPort = (field: string, label: string | undefined) => {
      if (label !== undefined && !labels.has(label)) err("ELY-JOB-006", field, `received ${JSON.stringify(label)}, expected one of the job's port labels (${[...labels].join(", ") || "none declared"})`);
    };
    (p.checks ?? []).forEach((c, i) => needPort(`checks[${i}].port`, c.port));
    if (p.expose) {
      if (labels.size === 0) err("ELY-JOB-006", "expose", `received an exposure of ${p.expose.host}, expected the job to declare a port for the ingress to reach`);
      needPort("expose.port", p.expose.port);
      if (!/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(p.expose.host)) err("ELY-JOB-007", "expose.host", `received ${JSON.stringify(p.expose.host)}, expected a DNS name like www.example.com`);
      if (p.expose.path !== undefined && !ROUTE_PATH.test(p.expose.path)) err("ELY-JOB-007", "expose.path", `received ${JSON.stringify(p.expose.path)}, expected a URL path starting with / (no spaces, quotes or backticks)`);
    }
    if ((p.checks ?? []).length > 0 && (p.ports ?? []).length === 0) err("ELY-JOB-006", "checks", "received checks, expected ports for them to target: checks belong to the job's Consul service");
    if (p.periodicCron !== undefined && this.type !== "batch") err("ELY-JOB-008", "periodicCron", `received ${JSON.stringify(p.periodicCron)} on a ${this.type} job, expected a batch job: only batch jobs run on a schedule`);
    if (p.periodicCron !== undefined && p.periodicCron.trim().split(/\s+/).length < 5) err("ELY-JOB-008", "periodicCron", `received ${JSON.stringify(p.periodicCron)}, expected a cron expression of 5 fields like "*/5 * * * *"`);
    const canaries = p.update?.canaries ?? 0;
    if (canaries > 0 && this.type !== "service") err("ELY-JOB-009", "update.canaries", `received ${canaries}, expected 0: canaries exist for service jobs only`);
    (p.templates ?? []).forEach((t, i) => {
      if (t.destination.startsWith("/") || t.destination.includes("..")) err("ELY-JOB-010", `templates[${i}].destination`, `received ${JSON.stringify(t.destination)}, expected a path inside the task directory (local/..., secrets/...)`);
    });
    return errors;
  }
}
