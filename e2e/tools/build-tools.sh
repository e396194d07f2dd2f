#!/usr/bin/env bash
# Builds (from Go modules) and caches everything the end-to-end tests need:
#   - Terraform providers hashicorp/{nomad,consul,null} as an unpacked filesystem mirror
#   - consul and nomad agent binaries (last MPL-2.0 releases)
#   - a Terraform CLI config pointing at the mirror (no network installs)
# Cache: ${ELY_CACHE:-$HOME/.cache/ely}, keyed by version: a second run is a fast no-op.
#
# Usage:
#   e2e/tools/build-tools.sh            build what is missing
#   e2e/tools/build-tools.sh --env      build what is missing, then print export lines:
#                                         eval "$(e2e/tools/build-tools.sh --env)"
#   e2e/tools/build-tools.sh --verify   build what is missing, then check it for real
#                                         (terraform init/validate offline, consul and
#                                         nomad dev agents with ACLs on loopback)
#   e2e/tools/build-tools.sh --force    rebuild everything
#   e2e/tools/build-tools.sh --agents-only [--env|--verify]
#                                       only the consul and nomad agents (the Go proxy serves
#                                         them): no providers, no terraform, no terraformrc;
#                                         --env then prints only PATH and ELY_AGENT_BIN_DIR
# The agents are built before the providers, so a provider that cannot be provided does
# not keep the agents from being cached.
# Progress goes to stderr; stdout carries only the --env lines.
#
# Environment:
#   ELY_CACHE            cache dir (default ~/.cache/ely)
#   ELY_USE_TOFU=1       build and use OpenTofu even if terraform is on PATH
#   ELY_PROVIDER_MIRROR  a Terraform filesystem mirror (unpacked layout) to take the providers
#                        from when the Go proxy does not serve their modules (the proxy reachable
#                        from the development machine refuses all three: see README, "E2E")
#   ELY_GOTOOLCHAIN      toolchain used when a module needs a newer Go (default go1.27.3)
set -euo pipefail

# ---------------------------------------------------------------- pinned versions
# Terraform providers: name|version|go module path|commit of the release tag.
# The v2/v3 tags lack the /vN module suffix, so the modules are fetched by commit.
PROVIDERS=(
  "nomad|2.5.2|github.com/hashicorp/terraform-provider-nomad|b69339f1c7d0"
  "consul|2.22.1|github.com/hashicorp/terraform-provider-consul|b2798b33bd40"
  "null|3.2.4|github.com/terraform-providers/terraform-provider-null|01034f80eb23"
)
# Agents: newest releases whose module LICENSE is MPL-2.0 and that the Go proxy serves.
# Nomad is BSL from v1.7.0; v1.6.4's go.mod is refused by the proxy, v1.6.5+ are not served.
# Consul: v1.16.4 and the v1.16.5 zip are not served, and v1.16.6's LICENSE is the Business
# Source License, so v1.16.3 (MPL-2.0) is the newest usable. require_mpl checks LICENSE.
NOMAD_VERSION=1.6.3
CONSUL_VERSION=1.16.3
# Consul's envoyextensions submodule is served by the proxy, but the checksum DB lookup
# is refused here; pin its hashes so the go command does not need to ask.
CONSUL_EXTRA_SUMS=(
  "github.com/hashicorp/consul/envoyextensions v0.4.1 h1:7s3IXE+qmwjPbZPva+8BjHLrpkFrFkNE+z/6X/O6PQc="
  "github.com/hashicorp/consul/envoyextensions v0.4.1/go.mod h1:PkLAV99qviACPT7v8Pn7d/vacZixC8/4fuZpR7Rf7vA="
)
# Fallback when no terraform is on PATH.
TOFU_VERSION=1.10.10
# Bump to force a rebuild of everything after a change of recipe.
RECIPE=1

PLATFORM=linux_amd64
CACHE="${ELY_CACHE:-$HOME/.cache/ely}"
GOFLAGS_BUILD=(-trimpath -buildvcs=false)
FALLBACK_TOOLCHAIN="${ELY_GOTOOLCHAIN:-go1.27.3}"

