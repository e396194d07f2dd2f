/**
 * Files Ely adds to a node's root filesystem: the agents' systemd units, the unit that
 * fetches the node's agent configuration from the util node at boot, the node-up marker,
 * and per-boot identity (ssh host keys). None holds a secret: images are served over
 * plain HTTP; secrets arrive at every boot by ely-secrets.service (nodes/secret-delivery.ts):
 * the node's key disk, then HTTPS from the util node's secrets server.
 *
 * The kernel command line (written by the boot service's iPXE scripts) carries what a
 * node needs to know about itself; the initrd copies it into /etc/ely/boot.env:
 *   hostname=<h> ely.role=<role> ely.util=<host:port> ely.servers=<ip,ip,ip> ely.image=<key>/<build id>
 */
import { consulUnit, nomadUnit } from "./agent-units";
import { cmdlineCaseArms } from "./kernel-cmdline";
import { agentsReportScript, agentsReportUnit } from "./agents-report";
import { nomadReservedDropIn, nomadReservedScript } from "./nomad-reserved";
import { NFS_MOUNT_TIMEOUT_S, STORAGE_DIR, STORAGE_INDEX } from "../nodes/node-storage";
import { AUTHORIZED_KEYS_FILE, CONSUL_CONFIG_DIR, CONSUL_CONFIG_FILE, CONSUL_DATA_DIR, NOMAD_CONFIG_DIR, NOMAD_CONFIG_FILE, NOMAD_DATA_DIR, ROOT_SSH_DIR } from "../nodes/agent-paths";
import { KEY_DISK_CA, KEY_DISK_LABEL, KEY_DISK_NODE_KEY, REMOTE_SECRETS_DIR, SECRETS_BUNDLE } from "../nodes/secret-delivery";

export interface RootfsFile {
  /** Path inside the root, without the leading slash. */
  readonly path: string;
  readonly content: string;
  /** Octal mode. Default 0o644. */
  readonly mode?: number;
}

export interface RootfsFileSet {
  readonly files: readonly RootfsFile[];
  /** Units to enable, by name, as `systemctl enable` would (their [Install] section). */
  readonly enable: readonly string[];
  /** Units to mask, by name, as `systemctl mask` would: never started, even when another unit wants them. */
  readonly mask: readonly string[];
}

/** The file the initrd writes from the kernel command line. */
export const BOOT_ENV_FILE = "/etc/ely/boot.env";
/** Nomad reads every file of its configuration directory: this one carries the booted build. */
export const BOOT_META_FILE = "ely-boot.json";
/** The Nomad client meta keys of the booted image and build, read by \`ely status\`. */
export const BUILD_ID_META = "ely_build_id";
export const IMAGE_META = "ely_image";
/** The line the node-up unit prints on the console; the netboot test waits for it. */
export const NODE_UP_MARKER = "ELY-NODE-UP";

const LIB = "usr/local/lib/ely";
const UNITS = "usr/lib/systemd/system";

/** The kernel parameters boot.env holds, and their variables. */
const BOOT_ENV_PARAMS = [
  ["hostname", "ELY_HOSTNAME"], ["ely.role", "ELY_ROLE"], ["ely.util", "ELY_UTIL"], ["ely.image", "ELY_IMAGE"], ["ely.secrets", "ELY_SECRETS"], ["ramroot", "ELY_RAMROOT_URL"],
] as const;

/** Reads /etc/ely/boot.env, or the kernel command line when the initrd wrote none. */
const bootEnvLoader = `load_boot_env() {
  if [ -r ${BOOT_ENV_FILE} ]; then
    . ${BOOT_ENV_FILE}
    return
  fi
  for word in $(cat /proc/cmdline); do
    case "$word" in
${cmdlineCaseArms(BOOT_ENV_PARAMS, "      ")}
    esac
  done
}
`;

