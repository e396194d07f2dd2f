import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { APT_LAYER_SCRIPT, installExtraPackages } from "../images/apt-layer";
import { BASE_FORMAT, BaseSpec, baseInputs, baseKeyOf, baseMmdebstrapArgs, baseNameOf, ensureBase, missingMergedUsrHooks, mmdebstrapVersion } from "../images/base-rootfs";
import { baseSpecOf } from "../images/build-image";
import { baseLayerKey, UNPACK_CPIO_ARCHIVES_SH } from "../images/layered-ramroot";
import { overlayMountArgs } from "../images/overlay";
import { imageRecipe, inputHashOf, recipeInputs } from "../images/recipe";
import { clientImageSpec } from "./helpers/image-spec";
import { changeElyFile, ELY_FILE_CHANGED, ELY_FILE_MARKER, parseBuildOutput } from "../bench/image-rebuild";
import { MEASURE_INIT, parseMeasureLines, PIVOT_CHECK } from "../bench/ramroot-unpack";
import { TEST_OUTDIR_ROOT } from "./setup";

const root = path.resolve(__dirname, "..");
const tempDir = () => fs.mkdtempSync(path.join(TEST_OUTDIR_ROOT, "base-cache-"));

const spec = clientImageSpec("full");
const base: BaseSpec = baseSpecOf(imageRecipe(spec));
const VERSION = "mmdebstrap 1.3.5";

describe("the cached base's key", () => {
  test("changes whenever the base would: suite, architecture, components, one package more or less, the dpkg filters, the mirror, mmdebstrap's version", () => {
    const key = baseKeyOf(base, VERSION);
    const variants: Array<[string, string]> = [
      ["suite", baseKeyOf({ ...base, suite: "trixie" }, VERSION)],
      ["arch", baseKeyOf({ ...base, arch: "arm64" }, VERSION)],
      ["components", baseKeyOf({ ...base, components: ["main"] }, VERSION)],
      ["package added", baseKeyOf({ ...base, packages: [...base.packages, "tree"] }, VERSION)],
      ["package removed", baseKeyOf({ ...base, packages: base.packages.filter((p) => p !== "jq") }, VERSION)],
      ["dpkg exclude", baseKeyOf({ ...base, dpkgExcludes: [...base.dpkgExcludes, "/usr/share/zoneinfo/*"] }, VERSION)],
      ["dpkg include", baseKeyOf({ ...base, dpkgIncludes: [] }, VERSION)],
      ["mirror", baseKeyOf({ ...base, mirror: "http://deb.example/debian" }, VERSION)],
      ["another mirror", baseKeyOf({ ...base, mirror: "http://other.example/debian" }, VERSION)],
      ["mmdebstrap", baseKeyOf(base, "mmdebstrap 1.4.0")],
    ];
    for (const [name, k] of variants) expect([name, k === key]).toEqual([name, false]);
    expect(new Set(variants.map(([, k]) => k)).size).toBe(variants.length);
    expect(baseInputs(base, VERSION)[0]).toEqual(["format", String(BASE_FORMAT)]);
  });

  test("is the same for the same packages in another order, and names the suite, architecture and key's start", () => {
    expect(baseKeyOf({ ...base, packages: [...base.packages].reverse() }, VERSION)).toBe(baseKeyOf(base, VERSION));
    expect(baseNameOf(base, VERSION)).toBe(`bookworm-amd64-${baseKeyOf(base, VERSION).slice(0, 16)}`);
  });

  test("mmdebstrap makes it from the profile's packages and keeps apt's lists for the extra packages' layer", () => {
    const args = baseMmdebstrapArgs(base);
    expect(args).toContain("--skip=cleanup/apt/lists");
    expect(args).toContain("--variant=minbase");
    expect(args.find((a) => a.startsWith("--include="))).toBe(`--include=${[...base.packages].sort().join(",")}`);
    expect(args.find((a) => a.startsWith("--include="))).toContain("docker.io");
    // The build machine's resolver and name stay out of the base.
    expect(args).toContain('--customize-hook=rm -f "$1/etc/resolv.conf" "$1/etc/hostname"');
    // A merged /usr by mmdebstrap's own hooks: usr-is-merged, not usrmerge and the perl it pulls in.
    expect(args).toContain("--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr");
  });

  test("a machine without mmdebstrap's merged-/usr hooks is told which files are missing and what ships them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-hooks-"));
    try {
      expect(missingMergedUsrHooks("mmdebstrap 1.3.5", dir)).toBe(
        `mmdebstrap (mmdebstrap 1.3.5): ${dir}/setup00.sh and ${dir}/essential00.sh not found, expected the merged-/usr hooks that Debian's mmdebstrap package (1.3 or later) ships there`,
      );
      fs.writeFileSync(path.join(dir, "setup00.sh"), "");
      expect(missingMergedUsrHooks("mmdebstrap 1.3.5", dir)).toContain(`${dir}/essential00.sh not found`);
      fs.writeFileSync(path.join(dir, "essential00.sh"), "");
      expect(missingMergedUsrHooks("mmdebstrap 1.3.5", dir)).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an image's extra packages, agents, codec and Ely files leave its base alone; the role's packages do not", () => {
    const key = (s: Parameters<typeof imageRecipe>[0]) => baseKeyOf(baseSpecOf(imageRecipe(s)), VERSION);
    const own = key(spec);
    expect(key({ ...spec, extraPackages: ["tree", "htop"] })).toBe(own);
    expect(key({ ...spec, agentVersions: { consul: "1.17.0", nomad: "1.7.0" } })).toBe(own);
    expect(key({ ...spec, ramroot: { codec: "xz", level: "6" } })).toBe(own);
    expect(key({ ...spec, agentSource: { kind: "dir", path: "/somewhere" } })).toBe(own);
    expect(key({ ...spec, role: "server" })).not.toBe(own); // no docker.io
    expect(key({ ...spec, role: "server" })).toBe(key({ ...spec, role: "util" })); // the same packages: one base
    expect(key({ ...spec, profile: "test" })).not.toBe(own);
  });
});

