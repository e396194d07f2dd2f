import * as fs from "fs";
import * as path from "path";
import { inputGroupHashes } from "../constructs/netboot/node-image";
import { recipeInputs } from "../images/recipe";
import { inventoryWith } from "./helpers/inventory";
import { netbootStack, nullResources } from "../e2e/netboot/netboot-stack";

function errorsOf(stack: ReturnType<typeof netbootStack>): string[] {
  return stack.netboot.node.validate();
}

describe("Netboot", () => {
  test("one image build per role x arch of the netbooted nodes (the default inventory: client-amd64)", () => {
    const { synth, netboot } = netbootStack();
    const json = synth();
    expect(nullResources(json, "_build").map(([id]) => id)).toEqual([expect.stringContaining("image-client-amd64")]);
    expect([...netboot.images.keys()]).toEqual(["client-amd64"]);
    expect(netboot.images.get("client-amd64")!.nodeHostnames).toEqual(["w1", "w2", "w3"]);
  });

  test("the build's triggers are the image's input hash; its command runs the build program", () => {
    const { synth, netboot } = netbootStack();
    const image = netboot.images.get("client-amd64")!;
    const [[, build]] = nullResources(synth(), "image-client-amd64_build");
    expect(build.triggers).toEqual({
      image: "client-amd64",
      profile: "full",
      input_hash: image.inputHash,
      build_id: image.buildId,
      ...inputGroupHashes(recipeInputs(image.recipe)),
    });
    expect(Object.keys(build.triggers!)).toEqual(expect.arrayContaining(["input_packages", "input_initrd", "input_rootfs", "input_agents"]));
    expect(build.provisioner![0]["local-exec"].command).toBe(
      `node build.js --role client --arch amd64 --profile full --out "$HOME/.cache/ely/images/client-amd64/${image.buildId}" ` +
        `--consul-version 1.16.3 --nomad-version 1.6.3 --input-hash ${image.inputHash} --agents official`,
    );
  });

  test("default commands hold no path of this machine and nothing Terraform would interpolate", () => {
    const { synth } = netbootStack({ props: { buildCommand: undefined, publishCommand: undefined, agentSource: undefined } });
    const commands = Object.values(synth().resource.null_resource).flatMap((r) => (r.provisioner ?? []).map((p) => p["local-exec"].command));
    expect(commands).toHaveLength(3);
    for (const command of commands) {
      expect(command).toMatch(/^node "\$\(if \[ -n "\$ELY_PROJECT_DIR" \]; then echo "\$ELY_PROJECT_DIR"; else git rev-parse --show-toplevel; fi\)\/dist\/images\/(build|publish)\.js" /);
      expect(command).not.toContain("${");
      expect(command).not.toContain(process.cwd());
      expect(command).not.toContain(require("os").homedir() + "/");
    }
  });

  test("order: build -> image publish -> node entries -> boot publish", () => {
    const json = netbootStack().synth();
    const id = (part: string) => nullResources(json, part)[0][0];
    const deps = (part: string) => nullResources(json, part)[0][1].depends_on ?? [];
    expect(deps("publish-client-amd64")).toEqual([`null_resource.${id("image-client-amd64_build")}`]);
    expect(deps("node-w2")).toEqual([`null_resource.${id("publish-client-amd64")}`]);
    expect(deps("boot-publish")).toEqual(
      expect.arrayContaining([`null_resource.${id("publish-client-amd64")}`, `null_resource.${id("node-w1")}`, `null_resource.${id("node-w3")}`]),
    );
  });

  test("publish commands: rsync target on the util node, the build's directory, the boot release", () => {
    const { synth, netboot } = netbootStack();
    const json = synth();
    const image = netboot.images.get("client-amd64")!;
    expect(nullResources(json, "publish-client-amd64")[0][1].provisioner![0]["local-exec"].command).toBe(
      `node publish.js image --src "$HOME/.cache/ely/images/client-amd64/${image.buildId}" --target 'root@10.25.89.4:/srv/ely' --image client-amd64 --build ${image.buildId}`,
    );
    const boot = nullResources(json, "boot-publish")[0][1];
    expect(boot.provisioner![0]["local-exec"].command).toMatch(/^node publish\.js boot --src "assets\/.+" --configs "assets\/.+" --target 'root@10.25.89.4:\/srv\/ely' --release [0-9a-f]{32}$/);
    expect(Object.keys(boot.triggers!).sort()).toEqual(["agent_configs", "boot_config", "target"]);
  });

  test("the publish steps log in as the util node's ssh user from the inventory", () => {
    const { netboot } = netbootStack({ inventory: inventoryWith((i) => (i.nodes[0].ssh = { user: "pi" })) });
    expect(netboot.publishTarget).toBe("pi@10.25.89.4:/srv/ely");
  });

  test("canary: w1 follows latest (the newest revision), w2 and w3 the stable channel's older revision", () => {
    const inventory = inventoryWith((i) => i.images.revisions.push({ name: "next", extraPackages: { "client-amd64": ["htop"] } }));
    const { netboot, synth } = netbootStack({ inventory });
    const newest = netboot.images.get("client-amd64")!;
    const stable = netboot.images.get("client-amd64@initial")!;
    expect(newest.recipe.packages).toContain("htop");
    expect(stable.recipe.packages).not.toContain("htop");
    expect(netboot.entries.map((e) => [e.hostname, e.channel, e.revision, e.buildId])).toEqual([
      ["w1", "latest", "next", newest.buildId],
      ["w2", "stable", "initial", stable.buildId],
      ["w3", "stable", "initial", stable.buildId],
    ]);
    const json = synth();
    // Both builds are made (or found in the cache) and published by the plan: a fresh machine needs nothing else.
    expect(nullResources(json, "_build").map(([id]) => id.replace(/_[0-9A-F]{8}$/, "")).sort()).toEqual(["netboot_image-client-amd64-initial_build", "netboot_image-client-amd64_build"]);
    expect(nullResources(json, "publish-client-amd64-initial")[0][1].provisioner![0]["local-exec"].command).toContain(`--build ${stable.buildId} --link revision-initial`);
    expect(nullResources(json, "publish-client-amd64_publish")[0][1].provisioner![0]["local-exec"].command).not.toContain("--link");
    expect(nullResources(json, "node-w2")[0][1].triggers).toMatchObject({ build_id: stable.buildId, channel: "stable" });
    expect(nullResources(json, "node-w2")[0][1].depends_on).toEqual([expect.stringContaining("publish-client-amd64-initial")]);
    const scripts = netboot.bootService!.files;
    expect(scripts.get("ipxe/00-1e-06-45-28-5c.ipxe")).toContain(`/images/client-amd64/${newest.buildId}/vmlinuz`);
    expect(scripts.get("ipxe/00-1e-06-45-20-02.ipxe")).toContain(`/images/client-amd64/${stable.buildId}/vmlinuz`);
  });

  test("the ramroot's codec: zstd by default (iPXE loads it as a second initrd, the kernel unpacks it); gzip and xz on request, named by the artifact in every command line and passed to the build", () => {
    const zstd = netbootStack();
    const zstdImage = zstd.netboot.images.get("client-amd64")!;
    expect(zstdImage.recipe.ramroot).toEqual({ codec: "zstd", level: "3", artifact: "ramroot.cpio.zst" });
    expect(zstdImage.command).not.toContain("--ramroot-codec");
    const zstdScripts = [...zstd.netboot.bootService!.files].filter(([name]) => name.startsWith("ipxe/00-"));
    expect(zstdScripts).toHaveLength(3);
    for (const [, script] of zstdScripts) {
      expect(script).toContain(`initrd --name ramroot http://10.25.89.4:8080/images/client-amd64/${zstdImage.buildId}/ramroot.cpio.zst || goto failed`);
      expect(script).toContain(` initrd=initrd initrd=ramroot ramroot=http://10.25.89.4:8080/images/client-amd64/${zstdImage.buildId}/ramroot.cpio.zst `);
    }
    for (const codec of ["gzip", "xz"] as const) {
      const other = netbootStack({ props: { imageRamroot: { codec, level: "6" } } });
      const image = other.netboot.images.get("client-amd64")!;
      const artifact = codec === "gzip" ? "ramroot.tar.gz" : "ramroot.tar.xz";
      expect(image.buildId).not.toBe(zstdImage.buildId);
      expect(image.command).toContain(`--ramroot-codec ${codec} --ramroot-level 6 `);
      expect(other.netboot.entries.map((e) => e.ramrootArtifact)).toEqual([artifact, artifact, artifact]);
      const scripts = [...other.netboot.bootService!.files].filter(([name]) => name.startsWith("ipxe/00-"));
      expect(scripts).toHaveLength(3);
      for (const [, script] of scripts) {
        expect(script).toContain(`/images/client-amd64/${image.buildId}/${artifact} `);
        // The initrd downloads it: iPXE loads no second initrd.
        expect(script).not.toContain("initrd --name ramroot");
      }
    }
  });

  test("one revision: every channel boots its build, built once", () => {
    const { netboot } = netbootStack();
    expect(new Set(netboot.entries.map((e) => e.buildId)).size).toBe(1);
    expect([...netboot.images.keys()]).toEqual(["client-amd64"]);
  });

  test("two revisions with the same inputs share one build", () => {
    const inventory = inventoryWith((i) => i.images.revisions.push({ name: "renamed" }));
    const { netboot } = netbootStack({ inventory });
    expect([...netboot.images.keys()]).toEqual(["client-amd64"]);
    expect(netboot.entries.map((e) => e.revision)).toEqual(["renamed", "initial", "initial"]);
    expect(new Set(netboot.entries.map((e) => e.buildId)).size).toBe(1);
  });

  test("a node may follow a named channel of the table", () => {
    const inventory = inventoryWith((i) => {
      i.images.revisions = [{ name: "a", versions: { nomad: "1.6.2" } }, { name: "b" }, { name: "c", extraPackages: { "client-amd64": ["htop"] } }];
      i.images.channels = { stable: "a", beta: "b" };
      i.nodes[6].imageChannel = "beta";
    });
    const { netboot } = netbootStack({ inventory });
    expect([...netboot.images.keys()]).toEqual(["client-amd64", "client-amd64@a", "client-amd64@b"]);
    expect(netboot.entries.map((e) => [e.hostname, e.revision])).toEqual([["w1", "c"], ["w2", "a"], ["w3", "b"]]);
    expect(netboot.images.get("client-amd64@a")!.command).toContain("--nomad-version 1.6.2");
    expect(netboot.images.get("client-amd64@b")!.command).toContain("--nomad-version 1.6.3");
  });

  test("the HTTP server's listen address and state directory cannot inject nginx directives", () => {
    const stack = netbootStack({ props: { httpListen: "8080; include /etc/passwd", httpStateDir: "/tmp/x y" } });
    const bootErrors = stack.netboot.bootService!.node.validate();
    expect(bootErrors).toEqual([
      'error ELY-NET-006: boot service, field httpListen: received "8080; include /etc/passwd", expected a port or address:port (8080, 127.0.0.1:18080)',
      'error ELY-STR-005: boot service, field httpStateDir: received "/tmp/x y", expected a run-time directory such as /var/lib/ely/nginx: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no "..", no trailing /)',
    ]);
    expect(netbootStack({ props: { httpListen: "127.0.0.1:18080", httpStateDir: "/tmp/ely-x/nginx" } }).netboot.bootService!.node.validate()).toEqual([]);
  });

  test("the DHCP interface must be an interface name: it is written into dnsmasq.conf and radvd's configuration script", () => {
    const stack = netbootStack({ props: { dhcpInterface: "eth0\ndhcp-boot=evil" } });
    expect(stack.netboot.bootService!.node.validate()).toEqual([
      'error ELY-NET-007: boot service, field dhcpInterface: received "eth0\\ndhcp-boot=evil", expected a network interface name: 1-15 letters, digits, "_", "." or "-", starting with a letter or digit (eth0, enp1s0, br0)',
    ]);
    expect(netbootStack({ props: { dhcpInterface: "a-very-long-name0" } }).netboot.bootService!.node.validate()).toHaveLength(1);
    for (const ok of ["eth0", "enp1s0", "br0.25", "wlan_1"]) expect(netbootStack({ props: { dhcpInterface: ok } }).netboot.bootService!.node.validate()).toEqual([]);
  });

  test("extra packages for an image no node boots are an error", () => {
    const stack = netbootStack({ props: { extraPackages: { "server-arm64": ["htop"] } } });
    expect(errorsOf(stack)).toEqual(["error ELY-NET-002: netboot, field extraPackages.server-arm64: received packages for an image no netbooted node boots, expected one of client-amd64"]);
  });

  test("netbooted nodes without a util node are an error", () => {
    const inventory = inventoryWith((i) => {
      i.nodes = i.nodes.filter((n) => n.role !== "util");
    });
    const stack = netbootStack({ inventory });
    expect(errorsOf(stack)).toEqual(['error ELY-NET-001: netboot, field nodes[].role: received no node with role "util" while w1, w2, w3 netboot, expected one to serve them']);
    expect(stack.netboot.bootService).toBeUndefined();
  });

  test("a netbooted Pi 4 master adds a server-arm64 image and its arm64 boot script", () => {
    const inventory = inventoryWith((i) => (i.nodes[1].boot = "netboot"));
    const { netboot, synth } = netbootStack({ inventory });
    expect([...netboot.images.keys()]).toEqual(["client-amd64", "server-arm64"]);
    expect(nullResources(synth(), "_build").map(([id]) => id)).toHaveLength(2);
    const m1 = netboot.bootService!.files.get("ipxe/dc-a6-32-55-33-40.ipxe")!;
    expect(m1).toContain(`/images/server-arm64/${netboot.images.get("server-arm64")!.buildId}/vmlinuz`);
    expect(m1).toContain("ely.role=server");
    expect(netboot.bootService!.files.get("dnsmasq.conf")).toContain("dhcp-mac=set:ely-known,dc:a6:32:55:33:40");
  });

  test("the boot configuration is a synthesized asset directory: every rendered file, as rendered, where the publish step reads it", () => {
    const { app, stack, netboot } = netbootStack();
    app.synth();
    const service = netboot.bootService!;
    const stackDir = path.join(app.outdir, "stacks", "test");
    const dir = path.resolve(stackDir, service.path);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    const onDisk = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
    expect(service.files.size).toBeGreaterThan(5);
    expect(onDisk).toEqual([...service.files.keys()].sort());
    for (const [file, text] of service.files) expect({ file, text: fs.readFileSync(path.join(dir, file), "utf8") }).toEqual({ file, text });
    expect(fs.readFileSync(path.join(dir, "dnsmasq.conf"), "utf8")).toContain("dhcp-range=10.25.89.0,proxy,255.255.255.0");
    // The publish step copies exactly this directory, and is triggered by its content hash.
    const publish = JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8")).resource.null_resource[stack.getLogicalId(netboot.bootPublish!.resource)];
    expect(publish.provisioner[0]["local-exec"].command).toContain(`boot --src "${service.path}"`);
    expect(publish.triggers.boot_config).toBe(service.contentHash);
  });
});

