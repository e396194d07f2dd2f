/**
 * The worker rollout in the plan (constructs/rollout/worker-reimage.ts): one step per netbooted
 * worker, the canary channel first, in waves of images.rollout.maxUnavailable after the util node
 * serves the new builds and after the servers; triggers that plan nothing for an unchanged image and
 * exactly the moving workers for a promotion; and the plan summary naming them in order.
 */
import { summarizePlan, PlanJson } from "../cli/plan-summary";
import { ElyStack } from "../constructs";
import { Inventory } from "../nodes";
import { inventoryWith, LooseInput } from "./helpers/inventory";
import { stackOf, synthOf, validationErrorsOf } from "./helpers/synth";

interface NullResource {
  triggers?: Record<string, string>;
  depends_on?: string[];
  provisioner?: { "local-exec": { command: string; environment?: Record<string, string> } }[];
}

function nullResources(stack: ElyStack): Record<string, NullResource> {
  return JSON.parse(synthOf(stack)).resource.null_resource;
}

/** The reimage steps of a synth, by worker: [logical id, resource]. */
function steps(stack: ElyStack): Map<string, [string, NullResource]> {
  return new Map(
    Object.entries(nullResources(stack))
      .filter(([id]) => id.startsWith("worker-reimage_"))
      .map(([id, r]) => [r.triggers!.worker, [id, r]]),
  );
}

const withNext = (i: LooseInput) => i.images.revisions.push({ name: "next", extraPackages: { "client-amd64": ["htop"] } });

/**
 * What `terraform plan` does with null_resources between two synths of a cluster: a resource whose
 * triggers differ is replaced, a new one created. Enough for the summary's reimage sections.
 */
function planBetween(before: Inventory, after: Inventory): PlanJson {
  const a = nullResources(stackOf(before));
  const b = nullResources(stackOf(after));
  const changes = Object.entries(b).flatMap(([id, r]) => {
    const old = a[id];
    if (old && JSON.stringify(old.triggers) === JSON.stringify(r.triggers)) return [];
    return [{ address: `null_resource.${id}`, type: "null_resource", name: id, change: { actions: old ? ["delete", "create"] : ["create"], before: old ? { triggers: old.triggers } : null, after: { triggers: r.triggers } } }];
  });
  return { resource_changes: changes } as PlanJson;
}

