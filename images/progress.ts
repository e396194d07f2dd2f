/**
 * Runs a build as named steps: one progress line per step with its duration and the
 * elapsed time, and a failure that names the step and why.
 */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly cause: Error,
    readonly detail?: string,
  ) {
    super(`step "${step}" failed: ${cause.message}${detail ? `\n${detail}` : ""}`);
    this.name = "StepError";
  }
}

export interface StepRunnerOptions {
  /** Prefix of each line, e.g. "ely-image client-amd64". */
  readonly label: string;
  /** Number of steps, shown as [n/total]. */
  readonly total: number;
  /** Where lines go. Default: stderr. */
  readonly write?: (line: string) => void;
  /** Clock in ms. Default: Date.now. */
  readonly now?: () => number;
}

export class StepRunner {
  private readonly started: number;
  private index = 0;
  private readonly write: (line: string) => void;
  private readonly now: () => number;
  /** Seconds each finished step took, by name. */
  readonly durations: Record<string, number> = {};

  constructor(private readonly options: StepRunnerOptions) {
    this.write = options.write ?? ((line) => process.stderr.write(line + "\n"));
    this.now = options.now ?? Date.now;
    this.started = this.now();
  }

  /** Runs `fn` as the next step; `detailOnFailure` may return text (a log tail) shown with the error. */
  async step<T>(name: string, fn: () => Promise<T> | T, detailOnFailure?: () => string | undefined): Promise<T> {
    this.index += 1;
    const begin = this.now();
    const where = `${this.options.label} [${this.index}/${this.options.total}] ${name}`;
    try {
      const result = await fn();
      const seconds = (this.now() - begin) / 1000;
      this.durations[name] = seconds;
      this.write(`${where}: ok in ${seconds.toFixed(1)} s (elapsed ${this.elapsedSeconds().toFixed(1)} s)`);
      return result;
    } catch (e) {
      const cause = e instanceof Error ? e : new Error(String(e));
      this.write(`${where}: FAILED after ${((this.now() - begin) / 1000).toFixed(1)} s: ${cause.message.split("\n")[0]}`);
      throw new StepError(name, cause, detailOnFailure?.());
    }
  }

  /** A step that was not needed, still one line. */
  skip(name: string, reason: string): void {
    this.index += 1;
    this.write(`${this.options.label} [${this.index}/${this.options.total}] ${name}: skipped (${reason})`);
  }

  elapsedSeconds(): number {
    return (this.now() - this.started) / 1000;
  }
}
