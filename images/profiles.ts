/**
 * What goes into an image, per profile, role and architecture: Debian packages, the
 * kernel modules the initrd needs to reach the network, and what is stripped from the
 * ramroot. Everything here is an input of the image's hash (recipe.ts).
 */
import { ImageArch, ImageProfile, ImageRole } from "./layout";
import { DEFAULT_RAMROOT_COMPRESSION, RamrootCompression } from "./ramroot-codec";

export const DEBIAN_SUITE = "bookworm";

export interface ImageProfileSpec {
  /** One line for logs and /etc/ely-release. */
  readonly description: string;
  /** Debian archive components. */
  readonly components: readonly string[];
  /** Install the Consul and Nomad binaries and enable their units. */
  readonly includeAgents: boolean;
  /** Keep in the ramroot only the kernel modules the initrd loads (the test image needs no others). */
  readonly keepOnlyInitrdModules: boolean;
  /** Whether the ramroot's kernel modules are zstd-compressed (`.ko.zst`, images/kernel-modules.ts): less for the kernel to unpack, less RAM. */
  readonly compressModules: boolean;
  /** The ramroot's codec and level (images/ramroot-codec.ts; an image spec may choose another). */
  readonly ramroot: RamrootCompression;
}

export const PROFILES: Readonly<Record<ImageProfile, ImageProfileSpec>> = {
  full: {
    description: "node image: systemd, networking, ssh, NFS, docker, Consul and Nomad",
    components: ["main", "non-free-firmware"],
    includeAgents: true,
    keepOnlyInitrdModules: false,
    compressModules: true,
    ramroot: DEFAULT_RAMROOT_COMPRESSION,
  },
  test: {
    description: "boot test image: the full image's boot path with a minimal package set and no agents",
    components: ["main"],
    includeAgents: false,
    keepOnlyInitrdModules: true,
    compressModules: true,
    ramroot: DEFAULT_RAMROOT_COMPRESSION,
  },
};

/** Debian's kernel flavour per architecture (the Pi 4 boots Debian's generic arm64 kernel). */
export const KERNEL_PACKAGES: Readonly<Record<ImageArch, string>> = {
  amd64: "linux-image-amd64",
  arm64: "linux-image-arm64",
};

/**
 * The boot path every image shares. busybox-static supplies the initrd's busybox for the
 * image's own architecture; curl fetches the agent configuration at boot; e2fsprogs formats the
 * scratch disk at every boot (images/rootfs-files.ts). (usr-is-merged, not usrmerge and perl:
 * MERGED_USR_HOOK_DIR in base-rootfs.ts.)
 */
const BOOT_PACKAGES = ["systemd", "systemd-sysv", "udev", "kmod", "iproute2", "netbase", "ca-certificates", "curl", "busybox-static", "e2fsprogs"];

/**
 * A node's base system (the seed's make_node list, less what systemd now covers). Not xfsprogs:
 * the seed formatted GlusterFS bricks with it; Ely's scratch disks are ext4, and xfsprogs costs
 * every node 37 MiB of RAM (libicu72, for xfs_scrub). A node that needs it lists it in its image's
 * extra packages (the inventory's images.revisions[].extraPackages).
 */
const NODE_PACKAGES = [
  "dbus",
  "systemd-timesyncd",
  "openssh-server",
  "nfs-common",
  "iputils-ping",
  "jq",
  "less",
  "rsync",
  "parted",
  "procps",
];

const ROLE_PACKAGES: Readonly<Record<ImageRole, readonly string[]>> = {
  // Nomad clients run the jobs in docker. Debian's kernel has AppArmor on: docker loads its docker-default profile
  // for every container with apparmor_parser, and without it refuses to start any (a Recommends mmdebstrap skips).
  client: ["apparmor", "docker.io"],
  server: [],
  util: [],
};

/** Firmware of the network chips on record (ODROID H2: Realtek RTL8111G). */
const FIRMWARE_PACKAGES: Readonly<Record<ImageArch, readonly string[]>> = {
  amd64: ["firmware-realtek"],
  arm64: [],
};

/** The Debian packages of one image, sorted and without duplicates. */
export function packagesOf(profile: ImageProfile, role: ImageRole, arch: ImageArch): string[] {
  const list = [...BOOT_PACKAGES, KERNEL_PACKAGES[arch]];
  if (profile === "full") list.push(...NODE_PACKAGES, ...ROLE_PACKAGES[role], ...FIRMWARE_PACKAGES[arch]);
  return [...new Set(list)].sort();
}

