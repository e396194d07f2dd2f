#!/usr/bin/env bash
# ely-node-step: the node side of Ely's server rollout (constructs/server-rollout.ts).
# cli/server-step.ts installs this script on the node over ssh (as /usr/local/lib/ely/ely-node-step)
# and runs it as root, one command per ssh call:
#
#   preflight                     check the node has what the steps use
#   hashes PATH...                "<sha256> PATH" per path ("-" when missing)
#   install                       stdin: a tar holding ./manifest and the files it names
#   install-inline                stdin: manifest lines, file contents inline (base64); for secrets,
#                                 which thus never touch the disk of the machine running the plan
#   leader-known KEY=VALUE...     does a Consul / Nomad leader exist (asked of every server)?
#   apply AGENT FILE...           (re)start AGENT when one of FILEs differs from what it last
#                                 started with, or when it is not running; otherwise leave it alone
#   gate KEY=VALUE...             wait, bounded, until the node's agents are healthy (and, with
#                                 quorum=yes, until there is a leader and this server is a voter)
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
  tmp="$(dirname -- "$path")/.$(basename -- "$path").ely-new"
  cp -- "$src" "$tmp"
  chown "$owner:$group" -- "$tmp"
  chmod "$mode" -- "$tmp"
  mv -f -- "$tmp" "$path"
  echo "changed $path"
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

cmd_apply() {
  local agent="$1"; shift
  local unit="$agent.service" fp="$STATE_DIR/$agent.applied" now old changed=() why state line path
  mkdir -p "$STATE_DIR"
  now="$(for path in "$@"; do
    [[ -f "$path" ]] || die "$agent: $path is missing: the install step did not run"
    printf '%s %s\n' "$(sha_of "$path")" "$path"
  done)"
  old="$(cat -- "$fp" 2>/dev/null || true)"
  while read -r line; do
    grep -qxF -- "$line" <<<"$old" || changed+=("${line#* }")
  done <<<"$now"
  systemctl daemon-reload
  systemctl enable --quiet "$unit"
  state="$(unit_state "$agent")"
  if ((${#changed[@]} > 0)); then
    why="changed: ${changed[*]}"
  elif [[ "$state" != active && "$state" != activating && "$state" != reloading ]]; then
    why="it was $state"
  else
    say "$agent: unchanged and $state: not restarted"
    return 0
  fi
  # --no-block: Consul tells systemd it is up only once it joined a cluster; the gate waits.
  systemctl reset-failed "$unit" 2>/dev/null || true
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

# status_get AGENT IP PATH MAX_TIME: GET on an agent's unauthenticated status API (IP "local":
# this node's agent). Sets HTTP_CODE ("000": no answer) and BODY.
status_get() {
  local agent="$1" ip="$2" path="$3" max="$4" name port scheme=http args
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
  HTTP_CODE="$(curl "${args[@]}" "$scheme://$name:$port$path" 2>"$STATE_DIR/.status-err")" || true
  [[ "$HTTP_CODE" =~ ^[0-9]{3}$ ]] || HTTP_CODE=000
  BODY="$(cat "$STATE_DIR/.status-body" 2>/dev/null || true)"
  [[ "$HTTP_CODE" != 000 ]] || BODY="$(tail -n 1 "$STATE_DIR/.status-err" 2>/dev/null || true)"
  rm -f "$STATE_DIR/.status-body" "$STATE_DIR/.status-err"
}

has_leader() { # agent ip: a healthy server answers at once; a server without leader blocks (Nomad ~5 s)
  status_get "$1" "$2" /v1/status/leader 3
  [[ "$HTTP_CODE" == 200 && "$BODY" =~ ^\"[^\"]+\"$ ]]
}

cmd_leader_known() {
  parse_opts "$@"
  local agent ip found
  for agent in consul nomad; do
    found=none
    for ip in local $(opt servers | tr ',' ' '); do
      if has_leader "$agent" "$ip"; then found="$ip"; break; fi
    done
    echo "$agent=$found"
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

agent_ok() { # agent quorum
  local agent="$1" state
  state="$(unit_state "$agent")"
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

cmd_gate() {
  parse_opts "$@"
  load_tokens
  local timeout quorum start deadline agent next_report=0 pending
  timeout="$(opt timeout 300)"; quorum="$(opt quorum yes)"
  start=$SECONDS; deadline=$((SECONDS + timeout))
  local -A done_=()
  while :; do
    pending=""
    for agent in consul nomad; do
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
    if ((SECONDS >= deadline)); then
      printf '%s: error: %s: timed out after %ss waiting until %s: %s\n' "$SELF" "$(opt node)" "$timeout" \
        "$([[ "$quorum" == yes ]] && echo "Consul and Nomad are healthy, have a leader, and $(opt node) is a Raft voter again" || echo "Consul and Nomad run and answer")" \
        "${pending%; }" >&2
      for agent in consul nomad; do
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
[[ $# -ge 1 ]] || die "usage: $SELF preflight|hashes|install|install-inline|leader-known|apply|gate ..."
command="$1"; shift
case "$command" in
  preflight) cmd_preflight ;;
  hashes) cmd_hashes "$@" ;;
  install) cmd_install ;;
  install-inline) cmd_install_inline ;;
  leader-known) cmd_leader_known "$@" ;;
  apply) cmd_apply "$@" ;;
  gate) cmd_gate "$@" ;;
  *) die "unknown command '$command'" ;;
esac