MODE=build
FORCE=0
AGENTS_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --env) MODE="env" ;;
    --agents-only) AGENTS_ONLY=1 ;;
    --verify) MODE="verify" ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n "2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}" "$0"; exit 0 ;;
    *) echo "build-tools.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

STEP=""
STEP_T0=$SECONDS
log() { echo "[tools] $*" >&2; }
step() { STEP="$1"; STEP_T0=$SECONDS; [[ -z "${2:-}" ]] || log "$STEP: $2 ..."; }
done_step() { log "$STEP: ${1:-done} ($((SECONDS - STEP_T0))s)"; STEP=""; }
die() { log "FAILED${STEP:+ at step '$STEP'}: $*"; exit 1; }

WORK=""
VERIFY_PIDS=()
on_exit() {
  local rc=$? p
  for p in "${VERIFY_PIDS[@]}"; do stop_pid "$p"; done
  [[ -n "$WORK" && -d "$WORK" ]] && safe_rm "$WORK"
  if [[ $rc -ne 0 ]]; then
    log "FAILED${STEP:+ at step '$STEP'} (exit $rc, ${SECONDS}s); the previous cache, if any, is untouched"
    # keep `eval "$(build-tools.sh --env)"` from silently succeeding
    [[ "$MODE" == env ]] && echo "false"
  fi
  return $rc
}
# rm -rf, but never through a mount point left behind (e.g. by nomad's exec driver)
safe_rm() {
  local d="$1"
  if command -v findmnt >/dev/null && findmnt -rn -o TARGET | grep "^$(realpath -m "$d")/" >/dev/null; then
    log "warning: mounts remain under $d; not removing it"
    return 0
  fi
  rm -rf "$d" 2>/dev/null || { chmod -R u+w "$d" 2>/dev/null; rm -rf "$d"; }
}
trap on_exit EXIT

# run a logged command; on failure show the tail of its log
run_logged() {
  local logf="$1"; shift
  if ! "$@" >>"$logf" 2>&1; then
    tail -n 40 "$logf" >&2
    die "command failed: $* (full log: $logf)"
  fi
}

# ---------------------------------------------------------------- setup
command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$CACHE"/{bin,providers,stamps,logs,tmp}
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then
  flock -n 9 || { log "another build-tools.sh holds $CACHE/.lock; waiting"; flock 9; }
fi
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
GO_LOCAL_VERSION="$(go env GOVERSION)"; GO_LOCAL_VERSION="${GO_LOCAL_VERSION#go}"

stamp_ok() { [[ $FORCE -eq 0 && -f "$CACHE/stamps/$1" && "$(cat "$CACHE/stamps/$1")" == "$2" ]]; }
write_stamp() { printf '%s\n' "$2" >"$CACHE/stamps/$1.tmp" && mv -f "$CACHE/stamps/$1.tmp" "$CACHE/stamps/$1"; }

new_work() { WORK="$(mktemp -d "$CACHE/tmp/build.XXXXXX")"; }
end_work() { safe_rm "$WORK"; WORK=""; }

# json field from `go mod download -json` output (one key per line)
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" | sed -n 1p; }

# go mod download -json MODULE@VERSION; prints the JSON, fails with the Error field
go_download() {
  local out err
  out="$(go mod download -json "$1" 2>&1)" || true
  err="$(printf '%s\n' "$out" | json_field Error)"
  if [[ -n "$err" || -z "$(printf '%s\n' "$out" | json_field Dir)" ]]; then
    printf '%s\n' "${err:-$out}" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

# copy a module out of the read-only module cache into $WORK/src
copy_module() { cp -r "$1" "$WORK/src"; chmod -R u+w "$WORK/src"; }

# choose the Go toolchain for the module in $WORK/src (go directive newer than local Go?)
pick_toolchain() {
  local need
  need="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$WORK/src/go.mod" | sed -n 1p)"
  BUILD_TOOLCHAIN="$GOTOOLCHAIN"
  if [[ -n "$need" && "$(printf '%s\n%s\n' "$need" "$GO_LOCAL_VERSION" | sort -V | tail -n1)" != "$GO_LOCAL_VERSION" ]]; then
    log "$STEP: module needs go $need > local go $GO_LOCAL_VERSION; using GOTOOLCHAIN=$FALLBACK_TOOLCHAIN"
    BUILD_TOOLCHAIN="$FALLBACK_TOOLCHAIN"
  fi
}

