import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { agentInputs, checkElfArch, findAgentInDir, parseAgentSource } from "../images/agents";
import { bootableKernel, checkKernelImage } from "../images/kernel-image";
import { artifactNamesOf, buildIdOf } from "../images/layout";
import { createManifest, verifyManifest, MANIFEST_FORMAT } from "../images/manifest";
import { StepError, StepRunner } from "../images/progress";
import { imageRecipe, inputHashOf, recipeInputs } from "../images/recipe";
import { clientImageSpec } from "./helpers/image-spec";
import { packagesOf } from "../images/profiles";
import { TEST_OUTDIR_ROOT } from "./setup";

// Under the suite's own temporary root, removed after the suite (see setup.ts).
function tempDir(): string {
  return fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, "image-test-"));
}

/** A buffer with `magic` at `offset`, like a kernel's header. */
function kernelLike(offset: number, magic: Buffer, size = 4096): Buffer {
  const data = Buffer.alloc(size, 0x90);
  magic.copy(data, offset);
  return data;
}
const BZIMAGE = kernelLike(0x202, Buffer.from("HdrS"));
const ARM64_IMAGE = kernelLike(0x38, Buffer.from([0x41, 0x52, 0x4d, 0x64]));

describe("vmlinuz check", () => {
  test("an x86 bzImage passes", () => {
    expect(() => checkKernelImage(BZIMAGE, "amd64")).not.toThrow();
  });

  test("a gzip-compressed kernel is refused on amd64, naming iPXE's error", () => {
    expect(() => checkKernelImage(zlib.gzipSync(BZIMAGE), "amd64")).toThrow(/gzip-compressed.*Exec format error/);
  });

  test("a file without the bzImage magic is refused with what was found", () => {
    expect(() => checkKernelImage(ARM64_IMAGE, "amd64")).toThrow(/not an x86 bzImage: expected "HdrS" at 0x202/);
    expect(() => checkKernelImage(Buffer.alloc(16), "amd64")).toThrow(/found end of file \(16 bytes\)/);
  });

  test("an arm64 raw Image passes; an x86 kernel does not", () => {
    expect(() => checkKernelImage(ARM64_IMAGE, "arm64")).not.toThrow();
    expect(() => checkKernelImage(BZIMAGE, "arm64")).toThrow(/not an arm64 Image: expected "ARMd" at 0x38/);
  });

  test("arm64 Image.gz is decompressed to the raw Image; amd64 gzip stays an error", () => {
    expect(bootableKernel(zlib.gzipSync(ARM64_IMAGE), "arm64").equals(ARM64_IMAGE)).toBe(true);
    expect(() => bootableKernel(zlib.gzipSync(BZIMAGE), "amd64")).toThrow(/gzip-compressed/);
  });
});