describe("worker reimage", () => {
  test("one step per netbooted worker, the canary first, one at a time, after the boot publish and the servers", () => {
    const stack = stackOf();
    expect(validationErrorsOf(stack)).toEqual([]);
    expect(stack.workerReimage.steps.map((s) => [s.hostname, s.position, s.wave])).toEqual([
      ["w1", 1, 1],
      ["w2", 2, 2],
      ["w3", 3, 3],
    ]);
    const byWorker = steps(stack);
    const [w1Id, w1] = byWorker.get("w1")!;
    const [w2Id, w2] = byWorker.get("w2")!;
    const [, w3] = byWorker.get("w3")!;
    const build = stack.netboot.entryOf("w1")!.buildId;
    expect(w1.triggers).toEqual({ worker: "w1", image: "client-amd64", build_id: build, channel: "latest" });
    expect(w1.depends_on).toEqual(expect.arrayContaining([expect.stringMatching(/^null_resource\.netboot_boot-publish_/), expect.stringMatching(/^null_resource\.server-rollout_m3_nomad-consul-token_/)]));
    expect(w2.depends_on).toContain(`null_resource.${w1Id}`);
    expect(w3.depends_on).toContain(`null_resource.${w2Id}`);
    const exec = w1.provisioner![0]["local-exec"];
    expect(exec.command).toContain(`/dist/cli/worker-reimage.js" reimage --node w1 --address 10.25.89.21 --build ${build} --batch w1`);
    expect(exec.command).toContain(" --nomad https://10.25.89.10:4646 --consul https://10.25.89.10:8501 --workers w1,w2,w3 --max-unavailable 1 --drain-deadline 600 --boot-timeout 1200");
    expect(exec.command).toContain(" --ssh-option BatchMode=yes --ssh-option ConnectTimeout=10");
    // A netbooted worker makes new host keys at every boot: the reboot does not check them (WORKER_SSH_OPTIONS).
    expect(exec.command).toContain(" --ssh-option StrictHostKeyChecking=no --ssh-option UserKnownHostsFile=/dev/null ");
    // Tokens reach the program through its environment, from the sensitive variables: never on the command line.
    expect(exec.environment).toEqual({ ELY_SECRET_NOMAD_TOKEN: "${var.nomad_token}", ELY_SECRET_CONSUL_TOKEN: "${var.consul_token}" });
    expect(exec.command).not.toContain("token");
  });

  test("maxUnavailable 2: waves of two, each wave after the whole previous one; a reboot command instead of ssh", () => {
    const inventory = inventoryWith((i) => (i.images.rollout = { maxUnavailable: 2 }));
    const app = stackOf(inventory).node.root;
    const stack = new ElyStack(app, "second", { inventory: { ...inventory }, jobs: [], workerReimage: { rebootCommand: "ipmitool power cycle" } });
    expect(stack.workerReimage.steps.map((s) => [s.hostname, s.wave])).toEqual([
      ["w1", 1],
      ["w2", 1],
      ["w3", 2],
    ]);
    const byWorker = steps(stack);
    const w3 = byWorker.get("w3")![1];
    expect(w3.depends_on).toEqual(expect.arrayContaining([`null_resource.${byWorker.get("w1")![0]}`, `null_resource.${byWorker.get("w2")![0]}`]));
    expect(byWorker.get("w2")![1].depends_on).not.toContain(`null_resource.${byWorker.get("w1")![0]}`);
    const command = byWorker.get("w1")![1].provisioner![0]["local-exec"].command;
    expect(command).toContain("--batch w1,w2 ");
    expect(command).toContain("--max-unavailable 2 ");
    expect(command).toContain("--reboot-command 'ipmitool power cycle'");
    expect(command).not.toContain("--ssh-option");
    // Jobs may not wait unless the inventory says so.
    expect(command).not.toContain("--allow-job-downtime");
  });

  test("images.rollout.allowJobDowntime reaches the program, which then drains what nothing can hold", () => {
    const inventory = inventoryWith((i) => (i.images.rollout = { allowJobDowntime: true }));
    const app = stackOf(inventory).node.root;
    const stack = new ElyStack(app, "downtime", { inventory: { ...inventory }, jobs: [] });
    const command = steps(stack).get("w1")![1].provisioner![0]["local-exec"].command;
    expect(command).toContain(" --boot-timeout 1200 --allow-job-downtime ");
  });

  test("an unchanged image plans no reboot", () => {
    const plan = planBetween(inventoryWith(() => undefined), inventoryWith(() => undefined));
    expect(plan.resource_changes).toEqual([]);
    expect(summarizePlan(plan)).not.toContain("Workers that will reboot");
  });

  test("an image input changes: only the canary reboots, and the summary says so", () => {
    const plan = planBetween(inventoryWith(() => undefined), inventoryWith(withNext));
    const workers = (plan.resource_changes ?? []).filter((c) => c.address.includes("worker-reimage")).map((c) => (c.change.after!.triggers as Record<string, string>).worker);
    expect(workers).toEqual(["w1"]);
    const md = summarizePlan(plan);
    expect(md).toContain("### Workers that will reboot, in this order");
    expect(md).toMatch(/\n1\. \*\*w1\*\* \(channel latest\): client-amd64 build [0-9a-f]{16} → [0-9a-f]{16}\n/);
    expect(md).not.toMatch(/\*\*w2\*\* \(channel stable\): client-amd64 build/);
  });

  test("promoting stable is one line: its plan reboots exactly w2 and w3, in order", () => {
    const plan = planBetween(inventoryWith(withNext), inventoryWith((i) => (withNext(i), (i.images.channels.stable = "next"))));
    const md = summarizePlan(plan);
    const reboots = md.split("\n").filter((l) => /^\d+\. \*\*/.test(l));
    expect(reboots).toEqual([expect.stringMatching(/^1\. \*\*w2\*\* \(channel stable\): client-amd64 build [0-9a-f]{16} → [0-9a-f]{16}$/), expect.stringMatching(/^2\. \*\*w3\*\* \(channel stable\)/)]);
    expect(md).toContain("- **w2** (replace)");
    expect(md).not.toContain("**w1**");
  });

  test("the summary orders the canary channel first whatever the plan's order", () => {
    const step = (worker: string, channel: string) => ({
      address: `null_resource.worker-reimage_${worker}_reimage`,
      type: "null_resource",
      name: "reimage",
      change: { actions: ["delete", "create"], before: { triggers: { worker, image: "client-amd64", build_id: "a", channel } }, after: { triggers: { worker, image: "client-amd64", build_id: "b", channel } } },
    });
    const md = summarizePlan({ resource_changes: [step("w3", "stable"), step("w9", "beta"), step("w2", "stable"), step("w7", "latest")] } as PlanJson);
    expect(md.split("\n").filter((l) => /^\d+\. /.test(l))).toEqual([
      "1. **w7** (channel latest): client-amd64 build a → b",
      "2. **w2** (channel stable): client-amd64 build a → b",
      "3. **w3** (channel stable): client-amd64 build a → b",
      "4. **w9** (channel beta): client-amd64 build a → b",
    ]);
  });

  test("no util node: no boot publish, no reimage step", () => {
    const stack = stackOf(inventoryWith((i) => (i.nodes = i.nodes.filter((n) => n.role !== "util"))));
    expect(stack.workerReimage.steps).toEqual([]);
  });
});
