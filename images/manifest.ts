/**
 * manifest.json: what a build produced and from what. Published beside the artifacts, so
 * the util node (and a person) can check a download and trace an image to its commit.
 */
import * as fs from "fs";
import * as path from "path";
import { InstalledAgent, sha256File } from "./agents";
import { MANIFEST_FILE } from "./layout";

export const MANIFEST_FORMAT = 1;

export interface ArtifactRecord {
  readonly sha256: string;
  readonly sizeBytes: number;
}

export interface ImageManifest {
  readonly format: number;
  readonly image: string;
  readonly role: string;
  readonly arch: string;
  readonly profile: string;
  readonly buildId: string;
  readonly inputHash: string;
  /** `git rev-parse HEAD` of the Ely checkout, "+dirty" when it had uncommitted changes; "unknown" outside git. */
  readonly gitRevision: string;
  /** ISO 8601, UTC. */
  readonly buildTime: string;
  readonly debianSuite: string;
  readonly kernelVersion: string;
  readonly agents: readonly InstalledAgent[];
  /** By file name: vmlinuz, initrd and the ramroot (ramroot.tar.gz or ramroot.tar.xz). */
  readonly artifacts: Readonly<Record<string, ArtifactRecord>>;
}

export type ManifestFacts = Omit<ImageManifest, "format" | "artifacts">;

/** Hashes the artifacts `names` in `dir` and returns the manifest; throws naming a missing artifact. */
export function createManifest(dir: string, facts: ManifestFacts, names: readonly string[]): ImageManifest {
  const artifacts: Record<string, ArtifactRecord> = {};
  for (const name of names) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new Error(`artifact ${name} is missing from ${dir}`);
    artifacts[name] = { sha256: sha256File(file), sizeBytes: fs.statSync(file).size };
  }
  return { format: MANIFEST_FORMAT, ...facts, artifacts };
}

export function writeManifest(dir: string, manifest: ImageManifest): void {
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
}

export function readManifest(dir: string): ImageManifest | undefined {
  const file = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, "utf8")) as ImageManifest;
}

/**
 * Problems of a build directory against its manifest (empty: complete and intact): each of
 * `names` listed, present and as hashed. Default `names`: the manifest's own list.
 */
export function verifyManifest(dir: string, manifest: ImageManifest, names: readonly string[] = Object.keys(manifest.artifacts ?? {})): string[] {
  const problems: string[] = [];
  if (manifest.format !== MANIFEST_FORMAT) problems.push(`manifest format ${manifest.format}, expected ${MANIFEST_FORMAT}`);
  for (const name of names) {
    const record = manifest.artifacts?.[name];
    const file = path.join(dir, name);
    if (!record) problems.push(`manifest lists no ${name}`);
    else if (!fs.existsSync(file)) problems.push(`${name} is missing`);
    else if (fs.statSync(file).size !== record.sizeBytes) problems.push(`${name} has ${fs.statSync(file).size} bytes, manifest says ${record.sizeBytes}`);
    else if (sha256File(file) !== record.sha256) problems.push(`${name} sha256 differs from the manifest`);
  }
  return problems;
}
