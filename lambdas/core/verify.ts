/**
 * The monitor: for every protected database, proves that the newest good
 * backup is recent enough for its tier, that its bytes still hash to what
 * the manifest recorded (a MySQL/MariaDB dump is also gunzipped and read:
 * its tables' rows and checksums are the manifest's), and that the peer
 * region's bucket holds the same object. Publishes one set of metrics per database and, when anything
 * fails, one SNS notification listing every failure.
 *
 * Cost per database is O(1) requests (one GET per site's pointer, manifest,
 * HEAD, GET, peer HEADs). The newest good backup is the newest by writer
 * epoch, then slot, among the pointers present: on a standby that is usually
 * the active site's replicated one.
 */
import { createHash } from "node:crypto";
import { S3Client, GetObjectCommand, HeadObjectCommand, HeadObjectCommandOutput, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { CloudWatchClient, PutMetricDataCommand, MetricDatum, StandardUnit } from "@aws-sdk/client-cloudwatch";
import { SNSClient, PublishCommand } from "@aws-sdk/client-sns";
import { errorMessage, UsageError } from "./errors";
import { BackupTarget, TIER_RPO_SECONDS, databasePrefix, pointerKeys } from "./layout";
import { BackupManifest, getJson, isAheadOfClock, isMysqlManifest, resolveLatest } from "./manifest";
import { checkMysqlDump } from "./mysqlVerify";
import { BucketLocation, checkBucket, isNotFound, s3Client } from "./s3";

export const DEFAULT_METRIC_NAMESPACE = "drstack/backups";
export const DEFAULT_REPLICATION_GRACE_SECONDS = 15 * 60;

/** Where metrics and notifications go (CloudWatch and SNS in one region/endpoint). */
export interface MonitoringTarget {
  region: string;
  /** Endpoint for CloudWatch and SNS (moto in tests); AWS when unset. */
  endpoint?: string;
  namespace: string;
  /** SNS topic for failure notifications; none are sent when unset. */
  topicArn?: string;
  /** Added as a `Site` dimension when set, so both sites' monitors stay apart. */
  site?: string;
}

export interface VerifyOptions {
  targets: BackupTarget[];
  bucket: BucketLocation;
  /** The peer region's bucket that replication copies into; the replication check is skipped when unset. */
  peer?: BucketLocation;
  monitoring?: MonitoringTarget;
  /** Re-read every byte of the newest dump and hash it (default), or trust S3's stored checksum. */
  deep?: boolean;
  /** How long a new backup may be missing from the peer before that is a failure. */
  replicationGraceSeconds?: number;
  /** Classes whose dumps must be COMPLIANCE-locked, with the class's retention in days. Reading the lock needs s3:GetObjectRetention. */
  complianceClasses?: Partial<Record<BackupTarget["dataClass"], number>>;
  /** Sites whose pointers to look for beside primary and secondary. */
  sites?: string[];
  /** Count only this site's drill reports in the drill age (the verifier's own site); every site's when unset. */
  drillSite?: string;
  now?: Date;
  /** Where what verify skips goes (an unreadable drill report); nowhere when unset. */
  log?: (message: string) => void;
}

export interface TargetReport {
  database: string;
  tier: BackupTarget["tier"];
  ok: boolean;
  failures: string[];
  dumpKey?: string;
  /** The site whose backup is the newest good one, and its writer epoch. */
  site?: string;
  epoch?: number;
  ageSeconds?: number;
  rpoSeconds: number;
  sizeBytes?: number;
  replicationLagSeconds?: number;
  replica?: "present" | "missing" | "mismatch" | "unreachable" | "not-checked";
  /**
   * Seconds since the newest passed restore drill started; with no passed
   * drill, since the oldest retained backup ended (how long the database has
   * gone undrilled); absent with no backup at all. Never a failure of the
   * check: a stale drill is the drill-age alarm's business.
   */
  drillAgeSeconds?: number;
  /** The newest readable drill report, passed or not. */
  lastDrill?: { startedAt: string; ok: boolean; reportKey: string };
}

export interface VerifyReport {
  ok: boolean;
  checkedAt: string;
  site?: string;
  targets: TargetReport[];
  notified: boolean;
}

export async function runVerify(opts: VerifyOptions): Promise<VerifyReport> {
  if (opts.targets.length === 0) throw new UsageError("No databases to verify: set --targets / BACKUP_TARGETS, e.g. app:critical.");
  const now = opts.now ?? new Date();
  const s3 = s3Client(opts.bucket);
  await checkBucket(s3, opts.bucket);
  const peerS3 = opts.peer ? s3Client(opts.peer) : undefined;
  const reports: TargetReport[] = [];
  for (const target of opts.targets) {
    const report = await verifyTarget(target, s3, opts, peerS3, now);
    Object.assign(report, await drillAge(s3, opts.bucket.bucket, target, now, opts.log ?? (() => undefined), opts.drillSite));
    reports.push(report);
  }
  const report: VerifyReport = {
    ok: reports.every((r) => r.ok),
    checkedAt: now.toISOString(),
    site: opts.monitoring?.site,
    targets: reports,
    notified: false,
  };
  if (opts.monitoring) {
    await publishMetrics(opts.monitoring, reports, now);
    if (!report.ok && opts.monitoring.topicArn) {
      await notify(opts.monitoring, report);
      report.notified = true;
    }
  }
  return report;
}

async function verifyTarget(target: BackupTarget, s3: S3Client, opts: VerifyOptions, peerS3: S3Client | undefined, now: Date): Promise<TargetReport> {
  const bucket = opts.bucket.bucket;
  const report: TargetReport = { database: target.database, tier: target.tier, ok: false, failures: [], rpoSeconds: target.maxAgeSeconds ?? TIER_RPO_SECONDS[target.tier] };
  const fail = (msg: string) => report.failures.push(msg);
  try {
    const resolved = await resolveLatest(s3, bucket, target, opts.sites);
    if (!resolved) {
      fail(`no verified backup has been published (none of ${pointerKeys(target, opts.sites).map((key) => `s3://${bucket}/${key}`).join(", ")} exists)`);
      return finish(report);
    }
    report.site = resolved.pointer.site;
    report.epoch = resolved.pointer.epoch;
    if (isAheadOfClock(resolved.pointer.slot, now)) {
      fail(`${resolved.key} names slot ${resolved.pointer.slot}, ahead of the clock (${now.toISOString()}): a backup run with a future --slot / BACKUP_SLOT, or a wrong clock; the site's next backup replaces it`);
    }
    const manifest = (await getJson<BackupManifest>(s3, bucket, resolved.pointer.manifestKey))?.value;
    if (!manifest) {
      fail(`${resolved.key} names ${resolved.pointer.manifestKey}, which is missing`);
      return finish(report);
    }
    report.dumpKey = manifest.dumpKey;
    report.sizeBytes = manifest.size;
    report.ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(manifest.endedAt)) / 1000));
    if (report.ageSeconds > report.rpoSeconds) {
      const limit = target.maxAgeSeconds === undefined ? `the ${target.tier} tier's RPO` : `the ${target.tier} tier's allowed age (one schedule interval and run)`;
      fail(`newest good backup is ${formatDuration(report.ageSeconds)} old, older than ${limit} of ${formatDuration(report.rpoSeconds)}`);
    }

    const head = await headOrUndefined(s3, bucket, manifest.dumpKey);
    if (!head) {
      fail(`dump ${manifest.dumpKey} named by the manifest is missing`);
      return finish(report);
    }
    checkObjectAgainstManifest(head, manifest, "stored dump", fail);
    const complianceDays = opts.complianceClasses?.[target.dataClass];
    if (complianceDays !== undefined) checkComplianceLock(head, manifest, target.dataClass, complianceDays, fail);
    if ((opts.deep ?? true) && isMysqlManifest(manifest)) {
      // The SQL is read back too: its tables, rows and checksums are the manifest's.
      const check = await checkMysqlDump(s3, bucket, manifest);
      if (check.sha256 !== manifest.sha256) fail(`checksum mismatch: ${manifest.dumpKey} hashes to sha256 ${check.sha256}, the manifest recorded ${manifest.sha256}`);
      for (const problem of check.problems) fail(problem);
    } else if (opts.deep ?? true) {
      const actual = await hashObject(s3, bucket, manifest.dumpKey);
      if (actual !== manifest.sha256) fail(`checksum mismatch: ${manifest.dumpKey} hashes to sha256 ${actual}, the manifest recorded ${manifest.sha256}`);
    }
    if (head.ReplicationStatus === "FAILED") fail(`S3 reports replication of ${manifest.dumpKey} FAILED`);

    if (opts.peer && peerS3) {
      await checkReplica(report, manifest, opts.peer, peerS3, now, opts.replicationGraceSeconds ?? DEFAULT_REPLICATION_GRACE_SECONDS);
    } else {
      report.replica = "not-checked";
    }
  } catch (err) {
    fail(`check could not complete: ${errorMessage(err)}`);
  }
  return finish(report);
}

