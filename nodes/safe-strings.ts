/**
 * The string shapes the inventory accepts. Every inventory string ends up somewhere
 * that interprets it: a Terraform expression (`${...}`, `%{...}`), a shell command, a
 * root manifest split on whitespace, an iPXE script or a kernel command line. So each
 * field accepts only the characters its meaning needs, and is refused otherwise with a
 * message saying what was expected. Free text (a hardware model, a meta value) may only
 * reach JSON files, and never holds control characters or Terraform template openers.
 */
import { z } from "zod";
import { ruleTagged as tag, shapeRuleOf } from "./problems";
import { RuleId } from "./rules";

/** A name the agents and Terraform take as is: datacenter, region, channel. */
export const identifier = (what: string) =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, tag("ELY-STR-001", `expected ${what}: lowercase letters, digits, - and _, at most 63 characters, starting with a letter or digit`));

/** A DNS name: labels of letters, digits and -, joined by dots. */
const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
export const dnsName = (what: string) =>
  z.string().regex(DNS_NAME, tag("ELY-STR-002", `expected ${what}: a lowercase DNS name like dmz.509ely.com (letters, digits, - and dots)`));

/** A DNS name that may end with the root dot (TSIG key names are often written "ely-key."). */
export const dnsNameOrFqdn = (what: string) =>
  z.string().refine((v) => DNS_NAME.test(v.endsWith(".") ? v.slice(0, -1) : v), {
    message: tag("ELY-STR-003", `expected ${what}: a lowercase DNS name like ely-key. (letters, digits, - and dots)`),
  });

/** A release version: 1.16.3, or 1.7.0-beta.1. */
export const releaseVersion = (agent: string, example: string) =>
  z
    .string()
    .regex(/^\d{1,4}\.\d{1,4}\.\d{1,4}(-[0-9a-z]+(\.[0-9a-z]+)*)?$/, tag("ELY-STR-004", `expected a ${agent} release version like ${example} (digits and dots, optionally -beta.1)`));

const PATH_SEGMENT = "[A-Za-z0-9_][A-Za-z0-9._-]*";
const ABSOLUTE_PATH = new RegExp(`^(/${PATH_SEGMENT})+$`);
const ANY_PATH = /^\/?[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

/** An absolute path on a node, written into unit files, manifests and agent files. */
export const absolutePath = (what: string) =>
  z
    .string()
    // A segment never starts with ".": no "." or ".." segment, no hidden file.
    .regex(ABSOLUTE_PATH, tag("ELY-STR-005", `expected ${what}: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no "..", no trailing /)`));

/** A directory on a node that Ely trims (an NFS export, a mount point): an absolute path, a trailing / allowed. */
export const directoryPath = (what: string) =>
  z
    .string()
    .regex(
      new RegExp(`^(/${PATH_SEGMENT})+/?$`),
      tag("ELY-STR-005", `expected ${what}: an absolute path like /opt/nfs (segments of letters, digits, ., _ and -; no spaces, no "..")`),
    );

/** A path on the machine that runs Terraform, absolute or relative to the stack directory. */
export const planMachinePath = (what: string) =>
  z
    .string()
    .regex(ANY_PATH, tag("ELY-STR-006", `expected ${what}: a file path of letters, digits, ., _, - and / (no spaces, quotes or $)`));

/**
 * System directories a node's secrets directory may not be: the rollout creates it with
 * mode 0750 owned by root:consul, which would lock users out of (or open) these.
 */
export const SYSTEM_DIRECTORIES: readonly string[] = [
  "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/media", "/mnt", "/opt", "/proc", "/root", "/run",
  "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/etc/consul.d", "/etc/nomad.d", "/etc/ssh", "/etc/systemd",
  "/etc/ssl", "/etc/default", "/etc/security", "/etc/sudoers.d", "/etc/pam.d", "/etc/cron.d", "/etc/apt",
  "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/local/sbin", "/usr/share",
  "/var/lib", "/var/log", "/var/run", "/var/tmp", "/var/cache", "/var/spool", "/run/user", "/opt/consul", "/opt/nomad",
];

/** The directory on the nodes that receives the secrets: dedicated to Ely, never a system directory. */
export const secretsDirectory = absolutePath("a dedicated directory for the secrets such as /etc/ely/secrets").superRefine((v, ctx) => {
  if (SYSTEM_DIRECTORIES.includes(v)) {
    ctx.addIssue({
      code: "custom",
      input: v,
      message: tag("ELY-STR-007", `expected a directory dedicated to Ely's secrets such as /etc/ely/secrets, not the system directory ${v} (the rollout sets its owner and mode)`),
    });
  }
});

/** An http(s) base address: scheme, host and port only. */
export const httpEndpoint = (what: string) =>
  z
    .string()
    .regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/, tag("ELY-STR-008", `expected ${what}: an http(s) address with a host and an optional port, like https://10.25.89.10:8501`));

