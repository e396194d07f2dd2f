import { ConsulBackend, LocalBackend, TerraformStack } from "cdktf";
import { consulEndpoint, Inventory, splitEndpoint } from "../../nodes";

/**
 * Where Terraform keeps the state: a local file by default, or the cluster's own Consul
 * KV (inventory `state.backend: "consul"`). The Consul token comes from CONSUL_HTTP_TOKEN
 * in the environment, never from the configuration.
 */
export function configureStateBackend(stack: TerraformStack, inventory: Inventory): void {
  const state = inventory.state;
  if (state.backend === "local") {
    new LocalBackend(stack, { path: state.path ?? defaultLocalStatePath(stack.node.id) });
    return;
  }
  const endpoint = splitEndpoint(consulEndpoint(inventory));
  const backend = new ConsulBackend(stack, {
    address: state.address ?? endpoint.host,
    scheme: state.scheme ?? endpoint.scheme,
    path: state.path,
    lock: true,
    caFile: inventory.endpoints.caFile,
    // Required by the binding's type only; removed below so the token comes from CONSUL_HTTP_TOKEN.
    accessToken: "",
  });
  backend.addOverride("access_token", undefined);
}

/**
 * The local state's default path, relative to Terraform's working directory (<outdir>/stacks/<stack>):
 * terraform.<stack>.tfstate beside the output directory, so in the checkout with the default
 * outdir (where cdktf's own default, an absolute path, put it). Relative, so that cdk.tf.json
 * does not depend on where the checkout lives.
 */
export function defaultLocalStatePath(stackId: string): string {
  return `../../../terraform.${stackId}.tfstate`;
}
