import { AnnotationMetadataEntryType } from "cdktf";
import { IConstruct } from "constructs";

export interface CollectedProblems {
  readonly errors: string[];
  readonly warnings: string[];
}

/**
 * Runs every construct's validations (as synth does) and gathers the warnings they
 * annotate, without writing anything. Errors are prefixed with the construct path.
 */
export function collectProblems(root: IConstruct): CollectedProblems {
  const errors: string[] = [];
  const constructs = root.node.findAll();
  for (const c of constructs) {
    for (const message of c.node.validate()) errors.push(`[${c.node.path}] ${message}`);
  }
  const warnings: string[] = [];
  for (const c of constructs) {
    for (const entry of c.node.metadata) {
      if (entry.type === AnnotationMetadataEntryType.WARN) warnings.push(`[${c.node.path}] ${String(entry.data)}`);
    }
  }
  return { errors, warnings };
}
