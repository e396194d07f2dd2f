import { TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { CnameRecord } from "@cdktf/provider-dns/lib/cname-record";
import { DnsProvider } from "@cdktf/provider-dns/lib/provider";
import { DnsConfig } from "../../nodes";
import { zoneOf } from "../../nodes/dns-zones";
import { problem, Problem } from "../../nodes/problems";
import { addChecks } from "../checks";
import { NamecheapDomainRecords, NamecheapProvider } from "./namecheap";

export interface PublicDnsProps {
  /** The backend and zones (the inventory's `dns`). */
  readonly dns: DnsConfig;
  /** Public host names to point at the ingress, with the job that exposes each. */
  readonly hosts: readonly { readonly host: string; readonly job: string }[];
}

/**
 * Public DNS for the exposed services: each host becomes a CNAME to the ingress name,
 * written through the inventory's backend: RFC 2136 dynamic updates (the hashicorp/dns
 * provider; BIND, Knot, PowerDNS...) or Namecheap, the seed's registrar. The backend's
 * credential is a sensitive variable (dns_tsig_secret or namecheap_api_key).
 */
export class PublicDns extends Construct {
  /** Records by host: zone, name inside it, target. */
  readonly records: ReadonlyMap<string, { zone: string; name: string; target: string }>;

  constructor(scope: Construct, id: string, props: PublicDnsProps) {
    super(scope, id);
    const dns = props.dns;
    const records = new Map<string, { zone: string; name: string; target: string }>();
    const problems: Problem[] = [];
    if (dns.provider !== "none") {
      if (!zoneOf(dns.ingressName, dns.zones)) {
        problems.push(problem("ELY-DNS-001", { field: "dns.ingressName" }, `received ${JSON.stringify(dns.ingressName)}, expected a name inside one of the zones ${dns.zones.join(", ")}`));
      }
      for (const { host, job } of props.hosts) {
        if (records.has(host) || host.toLowerCase() === dns.ingressName.toLowerCase()) continue;
        const zoned = zoneOf(host, dns.zones);
        if (!zoned) problems.push(problem("ELY-DNS-002", { job, field: "expose.host" }, `received ${JSON.stringify(host)}, expected a host inside one of the DNS zones (${dns.zones.join(", ")})`));
        else if (zoned.name === "@") problems.push(problem("ELY-DNS-003", { job, field: "expose.host" }, `received ${JSON.stringify(host)}, the apex of zone ${zoned.zone}; expected a name below it (a CNAME cannot sit at a zone apex)`));
        else records.set(host, { zone: zoned.zone, name: zoned.name, target: dns.ingressName });
      }
    }
    this.records = records;
    addChecks(this, () => problems);

    if (dns.provider === "rfc2136") {
      const secret = new TerraformVariable(this, "dns_tsig_secret", { type: "string", sensitive: true, description: `TSIG secret of key ${dns.keyName} for dynamic updates on ${dns.server}` });
      secret.overrideLogicalId("dns_tsig_secret");
      const provider = new DnsProvider(this, "dns", {
        update: [{ server: dns.server, port: dns.port, keyName: fqdn(dns.keyName), keyAlgorithm: dns.keyAlgorithm, keySecret: secret.stringValue }],
      });
      for (const [host, r] of records) {
        new CnameRecord(this, host, { provider, zone: fqdn(r.zone), name: r.name, cname: fqdn(r.target), ttl: dns.ttlSeconds });
      }
    } else if (dns.provider === "namecheap") {
      const apiKey = new TerraformVariable(this, "namecheap_api_key", { type: "string", sensitive: true, description: "Namecheap API key" });
      apiKey.overrideLogicalId("namecheap_api_key");
      const provider = new NamecheapProvider(this, "namecheap", { userName: dns.userName, apiUser: dns.apiUser, apiKey: apiKey.stringValue });
      const byZone = new Map<string, { hostname: string; address: string }[]>();
      for (const r of records.values()) byZone.set(r.zone, [...(byZone.get(r.zone) ?? []), { hostname: r.name, address: fqdn(r.target) }]);
      for (const [zone, zoneRecords] of byZone) {
        new NamecheapDomainRecords(this, zone, {
          provider,
          domain: zone,
          records: zoneRecords.map((r) => ({ ...r, type: "CNAME" as const, ttlSeconds: dns.ttlSeconds })),
        });
      }
    }
  }
}

function fqdn(name: string): string {
  return name.endsWith(".") ? name : `${name}.`;
}