function fetchAgentConfigScript(withSsh: boolean): string {
  return `#!/bin/sh
# Fetches this node's rendered agent configuration from the util node's HTTP server:
# http://<ely.util>/config/<hostname>/{${CONSUL_CONFIG_FILE},${NOMAD_CONFIG_FILE}}${withSsh ? `, and the ssh keys that may log in as root (${AUTHORIZED_KEYS_FILE})` : ""}. A file the
# util node does not have for this node (404) is skipped: not every node runs both agents.
set -u
${bootEnvLoader}
load_boot_env
if [ -z "\${ELY_UTIL:-}" ] || [ -z "\${ELY_HOSTNAME:-}" ]; then
  echo "ely-agent-config: no ely.util= or hostname= on the kernel command line; nothing to fetch" >&2
  exit 1
fi
status=0
${writeBootMetaFunction}
fetch() {
  url="http://$ELY_UTIL/config/$ELY_HOSTNAME/$1"
  mkdir -p "$2"
  code=$(curl -sS --retry 10 --retry-delay 3 --retry-connrefused --max-time 30 -o "$2/$1.part" -w '%{http_code}' "$url")
  case "$code" in
    200) mv "$2/$1.part" "$2/$1"; echo "ely-agent-config: $url -> $2/$1" ;;
    404) rm -f "$2/$1.part"; echo "ely-agent-config: $url: none for this node" ;;
    *) rm -f "$2/$1.part"; echo "ely-agent-config: $url failed (HTTP $code)" >&2; status=1 ;;
  esac
}
fetch ${CONSUL_CONFIG_FILE} ${CONSUL_CONFIG_DIR}
fetch ${NOMAD_CONFIG_FILE} ${NOMAD_CONFIG_DIR}
${withSsh ? `fetch ${AUTHORIZED_KEYS_FILE} ${ROOT_SSH_DIR} && chmod 700 ${ROOT_SSH_DIR} && { [ ! -f ${ROOT_SSH_DIR}/${AUTHORIZED_KEYS_FILE} ] || chmod 600 ${ROOT_SSH_DIR}/${AUTHORIZED_KEYS_FILE}; }
` : ""}[ -f ${NOMAD_CONFIG_DIR}/${NOMAD_CONFIG_FILE} ] && write_boot_meta ${NOMAD_CONFIG_DIR}
exit $status
`;
}

/** Where the key disk is mounted (read-only, for a moment) and where the key and bundle stay: RAM, root only. */
const KEY_DISK_MOUNT = "/run/ely/key-disk";
const KEYS_DIR = "/run/ely/keys";

/**
 * Fetches this node's secrets (nodes/secret-delivery.ts) and puts each file in place with its
 * owner and mode, before the agents start. A cluster without secrets (no ely.secrets= on the
 * kernel command line) has nothing to fetch. Without its key disk, or with another node's, the
 * node says so on the console and its agents do not start. While the util node refuses or is
 * unreachable, it retries (the agents wait): a revoked node stays out of the cluster.
 */
