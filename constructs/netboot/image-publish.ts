import { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { Resource } from "@cdktf/provider-null/lib/resource";

export interface ImagePublishProps {
  /** "client-amd64". */
  readonly imageKey: string;
  readonly buildId: string;
  /** The build's directory on the machine running Terraform (may hold $HOME). */
  readonly sourceDir: string;
  /** "user@host:/srv/ely", or a local directory. */
  readonly target: string;
  /** The publish program (Netboot passes projectProgram("publish.js")). */
  readonly publishCommand: string;
  /** The link under images/<image>/ switched to the build. Default: "latest" (the newest revision's build). */
  readonly link?: string;
  /** What must finish first (the image's build). Default: nothing. */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * Copies one build to the util node (rsync over ssh into images/<image>/.<build>.partial,
 * renamed to images/<image>/<build>) and switches images/<image>/latest (or the link of its
 * revision, for an older revision's build) to it in one rename.
 * Replaced when the build id or the target changes.
 */
export class ImagePublish extends Construct {
  readonly resource: Resource;
  readonly command: string;

  constructor(scope: Construct, id: string, props: ImagePublishProps) {
    super(scope, id);
    this.command =
      `${props.publishCommand} image --src "${props.sourceDir}" --target '${props.target}' ` + `--image ${props.imageKey} --build ${props.buildId}` + (props.link ? ` --link ${props.link}` : "");
    this.resource = new Resource(this, "publish", {
      triggers: { image: props.imageKey, build_id: props.buildId, target: props.target },
      provisioners: [{ type: "local-exec", command: this.command }],
      dependsOn: props.dependsOn ? [...props.dependsOn] : undefined,
    });
  }
}
