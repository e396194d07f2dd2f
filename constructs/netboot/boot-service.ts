import { Construct } from "constructs";
import { networkAndMask } from "../../nodes";
import { problem, Problem } from "../../nodes/problems";
import { absolutePath, shapeProblemOf } from "../../nodes/safe-strings";
import { addChecks } from "../checks";
import { EXPORTS_INSTALL_PATH, exportEntryProblems, NfsExportEntry, renderExports } from "./nfs-exports";
import { RADVD_CONFIG_SCRIPT, RADVD_UNIT, radvdActivation, radvdUnit, renderRadvdConfigScript } from "./router-advertisement";
import { contentHashOf, GeneratedDirectory } from "../generated-directory";
import {
  agentConfigUrlPath,
  BUILD_ID_LENGTH,
  BUILD_ID_PATTERN,
  DEFAULT_HTTP_PORT,
  DEFAULT_REMOTE_ROOT,
  imageUrlPath,
  macHyphen,
  REMOTE_BOOT_CURRENT_LINK,
  REMOTE_IMAGES_DIR,
} from "../../images/layout";
import {
  DEFAULT_RAMROOT_COMPRESSION,
  KERNEL_RAMROOT_INITRD_NAME,
  RAMROOT_ARTIFACTS,
  ramrootArtifactOf,
  ramrootCodecOfArtifact,
  ramrootUnpackedByKernel,
} from "../../images/ramroot-codec";

const DEFAULT_RAMROOT_ARTIFACT = ramrootArtifactOf(DEFAULT_RAMROOT_COMPRESSION.codec);

/** Every node's kernel arguments besides Ely's own: the consoles, the serial one last (/dev/console). */
export const DEFAULT_KERNEL_ARGS: readonly string[] = ["console=tty0", "console=ttyS0,115200n8"];

/** One netbooted node and the build it boots. */
export interface BootEntry {
  readonly hostname: string;
  /** MAC of the interface it boots from. */
  readonly mac: string;
  readonly role: string;
  readonly arch: string;
  /** "client-amd64". */
  readonly imageKey: string;
  readonly buildId: string;
  /** The channel that chose the build ("stable", "latest", a named channel, or "pinned"). */
  readonly channel: string;
  /**
   * The build's ramroot file, whose name says its codec and who unpacks it: ramroot.tar.gz or ramroot.tar.xz (the
   * initrd downloads and unpacks it), ramroot.cpio.zst (iPXE loads it as a second initrd, the kernel unpacks it).
   * Default: the default codec's (images/ramroot-codec.ts).
   */
  readonly ramrootArtifact?: string;
}

