/**
 * docker.service of an image with docker: Debian's unit, started without waiting for
 * network-online.target.
 *
 * Debian orders docker after the network is online so that dockerd, choosing docker0's subnet,
 * sees the LAN's route and avoids it. On a netbooted worker that wait puts docker's whole start
 * (containerd, dockerd, its AppArmor profile, iptables) after udev's coldplug and DHCP, and Nomad,
 * ordered after docker, after both. Here docker0's address is chosen before the network is up,
 * from the lease the initrd got for the boot interface (ELY_BOOT_ADDRESS in boot.env): the first
 * of docker's own default pools that does not overlap that LAN, as dockerd itself would choose
 * once the LAN's route is there. So docker starts beside udev and networkd, and its containers'
 * subnet is the same as before.
 */
/** Where the image's unit lives: /etc overrides the package's unit in /usr/lib. */
export const DOCKER_UNIT_PATH = "etc/systemd/system/docker.service";
/** The script the unit runs: chooses docker0's address, then becomes dockerd. */
export const DOCKERD_START_PATH = "usr/local/lib/ely/dockerd";
/** Its log lines start with this. */
export const DOCKERD_START_TAG = "ely-dockerd";

/**
 * docker's default address pools, in its order (libnetwork's ipamutils): 172.17-31.0.0/16, then
 * 192.168.0.0/16 in /20s. docker0 takes the first that overlaps no route.
 */
export const DOCKER_BRIDGE_POOLS: readonly string[] = [
  ...Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`),
  ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`),
];

/**
 * Shell functions (POSIX sh, dash's 64-bit arithmetic): `docker_bridge_for LAN` prints docker0's
 * address (the pool's first host, with the pool's length) for a LAN given as a.b.c.d/len or
 * a.b.c.d/255.255.255.0; nothing, with status 1, when the LAN is malformed or every pool overlaps it.
 */
export const dockerBridgeFunctions = `ipv4_int() {
  case "$1" in ''|*[!0-9.]*|*..*|.*|*.|0[0-9]*|*.0[0-9]*) return 1 ;; esac
  old_ifs=$IFS; IFS=.; set -- $1; IFS=$old_ifs
  [ $# -eq 4 ] || return 1
  for octet; do [ "$octet" -le 255 ] || return 1; done
  echo $(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 ))
}
int_ipv4() {
  echo "$(( ($1 >> 24) & 255 )).$(( ($1 >> 16) & 255 )).$(( ($1 >> 8) & 255 )).$(( $1 & 255 ))"
}
prefix_length() {
  case "$1" in
    *.*) bits=$(ipv4_int "$1") || return 1; n=0
      while [ $n -lt 32 ] && [ $(( (bits >> (31 - n)) & 1 )) -eq 1 ]; do n=$((n + 1)); done
      echo $n ;;
    ''|*[!0-9]*) return 1 ;;
    *) [ "$1" -le 32 ] || return 1; echo "$1" ;;
  esac
}
net_mask() { [ "$1" -eq 0 ] && echo 0 || echo $(( (4294967295 << (32 - $1)) & 4294967295 )); }
docker_bridge_for() {
  case "$1" in */*) ;; *) return 1 ;; esac
  lan=$(ipv4_int "\${1%/*}") || return 1
  lan_len=$(prefix_length "\${1#*/}") || return 1
  for pool in ${DOCKER_BRIDGE_POOLS.join(" ")}; do
    net=$(ipv4_int "\${pool%/*}"); len=\${pool#*/}
    shorter=$len; [ "$lan_len" -lt "$shorter" ] && shorter=$lan_len
    mask=$(net_mask "$shorter")
    if [ $(( net & mask )) -ne $(( lan & mask )) ]; then
      echo "$(int_ipv4 $((net + 1)))/$len"
      return 0
    fi
  done
  return 1
}
`;

/** The unit's start script: docker0's address from the boot lease (in `bootEnvFile`), then dockerd with the unit's arguments. */
export function dockerdStartScript(bootEnvFile: string): string {
  return `#!/bin/sh
# ${DOCKERD_START_TAG}: starts dockerd with docker0's address chosen from this boot's lease (docker-unit.ts).
${dockerBridgeFunctions}
# ELY_DOCKERD lets a test run this on a host with another program in dockerd's place.
dockerd=\${ELY_DOCKERD:-/usr/sbin/dockerd}
ELY_BOOT_ADDRESS=
[ -r ${bootEnvFile} ] && . ${bootEnvFile}
if [ -z "$ELY_BOOT_ADDRESS" ]; then
  echo "${DOCKERD_START_TAG}: ${bootEnvFile} names no boot lease (ELY_BOOT_ADDRESS): docker chooses docker0's subnet itself, maybe before the LAN's route is there" >&2
  exec "$dockerd" "$@"
fi
if bridge=$(docker_bridge_for "$ELY_BOOT_ADDRESS"); then
  echo "${DOCKERD_START_TAG}: docker0 $bridge (the boot lease is $ELY_BOOT_ADDRESS)" >&2
  exec "$dockerd" --bip="$bridge" "$@"
fi
echo "${DOCKERD_START_TAG}: the boot lease $ELY_BOOT_ADDRESS is not a.b.c.d/len or overlaps every docker pool: docker chooses docker0's subnet itself" >&2
exec "$dockerd" "$@"
`;
}

/** Debian's docker.service (docker.io 20.10), with network-online.target left out and the start script in front of dockerd. */
export function dockerUnit(): string {
  return `# Part of the Ely node image: Debian's docker.service without the wait for network-online.target (docker-unit.ts).
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=docker.socket firewalld.service containerd.service
Wants=containerd.service
Requires=docker.socket

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/${DOCKERD_START_PATH} -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Delegate=yes
KillMode=process
Restart=on-failure
StartLimitBurst=3
StartLimitInterval=60s

[Install]
WantedBy=multi-user.target
`;
}