/** `<prefix>drills/<yyyymmddThhmmssZ>-<site>.json`, as lambdas/core/drill.ts drillReportKey writes it. */
const DRILL_REPORT_KEY = /\/drills\/(\d{8}T\d{6}Z)-([a-z][a-z0-9]*)\.json$/;

/** The fields of a drill report (lambdas/core/drill.ts DrillResult) the age is read from. */
interface DrillReportFields {
  ok?: unknown;
  startedAt?: unknown;
}

async function listKeys(s3: S3Client, bucket: string, prefix: string, until?: (key: string) => boolean): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of res.Contents ?? []) {
      if (!o.Key) continue;
      keys.push(o.Key);
      if (until?.(o.Key)) return keys;
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/**
 * The drill age of one database. Reports are few (one per drill, monthly or
 * so), so the drills/ prefix is listed whole and read newest first until a
 * passed one. Only `site`'s own reports count when it is given: replication
 * carries the peer's into this bucket, and the peer passing must not hide
 * this site failing. With no passed drill the age runs from this site's first
 * (failed) drill; before the first drill there is none, so a new deployment
 * does not alarm for the month until its first scheduled drill.
 */
async function drillAge(s3: S3Client, bucket: string, target: BackupTarget, now: Date, log: (message: string) => void, site?: string): Promise<Pick<TargetReport, "drillAgeSeconds" | "lastDrill">> {
  const prefix = databasePrefix(target);
  const result: Pick<TargetReport, "drillAgeSeconds" | "lastDrill"> = {};
  const age = (from: string) => Math.max(0, Math.round((now.getTime() - Date.parse(from)) / 1000));
  try {
    const reports = (await listKeys(s3, bucket, `${prefix}drills/`))
      .flatMap((key) => {
        const match = DRILL_REPORT_KEY.exec(key);
        return match === null || (site !== undefined && match[2] !== site) ? [] : [{ key, t: match[1] }];
      })
      .sort((a, b) => (a.t === b.t ? b.key.localeCompare(a.key) : b.t.localeCompare(a.t)));
    let firstStartedAt: string | undefined;
    for (const { key } of reports) {
      let report: DrillReportFields | undefined;
      try {
        report = (await getJson<DrillReportFields>(s3, bucket, key))?.value;
      } catch (err) {
        log(`${target.database}: drill report ${key} skipped, unreadable: ${errorMessage(err)}`);
        continue;
      }
      if (!report || typeof report.ok !== "boolean" || typeof report.startedAt !== "string" || Number.isNaN(Date.parse(report.startedAt))) {
        if (report) log(`${target.database}: drill report ${key} skipped: it has no ok and startedAt`);
        continue;
      }
      result.lastDrill ??= { startedAt: report.startedAt, ok: report.ok, reportKey: key };
      if (report.ok) {
        result.drillAgeSeconds = age(report.startedAt);
        return result;
      }
      firstStartedAt = report.startedAt;
    }
    if (firstStartedAt !== undefined) result.drillAgeSeconds = age(firstStartedAt);
  } catch (err) {
    log(`${target.database}: drill age not published: ${errorMessage(err)}`);
  }
  return result;
}

function finish(report: TargetReport): TargetReport {
  report.ok = report.failures.length === 0;
  return report;
}

/**
 * What a HEAD can prove without reading the bytes. An object replaced by a
 * plain PutObject has no stored SHA-256 to compare, so its size, its ETag (a
 * multipart ETag is a digest of the part digests) and, in the bucket that
 * took the backup, its version id must still be the ones the manifest
 * recorded. Replication keeps neither the version id nor always the
 * checksum mode, so a replica is held to size, checksum and ETag only.
 */
function checkObjectAgainstManifest(head: HeadObjectCommandOutput, m: BackupManifest, what: string, fail: (msg: string) => void, origin: "source" | "replica" = "source"): void {
  if (head.ContentLength !== m.size) fail(`${what} is ${head.ContentLength} bytes, the manifest recorded ${m.size}`);
  if (m.s3ChecksumSha256 && head.ChecksumSHA256 && head.ChecksumSHA256 !== m.s3ChecksumSha256) {
    fail(`checksum mismatch: ${what} has S3 checksum ${head.ChecksumSHA256}, the manifest recorded ${m.s3ChecksumSha256}`);
  }
  if (origin === "source" && m.s3ChecksumSha256 && !head.ChecksumSHA256) fail(`${what} has no stored SHA-256 checksum, the manifest recorded ${m.s3ChecksumSha256}: it was replaced`);
  if (m.etag && head.ETag && head.ETag !== m.etag) fail(`${what} has ETag ${head.ETag}, the manifest recorded ${m.etag}`);
  if (origin === "source" && m.versionId && head.VersionId && head.VersionId !== m.versionId) {
    fail(`${what} is version ${head.VersionId}, the manifest recorded version ${m.versionId}`);
  }
}

/** Clock skew and rounding between the run's start and S3's stored retain-until date. */
const LOCK_TOLERANCE_MS = 24 * 3600 * 1000;

/**
 * A dump of a COMPLIANCE class must be COMPLIANCE-locked for the class's
 * retention from its run's start: no one, the root user included, can then
 * delete it or shorten the lock. GOVERNANCE or no lock means an administrator
 * could.
 */
function checkComplianceLock(head: HeadObjectCommandOutput, m: BackupManifest, dataClass: string, days: number, fail: (msg: string) => void): void {
  if (head.ObjectLockMode !== "COMPLIANCE") {
    const found = head.ObjectLockMode ? `${head.ObjectLockMode}-locked` : "not locked (or the verifier may not read its retention: s3:GetObjectRetention)";
    fail(`dump ${m.dumpKey} of the COMPLIANCE class ${dataClass} is ${found}`);
    return;
  }
  const required = Date.parse(m.startedAt) + days * 86_400_000 - LOCK_TOLERANCE_MS;
  const until = head.ObjectLockRetainUntilDate?.getTime();
  if (until === undefined || until < required) {
    fail(`dump ${m.dumpKey} of the COMPLIANCE class ${dataClass} is locked only until ${head.ObjectLockRetainUntilDate?.toISOString() ?? "an unknown date"}, short of the class's ${days} days`);
  }
}

async function checkReplica(report: TargetReport, m: BackupManifest, peer: BucketLocation, peerS3: S3Client, now: Date, graceSeconds: number): Promise<void> {
  const sinceBackup = Math.max(0, Math.round((now.getTime() - Date.parse(m.endedAt)) / 1000));
  let head: HeadObjectCommandOutput | undefined;
  let manifestHead: HeadObjectCommandOutput | undefined;
  try {
    head = await headOrUndefined(peerS3, peer.bucket, m.dumpKey);
    manifestHead = await headOrUndefined(peerS3, peer.bucket, m.manifestKey);
  } catch (err) {
    report.replica = "unreachable";
    report.replicationLagSeconds = sinceBackup;
    report.failures.push(`peer bucket ${peer.bucket} (${peer.endpoint ?? peer.region}) could not be read: ${errorMessage(err)}`);
    return;
  }
  if (!head || !manifestHead) {
    // Not replicated yet: the lag is how long the newest backup has been waiting.
    report.replica = "missing";
    report.replicationLagSeconds = sinceBackup;
    if (sinceBackup > graceSeconds) {
      report.failures.push(`replica missing: ${!head ? m.dumpKey : m.manifestKey} is not in peer bucket ${peer.bucket} ${formatDuration(sinceBackup)} after the backup (grace ${formatDuration(graceSeconds)})`);
    }
    return;
  }
  const problems: string[] = [];
  checkObjectAgainstManifest(head, m, `replica in ${peer.bucket}`, (msg) => problems.push(msg), "replica");
  report.replica = problems.length ? "mismatch" : "present";
  report.replicationLagSeconds = 0;
  report.failures.push(...problems);
}

async function headOrUndefined(s3: S3Client, bucket: string, key: string): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function hashObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const h = createHash("sha256");
  for await (const chunk of res.Body as AsyncIterable<Uint8Array>) h.update(chunk);
  return h.digest("hex");
}

