import * as crypto from "crypto";
import { Construct } from "constructs";
import { Resource } from "@cdktf/provider-null/lib/resource";
import { AgentSource, AgentVersions, agentSourceFromEnv, formatAgentSource } from "../../images/agents";
import { buildIdOf, ImageArch, ImageProfile, ImageRole } from "../../images/layout";
import { RamrootCompression } from "../../images/ramroot-codec";
import { imageRecipe, ImageRecipe, inputHashOf, recipeInputs } from "../../images/recipe";
import { projectProgram } from "../project-program";
import { shellQuote } from "../shell-quote";

export interface NodeImageProps {
  readonly role: ImageRole;
  readonly arch: ImageArch;
  /** Consul and Nomad versions (the inventory's `versions`). */
  readonly agentVersions: AgentVersions;
  /** Package set. Default: "full". */
  readonly profile?: ImageProfile;
  /** Debian packages added to the profile's, for this image only. Default: none. */
  readonly extraPackages?: readonly string[];
  /** The ramroot's codec and level. Default: the profile's (zstd -3, unpacked by the kernel; images/ramroot-codec.ts). */
  readonly ramroot?: RamrootCompression;
  /**
   * Where the Consul and Nomad binaries come from. Default: the environment at synth
   * (the official release archives, or the directory $ELY_AGENT_BIN_DIR when it is set or ELY_AGENT_SOURCE=dir);
   * the build then reads the same environment.
   */
  readonly agentSource?: AgentSource;
  /**
   * Directory of builds on the machine running Terraform; each build lands in
   * <dir>/<role>-<arch>/<build id>. Default: "$HOME/.cache/ely/images" (expanded when the build runs).
   */
  readonly artifactsDir?: string;
  /** The build program. Default: projectProgram("build.js"). */
  readonly buildCommand?: string;
  /** Hostnames of the nodes that boot this image (for reports; not a trigger: adding a node rebuilds nothing). Default: none. */
  readonly nodeHostnames?: readonly string[];
}

/**
 * One netboot image (a role on an architecture), built by a null_resource whose triggers are
 * the content hash of every input of the image (images/recipe.ts). Unchanged inputs plan no
 * rebuild; a changed input replaces exactly this resource, and the build lands in a new
 * directory named by its build id, so the last good build stays until the new one succeeds.
 */
export class NodeImage extends Construct {
  readonly role: ImageRole;
  readonly arch: ImageArch;
  readonly profile: ImageProfile;
  /** "client-amd64". */
  readonly key: string;
  readonly recipe: ImageRecipe;
  readonly inputHash: string;
  readonly buildId: string;
  /** The build's directory, as the build command sees it (may hold $HOME). */
  readonly outDir: string;
  readonly command: string;
  readonly build: Resource;
  readonly nodeHostnames: readonly string[];

  constructor(scope: Construct, id: string, props: NodeImageProps) {
    super(scope, id);
    this.role = props.role;
    this.arch = props.arch;
    this.profile = props.profile ?? "full";
    this.nodeHostnames = props.nodeHostnames ?? [];
    this.recipe = nodeImageRecipe(props);
    this.key = this.recipe.key;
    this.inputHash = inputHashOf(this.recipe);
    this.buildId = buildIdOf(this.inputHash);
    const artifactsDir = (props.artifactsDir ?? "$HOME/.cache/ely/images").replace(/\/+$/, "");
    this.outDir = `${artifactsDir}/${this.key}/${this.buildId}`;
    const program = props.buildCommand ?? projectProgram("build.js");
    const args = [
      `--role ${props.role}`,
      `--arch ${props.arch}`,
      `--profile ${this.profile}`,
      `--out "${this.outDir}"`,
      `--consul-version ${shellQuote(props.agentVersions.consul)}`,
      `--nomad-version ${shellQuote(props.agentVersions.nomad)}`,
      `--input-hash ${this.inputHash}`,
      ...(props.extraPackages?.length ? [`--extra-packages ${shellQuote([...props.extraPackages].sort().join(","))}`] : []),
      ...(props.ramroot ? [`--ramroot-codec ${props.ramroot.codec} --ramroot-level ${shellQuote(props.ramroot.level)}`] : []),
      ...(props.agentSource ? [`--agents ${shellQuote(formatAgentSource(props.agentSource))}`] : []),
    ];
    this.command = `${program} ${args.join(" ")}`;

    this.build = new Resource(this, "build", {
      triggers: {
        image: this.key,
        profile: this.profile,
        input_hash: this.inputHash,
        build_id: this.buildId,
        // One hash per group of inputs (packages, initrd, rootfs, agents...): the plan says which one changed.
        ...inputGroupHashes(recipeInputs(this.recipe)),
      },
      provisioners: [{ type: "local-exec", command: this.command }],
    });

  }
}

/** The recipe a NodeImage of these props builds (its build id is known before the construct exists). */
export function nodeImageRecipe(props: NodeImageProps): ImageRecipe {
  return imageRecipe({
    role: props.role,
    arch: props.arch,
    profile: props.profile ?? "full",
    agentVersions: props.agentVersions,
    agentSource: props.agentSource ?? agentSourceFromEnv(),
    extraPackages: props.extraPackages,
    ramroot: props.ramroot,
  });
}

/** "initrd.init" and "initrd.modules" -> input_initrd: a short hash over each group of named inputs. */
export function inputGroupHashes(inputs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const groups = new Map<string, crypto.Hash>();
  for (const [name, value] of inputs) {
    const group = `input_${name.split(/[.:]/)[0].replace(/[^a-z0-9]+/gi, "_")}`;
    if (!groups.has(group)) groups.set(group, crypto.createHash("sha256"));
    groups.get(group)!.update(`${Buffer.byteLength(name)}:${name}${Buffer.byteLength(value)}:`).update(value);
  }
  return Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([g, h]) => [g, h.digest("hex").slice(0, 16)]));
}
