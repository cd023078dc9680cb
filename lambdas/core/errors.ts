/**
 * An error the operator can fix: bad configuration, unreachable service,
 * wrong credentials. Its message names the flag or environment variable and
 * says what to do; the CLI prints it without a stack trace and exits 2.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A backup, verification or restore that ran and found something wrong. */
export class CheckFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckFailedError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
