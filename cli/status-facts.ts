/**
 * What the running cluster says about itself, read from Consul's and Nomad's HTTP APIs:
 * the members of each, the Nomad client nodes (status, eligibility, drain, the image build
 * they booted, their version), and every job with its allocations.
 */
import { BUILD_ID_META, IMAGE_META } from "../images/rootfs-files";
import { ClusterApi } from "./cluster-api";


export interface MemberFact {
  readonly name: string;
  readonly address: string;
  /** alive, leaving, left, failed (Consul's numbers translated). */
  readonly status: string;
  readonly version?: string;
  readonly server: boolean;
}

export interface NomadNodeFact {
  readonly name: string;
  readonly address: string;
  /** ready, down, initializing, disconnected */
  readonly status: string;
  readonly eligible: boolean;
  readonly draining: boolean;
  readonly version?: string;
  readonly buildId?: string;
  readonly image?: string;
}

export interface JobFact {
  readonly name: string;
  readonly type: string;
  /** Nomad's status: pending, running, dead. */
  readonly status: string;
  /** Stopped by hand (`nomad job stop`): its allocations are stopped. */
  readonly stopped: boolean;
  readonly periodic: boolean;
  /** Allocations Nomad wants: the task groups' counts (service, batch), the allocations it placed (system). */
  readonly desired: number;
  readonly running: number;
  /** Running and not reported unhealthy: a deployment's verdict when there is one. */
  readonly healthy: number;
  /** Per task group, its count in Nomad's copy of the job. */
  readonly groupCounts: Readonly<Record<string, number>>;
  readonly images: readonly string[];
}

export interface ClusterFacts {
  readonly consulMembers: readonly MemberFact[];
  readonly nomadServers: readonly MemberFact[];
  readonly nomadNodes: readonly NomadNodeFact[];
  readonly jobs: readonly JobFact[];
}

const CONSUL_MEMBER_STATUS: Record<number, string> = { 0: "none", 1: "alive", 2: "leaving", 3: "left", 4: "failed" };

/** "1.16.3:a1b2c3" (Consul's build tag), "1.6.3-dev" -> "1.6.3" */
export function versionOf(tag: string | undefined): string | undefined {
  return tag ? /^v?(\d+\.\d+\.\d+)/.exec(tag)?.[1] ?? tag : undefined;
}

interface ConsulMember {
  Name: string;
  Addr: string;
  Status: number;
  Tags?: Record<string, string>;
}
interface NomadMember {
  Name: string;
  Addr: string;
  Status: string;
  Tags?: Record<string, string>;
}
interface NomadNodeStub {
  ID: string;
  Name: string;
}
interface NomadNode {
  Name: string;
  HTTPAddr?: string;
  Status: string;
  SchedulingEligibility: string;
  DrainStrategy?: unknown;
  Drain?: boolean;
  Attributes?: Record<string, string>;
  Meta?: Record<string, string>;
}
interface NomadJobStub {
  ID: string;
  Type: string;
  Status: string;
  Stop: boolean;
  ParentID?: string;
  Periodic?: boolean;
}
interface NomadJob {
  TaskGroups?: { Name: string; Count?: number; Tasks?: { Config?: { image?: string } }[] }[];
  Periodic?: { Enabled?: boolean } | null;
}
interface NomadAlloc {
  ClientStatus: string;
  DesiredStatus: string;
  DeploymentStatus?: { Healthy?: boolean | null } | null;
}

export async function readClusterFacts(consul: ClusterApi, nomad: ClusterApi): Promise<ClusterFacts> {
  const [consulMembers, nomadMembers, nodeStubs, jobStubs] = await Promise.all([
    consul.get<ConsulMember[]>("/v1/agent/members"),
    nomad.get<{ Members: NomadMember[] }>("/v1/agent/members"),
    nomad.get<NomadNodeStub[]>("/v1/nodes"),
    nomad.get<NomadJobStub[]>("/v1/jobs"),
  ]);
  const nodes = await Promise.all((nodeStubs ?? []).map((n) => nomad.get<NomadNode>(`/v1/node/${encodeURIComponent(n.ID)}`)));
  // Children of periodic and parameterized jobs are Nomad's launches, not declared jobs.
  const declared = (jobStubs ?? []).filter((j) => !j.ParentID);
  const jobs = await Promise.all(
    declared.map(async (stub) => {
      const id = encodeURIComponent(stub.ID);
      const [job, allocs] = await Promise.all([nomad.get<NomadJob>(`/v1/job/${id}`), nomad.get<NomadAlloc[]>(`/v1/job/${id}/allocations`)]);
      return jobFact(stub, job ?? {}, allocs ?? []);
    }),
  );
  return {
    consulMembers: (consulMembers ?? []).map((m) => ({
      name: m.Name,
      address: m.Addr,
      status: CONSUL_MEMBER_STATUS[m.Status] ?? String(m.Status),
      version: versionOf(m.Tags?.build),
      server: m.Tags?.role === "consul",
    })),
    nomadServers: (nomadMembers?.Members ?? []).map((m) => ({ name: m.Name, address: m.Addr, status: m.Status, version: versionOf(m.Tags?.build), server: true })),
    nomadNodes: nodes
      .filter((n): n is NomadNode => n !== undefined)
      .map((n) => ({
        name: n.Name,
        address: n.Attributes?.["unique.network.ip-address"] ?? n.HTTPAddr?.replace(/:\d+$/, "") ?? "",
        status: n.Status,
        eligible: n.SchedulingEligibility === "eligible",
        draining: Boolean(n.DrainStrategy) || n.Drain === true,
        version: versionOf(n.Attributes?.["nomad.version"]),
        buildId: n.Meta?.[BUILD_ID_META],
        image: n.Meta?.[IMAGE_META],
      })),
    jobs,
  };
}

function jobFact(stub: NomadJobStub, job: NomadJob, allocs: NomadAlloc[]): JobFact {
  const groups = job.TaskGroups ?? [];
  const wanted = allocs.filter((a) => a.DesiredStatus === "run");
  const running = wanted.filter((a) => a.ClientStatus === "running");
  const healthy = running.filter((a) => a.DeploymentStatus?.Healthy !== false && a.DeploymentStatus?.Healthy !== null);
  const groupCounts = Object.fromEntries(groups.map((g) => [g.Name, g.Count ?? 1]));
  return {
    name: stub.ID,
    type: stub.Type,
    status: stub.Status,
    stopped: stub.Stop,
    periodic: Boolean(stub.Periodic || job.Periodic?.Enabled),
    desired: stub.Type === "system" || stub.Type === "sysbatch" ? wanted.length : groups.reduce((n, g) => n + (g.Count ?? 1), 0),
    running: running.length,
    healthy: healthy.length,
    groupCounts,
    images: groups.flatMap((g) => (g.Tasks ?? []).map((t) => t.Config?.image).filter((i): i is string => typeof i === "string")),
  };
}