export interface BootServiceProps {
  readonly entries: readonly BootEntry[];
  /** The util node's address: proxy DHCP, TFTP and HTTP all answer there. */
  readonly utilAddress: string;
  /** The network the proxy DHCP answers on, in CIDR notation ("10.25.89.0/24"). */
  readonly subnetCidr: string;
  /** Consul/Nomad servers' addresses, passed on the kernel command line (ely.servers=). */
  readonly serverAddresses: readonly string[];
  /** Port of the util node's HTTP server, as the nodes reach it (the URLs of the iPXE scripts and command lines). Default: 8080. */
  readonly httpPort?: number;
  /**
   * What nginx listens on (its `listen` directive): a port, or address:port. A test serving
   * the util node's files on loopback behind a forwarded port sets "127.0.0.1:<port>".
   * Default: `httpPort` on every address.
   */
  readonly httpListen?: string;
  /**
   * A directory for nginx's run-time files: pid file, temporary files, and the access log
   * (`access.log`, format `ely`). Lets a test run the generated nginx.conf unprivileged.
   * Default: none: pid file /run/ely-http.pid, nginx's built-in temporary directories, the
   * access log to syslog (/dev/log, tag ely_http).
   */
  readonly httpStateDir?: string;
  /** Root of Ely's files on the util node. Default: "/srv/ely". */
  readonly remoteRoot?: string;
  /** Hosts' domain, passed as ely.domain= for /etc/hosts. Default: none. */
  readonly domain?: string;
  /**
   * Port of the util node's secrets server (SecretDelivery), passed as ely.secrets=<util>:<port>:
   * the nodes fetch their secrets from it at every boot. Default: none: the nodes fetch no secrets.
   */
  readonly secretsPort?: number;
  /** Extra kernel arguments. Default: DEFAULT_KERNEL_ARGS (the tty0 and ttyS0 consoles, the serial one last: /dev/console). */
  readonly kernelArgs?: readonly string[];
  /** Interface dnsmasq listens on (and radvd advertises on). Default: all interfaces (radvd: the one holding utilAddress). */
  readonly dhcpInterface?: string;
  /**
   * Whether the util node answers IPv6 router solicitations (radvd, unit ely-radvd.service) with an
   * advertisement that names no router, prefix or DHCPv6. iPXE's autoboot waits for its IPv6
   * configuration as well as DHCP; with no advertisement on the LAN it gives up only after about 16 s,
   * at every netboot. The advertisement ends that wait at once and changes nothing on other hosts
   * (constructs/netboot/router-advertisement.ts). Default: true. false: no radvd (a unit an earlier
   * release installed is stopped and removed), and iPXE waits for the LAN's own IPv6 router, if any.
   */
  readonly routerAdvertisement?: boolean;
  /**
   * The util node's NFS exports (generated from the inventory's util node), published as
   * `exports` and activated with `exportfs -ra`. Default: none (an empty exports file).
   */
  readonly nfsExports?: readonly NfsExportEntry[];
  /** iPXE for BIOS PXE ROMs, on the util node. Default: Debian's ipxe package, "/usr/lib/ipxe/undionly.kpxe". */
  readonly ipxeBiosPath?: string;
  /** iPXE for x86-64 UEFI, on the util node. Default: Debian's ipxe package, "/usr/lib/ipxe/ipxe.efi". */
  readonly ipxeX64EfiPath?: string;
  /**
   * iPXE for arm64 UEFI (the Pi 4 with its UEFI firmware), on the util node. Debian's ipxe
   * package (bookworm) ships x86 binaries only: build it with `make bin-arm64-efi/snp.efi` in
   * iPXE's src/ and place it here. Default: "<remoteRoot>/ipxe/arm64/snp.efi".
   */
  readonly ipxeArm64EfiPath?: string;
  /**
   * The Raspberry Pi 4 UEFI firmware files (RPI_EFI.fd, start4.elf, fixup4.dat, config.txt, ...)
   * on the util node, served over TFTP to a Pi whose EEPROM boots from the network; the UEFI
   * firmware then PXE-boots iPXE for arm64. A Pi that boots UEFI from its SD card needs none.
   * Default: "<remoteRoot>/ipxe/rpi4-uefi".
   */
  readonly rpi4FirmwareDir?: string;
}

/**
 * MAC prefixes of Raspberry Pi boards. A Pi 4's own network boot reports the x86 BIOS
 * architecture; dnsmasq answers it with "Raspberry Pi Boot" (its TFTP firmware) instead of iPXE.
 */
export const RASPBERRY_PI_OUIS = ["b8:27:eb", "dc:a6:32", "e4:5f:01", "d8:3a:dd", "28:cd:c1", "2c:cf:67"];

/** TFTP names of the iPXE binaries, and of the scripts iPXE loads after them. */
export const TFTP_BIOS = "undionly.kpxe";
export const TFTP_X64_EFI = "ipxe.efi";
export const TFTP_ARM64_EFI = "snp.efi";
export const TFTP_CHAIN_SCRIPT = "ely.ipxe";
export const TFTP_UNKNOWN_SCRIPT = "unknown.ipxe";
/** What an nginx `listen` may name (a port, or address:port), and a run-time directory: nothing that could end a directive. */
export const LISTEN_PATTERN = /^((\d{1,3}\.){3}\d{1,3}:|\[[0-9a-fA-F:]+\]:)?\d{1,5}$/;
/** A run-time directory (nginx's, the secrets server's): a node's absolute path (ELY-STR-005). */
export const RUN_DIRECTORY = absolutePath("a run-time directory such as /var/lib/ely/nginx");

