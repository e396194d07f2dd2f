import { labServersProblems, withOneServer } from "../e2e/netboot/lab-servers";
import { onPath } from "../e2e/on-path";
import { netbootInventoryInput } from "../e2e/netboot/harness";
import { DEFAULT_INVENTORY, parseInventory, serversOf } from "../nodes";

describe("the netboot lab's server (bench:netboot --cluster)", () => {
  test("withOneServer keeps the inventory's first server alone, and the inventory stays valid", () => {
    const input = netbootInventoryInput("bridge");
    const inventory = parseInventory(withOneServer(input), "bench inventory");
    expect(serversOf(inventory).map((s) => s.hostname)).toEqual(["m1"]);
    expect(inventory.nodes.filter((n) => n.role !== "server").map((n) => n.hostname)).toEqual(input.nodes.filter((n: { role: string }) => n.role !== "server").map((n: { hostname: string }) => n.hostname));
    expect(labServersProblems(inventory)).toEqual([]);
  });

  test("an inventory of three servers, or with security on, is refused with every problem named", () => {
    const inventory = parseInventory(DEFAULT_INVENTORY, "default inventory");
    expect(labServersProblems(inventory)).toEqual([
      `the lab's server: the inventory "${inventory.name}" has 3 servers (m1, m2, m3), expected exactly 1`,
      `the lab's server: security acl, tls, gossipEncryption on in the inventory "${inventory.name}", expected off (the netboot lab serves no secrets)`,
    ]);
  });
});

describe("an agent binary the lab or a suite needs, missing from PATH", () => {
  test("the error names the binary and how to get it: the suite's npm script by default, or the caller's own way", () => {
    expect(() => onPath("ely-no-such-agent", "test:agents")).toThrow("ely-no-such-agent is not on PATH: run this suite through `npm run test:agents`, which builds it (e2e/tools/build-tools.sh)");
    expect(() => onPath("ely-no-such-agent", "bench:netboot", "first build it")).toThrow("ely-no-such-agent is not on PATH: first build it");
    expect(onPath("sh", "test:agents")).toMatch(/\/sh$/);
  });
});