describe("extra packages in the build id", () => {
  test("an extra package changes the build id and is named apart from the profile's; one the profile has changes nothing", () => {
    const plain = imageRecipe(spec);
    const withTree = imageRecipe({ ...spec, extraPackages: ["tree"] });
    expect(recipeInputs(plain).map(([n]) => n)).not.toContain("packages.extra");
    expect(recipeInputs(withTree)).toContainEqual(["packages.extra", "tree"]);
    expect(withTree.extraPackages).toEqual(["tree"]);
    expect(withTree.packages).toContain("tree");
    expect(withTree.basePackages).toEqual(plain.basePackages);
    expect(inputHashOf(withTree)).not.toBe(inputHashOf(plain));
    expect(inputHashOf(imageRecipe({ ...spec, extraPackages: ["openssh-server", "jq"] }))).toBe(inputHashOf(plain));
    expect(inputHashOf(imageRecipe({ ...spec, extraPackages: ["tree", "htop"] }))).toBe(inputHashOf(imageRecipe({ ...spec, extraPackages: ["htop", "tree", "htop"] })));
  });

  test("a name apt would read as an option or a pattern is refused, every one named, before apt runs", async () => {
    const logFile = path.join(tempDir(), "build.log");
    await expect(installExtraPackages({ rootfs: "/nonexistent", packages: ["tree", "-o", "Foo Bar", "x;rm"], logFile })).rejects.toThrow(
      'extra packages: received "-o", "Foo Bar", "x;rm", expected Debian package names (a-z, 0-9, +, -, .)',
    );
    expect(fs.existsSync(logFile)).toBe(false);
  });

  test("apt runs chrooted with no recommends, no service started, and updates stale lists once", () => {
    expect(APT_LAYER_SCRIPT).toContain("--no-install-recommends");
    expect(APT_LAYER_SCRIPT).toContain("exit 101"); // policy-rc.d
    expect(APT_LAYER_SCRIPT.match(/chroot "\$R" apt-get "\$@"/g)).toHaveLength(2);
    expect(APT_LAYER_SCRIPT).toContain("apt-get -q -o APT::Sandbox::User=root update");
  });
});

