/**
 * The agents' report: once Consul and Nomad have started on a node, what they say about
 * themselves, asked through their own HTTP APIs (and their journal for a join that failed), on
 * the console: a person at the console sees whether the node waits for its servers or joined,
 * and the netboot test reads it. It waits (bounded) for each agent to have either joined or tried
 * and failed once; it never fails the boot.
 *
 * Before it, the boot's milestones (AGENTS_BOOT_PATTERN: systemd's and Nomad's times since the kernel started), and the node's memory: `ely-agents: memory: total <MiB> MiB, root file system <MiB> MiB used, available
 * <MiB> MiB` (/proc/meminfo and df: on a netbooted node the root is RAM), what the worker has left for its jobs.
 *
 * The last line is the marker: `ELY-AGENTS hostname=<h> consul=<unit state> consul-joined=yes|no
 * consul-retrying=yes|no nomad=<unit state> nomad-servers=<n> nomad-retrying=yes|no docker=<unit state>
 * failed-units=<list or none>`.
 */
import { CONSUL_HTTP_PORT } from "../nodes";
import { CONSUL_CONFIG_DIR, CONSUL_CONFIG_FILE, NOMAD_CONFIG_DIR, NOMAD_CONFIG_FILE } from "../nodes/agent-paths";

/** Every line of the report starts with this. */
export const AGENTS_REPORT_TAG = "ely-agents";
/** The memory line: total, the root file system's used MiB (RAM on a netbooted node), available (MiB each). */
export const AGENTS_MEMORY_PATTERN = new RegExp(`${AGENTS_REPORT_TAG}: memory: total (\\d+) MiB, root file system (\\d+) MiB used, available (\\d+) MiB`);
/**
 * The boot line: where the node's time went after its kernel started, by systemd's own monotonic timestamps and
 * Nomad's journal (seconds since the kernel started, on the node's clock; "?" for what did not happen or cannot be
 * asked). On real hardware it measures on the console what the QEMU benchmarks can only estimate; the firmware's
 * share comes before the kernel's clock starts.
 */
export const AGENTS_BOOT_MILESTONES = ["userspace", "sysinit", "network-online", "docker", "consul", "nomad", "nomad-registered"] as const;
export const AGENTS_BOOT_PATTERN = new RegExp(`${AGENTS_REPORT_TAG}: boot, seconds since the kernel started: ${AGENTS_BOOT_MILESTONES.map((m) => `${m} ([0-9.]+|\\?)`).join(", ")}`);

/** The boot line's milestones from a console's text: seconds since the kernel started, undefined where the node said "?"; undefined without the line. */
export function agentsBootMilestones(text: string): Record<(typeof AGENTS_BOOT_MILESTONES)[number], number | undefined> | undefined {
  const m = AGENTS_BOOT_PATTERN.exec(text);
  if (!m) return undefined;
  return Object.fromEntries(AGENTS_BOOT_MILESTONES.map((name, i) => [name, m[i + 1] === "?" ? undefined : Number(m[i + 1])])) as Record<(typeof AGENTS_BOOT_MILESTONES)[number], number | undefined>;
}

/** The report's last line starts with this. */
export const AGENTS_MARKER = "ELY-AGENTS";
/** Consul's log line when a join attempt failed and it will try again (agent/retry_join.go). */
export const CONSUL_JOIN_RETRY_LOG = "Join cluster failed, will retry";
/** Nomad's (command/agent/retry_join.go). */
export const NOMAD_JOIN_RETRY_LOG = "join failed";
/**
 * How long, in all, the report waits for the agents to answer and to have joined or failed a join
 * (wall clock, from its start: a join that neither succeeds nor fails, e.g. to servers that drop
 * packets, ends the wait with "retrying=no").
 */
export const AGENTS_REPORT_WAIT_S = 180;

