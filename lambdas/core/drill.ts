/**
 * The restore drill: restores the newest backup of a database (or the newest
 * before an instant) into a scratch database it creates on a given server
 * and always removes, checks it against the backup's manifest (row counts,
 * content checksums where the manifest has them, an optional SQL smoke query
 * whose first column must be truthy), measures how long the restore took,
 * and writes a report object beside the backups:
 *
 *   <class>/<database>/drills/<yyyymmddThhmmssZ>-<site>.json
 *
 * A failed check is a result (ok: false, with the check that failed), not an
 * exception: the report is written either way, so a scheduled drill that
 * finds no backup, or a restore that does not match, leaves a record. Bad
 * settings and unreachable services still throw UsageError. The CLI's
 * `drstack-backup drill` and the scheduled drill task (lambdas/tasks/drill.ts) call runDrill; the
 * result's ok, durationSeconds and checks are what metrics are made of.
 */
import { randomBytes } from "node:crypto";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { CheckFailedError, UsageError, errorMessage } from "./errors";
import { BackupTarget, checkSiteName, compactTimestamp, databasePrefix } from "./layout";
import { BackupManifest, manifestEngine } from "./manifest";
import { BackupEngine } from "./engine";
import { DatabaseConnection } from "./postgres";
import { chooseBackup, RestoreReport, runRestore } from "./restore";
import { checkScratchEngine, checkScratchUrl, scratchDatabases, scratchDatabaseUrl, smokeQuery } from "./drillScratchDatabase";
import { BucketLocation, checkBucket, explainS3Error, s3Client } from "./s3";

export const DRILL_FORMAT = "drstack.drill/v1";

/** What the drill task publishes per database (dimension Database), which the drill alarms watch. */
export const DRILL_METRICS = {
  /** 1 the drill failed (or could not run), 0 it passed. */
  failed: "DrillFailed",
  /** The measured restore time of a passed drill. */
  restoreSeconds: "DrillRestoreSeconds",
} as const;

export interface DrillOptions {
  bucket: BucketLocation;
  source: Pick<BackupTarget, "database" | "dataClass">;
  /** The newest backup that ended before this instant; the latest good one when unset. */
  before?: Date;
  manifestKey?: string;
  sites?: string[];
  /**
   * Any database on the server the drill may create its scratch database on
   * (CREATEDB needed), of the backup's engine; or what gives one for the
   * backup's engine once its manifest is read (a throwaway server).
   */
  scratchServer: DatabaseConnection | ScratchServerFor;
  /** SQL run on the restored copy; its first row's first column must be truthy. */
  smokeQuery?: string;
  /** The site running the drill, in the report's key. */
  site: string;
  pgBinDir?: string;
  /** Where the MySQL/MariaDB client tools (and, for a scratch server of the drill's own, the server) are; PATH when unset. */
  mysqlBinDir?: string;
  log?: (message: string) => void;
}

/** A server of the given engine to drill on; its owner stops it. */
export type ScratchServerFor = (engine: BackupEngine) => Promise<DatabaseConnection>;

export interface DrillCheck {
  name: "backup" | "restore" | "row counts" | "checksums" | "objects" | "smoke query";
  ok: boolean;
  detail: string;
}

export interface DrillResult {
  format: typeof DRILL_FORMAT;
  ok: boolean;
  database: string;
  dataClass: BackupTarget["dataClass"];
  site: string;
  startedAt: string;
  endedAt: string;
  manifestKey?: string;
  dumpKey?: string;
  /** When the restored backup was taken, and how old it was when the drill started. */
  backupEndedAt?: string;
  backupAgeSeconds?: number;
  scratchDatabase: string;
  /** Seconds the restore took, from the first byte read to the copy committed and compared: the measured restore time. */
  durationSeconds?: number;
  checks: DrillCheck[];
  reportKey: string;
}

export function drillReportKey(target: Pick<BackupTarget, "database" | "dataClass">, startedAt: Date, site: string): string {
  return `${databasePrefix(target)}drills/${compactTimestamp(startedAt)}-${site}.json`;
}

/** First column of the first row: true, a non-zero number or a non-empty string other than f/false/0. */
export function truthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === "boolean") return value;
  if (typeof value === "number" || typeof value === "bigint") return value !== 0 && value !== 0n;
  const s = String(value).trim().toLowerCase();
  return s !== "" && s !== "f" && s !== "false" && s !== "0";
}

function checksFromRestore(report: RestoreReport, manifest: BackupManifest): DrillCheck[] {
  const rowsOff = report.tables.filter((t) => t.restoredRows !== t.rows);
  const checks: DrillCheck[] = [
    {
      name: "row counts",
      ok: rowsOff.length === 0,
      detail: rowsOff.length === 0 ? `${report.tables.length} table(s) match the manifest` : rowsOff.map((t) => `${t.schema}.${t.table}: ${t.restoredRows ?? "missing"} rows, backup recorded ${t.rows}`).join("; "),
    },
  ];
  if (manifest.tableChecksumMethod === undefined) {
    checks.push({ name: "checksums", ok: true, detail: "not recorded: this manifest was written before per-table checksums (row counts only)" });
  } else {
    const off = report.tables.filter((t) => t.checksum !== undefined && t.restoredChecksum !== t.checksum);
    checks.push({
      name: "checksums",
      ok: off.length === 0,
      detail: off.length === 0 ? `${report.tables.length} table(s) match (${manifest.tableChecksumMethod})` : off.map((t) => `${t.schema}.${t.table}: ${t.restoredChecksum ?? "missing"}, backup recorded ${t.checksum}`).join("; "),
    });
  }
  // MySQL/MariaDB: a restore that left out a view, routine, trigger or event is not a copy of the database.
  if (report.missingObjects !== undefined) {
    checks.push({
      name: "objects",
      ok: report.missingObjects.length === 0,
      detail: report.missingObjects.length === 0 ? "every view, routine, trigger and event of the manifest is there" : `missing: ${report.missingObjects.join(", ")}`,
    });
  }
  return checks;
}

