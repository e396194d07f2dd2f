import { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { consulEndpoint, DEFAULT_SSH_USER, Inventory, nomadEndpoint, reimageOrder, sshTargetOf } from "../../nodes";
import { SSH_UNATTENDED_OPTIONS, withSshTimeouts } from "../../nodes/network-timeouts";
import { ClusterNode } from "../cluster/cluster-node";
import { projectProgram } from "../project-program";
import { shellQuote } from "../shell-quote";

/**
 * ssh -o options of the reboot over ssh. A netbooted worker makes new host keys at every boot (its
 * root is in RAM, images/rootfs-files.ts), so a key remembered from its last boot would refuse the
 * next reimage: the reimage does not check host keys. What it risks is small: it only runs
 * `systemctl reboot`, no secret crosses the connection (public-key authentication signs this session
 * only), and an impostor that swallows the reboot fails the step's wait for the new build.
 */
export const WORKER_SSH_OPTIONS: readonly string[] = [...SSH_UNATTENDED_OPTIONS, "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"];

/** One worker and the build it must boot. */
export interface ReimageWorker {
  readonly node: ClusterNode;
  /** "client-amd64" */
  readonly imageKey: string;
  readonly buildId: string;
  /** The image channel it follows: "latest" (the canary) reimages first. */
  readonly channel: string;
}

export interface WorkerReimageProps {
  /** The cluster's inventory: `images.rollout` (workers down at once, drain deadline, boot bound) and the API endpoints. */
  readonly inventory: Inventory;
  /** The netbooted Nomad clients and their builds (Netboot's entries). Other nodes are left out. */
  readonly workers: readonly ReimageWorker[];
  /** What must be done before any worker reboots: the util node serving the new builds (the boot publish), the servers' rollout. Default: nothing. */
  readonly dependsOn?: readonly ITerraformDependable[];
  /** Nomad operator token, as a Terraform expression (ClusterProviders.nomadToken.stringValue): it drains and marks eligible. */
  readonly nomadToken?: string;
  /** Consul operator token, as a Terraform expression: the wait reads the worker's Consul health with it. */
  readonly consulToken?: string;
  /**
   * Reboots a worker instead of ssh: a command run by `sh -c` on the plan machine with ELY_REIMAGE_NODE,
   * ELY_REIMAGE_ADDRESS and ELY_REIMAGE_BUILD set (a power switch, a test harness's QEMU). Default: ssh to the
   * worker (`ssh` of the inventory node, the keys of `images.rollout.sshAuthorizedKeys`) and `systemctl reboot`.
   */
  readonly rebootCommand?: string;
  /** ssh -o options. Default: WORKER_SSH_OPTIONS (host keys not checked: a worker's change at every boot); the connection bounds are always added. */
  readonly sshOptions?: readonly string[];
  /** The step program. Default: projectProgram("worker-reimage.js", "cli"). */
  readonly stepCommand?: string;
}

/** One worker's step. */
export interface WorkerStep {
  readonly hostname: string;
  /** 1-based position in the rollout order. */
  readonly position: number;
  /** 1-based wave: the workers of one wave reboot together (at most images.rollout.maxUnavailable). */
  readonly wave: number;
  readonly resource: Resource;
}

/**
 * Moves the netbooted workers onto the builds the plan publishes for them, in the apply: one step
 * per worker (cli/worker-reimage.ts) that drains it in Nomad, reboots it and waits until it is back on
 * its build, ready and eligible. Workers go in waves of `images.rollout.maxUnavailable` (default one),
 * the canary channel ("latest") first, each wave after the previous one ended: a worker that does not
 * come back fails its step, and Terraform starts none of the later waves.
 *
 * A step's triggers are the worker and the build it boots: an unchanged image plans nothing, and
 * a promotion plans the steps of exactly the workers that move.
 *
 * Construct ids (a public contract): <hostname>/reimage.
 */
export class WorkerReimage extends Construct {
  readonly steps: readonly WorkerStep[];

  constructor(scope: Construct, id: string, props: WorkerReimageProps) {
    super(scope, id);
    const { inventory } = props;
    const rollout = inventory.images.rollout;
    const workers = orderedWorkers(props.workers);
    const program = props.stepCommand ?? projectProgram("worker-reimage.js", "cli");
    const sshOptions = withSshTimeouts(props.sshOptions ?? WORKER_SSH_OPTIONS);
    const names = workers.map((w) => w.node.hostname);
    const environment: Record<string, string> = {};
    if (props.nomadToken) environment.ELY_SECRET_NOMAD_TOKEN = props.nomadToken;
    if (props.consulToken) environment.ELY_SECRET_CONSUL_TOKEN = props.consulToken;
    const caFile = inventory.endpoints.caFile;
    const common =
      ` --nomad ${shellQuote(nomadEndpoint(inventory))} --consul ${shellQuote(consulEndpoint(inventory))}` +
      (caFile ? ` --ca-file ${shellQuote(caFile)}` : "") +
      ` --workers ${names.join(",")} --max-unavailable ${rollout.maxUnavailable}` +
      ` --drain-deadline ${rollout.drainDeadlineSeconds} --boot-timeout ${rollout.bootTimeoutSeconds}` +
      (rollout.allowJobDowntime ? " --allow-job-downtime" : "") +
      (props.rebootCommand ? ` --reboot-command ${shellQuote(props.rebootCommand)}` : sshOptions.map((o) => ` --ssh-option ${shellQuote(o)}`).join(""));

    const steps: WorkerStep[] = [];
    let previousWave: Resource[] = [];
    for (let start = 0; start < workers.length; start += rollout.maxUnavailable) {
      const wave = workers.slice(start, start + rollout.maxUnavailable);
      const waveNumber = start / rollout.maxUnavailable + 1;
      const batch = wave.map((w) => w.node.hostname).join(",");
      const resources = wave.map((w, i) => {
        const position = start + i + 1;
        const ssh = sshTargetOf(w.node.spec);
        const resource = new Resource(new Construct(this, w.node.hostname), "reimage", {
          triggers: { worker: w.node.hostname, image: w.imageKey, build_id: w.buildId, channel: w.channel },
          dependsOn: [...(props.dependsOn ?? []), ...previousWave],
          provisioners: [
            {
              type: "local-exec",
              command:
                `${program} reimage --node ${w.node.hostname} --address ${w.node.ip} --build ${w.buildId} --batch ${batch}` +
                (ssh.user !== DEFAULT_SSH_USER || ssh.port !== 22 ? ` --user ${shellQuote(ssh.user)} --port ${ssh.port}` : "") +
                common +
                ` --label ${shellQuote(`${w.node.hostname} ${position}/${workers.length}`)}`,
              environment,
            },
          ],
        });
        resource.addOverride("//", {
          description:
            `Ely worker reimage ${position}/${workers.length} (wave ${waveNumber}): drain ${w.node.hostname} in Nomad, reboot it onto ${w.imageKey} build ${w.buildId} ` +
            `(channel ${w.channel}), wait until it is back, ready and eligible`,
        });
        steps.push({ hostname: w.node.hostname, position, wave: waveNumber, resource });
        return resource;
      });
      previousWave = resources;
    }
    this.steps = steps;
  }
}

/** The netbooted clients, canary channel first (nodes/image-channels.ts: reimageOrder). */
function orderedWorkers(workers: readonly ReimageWorker[]): ReimageWorker[] {
  const eligible = workers.filter((w) => w.node.role === "client" && w.node.bootMode === "netboot");
  const byName = new Map(eligible.map((w) => [w.node.hostname, w]));
  return reimageOrder(eligible.map((w) => ({ hostname: w.node.hostname, channel: w.channel }))).map((e) => byName.get(e.hostname)!);
}