function fetchSecretsScript(): string {
  return `#!/bin/sh
set -u
${bootEnvLoader}
load_boot_env
say() { echo "ely-secrets: $*"; echo "ely-secrets: $*" > /dev/console 2>/dev/null || true; }
if [ -z "\${ELY_SECRETS:-}" ]; then
  say "no ely.secrets= on the kernel command line: this cluster delivers no secrets"
  exit 0
fi
# ELY_KEY_DISK and ELY_ROOT (a device or image file, a root to install into) let a test run this on a host.
disk="\${ELY_KEY_DISK:-/dev/disk/by-label/${KEY_DISK_LABEL}}"
root="\${ELY_ROOT:-}"
# Up to 30 s for the disk to appear (a USB stick appears once usb-storage has scanned it), looked for every 0.1 s:
# the agents wait for this script.
i=0
while [ ! -e "$disk" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -e "$disk" ]; then
  say "no key disk (a file system labelled ${KEY_DISK_LABEL}): make one with: ely secrets key-disk --node \${ELY_HOSTNAME:-<this node>}; the agents will not start"
  exit 1
fi
umask 077
mkdir -p ${KEY_DISK_MOUNT} ${KEYS_DIR}
mount -o ro "$disk" ${KEY_DISK_MOUNT} || { say "cannot mount the key disk $disk"; exit 1; }
cp ${KEY_DISK_MOUNT}/${KEY_DISK_NODE_KEY} ${KEY_DISK_MOUNT}/${KEY_DISK_CA} ${KEYS_DIR}/ 2>/dev/null
copied=$?
umount ${KEY_DISK_MOUNT}
[ $copied -eq 0 ] || { say "the key disk holds no ${KEY_DISK_NODE_KEY} or ${KEY_DISK_CA}"; exit 1; }
IFS=: read -r name key < ${KEYS_DIR}/${KEY_DISK_NODE_KEY}
if [ "$name" != "\${ELY_HOSTNAME:-}" ]; then
  say "the key disk is $name's, this node is \${ELY_HOSTNAME:-unnamed}: not using it"
  exit 1
fi
url="https://$ELY_SECRETS/${REMOTE_SECRETS_DIR}/$name/${SECRETS_BUNDLE}"
bundle=${KEYS_DIR}/${SECRETS_BUNDLE}
delay=2
attempt=0
while :; do
  attempt=$((attempt + 1))
  # The key goes to curl on stdin (its config), never on a command line.
  code=$(printf 'user = "%s:%s"\\n' "$name" "$key" | curl -sS --config - --cacert ${KEYS_DIR}/${KEY_DISK_CA} --connect-timeout 5 --max-time 30 -o "$bundle.part" -w '%{http_code}' "$url")
  [ "$code" = 200 ] && break
  rm -f "$bundle.part"
  say "$url: HTTP \${code:-none} (attempt $attempt); retrying in $delay s"
  sleep $delay
  [ $delay -lt 30 ] && delay=$((delay * 2))
done
mv "$bundle.part" "$bundle"
staging=${KEYS_DIR}/bundle
rm -rf "$staging"; mkdir -p "$staging"
tar -x -f "$bundle" -C "$staging" --no-same-owner || { say "the bundle from $url is not a tar"; exit 1; }
rm -f "$bundle"
# Every file of the bundle to its place: Consul's readable by the consul group, the rest by root only,
# certificates and the CA public.
(cd "$staging" && find . -type f) | while read -r f; do
  f="\${f#./}"
  case "$f" in
    *.pem) case "$f" in *-key.pem) mode=0600 ;; *) mode=0644 ;; esac; group=root ;;
    ${CONSUL_CONFIG_DIR.replace(/^\//, "")}/*) mode=0640; group=consul ;;
    *) mode=0600; group=root ;;
  esac
  getent group $group >/dev/null || group=root # a node without the consul group runs no Consul
  install -D -m $mode -o root -g $group "$staging/$f" "$root/$f"
done
rm -rf "$staging"
say "secrets of $name in place ($url)"
`;
}

/**
 * A shell function: writes <dir>/${BOOT_META_FILE}, Nomad client meta naming the image build this
 * node booted (ely.image=<image>/<build id> of its kernel command line, in $ELY_IMAGE), which
 * \`ely status\` compares with the build the plan publishes. Nomad merges it with nomad.json.
 * A value of another shape is left out rather than written into JSON.
 */
export const writeBootMetaFunction = `write_boot_meta() {
  case "\${ELY_IMAGE:-}" in
    */*) ;;
    *) echo "ely-agent-config: no ely.image=<image>/<build> on the kernel command line; Nomad will not report this node's build" >&2; return 0 ;;
  esac
  image="\${ELY_IMAGE%/*}"
  build="\${ELY_IMAGE##*/}"
  case "$image/$build" in
    /*|*/|*/*/*|*[!a-z0-9/-]*) echo "ely-agent-config: ely.image=$ELY_IMAGE is not <image>/<build id>; not reported" >&2; return 0 ;;
  esac
  printf '{"client":{"meta":{"${BUILD_ID_META}":"%s","${IMAGE_META}":"%s"}}}\n' "$build" "$image" > "$1/${BOOT_META_FILE}"
}
`;

