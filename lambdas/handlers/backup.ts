/**
 * Lambda entry point `handlers/backup.handler` (container image with pg_dump
 * and pg_restore). Settings come from the environment (see settings.ts);
 * the schedule passes its slot so a retried invocation is idempotent.
 * A failed backup throws, so the function's Errors metric and alarm fire.
 */
import { runBackup, BackupResult } from "../core/backup";
import { Settings, backupOptions } from "../settings";

/** EventBridge Scheduler input, e.g. `{"slot": "<aws.scheduler.scheduled-time>"}`; `time` is an EventBridge rule's field. */
export interface BackupEvent {
  slot?: string;
  scheduledTime?: string;
  time?: string;
}

export async function handler(event: BackupEvent = {}): Promise<Pick<BackupResult, "outcome" | "published"> & { dumpKey: string; size: number; sha256: string }> {
  const slot = event.slot ?? event.scheduledTime ?? event.time;
  const settings = new Settings(slot ? { slot } : {}, process.env);
  const result = await runBackup({ ...(await backupOptions(settings)), log: (m) => console.log(m) });
  return { outcome: result.outcome, published: result.published, dumpKey: result.manifest.dumpKey, size: result.manifest.size, sha256: result.manifest.sha256 };
}
