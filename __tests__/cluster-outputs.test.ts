import { Inventory } from "../nodes";
import { inventoryWith } from "./helpers/inventory";
import { stackOf, synthOf } from "./helpers/synth";

function outputsOf(inventory?: Inventory): Record<string, { value: unknown; sensitive?: boolean }> {
  return JSON.parse(synthOf(stackOf(inventory))).output;
}

describe("cluster outputs", () => {
  test("endpoints, builds per netbooted node, jobs and token accessors; never a secret", () => {
    const out = outputsOf();
    expect(Object.keys(out).sort()).toEqual(["consul_address", "consul_agent_token_accessors", "jobs", "node_image_builds", "nomad_address", "nomad_consul_token_accessors"]);
    expect(out.consul_address.value).toBe("https://10.25.89.10:8501");
    expect(out.nomad_address.value).toBe("https://10.25.89.10:4646");
    const builds = out.node_image_builds.value as Record<string, { build_id: string; channel: string; image: string }>;
    expect(Object.keys(builds)).toEqual(["w1", "w2", "w3"]);
    expect(builds.w1).toMatchObject({ image: "client-amd64", channel: "latest" });
    expect(builds.w2.build_id).toMatch(/^[0-9a-f]{16}$/);
    expect((out.jobs.value as Record<string, unknown>).whoami).toEqual({ type: "service", count: 3, image: "traefik/whoami:v1.10.3" });
    expect((out.jobs.value as Record<string, unknown>).traefik).toEqual({ type: "system", image: "traefik:v2.11" });
    expect((out.consul_agent_token_accessors.value as Record<string, string>).w2).toMatch(/^\$\{consul_acl_token\.cluster_consul-acl_agent-token-w2_[0-9A-F]+\.accessor_id\}$/);
    const text = JSON.stringify(out);
    expect(text).not.toMatch(/secret_id|var\.|gossip/);
    const references = text.match(/\$\{[^}]*\}/g) ?? [];
    expect(references.length).toBe(9);
    for (const r of references) expect(r).toMatch(/^\$\{consul_acl_token\.[^.]+\.accessor_id\}$/);
  });

  test("without ACLs there are no token outputs", () => {
    const out = outputsOf(inventoryWith((i) => (i.security = { acl: false })));
    expect(Object.keys(out)).not.toContain("consul_agent_token_accessors");
    expect(Object.keys(out)).toContain("node_image_builds");
  });
});
