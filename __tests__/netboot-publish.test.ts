import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bootConfigOf, renderBootFiles } from "../constructs/netboot/boot-service";
import { createManifest, writeManifest } from "../images/manifest";
import { parseTarget, publishBoot, publishImage } from "../images/publish";
import { requires } from "./helpers/requires";

const rsyncTest = requires("rsync").test;

function temp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "ely-publish-"));
}

function fakeBuild(buildId: string): string {
  const dir = temp();
  for (const name of ["vmlinuz", "initrd", "ramroot.tar.xz"]) fs.writeFileSync(path.join(dir, name), `${name} ${buildId}`);
  writeManifest(
    dir,
    createManifest(dir, {
      image: "client-amd64",
      role: "client",
      arch: "amd64",
      profile: "test",
      buildId,
      inputHash: buildId.padEnd(64, "0"),
      gitRevision: "x",
      buildTime: "2024-01-01T00:00:00Z",
      debianSuite: "bookworm",
      kernelVersion: "6.1",
      agents: [],
    }, ["vmlinuz", "initrd", "ramroot.tar.xz"]),
  );
  return dir;
}

describe("publish", () => {
  test("targets: user@host:/path is remote, /path is local", () => {
    expect(parseTarget("root@10.25.89.4:/srv/ely/")).toEqual({ host: "root@10.25.89.4", root: "/srv/ely" });
    expect(parseTarget("/tmp/util")).toEqual({ root: "/tmp/util" });
    expect(() => parseTarget("srv/ely")).toThrow("--target: expected user@host:/absolute/path or /absolute/path");
  });

  rsyncTest("an image lands in a versioned directory and latest switches to it; an older build stays", async () => {
    const root = temp();
    const log = () => undefined;
    await publishImage({ src: fakeBuild("aaaaaaaaaaaaaaaa"), target: { root }, image: "client-amd64", buildId: "aaaaaaaaaaaaaaaa", log });
    await publishImage({ src: fakeBuild("bbbbbbbbbbbbbbbb"), target: { root }, image: "client-amd64", buildId: "bbbbbbbbbbbbbbbb", log });
    const dir = path.join(root, "images/client-amd64");
    expect(fs.readdirSync(dir).sort()).toEqual(["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "latest"]);
    expect(fs.readlinkSync(path.join(dir, "latest"))).toBe("bbbbbbbbbbbbbbbb");
    expect(fs.readFileSync(path.join(dir, "aaaaaaaaaaaaaaaa/initrd"), "utf8")).toBe("initrd aaaaaaaaaaaaaaaa");
  });

  rsyncTest("an incomplete build is refused before anything is copied", async () => {
    const src = fakeBuild("cccccccccccccccc");
    fs.writeFileSync(path.join(src, "initrd"), "tampered");
    const root = temp();
    await expect(publishImage({ src, target: { root }, image: "client-amd64", buildId: "cccccccccccccccc", log: () => undefined })).rejects.toThrow(
      "is not a complete build: initrd has 8 bytes, manifest says 23",
    );
    expect(fs.existsSync(path.join(root, "images"))).toBe(false);
  });

  rsyncTest("the boot configuration becomes a release and boot/current switches to it", async () => {
    const root = temp();
    const config = bootConfigOf({ entries: [], utilAddress: "10.25.89.4", subnetCidr: "10.25.89.0/24", serverAddresses: [] });
    const src = temp();
    for (const [file, text] of renderBootFiles(config)) {
      fs.mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
      fs.writeFileSync(path.join(src, file), text);
    }
    const configs = temp();
    fs.mkdirSync(path.join(configs, "w1"));
    fs.writeFileSync(path.join(configs, "w1/consul.json"), "{}");
    const lines: string[] = [];
    const previous = process.env.ELY_PUBLISH_SERVICES;
    process.env.ELY_PUBLISH_SERVICES = "0";
    try {
      await publishBoot({ src, configs, target: { root }, release: "0123456789abcdef", log: (l) => lines.push(l) });
    } finally {
      if (previous === undefined) delete process.env.ELY_PUBLISH_SERVICES;
      else process.env.ELY_PUBLISH_SERVICES = previous;
    }
    expect(fs.readlinkSync(path.join(root, "boot/current"))).toBe("releases/0123456789abcdef");
    expect(fs.readFileSync(path.join(root, "boot/current/config/w1/consul.json"), "utf8")).toBe("{}");
    expect(fs.existsSync(path.join(root, "boot/current/tftp/ely.ipxe"))).toBe(true);
    expect(lines.join("\n")).toContain("ely-boot: release 0123456789abcdef is current");
  });
});