/** The problem of a construct's listen address (ELY-NET-006), or none. */
export function listenProblems(component: string, field: string, listen: string, example: string): Problem[] {
  return LISTEN_PATTERN.test(listen) ? [] : [problem("ELY-NET-006", { component, field }, `received ${JSON.stringify(listen)}, expected a port or address:port (${example})`)];
}

/** The problem of a construct's run-time directory (ELY-STR-005), or none. */
export function runDirectoryProblems(component: string, field: string, dir: string | undefined): Problem[] {
  const wrong = dir === undefined ? undefined : shapeProblemOf(RUN_DIRECTORY, dir);
  return wrong ? [problem(wrong.rule, { component, field }, `received ${JSON.stringify(dir)}, ${wrong.message}`)] : [];
}

/** A Linux network interface name as dnsmasq's `interface=` and radvd's `interface` take it. */
export const INTERFACE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/** The message a machine missing from the inventory shows. */
export const NOT_IN_INVENTORY = "is not in the Ely inventory";

/** Facts the renderers need, defaults filled in. */
export interface BootConfig {
  readonly entries: readonly BootEntry[];
  readonly utilAddress: string;
  readonly subnetCidr: string;
  readonly serverAddresses: readonly string[];
  readonly httpPort: number;
  readonly httpListen: string;
  readonly httpStateDir?: string;
  readonly remoteRoot: string;
  readonly domain?: string;
  readonly secretsPort?: number;
  readonly kernelArgs: readonly string[];
  readonly dhcpInterface?: string;
  readonly routerAdvertisement: boolean;
  readonly nfsExports: readonly NfsExportEntry[];
  readonly ipxeBiosPath: string;
  readonly ipxeX64EfiPath: string;
  readonly ipxeArm64EfiPath: string;
  readonly rpi4FirmwareDir: string;
}

export function bootConfigOf(props: BootServiceProps): BootConfig {
  const remoteRoot = (props.remoteRoot ?? DEFAULT_REMOTE_ROOT).replace(/\/+$/, "");
  return {
    entries: [...props.entries].sort((a, b) => a.hostname.localeCompare(b.hostname)),
    utilAddress: props.utilAddress,
    subnetCidr: props.subnetCidr,
    serverAddresses: props.serverAddresses,
    httpPort: props.httpPort ?? DEFAULT_HTTP_PORT,
    httpListen: props.httpListen ?? String(props.httpPort ?? DEFAULT_HTTP_PORT),
    httpStateDir: props.httpStateDir?.replace(/\/+$/, ""),
    remoteRoot,
    domain: props.domain,
    secretsPort: props.secretsPort,
    kernelArgs: props.kernelArgs ?? DEFAULT_KERNEL_ARGS,
    dhcpInterface: props.dhcpInterface,
    routerAdvertisement: props.routerAdvertisement ?? true,
    nfsExports: props.nfsExports ?? [],
    ipxeBiosPath: props.ipxeBiosPath ?? "/usr/lib/ipxe/undionly.kpxe",
    ipxeX64EfiPath: props.ipxeX64EfiPath ?? "/usr/lib/ipxe/ipxe.efi",
    ipxeArm64EfiPath: props.ipxeArm64EfiPath ?? `${remoteRoot}/ipxe/arm64/snp.efi`,
    rpi4FirmwareDir: props.rpi4FirmwareDir ?? `${remoteRoot}/ipxe/rpi4-uefi`,
  };
}

function httpBase(config: BootConfig): string {
  return `http://${config.utilAddress}:${config.httpPort}`;
}

/**
 * dnsmasq as proxy DHCP (the router keeps its DHCP) and TFTP: a PXE ROM gets the iPXE binary
 * for its firmware; iPXE, asking again, gets the chain script if its MAC is in the inventory
 * and the "not in inventory" script otherwise. No DNS (port=0).
 */