export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86400).toFixed(1)}d`;
}

/** CloudWatch and SNS calls are small: an endpoint silent for this long is not answering. */
const MONITORING_TIMEOUTS = { connectionTimeout: 10_000, socketTimeout: 30_000 };

/** Metric names the infra alarms refer to. */
export const METRICS = {
  age: "BackupAgeSeconds",
  size: "BackupSizeBytes",
  lag: "ReplicationLagSeconds",
  failed: "BackupCheckFailed",
  drillAge: "DrillAgeSeconds",
} as const;

export function metricData(reports: TargetReport[], now: Date, site?: string): MetricDatum[] {
  const data: MetricDatum[] = [];
  for (const r of reports) {
    const dims = [{ Name: "Database", Value: r.database }, ...(site ? [{ Name: "Site", Value: site }] : [])];
    const put = (name: string, value: number, unit: StandardUnit) => data.push({ MetricName: name, Dimensions: dims, Value: value, Unit: unit, Timestamp: now });
    put(METRICS.failed, r.ok ? 0 : 1, "Count");
    if (r.ageSeconds !== undefined) put(METRICS.age, r.ageSeconds, "Seconds");
    if (r.sizeBytes !== undefined) put(METRICS.size, r.sizeBytes, "Bytes");
    if (r.replicationLagSeconds !== undefined) put(METRICS.lag, r.replicationLagSeconds, "Seconds");
    if (r.drillAgeSeconds !== undefined) put(METRICS.drillAge, r.drillAgeSeconds, "Seconds");
  }
  return data;
}

async function publishMetrics(m: MonitoringTarget, reports: TargetReport[], now: Date): Promise<void> {
  const cw = new CloudWatchClient({ region: m.region, endpoint: m.endpoint, maxAttempts: 3, requestHandler: MONITORING_TIMEOUTS });
  const data = metricData(reports, now, m.site);
  // PutMetricData takes up to 1000 data points per call.
  for (let i = 0; i < data.length; i += 1000) {
    await cw.send(new PutMetricDataCommand({ Namespace: m.namespace, MetricData: data.slice(i, i + 1000) }));
  }
}

export function notificationFor(report: VerifyReport): { subject: string; message: string } {
  const failed = report.targets.filter((t) => !t.ok);
  const subject = `drstack backup check failed${report.site ? ` on ${report.site}` : ""}: ${failed.map((t) => t.database).join(", ")}`.slice(0, 100);
  const lines = failed.flatMap((t) => [`${t.database} (${t.tier}):`, ...t.failures.map((f) => `  - ${f}`)]);
  return { subject, message: `${lines.join("\n")}\n\nFull report:\n${JSON.stringify(report, null, 2)}` };
}

async function notify(m: MonitoringTarget, report: VerifyReport): Promise<void> {
  const sns = new SNSClient({ region: m.region, endpoint: m.endpoint, maxAttempts: 3, requestHandler: MONITORING_TIMEOUTS });
  const { subject, message } = notificationFor(report);
  await sns.send(new PublishCommand({ TopicArn: m.topicArn, Subject: subject, Message: message }));
}
