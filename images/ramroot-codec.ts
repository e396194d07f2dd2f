/**
 * How the ramroot's tar is compressed: the codec names the artifact (ramroot.tar.gz,
 * ramroot.tar.xz), the image build compresses with it, and the initrd picks its decoder
 * from the artifact's name on the kernel command line. Both codecs decode with the
 * initrd's own busybox (gunzip, xz -d), so the initrd carries no extra decoder.
 *
 * The default is gzip -6 (BENCHMARKS.md, "ramroot codec on the full profile"): busybox
 * decodes gzip twice as fast as xz, which is what a node's boot waits for, and pigz
 * compresses the full image in well under a minute rather than six; -6 decodes 8% faster
 * than -1 for 20 s more build. xz stays available for a smaller file (a slow link, or a util
 * node short of disk).
 */
import * as os from "os";

export const RAMROOT_CODECS = ["gzip", "xz"] as const;
export type RamrootCodecName = (typeof RAMROOT_CODECS)[number];

export interface RamrootCompression {
  readonly codec: RamrootCodecName;
  /** The codec's level: gzip 1-9, xz 0-9 (xz presets; "9e" for --extreme). */
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
  /** The initrd's decoder (busybox applet and arguments), stdin to stdout. */
  readonly initrdDecoder: string;
}

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
  },
  xz: {
    artifact: "ramroot.tar.xz",
    defaultLevel: "6",
    levelPattern: /^[0-9]e?$/,
    compressCommand: (level, threads) => ["xz", ...ramrootXzArgs(level, threads)],
    hostTool: "xz",
    debianPackage: "xz-utils",
    initrdDecoder: "xz -d -c",
  },
};

/** The default of every profile (BENCHMARKS.md says why). */
export const DEFAULT_RAMROOT_COMPRESSION: RamrootCompression = { codec: "gzip", level: CODECS.gzip.defaultLevel };

export function ramrootArtifactOf(codec: RamrootCodecName): string {
  return CODECS[codec].artifact;
}

/** Every name a ramroot artifact can have. */
export const RAMROOT_ARTIFACTS: readonly string[] = RAMROOT_CODECS.map(ramrootArtifactOf);

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
    throw new Error(`ramroot level for ${codec}: received "${chosen}", expected ${codec === "gzip" ? "1-9" : "0-9, optionally with e (9e)"}`);
  }
  return { codec: codec as RamrootCodecName, level: chosen };
}

/**
 * The initrd's `case` over the ramroot URL: the decoder of each artifact name. Anything
 * else fails before the download, naming the names it knows.
 */
export function initrdDecoderCase(urlVariable: string, decoderVariable: string, onUnknown: string): string {
  const arms = RAMROOT_CODECS.map((c) => `  *.${CODECS[c].artifact.replace(/^ramroot\./, "")}) ${decoderVariable}="${CODECS[c].initrdDecoder}" ;;`);
  return [`case "$${urlVariable}" in`, ...arms, `  *) ${onUnknown} ;;`, "esac"].join("\n");
}
