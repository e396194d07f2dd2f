/**
 * Every check Ely makes, by rule id, in the manner of cdk-nag's rule packs: a problem names its
 * rule (`ELY-INV-003`), and a user looks the id up in docs/rules.md, which `npm run docs:rules`
 * generates from this table (a unit test fails when it is out of date).
 *
 * Ids are stable: a rule that goes away leaves its number unused. The prefix is the area:
 * FILE the inventory file, SCH the schema's types and ranges, STR the string shapes a field
 * accepts (safe-strings.ts), INV the rules over the whole inventory, STO storage, IMG image
 * channels, JOB a job's own declaration, PLC the placement of the jobs on the clients, DNS public
 * DNS, NET netboot and the boot service, SEC secret delivery, RLO the server rollout.
 */

export interface Rule {
  readonly severity: "error" | "warning";
  /** What the rule requires, in one sentence. */
  readonly summary: string;
}

const error = (summary: string): Rule => ({ severity: "error", summary });
const warning = (summary: string): Rule => ({ severity: "warning", summary });

export const RULES = {
  "ELY-FILE-001": error("The inventory file named by ELY_INVENTORY is readable."),
  "ELY-FILE-002": error("The inventory file parses as JSON or YAML (by its extension)."),

  "ELY-SCH-001": error("Every key is one the schema knows (a near miss gets a \"did you mean\")."),
  "ELY-SCH-002": error("Every value has the type its field takes (string, number, boolean, list, object)."),
  "ELY-SCH-003": error("A field of a closed vocabulary (role, arch, boot, driver, backend...) holds one of its values."),
  "ELY-SCH-004": error("A field that takes one of several shapes (state backend, DNS provider) matches one of them."),
  "ELY-SCH-005": error("Numbers and lists are within their bounds (ports 1-65535, positive sizes, at least one node...)."),
  "ELY-SCH-006": error("A key of a map (meta, extraPackages, channels) has the shape its map takes."),
  "ELY-SCH-007": error("Any other schema constraint of a field (a whole number, a known format)."),

  "ELY-STR-001": error("Datacenter and region are identifiers: lowercase letters, digits, - and _, at most 63."),
  "ELY-STR-002": error("Domains and DNS names are lowercase DNS names (letters, digits, - and dots)."),
  "ELY-STR-003": error("A TSIG key name is a DNS name, optionally ending with the root dot."),
  "ELY-STR-004": error("Agent versions are release versions like 1.16.3 or 1.7.0-beta.1."),
  "ELY-STR-005": error("Paths on a node are absolute, of letters, digits, ., _, - and / only, with no . or .. segments and no trailing /."),
  "ELY-STR-006": error("Paths on the plan machine (state file, CA file) hold letters, digits, ., _, - and / only."),
  "ELY-STR-007": error("The secrets directory is dedicated to Ely, never a system directory such as /etc or /var/lib."),
  "ELY-STR-008": error("Provider endpoints are http(s) addresses with a host and an optional port."),
  "ELY-STR-009": error("A Consul state address is host or host:port."),
  "ELY-STR-010": error("DNS provider account names hold letters, digits, _, ., @ and - only."),
  "ELY-STR-011": error("Meta keys are letters, digits, _, . and -, starting with a letter or _."),
  "ELY-STR-012": error("Free text (a hardware model, a meta value) is not empty, not too long, and holds no control characters and no ${ or %{."),
  "ELY-STR-013": error("A hostname is one lowercase DNS label."),
  "ELY-STR-014": error("Addresses (node IPs, gateway, ingress, DNS servers) are dotted-quad IPv4 addresses."),
  "ELY-STR-015": error("The subnet is IPv4 in CIDR notation."),
  "ELY-STR-016": error("MAC addresses are six colon-separated hex octets."),
  "ELY-STR-017": error("Image channel and revision names are lowercase letters, digits, - and _, at most 32."),
  "ELY-STR-018": error("Extra packages are Debian package names."),
  "ELY-STR-019": error("Authorized ssh keys are single OpenSSH public key lines with no options."),
  "ELY-STR-020": error("A disk's device is a name like nvme0n1 or sda."),
  "ELY-STR-021": error("A host volume's name is lowercase letters, digits, - and _."),
  "ELY-STR-022": error("The cluster name (the stack's name) is lowercase letters, digits and -, starting with a letter."),
  "ELY-STR-023": error("An ssh user is a Unix user name."),
  "ELY-STR-024": error("A Consul KV path of the state is segments of letters, digits, ., _ and -."),
  "ELY-STR-025": error("An image is named <role>-<arch>, like client-amd64."),
  "ELY-STR-026": error("A disk's byId or serial holds no whitespace, quotes, / or shell metacharacters."),
  "ELY-STR-027": error("NFS export clients are IPv4 subnets (CIDR) or addresses."),

  "ELY-INV-001": error("The subnet is its network address: no host bits set."),
  "ELY-INV-002": error("Every address (nodes, gateway, ingress) is inside the subnet."),
  "ELY-INV-003": error("No address is the subnet's network or broadcast address."),
  "ELY-INV-004": error("Addresses are unique across the nodes, the gateway and the ingress."),
  "ELY-INV-005": error("Hostnames are unique."),
  "ELY-INV-006": error("MAC addresses (boot and extra) are unique, whatever their letter case."),
  "ELY-INV-007": error("A MAC is the unicast address of an interface (no multicast or broadcast)."),
  "ELY-INV-008": error("A netbooted node has the MAC of its boot interface: its iPXE script is chosen by it."),
  "ELY-INV-009": error("A client declares hardware with cores, cpuMhz and memoryMb: the jobs' capacity checks need them."),
  "ELY-INV-010": error("Host volume names are unique on a node."),
  "ELY-INV-011": error("There are 3, 5 or another odd number of servers (or 1 for a lab)."),
  "ELY-INV-012": warning("A single server is fine for a lab but loses the cluster with that node."),
  "ELY-INV-013": error("There is at least one client to run the jobs."),
  "ELY-INV-014": error("A server does not netboot while security is on: a netbooted node's secrets are a client's only, and a server's certificates, gossip keys and Raft data would be lost from RAM at every reboot."),

  "ELY-STO-001": error("NFS exports are declared on the util node only."),
  "ELY-STO-002": error("A scratch disk is named by byId or serial, not by its device alone: it is formatted at every boot."),
  "ELY-STO-003": error("Only a netbooted node has a scratch disk: its boot image formats and mounts it."),
  "ELY-STO-004": error("One scratch disk per mount point."),
  "ELY-STO-005": error("An NFS-backed host volume lies under an NFS mount point of its node."),
  "ELY-STO-006": error("A scratch-backed host volume lies under a scratch disk's mount point of its node."),
  "ELY-STO-007": error("A netbooted node has no \"local\" volume: it has no root disk."),
  "ELY-STO-008": error("Only a netbooted node has a \"ram\" volume."),

  "ELY-IMG-001": error("Image revision names are unique."),
  "ELY-IMG-002": error("The channel \"latest\" is not pinned: it always boots the newest revision."),
  "ELY-IMG-003": error("A channel names a revision of images.revisions."),
  "ELY-IMG-004": error("A node's imageChannel is \"latest\", \"stable\" or a channel of images.channels."),
  "ELY-IMG-005": error("A revision's extraPackages name images that some netbooted node boots."),

  "ELY-JOB-001": error("A job's name is lowercase letters, digits and -."),
  "ELY-JOB-002": error("A docker job names a container image; another driver's job names a command."),
  "ELY-JOB-003": error("A job's count is a whole number of at least 1, and a system job has none."),
  "ELY-JOB-004": error("A job's CPU and memory are positive, and memoryMaxMb is at least memoryMb."),
  "ELY-JOB-005": error("Port labels are lowercase letters, digits and _, unique in the job; port numbers are 1-65535."),
  "ELY-JOB-006": error("Checks and the exposure name ports the job declares."),
  "ELY-JOB-007": error("An exposed host is a DNS name, its path a URL path starting with /."),
  "ELY-JOB-008": error("A periodic job is a batch job with a 5-field cron expression."),
  "ELY-JOB-009": error("Canaries exist for service jobs only."),
  "ELY-JOB-010": error("A template's destination is inside the task directory."),

  "ELY-PLC-001": error("A job's driver is one some client offers."),
  "ELY-PLC-002": error("A job's host volume is one some client provides."),
  "ELY-PLC-003": error("A job's NFS volume lies under an NFS export of the util node."),
  "ELY-PLC-004": error("Some client can run each job (driver, host volumes and constraints together)."),
  "ELY-PLC-005": error("A stateful job's host volumes survive a reboot (nfs or local storage) on every client that may run it."),
  "ELY-PLC-006": error("One allocation of a job fits one client after the scheduler's headroom."),
  "ELY-PLC-007": error("All allocations of a job fit the clients that may run it, after headroom."),
  "ELY-PLC-008": error("A static port is needed by at most one allocation per client."),
  "ELY-PLC-009": error("A static port belongs to one job per node."),
  "ELY-PLC-010": error("An exposed host (and path) belongs to one job."),
  "ELY-PLC-011": error("All jobs together fit the clients after headroom."),
  "ELY-PLC-012": error("The clients that stay up while images.rollout.maxUnavailable workers reimage hold the service and batch jobs."),

  "ELY-DNS-001": error("The public ingress name lies inside one of the DNS zones."),
  "ELY-DNS-002": error("An exposed host lies inside one of the DNS zones."),
  "ELY-DNS-003": error("An exposed host is not a zone's apex: a CNAME cannot sit there."),

  "ELY-NET-001": error("Netbooted nodes have a util node to serve them."),
  "ELY-NET-002": error("Netboot's extraPackages name images that some netbooted node boots."),
  "ELY-NET-003": error("A boot entry's build id is 16 hex digits."),
  "ELY-NET-004": error("A boot entry's ramroot artifact is one the initrd or the kernel can unpack."),
  "ELY-NET-005": error("Every NFS export the boot service writes has at least one client."),
  "ELY-NET-006": error("The boot service's and the secrets server's listen address is a port or address:port."),
  "ELY-NET-007": error("The boot service's DHCP interface is a network interface name."),

  "ELY-SEC-001": error("The secrets server's port is a TCP port (1-65535)."),
  "ELY-SEC-002": error("The secrets server's group and the worker user are system names."),
  "ELY-SEC-003": error("Every secret the enabled security features need is given."),

  "ELY-RLO-001": error("The server rollout updates servers only, each once."),
  "ELY-RLO-002": error("The agent configuration bundle holds every file the rollout pushes."),
  "ELY-RLO-003": error("With ACLs on, the rollout has the Consul and Nomad operator tokens its health gate needs."),
  "ELY-RLO-004": error("The rollout's health timeout is whole seconds from 10 to 3600."),
  "ELY-RLO-005": error("The rollout's ssh options are Key=Value, as ssh -o takes them."),
} as const satisfies Record<string, Rule>;

export type RuleId = keyof typeof RULES;

/** The area of a rule id: "INV" of "ELY-INV-003". */
export function areaOf(rule: RuleId): string {
  return rule.split("-")[1];
}
