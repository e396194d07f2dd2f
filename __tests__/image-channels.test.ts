/**
 * Image channels in the inventory (`images`): the rules' messages, and what the canary does:
 * after an image input changes (a new revision), w1 on "latest" boots the new build while w2
 * and w3 on "stable" keep the old one, and promoting "stable" changes exactly their entries.
 */
import { netbootStack } from "../e2e/netboot/netboot-stack";
import { formatProblem, Inventory, InventoryError, parseInventory, reimageOrder, validateInventory } from "../nodes";
import { defaultInput, LooseInput } from "./helpers/inventory";

const FILE = "mine.yaml";

/** Every error message of an inventory after a change, as `ely validate` prints them for a file. */
function errorsWith(change: (i: LooseInput) => void): string[] {
  const input = defaultInput();
  change(input);
  let inventory: Inventory;
  try {
    inventory = parseInventory(input, FILE);
  } catch (e) {
    if (e instanceof InventoryError) return e.problems.map((p) => formatProblem(p, FILE));
    throw e;
  }
  return validateInventory(inventory)
    .filter((p) => p.severity === "error")
    .map((p) => formatProblem(p, FILE));
}

function inventoryOf(change: (i: LooseInput) => void = () => undefined): Inventory {
  const input = defaultInput();
  change(input);
  return parseInventory(input, FILE);
}

describe("image channel rules", () => {
  test("the default inventory: one revision, stable pinned to it, w1 on latest", () => {
    const inventory = inventoryOf();
    expect(inventory.images).toEqual({
      revisions: [{ name: "initial", extraPackages: {} }],
      channels: { stable: "initial" },
      rollout: { maxUnavailable: 1, drainDeadlineSeconds: 600, bootTimeoutSeconds: 1200, sshAuthorizedKeys: [], allowJobDowntime: false },
    });
    expect(errorsWith(() => undefined)).toEqual([]);
  });

  test("an inventory without `images` gets one revision, every channel on it", () => {
    const inventory = inventoryOf((i) => delete i.images);
    expect(inventory.images.revisions.map((r) => r.name)).toEqual(["current"]);
    expect(inventory.images.channels).toEqual({});
  });

  test("a node on an unknown channel", () => {
    expect(errorsWith((i) => (i.nodes[5].imageChannel = "beta"))).toEqual([
      'error ELY-IMG-004: mine.yaml, node w2, field nodes[5].imageChannel: received "beta", expected one of "latest", "stable" (a channel of images.channels, or "latest" or "stable")',
    ]);
  });

  test("a channel naming a revision that does not exist", () => {
    expect(errorsWith((i) => (i.images.channels.stable = "2026-12"))).toEqual([
      'error ELY-IMG-003: mine.yaml, field images.channels.stable: received "2026-12", expected the name of a revision in images.revisions: "initial"',
    ]);
  });

  test("latest cannot be pinned", () => {
    expect(errorsWith((i) => (i.images.channels.latest = "initial"))).toEqual([
      'error ELY-IMG-002: mine.yaml, field images.channels.latest: received "initial", expected no entry: "latest" always boots the newest revision (the last of images.revisions, "initial")',
    ]);
  });

  test("a revision name given twice", () => {
    expect(errorsWith((i) => i.images.revisions.push({ name: "initial" }))).toEqual([
      'error ELY-IMG-001: mine.yaml, field images.revisions[1].name: received "initial", expected a unique revision name; images.revisions[0] has it already',
    ]);
  });

  test("extra packages for an image no netbooted node boots", () => {
    expect(errorsWith((i) => (i.images.revisions[0].extraPackages = { "server-arm64": ["htop"] }))).toEqual([
      'error ELY-IMG-005: mine.yaml, field images.revisions[0].extraPackages.server-arm64: received packages for an image no netbooted node boots, expected one of "client-amd64"',
    ]);
  });

  test("formats: a channel, a revision, an image name, a package, no revision at all, the rollout's bounds", () => {
    expect(
      errorsWith((i) => {
        i.nodes[4].imageChannel = "Latest";
        i.images.channels = { stable: "initial; reboot" };
        i.images.revisions[0].extraPackages = { "client-riscv": ["htop"], "client-amd64": ["-rf"] };
        i.images.rollout = { maxUnavailable: 0, bootTimeoutSeconds: 5 };
      }),
    ).toEqual([
      'error ELY-STR-025: mine.yaml, field images.revisions[0].extraPackages.client-riscv: received "client-riscv", expected an image name <role>-<arch> like client-amd64 (roles util, server, client; architectures amd64, arm64)',
      'error ELY-STR-018: mine.yaml, field images.revisions[0].extraPackages.client-amd64[0]: received "-rf", expected a Debian package name like htop (lowercase letters, digits, +, - and .)',
      'error ELY-STR-017: mine.yaml, field images.channels.stable: received "initial; reboot", expected the name of a revision in images.revisions (lowercase letters, digits, - and _, at most 32)',
      "error ELY-SCH-005: mine.yaml, field images.rollout.maxUnavailable: received 0, expected at least 1",
      "error ELY-SCH-005: mine.yaml, field images.rollout.bootTimeoutSeconds: received 5, expected at least 30",
      'error ELY-STR-017: mine.yaml, node w1, field nodes[4].imageChannel: received "Latest", expected a channel name like stable or latest (lowercase letters, digits, - and _, at most 32)',
    ]);
    expect(errorsWith((i) => (i.images.revisions = []))).toEqual(["error ELY-SCH-005: mine.yaml, field images.revisions: received [], expected at least 1 item(s)"]);
  });

  test("every channel problem at once, with the inventory's other problems", () => {
    const errors = errorsWith((i) => {
      i.nodes[5].imageChannel = "beta";
      i.nodes[6].imageChannel = "gamma";
      i.images.channels = { stable: "nope", latest: "initial" };
      delete i.nodes[6].mac;
    });
    expect(errors).toHaveLength(5);
    expect(errors.join("\n")).toMatch(/nodes\[6\]\.mac[\s\S]*images\.channels\.stable[\s\S]*images\.channels\.latest[\s\S]*nodes\[5\]\.imageChannel[\s\S]*nodes\[6\]\.imageChannel/);
  });
});

