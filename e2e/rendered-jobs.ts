/** The jobs of a synthesized stack, as Terraform hands them to Nomad. */

export interface SynthesizedConfig {
  readonly resource?: { readonly nomad_job?: Record<string, { readonly jobspec: string }> };
}

/**
 * Job ID -> the nomad_job's jobspec (Nomad's API job JSON, `{ "Job": ... }`), with the template
 * escapes undone as Terraform undoes them ($${ -> ${, %%{ -> %{), so that Nomad's own tools read
 * what the provider would submit.
 */
export function renderedJobs(config: SynthesizedConfig): Map<string, string> {
  const jobs = new Map<string, string>();
  for (const resource of Object.values(config.resource?.nomad_job ?? {})) {
    const spec = resource.jobspec.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");
    jobs.set(JSON.parse(spec).Job.ID, spec);
  }
  return jobs;
}
