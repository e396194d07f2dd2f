/**
 * The kernel command line's Ely parameters as the boot scripts read them (the initrd's init and
 * the booted system's boot.env fallback): one `case` arm per parameter, assigning a shell variable.
 */

/** `param=*) variable="${word#param=}" ;;` for each [param, variable], one per line, indented. */
export function cmdlineCaseArms(params: ReadonlyArray<readonly [string, string]>, indent: string): string {
  return params.map(([param, variable]) => `${indent}${param}=*) ${variable}="\${word#${param}=}" ;;`).join("\n");
}
