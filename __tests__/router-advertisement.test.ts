/**
 * The util node's IPv6 router advertisement (constructs/netboot/router-advertisement.ts): what is
 * rendered, and, where root and radvd are here, what the real radvd sends with the rendered
 * configuration, as ndisc6's rdisc6 sees it from another network namespace.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BootEntry, bootConfigOf, renderBootFiles, renderUtilUnits } from "../constructs/netboot/boot-service";
import {
  RADVD_CONFIG_SCRIPT,
  RADVD_RUN_CONFIG,
  RADVD_UNIT,
  radvdInterfaceBlock,
  radvdUnit,
  renderRadvdConfigScript,
} from "../constructs/netboot/router-advertisement";
import { missing, requires } from "./helpers/requires";

const entries: BootEntry[] = [
  { hostname: "w1", mac: "00:1e:06:45:28:5c", role: "client", arch: "amd64", imageKey: "client-amd64", buildId: "0123456789abcdef", channel: "latest" },
];
const base = { entries, utilAddress: "10.25.89.4", subnetCidr: "10.25.89.0/24", serverAddresses: ["10.25.89.10"] };

describe("rendered", () => {
  test("radvd's block: advertisements answer solicitations and claim no router, prefix, DHCPv6, hop limit or MTU", () => {
    const block = radvdInterfaceBlock("br0");
    expect(block.split("\n")[0]).toBe("interface br0 {");
    for (const line of ["AdvSendAdvert on;", "AdvDefaultLifetime 0;", "AdvCurHopLimit 0;", "AdvManagedFlag off;", "AdvOtherConfigFlag off;", "AdvLinkMTU 0;"]) {
      expect(block).toContain(`  ${line}`);
    }
    expect(block).not.toMatch(/prefix|route |RDNSS/);
  });

  test("by default the boot release carries the script and the unit, and activate.sh starts radvd or warns that it is missing", () => {
    const config = bootConfigOf(base);
    const files = renderBootFiles(config);
    expect(files.get(RADVD_CONFIG_SCRIPT)).toBe(renderRadvdConfigScript(config));
    expect(files.get(`systemd/${RADVD_UNIT}`)).toBe(radvdUnit("/srv/ely/boot/current"));
    const activate = files.get("activate.sh")!;
    expect(activate).toContain(`systemctl enable --quiet ${RADVD_UNIT}`);
    expect(activate).toContain(`systemctl restart ${RADVD_UNIT}`);
    expect(activate).toContain("ely-boot: WARNING: radvd is missing: iPXE waits about 16 s for an IPv6 router at every netboot (apt-get install radvd)");
    expect(spawnSync("sh", ["-n", "-c", activate]).status).toBe(0);
  });

  test("the unit writes the configuration with the release's script, then runs radvd on it", () => {
    const unit = radvdUnit("/srv/ely/boot/current");
    expect(unit).toContain(`ExecStartPre=/bin/sh /srv/ely/boot/current/${RADVD_CONFIG_SCRIPT} ${RADVD_RUN_CONFIG}`);
    expect(unit).toMatch(new RegExp(`^ExecStart=/usr/sbin/radvd --nodaemon .*--config=${RADVD_RUN_CONFIG} `, "m"));
    expect(unit).toContain("ConditionFileIsExecutable=/usr/sbin/radvd");
  });

  test("routerAdvertisement false: no script, no unit, and activate.sh removes the unit an earlier release installed", () => {
    const config = bootConfigOf({ ...base, routerAdvertisement: false });
    const files = renderBootFiles(config);
    expect(files.has(RADVD_CONFIG_SCRIPT)).toBe(false);
    expect(Object.keys(renderUtilUnits(config))).toEqual(["ely-dnsmasq.service", "ely-http.service"]);
    const activate = files.get("activate.sh")!;
    expect(activate).toContain(`systemctl disable --now --quiet ${RADVD_UNIT} || true`);
    expect(activate).toContain(`rm -f /etc/systemd/system/${RADVD_UNIT}`);
    expect(activate).not.toContain(`systemctl restart ${RADVD_UNIT}`);
    expect(spawnSync("sh", ["-n", "-c", activate]).status).toBe(0);
  });

  test("the script advertises on the named DHCP interface, else on the one holding the util address", () => {
    const named = renderRadvdConfigScript({ utilAddress: "10.25.89.4", dhcpInterface: "enp1s0" });
    expect(named).toMatch(/^iface=enp1s0$/m);
    expect(named).not.toContain("ip -o -4 addr show |");
    const found = renderRadvdConfigScript({ utilAddress: "10.25.89.4" });
    expect(found).toContain(`iface=$(ip -o -4 addr show | awk -v a=10.25.89.4 `);
    for (const script of [named, found]) expect(spawnSync("sh", ["-n", "-c", script]).status).toBe(0);
  });
});

/** Runs a command in a network namespace. */
function inNetns(ns: string, command: string[], input?: string): ReturnType<typeof spawnSync> {
  return spawnSync("ip", ["netns", "exec", ns, ...command], { encoding: "utf8", input });
}