const hasMmdebstrap = execa.sync("sh", ["-c", "command -v mmdebstrap"], { reject: false }).exitCode === 0;

describe("the base cache", () => {
  (hasMmdebstrap ? test : test.skip)("a base the cache holds is used as it is, and a temporary directory of a build that is gone is removed", async () => {
    const cache = tempDir();
    const name = baseNameOf(base, await mmdebstrapVersion());
    fs.mkdirSync(path.join(cache, name, "rootfs", "usr"), { recursive: true });
    fs.writeFileSync(path.join(cache, name, "inputs.json"), "{}\n");
    const stale = path.join(cache, `.${name}.work-abc123`);
    fs.mkdirSync(path.join(stale, "rootfs"), { recursive: true });
    fs.writeFileSync(path.join(stale, "owner"), "999999999 another-boot\n");
    const lines: string[] = [];
    const logFile = path.join(cache, "build.log");
    const got = await ensureBase({ cacheDir: cache, spec: base, logFile, write: (l) => lines.push(l) });
    expect(got).toEqual({ name, rootfs: path.join(cache, name, "rootfs"), reused: true });
    expect(fs.existsSync(logFile)).toBe(false); // mmdebstrap did not run
    expect(fs.existsSync(stale)).toBe(false);
    expect(lines).toEqual([`removed the temporary directory of a base whose build is gone: ${stale}`]);
    expect(fs.existsSync(path.join(cache, name, "last-used"))).toBe(true);
  });

  (hasMmdebstrap ? test : test.skip)("a base directory without its inputs file (never completed) is not used: mmdebstrap runs (here: fails on a bad mirror, naming it)", async () => {
    const cache = tempDir();
    const broken = { ...base, mirror: "http://127.0.0.1:9/debian" };
    const name = baseNameOf(broken, await mmdebstrapVersion());
    fs.mkdirSync(path.join(cache, name, "rootfs", "usr"), { recursive: true });
    const logFile = path.join(cache, "build.log");
    await expect(ensureBase({ cacheDir: cache, spec: broken, logFile, write: () => undefined })).rejects.toThrow(/^mmdebstrap exited with \d+$/);
    expect(fs.readFileSync(logFile, "utf8")).toContain("$ mmdebstrap");
    expect(fs.readdirSync(cache).sort()).toEqual(["build.log"]); // the incomplete one and the temporary directory are gone
  }, 120_000);
});

describe("the overlay", () => {
  test("mount options: lower, upper, work; userxattr in a user namespace only", () => {
    const dirs = { lower: "/c/base/rootfs", upper: "/w/upper", work: "/w/ow", merged: "/w/rootfs" };
    expect(overlayMountArgs(dirs, false)).toEqual(["-t", "overlay", "overlay", "-o", "lowerdir=/c/base/rootfs,upperdir=/w/upper,workdir=/w/ow", "/w/rootfs"]);
    expect(overlayMountArgs(dirs, true)[4]).toBe("lowerdir=/c/base/rootfs,upperdir=/w/upper,workdir=/w/ow,userxattr");
  });

  test("a directory a mount option cannot carry is refused, naming it", () => {
    expect(() => overlayMountArgs({ lower: "/c/a,b", upper: "/w/u:1", work: "/w/ow", merged: "/w/m" }, false)).toThrow(
      'overlay: lower directory "/c/a,b", upper directory "/w/u:1" holds ",", ":" or "\\", which a mount option cannot carry',
    );
  });

  const overlayJs = path.join(root, "dist", "images", "overlay.js");
  (fs.existsSync(overlayJs) ? test : test.skip)("the build's changes go above; the base is never written; --keep-work keeps the merged tree (real overlayfs, own mount namespace)", async () => {
    const dir = tempDir();
    const lower = path.join(dir, "base");
    fs.mkdirSync(path.join(lower, "etc"), { recursive: true });
    fs.writeFileSync(path.join(lower, "etc", "kept"), "base\n");
    fs.writeFileSync(path.join(lower, "etc", "appended"), "base\n");
    fs.writeFileSync(path.join(lower, "removed"), "base\n");
    fs.chmodSync(lower, 0o751);
    const dirs = { lower, upper: path.join(dir, "upper"), work: path.join(dir, "ow"), merged: path.join(dir, "rootfs") };
    const script = `
      const fs = require("fs");
      const o = require(${JSON.stringify(overlayJs)});
      const d = ${JSON.stringify(dirs)};
      (async () => {
        await o.mountOverlay(d, ${process.getuid?.() !== 0});
        fs.appendFileSync(d.merged + "/etc/appended", "build\\n");
        fs.writeFileSync(d.merged + "/new", "build\\n");
        fs.rmSync(d.merged + "/removed");
        console.log((fs.statSync(d.merged).mode & 0o7777).toString(8));
        await o.materializeOverlay(d.merged);
      })().catch((e) => { console.error(e.message); process.exit(1); });
    `;
    const ns = process.getuid?.() === 0 ? ["--mount"] : ["--user", "--map-root-user", "--mount"];
    const run = await execa("unshare", [...ns, "--", process.execPath, "-e", script], { reject: false });
    expect([run.exitCode, run.stderr]).toEqual([0, ""]);
    expect(run.stdout.trim()).toBe("751"); // the merged root is the base's
    expect(fs.readFileSync(path.join(lower, "etc", "appended"), "utf8")).toBe("base\n");
    expect(fs.readdirSync(lower).sort()).toEqual(["etc", "removed"]);
    expect(fs.readFileSync(path.join(dirs.merged, "etc", "appended"), "utf8")).toBe("base\nbuild\n");
    expect(fs.readdirSync(dirs.merged).sort()).toEqual(["etc", "new"]);
    expect(fs.readFileSync("/proc/self/mounts", "utf8")).not.toContain(dirs.merged);
  });
});

