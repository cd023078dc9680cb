/**
 * One backup run: the engine's dump (pg_dump in custom format, or
 * mysqldump / mariadb-dump SQL, gzipped) streamed into a multipart upload,
 * verified, then published. The order is what makes a backup trustworthy,
 * and it is the same for every engine (the engine's part: engineDump.ts):
 *
 * 1. preflight: database reachable with these credentials and not a replica
 *    (PostgreSQL in recovery; MySQL/MariaDB read-only or replicating), this
 *    site confirmed as the writer (fencing: its claim, fence marker and
 *    guard, when it has them), the dump tool able to dump this server,
 *    bucket present - before anything is written;
 * 2. one consistent snapshot: PostgreSQL's exported by a REPEATABLE READ
 *    transaction that also counts every table; mysqldump's own
 *    --single-transaction, whose output is read for each table's rows;
 * 3. the dump streams to S3 in parts (bounded memory) while being hashed
 *    and read (`pg_restore --list` on the archive, the SQL reader on the
 *    plain SQL before gzip);
 * 4. the upload is completed only if the tool exited 0, the dump holds every
 *    counted table and this site is still the writer; otherwise it is aborted;
 * 5. the stored object's size and composite checksum are compared with what
 *    was streamed; then the manifest is written once and the site's own
 *    pointer `latest-<site>.json` moved (never backwards by epoch and slot).
 *
 * Between preflight and publishing the run holds the database's run lock
 * (runLock.ts), so two runs of the same backup never overlap. A retried run
 * for the same schedule slot maps to the same keys: if its manifest exists the
 * run checks the stored dump against it and only re-publishes. Uploads left
 * by dead runs (of any run id) are aborted once the lock is held.
 */
import { createHash, randomBytes } from "node:crypto";
import { S3Client, HeadObjectCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand, DeleteObjectCommand } from "@aws-sdk/client-s3";
import { CheckFailedError, NotWriterError, UsageError, WriterCheckError } from "./errors";
import { engineOfUrl, isMysqlEngine } from "./engine";
import type { DumpOutcome, EngineSession, RunningDump } from "./engineDump";
import { BackupTarget, backupKeys, checkDatabaseName, checkSiteName, databasePrefix, isDumpKey, latestKey } from "./layout";
import { BackupManifest, MANIFEST_FORMAT, MAX_CLOCK_SKEW_MS, getJson, isAheadOfClock, publishLatest, putManifestOnce, PublishOutcome } from "./manifest";
import { openMysqlSession } from "./mysqlBackup";
import { openPostgresSession } from "./postgresBackup";
import { ObjectLockHeaders, uploadStream } from "./multipart";
import { DEFAULT_LOCK_LEASE_SECONDS, LockHeldError, LockLostError, RunLock, RunLockRecord, runLockKey } from "./runLock";
import type { DatabaseConnection } from "./postgres";
import { BucketLocation, checkBucket, explainS3Error, isNotFound, s3Client, s3ErrorInfo } from "./s3";

/** Which site takes a backup and under which writer epoch. */
export interface WriterIdentity {
  site: string;
  epoch: number;
}

/**
 * Confirms that this site is the writer and says under which identity, or
 * throws NotWriterError. Asked before anything is written and again before
 * the dump is completed, so a site fenced mid-run publishes nothing.
 */
export type WriterCheck = () => Promise<WriterIdentity>;

/** A host without a claim (the CLI on a non-AWS site): one writer, epoch 0. */
export const DEFAULT_WRITER: WriterIdentity = { site: "primary", epoch: 0 };

