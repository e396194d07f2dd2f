/**
 * A picture of the cluster as a Mermaid flowchart (GitHub renders it): the nodes with their
 * role, architecture, boot and image channel; the util node's services; the jobs and where
 * each is exposed. Built from the stack's constructs, never from a hand-kept list; no build
 * id or secret appears in it, so the same code draws the same picture on every machine.
 */
import { ElyStack } from "../constructs";
import { bootModeOf, InventoryNode } from "../nodes";

export interface GraphOptions {
  /**
   * Draw only these nodes and jobs (and what connects them): the part of the cluster a plan
   * changes. Default: the whole cluster.
   */
  readonly only?: { readonly nodes: readonly string[]; readonly jobs: readonly string[] };
}

/** Mermaid text in a label: quotes and angle brackets as entities (labels are quoted). */
function label(...lines: string[]): string {
  return `"${lines.map((l) => l.replace(/&/g, "#amp;").replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;")).join("<br/>")}"`;
}

/** A Mermaid id from a hostname or job name (letters, digits, underscores). */
function id(kind: string, name: string): string {
  return `${kind}_${name.replace(/[^A-Za-z0-9]/g, "_")}`;
}

export function clusterGraph(stack: ElyStack, options: GraphOptions = {}): string {
  const inventory = stack.cluster.inventory;
  const only = options.only;
  const entries = new Map(stack.netboot.entries.map((e) => [e.hostname, e]));
  const nodes = inventory.nodes.filter((n) => !only || only.nodes.includes(n.hostname));
  const services = stack.services.services.filter((s) => !only || only.jobs.includes(s.name));
  const lines: string[] = ["flowchart LR"];
  const nodeBox = (n: InventoryNode) => {
    const entry = entries.get(n.hostname);
    const boot = entry ? `netboot ${entry.imageKey}, channel ${entry.channel}` : `boot ${bootModeOf(n)}`;
    return `    ${id("node", n.hostname)}[${label(n.hostname, `${n.role} · ${n.arch} · ${n.ip}`, boot)}]`;
  };

  lines.push(`  subgraph cluster[${label(`${inventory.name}: datacenter ${inventory.datacenter}, ${inventory.network.subnet}`)}]`);
  for (const role of ["util", "server", "client"] as const) {
    const members = nodes.filter((n) => n.role === role);
    if (members.length === 0) continue;
    const title = role === "util" ? "util node" : role === "server" ? "servers: Consul and Nomad servers" : "clients: Nomad clients";
    lines.push(`    subgraph ${id("role", role)}[${label(title)}]`, ...members.map((n) => "  " + nodeBox(n)), "    end");
  }
  lines.push("  end");

  // The util node's services: the boot service and the NFS export the jobs mount.
  const util = stack.netboot.utilNode;
  const bootService = stack.netboot.bootService;
  const netbooted = nodes.filter((n) => entries.has(n.hostname));
  const nfsJobs = services.filter((s) => (s.props.volumes ?? []).some((v) => v.kind === "nfs"));
  if (util && (!only || only.nodes.includes(util.hostname) || netbooted.length > 0 || nfsJobs.length > 0)) {
    const utilId = id("node", util.hostname);
    if (only && !only.nodes.includes(util.hostname)) lines.push(`  ${utilId}[${label(util.hostname, `util · ${util.spec.arch} · ${util.ip}`)}]`);
    if (bootService) {
      lines.push(`  util_boot([${label("boot service", `proxy DHCP + TFTP (dnsmasq), HTTP :${bootService.config.httpPort}`, "iPXE scripts, images, agent configuration")}])`);
      lines.push(`  ${utilId} --- util_boot`);
      for (const n of netbooted) {
        const entry = entries.get(n.hostname)!;
        lines.push(`  util_boot -. ${label(`${entry.imageKey} (${entry.channel})`)} .-> ${id("node", n.hostname)}`);
      }
    }
    if (nfsJobs.length > 0) {
      lines.push(`  util_nfs([${label("NFS export")}])`, `  ${utilId} --- util_nfs`);
      for (const s of nfsJobs) lines.push(`  util_nfs -.- ${id("job", s.name)}`);
    }
  }

  // The jobs, on the Nomad clients, and the hosts the ingress routes to them.
  if (services.length > 0) {
    lines.push(`  subgraph jobs[${label("jobs (Nomad)")}]`);
    for (const s of services) {
      const shape = s.type === "system" ? [`[[`, `]]`] : s.type === "batch" ? [`[/`, `/]`] : [`(`, `)`];
      const size = s.type === "system" ? "every client" : s.props.periodicCron ? `periodic ${s.props.periodicCron}` : s.type === "batch" ? "once" : `count ${s.count}`;
      lines.push(`    ${id("job", s.name)}${shape[0]}${label(s.name, `${s.type} · ${size}`, s.props.image ?? s.driver)}${shape[1]}`);
    }
    lines.push("  end");
    if (nodes.some((n) => n.role === "client")) lines.push(`  role_client == ${label("runs")} ==> jobs`);
    const exposed = services.filter((s) => s.props.expose);
    if (exposed.length > 0) {
      const dns = inventory.dns.provider === "none" ? "no public DNS managed" : `DNS: CNAME to ${inventory.dns.ingressName}`;
      lines.push(`  ingress{{${label("ingress", `${inventory.network.ingressAddress} :443, TLS`, dns)}}}`);
      for (const s of exposed) {
        const e = s.props.expose!;
        lines.push(`  ingress -- ${label(`${e.host}${e.path ?? ""}`)} --> ${id("job", s.name)}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

/** The graph as a Markdown code block GitHub renders. */
export function mermaidBlock(graph: string): string {
  return "```mermaid\n" + graph + "```\n";
}