describe("bench:rebuild's reading of a build", () => {
  test("step durations, the build id, the base's origin, and the no-op", () => {
    const built = parseBuildOutput(
      [
        "ely-image client-amd64 0123456789abcdef [1/11] inputs: ok in 0.1 s (elapsed 0.1 s)",
        "ely-image client-amd64 0123456789abcdef rootfs: base bookworm-amd64-fedcba9876543210 from the cache (/x)",
        "ely-image client-amd64 0123456789abcdef [2/11] rootfs: ok in 0.3 s (elapsed 0.4 s)",
        "ely-image client-amd64 0123456789abcdef [3/11] packages: skipped (no extra packages)",
        "ely-image client-amd64 0123456789abcdef [9/11] ramroot: ok in 30.3 s (elapsed 40.4 s)",
      ].join("\n"),
    );
    expect(built).toEqual({ buildId: "0123456789abcdef", steps: { inputs: 0.1, rootfs: 0.3, ramroot: 30.3 }, upToDate: false, base: "cache" });
    expect(parseBuildOutput("ely-image client-amd64 0123456789abcdef: up to date in /x\n")).toEqual({ buildId: "0123456789abcdef", steps: {}, upToDate: true, base: undefined });
  });

  test("the Ely-file change finds its line in the compiled rootfs files, once, or says what to update", () => {
    expect(changeElyFile(`a ${ELY_FILE_MARKER} b`)).toBe(`a ${ELY_FILE_CHANGED} b`);
    expect(() => changeElyFile("nothing")).toThrow(/must hold "content: waitOnlineDropIn }" exactly once/);
    const compiled = path.join(root, "dist", "images", "rootfs-files.js");
    if (fs.existsSync(compiled)) expect(() => changeElyFile(fs.readFileSync(compiled, "utf8"))).not.toThrow();
  });
});