export interface BackupOptions {
  source: DatabaseConnection;
  /** Fixed, or asked of the fencing protocol; DEFAULT_WRITER when unset. */
  writer?: WriterIdentity | WriterCheck;
  /** Name, tier and class of the database; the name defaults to the database in the URL. */
  target: Omit<BackupTarget, "database"> & { database?: string };
  bucket: BucketLocation;
  /** Schedule slot; a retry of the same slot reuses the same keys. Defaults to the start time. */
  slot?: Date;
  /** Overrides the run id (normally derived from the slot, or random for ad-hoc runs). */
  runId?: string;
  partSize?: number;
  concurrency?: number;
  /** pg_dump -Z level (pg_dump's default when unset), or the gzip level of a MySQL/MariaDB dump (mysqlBackup.ts DEFAULT_GZIP_LEVEL when unset). */
  compressLevel?: number;
  /** Directory holding pg_dump and pg_restore; PATH when unset. */
  pgBinDir?: string;
  /** Directory holding mysqldump or mariadb-dump; PATH when unset. */
  mysqlBinDir?: string;
  /** The class's own Object Lock, set on the dump and its manifest for `days` from the run's start; the bucket default when unset. */
  objectLock?: { mode: ObjectLockHeaders["mode"]; days: number };
  /**
   * When the run must be over: pg_dump is then stopped, the upload aborted and
   * the run fails (nothing published). Under Lambda, the function's timeout
   * less a margin for that clean-up; DEFAULT_DEADLINE_SECONDS from now when unset.
   */
  deadline?: Date;
  /** Lease of the run lock: how long a run killed without releasing it blocks the next one. */
  lockLeaseSeconds?: number;
  /** Called with the dump tool's pid once it runs (tests interrupt it through this). */
  onDumpStarted?: (pid: number) => void;
  log?: (message: string) => void;
}

export interface BackupResult {
  outcome: "created" | "already-done";
  published: PublishOutcome;
  manifest: BackupManifest;
}

export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;

/** Same slot and database, same run id: that is what makes a retry land on the same keys. */
export function runIdForSlot(database: string, slot: Date): string {
  return createHash("sha256").update(`${database}|${slot.toISOString()}`).digest("hex").slice(0, 12);
}

/** The CLI's deadline when none is given: a run of a database one host can dump in an hour. */
export const DEFAULT_DEADLINE_SECONDS = 3600;

/**
 * Runs one backup within its deadline. Every S3 request and database call has
 * its own timeout; the deadline bounds the whole, so a service that stalls
 * between calls, or a dump slower than the time left, still ends the run in
 * time: at the deadline the dump tool is killed, which ends the upload's source, so
 * the upload is aborted and nothing is published, and the run fails at once
 * whatever call it is waiting on.
 */
