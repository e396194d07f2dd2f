import { ConsulBackend, LocalBackend, TerraformStack } from "cdktf";
import { consulEndpoint, Inventory, splitEndpoint } from "../nodes";

/**
 * Where Terraform keeps the state: a local file by default, or the cluster's own Consul
 * KV (inventory `state.backend: "consul"`). The Consul token comes from CONSUL_HTTP_TOKEN
 * in the environment, never from the configuration.
 */
export function configureStateBackend(stack: TerraformStack, inventory: Inventory): void {
  const state = inventory.state;
  if (state.backend === "local") {
    new LocalBackend(stack, state.path ? { path: state.path } : {});
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
