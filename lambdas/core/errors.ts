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

/**
 * A backup refused because this site is not the writer (fencing): its claim
 * says standby, its guard fenced it, its database is a replica, or the guard
 * says the peer has superseded it. Nothing was dumped or published. The CLI
 * exits 1 like a failed check; the Lambda handler returns it as its outcome
 * instead of throwing, because refusing is the fencing working.
 */
export class NotWriterError extends CheckFailedError {
  constructor(message: string) {
    super(`this site is not the writer, so it backs up nothing: ${message}`);
    this.name = "NotWriterError";
  }
}

/**
 * The writer check itself failed (the claim or the guard could not be read):
 * the backup cannot tell whether this site may write, so it stops, loudly.
 */
export class WriterCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WriterCheckError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