function nodeUpScript(): string {
  return `#!/bin/sh
# Prints one line on every console once the node is up: the netboot test waits for it,
# and a person at the console sees which node, image and address this is.
${bootEnvLoader}
load_boot_env
config=$(systemctl is-active ely-agent-config.service 2>/dev/null)
storage=$(systemctl is-active ely-storage.service 2>/dev/null)
ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | head -n 1)
line="${NODE_UP_MARKER} hostname=\${ELY_HOSTNAME:-unknown} role=\${ELY_ROLE:-unknown} image=\${ELY_IMAGE:-unknown} ip=\${ip:-none} agent-config=\${config:-unknown} storage=\${storage:-unknown} system-hostname=$(hostname)"
echo "$line"
echo "$line" > /dev/kmsg 2>/dev/null || true
echo "$line" > /dev/console 2>/dev/null || true
`;
}

/**
 * Mounts this node's storage before its agents: fetches the units the util node serves for it
 * (nodes/node-storage.ts: NFS mounts, scratch disk, host volume directories) into
 * /run/systemd/system and starts them in the listed order, stopping at the first that fails.
 */
function storageScript(): string {
  return `#!/bin/sh
# Ely: this node's storage, before its agents start. Units from http://<ely.util>/config/<hostname>/storage/.
set -u
${bootEnvLoader}
load_boot_env
say() { echo "ely-storage: $*"; }
if [ -z "\${ELY_UTIL:-}" ] || [ -z "\${ELY_HOSTNAME:-}" ]; then
  say "FAILED: no ely.util= or hostname= on the kernel command line: cannot fetch this node's storage"
  exit 1
fi
base="http://$ELY_UTIL/config/$ELY_HOSTNAME/${STORAGE_DIR}"
list=/run/ely-storage.units
code=$(curl -sS --retry 10 --retry-delay 3 --retry-connrefused --max-time 30 -o "$list" -w '%{http_code}' "$base/${STORAGE_INDEX}")
case "$code" in
  200) ;;
  404) say "the inventory gives $ELY_HOSTNAME no storage (no NFS mount, scratch disk or host volume)"; exit 0 ;;
  *) say "FAILED: the util node $ELY_UTIL does not answer ($base/${STORAGE_INDEX}: HTTP $code): no storage is mounted, Nomad will not start"; exit 1 ;;
esac
mkdir -p /run/systemd/system
units=
while read -r unit; do
  [ -n "$unit" ] || continue
  case "$unit" in
    */*|.*|*[!A-Za-z0-9:_.@\\\\-]*) say "FAILED: refusing the unit name '$unit' from $base"; exit 1 ;;
  esac
  url="$base/$(printf '%s' "$unit" | sed 's/\\\\/%5C/g')"
  curl -fsS --retry 5 --retry-delay 2 --max-time 30 -o "/run/systemd/system/$unit" "$url" || { say "FAILED: cannot fetch $url"; exit 1; }
  units="$units$unit "
done < "$list"
systemctl daemon-reload
# All at once, in one transaction: the NFS mounts and the scratch disks side by side, the host volumes'
# directories after them (their unit is ordered after the others). systemctl waits for every one.
if [ -z "$units" ]; then
  say "$base/${STORAGE_INDEX} lists no unit: nothing to mount"
  exit 0
fi
for unit in $units; do
  say "starting $unit: $(systemctl show -p Description --value "$unit")"
done
if ! systemctl start $units; then
  for unit in $units; do
    systemctl is-active --quiet "$unit" && continue
    case "$unit" in
      *.mount) say "FAILED: $(systemctl show -p What --value "$unit") did not mount on $(systemctl show -p Where --value "$unit") within ${NFS_MOUNT_TIMEOUT_S} s: is the util node up and exporting it (exportfs -v there)? Nomad will not start without its volumes." ;;
      *) say "FAILED: $unit: $(journalctl -u "$unit" -n 5 -o cat --no-pager 2>/dev/null | tr '\\n' ' ')" ;;
    esac
  done
  exit 1
fi
say "storage ready: $units"
`;
}