require_mpl() {
  grep -q "Mozilla Public License" "$1/LICENSE" 2>/dev/null ||
    die "$1/LICENSE is not MPL-2.0 (licence rule: no BSL HashiCorp code)"
}

# atomically point symlink $2 at $1 (relative name)
set_link() { ln -sfn "$1" "$2.tmp.$$" && mv -fT "$2.tmp.$$" "$2"; }

# ---------------------------------------------------------------- providers
provider_source() { # name module commit -> fills $WORK/src, sets SRC_DESC
  local name="$1" module="$2" commit="$3" json
  json="$(go_download "$module@$commit" 2>>"$LOGF")" ||
    die "the Go proxy does not serve $module@$commit (see $LOGF). Provide the provider another way: ELY_PROVIDER_MIRROR=<a filesystem mirror holding registry.terraform.io/hashicorp/$name/<version>/$PLATFORM> (e.g. made by \`terraform providers mirror\` on a machine that reaches the registry)"
  copy_module "$(printf '%s\n' "$json" | json_field Dir)"
  SRC_DESC="go module $module@$(printf '%s\n' "$json" | json_field Version)"
}

build_provider() {
  local name="$1" version="$2" module="$3" commit="$4"
  local key="provider-$name-$version" recipe="$module@$commit r$RECIPE"
  local dest="$CACHE/providers/registry.terraform.io/hashicorp/$name/$version/$PLATFORM"
  local bin="terraform-provider-${name}_v$version"
  step "provider $name $version"
  if [[ -x "$dest/$bin" && $FORCE -eq 0 ]]; then done_step "cached ($(cat "$CACHE/stamps/$key.source" 2>/dev/null || echo "origin unrecorded"))"; return 0; fi
  local given="${ELY_PROVIDER_MIRROR:-}/registry.terraform.io/hashicorp/$name/$version/$PLATFORM/$bin"
  if [[ -n "${ELY_PROVIDER_MIRROR:-}" && -x "$given" ]]; then
    mkdir -p "$dest"
    cp -f "$given" "$dest/$bin.tmp" && mv -f "$dest/$bin.tmp" "$dest/$bin"
    echo "copied from ELY_PROVIDER_MIRROR=$ELY_PROVIDER_MIRROR" >"$CACHE/stamps/$key.source"
    done_step "copied from $ELY_PROVIDER_MIRROR"; return 0
  fi
  log "$STEP: building from $module@$commit"
  LOGF="$CACHE/logs/$key.log"; : >"$LOGF"
  new_work
  provider_source "$name" "$module" "$commit"
  grep -q "^module $module\$" "$WORK/src/go.mod" || die "go.mod at $commit does not declare module $module"
  pick_toolchain
  run_logged "$LOGF" env GOTOOLCHAIN="$BUILD_TOOLCHAIN" CGO_ENABLED=0 \
    go build -C "$WORK/src" -mod=mod "${GOFLAGS_BUILD[@]}" -ldflags='-s -w' -o "$WORK/$bin" .
  [[ -s "$WORK/$bin" ]] || die "build produced no binary"
  mkdir -p "$dest"
  mv -f "$WORK/$bin" "$dest/$bin"
  echo "$SRC_DESC" >"$CACHE/stamps/$key.source"
  write_stamp "$key" "$recipe"
  end_work
  done_step "built from $SRC_DESC"
}