describe("channels at work", () => {
  const withNext = (i: LooseInput) => i.images.revisions.push({ name: "next", extraPackages: { "client-amd64": ["htop"] } });
  const buildsOf = (inventory: Inventory) => Object.fromEntries(netbootStack({ inventory }).netboot.entries.map((e) => [e.hostname, e.buildId]));

  test("after an image input changes, w1 on latest boots the new build, w2 and w3 on stable keep the old one", () => {
    const before = buildsOf(inventoryOf());
    const after = buildsOf(inventoryOf(withNext));
    expect(after.w1).not.toBe(before.w1);
    expect(after.w2).toBe(before.w2);
    expect(after.w3).toBe(before.w3);
  });

  test("promoting stable is one line, and changes exactly the entries of the nodes on stable", () => {
    const triggers = (inventory: Inventory) => {
      const json = netbootStack({ inventory }).synth();
      return Object.fromEntries(
        Object.entries(json.resource.null_resource)
          .filter(([id]) => /_node-w\d_/.test(id))
          .map(([id, r]) => [id.replace(/_[0-9A-F]{8}$/, ""), JSON.stringify(r.triggers)]),
      );
    };
    const before = triggers(inventoryOf(withNext));
    const after = triggers(
      inventoryOf((i) => {
        withNext(i);
        i.images.channels.stable = "next";
      }),
    );
    const changed = Object.keys(after).filter((id) => before[id] !== after[id]);
    expect(changed.sort()).toEqual(["netboot_node-w2", "netboot_node-w3"]);
    const builds = buildsOf(inventoryOf((i) => (withNext(i), (i.images.channels.stable = "next"))));
    expect(new Set(Object.values(builds)).size).toBe(1);
  });

  test("reimage order: the canary channel first, then stable, then the other channels, by hostname", () => {
    const entries = [
      { hostname: "w3", channel: "stable" },
      { hostname: "w9", channel: "beta" },
      { hostname: "w2", channel: "stable" },
      { hostname: "w5", channel: "latest" },
    ];
    expect(reimageOrder(entries).map((e) => e.hostname)).toEqual(["w5", "w2", "w3", "w9"]);
  });
});