describe("manifest", () => {
  const facts = {
    image: "client-amd64",
    role: "client",
    arch: "amd64",
    profile: "test",
    buildId: "0123456789abcdef",
    inputHash: "0123456789abcdef" + "0".repeat(48),
    gitRevision: "abc123",
    buildTime: "2024-01-01T00:00:00Z",
    debianSuite: "bookworm",
    kernelVersion: "6.1.0-1-amd64",
    agents: [],
  };

  const NAMES = artifactNamesOf("ramroot.tar.xz");

  function buildDir(): string {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "vmlinuz"), BZIMAGE);
    fs.writeFileSync(path.join(dir, "initrd"), "initrd");
    fs.writeFileSync(path.join(dir, "ramroot.tar.xz"), "ramroot");
    return dir;
  }

  test("sha256 and size of each artifact, with the build's facts", () => {
    const dir = buildDir();
    const manifest = createManifest(dir, facts, NAMES);
    expect(manifest.format).toBe(MANIFEST_FORMAT);
    expect(manifest.artifacts.initrd).toEqual({ sha256: "09e6c018d2c8c4903308613dd1b72484d57eadf12ec50ddc8f52e5accce470f2", sizeBytes: 6 });
    expect(Object.keys(manifest.artifacts)).toEqual(["vmlinuz", "initrd", "ramroot.tar.xz"]);
    expect(manifest).toMatchObject({ inputHash: facts.inputHash, gitRevision: "abc123", buildTime: facts.buildTime });
    expect(verifyManifest(dir, manifest)).toEqual([]);
  });

  test("a changed or missing artifact is reported", () => {
    const dir = buildDir();
    const manifest = createManifest(dir, facts, NAMES);
    fs.writeFileSync(path.join(dir, "initrd"), "INITRD");
    fs.rmSync(path.join(dir, "vmlinuz"));
    expect(verifyManifest(dir, manifest)).toEqual(["vmlinuz is missing", "initrd sha256 differs from the manifest"]);
  });

  test("a build of another codec does not count as complete: the expected ramroot is not listed", () => {
    const dir = buildDir();
    const manifest = createManifest(dir, facts, NAMES);
    expect(verifyManifest(dir, manifest, artifactNamesOf("ramroot.tar.gz"))).toEqual(["manifest lists no ramroot.tar.gz"]);
  });

  test("a missing artifact fails the manifest step, naming it", () => {
    const dir = buildDir();
    fs.rmSync(path.join(dir, "ramroot.tar.xz"));
    expect(() => createManifest(dir, facts, NAMES)).toThrow(`artifact ramroot.tar.xz is missing from ${dir}`);
  });
});

