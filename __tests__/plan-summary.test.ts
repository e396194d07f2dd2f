import * as fs from "fs";
import * as path from "path";
import { changedParts, checkPlanJson, describeDrift, PlanJson, summarizePlan } from "../cli/plan-summary";

function job(id: string, image: string, count = 1, cpu = 100, memory = 128) {
  return { jobspec: JSON.stringify({ Job: { ID: id, TaskGroups: [{ Count: count, Tasks: [{ Config: { image }, Resources: { CPU: cpu, MemoryMB: memory } }] }] } }) };
}
function change(address: string, type: string, actions: string[], before: unknown, after: unknown) {
  return { address, type, name: address.split(".").pop(), change: { actions, before, after } };
}

describe("plan summary", () => {
  test("jobs with image, count and resources before and after", () => {
    const plan = { resource_changes: [change("nomad_job.web", "nomad_job", ["update"], job("web", "site:1", 3, 100, 64), job("web", "site:2", 4, 200, 64))] } as PlanJson;
    expect(summarizePlan(plan)).toContain("- **web** (update): image site:1 → site:2; count 3 → 4; cpu MHz 100 → 200");
  });

  test("nodes that reimage, with the image inputs that changed", () => {
    const image = (packages: string) => ({ triggers: { image: "client-amd64", input_hash: packages + "h", input_packages: packages, input_initrd: "i", build_id: packages } });
    const node = (build: string) => ({ triggers: { hostname: "w1", image: "client-amd64", build_id: build, channel: "stable" } });
    const plan = {
      resource_changes: [
        change("null_resource.netboot_image-client-amd64_build", "null_resource", ["delete", "create"], image("a"), image("b")),
        change("null_resource.netboot_node-w1", "null_resource", ["delete", "create"], node("a"), node("b")),
      ],
    } as PlanJson;
    const md = summarizePlan(plan);
    expect(md).toContain("### Nodes that will reimage");
    expect(md).toContain("- **w1** (replace): client-amd64 build a → b (channel stable)");
    expect(md).toContain("- image `client-amd64` rebuilt (replace) — changed: packages");
    expect(md).not.toContain("### Other");
  });

  test("anything destroyed gets a loud warning at the top; no-ops are left out", () => {
    const plan = {
      resource_changes: [
        change("consul_acl_policy.dns", "consul_acl_policy", ["delete"], {}, null),
        change("consul_key_prefix.kv", "consul_key_prefix", ["no-op"], {}, {}),
        change("dns_cname_record.www", "dns_cname_record", ["create"], null, {}),
      ],
    } as PlanJson;
    const md = summarizePlan(plan);
    expect(md.indexOf("DESTROYED")).toBeLessThan(md.indexOf("### DNS"));
    expect(md).toContain("2 changes: 1 to destroy, 1 to create.");
    expect(md).toContain("### ACLs\n\n- destroy `consul_acl_policy.dns`");
    expect(md).not.toContain("consul_key_prefix");
  });

  test("stays under the limit however large the plan, saying how much it left out", () => {
    const many = Array.from({ length: 20000 }, (_, i) => change(`nomad_job.j${i}`, "nomad_job", ["update"], job(`j${i}`, "a:1"), job(`j${i}`, "a:2")));
    const md = summarizePlan({ resource_changes: many } as PlanJson);
    expect(md.length).toBeLessThan(60000);
    expect(md).toMatch(/- … and \d+ more/);
    expect(md).toContain("20000 changes: 20000 to update.");
  });

  test("an empty plan says so", () => {
    expect(summarizePlan({})).toContain("No changes.");
  });
});

