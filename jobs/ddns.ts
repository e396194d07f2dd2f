import { zoneOf } from "../nodes/dns-zones";
import { Inventory } from "../nodes";
import { JobDefinition, jobSecret } from "./job-definition";

/**
 * Dynamic DNS: every five minutes, points the public ingress name at the home address at
 * the registrar (set up by hand in the original). The credentials come from the job's
 * Nomad variable (nomad/jobs/ddns: password for Namecheap, tsig_secret for RFC 2136).
 */
export function ddnsScript(inventory: Inventory): string | undefined {
  const dns = inventory.dns;
  if (dns.provider === "none") return undefined;
  const zoned = zoneOf(dns.ingressName, dns.zones);
  if (!zoned) return undefined; // PublicDns reports the missing zone.
  if (dns.provider === "namecheap") {
    // Namecheap's dynamic DNS takes the caller's address when none is given.
    return [
      "#!/bin/sh",
      "set -eu",
      `curl -fsS "https://dynamicdns.park-your-domain.com/update?host=${zoned.name}&domain=${zoned.zone}&password=$DDNS_PASSWORD" | grep -q '<ErrCount>0</ErrCount>'`,
      `echo "ddns: ${dns.ingressName} updated"`,
      "",
    ].join("\n");
  }
  return [
    "#!/bin/sh",
    "set -eu",
    "address=$(curl -fsS https://api.ipify.org)",
    `nsupdate -y "${dns.keyAlgorithm}:${dns.keyName}:$TSIG_SECRET" <<EOF`,
    `server ${dns.server} ${dns.port}`,
    `zone ${zoned.zone}`,
    `update delete ${dns.ingressName}. A`,
    `update add ${dns.ingressName}. ${dns.ttlSeconds} A $address`,
    "send",
    "EOF",
    `echo "ddns: ${dns.ingressName} -> $address"`,
    "",
  ].join("\n");
}

export const ddns: JobDefinition = {
  id: "ddns",
  props: (inventory) => {
    const script = ddnsScript(inventory) ?? "#!/bin/sh\necho 'ddns: no public DNS provider in the inventory'\n";
    const secretKey = inventory.dns.provider === "rfc2136" ? "TSIG_SECRET" : "DDNS_PASSWORD";
    const variable = inventory.dns.provider === "rfc2136" ? "tsig_secret" : "password";
    return {
      type: "batch",
      periodicCron: "*/5 * * * *",
      // bind-tools brings nsupdate next to curl.
      image: inventory.dns.provider === "rfc2136" ? "alpine/bind-tools:9.18" : "curlimages/curl:8.10.1",
      command: "/bin/sh",
      args: ["/local/ddns.sh"],
      cpuMhz: 50,
      memoryMb: 32,
      templates: [
        { destination: "local/ddns.sh", data: script },
        { destination: "secrets/ddns.env", envFile: true, data: `${secretKey}=${jobSecret("ddns", variable)}\n` },
      ],
    };
  },
};
