import * as crypto from "crypto";
import { Construct } from "constructs";
import { ClusterNode } from "./cluster-node";
import { contentHashOf, GeneratedDirectory } from "../generated-directory";

export interface AgentConfigBundleProps {
  /** The nodes whose rendered agent configuration files go into the bundle. */
  readonly nodes: readonly ClusterNode[];
  /** Other per-node files served beside them, by path "<hostname>/<file>" (a netbooted node's storage units). Default: none. */
  readonly extraFiles?: ReadonlyMap<string, string>;
}

/**
 * The agent configuration files of every node (and a netbooted node's storage units), as one synthesized asset directory
 * (cdktf.out/stacks/<stack>/assets/...), laid out as <hostname>/<file>. The image build
 * and the util node's boot service consume it; `path` is its location for Terraform.
 * The asset hash is the content hash, so a changed file changes the path.
 */
export class AgentConfigBundle extends Construct {
  readonly asset: GeneratedDirectory;
  /** Relative path of each file inside the bundle -> its JSON text. */
  readonly files: ReadonlyMap<string, string>;
  readonly contentHash: string;

  constructor(scope: Construct, id: string, props: AgentConfigBundleProps) {
    super(scope, id);
    const files = new Map<string, string>();
    for (const node of props.nodes) {
      for (const [name, config] of node.agentConfigs) {
        files.set(`${node.hostname}/${name}`, JSON.stringify(config, null, 2) + "\n");
      }
    }
    for (const [file, text] of props.extraFiles ?? []) files.set(file, text);
    this.files = files;
    this.contentHash = contentHashOf([...files].sort(([a], [b]) => a.localeCompare(b)));
    this.asset = new GeneratedDirectory(this, "files", { files, assetHash: this.contentHash.slice(0, 32) });
  }

  /** Where Terraform finds the bundle, relative to the stack's directory. */
  get path(): string {
    return this.asset.path;
  }

  /** The sha256 of one node's file, for triggers. */
  fileHash(hostname: string, fileName: string): string | undefined {
    const text = this.files.get(`${hostname}/${fileName}`);
    return text === undefined ? undefined : crypto.createHash("sha256").update(text).digest("hex");
  }
}
