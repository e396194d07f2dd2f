import { checkPlanJson, PlanJson, summarizePlan } from "../cli/plan-summary";

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
