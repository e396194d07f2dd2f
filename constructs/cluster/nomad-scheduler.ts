import { Construct } from "constructs";
import { SchedulerConfig } from "@cdktf/provider-nomad/lib/scheduler-config";

export interface NomadSchedulerProps {
  /** "spread" or "binpack". */
  readonly algorithm: string;
  /** Whether tasks may use memory above their reservation up to memory_max. */
  readonly memoryOversubscription: boolean;
}

/** Nomad's cluster-wide scheduler configuration. System jobs (node-exporter) may preempt others. */
export class NomadScheduler extends Construct {
  readonly config: SchedulerConfig;

  constructor(scope: Construct, id: string, props: NomadSchedulerProps) {
    super(scope, id);
    this.config = new SchedulerConfig(this, "config", {
      schedulerAlgorithm: props.algorithm,
      memoryOversubscriptionEnabled: props.memoryOversubscription,
      preemptionConfig: {
        system_scheduler_enabled: true,
        batch_scheduler_enabled: false,
        service_scheduler_enabled: false,
        sysbatch_scheduler_enabled: false,
      },
    });
  }
}
