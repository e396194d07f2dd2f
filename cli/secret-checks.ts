/**
 * Checks of a secret's form, shared by the apply-time programs that receive secrets in their
 * environment (server-step.ts, secret-publish.ts). A message names the variable and what was
 * expected, never the value.
 */

/** A secret of the wrong form: the message is safe to print. */
export class SecretFormError extends Error {}

export function checkGossipKey(name: string, value: string, variable: string): void {
  const bytes = Buffer.from(value, "base64");
  if (!/^[A-Za-z0-9+/]+=*$/.test(value) || ![16, 24, 32].includes(bytes.length)) {
    throw new SecretFormError(`${name} (${variable}): received a value of ${value.length} characters, expected base64 of 16, 24 or 32 bytes (\`consul keygen\`)`);
  }
}

export function checkToken(name: string, value: string, variable: string): void {
  if (/[\s'"\\]/.test(value)) throw new SecretFormError(`${name} (${variable}): received a value with spaces, quotes or newlines, expected a token`);
}

export function checkPem(name: string, value: string, variable: string): void {
  if (!/^-----BEGIN [A-Z ]+-----/.test(value)) {
    throw new SecretFormError(`${name} (${variable}): received ${value ? "a value that is not PEM" : "nothing"}, expected PEM text ("-----BEGIN ...")`);
  }
}
