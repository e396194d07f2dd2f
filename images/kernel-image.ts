/**
 * The kernel iPXE loads must be the architecture's bootable image, never a compressed
 * file: iPXE answers a gzip-compressed kernel with "Exec format error" (original-system.md).
 * x86: a bzImage has "HdrS" at 0x202. arm64: the raw Image has "ARM\x64" at 0x38; Debian's
 * arm64 vmlinuz may be Image.gz, which the build decompresses first.
 */
import * as zlib from "zlib";
import { ImageArch } from "./layout";

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const X86_MAGIC = { offset: 0x202, bytes: Buffer.from("HdrS", "latin1") };
const ARM64_MAGIC = { offset: 0x38, bytes: Buffer.from([0x41, 0x52, 0x4d, 0x64]) };

export function isGzip(data: Buffer): boolean {
  return data.length >= 2 && data.subarray(0, 2).equals(GZIP_MAGIC);
}

function hasMagic(data: Buffer, magic: { offset: number; bytes: Buffer }): boolean {
  return data.length >= magic.offset + magic.bytes.length && data.subarray(magic.offset, magic.offset + magic.bytes.length).equals(magic.bytes);
}

/** Throws, naming what was found, unless `data` is a kernel iPXE can boot on `arch`. */
export function checkKernelImage(data: Buffer, arch: ImageArch, name = "vmlinuz"): void {
  if (isGzip(data)) {
    throw new Error(`${name} is gzip-compressed; iPXE needs the ${arch === "arm64" ? "raw arm64 Image" : "bzImage"} (it would fail with "Exec format error")`);
  }
  const magic = arch === "amd64" ? X86_MAGIC : ARM64_MAGIC;
  if (!hasMagic(data, magic)) {
    const seen = data.subarray(magic.offset, magic.offset + magic.bytes.length);
    throw new Error(
      `${name} is not ${arch === "amd64" ? "an x86 bzImage" : "an arm64 Image"}: expected ${JSON.stringify(magic.bytes.toString("latin1"))} at 0x${magic.offset.toString(16)}, ` +
        `found ${seen.length ? JSON.stringify(seen.toString("latin1")) : "end of file"} (${data.length} bytes)`,
    );
  }
}

/** The bootable kernel from a distribution's vmlinuz: arm64's Image.gz is decompressed; the result is checked. */
export function bootableKernel(data: Buffer, arch: ImageArch, name = "vmlinuz"): Buffer {
  const image = arch === "arm64" && isGzip(data) ? zlib.gunzipSync(data) : data;
  checkKernelImage(image, arch, name);
  return image;
}