# ---------------------------------------------------------------- nomad
build_nomad() {
  local v="$NOMAD_VERSION" key="nomad-$NOMAD_VERSION" recipe="github.com/hashicorp/nomad@v$NOMAD_VERSION r$RECIPE"
  step "nomad $v"
  if stamp_ok "$key" "$recipe" && [[ -x "$CACHE/bin/nomad-$v" ]]; then
    set_link "nomad-$v" "$CACHE/bin/nomad"; done_step "cached"; return 0
  fi
  log "$STEP: building (CGO for the exec driver; takes a few minutes)"
  LOGF="$CACHE/logs/$key.log"; : >"$LOGF"
  new_work
  local json dir hash time api cgo=1
  json="$(go_download "github.com/hashicorp/nomad@v$v" 2>>"$LOGF")" || die "cannot download github.com/hashicorp/nomad@v$v (see $LOGF)"
  dir="$(printf '%s\n' "$json" | json_field Dir)"
  hash="$(printf '%s\n' "$json" | json_field Hash)"
  time="$(sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$(printf '%s\n' "$json" | json_field Info)")"
  require_mpl "$dir"
  [[ ${#hash} -ge 12 && -n "$time" ]] || die "no commit/time in the proxy's info for nomad v$v"
  copy_module "$dir"
  # nomad/api is a separate module, not in the nomad zip: take it at the tag's commit
  api="v0.0.0-$(date -u -d "$time" +%Y%m%d%H%M%S)-${hash:0:12}"
  go mod edit -C "$WORK/src" -dropreplace=github.com/hashicorp/nomad/api \
    -require="github.com/hashicorp/nomad/api@$api"
  pick_toolchain
  if ! command -v "$(go env CC)" >/dev/null; then
    log "$STEP: warning: no C compiler; building with CGO_ENABLED=0 (exec driver may not work)"; cgo=0
  fi
  run_logged "$LOGF" env GOTOOLCHAIN="$BUILD_TOOLCHAIN" CGO_ENABLED=$cgo \
    go build -C "$WORK/src" -mod=mod "${GOFLAGS_BUILD[@]}" -tags codegen_generated \
      -ldflags="-s -w -X github.com/hashicorp/nomad/version.GitCommit=${hash:0:12}" -o "$WORK/nomad" .
  "$WORK/nomad" version | grep "Nomad v$v" >/dev/null || die "built nomad does not report v$v"
  mv -f "$WORK/nomad" "$CACHE/bin/nomad-$v"
  set_link "nomad-$v" "$CACHE/bin/nomad"
  write_stamp "$key" "$recipe"
  end_work
  done_step "built (api $api, cgo=$cgo)"
}

# ---------------------------------------------------------------- consul
build_consul() {
  local v="$CONSUL_VERSION" key="consul-$CONSUL_VERSION" recipe="github.com/hashicorp/consul@v$CONSUL_VERSION r$RECIPE"
  step "consul $v"
  if stamp_ok "$key" "$recipe" && [[ -x "$CACHE/bin/consul-$v" ]]; then
    set_link "consul-$v" "$CACHE/bin/consul"; done_step "cached"; return 0
  fi
  log "$STEP: building (takes a few minutes)"
  LOGF="$CACHE/logs/$key.log"; : >"$LOGF"
  new_work
  local json dir hash time sub line
  json="$(go_download "github.com/hashicorp/consul@v$v" 2>>"$LOGF")" || die "cannot download github.com/hashicorp/consul@v$v (see $LOGF)"
  dir="$(printf '%s\n' "$json" | json_field Dir)"
  hash="$(printf '%s\n' "$json" | json_field Hash)"
  time="$(sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$(printf '%s\n' "$json" | json_field Info)")"
  require_mpl "$dir"
  [[ ${#hash} -ge 12 && -n "$time" ]] || die "no commit/time in the proxy's info for consul v$v"
  copy_module "$dir"
  # api, sdk, proto-public, envoyextensions, troubleshoot are separate modules (not in the
  # consul zip): drop the ./sub replaces, keep the versions consul's go.mod requires.
  for sub in api envoyextensions proto-public sdk troubleshoot; do
    go mod edit -C "$WORK/src" -dropreplace="github.com/hashicorp/consul/$sub"
  done
  for line in "${CONSUL_EXTRA_SUMS[@]}"; do
    grep -qxF "$line" "$WORK/src/go.sum" || echo "$line" >>"$WORK/src/go.sum"
  done
  pick_toolchain
  run_logged "$LOGF" env GOTOOLCHAIN="$BUILD_TOOLCHAIN" CGO_ENABLED=0 \
    go build -C "$WORK/src" -mod=mod "${GOFLAGS_BUILD[@]}" \
      -ldflags="-s -w -X github.com/hashicorp/consul/version.GitCommit=${hash:0:12} -X github.com/hashicorp/consul/version.BuildDate=$time" \
      -o "$WORK/consul" .
  "$WORK/consul" version | grep "Consul v$v" >/dev/null || die "built consul does not report v$v"
  mv -f "$WORK/consul" "$CACHE/bin/consul-$v"
  set_link "consul-$v" "$CACHE/bin/consul"
  write_stamp "$key" "$recipe"
  end_work
  done_step "built"
}

# ---------------------------------------------------------------- terraform / opentofu
TF_BIN=""
resolve_terraform() {
  step "terraform"
  if [[ "${ELY_USE_TOFU:-0}" != 1 ]] && TF_BIN="$(command -v terraform)"; then
    done_step "using $TF_BIN ($(TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 "$TF_BIN" version 2>/dev/null | sed -n 1p))"; return 0
  fi
  local v="$TOFU_VERSION" key="tofu-$TOFU_VERSION" recipe="github.com/opentofu/opentofu@v$TOFU_VERSION r$RECIPE"
  STEP="opentofu $v"
  if stamp_ok "$key" "$recipe" && [[ -x "$CACHE/bin/tofu-$v" ]]; then
    set_link "tofu-$v" "$CACHE/bin/tofu"; TF_BIN="$CACHE/bin/tofu"; done_step "cached"; return 0
  fi
  log "$STEP: no terraform on PATH; building OpenTofu (MPL-2.0) instead"
  LOGF="$CACHE/logs/$key.log"; : >"$LOGF"
  new_work
  local json
  json="$(go_download "github.com/opentofu/opentofu@v$v" 2>>"$LOGF")" || die "cannot download github.com/opentofu/opentofu@v$v (see $LOGF)"
  copy_module "$(printf '%s\n' "$json" | json_field Dir)"
  pick_toolchain
  run_logged "$LOGF" env GOTOOLCHAIN="$BUILD_TOOLCHAIN" CGO_ENABLED=0 \
    go build -C "$WORK/src" -mod=mod "${GOFLAGS_BUILD[@]}" \
      -ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$WORK/tofu" ./cmd/tofu
  TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 "$WORK/tofu" version 2>/dev/null | grep "v$v" >/dev/null || die "built tofu does not report v$v"
  mv -f "$WORK/tofu" "$CACHE/bin/tofu-$v"
  set_link "tofu-$v" "$CACHE/bin/tofu"
  write_stamp "$key" "$recipe"
  end_work
  TF_BIN="$CACHE/bin/tofu"
  done_step "built"
}

# ---------------------------------------------------------------- CLI config
write_terraformrc() {
  step "terraformrc"
  # OpenTofu resolves "hashicorp/x" to registry.opentofu.org: serve the same binaries there
  # (hard links; the mirror scan does not follow a symlinked host directory).
  local f rel
  [[ -L "$CACHE/providers/registry.opentofu.org" ]] && rm -f "$CACHE/providers/registry.opentofu.org"
  for p in "${PROVIDERS[@]}"; do
    IFS='|' read -r name version _ _ <<<"$p"
    rel="hashicorp/$name/$version/$PLATFORM/terraform-provider-${name}_v$version"
    f="$CACHE/providers/registry.terraform.io/$rel"
    [[ "$CACHE/providers/registry.opentofu.org/$rel" -ef "$f" ]] && continue
    mkdir -p "$(dirname "$CACHE/providers/registry.opentofu.org/$rel")"
    ln -f "$f" "$CACHE/providers/registry.opentofu.org/$rel"
  done
  local want
  want="$(cat <<EOF
# generated by e2e/tools/build-tools.sh: providers only from the local mirror
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$CACHE/providers"
    include = ["registry.terraform.io/hashicorp/*", "registry.opentofu.org/hashicorp/*"]
  }
}
EOF
)"
  if [[ -f "$CACHE/terraformrc" && "$(cat "$CACHE/terraformrc")" == "$want" ]]; then done_step "unchanged"; return 0; fi
  printf '%s\n' "$want" >"$CACHE/terraformrc.tmp" && mv -f "$CACHE/terraformrc.tmp" "$CACHE/terraformrc"
  done_step "written"
}

print_env() {
  cat <<EOF
export PATH='$CACHE/bin':"\$PATH"
export CHECKPOINT_DISABLE=1
export ELY_AGENT_BIN_DIR='$CACHE/bin'
EOF
  [[ $AGENTS_ONLY -eq 1 ]] && return 0
  cat <<EOF
export TF_CLI_CONFIG_FILE='$CACHE/terraformrc'
export TERRAFORM_BINARY_NAME='$TF_BIN'
EOF
}

# ---------------------------------------------------------------- verification
stop_pid() { # pid
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 30); do kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }; sleep 0.5; done
  log "$STEP: pid $1 did not stop on SIGTERM; sending SIGKILL"; kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