export function agentsReportScript(): string {
  return `#!/bin/sh
# Ely: what the agents say about themselves once started, on the console. Never fails.
set -u
say() { echo "${AGENTS_REPORT_TAG}: $*"; }
deadline=$(( $(date +%s) + \${ELY_AGENTS_REPORT_WAIT_S:-${AGENTS_REPORT_WAIT_S}} ))
waiting() { [ "$(date +%s)" -lt "$deadline" ]; }
hostname=$(hostname)
# journal UNIT TEXT: the agent's first log line holding TEXT, without its indent and time stamp.
journal() { journalctl -u "$1" -o cat --no-pager 2>/dev/null | grep -m1 -F "$2" | sed 's/^[[:space:]]*//; s/^[0-9][0-9TZ:.+-]* *//'; }
# get URL [curl options]: the body, or "HTTP <code>" when the agent does not answer 200.
get() {
  url="$1"; shift
  body=$(curl -sS --max-time 5 -w '\\n%{http_code}' "$@" "$url" 2>&1) || { echo "unreachable: $(echo "$body" | head -n 1)"; return 1; }
  code=$(echo "$body" | tail -n 1)
  body=$(echo "$body" | sed '$d')
  [ "$code" = 200 ] && { echo "$body"; return 0; }
  echo "HTTP $code: $(echo "$body" | head -c 200 | tr '\\n' ' ')"
  return 1
}

# Consul: the local agent's HTTP API on loopback (plain HTTP stays there with TLS on).
consul_state=$(systemctl is-active consul.service 2>/dev/null)
consul_joined=no; consul_retrying=no; consul_self=
if [ -s ${CONSUL_CONFIG_DIR}/${CONSUL_CONFIG_FILE} ]; then
  consul_api=http://127.0.0.1:${CONSUL_HTTP_PORT}
  while :; do
    consul_self=$(get $consul_api/v1/agent/self) || consul_self=
    leader=$(get $consul_api/v1/status/leader) && leader=$(echo "$leader" | tr -d '"') || leader=
    case "$leader" in *:*) consul_joined=yes ;; esac
    retry=$(journal consul.service "${CONSUL_JOIN_RETRY_LOG}")
    [ -n "$retry" ] && consul_retrying=yes
    [ -n "$consul_self" ] && { [ $consul_joined = yes ] || [ $consul_retrying = yes ]; } && break
    waiting || break
    sleep 1
  done
  if [ -n "$consul_self" ]; then
    members=$(get $consul_api/v1/agent/members | jq -r '[.[] | "\\(.Name) \\(if .Status == 1 then "alive" else "status \\(.Status)" end) (\\(.Tags.role // "?"))"] | join(", ")')
    say "consul: $consul_state, pid $(systemctl show -p MainPID --value consul.service), $(echo "$consul_self" | jq -r '"agent \\(.Config.NodeName) \\(if .Config.Server then "server" else "client" end) \\(.Config.Version)"'), members: \${members:-none}, leader: \${leader:-none}, retry_join: $(echo "$consul_self" | jq -r '(.DebugConfig.RetryJoinLAN // []) | join(" ")')"
  else
    say "consul: $consul_state, its HTTP API at $consul_api does not answer: $(get $consul_api/v1/agent/self)"
  fi
  [ -n "\${retry:-}" ] && say "consul: $retry"
else
  say "consul: no configuration (${CONSUL_CONFIG_DIR}/${CONSUL_CONFIG_FILE}): not run on this node"
fi

# Nomad: its HTTP API where its configuration binds it (https with TLS on).
nomad_state=$(systemctl is-active nomad.service 2>/dev/null)
nomad_servers=0; nomad_retrying=no; nomad_self=
conf=${NOMAD_CONFIG_DIR}/${NOMAD_CONFIG_FILE}
if [ -s $conf ]; then
  addr=$(jq -r '.addresses.http // .bind_addr // "127.0.0.1"' $conf)
  [ "$addr" = 0.0.0.0 ] && addr=127.0.0.1
  if [ "$(jq -r '.tls.http // false' $conf)" = true ]; then
    nomad_api=https://$addr:4646; tls="--cacert $(jq -r '.tls.ca_file' $conf)"
  else
    nomad_api=http://$addr:4646; tls=
  fi
  while :; do
    nomad_self=$(get $nomad_api/v1/agent/self $tls) || nomad_self=
    known=$(echo "$nomad_self" | jq -r '.stats.client.known_servers // empty' 2>/dev/null)
    [ -n "$known" ] && nomad_servers=$(echo "$known" | tr ',' '\\n' | grep -c .)
    retry=$(journal nomad.service "${NOMAD_JOIN_RETRY_LOG}")
    [ -n "$retry" ] && nomad_retrying=yes
    [ -n "$nomad_self" ] && { [ "$nomad_servers" -gt 0 ] || [ $nomad_retrying = yes ]; } && break
    waiting || break
    sleep 1
  done
  if [ -n "$nomad_self" ]; then
    health=$(curl -sS --max-time 5 $tls "$nomad_api/v1/agent/health?type=client" | jq -r '.client.message // "?"' 2>/dev/null)
    say "nomad: $nomad_state, pid $(systemctl show -p MainPID --value nomad.service), $(echo "$nomad_self" | jq -r '"agent \\(.config.NodeName // .member.Name // "?") \\(if .config.Client.Enabled then "client" else "" end)\\(if .config.Server.Enabled then " server" else "" end) \\(.config.Version.Version // "?")"'), client health: \${health:-?}, known servers: \${known:-none}, retry_join: $(echo "$nomad_self" | jq -r '(.config.Client.ServerJoin.RetryJoin // []) | join(" ")'), drivers configured: $(echo "$nomad_self" | jq -r '[.config.Plugins[]?.Name] | join(" ")'), reserved memory: $(echo "$nomad_self" | jq -r '.config.Client.Reserved.MemoryMB // 0') MiB"
  else
    say "nomad: $nomad_state, its HTTP API at $nomad_api does not answer: $(get $nomad_api/v1/agent/self $tls)"
  fi
  [ -n "\${retry:-}" ] && say "nomad: $retry"
else
  say "nomad: no configuration ($conf): not run on this node"
fi

docker_state=$(systemctl is-active docker.service 2>/dev/null)
if [ "$docker_state" = active ]; then
  say "docker: active, $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' 2>&1 | head -n 1)"
fi
# The boot's milestones (AGENTS_BOOT_MILESTONES): systemd's monotonic timestamps, microseconds since the kernel started.
mono() { # unit (empty: the manager itself) property
  if [ -n "$1" ]; then v=$(systemctl show -p "$2" --value "$1" 2>/dev/null); else v=$(systemctl show -p "$2" --value 2>/dev/null); fi
  case "$v" in ''|0|*[!0-9]*) echo "?" ;; *) awk -v v="$v" 'BEGIN { printf "%.2f", v / 1e6 }' ;; esac
}
active() { mono "$1" ActiveEnterTimestampMonotonic; }
registered=$(journalctl -u nomad.service -o short-monotonic --no-pager 2>/dev/null | grep -m1 -F "node registration complete" | awk -F'[][]' '{ printf "%.2f", $2 }')
say "boot, seconds since the kernel started: userspace $(mono "" UserspaceTimestampMonotonic), sysinit $(active sysinit.target), network-online $(active network-online.target), docker $(active docker.service), consul $(active consul.service), nomad $(active nomad.service), nomad-registered \${registered:-?}"
# Memory: what the node has (Nomad offers jobs all of it), what its root file system holds in RAM (a netbooted
# node's whole root), and what is left for jobs now that the agents run.
mem() { awk -v k="$1:" '$1 == k { printf "%d", $2 / 1024 }' /proc/meminfo; }
root_mib=$(df -k / 2>/dev/null | awk 'NR == 2 { printf "%d", $3 / 1024 }')
say "memory: total $(mem MemTotal) MiB, root file system \${root_mib:-?} MiB used, available $(mem MemAvailable) MiB"
failed=$(systemctl list-units --state=failed --plain --no-legend 2>/dev/null | awk '{print $1}' | tr '\\n' ' ' | sed 's/ $//')
[ -n "$failed" ] && for unit in $failed; do say "failed unit $unit: $(journalctl -u "$unit" -n 3 -o cat --no-pager 2>/dev/null | tr '\\n' ' ')"; done
line="${AGENTS_MARKER} hostname=$hostname consul=\${consul_state:-none} consul-joined=$consul_joined consul-retrying=$consul_retrying nomad=\${nomad_state:-none} nomad-servers=$nomad_servers nomad-retrying=$nomad_retrying docker=\${docker_state:-none} failed-units=$(echo "\${failed:-none}" | tr ' ' ',')"
echo "$line"
exit 0
`;
}

export const agentsReportUnit = (scriptPath: string) => `[Unit]
Description=Ely: report the agents' state (joined, or waiting for their servers) on the console
After=consul.service nomad.service docker.service ely-node-up.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${scriptPath}
TimeoutStartSec=${AGENTS_REPORT_WAIT_S + 120}
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;
