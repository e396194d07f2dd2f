/**
 * How the ramroot is packed and who unpacks it: the codec names the artifact, the image build
 * packs with it, and the initrd picks its way from the artifact's name on the kernel command line.
 * Two ramroot modes:
 *
 *   streamed by the initrd (gzip, xz)   ramroot.tar.gz, ramroot.tar.xz: a tar the initrd downloads
 *                                        and unpacks into a tmpfs with its own busybox (`wget | gunzip |
 *                                        tar -x`, `xz -d`): the initrd carries no extra decoder
 *   unpacked by the kernel (zstd)       ramroot.cpio.zst: newc cpio archives of the tree under
 *                                        newroot/, zstd-compressed, that iPXE loads as a second initrd;
 *                                        the kernel unpacks them into its rootfs before the initrd's
 *                                        /init runs (CONFIG_RD_ZSTD): no download or decoding in userspace
 *
 * The default is zstd -3, unpacked by the kernel (BENCHMARKS.md, "The kernel unpacks the ramroot"): in the
 * netboot test a worker reaches systemd in about half the time of the gzip ramroot, since the kernel
 * unpacks the tree in a third of busybox's time and iPXE's download is not held back by a decoder; it also
 * packs in a third of pigz's time. Of the modes streamed by the initrd, gzip -6 decodes twice as fast as xz
 * ("ramroot codec on the full profile"), and xz gives the smallest file (a slow link, or a util node short
 * of disk). Where a kernel lacks CONFIG_RD_ZSTD, or firmware cannot load a second initrd, an image can
 * still be built with gzip (Netboot's imageRamroot, NodeImage's ramroot, build.js --ramroot-codec gzip).
 */
import * as os from "os";

export const RAMROOT_CODECS = ["gzip", "xz", "zstd"] as const;
export type RamrootCodecName = (typeof RAMROOT_CODECS)[number];

export interface RamrootCompression {
  readonly codec: RamrootCodecName;
  /** The codec's level: gzip 1-9, xz 0-9 (xz presets; "9e" for --extreme), zstd 1-19. */
  readonly level: string;
}

interface CodecSpec {
  /** The artifact's file name. */
  readonly artifact: string;
  /** The level a codec gets when none is given. */
  readonly defaultLevel: string;
  readonly levelPattern: RegExp;
  /** The compressor's command (tar on stdin, the artifact on stdout), at a level, with `threads` cores. */
  readonly compressCommand: (level: string, threads: number) => readonly string[];
  /** The host tool the build needs, and where Debian has it. */
  readonly hostTool: string;
  readonly debianPackage: string;
  /** The initrd's decoder (busybox applet and arguments), stdin to stdout; "kernel": the kernel unpacked it (RAMROOT_UNPACKED_BY_KERNEL). */
  readonly initrdDecoder: string;
  /** tar streamed by the initrd, or newc cpio unpacked by the kernel. */
  readonly archive: "tar" | "cpio";
  /** What `levelPattern` accepts, for the error message. */
  readonly levels: string;
  /**
   * Whether a build packs it in two layers, the cached base's and its own (images/layered-ramroot.ts): gzip
   * members and zstd frames concatenate into one stream; xz is packed whole (its multi-block, multi-threaded
   * stream is what makes it small).
   */
  readonly layered: boolean;
}

/** The initrd's decoder name for a ramroot the kernel unpacked. */
export const RAMROOT_UNPACKED_BY_KERNEL = "kernel";
/** Where the kernel-unpacked ramroot lies in the kernel's rootfs (the cpio's names start with it). */
export const KERNEL_RAMROOT_DIR = "newroot";
/** iPXE's name of the ramroot initrd (initrd --name), and the kernel's initrd= for it (EFI stub). */
export const KERNEL_RAMROOT_INITRD_NAME = "ramroot";

/**
 * xz's arguments (tar on stdin, xz on stdout), at a preset ("6", "9e"): busybox's xz
 * decoder checks CRC32 (not SHA-256); blocks let xz use every core.
 */
export function ramrootXzArgs(level: number | string, threads = Math.max(1, os.cpus().length)): string[] {
  return [`-T${threads}`, `-${level}`, "--check=crc32"];
}