describe("the layered gzip ramroot (real overlayfs, own mount namespace; busybox unpacks it as the initrd does)", () => {
  const js = (name: string) => path.join(root, "dist", "images", `${name}.js`);
  const busybox = execa.sync("sh", ["-c", "command -v busybox"], { reject: false }).stdout.trim();
  const ready = fs.existsSync(js("layered-ramroot")) && busybox !== "";

  /** The base, a build's changes through the overlay, then both archives: layered (twice: the second reuses the base layer) and whole. */
  function buildAndPack(dir: string, change: string, codec: "gzip" | "zstd" = "gzip") {
    const ext = codec === "gzip" ? "tar.gz" : "cpio.zst";
    const level = codec === "gzip" ? "6" : "3";
    const lower = path.join(dir, "base");
    fs.mkdirSync(path.join(lower, "etc"), { recursive: true });
    fs.mkdirSync(path.join(lower, "d"));
    fs.writeFileSync(path.join(lower, "etc", "a"), "base\n");
    fs.writeFileSync(path.join(lower, "etc", "gone"), "base\n");
    fs.writeFileSync(path.join(lower, "etc", "h1"), "linked\n");
    fs.linkSync(path.join(lower, "etc", "h1"), path.join(lower, "etc", "h2"));
    fs.writeFileSync(path.join(lower, "d", "old"), "base\n");
    fs.symlinkSync("etc/a", path.join(lower, "l"));
    const script = `
      const fs = require("fs");
      const o = require(${JSON.stringify(js("overlay"))});
      const l = require(${JSON.stringify(js("layered-ramroot"))});
      const p = require(${JSON.stringify(js("pack-ramroot"))});
      const dir = ${JSON.stringify(dir)};
      const d = { lower: dir + "/base", upper: dir + "/upper", work: dir + "/ow", merged: dir + "/rootfs" };
      (async () => {
        await o.mountOverlay(d, ${process.getuid?.() !== 0});
        const m = d.merged;
        fs.appendFileSync(m + "/etc/a", ${JSON.stringify(change)});
        fs.rmSync(m + "/etc/gone");
        fs.writeFileSync(m + "/etc/h1", "rewritten\\n");
        fs.rmSync(m + "/d", { recursive: true }); fs.mkdirSync(m + "/d"); fs.writeFileSync(m + "/d/new", "build\\n");
        fs.rmSync(m + "/l"); fs.mkdirSync(m + "/l"); fs.writeFileSync(m + "/l/x", "build\\n");
        fs.mkdirSync(m + "/usr/local/bin", { recursive: true }); fs.writeFileSync(m + "/usr/local/bin/agent", "agent\\n");
        const opts = (dest) => ({ lower: d.lower, upper: d.upper, merged: m, layerCacheDir: dir + "/packed", baseName: "b", dest,
          compression: { codec: "${codec}", level: "${level}" }, logFile: dir + "/log", workDir: dir, progress: () => undefined });
        const plan = l.planLayers(d.lower, d.upper, m);
        const first = await l.packLayered(opts(dir + "/layered.${ext}"));
        const second = await l.packLayered(opts(dir + "/layered-again.${ext}"));
        const cpio = "${codec}" === "zstd" ? p.kernelCpioSource(m, dir, "whole") : undefined;
        await p.packRamroot({ rootfs: m, dest: dir + "/whole.${ext}", compression: { codec: "${codec}", level: "${level}" }, logFile: dir + "/log", progress: () => undefined, cpio });
        console.log(JSON.stringify({ plan, first: first.baseLayer.reused, second: second.baseLayer.reused, layerFile: first.baseLayer.file }));
      })().catch((e) => { console.error(e.stack); process.exit(1); });
    `;
    const ns = process.getuid?.() === 0 ? ["--mount"] : ["--user", "--map-root-user", "--mount"];
    const run = execa.sync("unshare", [...ns, "--", process.execPath, "-e", script], { reject: false });
    expect([run.exitCode, run.stderr]).toEqual([0, ""]);
    return JSON.parse(run.stdout) as { plan: { excluded: string[]; top: string[]; rewritten: string[] }; first: boolean; second: boolean; layerFile: string };
  }

  /** The tree busybox unpacks from an archive: kind, mode, size, link target and content of every path. */
  function unpacked(archive: string, into: string): string[] {
    fs.mkdirSync(into);
    execa.sync("sh", ["-c", 'busybox gunzip -c "$1" | busybox tar -x -C "$2"', "sh", archive, into]);
    const out = execa.sync("sh", ["-c", 'cd "$1" && find . -printf "%y %m %s %l %n %p\\n" | sort && find . -type f | sort | xargs md5sum', "sh", into]).stdout;
    return out.split("\n");
  }

  (ready ? test : test.skip)("the base layer leaves out what the build removed or rewrote through a hard link; unpacked, the two members are the whole tree", () => {
    const dir = tempDir();
    const got = buildAndPack(dir, "build\n");
    expect(got.plan.excluded).toEqual(["d/old", "etc/gone", "etc/h1", "l"]);
    expect(got.plan.top).toEqual(["d", "d/new", "etc", "etc/a", "etc/h1", "l", "l/x", "usr", "usr/local", "usr/local/bin", "usr/local/bin/agent"]);
    expect([got.first, got.second]).toEqual([false, true]); // made once, then from the cache
    const whole = unpacked(path.join(dir, "whole.tar.gz"), path.join(dir, "x-whole"));
    expect(unpacked(path.join(dir, "layered.tar.gz"), path.join(dir, "x-layered"))).toEqual(whole);
    expect(unpacked(path.join(dir, "layered-again.tar.gz"), path.join(dir, "x-again"))).toEqual(whole);
    expect(fs.readFileSync(path.join(dir, "x-layered", "etc", "h2"), "utf8")).toBe("linked\n");
    expect(fs.readFileSync(path.join(dir, "x-layered", "etc", "h1"), "utf8")).toBe("rewritten\n");
    expect(fs.existsSync(path.join(dir, "x-layered", "etc", "gone"))).toBe(false);
    expect(fs.readdirSync(path.join(dir, "x-layered", "d"))).toEqual(["new"]);
    expect(fs.readFileSync(path.join(lower(dir), "etc", "a"), "utf8")).toBe("base\n");
  });

  const lower = (dir: string) => path.join(dir, "base");

  /** The names of one cpio archive. */
  const cpioNames = (cpioZst: string) => execa.sync("sh", ["-c", 'zstd -dc "$1" | cpio -it --quiet', "sh", cpioZst]).stdout.split("\n").filter(Boolean);
  /** A tree listing (kind, mode, size, link target, links, path; content sums) of a directory. */
  const treeOf = (into: string) =>
    execa.sync("sh", ["-c", 'cd "$1" && find . -printf "%y %m %s %l %n %p\\n" | sort && find . -type f | sort | xargs md5sum', "sh", into]).stdout.split("\n");

  (ready ? test : test.skip)("the kernel's layered zstd cpio: two frames, each a whole cpio, each path in one of them only; unpacked in turn, the whole tree", () => {
    const dir = tempDir();
    const got = buildAndPack(dir, "build\n", "zstd");
    // The build rewrote etc/a (appended) and etc/h1: for the kernel (which keeps an existing symlink) the base leaves them out.
    expect(got.plan.rewritten).toEqual(["etc/a", "etc/h1"]);
    expect([got.first, got.second]).toEqual([false, true]);
    expect(path.basename(got.layerFile)).toMatch(/^zstd-3-[0-9a-f]{16}\.cpio\.zst$/);
    const layered = path.join(dir, "layered.cpio.zst");
    const baseBytes = fs.statSync(got.layerFile).size;
    const top = path.join(dir, "top.cpio.zst");
    fs.writeFileSync(top, fs.readFileSync(layered).subarray(baseBytes));
    const baseNames = cpioNames(got.layerFile);
    const topNames = cpioNames(top);
    expect(baseNames).toEqual(["newroot/d", "newroot/etc", "newroot/etc/h2"]);
    expect(topNames).toEqual(got.plan.top.map((p) => `newroot/${p}`));
    // Only directories are in both (the kernel makes a directory once and sets its owner and mode again).
    expect(baseNames.filter((n) => topNames.includes(n))).toEqual(["newroot/d", "newroot/etc"]);
    expect([...new Set([...baseNames, ...topNames])].sort()).toEqual(cpioNames(path.join(dir, "whole.cpio.zst")).sort());
    // The kernel's order: the first archive, then the second over it.
    const unpack = (parts: string[], into: string) => {
      fs.mkdirSync(into);
      for (const part of parts) execa.sync("sh", ["-c", 'zstd -dc "$1" | (cd "$2" && cpio -idu --quiet)', "sh", part, into]);
      return treeOf(into);
    };
    expect(unpack([got.layerFile, top], path.join(dir, "k-layered"))).toEqual(unpack([path.join(dir, "whole.cpio.zst")], path.join(dir, "k-whole")));
    expect(fs.readFileSync(path.join(dir, "k-layered", "newroot", "etc", "h1"), "utf8")).toBe("rewritten\n");
    expect(fs.readFileSync(path.join(dir, "k-layered", "newroot", "etc", "h2"), "utf8")).toBe("linked\n");
    expect(fs.statSync(path.join(dir, "k-layered", "newroot", "l")).isDirectory()).toBe(true);
    // The benches' reading of the layered file as it is served: every archive in turn, as the kernel does.
    const served = path.join(dir, "k-served");
    fs.mkdirSync(served);
    execa.sync("sh", ["-c", `zstd -dc "$1" | (cd "$2" && ${UNPACK_CPIO_ARCHIVES_SH})`, "sh", layered, served]);
    expect(treeOf(served)).toEqual(treeOf(path.join(dir, "k-layered")));
    // Input that is no cpio archive is an error, with cpio's message.
    const bad = spawnSync("sh", ["-c", `echo not-an-archive | (cd "$1" && ${UNPACK_CPIO_ARCHIVES_SH})`, "sh", served], { encoding: "utf8" });
    expect({ status: bad.status, stderr: bad.stderr }).toEqual({ status: 1, stderr: expect.stringContaining("cpio:") });
  });

  test("the base layer's key: the base, the codec, and the paths left out", () => {
    const gz = { codec: "gzip" as const, level: "6" };
    const key = baseLayerKey("b", gz, ["etc/gone"]);
    expect(baseLayerKey("b", gz, ["etc/gone"])).toBe(key);
    expect(baseLayerKey("c", gz, ["etc/gone"])).not.toBe(key);
    expect(baseLayerKey("b", { codec: "gzip", level: "9" }, ["etc/gone"])).not.toBe(key);
    expect(baseLayerKey("b", gz, ["etc/gone", "etc/h1"])).not.toBe(key);
  });
});