/** host:port */
export const hostPort = (what: string) =>
  z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, tag("ELY-STR-009", `expected ${what}: host or host:port, like 10.25.89.10:8501`));

/** A user name or API user at a DNS provider. */
export const accountName = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, tag("ELY-STR-010", `expected ${what}: letters, digits, _, ., @ and -`));

/** Nomad meta keys: letters, digits, _, . and -. */
export const metaKey = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, tag("ELY-STR-011", "expected a meta key of letters, digits, _, . and - (starting with a letter or _)"));

/** Terraform reads `${` and `%{` in any string as a template; free text never holds them. */
const TEMPLATE_OPENER = /[$%]\{/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Human text that only reaches JSON files (a hardware model, a meta value). */
export const freeText = (what: string, maxLength = 128) =>
  z
    .string()
    .min(1, tag("ELY-STR-012", `expected ${what}: some text`))
    .max(maxLength, tag("ELY-STR-012", `expected ${what} of at most ${maxLength} characters`))
    .refine((v) => !CONTROL.test(v), { message: tag("ELY-STR-012", `expected ${what} without control characters (newline, tab, NUL...)`) })
    .refine((v) => !TEMPLATE_OPENER.test(v), { message: tag("ELY-STR-012", `expected ${what} without "\${" or "%{" (Terraform would read a template)`) });

/** A host name: one DNS label. */
export const hostLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, tag("ELY-STR-013", "expected a DNS label (lowercase letters, digits, -)"));

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A dotted-quad IPv4 address. */
export const ipv4Address = z.string().regex(IPV4, tag("ELY-STR-014", "expected an IPv4 address like 10.25.89.21"));

/** An IPv4 subnet in CIDR notation. */
export const ipv4Subnet = z
  .string()
  .refine((v) => IPV4.test(v.split("/")[0]) && /^\/([0-9]|[12][0-9]|3[0-2])$/.test(v.slice(v.indexOf("/"))), {
    message: tag("ELY-STR-015", "expected an IPv4 subnet in CIDR notation like 10.25.89.0/24"),
  });

/** A MAC address, colon-separated. */
export const macAddress = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, tag("ELY-STR-016", "expected a MAC address like 00:1e:06:45:28:5c"));

/** An image channel's or image revision's name (a link name on the util node, a construct id). */
export const imageChannelName = (what: string) =>
  z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, tag("ELY-STR-017", `expected ${what} (lowercase letters, digits, - and _, at most 32)`));

/** A Debian package name (Debian policy 5.6.1). */
export const debianPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]{1,62}$/, tag("ELY-STR-018", "expected a Debian package name like htop (lowercase letters, digits, +, - and .)"));

/** An OpenSSH public key line: type, base64 key, optional comment (one line, no options). */
export const sshPublicKey = z
  .string()
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{32,}={0,3}( [A-Za-z0-9@._+-]{1,64})?$/,
    tag("ELY-STR-019", "expected an OpenSSH public key line like ssh-ed25519 AAAAC3... operator@laptop (type, key, optional comment of letters, digits, @ . _ + -)"),
  );

/** A disk's name under /dev/disk/by-id/ or its serial: no whitespace, quotes, "/" or shell metacharacters. */
export const diskIdentity = (what: string) =>
  z.string().regex(/^[A-Za-z0-9._:+@-]+$/, tag("ELY-STR-026", `expected ${what} of letters, digits, ".", "_", ":", "+", "@", "-"`));

/** An IPv4 address, or a subnet in CIDR notation (who may mount an NFS export). */
export const ipv4AddressOrSubnet = z
  .string()
  .refine((v) => (v.includes("/") ? ipv4Subnet.safeParse(v).success : IPV4.test(v)), {
    message: tag("ELY-STR-027", "expected an IPv4 subnet (10.25.89.0/24) or address"),
  });

/**
 * The rule a value breaks and what it says, checked against a string shape here (for a construct's
 * own props, which take the same shapes as the inventory); undefined when the value fits.
 */
export function shapeProblemOf(shape: z.ZodType, value: unknown): { rule: RuleId; message: string } | undefined {
  const result = shape.safeParse(value);
  if (result.success) return undefined;
  const { rule, message } = shapeRuleOf(result.error.issues[0].message);
  return { rule: rule ?? "ELY-SCH-007", message };
}