/**
 * Formats and mounts the scratch disk the inventory names, at every boot (its content is lost
 * each time). It finds the disk only by its serial or its /dev/disk/by-id/ name, and refuses one
 * it cannot find, a serial that matches several disks, two identities that disagree, anything
 * that is not a whole disk, and a disk with a mounted file system.
 */
function scratchDiskScript(): string {
  return `#!/bin/sh
# Ely: format and mount the scratch disk the inventory names. Usage:
#   scratch-disk [--serial S] [--by-id NAME] --mount DIR
set -u
serial= ; byid= ; target=
while [ $# -gt 0 ]; do
  case "$1" in
    --serial) serial="$2"; shift 2 ;;
    --by-id) byid="$2"; shift 2 ;;
    --mount) target="$2"; shift 2 ;;
    *) echo "ely-scratch: unknown argument $1" >&2; exit 2 ;;
  esac
done
byid_dir="\${ELY_DISK_BY_ID_DIR:-/dev/disk/by-id}"
wait_s="\${ELY_DISK_WAIT_S:-30}"
say() { echo "ely-scratch: $*"; }
fail() { say "FAILED: $* (nothing was formatted)"; exit 1; }
[ -n "$target" ] || fail "no --mount directory"
[ -n "$serial$byid" ] || fail "no --serial or --by-id: Ely formats only a disk the inventory identifies"
named="\${serial:+serial $serial}\${serial:+\${byid:+, }}\${byid:+by-id $byid}"
udevadm settle --timeout=30 >/dev/null 2>&1 || true
dev=
for attempt in $(seq 1 "$wait_s"); do
  from_id= ; from_serial= ; matches=0
  if [ -n "$byid" ] && [ -e "$byid_dir/$byid" ]; then from_id=$(readlink -f "$byid_dir/$byid"); fi
  if [ -n "$serial" ]; then
    from_serial=$(lsblk -dn -r -o PATH,TYPE,SERIAL | awk -v s="$serial" '($2 == "disk" || $2 == "loop") && $3 == s { print $1 }')
    matches=$(printf '%s' "$from_serial" | grep -c . || true)
    [ "$matches" -gt 1 ] && fail "serial $serial matches $matches disks: $(echo $from_serial)"
  fi
  if [ -n "$byid" ] && [ -n "$serial" ]; then
    if [ -n "$from_id" ] && [ -n "$from_serial" ]; then
      [ "$from_id" = "$from_serial" ] || fail "by-id $byid is $from_id but serial $serial is $from_serial"
      dev="$from_id"; break
    fi
  else
    dev="$from_id$from_serial"
    [ -n "$dev" ] && break
  fi
  sleep 1
done
[ -n "$dev" ] || fail "no disk with $named on this node after $wait_s s (disks: $(lsblk -dn -r -o PATH,SERIAL | tr '\\n' ' '))"
type=$(lsblk -dn -o TYPE "$dev")
[ "$type" = disk ] || [ "$type" = loop ] || fail "$dev ($named) is a $type, expected a whole disk"
mounted=$(lsblk -n -r -o MOUNTPOINT "$dev" | grep . | tr '\\n' ' ')
[ -z "$mounted" ] || fail "$dev ($named) has mounted file systems ($mounted): refusing to format it"
say "formatting $dev ($named) for $target: its content is discarded at every boot"
wipefs -a -q "$dev" || fail "wipefs $dev failed"
mkfs.ext4 -F -q -L ely-scratch "$dev" || fail "mkfs.ext4 $dev failed"
mkdir -p "$target"
mount -t ext4 -o noatime "$dev" "$target" || { say "FAILED: mount $dev on $target failed"; exit 1; }
say "$dev ($named) is mounted on $target, empty"
`;
}

/** The probe's console lines start with this; the netboot test reads them. */
export const STORAGE_PROBE_TAG = "ely-storage-probe";
/** The kernel argument that runs the storage probe (the netboot test's iPXE scripts add it). */
export const STORAGE_PROBE_KERNEL_ARG = "ely.storage-probe";

