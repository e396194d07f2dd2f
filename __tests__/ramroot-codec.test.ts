import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { estimateTarBytes, formatPackProgress, kernelCpioList, kernelCpioSource, packRamroot, ramrootTarArgs, treePaths } from "../images/pack-ramroot";
import {
  DEFAULT_RAMROOT_COMPRESSION,
  initrdDecoderCase,
  RAMROOT_ARTIFACTS,
  RAMROOT_CODECS,
  ramrootArtifactOf,
  ramrootCompressCommand,
  ramrootCompression,
  ramrootCodecOfArtifact,
  ramrootHostTool,
  ramrootLayered,
  ramrootUnpackedByKernel,
} from "../images/ramroot-codec";
import { imageRecipe, inputHashOf, recipeInputs } from "../images/recipe";
import { main } from "../images/build";
import { initScript } from "../images/initrd-files";
import { requires } from "./helpers/requires";
import { TEST_OUTDIR_ROOT } from "./setup";

const tempDir = () => fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, "ramroot-test-"));

/** A small root filesystem: a few files, a directory, a symlink and a hard link. */
function smallRoot(): string {
  const root = path.join(tempDir(), "rootfs");
  fs.mkdirSync(path.join(root, "sbin"), { recursive: true });
  fs.mkdirSync(path.join(root, "etc"));
  fs.writeFileSync(path.join(root, "etc/hostname"), "w1\n");
  fs.writeFileSync(path.join(root, "sbin/init"), Buffer.alloc(70000, 7), { mode: 0o755 });
  fs.symlinkSync("init", path.join(root, "sbin/systemd"));
  fs.linkSync(path.join(root, "sbin/init"), path.join(root, "sbin/init-hardlink"));
  return root;
}

/** Runs the initrd's decoder `case` for a URL in busybox sh (as the initrd does): the decoder, or the failure. */
function decoderFor(url: string): { decoder?: string; failure?: string } {
  const script = `ramroot="$1"; fail() { echo "FAIL $*"; exit 3; }\n${initrdDecoderCase("ramroot", "decoder", 'fail "unknown $ramroot"')}\necho "$decoder"`;
  const r = spawnSync("busybox", ["sh", "-c", script, "sh", url], { encoding: "utf8" });
  return r.status === 0 ? { decoder: r.stdout.trim() } : { failure: r.stdout.trim() };
}

