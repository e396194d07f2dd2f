/**
 * The app the cdktf CLI runs for the cluster in a box (`cdktf deploy|diff|destroy box`, cdktf.json
 * in the suite's work directory): the box's stack (box.ts) of the configuration in $ELY_BOX_CONFIG.
 */
import { App } from "cdktf";
import { parseInventory } from "../../nodes";
import { boxInventory, boxStack, readBoxConfig } from "./box";

const config = readBoxConfig();
const app = new App();
boxStack(app, config, parseInventory(boxInventory(config), "cluster-in-a-box"));
app.synth();