/**
 * In every image, run only when the kernel command line asks (${STORAGE_PROBE_KERNEL_ARG}): once the
 * node's storage is up, shows on the console what each NFS mount's probe directory and each scratch
 * disk hold, then writes one file named after this boot on each (synced), so that a test can
 * power-cycle the node and see what survived.
 */
function storageProbeScript(): string {
  return `#!/bin/sh
# Ely storage probe (kernel argument ${STORAGE_PROBE_KERNEL_ARG}): what this node's storage holds at boot; then one file per boot on each.
set -u
${bootEnvLoader}
load_boot_env
say() { echo "${STORAGE_PROBE_TAG}: $*"; }
boot=$(cat /proc/sys/kernel/random/boot_id)
name="\${ELY_HOSTNAME:-unknown}-boot-$boot"
status=0
probe() { # kind dir
  held=$(ls -A "$2" 2>/dev/null | grep -v '^lost+found$' | tr '\\n' ' ')
  say "$1 $(findmnt -n -o SOURCE --target "$2") on $2 holds: \${held:-nothing}"
  if echo "$boot" > "$2/$name" && sync; then say "$1 wrote $2/$name"; else say "FAILED: $1 cannot write $2/$name"; status=1; fi
}
nfs=$(findmnt -rn -t nfs,nfs4 -o TARGET)
[ -n "$nfs" ] || say "no NFS mount"
for target in $nfs; do mkdir -p "$target/ely-probe" && probe nfs "$target/ely-probe"; done
scratch=$(findmnt -rn -S LABEL=ely-scratch -o TARGET)
[ -n "$scratch" ] || say "no scratch disk mounted"
for target in $scratch; do probe scratch "$target"; done
exit $status
`;
}

/** A probe's unit: run only when the kernel command line asks (${STORAGE_PROBE_KERNEL_ARG}), its lines on the console. */
const probeUnit = (description: string, order: string, script: string) => `[Unit]
Description=${description}
ConditionKernelCommandLine=${STORAGE_PROBE_KERNEL_ARG}
${order}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${LIB}/${script}
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

const storageProbeUnit = probeUnit(
  "Ely storage probe: list and write this node's storage (NFS mounts, scratch disk)",
  "After=ely-storage.service\nBefore=ely-node-up.service",
  "storage-probe",
);

const storageUnit = `[Unit]
Description=Ely: mount this node's storage (NFS from the util node, scratch disk) before its agents
Wants=network-online.target
After=network-online.target ely-agent-config.service
Before=consul.service nomad.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${LIB}/storage
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

/** A one-shot unit that runs before the agents, after the network is up. */
function beforeAgentsUnit(description: string, program: string, extraService = ""): string {
  return `[Unit]
Description=${description}
Wants=network-online.target
After=network-online.target
Before=consul.service nomad.service

[Service]
Type=oneshot
RemainAfterExit=yes
${extraService}ExecStart=/${LIB}/${program}

[Install]
WantedBy=multi-user.target
`;
}

const agentConfigUnit = beforeAgentsUnit("Ely: fetch this node's agent configuration from the util node", "fetch-agent-config");
// It retries until the util node gives the secrets: the agents wait for them.
const secretsUnit = beforeAgentsUnit("Ely: fetch this node's secrets from the util node (key disk, HTTPS)", "fetch-secrets", "TimeoutStartSec=infinity\n");

const nodeUpUnit = `[Unit]
Description=Ely: report this node up on the console
Wants=network-online.target
After=network-online.target ely-agent-config.service ely-storage.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${LIB}/node-up

[Install]
WantedBy=multi-user.target
`;

/** Host keys are per machine: made at first boot, never shipped in the image. */
const sshHostKeysUnit = `[Unit]
Description=Ely: generate this boot's ssh host keys
ConditionPathExists=/usr/sbin/sshd
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
`;



/** The container probe's console lines start with this; the netboot test reads them. */
export const CONTAINER_PROBE_TAG = "ely-container-probe";

