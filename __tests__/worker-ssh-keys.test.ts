/**
 * How the worker reimage reaches a netbooted worker over ssh: the inventory's
 * images.rollout.sshAuthorizedKeys, served beside the worker's agent files, fetched at boot into
 * /root/.ssh/authorized_keys by the image's ely-agent-config (run here for real with curl against an
 * HTTP server holding the synthesized bundle, its node paths moved into a temporary directory).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { rootfsFiles } from "../images/rootfs-files";
import { rebootOverSsh } from "../cli/worker-reimage";
import { netbootStack } from "../e2e/netboot/netboot-stack";
import { inventoryWith } from "./helpers/inventory";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm0fRqZ0sYQ2b2bq3c9G3m2gK8cWm3kq1bq7YbqZb0x operator@laptop";

/** Serves files by URL path; everything else is a 404. */
async function serve(files: ReadonlyMap<string, string>): Promise<{ address: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const body = files.get(req.url ?? "");
    res.writeHead(body === undefined ? 404 : 200).end(body ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** The image's fetch-agent-config, its node paths moved under `root`, run for w1 against `util`. */
async function fetchAgentConfig(root: string, util: string): Promise<{ code: number; stdout: string }> {
  let script = rootfsFiles({ withAgents: true, withDocker: true, withSsh: true }).files.find((f) => f.path.endsWith("/fetch-agent-config"))!.content;
  for (const dir of ["/etc/ely", "/etc/consul.d", "/etc/nomad.d", "/root/.ssh"]) script = script.split(dir).join(path.join(root, dir));
  fs.mkdirSync(path.join(root, "etc/ely"), { recursive: true });
  fs.writeFileSync(path.join(root, "etc/ely/boot.env"), `ELY_HOSTNAME=w1\nELY_UTIL=${util}\nELY_IMAGE=client-amd64/0123456789abcdef\n`);
  try {
    const { stdout } = await promisify(execFile)("sh", ["-c", script]);
    return { code: 0, stdout };
  } catch (e) {
    return { code: (e as { code: number }).code, stdout: (e as { stdout: string }).stdout };
  }
}

describe("ssh keys of the netbooted workers", () => {
  test("the keys are served beside each netbooted node's agent files, and only theirs", () => {
    const { cluster } = netbootStack({ inventory: inventoryWith((i) => (i.images.rollout = { sshAuthorizedKeys: [KEY] })) });
    const served = [...cluster.agentConfigs.files.keys()].filter((f) => f.endsWith("/authorized_keys")).sort();
    expect(served).toEqual(["w1/authorized_keys", "w2/authorized_keys", "w3/authorized_keys"]);
    expect(cluster.agentConfigs.files.get("w1/authorized_keys")).toBe(`${KEY}\n`);
    expect([...netbootStack().cluster.agentConfigs.files.keys()].filter((f) => f.endsWith("/authorized_keys"))).toEqual([]);
  });

  test("a key line that is not one public key is refused, naming the field", () => {
    expect(() => inventoryWith((i) => (i.images.rollout = { sshAuthorizedKeys: [`${KEY}\nssh-rsa AAAA evil`] }))).toThrow(
      /field images\.rollout\.sshAuthorizedKeys\[0\]: received "ssh-ed25519 [^\n]*, expected an OpenSSH public key line like ssh-ed25519 AAAAC3\.\.\. operator@laptop/,
    );
    expect(() => inventoryWith((i) => (i.images.rollout = { sshAuthorizedKeys: [`command="reboot" ${KEY}`] }))).toThrow(/field images\.rollout\.sshAuthorizedKeys\[0\]/);
  });

  test("at boot the worker fetches them into root's authorized_keys (0600 in a 0700 directory); without keys it has none", async () => {
    const { cluster } = netbootStack({ inventory: inventoryWith((i) => (i.images.rollout = { sshAuthorizedKeys: [KEY] })) });
    const files = new Map([...cluster.agentConfigs.files].map(([f, text]) => [`/config/${f}`, text]));
    const util = await serve(files);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ely-keys-"));
    try {
      const run = await fetchAgentConfig(root, util.address);
      expect(run.code).toBe(0);
      const keys = path.join(root, "root/.ssh/authorized_keys");
      expect(fs.readFileSync(keys, "utf8")).toBe(`${KEY}\n`);
      expect(fs.statSync(keys).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(keys)).mode & 0o777).toBe(0o700);
      expect(fs.existsSync(path.join(root, "etc/nomad.d/nomad.json"))).toBe(true);

      files.delete("/config/w1/authorized_keys");
      const other = fs.mkdtempSync(path.join(os.tmpdir(), "ely-keys-"));
      const without = await fetchAgentConfig(other, util.address);
      expect(without.code).toBe(0);
      expect(without.stdout).toContain("/config/w1/authorized_keys: none for this node");
      expect(fs.existsSync(path.join(other, "root/.ssh/authorized_keys"))).toBe(false);
    } finally {
      await util.close();
    }
  });

  test("a worker ssh cannot reach: the reboot fails with ssh's own reason, bounded", async () => {
    const closed = await serve(new Map());
    const port = Number(closed.address.split(":")[1]);
    await closed.close();
    const started = Date.now();
    await expect(rebootOverSsh({ host: "w1", address: "127.0.0.1", user: "root", port, options: ["BatchMode=yes", "StrictHostKeyChecking=accept-new"] })).rejects.toThrow(
      new RegExp(`^ssh root@127\\.0\\.0\\.1 -p ${port} exited with 255: .*Connection refused`),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
