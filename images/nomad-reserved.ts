/**
 * What a netbooted node's Nomad reserves for the system. Nomad offers its jobs the machine's whole memory
 * (MemTotal) unless its configuration reserves some; on a netbooted node the root file system is RAM (the
 * ramroot: about 650 MiB for the full image) and docker, containerd, Consul and systemd run beside Nomad, so
 * jobs placed up to the total would find less than Nomad promised them. Before Nomad's first start in a boot, this
 * script reserves what jobs cannot have at that moment (MemTotal - MemAvailable: the root, the kernel, what runs) in
 * a file of Nomad's configuration directory (JSON as Nomad parses it: the reserved block is a list). Nomad reads the directory's files in name order, later ones
 * winning: the node's own configuration (nomad.json, with an inventory's agentOverrides) comes after it, so
 * a `client.reserved.memory` set there wins.
 */
import { NOMAD_CONFIG_DIR } from "../nodes/agent-paths";

/** The file the script writes in Nomad's configuration directory. */
export const NOMAD_RESERVED_FILE = "ely-reserved.json";
/** Its line on the console and in the journal. */
export const NOMAD_RESERVED_TAG = "ely-nomad-reserved";

/** ELY_MEMINFO and ELY_NOMAD_CONFIG_DIR (a meminfo file, a directory) let a test run it on a host. */
export function nomadReservedScript(): string {
  return `#!/bin/sh
# Ely: reserve for the system what Nomad's jobs cannot have on this node (images/nomad-reserved.ts). Never fails.
set -u
meminfo="\${ELY_MEMINFO:-/proc/meminfo}"
dir="\${ELY_NOMAD_CONFIG_DIR:-${NOMAD_CONFIG_DIR}}"
# Once per boot (the root is RAM: the file goes with a reboot). A later start of Nomad in the same boot (a crash
# restart) finds jobs running, whose memory is theirs, not the system's: it keeps the first start's reservation.
if [ -s "$dir/${NOMAD_RESERVED_FILE}" ]; then
  echo "${NOMAD_RESERVED_TAG}: keeps this boot's reservation ($(cat "$dir/${NOMAD_RESERVED_FILE}")): jobs may run now, and their memory is not the system's"
  exit 0
fi
kib() { awk -v k="$1:" '$1 == k { print $2 }' "$meminfo" 2>/dev/null; }
total=$(kib MemTotal); available=$(kib MemAvailable)
case "\${total:-x}\${available:-x}" in
  *[!0-9]*)
    echo "${NOMAD_RESERVED_TAG}: no MemTotal and MemAvailable in $meminfo (received \\"\${total:-}\\" and \\"\${available:-}\\"): Nomad reserves nothing and offers jobs the whole memory" >&2
    exit 0 ;;
esac
reserved=$(( (total - available + 1023) / 1024 ))
mkdir -p "$dir"
printf '{"client":{"reserved":[{"memory":%d}]}}\\n' "$reserved" > "$dir/${NOMAD_RESERVED_FILE}.part" && mv "$dir/${NOMAD_RESERVED_FILE}.part" "$dir/${NOMAD_RESERVED_FILE}"
echo "${NOMAD_RESERVED_TAG}: memory: total $(( total / 1024 )) MiB, reserved $reserved MiB for the system (root file system and what runs beside Nomad), $(( total / 1024 - reserved )) MiB for jobs"
exit 0
`;
}

/** A drop-in for nomad.service: the script runs before each start (and keeps the boot's first value). */
export const nomadReservedDropIn = (scriptPath: string) => `[Service]
ExecStartPre=${scriptPath}
`;