/**
 * In an image with docker, run only when the kernel command line asks (${STORAGE_PROBE_KERNEL_ARG}, as the
 * storage probe): docker starts a container (runc pivot_roots into it, which fails where / is the
 * kernel's rootfs itself) from an image imported from this node's static busybox: no registry needed.
 */
function containerProbeScript(): string {
  return `#!/bin/sh
# Ely container probe (kernel argument ${STORAGE_PROBE_KERNEL_ARG}): docker runs a container here.
say() { echo "${CONTAINER_PROBE_TAG}: $*"; }
root="/ is $(findmnt -n -r -o FSTYPE,SOURCE /)"
bb=$(readlink -f "$(command -v busybox)")
if out=$(tar -C / -c "\${bb#/}" 2>&1 | docker import - ely-probe:latest 2>&1) && out=$(docker run --rm --network none ely-probe:latest "$bb" echo inside 2>&1); then
  say "docker run: ok (the container said: $out; $root)"
else
  say "FAILED: docker run: $(echo "$out" | tail -n 3 | tr '\n' ' ') ($root)"
  exit 1
fi
# docker's bridge: a container on docker0 reaches the LAN (this boot's ramroot URL, on the util node) through
# docker's NAT.
ELY_RAMROOT_URL=
${bootEnvLoader}
load_boot_env
subnet=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' 2>&1)
status=0
if [ -z "$ELY_RAMROOT_URL" ]; then
  say "FAILED: docker bridge: neither ${BOOT_ENV_FILE} nor the kernel command line names the ramroot URL to reach (docker0 $subnet)"
  status=1
elif out=$(docker run --rm ely-probe:latest "$bb" wget -q --spider "$ELY_RAMROOT_URL" 2>&1); then
  say "docker bridge: ok (docker0 $subnet; a container reached $ELY_RAMROOT_URL)"
else
  say "FAILED: docker bridge: a container on docker0 ($subnet) cannot reach $ELY_RAMROOT_URL: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
  status=1
fi
docker rmi ely-probe:latest >/dev/null 2>&1
exit $status
`;
}

const containerProbeUnit = probeUnit(
  "Ely container probe: docker runs a container on this node",
  "Requires=docker.service\nAfter=docker.service\nBefore=ely-agents-report.service",
  "container-probe",
);

const IMAGE_UNIT_HEADER = "Part of the Ely node image.";

/** systemd makes the consul user and the agents' directories at boot: no chroot needed, any architecture. */
const sysusers = `# Ely: the Consul agent's user
u consul - "Consul agent" ${CONSUL_DATA_DIR} /usr/sbin/nologin
`;

const tmpfiles = `# Ely: the agents' configuration and data directories
d ${CONSUL_CONFIG_DIR} 0755 root root -
d ${CONSUL_DATA_DIR} 0750 consul consul -
d ${NOMAD_CONFIG_DIR} 0755 root root -
d ${NOMAD_DATA_DIR} 0700 root root -
`;

/**
 * The image's /etc/resolv.conf. The root file system comes with the build machine's (mmdebstrap copies it
 * in for apt): a node would ask that machine's resolver, which its LAN may not even reach, for every name
 * its DHCP lease gives no server for, each lookup waiting out the resolver's timeouts (NFSv4's id mapper does
 * two at a mount: 20 s). The initrd replaces this file when the lease names DNS servers.
 */
export const RESOLV_CONF = `# Ely node image: no DNS server is known when the image is built. The initrd writes the DNS servers of
# this boot's DHCP lease here; without any, lookups go to 127.0.0.1, where nothing answers, and fail at once.
`;

/** networkd waits for the boot interface only (the initrd names it); other NICs stay unmanaged. */
const waitOnlineDropIn = `[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
`;

/**
 * The files of one image. `withAgents` adds the agent units and their report; `withDocker` orders
 * Nomad after docker.
 */
