#!/usr/bin/env bash
# ely-node-step: the node side of Ely's server rollout (constructs/rollout/server-rollout.ts).
# cli/server-step.ts installs this script on the node over ssh (as /usr/local/lib/ely/ely-node-step)
# and runs it as root, one command per ssh call:
#
#   preflight                     check the node has what the steps use
#   hashes PATH...                "<sha256> PATH" per path ("-" when missing)
#   install                       stdin: a tar holding ./manifest and the files it names
#   install-inline                stdin: manifest lines, file contents inline (base64); for secrets,
#                                 which thus never touch the disk of the machine running the plan
#   leader-known KEY=VALUE...     does a Consul / Nomad leader exist (asked of every server)?
#   quorum-facts KEY=VALUE...     what the quorum gate (cli/quorum-gate.ts) decides on: per agent, a
#                                 server that knows a leader, and that server's answers to Consul's
#                                 autopilot health, Nomad's Raft configuration and autopilot health
#   would-restart AGENT FILE[=SHA256]...
#                                 would `apply` restart AGENT if FILEs had these contents?
#                                 "restart <why>" or "keep <state>"; touches nothing
#   apply AGENT FILE...           (re)start AGENT when one of FILEs differs from what it last
#                                 started with, or when it is not running; otherwise leave it alone
#   gate KEY=VALUE...             wait, bounded, until the node's agents are healthy (and, with
#                                 quorum=yes, until there is a leader and this server is a voter);
#                                 gives up early when systemd keeps restarting an agent that exits
#   rollback [AGENT...]           stop the AGENTs that did not come up healthy (SIGKILL: a failed
#                                 start may ignore SIGTERM), then put back every file replaced since
#                                 the last commit (its .previous copy; a file that was new is removed)
#   commit                        the agents are healthy on what was installed: forget what rollback
#                                 would put back (the .previous copies stay, for a manual way back)
#
# Every file replaced is first kept beside itself as FILE.previous (the version the agents last ran
# healthy with: taken at the first replacement after a commit), and listed in $STATE_DIR/pending.
#
# Manifest lines (whitespace-separated; no field holds spaces):
#   user NAME HOME                       a system user (and group) NAME
#   dir MODE OWNER GROUP PATH            a directory, mode and owner enforced
#   file MODE OWNER GROUP PATH SHA256 X  a file; X = member of the tar (install) or base64 (install-inline)
#   version NAME VERSION X               X (a tar member, or an installed path) must run on this node
#                                        and report "NAME vVERSION": checked before any file is installed
# Every file is written beside its destination with umask 077, verified against its sha256,
# given its owner and mode, then renamed into place: a reader never sees half a file.
# Nothing this script prints contains a secret value.
set -euo pipefail
umask 077
export LC_ALL=C

STATE_DIR="${ELY_NODE_STATE_DIR:-/var/lib/ely/rollout}" # overridable for tests
SELF=ely-node-step
PENDING="$STATE_DIR/pending"
CONSUL_DATA_DIR=/opt/consul # nodes/agent-paths.ts

