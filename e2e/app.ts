/**
 * The app the end-to-end test deploys: the real stack of the inventory in ELY_INVENTORY,
 * with every job of jobs/, plus one job that can really run on a dev agent without Docker
 * (raw_exec). ELY_E2E_WHOAMI_IMAGE changes one service's image, to check the plan is precise.
 */
import { App } from "cdktf";
import { ElyStack } from "../constructs";
import { ALL_JOBS, whoami } from "../jobs";
import { inventorySource, loadInventory } from "../nodes";
import { hello } from "./hello-job";

const image = process.env.ELY_E2E_WHOAMI_IMAGE;
const jobs = ALL_JOBS.map((job) =>
  job === whoami && image ? { id: job.id, props: (i: Parameters<typeof job.props>[0]) => ({ ...job.props(i), image }) } : job,
);

// Netboot with the fast "test" image profile, published to a local directory standing in for the util node.
// c1 never boots here: no secret delivery (secretsPort 0); the cluster suite (e2e/cluster) delivers secrets to a real boot.
const work = process.env.ELY_E2E_WORK;
const netboot = work ? { imageProfile: "test" as const, artifactsDir: `${work}/images`, publishTarget: `${work}/util`, secretsPort: 0 } : undefined;

const inventory = loadInventory();
const app = new App();
new ElyStack(app, inventory.name, { inventory, inventorySource: inventorySource(), jobs: [...jobs, hello], netboot });
app.synth();