export function rootfsFiles(options: { withAgents: boolean; withDocker: boolean; withSsh: boolean }): RootfsFileSet {
  const files: RootfsFile[] = [
    { path: `${LIB}/fetch-agent-config`, content: fetchAgentConfigScript(options.withSsh), mode: 0o755 },
    { path: `${LIB}/fetch-secrets`, content: fetchSecretsScript(), mode: 0o755 },
    { path: `${UNITS}/ely-secrets.service`, content: secretsUnit },
    { path: `${LIB}/node-up`, content: nodeUpScript(), mode: 0o755 },
    { path: `${LIB}/storage`, content: storageScript(), mode: 0o755 },
    { path: `${LIB}/scratch-disk`, content: scratchDiskScript(), mode: 0o755 },
    { path: `${LIB}/storage-probe`, content: storageProbeScript(), mode: 0o755 },
    { path: `${UNITS}/ely-storage-probe.service`, content: storageProbeUnit },
    { path: `${UNITS}/ely-storage.service`, content: storageUnit },
    { path: `${UNITS}/ely-agent-config.service`, content: agentConfigUnit },
    { path: `${UNITS}/ely-node-up.service`, content: nodeUpUnit },
    { path: "etc/systemd/system/systemd-networkd-wait-online.service.d/ely.conf", content: waitOnlineDropIn },
    { path: "etc/resolv.conf", content: RESOLV_CONF },
  ];
  const enable = ["systemd-networkd.service", "ely-agent-config.service", "ely-secrets.service", "ely-storage.service", "ely-storage-probe.service", "ely-node-up.service"];
  if (options.withSsh) {
    files.push({ path: `${UNITS}/ely-ssh-host-keys.service`, content: sshHostKeysUnit });
    enable.push("ely-ssh-host-keys.service");
  }
  const mask: string[] = [];
  if (options.withDocker) {
    files.push({ path: `${LIB}/container-probe`, content: containerProbeScript(), mode: 0o755 }, { path: `${UNITS}/ely-container-probe.service`, content: containerProbeUnit });
    enable.push("ely-container-probe.service");
    // Docker loads its own profile (docker-default) with apparmor_parser when it starts. apparmor.service
    // compiles the others of /etc/apparmor.d (Debian's lsb_release and nvidia_modprobe: programs a worker
    // never runs) on every boot, from a fresh root with no cache, before sysinit.target: every service waits.
    mask.push("apparmor.service");
  }
  if (options.withAgents) {
    files.push(
      // Started once its process runs: a worker boots before its servers may be up (agent-units.ts).
      {
        path: `${UNITS}/consul.service`,
        content: consulUnit({ managedBy: IMAGE_UNIT_HEADER, after: ["ely-agent-config.service"], requires: ["ely-secrets.service"], readyWhenJoined: false }),
      },
      {
        path: `${UNITS}/nomad.service`,
        content: nomadUnit({
          managedBy: IMAGE_UNIT_HEADER,
          after: ["ely-agent-config.service", "consul.service", ...(options.withDocker ? ["docker.service"] : [])],
          // Its host volumes live on that storage: without it Nomad would write jobs' data into RAM.
          // Without its secrets (no key disk, another node's) it could not join: it does not start.
          requires: ["ely-storage.service", "ely-secrets.service"],
        }),
      },
      // Jobs get what the ramroot and the system leave, not the whole memory (nomad-reserved.ts).
      { path: `${LIB}/nomad-reserved`, content: nomadReservedScript(), mode: 0o755 },
      { path: `${UNITS}/nomad.service.d/ely-reserved.conf`, content: nomadReservedDropIn(`/${LIB}/nomad-reserved`) },
      { path: "usr/lib/sysusers.d/ely-consul.conf", content: sysusers },
      { path: "usr/lib/tmpfiles.d/ely-agents.conf", content: tmpfiles },
      { path: `${LIB}/agents-report`, content: agentsReportScript(), mode: 0o755 },
      { path: `${UNITS}/ely-agents-report.service`, content: agentsReportUnit(`/${LIB}/agents-report`) },
    );
    enable.push("consul.service", "nomad.service", "ely-agents-report.service");
  }
  return { files: files.sort((a, b) => a.path.localeCompare(b.path)), enable: enable.sort(), mask };
}
