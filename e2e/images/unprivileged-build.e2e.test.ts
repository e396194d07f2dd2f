/**
 * The image build as an unprivileged user (images/user-namespace.ts), through the real parts:
 * `node dist/images/build.js` run by $ELY_BUILD_USER (runuser; mmdebstrap in a user namespace)
 * and by root, of the same image (client-amd64, test profile), each into its own fresh directory.
 * Each builds on its own fresh base cache (mmdebstrap in both modes) with one extra package (apt on the
 * base, in the build's overlay); a second unprivileged build into another directory reuses its base.
 * The unprivileged build's archive must be the root build's: the same entries with the same
 * modes and numeric owners (root's files 0:0, never the build user's or a subordinate id), the
 * same manifest facts; the initrd's entries are root's. A user without subordinate ids is refused
 * before any step, with what to configure.
 *
 * Runs as root with ELY_BUILD_USER set (.ci/run makes ely-build); needs what the build needs
 * (mmdebstrap, uidmap, kmod, cpio, pigz) and the compiled project (dist/).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import execa from "execa";
import { projectRoot } from "../../constructs";
import { ImageManifest } from "../../images/manifest";
import { buildIdOfRecipe, imageRecipe } from "../../images/recipe";
import { RESOLV_CONF } from "../../images/rootfs-files";
import { asUser, BUILD_USER_ENV, BuildUser, buildUserMissing, lookupUser } from "./build-user";

const SPEC = {
  role: "client" as const,
  arch: "amd64" as const,
  profile: "test" as const,
  agentVersions: { consul: "1.16.6", nomad: "1.6.10" },
  agentSource: { kind: "official" as const },
  extraPackages: ["tree"],
  // The archive this test lists with tar: the gzip ramroot (the kernel's zstd cpio is another format).
  ramroot: { codec: "gzip" as const, level: "6" },
};
const BUILD_ID = buildIdOfRecipe(imageRecipe(SPEC));
const PROGRAM = path.join(projectRoot(), "dist", "images", "build.js");
const buildArgs = (out: string, baseCache?: string) => [
  PROGRAM,
  ...["--role", SPEC.role, "--arch", SPEC.arch, "--profile", SPEC.profile, "--extra-packages", SPEC.extraPackages.join(","), "--ramroot-codec", SPEC.ramroot.codec, "--ramroot-level", SPEC.ramroot.level, "--out", out],
  ...(baseCache ? ["--base-cache", baseCache] : []),
];

/** One archive entry as `tar -tv --numeric-owner` lists it. */
interface Entry {
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  readonly size: string;
  /** The path, with " -> target" for a symbolic link and " link to target" for a hard link. */
  readonly name: string;
}

function listArchive(file: string, kernelVersion: string): Entry[] {
  const out = execa.sync("tar", ["-tvzf", file, "--numeric-owner"], { maxBuffer: 256 * 1024 * 1024 }).stdout;
  return out.split("\n").filter(Boolean).map((line) => {
    const m = /^(\S+) (\d+)\/(\d+)\s+(\d+|\d+,\s*\d+) \S+ \S+ (.*)$/.exec(line);
    if (!m) throw new Error(`unexpected tar line: ${line}`);
    return { mode: m[1], uid: Number(m[2]), gid: Number(m[3]), size: m[4], name: m[5].split(kernelVersion).join("<kernel>") };
  });
}

/** Names of the ids an image's /etc/passwd or /etc/group defines. */
function idsOf(archive: string, member: string): Map<number, string> {
  const text = execa.sync("tar", ["-xzOf", archive, member]).stdout;
  return new Map(text.split("\n").filter(Boolean).map((l) => [Number(l.split(":")[2]), l.split(":")[0]] as [number, string]));
}

interface Build {
  readonly outDir: string;
  readonly manifest: ImageManifest;
  readonly ramroot: string;
  readonly entries: Entry[];
  readonly seconds: number;
  readonly stderr: string;
}

