/**
 * An image's extra packages (`--extra-packages`, NodeImage's extraPackages), installed by apt on the
 * cached base (images/base-rootfs.ts) through the build's overlay: a change of extra packages reruns apt
 * for them, not mmdebstrap for the whole set.
 *
 * apt runs chrooted in the root filesystem, in its own mount and pid namespaces (unshare), with what a
 * package's maintainer scripts expect: /proc, a /dev holding null, zero, full, random, urandom and tty
 * (the host's, bind-mounted on a tmpfs), empty /tmp and /run, the host's resolv.conf, and a policy-rc.d
 * that starts no service. Recommends are not installed (as mmdebstrap does); the base's dpkg filters
 * (no documentation, no translations) stay in force, since mmdebstrap wrote them into the base's dpkg
 * configuration. apt installs from the base's package lists; when they are stale (the mirror dropped a
 * version) it updates them and tries again. What apt leaves (lists, caches, logs) goes in the strip step.
 */
import * as path from "path";
import { runLogged } from "./base-rootfs";

/** The shell script unshare runs: $1 the root filesystem, $2 the apt cache ("" for none), then the packages. */
export const APT_LAYER_SCRIPT = `set -eu
R=$1; CACHE=$2; shift 2
created=""
cleanup() {
  umount "$R/etc/resolv.conf" 2>/dev/null || true
  for f in $created; do rm -f "$R$f"; done
}
trap cleanup EXIT
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=0755 tmpfs "$R/dev"
for d in null zero full random urandom tty; do : > "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
ln -s /proc/self/fd "$R/dev/fd"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
if [ ! -e "$R/etc/resolv.conf" ] && [ ! -L "$R/etc/resolv.conf" ]; then : > "$R/etc/resolv.conf"; created="$created /etc/resolv.conf"; fi
if [ -f /etc/resolv.conf ] && [ ! -L "$R/etc/resolv.conf" ]; then mount --bind /etc/resolv.conf "$R/etc/resolv.conf"; fi
if [ ! -e "$R/usr/sbin/policy-rc.d" ]; then printf '#!/bin/sh\\nexit 101\\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"; created="$created /usr/sbin/policy-rc.d"; fi
if [ -n "$CACHE" ]; then mkdir -p "$CACHE/partial"; mount --bind "$CACHE" "$R/var/cache/apt/archives"; fi
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin
set -- -y -q --no-install-recommends -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 install "$@"
if ! chroot "$R" apt-get "$@"; then
  echo "ely: apt-get install failed on the base's package lists; updating them and trying again"
  chroot "$R" apt-get -q -o APT::Sandbox::User=root update
  chroot "$R" apt-get "$@"
fi
`;

export interface AptLayerOptions {
  /** The build's root filesystem (the overlay's merged directory). */
  readonly rootfs: string;
  readonly packages: readonly string[];
  /** Downloaded .deb files kept here between builds. Default: none. */
  readonly aptCacheDir?: string;
  /** apt's output goes here. */
  readonly logFile: string;
}

/** Installs the packages; throws naming them when apt fails (its output is in the log). */
export async function installExtraPackages(options: AptLayerOptions): Promise<void> {
  const bad = options.packages.filter((p) => !/^[a-z0-9][a-z0-9+.-]+$/.test(p));
  if (bad.length) throw new Error(`extra packages: received ${bad.map((p) => JSON.stringify(p)).join(", ")}, expected Debian package names (a-z, 0-9, +, -, .)`);
  const cache = options.aptCacheDir ? path.resolve(options.aptCacheDir) : "";
  try {
    await runLogged(
      "unshare",
      ["--mount", "--pid", "--fork", "--kill-child", "--", "sh", "-c", APT_LAYER_SCRIPT, "apt-layer", options.rootfs, cache, ...options.packages],
      options.logFile,
    );
  } catch (e) {
    throw new Error(`installing ${options.packages.join(", ")} with apt: ${(e as Error).message}`);
  }
}