export async function runBackup(opts: BackupOptions): Promise<BackupResult> {
  const deadline = opts.deadline ?? new Date(Date.now() + DEFAULT_DEADLINE_SECONDS * 1000);
  const left = deadline.getTime() - Date.now();
  if (left <= 0) throw new UsageError(`the run's deadline ${deadline.toISOString()} has already passed; raise --deadline-seconds / BACKUP_DEADLINE_SECONDS (under Lambda, the function's timeout).`);
  const expiry = new AbortController();
  const run = backupWithin(opts, deadline, expiry.signal);
  run.catch(() => undefined); // the deadline may answer first; the run still cleans up behind it
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expiry.abort();
      reject(
        new CheckFailedError(
          `the backup did not finish by its deadline ${deadline.toISOString()} (${Math.round(left / 1000)}s; --deadline-seconds / BACKUP_DEADLINE_SECONDS, under Lambda the function's timeout less a margin): the dump was stopped and its upload aborted, nothing was published. A service that accepts connections but does not answer, or a dump too slow for the time given, does this.`,
        ),
      );
    }, left);
  });
  try {
    return await Promise.race([run, overdue]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the engine the URL's scheme names. */
async function openSession(opts: BackupOptions, queryMs: number): Promise<EngineSession> {
  const engine = engineOfUrl(opts.source.url, opts.source.label);
  if (isMysqlEngine(engine)) return openMysqlSession({ source: opts.source, mysqlBinDir: opts.mysqlBinDir, compressLevel: opts.compressLevel, queryMs });
  return openPostgresSession({ source: opts.source, pgBinDir: opts.pgBinDir, compressLevel: opts.compressLevel, queryMs });
}

async function backupWithin(opts: BackupOptions, deadline: Date, expired: AbortSignal): Promise<BackupResult> {
  const log = opts.log ?? (() => undefined);
  if (opts.slot && isAheadOfClock(opts.slot.toISOString(), new Date())) {
    // A future slot would be published and then outrank every real backup by slot.
    throw new UsageError(
      `--slot / BACKUP_SLOT (or the event's slot) is ${opts.slot.toISOString()}, more than ${MAX_CLOCK_SKEW_MS / 60_000} minutes ahead of this host's clock (${new Date().toISOString()}). A slot is the scheduled time of a run that has started: pass the schedule's time (<aws.scheduler.scheduled-time>) or leave it unset; if the slot is right, fix the host's clock (NTP).`,
    );
  }
  if (opts.compressLevel !== undefined && !(Number.isInteger(opts.compressLevel) && opts.compressLevel >= 0 && opts.compressLevel <= 9)) {
    throw new UsageError(`--compress / BACKUP_COMPRESS_LEVEL must be a whole number from 0 to 9 (got ${opts.compressLevel}).`);
  }
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;

  // 1. Preflight: every check that needs no write.
  const s3 = s3Client(opts.bucket);
  const session = await openSession(opts, Math.max(1000, deadline.getTime() - Date.now()));
  let dump: RunningDump | undefined;
  let lock: RunLock | undefined;
  expired.addEventListener("abort", () => {
    log(`deadline ${deadline.toISOString()} reached; stopping ${session.tool}`);
    dump?.kill();
  });
  /** Past the deadline the run starts nothing new: the caller has already been told it failed. */
  const inTime = () => {
    if (expired.aborted) throw new CheckFailedError(`deadline ${deadline.toISOString()} passed`);
  };
  try {
    const target: BackupTarget = {
      database: checkDatabaseName(opts.target.database ?? session.database, opts.target.database ? "--name / BACKUP_NAME" : opts.source.label),
      tier: opts.target.tier,
      dataClass: opts.target.dataClass,
    };
    await session.refuseReplica();
    const confirmWriter = writerCheck(opts.writer);
    const writer = await confirmWriter();
    await session.checkTool();
    await checkBucket(s3, opts.bucket);

    const startedAt = new Date();
    const retention: ObjectLockHeaders | undefined = opts.objectLock && { mode: opts.objectLock.mode, retainUntil: new Date(startedAt.getTime() + opts.objectLock.days * 86_400_000) };
    const slot = opts.slot ?? startedAt;
    const runId = opts.runId ?? (opts.slot ? runIdForSlot(target.database, slot) : randomBytes(6).toString("hex"));
    const keys = backupKeys(target, slot, runId, writer.site, session.engine);
    const pointerKey = latestKey(target, writer.site);
    const bucket = opts.bucket.bucket;

    const readManifest = () =>
      getJson<BackupManifest>(s3, bucket, keys.manifestKey).catch((err: unknown) => {
        throw explainS3Error(err, opts.bucket, `read ${keys.manifestKey}`);
      });
    /** Another run of this slot finished: report success only for a stored dump that still is what its manifest says. */
    const republish = async (m: BackupManifest): Promise<BackupResult> => {
      await checkAgainstManifest(s3, bucket, m);
      log(`slot ${slot.toISOString()} already backed up at ${m.dumpKey} (checked against its manifest); re-publishing only`);
      return { outcome: "already-done", published: await publishLatest(s3, bucket, pointerKey, m, log), manifest: m };
    };

    inTime();
    const lockKey = runLockKey(target, writer.site);
    const attempt = await RunLock.acquire(s3, bucket, lockKey, {
      database: target.database,
      site: writer.site,
      runId,
      slot: slot.toISOString(),
      leaseSeconds: opts.lockLeaseSeconds ?? DEFAULT_LOCK_LEASE_SECONDS,
      log,
    }).catch((err: unknown) => {
      throw explainS3Error(err, opts.bucket, `take the run lock ${lockKey}`);
    });
    if (!attempt.held) {
      const done = await readManifest();
      if (done) return await republish(done.value);
      const h = attempt.holder;
      const same = h.slot === slot.toISOString() && h.runId === runId;
      throw new LockHeldError(
        `${same ? "another run owns this slot" : "another backup of this database is running"}: run ${h.runId} (slot ${h.slot}, started ${h.acquiredAt}) holds ${lockKey} until ${h.expiresAt} unless it renews it. This run did nothing${same ? "; the holder publishes the slot" : ""}.`,
        h,
      );
    }
    lock = attempt.lock;
    lock.startRenewal((reason) => {
      log(`lost the run lock ${lockKey} (${reason}); stopping ${session.tool}`);
      dump?.kill();
    });

    const existing = await readManifest();
    if (existing) return await republish(existing.value);
    await abortStaleUploads(s3, bucket, target, writer.site, keys.dumpKey, attempt.previous, log);

    inTime();
    // 2. The engine's consistent dump, read from the moment it starts.
    const running = await session.startDump(log);
    dump = running;
    if (running.pid) opts.onDumpStarted?.(running.pid);
    log(`${session.tool} -> s3://${bucket}/${keys.dumpKey}`);
    let outcome: DumpOutcome | undefined;

    // 3-4. Stream, verify, complete or abort.
    const upload = await uploadStream(s3, bucket, keys.dumpKey, running.output, {
      partSize,
      concurrency,
      objectLock: retention,
      onCreated: (uploadId) => lock!.recordUpload({ key: keys.dumpKey, uploadId }),
      beforeComplete: async () => {
        outcome = await running.finish();
        // A site fenced while it dumped must not complete (and so never publish) the dump.
        const still = await confirmWriter();
        if (still.site !== writer.site || still.epoch !== writer.epoch) {
          throw new NotWriterError(`its writer identity changed during the dump (${writer.site} epoch ${writer.epoch} -> ${still.site} epoch ${still.epoch}); the next run uses the new one`);
        }
        // A run whose lease ran out may have a successor by now: only the holder completes.
        await lock!.confirmHeld();
      },
    }).catch((err: unknown) => {
      running.kill();
      if (err instanceof LockLostError) throw new CheckFailedError(`${err.message}; its upload was aborted and nothing was published`);
      throw err instanceof CheckFailedError || err instanceof UsageError || err instanceof WriterCheckError ? err : explainS3Error(err, opts.bucket, `upload ${keys.dumpKey}`);
    });
    dump = undefined;
    await running.release();

    // 5. What S3 stored is what we streamed; then publish.
    await checkStoredObject(s3, bucket, keys.dumpKey, upload.size, upload.s3ChecksumSha256);
    const manifest = manifestOf(
      {
        format: MANIFEST_FORMAT,
        database: target.database,
        tier: target.tier,
        dataClass: target.dataClass,
        runId,
        site: writer.site,
        epoch: writer.epoch,
        slot: slot.toISOString(),
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        dumpKey: keys.dumpKey,
        manifestKey: keys.manifestKey,
        size: upload.size,
        sha256: upload.sha256,
        s3ChecksumSha256: upload.s3ChecksumSha256,
        etag: upload.etag,
        versionId: upload.versionId,
        partSize,
        partCount: upload.partCount,
      },
      outcome!,
    );
    inTime();
    await lock.confirmHeld();
    if (!(await putManifestOnce(s3, bucket, manifest, retention))) {
      // Another attempt of this slot finished first; its manifest describes the object now stored.
      return await republish((await readManifest())!.value);
    }
    const published = await publishLatest(s3, bucket, pointerKey, manifest, log);
    log(`backup ${keys.dumpKey}: ${manifest.size} bytes, sha256 ${manifest.sha256}, latest: ${published}`);
    return { outcome: "created", published, manifest };
  } finally {
    dump?.kill();
    await lock?.release();
    await session.close();
  }
}

type ManifestHead = Omit<BackupManifest, "engine" | "serverVersion" | "tables" | "tableChecksumMethod" | "verification" | "pgDumpVersion" | "dumpFormat" | "dumpToolVersion" | "binlog" | "objects">;

/**
 * The manifest of a finished dump. A PostgreSQL manifest has the fields, in
 * the order, it always had (no `engine`), so readers of older and newer ones
 * see one shape.
 */
export function manifestOf(head: ManifestHead, outcome: DumpOutcome): BackupManifest {
  const { tables, tableChecksumMethod, fields } = outcome;
  if (fields.engine === "postgres") {
    return { ...head, serverVersion: fields.serverVersion, pgDumpVersion: fields.pgDumpVersion, tables, tableChecksumMethod, verification: fields.verification };
  }
  const { engine, serverVersion, dumpFormat, dumpToolVersion, binlog, nonTransactionalTables, objects, verification } = fields;
  const { format, ...rest } = head;
  return {
    format,
    engine,
    ...rest,
    serverVersion,
    dumpFormat,
    dumpToolVersion,
    tables,
    tableChecksumMethod,
    ...(binlog ? { binlog } : {}),
    ...(nonTransactionalTables ? { nonTransactionalTables } : {}),
    objects,
    verification,
  };
}

function writerCheck(writer: BackupOptions["writer"]): WriterCheck {
  if (typeof writer === "function") return writer;
  const fixed = writer ?? DEFAULT_WRITER;
  checkSiteName(fixed.site, "--site / SITE");
  if (!Number.isInteger(fixed.epoch) || fixed.epoch < 0) throw new UsageError(`--epoch / BACKUP_EPOCH must be a whole number of 0 or more (got ${fixed.epoch}).`);
  return async () => fixed;
}

/**
 * How old an upload of this site's keys must be before it counts as stale
 * even when no lock record names it: older than any lease, so its run has
 * either finished or lost the lock long ago.
 */
export const STALE_UPLOAD_MIN_AGE_MS = 60 * 60_000;

/**
 * Aborts what dead runs left open, called only while holding the run lock:
 * the upload named by the lock this run took over (its run's lease ran out,
 * so it can complete nothing), and, by listing, any upload of this site's
 * dump keys under the database's prefix older than STALE_UPLOAD_MIN_AGE_MS,
 * whatever its run id. MinIO lists uploads only for an exact key, so there the
 * listing finds only this run's own key; the lock record covers the rest.
 */
async function abortStaleUploads(
  s3: S3Client,
  bucket: string,
  target: Pick<BackupTarget, "database" | "dataClass">,
  site: string,
  ownKey: string,
  previous: RunLockRecord | undefined,
  log: (m: string) => void,
): Promise<void> {
  const stale = new Map<string, { key: string; uploadId: string; why: string }>();
  if (previous?.upload) stale.set(previous.upload.uploadId, { ...previous.upload, why: `left by run ${previous.runId}, whose lock lease ran out` });
  const cutoff = Date.now() - STALE_UPLOAD_MIN_AGE_MS;
  for (const prefix of [ownKey, databasePrefix(target)]) {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const res = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      for (const u of res.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !isDumpKey(u.Key) || !u.Key.includes(`-${site}-`)) continue;
        // The same slot's key can only be a dead attempt of this slot: this run holds the lock and has not started its upload.
        if (u.Key === ownKey) stale.set(u.UploadId, { key: u.Key, uploadId: u.UploadId, why: "an earlier attempt of this slot" });
        else if (u.Initiated && u.Initiated.getTime() < cutoff) stale.set(u.UploadId, { key: u.Key, uploadId: u.UploadId, why: `initiated ${u.Initiated.toISOString()}` });
      }
      keyMarker = res.IsTruncated ? res.NextKeyMarker : undefined;
      uploadIdMarker = res.IsTruncated ? res.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }
  for (const u of stale.values()) {
    log(`aborting stale upload ${u.uploadId} of ${u.key} (${u.why})`);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.key, UploadId: u.uploadId })).catch((err: unknown) => {
      // Already completed or aborted: nothing left to clean.
      if (s3ErrorInfo(err).name !== "NoSuchUpload") throw err;
    });
  }
}