export function renderDnsmasqConf(config: BootConfig): string {
  const [network, mask] = networkAndMask(config.subnetCidr);
  const lines = [
    "# Ely boot service: proxy DHCP and TFTP. Generated from the inventory; do not edit.",
    "port=0",
    "log-dhcp",
    ...(config.dhcpInterface ? [`interface=${config.dhcpInterface}`, "bind-interfaces"] : []),
    `dhcp-range=${network},proxy,${mask}`,
    "enable-tftp",
    `tftp-root=${config.remoteRoot}/${REMOTE_BOOT_CURRENT_LINK}/tftp`,
    "",
    "# iPXE identifies itself with user class iPXE (option 77).",
    "dhcp-userclass=set:ipxe,iPXE",
    "# The inventory's netbooted machines.",
    ...config.entries.flatMap((e) => [`# ${e.hostname} (${e.role}, ${e.arch})`, `dhcp-mac=set:ely-known,${e.mac.toLowerCase()}`]),
    "",
    "# Raspberry Pi bootloaders report x86PC: they get their own TFTP boot (the Pi 4 UEFI firmware).",
    ...RASPBERRY_PI_OUIS.map((oui) => `dhcp-mac=set:rpi,${oui}:*:*:*`),
    'pxe-service=tag:rpi,tag:!ipxe,x86PC,"Raspberry Pi Boot"',
    "",
    "# Firmware PXE: load iPXE for the client's architecture (option 93).",
    `pxe-service=tag:!ipxe,tag:!rpi,x86PC,"Ely: iPXE for BIOS",${TFTP_BIOS}`,
    `pxe-service=tag:!ipxe,X86-64_EFI,"Ely: iPXE for x86-64 UEFI",${TFTP_X64_EFI}`,
    `pxe-service=tag:!ipxe,BC_EFI,"Ely: iPXE for x86-64 UEFI",${TFTP_X64_EFI}`,
    `pxe-service=tag:!ipxe,ARM64_EFI,"Ely: iPXE for arm64 UEFI",${TFTP_ARM64_EFI}`,
    "",
    "# iPXE: known machines chain to their own script over HTTP, others learn they are unknown.",
    ...["x86PC", "X86-64_EFI", "BC_EFI", "ARM64_EFI"].flatMap((csa) => [
      `pxe-service=tag:ipxe,tag:ely-known,${csa},"Ely: boot",${TFTP_CHAIN_SCRIPT}`,
      `pxe-service=tag:ipxe,tag:!ely-known,${csa},"Ely: unknown machine",${TFTP_UNKNOWN_SCRIPT}`,
    ]),
    "",
  ];
  return lines.join("\n");
}

/** The TFTP script every known iPXE client runs: fetch this MAC's script from the util node. */
export function renderChainScript(config: BootConfig): string {
  const base = httpBase(config);
  return [
    "#!ipxe",
    "# Ely: chain to this machine's boot script on the util node. Generated; do not edit.",
    `echo Ely: ${"${mac}"} fetching ${base}/ipxe/${"${mac:hexhyp}"}.ipxe`,
    `chain --autofree ${base}/ipxe/${"${mac:hexhyp}"}.ipxe || goto failed`,
    ":failed",
    "echo",
    `echo Ely: no boot script for ${"${mac}"} from ${base} (the util node's HTTP server is down, or this MAC has no script).`,
    "echo Ely: retrying in 30 s.",
    "sleep 30",
    "reboot",
    "",
  ].join("\n");
}

/** The script of a machine missing from the inventory (TFTP, and the HTTP server's fallback). */
export function renderUnknownScript(config: BootConfig): string {
  return [
    "#!ipxe",
    "# Ely: a machine that is not in the inventory. Generated; do not edit.",
    "echo",
    `echo Ely: this machine (MAC ${"${mac}"}) ${NOT_IN_INVENTORY}: it has no image to boot.`,
    `echo Ely: to netboot it, add a node with mac: ${"${mac}"} (and boot: netboot) to the inventory and apply the plan.`,
    `echo Ely: util node ${config.utilAddress}. Booting from the next device in 60 s.`,
    "sleep 60",
    "exit",
    "",
  ].join("\n");
}

