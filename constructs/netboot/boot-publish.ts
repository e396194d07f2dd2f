import { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { Resource } from "@cdktf/provider-null/lib/resource";

export interface BootPublishProps {
  /** The boot service's directory, relative to the stack's directory (BootService.path). */
  readonly bootConfigPath: string;
  /** Content hash of the boot configuration: the release name. */
  readonly bootConfigHash: string;
  /** The agent configuration bundle (AgentConfigBundle.path), served under /config/. */
  readonly agentConfigsPath: string;
  readonly agentConfigsHash: string;
  /** "user@host:/srv/ely", or a local directory. */
  readonly target: string;
  /** The publish program. */
  readonly publishCommand: string;
  /** What must finish first: the images' publish steps, so no script points at a missing build. Default: nothing. */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * Copies the boot configuration and the agent configuration to the util node as a new
 * release (boot/releases/<hash>), then runs its activate.sh there: iPXE binaries into the
 * TFTP root, boot/current switched in one rename, boot services (re)started.
 */
export class BootPublish extends Construct {
  readonly resource: Resource;
  readonly release: string;
  readonly command: string;

  constructor(scope: Construct, id: string, props: BootPublishProps) {
    super(scope, id);
    this.release = props.bootConfigHash.slice(0, 16) + props.agentConfigsHash.slice(0, 16);
    this.command =
      `${props.publishCommand} boot --src "${props.bootConfigPath}" --configs "${props.agentConfigsPath}" ` +
      `--target '${props.target}' --release ${this.release}`;
    this.resource = new Resource(this, "publish", {
      triggers: { boot_config: props.bootConfigHash, agent_configs: props.agentConfigsHash, target: props.target },
      provisioners: [{ type: "local-exec", command: this.command }],
      dependsOn: props.dependsOn ? [...props.dependsOn] : undefined,
    });
  }
}