/**
 * The stored dump is the one the manifest describes: same size, and the same
 * composite checksum, ETag and version id where both sides have them. Asked
 * before a run reports another run's backup of its slot as done.
 */
async function checkAgainstManifest(s3: S3Client, bucket: string, m: BackupManifest): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: m.dumpKey, ChecksumMode: "ENABLED" })).catch((err: unknown) => {
    if (isNotFound(err)) throw new CheckFailedError(`the manifest ${m.manifestKey} names ${m.dumpKey}, which is missing`);
    throw err;
  });
  const problems: string[] = [];
  if (head.ContentLength !== m.size) problems.push(`size ${head.ContentLength} != ${m.size}`);
  if (m.s3ChecksumSha256 && head.ChecksumSHA256 !== undefined && head.ChecksumSHA256 !== m.s3ChecksumSha256) problems.push(`checksum ${head.ChecksumSHA256} != ${m.s3ChecksumSha256}`);
  if (m.s3ChecksumSha256 && head.ChecksumSHA256 === undefined) problems.push("no stored SHA-256 checksum");
  if (m.etag && head.ETag && head.ETag !== m.etag) problems.push(`ETag ${head.ETag} != ${m.etag}`);
  if (m.versionId && head.VersionId && head.VersionId !== m.versionId) problems.push(`version ${head.VersionId} != ${m.versionId}`);
  if (problems.length > 0) {
    throw new CheckFailedError(`stored dump ${m.dumpKey} does not match its manifest ${m.manifestKey} (${problems.join("; ")}); not reporting the slot as backed up`);
  }
}

async function checkStoredObject(s3: S3Client, bucket: string, key: string, size: number, composite: string | undefined): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
  const problems: string[] = [];
  if (head.ContentLength !== size) problems.push(`size ${head.ContentLength} != streamed ${size}`);
  if (composite && head.ChecksumSHA256 && head.ChecksumSHA256 !== composite) problems.push(`checksum ${head.ChecksumSHA256} != ${composite}`);
  if (problems.length > 0) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
    throw new CheckFailedError(`stored object ${key} does not match the stream: ${problems.join("; ")}`);
  }
}