/** The entry's ramroot artifact, and whether the kernel unpacks it (iPXE loads it as a second initrd). */
function ramrootOf(entry: BootEntry): { artifact: string; byKernel: boolean } {
  const artifact = entry.ramrootArtifact ?? DEFAULT_RAMROOT_ARTIFACT;
  const codec = ramrootCodecOfArtifact(artifact);
  return { artifact, byKernel: codec !== undefined && ramrootUnpackedByKernel(codec) };
}

/** The kernel command line of one node (read by the initrd and by the image's units). */
export function kernelCommandLine(config: BootConfig, entry: BootEntry): string {
  const base = httpBase(config);
  const ramroot = ramrootOf(entry);
  return [
    // The initrds an EFI stub kernel loads from iPXE, in order (a BIOS boot gets every initrd iPXE loaded).
    "initrd=initrd",
    ...(ramroot.byKernel ? [`initrd=${KERNEL_RAMROOT_INITRD_NAME}`] : []),
    `ramroot=${base}${imageUrlPath(entry.imageKey, entry.buildId, ramroot.artifact)}`,
    `hostname=${entry.hostname}`,
    ...(config.domain ? [`ely.domain=${config.domain}`] : []),
    `ely.role=${entry.role}`,
    `ely.image=${entry.imageKey}/${entry.buildId}`,
    `ely.util=${config.utilAddress}:${config.httpPort}`,
    `ely.servers=${config.serverAddresses.join(",")}`,
    ...(config.secretsPort ? [`ely.secrets=${config.utilAddress}:${config.secretsPort}`] : []),
    `BOOTIF=01-${macHyphen(entry.mac)}`,
    ...config.kernelArgs,
  ].join(" ");
}

/** One node's iPXE script: its kernel, initrd (and the ramroot as a second initrd, when the kernel unpacks it) and command line. */
export function renderNodeScript(config: BootConfig, entry: BootEntry): string {
  const base = httpBase(config);
  const ramroot = ramrootOf(entry);
  return [
    "#!ipxe",
    `# Ely: ${entry.hostname} (${entry.role}, ${entry.arch}) boots ${entry.imageKey} build ${entry.buildId} (channel ${entry.channel}). Generated; do not edit.`,
    `echo Ely: booting ${entry.hostname}: ${entry.imageKey} build ${entry.buildId} (channel ${entry.channel})`,
    `kernel ${base}${imageUrlPath(entry.imageKey, entry.buildId, "vmlinuz")} ${kernelCommandLine(config, entry)} || goto failed`,
    `initrd --name initrd ${base}${imageUrlPath(entry.imageKey, entry.buildId, "initrd")} || goto failed`,
    ...(ramroot.byKernel ? [`initrd --name ${KERNEL_RAMROOT_INITRD_NAME} ${base}${imageUrlPath(entry.imageKey, entry.buildId, ramroot.artifact)} || goto failed`] : []),
    "boot || goto failed",
    ":failed",
    `echo Ely: ${entry.hostname} could not load ${entry.imageKey} build ${entry.buildId} from ${base}: is it published? Retrying in 30 s.`,
    "sleep 30",
    "reboot",
    "",
  ].join("\n");
}

/** The syslog tag of the HTTP server's access log (nginx allows letters, digits and _ only). */
export const HTTP_SYSLOG_TAG = "ely_http";
/** The access log's format: request end time (s, ms precision), duration (s), status, body bytes, URI. */
export const HTTP_LOG_FORMAT = "ely";
export const HTTP_ACCESS_LOG_FILE = "access.log";