describe("ramroot codecs", () => {
  test("each codec names its artifact; the default is zstd -3, unpacked by the kernel (BENCHMARKS.md)", () => {
    expect(RAMROOT_CODECS.map(ramrootArtifactOf)).toEqual(["ramroot.tar.gz", "ramroot.tar.xz", "ramroot.cpio.zst"]);
    expect(RAMROOT_ARTIFACTS).toEqual(["ramroot.tar.gz", "ramroot.tar.xz", "ramroot.cpio.zst"]);
    expect(RAMROOT_ARTIFACTS.map(ramrootCodecOfArtifact)).toEqual(["gzip", "xz", "zstd"]);
    expect(ramrootCodecOfArtifact("ramroot.tar.zst")).toBeUndefined();
    expect(DEFAULT_RAMROOT_COMPRESSION).toEqual({ codec: "zstd", level: "3" });
    // gzip members and zstd frames are packed as the cached base's layer and the build's own; xz whole.
    expect(RAMROOT_CODECS.filter(ramrootLayered)).toEqual(["gzip", "zstd"]);
  });

  test("compress commands: every core, the level, no name or time in gzip's header, CRC32 for busybox's xz", () => {
    expect(ramrootCompressCommand({ codec: "gzip", level: "1" }, 2)).toEqual(["pigz", "-p2", "-1", "-n"]);
    expect(ramrootCompressCommand({ codec: "xz", level: "6" }, 4)).toEqual(["xz", "-T4", "-6", "--check=crc32"]);
    expect(ramrootHostTool("gzip")).toEqual({ tool: "pigz", debianPackage: "pigz" });
    expect(ramrootHostTool("xz")).toEqual({ tool: "xz", debianPackage: "xz-utils" });
    expect(ramrootCompressCommand({ codec: "zstd", level: "3" }, 2)).toEqual(["zstd", "-T2", "-3", "-q", "-c"]);
    expect(ramrootHostTool("zstd")).toEqual({ tool: "zstd", debianPackage: "zstd" });
  });

  test("the two ramroot modes: gzip and xz are tars the initrd streams, zstd a cpio the kernel unpacks", () => {
    expect(RAMROOT_CODECS.map((c) => [c, ramrootUnpackedByKernel(c)])).toEqual([["gzip", false], ["xz", false], ["zstd", true]]);
  });

  test("a codec or level out of range is an error naming what was received and what is accepted", () => {
    expect(ramrootCompression("xz")).toEqual({ codec: "xz", level: "6" });
    expect(ramrootCompression("xz", "9e")).toEqual({ codec: "xz", level: "9e" });
    expect(ramrootCompression("gzip", "9")).toEqual({ codec: "gzip", level: "9" });
    expect(ramrootCompression("zstd")).toEqual({ codec: "zstd", level: "3" });
    expect(ramrootCompression("zstd", "19")).toEqual({ codec: "zstd", level: "19" });
    expect(() => ramrootCompression("lz4")).toThrow('ramroot codec: received "lz4", expected one of gzip, xz, zstd');
    expect(() => ramrootCompression("zstd", "20")).toThrow('ramroot level for zstd: received "20", expected 1-19');
    expect(() => ramrootCompression("zstd", "0")).toThrow('ramroot level for zstd: received "0", expected 1-19');
    expect(() => ramrootCompression("gzip", "0")).toThrow('ramroot level for gzip: received "0", expected 1-9');
    expect(() => ramrootCompression("xz", "6; rm -rf /")).toThrow('ramroot level for xz: received "6; rm -rf /", expected 0-9, optionally with e (9e)');
  });

  test("the recipe carries the codec: the artifact, an input of the hash, and a different build for another codec", () => {
    const spec = { role: "client", arch: "amd64", profile: "test", agentVersions: { consul: "1.16.3", nomad: "1.6.3" }, agentSource: { kind: "official" } } as const;
    expect(imageRecipe(spec).ramroot).toEqual({ codec: "zstd", level: "3", artifact: "ramroot.cpio.zst" });
    const gzip = imageRecipe({ ...spec, ramroot: { codec: "gzip", level: "6" } });
    const xz = imageRecipe({ ...spec, ramroot: { codec: "xz", level: "6" } });
    expect(gzip.ramroot).toEqual({ codec: "gzip", level: "6", artifact: "ramroot.tar.gz" });
    expect(xz.ramroot).toEqual({ codec: "xz", level: "6", artifact: "ramroot.tar.xz" });
    expect(recipeInputs(gzip)).toContainEqual(["ramroot", "gzip-6"]);
    expect(recipeInputs(xz)).toContainEqual(["ramroot", "xz-6"]);
    expect(inputHashOf(xz)).not.toBe(inputHashOf(gzip));
    expect(inputHashOf(imageRecipe({ ...spec, ramroot: { codec: "xz", level: "9" } }))).not.toBe(inputHashOf(xz));
  });
});

describe("the initrd's decoder", () => {
  test("the init script picks the decoder from the ramroot URL and streams through it", () => {
    expect(initScript()).toContain(initrdDecoderCase("ramroot", "decoder", 'fail "ramroot=$ramroot: expected a file named ramroot.tar.gz or ramroot.tar.xz or ramroot.cpio.zst"'));
    expect(initScript()).toMatch(/\{ \$decoder \|\| echo \$\? > \/tmp\/stage\.decode; \}/);
  });

  requires("codecs").test("by the artifact's name, in busybox sh; another name fails before the download", () => {
    expect(decoderFor("http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.tar.gz")).toEqual({ decoder: "gunzip -c" });
    expect(decoderFor("http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.tar.xz")).toEqual({ decoder: "xz -d -c" });
    expect(decoderFor("http://10.25.89.4:8080/images/client-amd64/0123456789abcdef/ramroot.cpio.zst")).toEqual({ decoder: "kernel" });
    expect(decoderFor("http://10.25.89.4:8080/images/x/ramroot.tar.zst")).toEqual({ failure: "FAIL unknown http://10.25.89.4:8080/images/x/ramroot.tar.zst" });
  });

  requires("codecs").test(
    "what the build's command compresses, the initrd's busybox decoder gives back byte for byte, for every codec the initrd decodes",
    () => {
      const dir = tempDir();
      const input = path.join(dir, "input");
      fs.writeFileSync(input, Buffer.concat([Buffer.from("ely ramroot\n".repeat(5000)), Buffer.alloc(100000, 1)]));
      for (const codec of RAMROOT_CODECS.filter((c) => !ramrootUnpackedByKernel(c))) {
        const file = path.join(dir, ramrootArtifactOf(codec));
        const command = ramrootCompressCommand(ramrootCompression(codec), 2);
        expect(spawnSync("sh", ["-c", `"$@" < "${input}" > "${file}"`, "sh", ...command]).status).toBe(0);
        const { decoder } = decoderFor(`http://util/${path.basename(file)}`);
        const decoded = spawnSync("sh", ["-c", `busybox ${decoder} < "${file}"`], { maxBuffer: 1 << 24 });
        expect({ codec, status: decoded.status, same: Buffer.compare(decoded.stdout, fs.readFileSync(input)) === 0 }).toEqual({ codec, status: 0, same: true });
      }
    },
  );
});