/**
 * The engine of the backup a drill would restore, for a caller that starts
 * the scratch server before the drill; PostgreSQL when there is no backup
 * (the drill then reports that, and needs no server).
 */
export async function engineToDrill(opts: Pick<DrillOptions, "bucket" | "source" | "manifestKey" | "before" | "sites">): Promise<BackupEngine> {
  try {
    return manifestEngine(await chooseBackup(s3Client(opts.bucket), opts));
  } catch (err) {
    if (err instanceof UsageError && /^No (verified )?backup|^No manifest/.test(err.message)) return "postgres";
    throw err;
  }
}

export async function runDrill(opts: DrillOptions): Promise<DrillResult> {
  const log = opts.log ?? (() => undefined);
  checkSiteName(opts.site, "--site / SITE");
  if (typeof opts.scratchServer !== "function") checkScratchUrl(opts.scratchServer);
  const startedAt = new Date();
  const scratch = `drstack_drill_${opts.source.database.toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 24)}_${compactTimestamp(startedAt).toLowerCase()}_${randomBytes(3).toString("hex")}`;
  const reportKey = drillReportKey(opts.source, startedAt, opts.site);
  const result: DrillResult = {
    format: DRILL_FORMAT,
    ok: false,
    database: opts.source.database,
    dataClass: opts.source.dataClass,
    site: opts.site,
    startedAt: startedAt.toISOString(),
    endedAt: startedAt.toISOString(),
    scratchDatabase: scratch,
    checks: [],
    reportKey,
  };
  const s3 = s3Client(opts.bucket);
  await checkBucket(s3, opts.bucket);

  let manifest: BackupManifest | undefined;
  try {
    manifest = await chooseBackup(s3, opts);
    result.manifestKey = manifest.manifestKey;
    result.dumpKey = manifest.dumpKey;
    result.backupEndedAt = manifest.endedAt;
    result.backupAgeSeconds = Math.round((startedAt.getTime() - Date.parse(manifest.endedAt)) / 1000);
    result.checks.push({ name: "backup", ok: true, detail: `${manifest.dumpKey} (${manifest.size} bytes, taken ${manifest.endedAt})` });
  } catch (err) {
    if (!(err instanceof UsageError) || !/^No (verified )?backup|^No manifest/.test(err.message)) throw err;
    result.checks.push({ name: "backup", ok: false, detail: err.message });
  }

  if (manifest) {
    const engine = manifestEngine(manifest);
    const scratchServer = typeof opts.scratchServer === "function" ? await opts.scratchServer(engine) : opts.scratchServer;
    checkScratchEngine(engine, scratchServer);
    const admin = await scratchDatabases(engine, scratchServer);
    try {
      await admin.create(scratch);
      log(`scratch database ${scratch} created on ${admin.where}`);
      try {
        const destination = { url: scratchDatabaseUrl(scratchServer, scratch), label: `the drill's scratch database (${scratchServer.label})` };
        try {
          const report = await runRestore({ bucket: opts.bucket, source: opts.source, manifestKey: manifest.manifestKey, sites: opts.sites, destination, pgBinDir: opts.pgBinDir, mysqlBinDir: opts.mysqlBinDir, log });
          result.durationSeconds = report.durationSeconds;
          result.checks.push({ name: "restore", ok: true, detail: `restored in ${report.durationSeconds.toFixed(1)} s` });
          result.checks.push(...checksFromRestore(report, manifest));
        } catch (err) {
          if (!(err instanceof CheckFailedError)) throw err;
          result.checks.push({ name: "restore", ok: false, detail: err.message });
        }
        if (opts.smokeQuery !== undefined && result.checks.every((c) => c.ok)) result.checks.push(await smokeQuery(engine, destination, opts.smokeQuery));
      } finally {
        await admin.drop(scratch).then(
          () => log(`scratch database ${scratch} removed`),
          (err: unknown) => log(`could not remove the scratch database ${scratch}: ${errorMessage(err)}; drop it by hand`),
        );
      }
    } finally {
      await admin.end();
    }
  }

  result.ok = result.checks.length > 0 && result.checks.every((c) => c.ok);
  result.endedAt = new Date().toISOString();
  await s3
    .send(new PutObjectCommand({ Bucket: opts.bucket.bucket, Key: reportKey, Body: JSON.stringify(result, null, 2) + "\n", ContentType: "application/json", ChecksumAlgorithm: "SHA256" }))
    .catch((err: unknown) => {
      throw explainS3Error(err, opts.bucket, `write the drill report ${reportKey}`);
    });
  log(`drill ${result.ok ? "passed" : "FAILED"}${result.durationSeconds !== undefined ? `, restore took ${result.durationSeconds.toFixed(1)} s` : ""}; report s3://${opts.bucket.bucket}/${reportKey}`);
  return result;
}
