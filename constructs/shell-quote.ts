/**
 * One shell word, for the commands Terraform's local-exec and ssh run: left as is when it holds
 * only characters no shell reads specially, else single-quoted (a quote inside becomes '\'').
 */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