describe("packing the ramroot", () => {
  test("tar's arguments: numeric owners, xattrs and ACLs, a stable order, the whole root on stdout", () => {
    expect(ramrootTarArgs("/w/rootfs")).toEqual(["-C", "/w/rootfs", "--numeric-owner", "--xattrs", "--acls", "--sort=name", "-cf", "-", "."]);
  });

  test("progress lines: bytes read and written, elapsed, rate, share and time left of the estimate", () => {
    const MiB = 1048576;
    expect(formatPackProgress({ bytesIn: 412 * MiB, bytesOut: 80 * MiB, seconds: 120, expectedBytesIn: 953 * MiB })).toBe(
      "412.0 of ~953.0 MiB of tar read (43%), 80.0 MiB written (ratio 0.194), 120 s, 3.4 MiB/s, ~158 s left",
    );
    // Beyond the estimate: no 100% before the end, no negative time left.
    expect(formatPackProgress({ bytesIn: 990 * MiB, bytesOut: 200 * MiB, seconds: 300, expectedBytesIn: 953 * MiB })).toBe(
      "990.0 of ~953.0 MiB of tar read (99%), 200.0 MiB written (ratio 0.202), 300 s, 3.3 MiB/s",
    );
    expect(formatPackProgress({ bytesIn: 0, bytesOut: 0, seconds: 0 })).toBe("0.0 MiB of tar read, 0.0 MiB written, 0 s, 0.0 MiB/s");
  });

  test("the tar estimate counts headers, 512-byte blocks and a hard-linked file once", () => {
    const root = smallRoot();
    // Entries: etc, etc/hostname, sbin, sbin/init, sbin/init-hardlink, sbin/systemd: 6 headers; data: 512 + 70144; end: 1024.
    expect(estimateTarBytes(root)).toBe(6 * 512 + 512 + Math.ceil(70000 / 512) * 512 + 1024);
  });

  test("the kernel's cpio list: every path under newroot/, parents first, sorted; a skipped directory goes with its content", () => {
    const root = smallRoot();
    expect(treePaths(root)).toEqual(["etc", "etc/hostname", "sbin", "sbin/init", "sbin/init-hardlink", "sbin/systemd"]);
    expect(treePaths(root, new Set(["sbin"]))).toEqual(["etc", "etc/hostname"]);
    expect(kernelCpioList(["etc", "etc/hostname"])).toBe("newroot/etc\nnewroot/etc/hostname\n");
    expect(() => kernelCpioList(["etc/a\nb"])).toThrow('a path name with a newline cannot go into the ramroot\'s cpio list: "etc/a\\nb"');
  });

  requires("codecs").test("packs a root that unpacks to the same files, for every codec, with progress lines and a final one", async () => {
    const root = smallRoot();
    for (const codec of RAMROOT_CODECS.filter((c) => !ramrootUnpackedByKernel(c))) {
      const dir = path.dirname(root);
      const dest = path.join(dir, ramrootArtifactOf(codec));
      const lines: string[] = [];
      const result = await packRamroot({ rootfs: root, dest, compression: ramrootCompression(codec), logFile: path.join(dir, "build.log"), progress: (l) => lines.push(l), intervalMs: 1 });
      expect(result.bytesOut).toBe(fs.statSync(dest).size);
      expect(result.bytesIn).toBeGreaterThan(70000);
      expect(lines[lines.length - 1]).toMatch(/^0\.\d MiB of tar read, 0\.\d MiB written \(ratio 0\.\d{3}\), \d+ s, [\d.]+ MiB\/s: done$/);
      const out = path.join(dir, `unpacked-${codec}`);
      fs.mkdirSync(out);
      expect(spawnSync("sh", ["-c", `${codec === "gzip" ? "gzip" : "xz"} -dc "$1" | tar -x -C "$2"`, "sh", dest, out]).status).toBe(0);
      expect(fs.readFileSync(path.join(out, "etc/hostname"), "utf8")).toBe("w1\n");
      expect(fs.readlinkSync(path.join(out, "sbin/systemd"))).toBe("init");
      expect(fs.statSync(path.join(out, "sbin/init")).nlink).toBe(2);
    }
  });

  requires("codecs").test("the kernel's ramroot: a newc cpio of the tree under newroot/ (owners, modes, symlinks, hard links), zstd-compressed", async () => {
    const root = smallRoot();
    const dir = path.dirname(root);
    const dest = path.join(dir, ramrootArtifactOf("zstd"));
    const lines: string[] = [];
    const cpio = kernelCpioSource(root, dir, "ramroot");
    const result = await packRamroot({ rootfs: root, dest, compression: ramrootCompression("zstd"), logFile: path.join(dir, "build.log"), progress: (l) => lines.push(l), intervalMs: 1, cpio });
    expect(result.bytesOut).toBe(fs.statSync(dest).size);
    expect(lines[lines.length - 1]).toMatch(/^0\.\d MiB of cpio read, 0\.\d MiB written \(ratio 0\.\d{3}\), \d+ s, [\d.]+ MiB\/s: done$/);
    // The format the kernel reads: newc ("070701"), every name under newroot/, as listed.
    const raw = spawnSync("zstd", ["-dc", dest], { maxBuffer: 1 << 24 }).stdout as Buffer;
    expect(raw.subarray(0, 6).toString()).toBe("070701");
    const names = spawnSync("sh", ["-c", 'zstd -dc "$1" | cpio -it --quiet', "sh", dest], { encoding: "utf8" }).stdout.trim().split("\n");
    expect(names).toEqual(["newroot/etc", "newroot/etc/hostname", "newroot/sbin", "newroot/sbin/init", "newroot/sbin/init-hardlink", "newroot/sbin/systemd"]);
    const out = path.join(dir, "unpacked-zstd");
    fs.mkdirSync(out);
    expect(spawnSync("sh", ["-c", 'zstd -dc "$1" | (cd "$2" && cpio -id --quiet)', "sh", dest, out]).status).toBe(0);
    expect(fs.readFileSync(path.join(out, "newroot/etc/hostname"), "utf8")).toBe("w1\n");
    expect(fs.readlinkSync(path.join(out, "newroot/sbin/systemd"))).toBe("init");
    expect(fs.statSync(path.join(out, "newroot/sbin/init")).nlink).toBe(2);
    expect(fs.statSync(path.join(out, "newroot/sbin/init")).mode & 0o777).toBe(0o755);
  });

  requires("codecs").test("a compressor that fails (here: the disk is full) fails the pack, naming it", async () => {
    const root = smallRoot();
    const dir = path.dirname(root);
    fs.writeFileSync(path.join(root, "big"), Buffer.alloc(4 << 20, 3).map((_, i) => (i * 2654435761) >>> 24));
    for (const codec of RAMROOT_CODECS) {
      await expect(
        packRamroot({ rootfs: root, dest: "/dev/full", compression: ramrootCompression(codec), logFile: path.join(dir, "build.log"), progress: () => undefined }),
      ).rejects.toThrow(new RegExp(`^packing full: (tar exited with \\w+; )?${ramrootHostTool(codec).tool} exited with [1-9]\\d*$`));
    }
  });
});