say() { printf '%s: %s\n' "$SELF" "$*"; }
die() { printf '%s: error: %s\n' "$SELF" "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "must run as root (the ssh user needs passwordless sudo)"

sha_of() { if [[ -f "$1" ]]; then sha256sum -- "$1" | cut -d' ' -f1; else echo -; fi; }

cmd_preflight() {
  local missing=() c
  for c in sha256sum tar base64 systemctl useradd curl awk; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  ((${#missing[@]} == 0)) || die "missing commands on this node: ${missing[*]} (Debian: apt-get install coreutils tar curl gawk passwd systemd)"
  [[ -d /run/systemd/system ]] || die "systemd is not running on this node (no /run/systemd/system)"
  say "preflight ok ($(uname -m), $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown os}"))"
}

cmd_hashes() {
  local p
  for p in "$@"; do printf '%s %s\n' "$(sha_of "$p")" "$p"; done
}

ensure_user() { # name home
  if ! getent passwd "$1" >/dev/null; then
    useradd --system --user-group --home-dir "$2" --no-create-home --shell /usr/sbin/nologin "$1"
    say "created system user $1"
  fi
}

ensure_dir() { # mode owner group path
  local mode="$1" owner="$2" group="$3" path="$4"
  if [[ ! -d "$path" ]]; then
    (umask 022; mkdir -p -- "$path")
    say "created $path"
  fi
  chown "$owner:$group" -- "$path"
  chmod "$mode" -- "$path"
}

# put_file MODE OWNER GROUP PATH SHA256 SOURCE_FILE: install SOURCE_FILE at PATH unless identical
put_file() {
  local mode="$1" owner="$2" group="$3" path="$4" want="$5" src="$6" got tmp
  got="$(sha_of "$src")"
  [[ "$got" == "$want" ]] || die "$path: received content with sha256 $got, expected $want (transfer damaged?)"
  if [[ "$(sha_of "$path")" == "$want" ]]; then
    # Same content: only make sure of mode and owner.
    if [[ "$(stat -c '%a %U %G' -- "$path")" != "$(printf '%o' "$((8#$mode))") $owner $group" ]]; then
      chown "$owner:$group" -- "$path"; chmod "$mode" -- "$path"
      say "fixed mode/owner of $path"
    fi
    return 0
  fi
  (umask 022; mkdir -p -- "$(dirname -- "$path")")
  keep_previous "$path"
  tmp="$(dirname -- "$path")/.$(basename -- "$path").ely-new"
  cp -- "$src" "$tmp"
  chown "$owner:$group" -- "$tmp"
  chmod "$mode" -- "$tmp"
  mv -f -- "$tmp" "$path"
  echo "changed $path"
}

# keep_previous PATH: before PATH is replaced for the first time since the last commit, copy it
# (content, mode, owner) to PATH.previous and list it as pending. Agents load *.json / *.hcl
# from their directories only: a .previous file beside the configuration is not read.
keep_previous() {
  local path="$1" tmp
  mkdir -p "$STATE_DIR"
  grep -qxF -- "$path" "$PENDING" 2>/dev/null && return 0
  if [[ -f "$path" ]]; then
    tmp="$(dirname -- "$path")/.$(basename -- "$path").ely-previous"
    cp -p -- "$path" "$tmp"
    mv -f -- "$tmp" "$path.previous"
  else
    rm -f -- "$path.previous"
  fi
  printf '%s\n' "$path" >>"$PENDING"
}

cmd_rollback() {
  local path tmp agent
  for agent in "$@"; do
    [[ "$agent" == consul || "$agent" == nomad ]] || die "rollback: received agent '$agent', expected consul or nomad"
    # stop after the kill also cancels systemd's pending automatic restart (on the files being replaced).
    systemctl kill --signal=SIGKILL "$agent.service" 2>/dev/null || true
    systemctl stop "$agent.service" 2>/dev/null || true
    say "$agent: stopped hard (it did not come up healthy)"
  done
  if [[ ! -s "$PENDING" ]]; then say "nothing to roll back: no file was replaced since the last commit"; return 0; fi
  while read -r path; do
    [[ -n "$path" ]] || continue
    if [[ -f "$path.previous" ]]; then
      tmp="$(dirname -- "$path")/.$(basename -- "$path").ely-new"
      cp -p -- "$path.previous" "$tmp"
      mv -f -- "$tmp" "$path"
      echo "restored $path"
    else
      rm -f -- "$path"
      echo "removed $path"
    fi
  done <"$PENDING"
  rm -f -- "$PENDING"
}

cmd_commit() {
  local path replaced=0 added=0
  if [[ -f "$PENDING" ]]; then
    while read -r path; do
      [[ -n "$path" ]] || continue
      if [[ -f "$path.previous" ]]; then replaced=$((replaced + 1)); else added=$((added + 1)); fi
    done <"$PENDING"
  fi
  rm -f -- "$PENDING"
  say "committed: $replaced files replaced (their previous versions stay as <file>.previous), $added new"
}

check_version() { # name version member-or-path
  local bin="$3" out
  [[ "$bin" == /* ]] || { [[ "$bin" =~ ^[A-Za-z0-9._-]+$ ]] || die "manifest: bad member name '$bin'"; bin="$WORK/$bin"; chmod 0755 -- "$bin"; }
  [[ -f "$bin" ]] || die "$1: $bin is missing"
  out="$("$bin" version 2>&1)" || die "$1: $bin does not run on this node ($(uname -m)): ${out:0:300}"
  out="${out%%$'\n'*}"
  [[ " $out " == *" v$2 "* ]] || die "$1: $bin reports '$out', expected version $2 (the inventory's versions.$1)"
  say "$1 $2 runs on this node ($(uname -m))"
}

# read_manifest MODE: MODE=tar (X = member name under $WORK) or inline (X = base64 content)
read_manifest() {
  local how="$1" kind a b c d e f src n=0
  while read -r kind a b c d e f; do
    case "$kind" in
      "" | "#"*) ;;
      user) ensure_user "$a" "$b" ;;
      dir) ensure_dir "$a" "$b" "$c" "$d" ;;
      version) check_version "$a" "$b" "$c" ;;
      file)
        [[ -n "${f:-}" ]] || die "manifest: file line for ${d:-?} is incomplete"
        if [[ "$how" == tar ]]; then
          [[ "$f" =~ ^[A-Za-z0-9._-]+$ ]] || die "manifest: bad member name for $d"
          src="$WORK/$f"
        else
          src="$WORK/inline.$n"
          printf '%s' "$f" | base64 -d >"$src" || die "manifest: content of $d is not base64"
          n=$((n + 1))
        fi
        put_file "$a" "$b" "$c" "$d" "$e" "$src"
        rm -f -- "$src"
        ;;
      *) die "manifest: unknown line kind '$kind'" ;;
    esac
  done
}

WORK=""
new_work() {
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  WORK="$(mktemp -d "$STATE_DIR/incoming.XXXXXX")"
  trap 'rm -rf -- "$WORK"' EXIT
}

cmd_install() {
  new_work
  tar -x -C "$WORK" -f - || die "could not unpack the files sent"
  [[ -f "$WORK/manifest" ]] || die "no manifest in what was sent"
  read_manifest tar <"$WORK/manifest"
}

cmd_install_inline() {
  new_work
  read_manifest inline
}

# ---------------------------------------------------------------- agents
unit_state() { systemctl show -p ActiveState --value "$1.service" 2>/dev/null || echo unknown; }

# restart_reason AGENT FINGERPRINT: sets WHY (empty: no restart needed) and STATE, comparing the
# fingerprint ("<sha256> <path>" lines) with what AGENT last (re)started with.
restart_reason() {
  local agent="$1" now="$2" old line changed=()
  old="$(cat -- "$STATE_DIR/$agent.applied" 2>/dev/null || true)"
  while read -r line; do
    grep -qxF -- "$line" <<<"$old" || changed+=("${line#* }")
  done <<<"$now"
  STATE="$(unit_state "$agent")"
  if ((${#changed[@]} > 0)); then
    WHY="changed: ${changed[*]}"
  elif [[ "$STATE" != active && "$STATE" != activating && "$STATE" != reloading ]]; then
    WHY="it was $STATE"
  else
    WHY=""
  fi
}

# Consul up to 1.16.4 truncates its server_metadata.json at start and writes it later: a start
# that fails in between (a bad address, say) leaves it empty, and no later start succeeds
# ("error reading server metadata: unexpected end of JSON input", hashicorp/consul#19720, fixed in
# 1.16.5). An empty file holds nothing: remove it, so that the agent (or a rollback) can start.
consul_metadata_fix() {
  local file="$CONSUL_DATA_DIR/server_metadata.json"
  if [[ -f "$file" && ! -s "$file" ]]; then
    rm -f -- "$file"
    say "consul: removed the empty $file a failed start left behind (hashicorp/consul#19720)"
  fi
}

cmd_would_restart() {
  local agent="$1" arg now=""; shift
  for arg in "$@"; do
    if [[ "$arg" =~ ^(.+)=([0-9a-f]{64})$ ]]; then now+="${BASH_REMATCH[2]} ${BASH_REMATCH[1]}"$'\n'
    else now+="$(sha_of "$arg") $arg"$'\n'; fi
  done
  restart_reason "$agent" "${now%$'\n'}"
  if [[ -n "$WHY" ]]; then echo "restart $WHY"; else echo "keep $STATE"; fi
}

cmd_apply() {
  local agent="$1"; shift
  local unit="$agent.service" fp="$STATE_DIR/$agent.applied" now why state path
  mkdir -p "$STATE_DIR"
  now="$(for path in "$@"; do
    [[ -f "$path" ]] || die "$agent: $path is missing: the install step did not run"
    printf '%s %s\n' "$(sha_of "$path")" "$path"
  done)"
  systemctl daemon-reload
  systemctl enable --quiet "$unit"
  restart_reason "$agent" "$now"
  why="$WHY"; state="$STATE"
  if [[ -z "$why" ]]; then
    say "$agent: unchanged and $state: not restarted"
    return 0
  fi
  if [[ "$agent" == consul ]]; then consul_metadata_fix; fi
  # --no-block: Consul tells systemd it is up only once it joined a cluster; the gate waits.
  systemctl reset-failed "$unit" 2>/dev/null || true
  date +%s >"$STATE_DIR/$agent.restarted"
  if [[ "$state" == active || "$state" == activating || "$state" == reloading ]]; then
    systemctl restart --no-block "$unit"
    say "$agent: restarting ($why)"
  else
    systemctl start --no-block "$unit"
    say "$agent: starting ($why)"
  fi
  printf '%s\n' "$now" >"$fp.tmp" && mv -f -- "$fp.tmp" "$fp"
}

# ---------------------------------------------------------------- health
# KEY=VALUE arguments of leader-known and gate:
#   node=m1 region=global datacenter=dc1 timeout=300 quorum=yes|no servers=ip,ip,ip self=ip
#   consul_tls=yes|no nomad_tls=yes|no ca=/path/ca.pem consul_acl=yes|no nomad_acl=yes|no
#   env=/etc/ely/secrets/rollout.env
declare -A OPT=()
parse_opts() {
  local kv
  for kv in "$@"; do
    [[ "$kv" == *=* ]] || die "expected KEY=VALUE, received '$kv'"
    OPT["${kv%%=*}"]="${kv#*=}"
  done
}
opt() { printf '%s' "${OPT[$1]:-${2:-}}"; }

# Tokens for the authenticated calls, from the root-only env file the secrets step wrote.
load_tokens() {
  local file k v
  file="$(opt env)"
  CONSUL_TOKEN=""; NOMAD_TOKEN_VALUE=""
  [[ -n "$file" && -f "$file" ]] || return 0
  while IFS='=' read -r k v; do
    case "$k" in
      CONSUL_HTTP_TOKEN) CONSUL_TOKEN="$v" ;;
      NOMAD_TOKEN) NOMAD_TOKEN_VALUE="$v" ;;
    esac
  done <"$file"
}

# status_get AGENT IP PATH MAX_TIME [auth]: GET on an agent's API (IP "local": this node's agent);
# with "auth", the operator token of the env file goes in a header read from stdin (never on a
# command line). Sets HTTP_CODE ("000": no answer) and BODY.
status_get() {
  local agent="$1" ip="$2" path="$3" max="$4" name port scheme=http args header=
  if [[ "$agent" == consul ]]; then
    if [[ "$(opt consul_tls no)" == yes ]]; then
      # With TLS, plain HTTP listens on loopback only; other servers answer HTTPS.
      if [[ "$ip" == local ]]; then port=8500; ip=127.0.0.1; name=127.0.0.1
      else port=8501; scheme=https; name="server.$(opt datacenter).consul"; fi
    else port=8500; [[ "$ip" == local ]] && ip=127.0.0.1; name="$ip"; fi
  else
    port=4646; [[ "$ip" == local ]] && ip="$(opt self)"
    if [[ "$(opt nomad_tls no)" == yes ]]; then scheme=https; name="server.$(opt region global).nomad"; else name="$ip"; fi
  fi
  args=(-sS --max-time "$max" -o "$STATE_DIR/.status-body" -w '%{http_code}')
  if [[ "$scheme" == https ]]; then
    args+=(--cacert "$(opt ca)" --connect-to "$name:$port:$ip:$port")
  fi
  if [[ "${5:-}" == auth ]]; then
    if [[ "$agent" == consul && -n "$CONSUL_TOKEN" ]]; then header="X-Consul-Token: $CONSUL_TOKEN"; fi
    if [[ "$agent" == nomad && -n "$NOMAD_TOKEN_VALUE" ]]; then header="X-Nomad-Token: $NOMAD_TOKEN_VALUE"; fi
    [[ -z "$header" ]] || args+=(-H @-)
  fi
  HTTP_CODE="$(printf '%s\n' "$header" | curl "${args[@]}" "$scheme://$name:$port$path" 2>"$STATE_DIR/.status-err")" || true
  [[ "$HTTP_CODE" =~ ^[0-9]{3}$ ]] || HTTP_CODE=000
  BODY="$(cat "$STATE_DIR/.status-body" 2>/dev/null || true)"
  [[ "$HTTP_CODE" != 000 ]] || BODY="$(tail -n 1 "$STATE_DIR/.status-err" 2>/dev/null || true)"
  rm -f "$STATE_DIR/.status-body" "$STATE_DIR/.status-err"
}

has_leader() { # agent ip: a healthy server answers at once; a server without leader blocks (Nomad ~5 s)
  status_get "$1" "$2" /v1/status/leader 3
  [[ "$HTTP_CODE" == 200 && "$BODY" =~ ^\"[^\"]+\"$ ]]
}

leader_server() { # agent: prints the first server (local, then the list) that knows a leader, or none
  local ip
  for ip in local $(opt servers | tr ',' ' '); do
    if has_leader "$1" "$ip"; then echo "$ip"; return 0; fi
  done
  echo none
}

cmd_leader_known() {
  parse_opts "$@"
  local agent
  for agent in consul nomad; do echo "$agent=$(leader_server "$agent")"; done
}

# api_fact AGENT IP NAME PATH: one line "<agent> <name> <code> <server> <base64 body>" of quorum-facts.
api_fact() {
  local label="$2"
  [[ "$label" != local ]] || label="$(opt node)"
  status_get "$1" "$2" "$4" 8 auth
  printf '%s %s %s %s %s\n' "$1" "$3" "$HTTP_CODE" "$label" "$(printf '%s' "$BODY" | base64 -w0)"
}

cmd_quorum_facts() {
  parse_opts "$@"
  load_tokens
  mkdir -p "$STATE_DIR"
  local agent ip found
  for agent in consul nomad; do
    found="$(leader_server "$agent")"
    if [[ "$found" == none ]]; then
      echo "$agent leader none"
      # Fresh, or formed and leaderless? The Raft members of the first server that answers.
      found=none
      for ip in local $(opt servers | tr ',' ' '); do
        if [[ "$agent" == consul ]]; then status_get consul "$ip" /v1/status/peers 3 auth
        else status_get nomad "$ip" '/v1/operator/raft/configuration?stale' 3 auth; fi
        if [[ "$HTTP_CODE" != 000 ]]; then found="$ip"; break; fi
      done
      if [[ "$found" == none ]]; then echo "$agent peers 000 none"
      elif [[ "$agent" == consul ]]; then api_fact consul "$found" peers /v1/status/peers
      else api_fact nomad "$found" peers '/v1/operator/raft/configuration?stale'; fi
      continue
    fi
    echo "$agent leader $([[ "$found" == local ]] && opt node || echo "$found")"
    if [[ "$agent" == consul ]]; then
      api_fact consul "$found" health /v1/operator/autopilot/health
    else
      api_fact nomad "$found" raft /v1/operator/raft/configuration
      api_fact nomad "$found" health /v1/operator/autopilot/health
    fi
  done
}

agent_cli_env() { # agent -> prints nothing; exports the CLI's address settings
  if [[ "$1" == consul ]]; then
    export CONSUL_HTTP_ADDR="http://127.0.0.1:8500" CONSUL_HTTP_TOKEN="$CONSUL_TOKEN"
  else
    local ip; ip="$(opt self)"
    if [[ "$(opt nomad_tls no)" == yes ]]; then
      export NOMAD_ADDR="https://$ip:4646" NOMAD_CACERT="$(opt ca)" NOMAD_TLS_SERVER_NAME="server.$(opt region global).nomad"
    else
      export NOMAD_ADDR="http://$ip:4646"
    fi
    export NOMAD_TOKEN="$NOMAD_TOKEN_VALUE"
  fi
}

# raft_voter AGENT: 0 when this node is a voter in the agent's Raft configuration (with a leader).
# Sets PEERS (a one-line summary) and WHY (what is missing).
raft_voter() {
  local agent="$1" out name
  if [[ "$agent" == consul ]]; then
    name="$(opt node)"
    out="$( (agent_cli_env consul; /usr/local/bin/consul operator raft list-peers) 2>&1)" || { WHY="consul operator raft list-peers: $(tail -n 1 <<<"$out")"; PEERS=""; return 1; }
  else
    name="$(opt node).$(opt region global)"
    out="$( (agent_cli_env nomad; /usr/local/bin/nomad operator raft list-peers) 2>&1)" || { WHY="nomad operator raft list-peers: $(tail -n 1 <<<"$out")"; PEERS=""; return 1; }
  fi
  # Columns by header name: Node ... State Voter (later headers may hold spaces).
  PEERS="$(awk 'NR==1 { for (i = 1; i <= NF; i++) { if ($i == "State") s = i; if ($i == "Voter") v = i }; next }
                NF > 0 { printf "%s%s %s voter=%s", sep, $1, $s, $v; sep = ", " }' <<<"$out")"
  if ! awk -v n="$name" 'NR > 1 && $1 == n' <<<"$out" | grep -q .; then WHY="$name is not in the Raft peer set ($PEERS)"; return 1; fi
  if ! awk 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "State") s = i; next } $s == "leader"' <<<"$out" | grep -q .; then
    WHY="no leader ($PEERS)"; return 1
  fi
  if ! awk -v n="$name" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == "Voter") v = i; next } $1 == n && $v == "true"' <<<"$out" | grep -q .; then
    WHY="$name is not a voter yet ($PEERS)"; return 1
  fi
  WHY=""
  return 0
}

NOMAD_BOOTSTRAP_TRIED=no
# With ACLs on a cluster never bootstrapped, bootstrap Nomad's ACLs with the operator's token.
maybe_bootstrap_nomad_acl() {
  [[ "$(opt nomad_acl no)" == yes && "$NOMAD_BOOTSTRAP_TRIED" == no && -n "$NOMAD_TOKEN_VALUE" ]] || return 0
  [[ "$WHY" == *"ACL token not found"* || "$WHY" == *"Permission denied"* || "$WHY" == *"403"* ]] || return 0
  NOMAD_BOOTSTRAP_TRIED=yes
  local file out rc=0
  file="$(mktemp "$STATE_DIR/nomad-bootstrap.XXXXXX")"
  printf '%s\n' "$NOMAD_TOKEN_VALUE" >"$file"
  # The CLI prints the token it created: keep its output to ourselves.
  out="$( (agent_cli_env nomad; /usr/local/bin/nomad acl bootstrap -json "$file") 2>&1)" || rc=$?
  rm -f -- "$file"
  if ((rc == 0)); then
    say "nomad: ACLs bootstrapped with the operator token (nomad_token)"
  elif grep -q "already done" <<<"$out"; then
    die "nomad: the operator token (nomad_token) is refused, and Nomad's ACLs were bootstrapped already: pass the cluster's management or an operator token"
  else
    say "nomad: ACL bootstrap failed: $(grep -i -E '^error' <<<"$out" | head -n 1 | cut -c1-200); will retry"
    NOMAD_BOOTSTRAP_TRIED=no
  fi
}

CRASHING=""
agent_ok() { # agent quorum
  local agent="$1" state restarts
  state="$(unit_state "$agent")"
  restarts="$(systemctl show -p NRestarts --value "$agent.service" 2>/dev/null || true)"
  # apply resets the counter (reset-failed, then an explicit restart): these are exits since then.
  if [[ "$state" == failed ]] || ((${restarts:-0} >= 3)); then
    WHY="$agent.service keeps exiting: systemd restarted it ${restarts:-0} times ($state, result $(systemctl show -p Result --value "$agent.service" 2>/dev/null || echo unknown))"
    CRASHING="$agent"
    return 1
  fi
  if [[ "$state" != active && "$state" != activating ]]; then WHY="$agent.service is $state"; return 1; fi
  # Any HTTP answer proves the agent serves (Consul says "" and Nomad 500 "No cluster leader" while bootstrapping).
  status_get "$agent" local /v1/status/leader 8
  if [[ "$HTTP_CODE" == 000 ]]; then WHY="its HTTP API does not answer yet (${BODY:-no answer})"; return 1; fi
  if [[ "$2" == no ]]; then WHY=""; return 0; fi
  if ! raft_voter "$agent"; then
    [[ "$agent" == nomad ]] && maybe_bootstrap_nomad_acl
    return 1
  fi
  return 0
}

agents_text() { # "Consul and Nomad are" / "Consul is"
  case "$(opt agents consul,nomad)" in
    consul) echo "Consul is" ;;
    nomad) echo "Nomad is" ;;
    *) echo "Consul and Nomad are" ;;
  esac
}

cmd_gate() {
  parse_opts "$@"
  load_tokens
  local timeout quorum start deadline agent next_report=0 pending agents
  timeout="$(opt timeout 300)"; quorum="$(opt quorum yes)"; agents="$(opt agents consul,nomad | tr ',' ' ')"
  start=$SECONDS; deadline=$((SECONDS + timeout))
  local -A done_=()
  while :; do
    pending=""
    for agent in $agents; do
      [[ -n "${done_[$agent]:-}" ]] && continue
      if agent_ok "$agent" "$quorum"; then
        done_[$agent]=1
        if [[ "$quorum" == yes ]]; then say "$agent: healthy, leader elected, $(opt node) is a voter ($((SECONDS - start))s): $PEERS"
        else say "$agent: running and answering ($((SECONDS - start))s); no leader required: the cluster is still bootstrapping"; fi
      else
        pending+="$agent: $WHY; "
        break # Nomad after Consul: it registers in the local Consul agent
      fi
    done
    [[ -z "$pending" ]] && return 0
    if [[ -n "$CRASHING" ]] || ((SECONDS >= deadline)); then
      if [[ -n "$CRASHING" ]]; then
        printf '%s: error: %s: gave up after %ss: %s\n' "$SELF" "$(opt node)" "$((SECONDS - start))" "${pending%; }" >&2
      else
        printf '%s: error: %s: timed out after %ss waiting until %s: %s\n' "$SELF" "$(opt node)" "$timeout" \
          "$([[ "$quorum" == yes ]] && echo "$(agents_text) healthy with a leader, and $(opt node) is a Raft voter again" || echo "$(agents_text) running and answering")" \
          "${pending%; }" >&2
      fi
      for agent in $agents; do
        echo "---- first errors of $agent on $(opt node) since the step restarted it:" >&2
        journalctl -u "$agent.service" --since "@$(cat "$STATE_DIR/$agent.restarted" 2>/dev/null || echo $(($(date +%s) - timeout)))" --no-pager -o cat 2>&1 |
          grep -i -E 'error|fail' | grep -v -i 'context canceled' | head -n 6 | cut -c1-400 | sed 's/^/  /' >&2 || true
        echo "---- last lines of journalctl -u $agent on $(opt node):" >&2
        journalctl -u "$agent.service" -n 15 --no-pager -o cat 2>&1 | sed 's/^/  /' >&2 || true
      done
      exit 3
    fi
    if ((SECONDS >= next_report)); then
      say "waiting ($((SECONDS - start))s of ${timeout}s): ${pending%; }"
      next_report=$((SECONDS + 10))
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- main
[[ $# -ge 1 ]] || die "usage: $SELF preflight|hashes|install|install-inline|leader-known|quorum-facts|would-restart|apply|gate|rollback|commit ..."
command="$1"; shift
case "$command" in
  preflight) cmd_preflight ;;
  hashes) cmd_hashes "$@" ;;
  install) cmd_install ;;
  install-inline) cmd_install_inline ;;
  leader-known) cmd_leader_known "$@" ;;
  quorum-facts) cmd_quorum_facts "$@" ;;
  would-restart) cmd_would_restart "$@" ;;
  apply) cmd_apply "$@" ;;
  gate) cmd_gate "$@" ;;
  rollback) cmd_rollback "$@" ;;
  commit) cmd_commit ;;
  *) die "unknown command '$command'" ;;
esac