/**
 * Network drivers the initrd loads (with their dependencies), so that it can download the
 * ramroot: QEMU's virtio-net and e1000, the ODROID H2's Realtek, common Intel NICs, and the
 * Pi 4's GENET. PHY drivers are only soft dependencies of the MAC drivers: listed by name.
 * A name the kernel has built in is skipped; one it has neither built in nor as a module
 * fails the build.
 */
export const INITRD_MODULES: Readonly<Record<ImageArch, readonly string[]>> = {
  amd64: ["virtio_pci", "virtio_net", "e1000", "e1000e", "igb", "igc", "r8169", "realtek"],
  arm64: ["virtio_pci", "virtio_net", "e1000", "genet", "broadcom", "r8169", "realtek"],
};

/**
 * What the scratch disk needs (virtio and NVMe disks, ext4, and the crc32c that ext4's metadata
 * checksums load through the crypto API, not modules.dep: without it mount fails "Cannot load
 * crc32c driver"): kept in an image that keeps only the initrd's modules (the test profile), so
 * the netboot test can format a virtual disk.
 */
export const STORAGE_MODULES = ["virtio_blk", "nvme", "ext4", "crc32c_generic"];

/**
 * What an NFS mount of the util node's export needs from the kernel (NFSv4 client; modules.dep adds
 * nfs, sunrpc and the rest): kept in an image that keeps only the initrd's modules, so the netboot
 * test's node mounts the export. The mount needs no helper: the generated unit passes addr= itself.
 */
export const NFS_CLIENT_MODULES = ["nfsv4"];

/** Module directories (under /lib/modules/<version>/kernel) no node uses: wireless, sound, graphics, media. */
export const PRUNED_MODULE_DIRS = [
  "drivers/net/wireless",
  "net/wireless",
  "net/mac80211",
  "net/bluetooth",
  "drivers/bluetooth",
  "drivers/media",
  "drivers/gpu",
  "drivers/staging",
  "drivers/infiniband",
  "drivers/isdn",
  "sound",
];

/** Paths (relative to the root) removed from every ramroot: caches, docs, build leftovers. */
export const STRIPPED_PATHS = [
  "boot",
  "var/cache/apt",
  "var/cache/debconf/templates.dat-old",
  "var/lib/apt/lists",
  "usr/share/doc",
  "usr/share/man",
  "usr/share/info",
  "var/log/apt",
  "var/log/dpkg.log",
  "var/log/alternatives.log",
  "var/log/bootstrap.log",
  // docker.io's libnetwork test programs (16 and 11 MiB), which nothing on a node runs; and containerd's shim for
  // the io.containerd.runc.v1 runtime (11 MiB): docker runs its containers with runc.v2's.
  "usr/bin/dnet",
  "usr/sbin/ovrouter",
  "usr/bin/containerd-shim-runc-v1",
  // containerd's own client (22 MiB): nodes run containers through docker, whose CLI stays for the operator.
  "usr/bin/ctr",
  // firmware-realtek's wireless and bluetooth firmware (6 MiB), whose drivers PRUNED_MODULE_DIRS removes: the
  // Ethernet chips' (rtl_nic, the ODROID H2's RTL8111G among them) stay.
  "usr/lib/firmware/rtlwifi",
  "usr/lib/firmware/rtw88",
  "usr/lib/firmware/rtw89",
  "usr/lib/firmware/rtl_bt",
  "usr/lib/firmware/RTL8192E",
];

/**
 * Directories emptied in every ramroot, the directory itself kept. /dev: the initrd moves its devtmpfs
 * onto it before switching root, so device nodes there are never seen; a root build's mmdebstrap
 * makes them (mknod) and an unprivileged one cannot (it bind-mounts the host's while it runs), so
 * emptying it makes both builds' archives the same.
 */
export const EMPTIED_DIRS = ["dev"];

/**
 * Per-machine identity that a build must not bake in: every node would share it, and the
 * image is served over plain HTTP. Removed (machine-id is emptied: systemd makes one at boot).
 */
export const IDENTITY_PATHS = ["etc/ssh/ssh_host_*", "var/lib/dbus/machine-id", "var/lib/systemd/random-seed", "etc/hostname"];

/**
 * dpkg filters: no documentation or translations in the root filesystem, and no
 * initramfs-tools kernel hook (it would build an initrd Ely does not use, on every build).
 */
export const DPKG_EXCLUDES = [
  "/usr/share/doc/*",
  "/usr/share/man/*",
  "/usr/share/info/*",
  "/usr/share/locale/*",
  "/etc/kernel/postinst.d/initramfs-tools",
];
export const DPKG_INCLUDES = ["/usr/share/locale/locale.alias", "/usr/share/doc/*/copyright"];
