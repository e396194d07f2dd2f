/**
 * Bounds of every network command Ely runs while Terraform applies (ssh, rsync over ssh, the
 * agent archive download): an unreachable or vanished host fails the step with a message,
 * it never hangs `terraform apply`. One definition, used by the image publish steps
 * (images/publish.ts), the server rollout (constructs/rollout/server-rollout.ts, cli/server-step.ts)
 * and the agent download (images/agents.ts).
 */

/** ssh gives up connecting after this long. */
export const SSH_CONNECT_TIMEOUT_SECONDS = 10;
/** ssh probes a silent connection this often... */
export const SSH_SERVER_ALIVE_INTERVAL_SECONDS = 15;
/** ...and drops it after this many unanswered probes (one minute). */
export const SSH_SERVER_ALIVE_COUNT_MAX = 4;

/** The `ssh -o` options that bound a connection: every ssh Ely runs carries them. */
export const SSH_TIMEOUT_OPTIONS: readonly string[] = [
  `ConnectTimeout=${SSH_CONNECT_TIMEOUT_SECONDS}`,
  `ServerAliveInterval=${SSH_SERVER_ALIVE_INTERVAL_SECONDS}`,
  `ServerAliveCountMax=${SSH_SERVER_ALIVE_COUNT_MAX}`,
];

/** Unattended ssh: never prompt (a missing key or password fails at once), and bounded. */
export const SSH_UNATTENDED_OPTIONS: readonly string[] = ["BatchMode=yes", ...SSH_TIMEOUT_OPTIONS];

/**
 * `options` followed by the bounds it does not set itself (ssh takes the first value of an
 * option: the caller's win, and a caller cannot drop a bound by leaving it out).
 */
export function withSshTimeouts(options: readonly string[]): string[] {
  const keyOf = (o: string) => o.split("=")[0].toLowerCase();
  const set = new Set(options.map(keyOf));
  return [...options, ...SSH_TIMEOUT_OPTIONS.filter((o) => !set.has(keyOf(o)))];
}

/** rsync --timeout: it stops after this long without any data moving. */
export const RSYNC_IO_TIMEOUT_SECONDS = 120;

/** A download stops after this long without a byte (connecting, waiting for headers, or mid-body). */
export const DOWNLOAD_IDLE_TIMEOUT_SECONDS = 60;