describe("the build's command line", () => {
  async function run(args: string[]): Promise<{ code: number; stderr: string }> {
    const chunks: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true));
    try {
      const code = await main(["--role", "client", "--arch", "amd64", "--profile", "test", "--out", path.join(tempDir(), "out"), ...args]);
      return { code, stderr: chunks.join("") };
    } finally {
      spy.mockRestore();
    }
  }

  test("a level without a codec, a bad level and an unknown codec are refused before anything is built", async () => {
    expect(await run(["--ramroot-level", "3"])).toEqual({ code: 1, stderr: expect.stringContaining("ely-image: build failed: --ramroot-level 3 needs --ramroot-codec (gzip, xz, zstd)") });
    expect(await run(["--ramroot-codec", "xz", "--ramroot-level", "x"])).toEqual({
      code: 1,
      stderr: expect.stringContaining('ely-image: build failed: ramroot level for xz: received "x", expected 0-9, optionally with e (9e)'),
    });
    expect(await run(["--ramroot-codec", "zstd", "--ramroot-level", "22"])).toEqual({
      code: 1,
      stderr: expect.stringContaining('ely-image: build failed: ramroot level for zstd: received "22", expected 1-19'),
    });
    const lz4 = await run(["--ramroot-codec", "lz4"]);
    expect(lz4.code).not.toBe(0);
    expect(lz4.stderr).toContain("option '--ramroot-codec <codec>' argument 'lz4' is invalid. Allowed choices are gzip, xz, zstd.");
  });
});
