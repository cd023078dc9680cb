/**
 * Lambda entry point `handlers/restore.handler` for the monthly restore test
 * (same container image as backup). The event may name a manifest; the
 * latest good backup is restored otherwise. Throws when the restore or its
 * row-count check fails, so the invocation counts as an error.
 */
import { CheckFailedError } from "../core/errors";
import { runRestore, RestoreReport } from "../core/restore";
import { Settings, restoreOptions } from "../settings";

export interface RestoreEvent {
  manifestKey?: string;
}

export async function handler(event: RestoreEvent = {}): Promise<RestoreReport> {
  const settings = new Settings(event.manifestKey ? { "manifest-key": event.manifestKey } : {}, process.env);
  const report = await runRestore({ ...restoreOptions(settings), log: (m) => console.log(m) });
  if (!report.ok) throw new CheckFailedError(`restore check failed: ${report.failures.join("; ")}`);
  return report;
}
