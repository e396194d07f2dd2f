/**
 * Every inventory string that reaches a Terraform expression, a shell command, a root
 * manifest or a boot script accepts only what its meaning needs; each rule's message.
 */
import { InventoryError, parseInventory } from "../nodes";
import { defaultInput, LooseInput } from "./helpers/inventory";

function problems(change: (i: LooseInput) => void): string {
  const input = defaultInput();
  change(input);
  try {
    parseInventory(input, "inv.json");
  } catch (e) {
    expect(e).toBeInstanceOf(InventoryError);
    return (e as Error).message;
  }
  throw new Error("expected the inventory to be refused");
}

const INJECTION = '1.16.3${file("/etc/hostname")}';

describe.each<[string, string, (i: LooseInput) => void, string]>([
  ["datacenter", "ELY-STR-001", (i) => (i.datacenter = "dc1${file(\"/etc/hostname\")}"), 'field datacenter: received "dc1${file(\\"/etc/hostname\\")}", expected a datacenter name like 509ely: lowercase letters, digits, - and _'],
  ["region", "ELY-STR-001", (i) => (i.region = "Global Region"), 'field region: received "Global Region", expected a region name like global: lowercase letters'],
  ["versions.consul", "ELY-STR-004", (i) => (i.versions = { consul: INJECTION }), `field versions.consul: received ${JSON.stringify(INJECTION)}, expected a Consul release version like 1.16.3`],
  ["versions.nomad", "ELY-STR-004", (i) => (i.versions = { nomad: "1.6.x" }), 'field versions.nomad: received "1.6.x", expected a Nomad release version like 1.6.3'],
  ["secretsDir with a newline", "ELY-STR-005", (i) => (i.security = { secretsDir: "/etc/ely\ndir 0777 root root /etc" }), 'field security.secretsDir: received "/etc/ely\\ndir 0777 root root /etc", expected a dedicated directory for the secrets such as /etc/ely/secrets: an absolute path'],
  ["secretsDir a system directory", "ELY-STR-007", (i) => (i.security = { secretsDir: "/etc" }), 'field security.secretsDir: received "/etc", expected a directory dedicated to Ely\'s secrets such as /etc/ely/secrets, not the system directory /etc'],
  ["secretsDir with ..", "ELY-STR-005", (i) => (i.security = { secretsDir: "/etc/ely/../ssh" }), 'field security.secretsDir: received "/etc/ely/../ssh", expected a dedicated directory for the secrets such as /etc/ely/secrets: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no \"..\", no trailing /)'],
  ["internalDomain with a newline", "ELY-STR-002", (i) => (i.network.internalDomain = "dmz.509ely.com\nchain http://evil/x"), 'field network.internalDomain: received "dmz.509ely.com\\nchain http://evil/x", expected the hosts\' domain: a lowercase DNS name'],
  ["internalDomain with a space", "ELY-STR-002", (i) => (i.network.internalDomain = "dmz.509ely.com ely.onfail=shell"), 'field network.internalDomain: received "dmz.509ely.com ely.onfail=shell", expected the hosts\' domain: a lowercase DNS name'],
  ["servicesDomain", "ELY-STR-002", (i) => (i.network.servicesDomain = "apps..com"), 'field network.servicesDomain: received "apps..com", expected the services\' domain: a lowercase DNS name'],
  ["imageChannel", "ELY-STR-017", (i) => (i.nodes[4].imageChannel = "latest; reboot"), 'node w1, field nodes[4].imageChannel: received "latest; reboot", expected a channel name like stable or latest (lowercase letters'],
  ["hardware.model", "ELY-STR-012", (i) => (i.nodes[4].hardware.model = "ODROID\nH2"), 'node w1, field nodes[4].hardware.model: received "ODROID\\nH2", expected a model name like ODROID H2 without control characters'],
  ["hardware.model template", "ELY-STR-012", (i) => (i.nodes[4].hardware.model = "H2 ${path.cwd}"), 'node w1, field nodes[4].hardware.model: received "H2 ${path.cwd}", expected a model name like ODROID H2 without "${" or "%{"'],
  ["disk device", "ELY-STR-020", (i) => (i.nodes[4].hardware.disks[0].device = "/dev/sda"), 'node w1, field nodes[4].hardware.disks[0].device: received "/dev/sda", expected a device name like nvme0n1 or sda'],
  ["host volume path", "ELY-STR-005", (i) => (i.nodes[4].hostVolumes[0].path = "/mnt/scratch dir"), 'node w1, field nodes[4].hostVolumes[0].path: received "/mnt/scratch dir", expected the volume\'s directory on the node: an absolute path'],
  ["meta key", "ELY-STR-011", (i) => (i.nodes[4].meta = { "rack id": "1" }), 'node w1, field nodes[4].meta.rack id: received "rack id", expected a meta key of letters, digits, _, . and -'],
  ["meta value", "ELY-STR-012", (i) => (i.nodes[4].meta = { rack: "%{ if true }x%{ endif }" }), 'node w1, field nodes[4].meta.rack: received "%{ if true }x%{ endif }", expected a meta value without "${" or "%{"'],
  ["endpoints.consul", "ELY-STR-008", (i) => (i.endpoints = { consul: "https://10.25.89.10:8501/${file(\"x\")}" }), 'field endpoints.consul: received "https://10.25.89.10:8501/${file(\\"x\\")}", expected Consul\'s HTTP(S) address: an http(s) address with a host and an optional port'],
  ["endpoints.caFile", "ELY-STR-006", (i) => (i.endpoints = { caFile: "ca $(id).pem" }), 'field endpoints.caFile: received "ca $(id).pem", expected the CA certificate file: a file path'],
  ["state.path", "ELY-STR-006", (i) => (i.state = { backend: "local", path: "state\n.tfstate" }), 'field state.path: received "state\\n.tfstate", expected the state file: a file path'],
  ["state consul path", "ELY-STR-024", (i) => (i.state = { backend: "consul", path: "ely/${x}" }), 'field state.path: received "ely/${x}", expected a Consul KV path like ely/terraform/state'],
  ["dns.apiUser", "ELY-STR-010", (i) => (i.dns.apiUser = "kyle ondy"), 'field dns.apiUser: received "kyle ondy", expected the Namecheap API user: letters, digits'],
  ["dns.zones", "ELY-STR-002", (i) => (i.dns.zones = ["ondy.org\n"]), 'field dns.zones[0]: received "ondy.org\\n", expected a zone (registered domain) like ondy.org: a lowercase DNS name'],
  ["dns.keyAlgorithm", "ELY-SCH-003", (i) => (i.dns = { provider: "rfc2136", server: "ns1.ondy.org", keyName: "ely.", keyAlgorithm: "sha256", ingressName: "home.ondy.org", zones: ["ondy.org"] }), 'field dns.keyAlgorithm: received "sha256", expected one of "hmac-md5", "hmac-sha1"'],
  ["dns.keyName", "ELY-STR-003", (i) => (i.dns = { provider: "rfc2136", server: "ns1.ondy.org", keyName: "ely key.", ingressName: "home.ondy.org", zones: ["ondy.org"] }), 'field dns.keyName: received "ely key.", expected the TSIG key name: a lowercase DNS name like ely-key.'],
  ["state consul address", "ELY-STR-009", (i) => (i.state = { backend: "consul", address: "10.25.89.10 8500" }), 'field state.address: received "10.25.89.10 8500", expected the Consul address of the state: host or host:port'],
  ["state backend", "ELY-SCH-004", (i) => (i.state = { backend: "s3" }), `field state.backend: received {"backend":"s3"}, expected one of 'local' | 'consul'`],
  ["sshAuthorizedKeys", "ELY-STR-019", (i) => (i.images = { rollout: { sshAuthorizedKeys: ["ssh-ed25519 AAAA\nroot"] } }), 'field images.rollout.sshAuthorizedKeys[0]: received "ssh-ed25519 AAAA\\nroot", expected an OpenSSH public key line'],
  ["host volume name", "ELY-STR-021", (i) => (i.nodes[4].hostVolumes[0].name = "Data Dir"), 'node w1, field nodes[4].hostVolumes[0].name: received "Data Dir", expected a lowercase name of letters, digits, - and _'],
  ["name", "ELY-STR-022", (i) => (i.name = "My Lab"), 'field name: received "My Lab", expected a lowercase name of letters, digits and -'],
  ["ssh user", "ELY-STR-023", (i) => (i.nodes[1].ssh = { user: "Pi User" }), 'node m1, field nodes[1].ssh.user: received "Pi User", expected a Unix user name'],
])("the inventory field %s", (_name, rule, change, expected) => {
  test("is refused with a message naming its rule, it, what was received and what was expected", () => {
    expect(problems(change)).toContain(`error ${rule}: inv.json, ${expected}`);
  });
});

test("the seed's values and ordinary alternatives are accepted", () => {
  const input = defaultInput();
  input.versions = { consul: "1.17.0-beta.1", nomad: "1.6.3" };
  input.security = { secretsDir: "/var/lib/ely/secrets" };
  input.endpoints = { consul: "https://consul.dmz.509ely.com:8501", caFile: "../secrets/ca.pem" };
  input.dns = { provider: "rfc2136", server: "ns1.ondy.org", keyName: "ely-key.", ingressName: "home.ondy.org", zones: ["ondy.org"] };
  input.nodes[4].meta = { rack: "top shelf (left)" };
  expect(() => parseInventory(input, "inv.json")).not.toThrow();
});
