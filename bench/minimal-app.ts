/** cdktf's fixed cost: an app with one stack, one provider and one resource. */
import { App, TerraformStack } from "cdktf";
import { NullProvider } from "@cdktf/provider-null/lib/provider";
import { Resource } from "@cdktf/provider-null/lib/resource";

const app = new App();
const stack = new TerraformStack(app, "minimal");
new NullProvider(stack, "null");
new Resource(stack, "one");
app.synth();
