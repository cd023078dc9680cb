/**
 * Lambda entry point `handlers/verify.handler` (plain Node.js runtime: it
 * needs no database tools; a MySQL/MariaDB dump is gunzipped and read in
 * process). Failed checks are reported through metrics and
 * SNS and returned, not thrown: a throw would make Lambda retry and notify
 * twice, and the BackupCheckFailed metric already drives the alarm.
 */
import { runVerify, VerifyReport } from "../core/verify";
import { Settings, verifyOptions } from "../settings";

export async function handler(): Promise<VerifyReport> {
  const report = await runVerify({ ...verifyOptions(new Settings({}, process.env)), log: (m) => console.log(m) });
  for (const t of report.targets) for (const f of t.failures) console.error(`${t.database}: ${f}`);
  return report;
}
