/**
 * Lambda entry point `handlers/backup.handler` (container image with pg_dump
 * and pg_restore, and the MySQL or MariaDB client of the deployment's engine;
 * DATABASE_URL's scheme, or the secret's engine, says which runs). Settings come from the environment (see settings.ts);
 * the schedule passes its slot so a retried invocation is idempotent.
 * A failed backup throws, so the function's Errors metric and alarm fire.
 * A refused one (this site is not the writer: fencing) returns
 * `{outcome: "refused"}` instead: refusing is the fencing working, and the
 * guard's own alarms say why the site is fenced. One that finds another run
 * of the same backup holding its lock (a duplicated delivery, a run still
 * going) returns `{outcome: "locked"}`: that run publishes, and verify alarms
 * if nothing does.
 */
import { runBackup, BackupResult } from "../core/backup";
import type { BackupEngine } from "../core/engine";
import { NotWriterError } from "../core/errors";
import { manifestEngine } from "../core/manifest";
import { LockHeldError } from "../core/runLock";
import { Settings, backupOptions } from "../settings";

/** EventBridge Scheduler input, e.g. `{"slot": "<aws.scheduler.scheduled-time>"}`; `time` is an EventBridge rule's field. */
export interface BackupEvent {
  slot?: string;
  scheduledTime?: string;
  time?: string;
}

export type BackupHandlerResult =
  | (Pick<BackupResult, "outcome" | "published"> & { engine: BackupEngine; dumpKey: string; size: number; sha256: string; site: string; epoch: number })
  | { outcome: "refused"; reason: string }
  | { outcome: "locked"; reason: string };

/** The part of the Lambda context the backup reads: its deadline comes from the function's own timeout. */
export interface BackupContext {
  getRemainingTimeInMillis(): number;
}

export async function handler(event: BackupEvent = {}, context?: BackupContext): Promise<BackupHandlerResult> {
  const slot = event.slot ?? event.scheduledTime ?? event.time;
  const settings = new Settings(slot ? { slot } : {}, process.env);
  const log = (m: string) => console.log(m);
  try {
    const result = await runBackup({ ...(await backupOptions(settings, log, context?.getRemainingTimeInMillis())), log });
    const m = result.manifest;
    return { outcome: result.outcome, published: result.published, engine: manifestEngine(m), dumpKey: m.dumpKey, size: m.size, sha256: m.sha256, site: m.site, epoch: m.epoch };
  } catch (err) {
    if (err instanceof NotWriterError) {
      console.log(`refused: ${err.message}`);
      return { outcome: "refused", reason: err.message };
    }
    if (err instanceof LockHeldError) {
      console.log(`locked: ${err.message}`);
      return { outcome: "locked", reason: err.message };
    }
    throw err;
  }
}
