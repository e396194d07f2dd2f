/**
 * The util node's IPv6 router advertisement, which ends iPXE's IPv6 configuration at once.
 *
 * iPXE's autoboot configures every protocol of the NIC before it boots anything (`ifconf` waits
 * for all its configurators). The IPv6 one sends router solicitations until an advertisement
 * answers, or its retries run out about 16 s later. On a LAN without an IPv6 router, every
 * netboot waited those 16 s after its DHCP (BENCHMARKS.md, "iPXE waits for an IPv6 router").
 * An advertisement without the M and O flags ends that configurator when it arrives (iPXE's
 * src/net/ndp.c, ipv6conf_rx_router_advertisement), and the netboot goes on over IPv4.
 *
 * The advertisement claims nothing, so other hosts on the LAN are not changed by it:
 * - router lifetime 0: not a default router (RFC 4861 4.2);
 * - no prefix: no address, no on-link route;
 * - no M or O flag: no DHCPv6;
 * - hop limit, reachable time and retransmission timer 0 (unspecified): hosts keep their own;
 * - no MTU option.
 * A LAN's own IPv6 router keeps advertising as before, and its hosts keep its routes and prefixes.
 *
 * radvd (Debian's `radvd` package) sends it. Debian's own radvd.service does not start without
 * /etc/radvd.conf, which Ely does not write; Ely's unit reads a file its script writes in /run.
 */
import { shellQuote } from "../shell-quote";

/** The script in each boot release that writes radvd's configuration (run by the unit before radvd). */
export const RADVD_CONFIG_SCRIPT = "radvd-config.sh";
/** The unit that runs radvd on the util node. */
export const RADVD_UNIT = "ely-radvd.service";
/** Where the unit's radvd reads its configuration, and its pid file. */
export const RADVD_RUN_CONFIG = "/run/ely-radvd.conf";
export const RADVD_RUN_PID = "/run/ely-radvd.pid";
/** What the util node needs for the advertisement (activate.sh warns when it is missing). */
export const RADVD_PROGRAM = "/usr/sbin/radvd";

/** What the script needs. */
export interface RouterAdvertisementConfig {
  /** The util node's address: the advertisement goes out on the interface holding it. */
  readonly utilAddress: string;
  /** The interface to advertise on, when named (the boot service's dhcpInterface). Default: the one holding utilAddress. */
  readonly dhcpInterface?: string;
}

/** radvd's configuration for one interface: an advertisement that claims nothing (see the file's comment). */
export function radvdInterfaceBlock(iface: string): string {
  return [
    `interface ${iface} {`,
    "  AdvSendAdvert on;",
    "  AdvDefaultLifetime 0;",
    "  AdvCurHopLimit 0;",
    "  AdvManagedFlag off;",
    "  AdvOtherConfigFlag off;",
    "  AdvReachableTime 0;",
    "  AdvRetransTimer 0;",
    "  AdvLinkMTU 0;",
    "};",
  ].join("\n");
}

/**
 * The script that writes radvd's configuration to its first argument (through a temporary file
 * moved into place): the interface is the boot service's dhcpInterface, else the one that holds
 * the util node's address at the time the unit starts. Fails, saying why, when there is none.
 */
export function renderRadvdConfigScript(config: RouterAdvertisementConfig): string {
  const block = radvdInterfaceBlock("$iface");
  const address = shellQuote(config.utilAddress);
  const find = config.dhcpInterface
    ? `iface=${shellQuote(config.dhcpInterface)}`
    : `iface=$(ip -o -4 addr show | awk -v a=${address} '{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }')`;
  return `#!/bin/sh
# Ely: radvd's configuration on the util node: an IPv6 router advertisement that names no router,
# prefix or DHCPv6, so that iPXE's IPv6 configuration ends at once. Generated; do not edit.
# Usage: sh ${RADVD_CONFIG_SCRIPT} <file>
set -eu
out="$1"
${find}
if [ -z "$iface" ]; then
  echo "ely-radvd: no interface holds the util node's address ${config.utilAddress} (ip -o -4 addr show); name one with the boot service's dhcpInterface" >&2
  exit 1
fi
cat > "$out.tmp" <<EOF
# Ely: written by ${RADVD_CONFIG_SCRIPT}; an advertisement without router, prefix or DHCPv6.
${block}
EOF
mv "$out.tmp" "$out"
echo "ely-radvd: advertising on $iface"
`;
}

/** The util node's radvd unit: the script writes the configuration, radvd answers solicitations with it. */
export function radvdUnit(currentDir: string): string {
  return `[Unit]
Description=Ely boot service: IPv6 router advertisement without router or prefix (iPXE's IPv6 configuration ends at once)
Wants=network-online.target
After=network-online.target
ConditionFileIsExecutable=${RADVD_PROGRAM}

[Service]
ExecStartPre=/bin/sh ${currentDir}/${RADVD_CONFIG_SCRIPT} ${RADVD_RUN_CONFIG}
ExecStart=${RADVD_PROGRAM} --nodaemon --logmethod=stderr_clean --config=${RADVD_RUN_CONFIG} --pidfile=${RADVD_RUN_PID}
Restart=on-failure

[Install]
WantedBy=multi-user.target
`;
}

/**
 * activate.sh's lines (at the boot services' restart): with the advertisement, start radvd, or warn
 * that it is missing; without it, stop and remove a unit an earlier release installed.
 */
export function radvdActivation(enabled: boolean): string {
  if (enabled) {
    return `  systemctl enable --quiet ${RADVD_UNIT}
  if [ -x ${RADVD_PROGRAM} ]; then
    systemctl restart ${RADVD_UNIT}
  else
    echo "ely-boot: WARNING: radvd is missing: iPXE waits about 16 s for an IPv6 router at every netboot (apt-get install radvd)" >&2
  fi`;
  }
  return `  if [ -f /etc/systemd/system/${RADVD_UNIT} ]; then
    systemctl disable --now --quiet ${RADVD_UNIT} || true
    rm -f /etc/systemd/system/${RADVD_UNIT}
    systemctl daemon-reload
  fi`;
}
