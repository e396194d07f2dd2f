/**
 * Files Ely adds to a node's root filesystem: the agents' systemd units, the unit that
 * fetches the node's agent configuration from the util node at boot, the node-up marker,
 * and per-boot identity (ssh host keys). None holds a secret: images are served over
 * plain HTTP; secrets arrive on the node by their own path.
 *
 * The kernel command line (written by the boot service's iPXE scripts) carries what a
 * node needs to know about itself; the initrd copies it into /etc/ely/boot.env:
 *   hostname=<h> ely.role=<role> ely.util=<host:port> ely.servers=<ip,ip,ip> ely.image=<key>/<build id>
 */
import { consulUnit, nomadUnit } from "./agent-units";
import { CONSUL_CONFIG_DIR, CONSUL_CONFIG_FILE, CONSUL_DATA_DIR, NOMAD_CONFIG_DIR, NOMAD_CONFIG_FILE, NOMAD_DATA_DIR } from "../constructs/agent-paths";

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

/** Reads /etc/ely/boot.env, or the kernel command line when the initrd wrote none. */
const bootEnvLoader = `load_boot_env() {
  if [ -r ${BOOT_ENV_FILE} ]; then
    . ${BOOT_ENV_FILE}
    return
  fi
  for word in $(cat /proc/cmdline); do
    case "$word" in
      hostname=*) ELY_HOSTNAME="\${word#hostname=}" ;;
      ely.role=*) ELY_ROLE="\${word#ely.role=}" ;;
      ely.util=*) ELY_UTIL="\${word#ely.util=}" ;;
      ely.image=*) ELY_IMAGE="\${word#ely.image=}" ;;
    esac
  done
}
`;

function fetchAgentConfigScript(): string {
  return `#!/bin/sh
# Fetches this node's rendered agent configuration from the util node's HTTP server:
# http://<ely.util>/config/<hostname>/{${CONSUL_CONFIG_FILE},${NOMAD_CONFIG_FILE}}. A file the
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
[ -f ${NOMAD_CONFIG_DIR}/${NOMAD_CONFIG_FILE} ] && write_boot_meta ${NOMAD_CONFIG_DIR}
exit $status
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
ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | head -n 1)
line="${NODE_UP_MARKER} hostname=\${ELY_HOSTNAME:-unknown} role=\${ELY_ROLE:-unknown} image=\${ELY_IMAGE:-unknown} ip=\${ip:-none} agent-config=\${config:-unknown} system-hostname=$(hostname)"
echo "$line"
echo "$line" > /dev/kmsg 2>/dev/null || true
echo "$line" > /dev/console 2>/dev/null || true
`;
}

const agentConfigUnit = `[Unit]
Description=Ely: fetch this node's agent configuration from the util node
Wants=network-online.target
After=network-online.target
Before=consul.service nomad.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${LIB}/fetch-agent-config

[Install]
WantedBy=multi-user.target
`;

const nodeUpUnit = `[Unit]
Description=Ely: report this node up on the console
Wants=network-online.target
After=network-online.target ely-agent-config.service

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

/** networkd waits for the boot interface only (the initrd names it); other NICs stay unmanaged. */
const waitOnlineDropIn = `[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
`;

/** The files of one image. `withAgents` adds the agent units; `withDocker` orders Nomad after docker. */
export function rootfsFiles(options: { withAgents: boolean; withDocker: boolean; withSsh: boolean }): RootfsFileSet {
  const files: RootfsFile[] = [
    { path: `${LIB}/fetch-agent-config`, content: fetchAgentConfigScript(), mode: 0o755 },
    { path: `${LIB}/node-up`, content: nodeUpScript(), mode: 0o755 },
    { path: `${UNITS}/ely-agent-config.service`, content: agentConfigUnit },
    { path: `${UNITS}/ely-node-up.service`, content: nodeUpUnit },
    { path: "etc/systemd/system/systemd-networkd-wait-online.service.d/ely.conf", content: waitOnlineDropIn },
  ];
  const enable = ["systemd-networkd.service", "ely-agent-config.service", "ely-node-up.service"];
  if (options.withSsh) {
    files.push({ path: `${UNITS}/ely-ssh-host-keys.service`, content: sshHostKeysUnit });
    enable.push("ely-ssh-host-keys.service");
  }
  if (options.withAgents) {
    files.push(
      { path: `${UNITS}/consul.service`, content: consulUnit({ managedBy: IMAGE_UNIT_HEADER, after: ["ely-agent-config.service"] }) },
      {
        path: `${UNITS}/nomad.service`,
        content: nomadUnit({ managedBy: IMAGE_UNIT_HEADER, after: ["ely-agent-config.service", "consul.service", ...(options.withDocker ? ["docker.service"] : [])] }),
      },
      { path: "usr/lib/sysusers.d/ely-consul.conf", content: sysusers },
      { path: "usr/lib/tmpfiles.d/ely-agents.conf", content: tmpfiles },
    );
    enable.push("consul.service", "nomad.service");
  }
  return { files: files.sort((a, b) => a.path.localeCompare(b.path)), enable: enable.sort() };
}
