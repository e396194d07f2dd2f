/**
 * cdktf records where every token was created: a full stack trace, captured and formatted at each
 * creation (thousands per synth), read only by the message of a token that fails to resolve. That is
 * about a tenth of a synth's CPU time (hashicorp/terraform-cdk#3892). As AWS CDK does by default (and
 * the cdktf fork's CDKTN_DISABLE_CREATION_STACK), Ely records them only on request:
 * `ELY_TOKEN_STACKS=1` keeps cdktf's behaviour.
 *
 * Importing this module applies it. It must run before cdktf creates its first token, some of which
 * cdktf makes while its own modules load: main.ts imports it first.
 */
// cdktf's own module (no package "exports" map restricts deep imports); its function is looked up at each call.
const stackTrace = require("cdktf/lib/tokens/private/stack-trace") as { captureStackTrace: (below?: unknown) => string[] };

/** What a token's creation stack reads when it was not recorded. */
export const TOKEN_STACKS_OFF = ["token creation stacks not recorded (set ELY_TOKEN_STACKS=1 to record them)"];

/** Whether the environment asks for cdktf's token creation stacks. */
export function tokenStacksWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ELY_TOKEN_STACKS === "1";
}

if (!tokenStacksWanted()) stackTrace.captureStackTrace = () => TOKEN_STACKS_OFF;