/** nginx serving images, iPXE scripts (unknown MACs get the "not in inventory" script) and agent configs. */
export function renderNginxConf(config: BootConfig): string {
  const current = `${config.remoteRoot}/${REMOTE_BOOT_CURRENT_LINK}`;
  const state = config.httpStateDir;
  const temp = state
    ? ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) => `  ${kind}_temp_path ${state}/${kind}_temp;\n`).join("")
    : "";
  const accessLog = state ? `${state}/${HTTP_ACCESS_LOG_FILE}` : `syslog:server=unix:/dev/log,tag=${HTTP_SYSLOG_TAG}`;
  return `# Ely: the util node's HTTP server (images, iPXE scripts, agent configuration). Generated; do not edit.
# Run as: nginx -c ${current}/nginx.conf
worker_processes 1;
pid ${state ? `${state}/nginx.pid` : "/run/ely-http.pid"};
error_log stderr warn;
events { worker_connections 256; }
http {
  types {
    application/octet-stream vmlinuz initrd xz zst;
    application/json json;
    text/plain ipxe;
  }
  default_type application/octet-stream;
  log_format ${HTTP_LOG_FORMAT} '$msec $request_time $status $body_bytes_sent $request_method $request_uri';
  access_log ${accessLog} ${HTTP_LOG_FORMAT};
${temp}  sendfile on;
  server {
    listen ${config.httpListen};
    location /images/ {
      root ${config.remoteRoot};
      autoindex on;
    }
    location /ipxe/ {
      root ${current};
      try_files $uri /ipxe/${TFTP_UNKNOWN_SCRIPT};
    }
    location /config/ {
      root ${current};
    }
    location / {
      return 404;
    }
  }
}
`;
}

/** A util node unit running nginx in the foreground with one configuration file. */
export function nginxUnit(description: string, conf: string): string {
  return `[Unit]
Description=${description}
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/sbin/nginx -c ${conf} -g "daemon off;"
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure

[Install]
WantedBy=multi-user.target
`;
}

/** Unit files for the util node. */
export function renderUtilUnits(config: BootConfig): Record<string, string> {
  const current = `${config.remoteRoot}/${REMOTE_BOOT_CURRENT_LINK}`;
  return {
    "ely-dnsmasq.service": `[Unit]
Description=Ely boot service: proxy DHCP and TFTP
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --conf-file=${current}/dnsmasq.conf
Restart=on-failure

[Install]
WantedBy=multi-user.target
`,
    "ely-http.service": nginxUnit("Ely boot service: HTTP (images, iPXE scripts, agent configuration)", `${current}/nginx.conf`),
    ...(config.routerAdvertisement ? { [RADVD_UNIT]: radvdUnit(current) } : {}),
  };
}

/** A build id as a sed/grep basic regular expression and as a shell case pattern: BUILD_ID_LENGTH hex digits. */
const BUILD_ID_BRE = `[0-9a-f]\\{${BUILD_ID_LENGTH}\\}`;
const BUILD_ID_GLOB = "[0-9a-f]".repeat(BUILD_ID_LENGTH);
/** The prefix every iPXE script names a build's artifacts by (layout.ts's imageUrlPath), as a grep pattern. */
const BOOTED_BUILD_BRE = imageUrlPath("IMAGE", "BUILD", "").replace("IMAGE", "[^/ ]*").replace("BUILD", BUILD_ID_BRE);

/**
 * activate.sh's last lines: every image build (images/<image>/<build id>) that none of the kept releases' iPXE
 * scripts boots, and that no link of its image names (latest, revision-<name>: what the plan published last for
 * each revision), is removed, so the util node's disk holds what a node can boot now or after going back a few
 * releases, not every build ever published (a full client image is about 230 MiB). Partial copies (hidden
 * names) are another publish's and stay.
 */
export const PRUNE_BUILDS_SH = `# Keep the image builds that the kept releases boot, and those the images' links name; remove the others.
booted=" $(cat "$root"/boot/releases/*/ipxe/* 2>/dev/null | grep -o '${BOOTED_BUILD_BRE}' | sort -u | tr '\\n' ' ')"
linked=" $(for link in "$root"/${REMOTE_IMAGES_DIR}/*/*; do [ -L "$link" ] && echo "$(basename "$(dirname "$link")")/$(readlink "$link")"; done | tr '\\n' ' ')"
for build in "$root"/${REMOTE_IMAGES_DIR}/*/${BUILD_ID_GLOB}/; do
  build="\${build%/}"; id="\${build##*/}"; image="$(basename "$(dirname "$build")")"
  [ -d "$build" ] && [ ! -L "$build" ] || continue # no build of that shape (the pattern itself), or a link
  case "$booted$linked" in *" ${imageUrlPath("$image", "$id", "")} "*|*" $image/$id "*) continue ;; esac
  rm -rf "$build"
  echo "ely-boot: removed image build $image/$id: none of the kept releases boots it and no link names it"
done
`;