describe("input hash", () => {
  const spec = clientImageSpec("full");

  test("the same inputs give the same hash", () => {
    expect(inputHashOf(imageRecipe(spec))).toBe(inputHashOf(imageRecipe({ ...spec })));
  });

  test("each kind of input changes it: packages, agent version, role, profile, arch", () => {
    const base = inputHashOf(imageRecipe(spec));
    const variants = [
      { ...spec, extraPackages: ["htop"] },
      { ...spec, agentVersions: { ...spec.agentVersions, nomad: "1.6.11" } },
      { ...spec, role: "server" as const },
      { ...spec, profile: "test" as const },
      { ...spec, arch: "arm64" as const },
    ];
    const hashes = variants.map((v) => inputHashOf(imageRecipe(v)));
    for (const h of hashes) expect(h).not.toBe(base);
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  test("the test profile ships no agents, so agent versions do not change its hash", () => {
    const test = { ...spec, profile: "test" as const };
    expect(inputHashOf(imageRecipe(test))).toBe(inputHashOf(imageRecipe({ ...test, agentVersions: { consul: "9.9.9", nomad: "9.9.9" } })));
  });

  test("a template's text is an input: the hash covers the rendered units and scripts", () => {
    const names = recipeInputs(imageRecipe(spec)).map(([name]) => name);
    expect(names).toEqual(expect.arrayContaining(["packages", "initrd.init", "rootfs:usr/lib/systemd/system/consul.service:644", "agents.consul.version"]));
  });

  test("a local agents directory counts by content, not by path", () => {
    const a = tempDir();
    const b = tempDir();
    for (const dir of [a, b]) {
      fs.writeFileSync(path.join(dir, "consul"), "consul-binary");
      fs.writeFileSync(path.join(dir, "nomad"), "nomad-binary");
    }
    const hashOf = (dir: string) => inputHashOf(imageRecipe({ ...spec, agentSource: { kind: "dir", path: dir } }));
    expect(hashOf(a)).toBe(hashOf(b));
    fs.writeFileSync(path.join(b, "nomad"), "another nomad");
    expect(hashOf(a)).not.toBe(hashOf(b));
    expect(agentInputs({ kind: "dir", path: path.join(a, "none") }, spec.agentVersions, "amd64")["consul.source"]).toBe("missing");
  });

  test("the build id is the hash's first 16 hex digits", () => {
    expect(buildIdOf("0123456789abcdef0123")).toBe("0123456789abcdef");
  });

  test("package lists: the test profile is a subset of the full one; clients have docker", () => {
    const full = packagesOf("full", "client", "amd64");
    const test = packagesOf("test", "client", "amd64");
    expect(test.every((p) => full.includes(p))).toBe(true);
    expect(full).toEqual(expect.arrayContaining(["systemd", "openssh-server", "ca-certificates", "nfs-common", "docker.io", "linux-image-amd64"]));
    expect(packagesOf("full", "server", "arm64")).not.toContain("docker.io");
    // docker starts no container without apparmor_parser on Debian's kernel (AppArmor on).
    expect(packagesOf("full", "client", "amd64")).toContain("apparmor");
    expect(packagesOf("full", "server", "arm64")).toContain("linux-image-arm64");
  });
});

describe("agents", () => {
  test("a directory source: linux_<arch>/ first, then the release zip, then a plain binary", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "consul"), "x");
    expect(findAgentInDir(dir, "consul", "1.16.6", "amd64")).toMatchObject({ kind: "binary", file: path.join(dir, "consul") });
    fs.writeFileSync(path.join(dir, "consul_1.16.6_linux_amd64.zip"), "x");
    expect(findAgentInDir(dir, "consul", "1.16.6", "amd64")).toMatchObject({ kind: "zip" });
    fs.mkdirSync(path.join(dir, "linux_amd64"));
    fs.writeFileSync(path.join(dir, "linux_amd64", "consul"), "x");
    expect(findAgentInDir(dir, "consul", "1.16.6", "amd64")).toMatchObject({ kind: "binary", file: path.join(dir, "linux_amd64", "consul") });
    expect(findAgentInDir(dir, "nomad", "1.6.10", "amd64")).toBeUndefined();
  });

  test("an ELF header for the wrong architecture is refused", () => {
    const dir = tempDir();
    const elf = Buffer.alloc(64);
    elf.write("\x7fELF", 0, "latin1");
    elf.writeUInt16LE(0xb7, 18);
    fs.writeFileSync(path.join(dir, "consul"), elf);
    expect(() => checkElfArch(path.join(dir, "consul"), "amd64")).toThrow(/built for arm64, expected amd64/);
    expect(() => checkElfArch(path.join(dir, "consul"), "arm64")).not.toThrow();
  });

  test("--agents parses official and dir:<path>", () => {
    expect(parseAgentSource("official")).toEqual({ kind: "official" });
    expect(parseAgentSource("dir:/x")).toEqual({ kind: "dir", path: "/x" });
    expect(() => parseAgentSource("ftp://x")).toThrow('--agents: expected "official" or "dir:<path>", received "ftp://x"');
  });
});

describe("progress", () => {
  test("one line per step with its duration and the elapsed time; a failure names the step", async () => {
    let clock = 0;
    const lines: string[] = [];
    const runner = new StepRunner({ label: "ely-image client-amd64", total: 3, write: (l) => lines.push(l), now: () => clock });
    await runner.step("rootfs", () => {
      clock += 1500;
    });
    runner.skip("agents", "profile test ships no agents");
    const failing = runner.step(
      "kernel",
      () => {
        clock += 250;
        throw new Error("expected one kernel in /boot, found none");
      },
      () => "log tail",
    );
    await expect(failing).rejects.toBeInstanceOf(StepError);
    await expect(failing).rejects.toThrow('step "kernel" failed: expected one kernel in /boot, found none\nlog tail');
    expect(lines).toEqual([
      "ely-image client-amd64 [1/3] rootfs: ok in 1.5 s (elapsed 1.5 s)",
      "ely-image client-amd64 [2/3] agents: skipped (profile test ships no agents)",
      "ely-image client-amd64 [3/3] kernel: FAILED after 0.3 s: expected one kernel in /boot, found none",
    ]);
  });
});
