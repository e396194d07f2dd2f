import { Construct } from "constructs";
import { Inventory, utilNodeOf } from "../../nodes";
import { NomadService } from "./nomad-service";
import { NomadServiceProps } from "../../jobs/service-props";
import { checkPlacement } from "./service-placement";
import { addChecks } from "../checks";

export interface ServicesProps {
  /** The cluster the jobs run on: datacenter, NFS server (util), clients' capacity. */
  readonly inventory: Inventory;
}

/**
 * Every service job of the cluster. `add` declares one (its construct id, under
 * "services/", is the job's contract: renaming it replaces the job); the placement checks
 * run over all of them at synth.
 */
export class Services extends Construct {
  private readonly inventory: Inventory;
  private readonly all: NomadService[] = [];

  constructor(scope: Construct, id: string, props: ServicesProps) {
    super(scope, id);
    this.inventory = props.inventory;
    addChecks(this, () => checkPlacement(this.inventory, this.all));
  }

  add(id: string, props: NomadServiceProps): NomadService {
    // NFS volumes mount the util node's exports; without a util node, checkPlacement reports each one.
    const util = utilNodeOf(this.inventory);
    const service = new NomadService(this, id, {
      ...props,
      context: { datacenters: [this.inventory.datacenter], nfsServer: util?.ip ?? "" },
    });
    this.all.push(service);
    return service;
  }

  get services(): readonly NomadService[] {
    return this.all;
  }

  /** Services with a public host, in declaration order. */
  get exposed(): NomadService[] {
    return this.all.filter((s) => s.props.expose !== undefined);
  }
}