/**
 * Run on the util node by the publish step, with the release already in place:
 * copies the iPXE binaries into its TFTP root, switches boot/current in one rename,
 * installs and (re)starts the boot services (radvd's only when the advertisement is on, warning when
 * radvd is missing), keeps the five newest releases and the image builds they boot (PRUNE_BUILDS_SH).
 */
export function renderActivateScript(config: BootConfig): string {
  const binaries: Array<[string, string, string]> = [
    [TFTP_BIOS, config.ipxeBiosPath, "BIOS"],
    [TFTP_X64_EFI, config.ipxeX64EfiPath, "x86-64 UEFI"],
    [TFTP_ARM64_EFI, config.ipxeArm64EfiPath, "arm64 UEFI"],
  ];
  const nfsDirs = config.nfsExports.flatMap((e) => [e.path, ...(e.directories ?? [])]);
  return `#!/bin/sh
# Ely: activate a boot release on the util node. Generated; do not edit.
# Usage: sh activate.sh <root> <release>
set -eu
root="$1"; release="$2"
dir="$root/boot/releases/$release"
[ -d "$dir" ] || { echo "ely-boot: $dir does not exist" >&2; exit 1; }
mkdir -p "$dir/tftp"
${binaries
  .map(
    ([name, source, firmware]) => `if [ -f '${source}' ]; then cp '${source}' "$dir/tftp/${name}"; else echo "ely-boot: WARNING: ${source} is missing: ${firmware} machines cannot netboot (see BootServiceProps)" >&2; fi`,
  )
  .join("\n")}
if [ -d '${config.rpi4FirmwareDir}' ]; then cp -r '${config.rpi4FirmwareDir}'/. "$dir/tftp/"; fi
ln -sfn "releases/$release" "$root/boot/.current.tmp"
mv -T "$root/boot/.current.tmp" "$root/boot/current"
echo "ely-boot: release $release is current"
if [ "\${ELY_PUBLISH_SERVICES:-1}" = 1 ] && [ -d /run/systemd/system ]; then
  install -m 0644 "$dir"/systemd/*.service /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable --quiet ely-dnsmasq.service ely-http.service
  systemctl restart ely-dnsmasq.service
  systemctl reload-or-restart ely-http.service
${radvdActivation(config.routerAdvertisement)}
fi
# NFS: the exported directories (and the host volumes' directories in them), the exports, exportfs.
if [ "\${ELY_PUBLISH_SERVICES:-1}" = 1 ]; then
${nfsDirs.length ? `  mkdir -p ${nfsDirs.map((d) => `'${d}'`).join(" ")}
` : ""}  mkdir -p /etc/exports.d
  install -m 0644 "$dir/exports" ${EXPORTS_INSTALL_PATH}
  if command -v exportfs >/dev/null 2>&1; then
    exportfs -ra
${config.nfsExports.length ? `  else
    echo "ely-boot: WARNING: exportfs is missing: the NFS exports are not active (apt-get install nfs-kernel-server)" >&2
` : ""}  fi
fi
# Keep the five newest releases (and the current one).
ls -1dt "$root"/boot/releases/*/ 2>/dev/null | tail -n +6 | while read -r old; do
  [ "$(basename "$old")" = "$release" ] || rm -rf "$old"
done
${PRUNE_BUILDS_SH}`;
}

