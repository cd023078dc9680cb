/**
 * What the restore drills measured, for `drstack plan --drills <dir>`: the
 * drill reports copied out of a bucket (`aws s3 sync
 * s3://<bucket>/<prefix><database>/drills/ <dir>/...`), judged against
 * the stack's databases and drill schedules. Per database: the last drill,
 * the last passed one and its measured restore time, and a flag when the
 * last drill failed, when none has passed within the tier's drill gap (and
 * the same grace the drill-age alarm gives), or when there is none.
 */
import * as fs from "fs";
import * as path from "path";
import { DATABASE_INSTANCE_CREATE_MINUTES } from "../infra/assumptions";
import { DRILL_REPORT_FORMAT } from "../infra/backupContract";
import { BackupDatabase } from "../infra/backupTargets";
import { drillStaleAfterSeconds } from "../infra/drills";
import { TierName } from "../infra/tiers";
import { UsageError } from "./usageError";

export interface DrillReportSummary {
  database: string;
  dataClass: string;
  site: string;
  startedAt: string;
  ok: boolean;
  durationSeconds?: number;
  file: string;
}

export type DrillState = "passed" | "failed" | "stale" | "none";

export interface DrillStatus {
  database: string;
  tier: TierName;
  state: DrillState;
  last?: DrillReportSummary;
  lastPassed?: DrillReportSummary;
  /** Seconds the last passed drill's restore took: the measured restore time. */
  restoreSeconds?: number;
  detail: string;
}

function jsonFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? jsonFiles(full) : entry.isFile() && entry.name.endsWith(".json") ? [full] : [];
  });
}

/** Every drill report under `dir`; other JSON files (manifests, pointers) are skipped, a malformed drill report is an error naming its file. */
export function readDrillReports(dir: string): DrillReportSummary[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UsageError(`--drills ${dir}: no such directory. Copy the site's reports first, e.g. aws s3 sync s3://<bucket>/db/<database>/drills/ ${dir}/db/<database>/drills/`);
  }
  const reports: DrillReportSummary[] = [];
  for (const file of jsonFiles(dir)) {
    let value: unknown;
    try {
      value = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
      if (path.basename(path.dirname(file)) === "drills") throw new UsageError(`--drills: ${file} is not JSON (${(err as Error).message}); copy it again or remove it.`);
      continue;
    }
    const report = value as Partial<Record<keyof DrillReportSummary | "format", unknown>>;
    if (report?.format !== DRILL_REPORT_FORMAT) continue;
    if (typeof report.database !== "string" || typeof report.site !== "string" || typeof report.startedAt !== "string" || Number.isNaN(Date.parse(report.startedAt)) || typeof report.ok !== "boolean") {
      throw new UsageError(`--drills: ${file} is a ${DRILL_REPORT_FORMAT} report without a database, site, startedAt time and ok; copy it again or remove it.`);
    }
    reports.push({
      database: report.database,
      dataClass: typeof report.dataClass === "string" ? report.dataClass : "db",
      site: report.site,
      startedAt: new Date(report.startedAt).toISOString(),
      ok: report.ok,
      durationSeconds: typeof report.durationSeconds === "number" ? report.durationSeconds : undefined,
      file,
    });
  }
  return reports;
}

function days(seconds: number): string {
  return `${Math.round((seconds / 86400) * 10) / 10} days`;
}

/**
 * Each database's drills at one site. Replication carries each site's
 * reports into the other's bucket, so a directory copied from either holds
 * both; a site is judged by its own drills only, never vouched for by its peer's.
 */
export function drillStatuses(reports: readonly DrillReportSummary[], databases: readonly BackupDatabase[], gapMinutes: Readonly<Record<TierName, number>>, timeoutMinutes: number, now: Date, site: string): DrillStatus[] {
  return databases.map((database): DrillStatus => {
    const mine = reports.filter((report) => report.site === site && report.database === database.name && report.dataClass === database.dataClass).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    const last = mine[mine.length - 1];
    const lastPassed = [...mine].reverse().find((report) => report.ok);
    const staleAfter = drillStaleAfterSeconds(gapMinutes[database.tier], timeoutMinutes);
    const base = { database: database.name, tier: database.tier, last, lastPassed, restoreSeconds: lastPassed?.durationSeconds };
    if (last === undefined) return { ...base, state: "none", detail: `no drill report from ${site}` };
    if (!last.ok) return { ...base, state: "failed", detail: `the last drill (${last.startedAt}, ${last.site}) failed: see ${last.file}` };
    const age = (now.getTime() - Date.parse(last.startedAt)) / 1000;
    const measured = `restore ${last.durationSeconds?.toFixed(1) ?? "?"} s, ${last.startedAt} on ${last.site}`;
    if (age > staleAfter) return { ...base, state: "stale", detail: `last passed ${days(age)} ago (${measured}); the ${database.tier} tier drills at least every ${days(gapMinutes[database.tier] * 60)}` };
    return { ...base, state: "passed", detail: measured };
  });
}

/**
 * The time to restore every database from its dump, for the objectives:
 * creating the instance (assumed; the drill restores into a server it
 * already has) plus the sum of each database's last passed restore (one
 * after another, as one operator restores them). Undefined unless every database
 * has a passed drill: a partial measure would understate it.
 */
export function measuredRestoreMinutes(statuses: readonly DrillStatus[]): { minutes: number; basis: string } | undefined {
  // A failed or stale last drill disproves (or no longer vouches for) the time an older one measured.
  if (statuses.length === 0 || statuses.some((status) => status.state !== "passed" || status.restoreSeconds === undefined)) return undefined;
  const seconds = statuses.reduce((sum, status) => sum + (status.restoreSeconds ?? 0), 0);
  return {
    minutes: DATABASE_INSTANCE_CREATE_MINUTES + Math.ceil(seconds / 60),
    basis: `an instance to restore into ${DATABASE_INSTANCE_CREATE_MINUTES} min (assumed) + pg_restore one database after another, as measured by the last drills into the drill task's own scratch server: ${statuses.map((status) => `${status.database} ${status.restoreSeconds?.toFixed(1)} s (${status.lastPassed?.startedAt.slice(0, 10)})`).join(", ")}`,
  };
}