async function build(outDir: string, baseCache: string, runAs?: BuildUser): Promise<Build> {
  const started = Date.now();
  const run = runAs
    ? await execa("runuser", asUser(runAs, ["node", ...buildArgs(outDir, baseCache)]), { reject: false, cwd: os.tmpdir() })
    : await execa("node", buildArgs(outDir, baseCache), { reject: false, cwd: os.tmpdir() });
  const seconds = (Date.now() - started) / 1000;
  process.stderr.write(`image-build-test: ${runAs ? `as ${runAs.name}` : "as root"}: exit ${run.exitCode} in ${seconds.toFixed(0)} s\n${run.stderr.split("\n").slice(-4).join("\n")}\n`);
  if (run.exitCode !== 0) throw new Error(`the build ${runAs ? `as ${runAs.name}` : "as root"} exited ${run.exitCode}:\n${run.stderr}`);
  const manifest = JSON.parse(fs.readFileSync(path.join(outDir, "manifest.json"), "utf8")) as ImageManifest;
  const ramroot = path.join(outDir, Object.keys(manifest.artifacts).find((n) => n.startsWith("ramroot."))!);
  return { outDir, manifest, ramroot, entries: listArchive(ramroot, manifest.kernelVersion), seconds, stderr: run.stderr };
}

const userName = process.env[BUILD_USER_ENV];
const missing = buildUserMissing(userName, projectRoot());
let work: string;
let user: BuildUser;
let unprivileged: Build;
let again: Build;
let root: Build;

beforeAll(async () => {
  if (missing) throw new Error(`test:image-build cannot run: ${missing}`);
  user = lookupUser(userName!)!;
  work = fs.mkdtempSync(path.join(os.tmpdir(), "ely-image-build-"));
  fs.chmodSync(work, 0o755);
  const mine = path.join(work, "unprivileged");
  fs.mkdirSync(mine);
  fs.chownSync(mine, user.uid, user.gid);
  unprivileged = await build(path.join(mine, "client-amd64", BUILD_ID), path.join(mine, "bases"), user);
  again = await build(path.join(mine, "again", "client-amd64", BUILD_ID), path.join(mine, "bases"), user);
  root = await build(path.join(work, "root", "client-amd64", BUILD_ID), path.join(work, "root", "bases"));
});

afterAll(() => {
  if (unprivileged && root) {
    process.stderr.write(`image-build-test: client-amd64, test profile: unprivileged ${unprivileged.seconds.toFixed(0)} s (again, base cached: ${again ? again.seconds.toFixed(0) : "-"} s), root ${root.seconds.toFixed(0)} s\n`);
  }
  if (work && process.env.ELY_IMAGE_BUILD_KEEP !== "1") fs.rmSync(work, { recursive: true, force: true });
});