describe("plan check", () => {
  // `terraform show -json` of a real plan (Terraform 1.11) of a configuration with one output and no resource.
  const realPlan = {
    format_version: "1.2",
    terraform_version: "1.11.4",
    variables: { x: { value: "v" } },
    planned_values: { outputs: { o: { sensitive: true, type: "string", value: "v" } }, root_module: {} },
    output_changes: { o: { actions: ["create"], before: null, after: "v", after_unknown: false, before_sensitive: true, after_sensitive: true } },
    configuration: { root_module: {} },
    timestamp: "2026-11-29T06:27:07Z",
    applyable: true,
    complete: true,
    errored: false,
  };
  const expected = "expected the JSON of `terraform show -json <plan file>` (an object with format_version, planned_values and resource_changes)";

  test("a plan without resource changes passes and says No changes.", () => {
    expect(summarizePlan(checkPlanJson(realPlan, "plan.json"))).toContain("No changes.");
  });

  test("a plan with resource changes passes", () => {
    const plan = { ...realPlan, resource_changes: [change("nomad_job.web", "nomad_job", ["create"], null, {})] };
    expect(checkPlanJson(plan, "plan.json")).toBe(plan);
  });

  test.each([
    ["any other JSON", { hello: "world" }, "plan.json: not a Terraform plan: field format_version: received nothing, " + expected],
    ["a number", 3, "plan.json: not a Terraform plan: field (top level): received 3, " + expected],
    ["null", null, "plan.json: not a Terraform plan: field (top level): received null, " + expected],
    ["a state", { format_version: "1.0", terraform_version: "1.11.4", values: {} }, "plan.json: not a Terraform plan: field planned_values: received nothing (this looks like a state: run `terraform show -json` on the plan file), " + expected],
    ["resource_changes not a list", { ...realPlan, resource_changes: {} }, "plan.json: not a Terraform plan: field resource_changes: received an object, " + expected],
    ["a change without actions", { ...realPlan, resource_changes: [{ address: "a.b", type: "a", change: {} }] }, "plan.json: not a Terraform plan: field resource_changes[0].change.actions: received nothing, " + expected],
    ["a change without address", { ...realPlan, resource_changes: [{ type: "a", change: { actions: [] } }] }, "plan.json: not a Terraform plan: field resource_changes[0].address: received nothing, " + expected],
  ])("refuses %s", (_name, value, message) => {
    expect(() => checkPlanJson(value, "plan.json")).toThrow(message);
  });

  test("refuses a plan that errored: its changes are incomplete", () => {
    expect(() => checkPlanJson({ ...realPlan, errored: true }, "plan.json")).toThrow(
      "plan.json: field errored: received true: the plan failed part way, its list of changes is incomplete; fix the errors and plan again",
    );
  });
});

/**
 * Drift, from real plans: e2e/convergence.e2e.ts scales the hello job by hand through Nomad's API and
 * edits the dns-read ACL policy through Consul's after an apply, then writes `terraform show -json` of
 * `terraform plan -refresh-only` and of a plain plan here (ELY_E2E_WRITE_FIXTURES=__tests__/fixtures;
 * only the nomad_job and consul_acl_policy entries that are not no-ops are kept).
 */
describe("drift", () => {
  const fixture = (name: string) => checkPlanJson(JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", name), "utf8")), name);
  const refreshOnly = fixture("plan-refresh-only.json");
  const withDrift = fixture("plan-with-drift.json");

  test("a refresh-only plan: what changed outside Terraform, in the cluster's terms, and no change", () => {
    const md = summarizePlan(refreshOnly);
    expect(md).toContain("2 resources changed outside Terraform since the last apply.\nNo changes.");
    expect(md).toContain("### Changed outside Terraform since the last apply");
    expect(md).toContain("- job **hello**: count 1 → 2 (scaled by hand?) — **this plan leaves it so** (nothing planned for it)");
    expect(md).toContain("- Consul ACL policy **dns-read**: rules edited — **this plan leaves it so** (nothing planned for it)");
  });

  test("a plan: the drift comes before the planned changes, each saying whether the plan changes it back", () => {
    const md = summarizePlan(withDrift);
    expect(md).toContain("1 change: 1 to update.");
    expect(md).toContain("- Consul ACL policy **dns-read**: rules edited — this plan changes it back");
    // The nomad provider plans from the jobspec alone: a count scaled by hand is not reverted.
    expect(md).toContain("- job **hello**: count 1 → 2 (scaled by hand?) — **this plan leaves it so** (nothing planned for it)");
    expect(md.indexOf("### Changed outside Terraform")).toBeLessThan(md.indexOf("### ACLs"));
    expect(md).toMatch(/### ACLs\n\n- update `consul_acl_policy\.cluster_consul-acl_dns-read-policy_[0-9A-F]+`/);
  });

  test("the drifted job is part of the picture of what the plan touches", () => {
    expect(changedParts(withDrift)).toEqual({ nodes: [], jobs: ["hello"] });
  });

  test("a resource deleted outside Terraform, a token's policies, and anything else by its attributes", () => {
    const drift = (type: string, actions: string[], before: Record<string, unknown> | null, after: Record<string, unknown> | null) =>
      describeDrift({ address: `${type}.x`, type, name: "x", change: { actions: actions as never, before, after } });
    expect(drift("nomad_acl_policy", ["delete"], { name: "operator" }, null)).toBe("- Nomad ACL policy **operator**: deleted outside Terraform (the plan creates it again)");
    expect(drift("consul_acl_token", ["update"], { description: "m1 agent", policies: ["a"] }, { description: "m1 agent", policies: ["a", "b"] })).toBe(
      "- Consul ACL token **m1 agent**: policies a → a, b",
    );
    expect(drift("consul_keys", ["update"], { key: [1], datacenter: "dc1" }, { key: [2], datacenter: "dc1" })).toBe("- `consul_keys.x`: changed outside Terraform (key)");
  });

  test("a plan whose resource_drift is malformed is refused, naming the field", () => {
    expect(() => checkPlanJson({ format_version: "1.2", planned_values: {}, resource_drift: [{ address: "a.b", type: "a", change: {} }] }, "plan.json")).toThrow(
      "plan.json: not a Terraform plan: field resource_drift[0].change.actions: received nothing",
    );
  });
});