/** Every file of the boot configuration directory, by relative path. */
export function renderBootFiles(config: BootConfig): Map<string, string> {
  const files = new Map<string, string>();
  files.set("dnsmasq.conf", renderDnsmasqConf(config));
  files.set("nginx.conf", renderNginxConf(config));
  files.set("exports", renderExports(config.nfsExports));
  files.set("activate.sh", renderActivateScript(config));
  if (config.routerAdvertisement) files.set(RADVD_CONFIG_SCRIPT, renderRadvdConfigScript(config));
  files.set(`tftp/${TFTP_CHAIN_SCRIPT}`, renderChainScript(config));
  files.set(`tftp/${TFTP_UNKNOWN_SCRIPT}`, renderUnknownScript(config));
  files.set(`ipxe/${TFTP_UNKNOWN_SCRIPT}`, renderUnknownScript(config));
  for (const entry of config.entries) files.set(`ipxe/${macHyphen(entry.mac)}.ipxe`, renderNodeScript(config, entry));
  for (const [name, text] of Object.entries(renderUtilUnits(config))) files.set(`systemd/${name}`, text);
  files.set(
    "nodes.json",
    JSON.stringify(
      config.entries.map((e) => ({ ...e, mac: e.mac.toLowerCase(), script: `ipxe/${macHyphen(e.mac)}.ipxe`, config: agentConfigUrlPath(e.hostname, "") })),
      null,
      2,
    ) + "\n",
  );
  return new Map([...files].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The util node's boot service, generated from the inventory: dnsmasq (proxy DHCP, TFTP),
 * nginx, one iPXE script per netbooted MAC and the "not in inventory" fallback, as one
 * asset directory (cdktf.out/stacks/<stack>/assets/...) that the boot publish step copies to
 * the util node. The asset hash is the content hash.
 */
export class BootService extends Construct {
  readonly config: BootConfig;
  /** Relative path -> content. */
  readonly files: ReadonlyMap<string, string>;
  readonly contentHash: string;
  readonly asset: GeneratedDirectory;

  constructor(scope: Construct, id: string, props: BootServiceProps) {
    super(scope, id);
    this.config = bootConfigOf(props);
    this.files = renderBootFiles(this.config);
    this.contentHash = contentHashOf(this.files);
    this.asset = new GeneratedDirectory(this, "files", { files: this.files, assetHash: this.contentHash.slice(0, 32) });
    addChecks(this, () => this.validateEntries());
  }

  /** Where Terraform finds the directory, relative to the stack's directory. */
  get path(): string {
    return this.asset.path;
  }

  private validateEntries(): Problem[] {
    const component = "boot service";
    const errors: Problem[] = [];
    // MACs (format, uniqueness) are the inventory's rules (nodes/validate.ts), reported once there.
    for (const e of this.config.entries) {
      if (!BUILD_ID_PATTERN.test(e.buildId)) errors.push(problem("ELY-NET-003", { component, node: e.hostname, field: "buildId" }, `received "${e.buildId}", expected 16 hex digits`));
      if (e.ramrootArtifact !== undefined && !RAMROOT_ARTIFACTS.includes(e.ramrootArtifact)) {
        errors.push(problem("ELY-NET-004", { component, node: e.hostname, field: "ramrootArtifact" }, `received "${e.ramrootArtifact}", expected one of ${RAMROOT_ARTIFACTS.join(", ")}`));
      }
    }
    errors.push(...exportEntryProblems(this.config.nfsExports));
    // Written into nginx.conf as they are: nothing that could end a directive or start another.
    errors.push(...listenProblems(component, "httpListen", this.config.httpListen, "8080, 127.0.0.1:18080"));
    errors.push(...runDirectoryProblems(component, "httpStateDir", this.config.httpStateDir));
    // Written into dnsmasq.conf and radvd's configuration script as it is.
    const iface = this.config.dhcpInterface;
    if (iface !== undefined && !INTERFACE_NAME_PATTERN.test(iface)) {
      errors.push(problem("ELY-NET-007", { component, field: "dhcpInterface" }, `received ${JSON.stringify(iface)}, expected a network interface name: 1-15 letters, digits, "_", "." or "-", starting with a letter or digit (eth0, enp1s0, br0)`));
    }
    return errors;
  }
}