const CODECS: Readonly<Record<RamrootCodecName, CodecSpec>> = {
  gzip: {
    artifact: "ramroot.tar.gz",
    defaultLevel: "6",
    levelPattern: /^[1-9]$/,
    // pigz: gzip's format on every core; -n: no name or time in the header (same input, same bytes).
    compressCommand: (level, threads) => ["pigz", `-p${threads}`, `-${level}`, "-n"],
    hostTool: "pigz",
    debianPackage: "pigz",
    initrdDecoder: "gunzip -c",
    archive: "tar",
    levels: "1-9",
    layered: true,
  },
  xz: {
    artifact: "ramroot.tar.xz",
    defaultLevel: "6",
    levelPattern: /^[0-9]e?$/,
    compressCommand: (level, threads) => ["xz", ...ramrootXzArgs(level, threads)],
    hostTool: "xz",
    debianPackage: "xz-utils",
    initrdDecoder: "xz -d -c",
    archive: "tar",
    levels: "0-9, optionally with e (9e)",
    layered: false,
  },
  zstd: {
    artifact: "ramroot.cpio.zst",
    defaultLevel: "3",
    levelPattern: /^([1-9]|1[0-9])$/,
    compressCommand: (level, threads) => ["zstd", `-T${threads}`, `-${level}`, "-q", "-c"],
    hostTool: "zstd",
    debianPackage: "zstd",
    initrdDecoder: RAMROOT_UNPACKED_BY_KERNEL,
    archive: "cpio",
    levels: "1-19",
    layered: true,
  },
};

/** The default of every profile (BENCHMARKS.md says why). */
export const DEFAULT_RAMROOT_COMPRESSION: RamrootCompression = { codec: "zstd", level: CODECS.zstd.defaultLevel };

export function ramrootArtifactOf(codec: RamrootCodecName): string {
  return CODECS[codec].artifact;
}

/** Every name a ramroot artifact can have. */
export const RAMROOT_ARTIFACTS: readonly string[] = RAMROOT_CODECS.map(ramrootArtifactOf);

/** True when the codec's artifact is a cpio the kernel unpacks (iPXE loads it as an initrd), false for a tar the initrd streams. */
export function ramrootUnpackedByKernel(codec: RamrootCodecName): boolean {
  return CODECS[codec].archive === "cpio";
}

/** True when a build packs the codec's ramroot in two layers, the cached base's and its own (images/layered-ramroot.ts). */
export function ramrootLayered(codec: RamrootCodecName): boolean {
  return CODECS[codec].layered;
}

/** The codec of an artifact name (ramroot.cpio.zst: zstd), or undefined. */
export function ramrootCodecOfArtifact(artifact: string): RamrootCodecName | undefined {
  return RAMROOT_CODECS.find((c) => CODECS[c].artifact === artifact);
}

export function ramrootCompressCommand(compression: RamrootCompression, threads = Math.max(1, os.cpus().length)): readonly string[] {
  return CODECS[compression.codec].compressCommand(compression.level, threads);
}

export function ramrootHostTool(codec: RamrootCodecName): { tool: string; debianPackage: string } {
  return { tool: CODECS[codec].hostTool, debianPackage: CODECS[codec].debianPackage };
}

/** The codec at its default level, or at `level`; throws naming what was received and what is accepted. */
export function ramrootCompression(codec: string, level?: string): RamrootCompression {
  if (!(RAMROOT_CODECS as readonly string[]).includes(codec)) {
    throw new Error(`ramroot codec: received "${codec}", expected one of ${RAMROOT_CODECS.join(", ")}`);
  }
  const spec = CODECS[codec as RamrootCodecName];
  const chosen = level ?? spec.defaultLevel;
  if (!spec.levelPattern.test(chosen)) {
    throw new Error(`ramroot level for ${codec}: received "${chosen}", expected ${spec.levels}`);
  }
  return { codec: codec as RamrootCodecName, level: chosen };
}

/**
 * The initrd's `case` over the ramroot URL: the decoder of each artifact name ("kernel" for the
 * one the kernel unpacked). Anything else fails before the download, naming the names it knows.
 */
export function initrdDecoderCase(urlVariable: string, decoderVariable: string, onUnknown: string): string {
  const arms = RAMROOT_CODECS.map((c) => `  *.${CODECS[c].artifact.replace(/^ramroot\./, "")}) ${decoderVariable}="${CODECS[c].initrdDecoder}" ;;`);
  return [`case "$${urlVariable}" in`, ...arms, `  *) ${onUnknown} ;;`, "esac"].join("\n");
}