free_port() { # pick an unused TCP port in 20000-39999
  local p; for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    ss -Htanl "sport = :$p" 2>/dev/null | grep . >/dev/null || { echo "$p"; return 0; }
  done; die "no free port found"
}
wait_for() { # seconds cmd...
  local n="$1"; shift
  for _ in $(seq 1 $((n * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1
}

verify_terraform() {
  step "verify terraform" "init/validate/plan offline in a temp dir"
  local d="$WORK/tf" out
  mkdir -p "$d"
  cat >"$d/main.tf" <<'EOF'
terraform {
  required_providers {
    nomad  = { source = "hashicorp/nomad", version = "2.5.2" }
    consul = { source = "hashicorp/consul", version = "2.22.1" }
    null   = { source = "hashicorp/null", version = "3.2.4" }
  }
}
resource "null_resource" "x" {}
EOF
  # a dead proxy proves nothing is fetched from the network
  local -a tfenv=(env TF_CLI_CONFIG_FILE="$CACHE/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
                  HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY= )
  run_logged "$d/init.log" "${tfenv[@]}" "$TF_BIN" -chdir="$d" init -input=false -no-color
  grep -E 'Installed hashicorp/' "$d/init.log" | sed 's/^/[tools]   /' >&2 || true
  run_logged "$d/validate.log" "${tfenv[@]}" "$TF_BIN" -chdir="$d" validate -no-color
  run_logged "$d/plan.log" "${tfenv[@]}" "$TF_BIN" -chdir="$d" plan -input=false -no-color
  # providers lock from the mirror (non-fatal; report only)
  if out="$("${tfenv[@]}" "$TF_BIN" -chdir="$d" providers lock -no-color -fs-mirror="$CACHE/providers" -platform=$PLATFORM 2>&1)"; then
    log "$STEP: 'providers lock -fs-mirror' works offline"
  else
    log "$STEP: 'providers lock -fs-mirror' FAILED offline (non-fatal):"; printf '%s\n' "$out" | tail -n 5 | sed 's/^/[tools]   /' >&2
  fi
  done_step "ok"
}

verify_consul() {
  step "verify consul" "dev agent with ACLs on 127.0.0.1"
  "$CACHE/bin/consul" version | sed -n 1p | sed 's/^/[tools]   /' >&2
  local http dns grpc srv lan wan log="$WORK/consul.log" pid tok
  http=$(free_port); dns=$(free_port); grpc=$(free_port); srv=$(free_port); lan=$(free_port); wan=$(free_port)
  "$CACHE/bin/consul" agent -dev -bind=127.0.0.1 -client=127.0.0.1 \
    -http-port="$http" -dns-port="$dns" -grpc-port="$grpc" -server-port="$srv" \
    -serf-lan-port="$lan" -serf-wan-port="$wan" \
    -hcl 'acl { enabled = true default_policy = "deny" }' >"$log" 2>&1 &
  pid=$!; VERIFY_PIDS+=("$pid")
  export CONSUL_HTTP_ADDR="127.0.0.1:$http"
  wait_for 30 sh -c "curl -sf http://$CONSUL_HTTP_ADDR/v1/status/leader | grep -q :" ||
    { tail -n 20 "$log" >&2; die "consul dev agent did not elect a leader"; }
  tok="$("$CACHE/bin/consul" acl bootstrap 2>>"$log" | sed -n 's/^SecretID: *//p')"
  [[ -n "$tok" ]] || { tail -n 20 "$log" >&2; die "consul acl bootstrap failed"; }
  CONSUL_HTTP_TOKEN="$tok" "$CACHE/bin/consul" kv put ely/verify ok >/dev/null || die "consul kv put with the bootstrap token failed"
  if "$CACHE/bin/consul" kv get ely/verify >/dev/null 2>&1; then die "consul ACL deny did not deny an anonymous read"; fi
  stop_pid "$pid"; unset CONSUL_HTTP_ADDR
  done_step "ok (leader, acl bootstrap, token works, anonymous denied)"
}

verify_nomad() {
  step "verify nomad" "dev agent with ACLs on 127.0.0.1"
  "$CACHE/bin/nomad" version | sed -n 1p | sed 's/^/[tools]   /' >&2
  local http rpc serf log="$WORK/nomad.log" pid tok drivers
  http=$(free_port); rpc=$(free_port); serf=$(free_port)
  mkdir -p "$WORK/nomad-tmp"
  cat >"$WORK/nomad.hcl" <<EOF
ports {
  http = $http
  rpc  = $rpc
  serf = $serf
}
acl {
  enabled = true
}
consul {
  address = "127.0.0.1:1" # keep the dev agent from registering into some other consul
}
EOF
  TMPDIR="$WORK/nomad-tmp" "$CACHE/bin/nomad" agent -dev -bind=127.0.0.1 -config="$WORK/nomad.hcl" >"$log" 2>&1 &
  pid=$!; VERIFY_PIDS+=("$pid")
  export NOMAD_ADDR="http://127.0.0.1:$http"
  wait_for 30 sh -c "curl -sf $NOMAD_ADDR/v1/status/leader | grep -q :" ||
    { tail -n 20 "$log" >&2; die "nomad dev agent did not elect a leader"; }
  tok="$("$CACHE/bin/nomad" acl bootstrap 2>>"$log" | sed -n 's/^Secret ID *= *//p')"
  [[ -n "$tok" ]] || { tail -n 20 "$log" >&2; die "nomad acl bootstrap failed"; }
  export NOMAD_TOKEN="$tok"
  wait_for 30 sh -c "'$CACHE/bin/nomad' node status | grep -q ready" || die "nomad node never became ready"
  sleep 2 # let driver fingerprints settle
  drivers="$("$CACHE/bin/nomad" node status -self -verbose | sed -n '/^Drivers/,/^$/p' | awk 'NR>2 && $3=="true"{print $1}' | tr '\n' ' ')"
  log "$STEP: healthy drivers: ${drivers:-none}"
  [[ " $drivers " == *" raw_exec "* || " $drivers " == *" exec "* ]] || die "neither raw_exec nor exec is healthy"
  unset NOMAD_TOKEN NOMAD_ADDR
  stop_pid "$pid"
  done_step "ok"
}

run_verify() {
  new_work
  [[ $AGENTS_ONLY -eq 1 ]] || verify_terraform
  verify_consul
  verify_nomad
  end_work
}

# ---------------------------------------------------------------- main
# Agents first: the Go proxy serves them; the providers it may not.
build_consul
build_nomad
if [[ $AGENTS_ONLY -eq 0 ]]; then
  for p in "${PROVIDERS[@]}"; do
    IFS='|' read -r name version module commit <<<"$p"
    build_provider "$name" "$version" "$module" "$commit"
  done
  resolve_terraform
  write_terraformrc
fi
rm -rf "$CACHE/tmp"/build.* 2>/dev/null || true

case "$MODE" in
  env) print_env ;;
  verify) run_verify ;;
esac
log "all $([[ $AGENTS_ONLY -eq 1 ]] && echo "agent ")tools ready in $CACHE (${SECONDS}s total)"
