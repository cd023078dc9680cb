/**
 * Lambda entry point `handlers/guard.handler` (plain Node.js runtime, outside
 * any VPC: it calls AWS APIs in its own region and in the peer's). Run by its
 * schedule every `fencingGuardSchedule`, and synchronously by the site's
 * backup functions before they dump and before they complete a dump. It
 * returns its report (the backup reads `decision`); it throws only when it
 * cannot run at all, so its Errors alarm means "fencing is not watching".
 */
import { GuardReport, guardOptionsFromEnv, runGuard } from "../core/guard";

export interface GuardEvent {
  /** `schedule` or `backup`: who asked; the decision is the same. */
  source?: string;
}

export async function handler(event: GuardEvent = {}): Promise<GuardReport> {
  const report = await runGuard({ ...guardOptionsFromEnv(process.env), log: (m) => console.log(`[${event.source ?? "schedule"}] ${m}`) });
  return report;
}