describe("bench:unpack's reading of a guest's console", () => {
  test("the /init start and the end of the unpack, with the files found and whether /sbin/init is there", () => {
    const console = "noise\r\nELY-BENCH init-start 4.21\r\nmore\r\nELY-BENCH done 31.07 files=13731 init=1\r\n";
    expect(parseMeasureLines(console)).toEqual({ initStart: 4.21, done: 31.07, files: 13731, init: true });
    expect(parseMeasureLines("Kernel panic")).toEqual({ initStart: undefined, done: undefined, files: undefined, init: undefined });
    // The kernel mode's pivot_root checks: on rootfs itself, and after the bind mount, move and chroot.
    const kernel = `${console}ELY-BENCH pivot-root-on-rootfs pivot_root: Invalid argument\r\nELY-BENCH pivot-root-after-move ok\r\n`;
    expect(parseMeasureLines(kernel)).toEqual({ initStart: 4.21, done: 31.07, files: 13731, init: true, pivotRootOnRootfs: "pivot_root: Invalid argument", pivotRootAfterMove: "ok" });
  });

  test("the pivot_root check is valid shell and does what runc does: a new mount namespace, then pivot_root into a tmpfs", () => {
    expect(spawnSync("busybox", ["sh", "-n", "-c", PIVOT_CHECK]).status).toBe(0);
    expect(PIVOT_CHECK).toContain("unshare -m");
    expect(PIVOT_CHECK).toContain("busybox pivot_root . old && echo ok");
    expect(MEASURE_INIT).toContain("mount -o bind /newroot /newroot && cd /newroot && mount -o move /newroot / && exec chroot . /bin/busybox sh /tmp/ely-pivot-check after-move");
  });

  test("the measuring /init times the busybox decoders into a tmpfs and leaves the kernel's unpack to the kernel", () => {
    expect(MEASURE_INIT).toContain('gzip) mount -t tmpfs -o size=90% ramroot /newroot; gunzip -c /ramroot.tar.gz | tar -x -C /newroot ;;');
    expect(MEASURE_INIT).not.toMatch(/kernel\)/);
  });
});
