/**
 * The generated exports served by a real NFS server (nfs-ganesha, user space: the kernel here
 * has no nfsd) and used by a real NFS client (libnfs). Skipped, with the reason in the test's
 * name, where ganesha or libnfs-utils is not installed or the test does not run as root.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { nfsExportEntries, renderExports } from "../constructs/netboot/nfs-exports";
import { freePort } from "../e2e/free-port";
import { requires } from "./helpers/requires";
import { ganeshaConfig, ganeshaMissing, nfsTool, parseExportsFile, RunningGanesha, startGanesha } from "../e2e/nfs/ganesha";
import { inventoryWith, LooseInput } from "./helpers/inventory";

const withGanesha = requires("ganesha", ganeshaMissing()).test;

/** Serves the exports generated from an inventory (the util node's exports changed by `change`), as activation would lay them out. */
async function serve(change: (i: LooseInput) => void): Promise<{ root: string; server: RunningGanesha; done: () => Promise<void> }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-nfs-"));
  const entries = nfsExportEntries(inventoryWith(change));
  for (const e of entries) for (const dir of [e.path, ...(e.directories ?? [])]) fs.mkdirSync(path.join(root, dir), { recursive: true });
  const port = await freePort();
  const server = await startGanesha(ganeshaConfig(renderExports(entries), root, port, path.join(root, ".ganesha")), port, path.join(root, ".ganesha"));
  return {
    root,
    server,
    done: async () => {
      await server.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

describe("the generated NFS exports under a real NFS server", () => {
  test("the exports file translates line by line; an unknown option is refused", () => {
    expect(parseExportsFile("# c\n/opt/nfs 10.25.89.0/24(rw,sync,no_subtree_check,no_root_squash)\n")).toEqual([
      { path: "/opt/nfs", clients: [{ client: "10.25.89.0/24", options: ["rw", "sync", "no_subtree_check", "no_root_squash"] }] },
    ]);
    expect(() => ganeshaConfig("/opt/nfs 1.2.3.4(rw,insecure)\n", "/r", 2049, "/s")).toThrow('option "insecure" has no ganesha translation');
    expect(() => parseExportsFile("/opt/nfs\n")).toThrow("not \"path client(options)...\"");
  });

  withGanesha("a client the export names writes through NFS into the exported directory, and reads it back", async () => {
    // The lab's subnet (so the workers mount it and their volumes' directories are made), and this machine.
    const { root, server, done } = await serve((i) => (i.nodes[0].nfsExports = [{ path: "/opt/nfs", clients: ["10.25.89.0/24", "127.0.0.1"] }]));
    try {
      const ls = nfsTool("nfs-ls", server.url("/opt/nfs"));
      expect(ls).toEqual({ status: 0, output: expect.stringContaining("gitea") }); // the NFS volumes' directories
      const local = path.join(root, "note.txt");
      fs.writeFileSync(local, "written over NFS\n");
      const copy = nfsTool("nfs-cp", local, server.url("/opt/nfs/gitea/note.txt"));
      expect(copy).toEqual({ status: 0, output: expect.any(String) });
      expect(fs.readFileSync(path.join(root, "opt/nfs/gitea/note.txt"), "utf8")).toBe("written over NFS\n");
      expect(nfsTool("nfs-cat", server.url("/opt/nfs/gitea/note.txt")).output).toBe("written over NFS\n");
    } finally {
      await done();
    }
  });

  withGanesha("a read-only export can be read and not written", async () => {
    const { root, server, done } = await serve((i) => (i.nodes[0].nfsExports = [{ path: "/srv/media", clients: ["127.0.0.1"], readOnly: true }]));
    try {
      fs.writeFileSync(path.join(root, "srv/media/song.txt"), "la\n");
      expect(nfsTool("nfs-cat", server.url("/srv/media/song.txt")).output).toBe("la\n");
      const local = path.join(root, "x.txt");
      fs.writeFileSync(local, "x\n");
      expect(nfsTool("nfs-cp", local, server.url("/srv/media/x.txt")).status).not.toBe(0);
      expect(fs.existsSync(path.join(root, "srv/media/x.txt"))).toBe(false);
    } finally {
      await done();
    }
  });

  withGanesha("the default inventory's export admits the lab's subnet only: this machine's loopback is refused", async () => {
    const { server, done } = await serve(() => undefined);
    try {
      const listing = nfsTool("nfs-ls", server.url("/opt/nfs"));
      expect(listing.status).not.toBe(0);
      // NFSv4's pseudo file system shows a client only the exports it may mount.
      expect(listing.output).toContain("(path /opt/nfs) failed with NFS4ERR_NOENT");
    } finally {
      await done();
    }
  });
});
