import { spawnSync } from "child_process";
import { bootConfigOf, renderActivateScript } from "../constructs/netboot/boot-service";
import { exportEntryProblems, exportOptions, nfsExportEntries, renderExports } from "../constructs/netboot/nfs-exports";
import { netbootStack } from "../e2e/netboot/netboot-stack";
import { defaultInventory, inventoryWith } from "./helpers/inventory";
import { formatProblem } from "../nodes";

/** exports(5) lines, comments and blank lines left out, as [path, [client, options][]]. */
function parseExports(text: string): Array<[string, Array<[string, string[]]>]> {
  return text
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith("#"))
    .map((line) => {
      const [path, ...clients] = line.split(/\s+/);
      return [path, clients.map((c) => {
        const m = /^([^()]+)\(([^()]*)\)$/.exec(c);
        if (!m) throw new Error(`not client(options): ${c}`);
        return [m[1], m[2].split(",")];
      })];
    });
}

describe("NFS exports of the util node", () => {
  test("the default inventory: /opt/nfs to the subnet, read-write, sync, no root squash (snapshot)", () => {
    const text = renderExports(nfsExportEntries(defaultInventory()));
    expect(parseExports(text)).toEqual([["/opt/nfs", [["10.25.89.0/24", ["rw", "sync", "no_subtree_check", "no_root_squash"]]]]]);
    expect(text).toMatchSnapshot();
  });

  test("the NFS-backed host volumes' directories are made under the export", () => {
    expect(nfsExportEntries(defaultInventory())[0].directories).toEqual(["/opt/nfs/gitea", "/opt/nfs/prometheus", "/opt/nfs/registry", "/opt/nfs/traefik"]);
  });

  test("read-only, root squash, several clients and exports: one line each, every client with the export's options", () => {
    const inventory = inventoryWith((i) => {
      i.nodes[0].nfsExports = [
        { path: "/opt/nfs" },
        { path: "/srv/media/", mountPoint: "/mnt/media", clients: ["10.25.89.21", "10.25.89.0/25"], readOnly: true, rootSquash: true },
      ];
    });
    const parsed = parseExports(renderExports(nfsExportEntries(inventory)));
    expect(parsed.map(([path]) => path)).toEqual(["/opt/nfs", "/srv/media"]);
    expect(parsed[1][1]).toEqual([
      ["10.25.89.21", ["ro", "sync", "no_subtree_check", "root_squash"]],
      ["10.25.89.0/25", ["ro", "sync", "no_subtree_check", "root_squash"]],
    ]);
    // Every line is "path client(opts)...": nothing an inventory string could add.
    expect(renderExports(nfsExportEntries(inventory)).split("\n").filter((l) => l && !l.startsWith("#"))).toHaveLength(2);
  });

  test("entries given to the boot service directly are checked too", () => {
    expect(exportEntryProblems([{ path: "/a b", clients: ["everyone"], readOnly: false, rootSquash: false, directories: ["/a/\"x"] }, { path: "/b", clients: [], readOnly: false, rootSquash: false }]).map((p) => formatProblem(p))).toEqual([
      'error ELY-STR-005: boot service, field nfsExports[0].path: received "/a b", expected a directory on the util node: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no "..", no trailing /)',
      'error ELY-STR-005: boot service, field nfsExports[0].directories[0]: received "/a/\\"x", expected a directory on the util node: an absolute path like /mnt/nfs/gitea (segments of letters, digits, ., _ and -; no spaces, no "..", no trailing /)',
      'error ELY-STR-027: boot service, field nfsExports[0].clients[0]: received "everyone", expected an IPv4 subnet (10.25.89.0/24) or address',
      "error ELY-NET-005: boot service, field nfsExports[1].clients: received none, expected at least one subnet or address",
    ]);
    expect(exportOptions({ path: "/x", clients: ["1.2.3.4"], readOnly: true, rootSquash: false })).toBe("ro,sync,no_subtree_check,no_root_squash");
  });

  test("published with the boot files; activation makes the directories, installs the file and runs exportfs -ra", () => {
    const { netboot } = netbootStack();
    const files = netboot.bootService!.files;
    expect(files.get("exports")).toBe(renderExports(nfsExportEntries(defaultInventory())));
    const script = files.get("activate.sh")!;
    expect(script).toContain("mkdir -p '/opt/nfs' '/opt/nfs/gitea' '/opt/nfs/prometheus' '/opt/nfs/registry' '/opt/nfs/traefik'");
    expect(script).toContain('install -m 0644 "$dir/exports" /etc/exports.d/ely.exports');
    expect(script).toContain("exportfs -ra");
    expect(script).toContain("apt-get install nfs-kernel-server");
    expect(spawnSync("sh", ["-n", "-c", script]).status).toBe(0);
  });

  test("without exports the file is empty of entries and activation does not ask for an NFS server", () => {
    const config = bootConfigOf({ entries: [], utilAddress: "10.25.89.4", subnetCidr: "10.25.89.0/24", serverAddresses: [] });
    expect(parseExports(renderExports(config.nfsExports))).toEqual([]);
    expect(renderActivateScript(config)).not.toContain("nfs-kernel-server");
  });
});