describe("the image build as an unprivileged user", () => {
  test("a user without subordinate ids is refused before any step, naming what to configure", () => {
    const out = path.join(os.tmpdir(), `ely-image-refused-${process.pid}`, "client-amd64", BUILD_ID);
    const run = spawnSync("runuser", ["-u", "nobody", "--", "node", ...buildArgs(out)], { encoding: "utf8", cwd: os.tmpdir() });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/lacks: .*\/etc\/subuid has no range for nobody \(uid 65534\): as root, once: usermod --add-subuids \d+-\d+ --add-subgids \d+-\d+ nobody/);
    expect(run.stderr).not.toMatch(/\[1\/\d+\]/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test("it runs every step in its user namespace; what it leaves is the user's own, and no work directory", () => {
    expect(unprivileged.stderr).toMatch(/\[2\/11\] rootfs: ok/);
    expect(unprivileged.stderr).toMatch(/\[3\/11\] packages: ok/);
    expect(unprivileged.stderr).toMatch(/\[11\/11\] install: ok/);
    for (const name of [".", ...Object.keys(unprivileged.manifest.artifacts), "manifest.json"]) {
      expect([name, fs.statSync(path.join(unprivileged.outDir, name)).uid]).toEqual([name, user.uid]);
    }
    expect(fs.readdirSync(path.dirname(unprivileged.outDir)).filter((n) => n.includes(".work-"))).toEqual([]);
  });

  test("each made its base with mmdebstrap; the user's second build used its cached base and base layer and made the same archive", () => {
    for (const b of [unprivileged, root]) expect(b.stderr).toMatch(/rootfs: base bookworm-amd64-[0-9a-f]{16} made by mmdebstrap/);
    expect(again.stderr).toMatch(/rootfs: base bookworm-amd64-[0-9a-f]{16} from the cache/);
    expect(again.stderr).toMatch(/\[3\/11\] packages: ok/);
    expect(again.stderr).toMatch(/ramroot \(gzip -6\): base layer gzip-6-[0-9a-f]{16}\.tar\.gz from the cache/);
    const shape = (entries: Entry[]) => entries.map((e) => `${e.mode} ${e.uid}/${e.gid} ${e.size} ${e.name}`).sort();
    expect(shape(again.entries)).toEqual(shape(unprivileged.entries));
    expect(fs.readdirSync(path.join(work, "unprivileged", "bases")).filter((n) => !n.startsWith("."))).toHaveLength(1);
  });

  test("the extra package is in both archives, installed on the base", () => {
    for (const b of [unprivileged, root]) expect(b.entries.find((e) => e.name === "./usr/bin/tree")).toMatchObject({ uid: 0, gid: 0, mode: "-rwxr-xr-x" });
  });

  test("the same manifest facts as the root build", () => {
    const facts = (m: ImageManifest) => ({
      image: m.image,
      profile: m.profile,
      buildId: m.buildId,
      inputHash: m.inputHash,
      gitRevision: m.gitRevision,
      artifacts: Object.keys(m.artifacts).sort(),
    });
    expect(facts(unprivileged.manifest)).toEqual(facts(root.manifest));
    expect(unprivileged.manifest.buildId).toBe(BUILD_ID);
    expect(unprivileged.manifest.gitRevision).not.toBe("unknown");
  });

  test("the ramroot archive: every owner is one of the image's own ids, root's files are 0:0", () => {
    const users = idsOf(unprivileged.ramroot, "./etc/passwd");
    const groups = idsOf(unprivileged.ramroot, "./etc/group");
    const strangers = unprivileged.entries.filter((e) => !users.has(e.uid) || !groups.has(e.gid));
    expect(strangers).toEqual([]);
    const byName = new Map(unprivileged.entries.map((e) => [e.name.replace(/ -> .*| link to .*/, ""), e]));
    for (const p of ["./", "./etc/", "./etc/passwd", "./usr/bin/", "./usr/lib/systemd/systemd", "./etc/ely-release", "./root/"]) {
      expect([p, byName.get(p)?.uid, byName.get(p)?.gid]).toEqual([p, 0, 0]);
    }
    expect(byName.get("./etc/shadow")).toMatchObject({ uid: 0, gid: [...groups].find(([, n]) => n === "shadow")![0] });
    expect(byName.get("./tmp/")?.mode).toBe("drwxrwxrwt");
  });

  test("the same entries, modes and owners as the root build's archive (sizes too when the mirror gave the same packages)", () => {
    const shape = (entries: Entry[], withSize: boolean) => entries.map((e) => `${e.mode} ${e.uid}/${e.gid}${withSize ? ` ${e.size}` : ""} ${e.name}`).sort();
    const status = (b: Build) => execa.sync("tar", ["-xzOf", b.ramroot, "./var/lib/dpkg/status"]).stdout;
    const samePackages = status(unprivileged) === status(root);
    if (!samePackages) process.stderr.write("image-build-test: the mirror gave the two builds different package versions: sizes not compared\n");
    expect(shape(unprivileged.entries, samePackages)).toEqual(shape(root.entries, samePackages));
  });

  test("the build machine's resolver and name stay out of both archives: /etc/resolv.conf is the image's own, naming no server, in one entry", () => {
    for (const b of [unprivileged, root]) {
      // Every entry of that name (the base layer's and the top layer's), concatenated: only the image's.
      expect(execa.sync("tar", ["-xzOf", b.ramroot, "./etc/resolv.conf"]).stdout + "\n").toBe(RESOLV_CONF);
      expect(b.entries.filter((e) => e.name === "./etc/resolv.conf")).toHaveLength(1);
      expect(b.entries.filter((e) => e.name === "./etc/hostname")).toEqual([]);
    }
  });

  test("/dev holds nothing in either archive: the initrd moves its devtmpfs there", () => {
    for (const b of [unprivileged, root]) expect(b.entries.filter((e) => e.name.startsWith("./dev/")).map((e) => e.name)).toEqual(["./dev/"]);
  });

  test("the initrd's entries are root's", () => {
    const listing = execa.sync("sh", ["-c", 'gzip -dc "$1" | cpio -itv --numeric-uid-gid --quiet', "sh", path.join(unprivileged.outDir, "initrd")]).stdout;
    const owners = new Set(listing.split("\n").filter(Boolean).map((l) => l.split(/\s+/).slice(2, 4).join(":")));
    expect([...owners]).toEqual(["0:0"]);
  });
});
