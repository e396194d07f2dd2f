import { labServersProblems, withOneServer } from "../e2e/netboot/lab-servers";
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