function ip(...args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

/** Waits until the link has its IPv6 link-local address (once both ends of the veth are up), at most 10 s. */
async function linkLocalOf(ns: string, dev: string): Promise<string> {
  const since = Date.now();
  for (;;) {
    const shown = String(inNetns(ns, ["ip", "-o", "-6", "addr", "show", "dev", dev, "scope", "link"]).stdout);
    const address = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(shown)?.[1];
    if (address && !/tentative/.test(shown)) return address;
    if (Date.now() - since > 10_000) throw new Error(`${dev} in ${ns} has no link-local address after 10 s: ${shown.trim() || "none"}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const why = missing("root") ?? missing("radvd");
requires("radvd", why).describe("the real radvd with the rendered configuration", () => {
  // The util node's namespace holds the util address on "lan0"; a host's namespace sits at the other end.
  const util = `ely-ra-util-${process.pid}`;
  const host = `ely-ra-host-${process.pid}`;
  let dir: string;
  let radvd: ChildProcess | undefined;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ely-radvd-"));
    ip("netns", "add", util);
    ip("netns", "add", host);
    // No duplicate address detection: the link-local addresses are usable as soon as the links are up.
    for (const ns of [util, host]) expect(inNetns(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"]).status).toBe(0);
    ip("link", "add", "lan0", "netns", util, "type", "veth", "peer", "name", "eth0", "netns", host);
    ip("-n", util, "addr", "add", "10.25.89.4/24", "dev", "lan0");
    ip("-n", util, "link", "set", "lan0", "up");
    ip("-n", host, "link", "set", "eth0", "up");
  });

  afterAll(async () => {
    if (radvd && radvd.exitCode === null) {
      const exited = new Promise((resolve) => radvd!.once("exit", resolve));
      radvd.kill("SIGTERM");
      await exited;
    }
    spawnSync("ip", ["netns", "del", util]);
    spawnSync("ip", ["netns", "del", host]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the script finds the interface holding the util address and writes a configuration radvd accepts", () => {
    const script = path.join(dir, RADVD_CONFIG_SCRIPT);
    fs.writeFileSync(script, renderRadvdConfigScript({ utilAddress: "10.25.89.4" }));
    const conf = path.join(dir, "radvd.conf");
    const run = inNetns(util, ["sh", script, conf]);
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("ely-radvd: advertising on lan0\n");
    expect(fs.readFileSync(conf, "utf8")).toContain(radvdInterfaceBlock("lan0"));
    expect(fs.existsSync(`${conf}.tmp`)).toBe(false);
    const check = inNetns(util, ["radvd", "--configtest", `--config=${conf}`, "--logmethod=stderr"]);
    expect(check.status).toBe(0);
  });

  test("without an interface holding the util address, the script fails saying so and leaves the old file", () => {
    const script = path.join(dir, "other.sh");
    fs.writeFileSync(script, renderRadvdConfigScript({ utilAddress: "10.25.89.99" }));
    const conf = path.join(dir, "kept.conf");
    fs.writeFileSync(conf, "before\n");
    const run = inNetns(util, ["sh", script, conf]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      "ely-radvd: no interface holds the util node's address 10.25.89.99 (ip -o -4 addr show); name one with the boot service's dhcpInterface\n",
    );
    expect(fs.readFileSync(conf, "utf8")).toBe("before\n");
  });

  test("a host's router solicitation gets an advertisement with router lifetime 0, no prefix, no M or O flag, no hop limit", async () => {
    const conf = path.join(dir, "radvd.conf");
    await linkLocalOf(util, "lan0");
    await linkLocalOf(host, "eth0");
    radvd = spawn("ip", ["netns", "exec", util, "radvd", "--nodaemon", "--logmethod=stderr", `--config=${conf}`, `--pidfile=${path.join(dir, "radvd.pid")}`], { stdio: "ignore" });
    // rdisc6 solicits until an advertisement answers (-w ms between tries, -r tries): radvd is up within the first seconds.
    const answer = inNetns(host, ["rdisc6", "-1", "-w", "1000", "-r", "10", "eth0"]);
    const out = String(answer.stdout);
    expect({ status: answer.status, stderr: String(answer.stderr) }).toEqual({ status: 0, stderr: "" });
    expect(out).toMatch(/^Router lifetime\s*:\s*0 \(0x00000000\) seconds$/m);
    expect(out).toMatch(/^Stateful address conf\.\s*:\s*No$/m);
    expect(out).toMatch(/^Stateful other conf\.\s*:\s*No$/m);
    expect(out).toMatch(/^Hop limit\s*:\s*undefined/m);
    expect(out).toMatch(/^Reachable time\s*:\s*unspecified/m);
    // rdisc6 prints each option indented: the only one is the router's link-layer address (no prefix, MTU, route or DNS).
    const options = out.split("\n").filter((l) => l.startsWith(" ") && !l.startsWith(" from "));
    expect(options.map((l) => l.split(":")[0].trim())).toEqual(["Source link-layer address"]);
  });
});
