import { TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { Inventory } from "../nodes";
import { Cluster } from "./cluster";
import { configureStateBackend } from "./state-backend";

export interface ElyStackProps {
  readonly inventory: Inventory;
  /** Where the inventory came from, named in validation messages. Default: messages name no file. */
  readonly inventorySource?: string;
}

/** The one Terraform stack of a cluster, named after it: everything converges in one plan. */
export class ElyStack extends TerraformStack {
  readonly cluster: Cluster;

  constructor(scope: Construct, id: string, props: ElyStackProps) {
    super(scope, id);
    configureStateBackend(this, props.inventory);
    this.cluster = new Cluster(this, "cluster", { inventory: props.inventory, inventorySource: props.inventorySource });
  }
}