describe("triggers", () => {
  test("two synths with unchanged inputs give identical triggers", () => {
    const triggers = () =>
      Object.fromEntries(Object.entries(netbootStack().synth().resource.null_resource).map(([id, r]) => [id, r.triggers]));
    expect(triggers()).toEqual(triggers());
  });

  test("changing one image's package list changes only that image's trigger", () => {
    const inventory = inventoryWith((i) => (i.nodes[1].boot = "netboot"));
    const triggersOf = (extra?: Record<string, string[]>) => {
      const json = netbootStack({ inventory, props: { extraPackages: extra } }).synth();
      return Object.fromEntries(nullResources(json, "_build").map(([id, r]) => [id, r.triggers!.input_hash]));
    };
    const before = triggersOf();
    const after = triggersOf({ "server-arm64": ["htop"] });
    const changed = Object.keys(before).filter((id) => before[id] !== after[id]);
    expect(changed).toEqual([expect.stringContaining("image-server-arm64")]);
  });

  test("a new agent version changes the full images' triggers, and the nodes that boot them", () => {
    const json = (nomad: string) => netbootStack({ inventory: inventoryWith((i) => (i.versions = { nomad })) }).synth();
    const [a, b] = [json("1.6.10"), json("1.6.11")];
    const buildOf = (j: typeof a, part: string) => nullResources(j, part)[0][1].triggers!.build_id;
    expect(buildOf(a, "image-client-amd64_build")).not.toBe(buildOf(b, "image-client-amd64_build"));
    expect(buildOf(a, "node-w1")).not.toBe(buildOf(b, "node-w1"));
  });

  test("adding a netbooted node rebuilds nothing", () => {
    const base = netbootStack().synth();
    const more = netbootStack({
      inventory: inventoryWith((i) => i.nodes.push({ ...i.nodes[6], hostname: "w4", ip: "10.25.89.24", mac: "00:1e:06:45:99:01", extraMacs: [] })),
    }).synth();
    const hash = (j: typeof base) => nullResources(j, "image-client-amd64_build")[0][1].triggers;
    expect(hash(more)).toEqual(hash(base));
    expect(nullResources(more, "node-w4")).toHaveLength(1);
  });
});
