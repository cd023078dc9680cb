/**
 * One backup run: pg_dump (custom format) streamed into a multipart upload,
 * verified, then published. The order is what makes a backup trustworthy:
 *
 * 1. preflight: database reachable with these credentials and not in
 *    recovery (a replica never backs up), this site confirmed as the writer
 *    (fencing: its claim, fence marker and guard, when it has them),
 *    pg_dump new enough, bucket present - before anything is written;
 * 2. a REPEATABLE READ transaction exports its snapshot; pg_dump dumps that
 *    snapshot while the same transaction counts every table's rows;
 * 3. the archive streams to S3 in parts (bounded memory) while being hashed
 *    and while `pg_restore --list` reads its table of contents;
 * 4. the upload is completed only if pg_dump exited 0, the TOC lists data
 *    for every counted table and this site is still the writer; otherwise
 *    it is aborted;
 * 5. the stored object's size and composite checksum are compared with what
 *    was streamed; then the manifest is written once and the site's own
 *    pointer `latest-<site>.json` moved (never backwards by epoch and slot).
 *
 * A retried run for the same schedule slot maps to the same keys: if its
 * manifest exists the run only re-publishes; stale uploads are aborted first.
 */
import { spawn, ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { S3Client, HeadObjectCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand, DeleteObjectCommand } from "@aws-sdk/client-s3";
import { CheckFailedError, NotWriterError, UsageError, WriterCheckError } from "./errors";
import { BackupTarget, backupKeys, checkDatabaseName, checkSiteName, latestKey } from "./layout";
import { BackupManifest, MANIFEST_FORMAT, getJson, publishLatest, putManifestOnce, PublishOutcome } from "./manifest";
import { ObjectLockHeaders, uploadStream } from "./multipart";
import { DatabaseConnection, connect, parseDatabaseUrl, pgTool, pgToolEnv, serverVersion } from "./postgres";
import { BucketLocation, checkBucket, explainS3Error, s3Client } from "./s3";
import { startTocReader, TocSummary } from "./toc";
import { TABLE_CHECKSUM_METHOD, TableState, userTableStates } from "./checksums";

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
  /** pg_dump -Z level; pg_dump's default when unset. */
  compressLevel?: number;
  /** Directory holding pg_dump and pg_restore; PATH when unset. */
  pgBinDir?: string;
  /** The class's own Object Lock, set on the dump and its manifest for `days` from the run's start; the bucket default when unset. */
  objectLock?: { mode: ObjectLockHeaders["mode"]; days: number };
  /** Called with pg_dump's pid once it runs (tests interrupt it through this). */
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

export async function runBackup(opts: BackupOptions): Promise<BackupResult> {
  const log = opts.log ?? (() => undefined);
  const db = parseDatabaseUrl(opts.source);
  const target: BackupTarget = {
    database: checkDatabaseName(opts.target.database ?? db.database, opts.target.database ? "--name / BACKUP_NAME" : opts.source.label),
    tier: opts.target.tier,
    dataClass: opts.target.dataClass,
  };
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;

  // 1. Preflight: every check that needs no write.
  const pgDump = pgTool("pg_dump", opts.pgBinDir);
  const pgRestore = pgTool("pg_restore", opts.pgBinDir);
  const s3 = s3Client(opts.bucket);
  const client = await connect(opts.source);
  let dump: ChildProcess | undefined;
  try {
    await refuseReplica(client);
    const confirmWriter = writerCheck(opts.writer);
    const writer = await confirmWriter();
    const server = await serverVersion(client);
    if (pgDump.major < server.major) {
      throw new UsageError(`${pgDump.path} is version ${pgDump.major} but the server runs ${server.version}; pg_dump must be at least the server's major version. Set --pg-bin-dir / PG_BIN_DIR to newer client tools.`);
    }
    await checkBucket(s3, opts.bucket);

    const startedAt = new Date();
    const lock: ObjectLockHeaders | undefined = opts.objectLock && { mode: opts.objectLock.mode, retainUntil: new Date(startedAt.getTime() + opts.objectLock.days * 86_400_000) };
    const slot = opts.slot ?? startedAt;
    const runId = opts.runId ?? (opts.slot ? runIdForSlot(target.database, slot) : randomBytes(6).toString("hex"));
    const keys = backupKeys(target, slot, runId, writer.site);
    const pointerKey = latestKey(target, writer.site);
    const bucket = opts.bucket.bucket;

    const existing = await getJson<BackupManifest>(s3, bucket, keys.manifestKey).catch((err: unknown) => {
      throw explainS3Error(err, opts.bucket, `read ${keys.manifestKey}`);
    });
    if (existing) {
      log(`slot ${slot.toISOString()} already backed up at ${keys.dumpKey}; re-publishing only`);
      return { outcome: "already-done", published: await publishLatest(s3, bucket, pointerKey, existing.value), manifest: existing.value };
    }
    await abortStaleUploads(s3, bucket, keys.dumpKey, log);

    // 2. One snapshot for the dump and the counts.
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    const snap = await client.query<{ s: string }>("SELECT pg_export_snapshot() AS s");
    const args = ["--format=custom", `--snapshot=${snap.rows[0].s}`, "--no-password", `--dbname=${db.redacted}`];
    if (opts.compressLevel !== undefined) args.push(`--compress=${opts.compressLevel}`);
    const child = spawn(pgDump.path, args, { env: pgToolEnv(db), stdio: ["ignore", "pipe", "pipe"] });
    dump = child;
    let dumpStderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      dumpStderr = (dumpStderr + s).slice(-4000);
    });
    const dumpExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on("close", (code, signal) => resolve({ code, signal }));
      child.on("error", () => resolve({ code: -1, signal: null }));
    });
    if (child.pid) opts.onDumpStarted?.(child.pid);
    log(`pg_dump of ${target.database} started (pid ${child.pid}) -> s3://${bucket}/${keys.dumpKey}`);

    const countsPromise: Promise<TableState[]> = userTableStates(client);
    countsPromise.catch(() => undefined); // observed in beforeComplete
    const toc = startTocReader(pgRestore.path);
    let tocSummary: TocSummary | undefined;
    let counts: TableState[] = [];

    // 3-4. Stream, verify, complete or abort.
    const upload = await uploadStream(s3, bucket, keys.dumpKey, teeInto(child.stdout, toc.write), {
      partSize,
      concurrency,
      objectLock: lock,
      beforeComplete: async () => {
        const exit = await dumpExit;
        if (exit.code !== 0) {
          throw new CheckFailedError(`pg_dump failed (${exit.signal ? `killed by ${exit.signal}` : `exit ${exit.code}`}): ${dumpStderr.trim() || "no message"}`);
        }
        tocSummary = await toc.finish();
        counts = await countsPromise;
        if (tocSummary.format !== "CUSTOM") throw new CheckFailedError(`archive format is "${tocSummary.format}", expected CUSTOM`);
        const missing = counts.filter((t) => !tocSummary!.tableData.has(`${t.schema} ${t.table}`));
        if (missing.length > 0) {
          throw new CheckFailedError(`archive TOC has no data for ${missing.map((t) => `${t.schema}.${t.table}`).join(", ")}`);
        }
        // A site fenced while it dumped must not complete (and so never publish) the dump.
        const still = await confirmWriter();
        if (still.site !== writer.site || still.epoch !== writer.epoch) {
          throw new NotWriterError(`its writer identity changed during the dump (${writer.site} epoch ${writer.epoch} -> ${still.site} epoch ${still.epoch}); the next run uses the new one`);
        }
      },
    }).catch((err: unknown) => {
      toc.kill();
      child.kill("SIGKILL");
      throw err instanceof CheckFailedError || err instanceof UsageError || err instanceof WriterCheckError ? err : explainS3Error(err, opts.bucket, `upload ${keys.dumpKey}`);
    });
    dump = undefined;
    await client.query("COMMIT");

    // 5. What S3 stored is what we streamed; then publish.
    await checkStoredObject(s3, bucket, keys.dumpKey, upload.size, upload.s3ChecksumSha256);
    const manifest: BackupManifest = {
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
      serverVersion: server.version,
      pgDumpVersion: pgDump.version,
      tables: counts,
      tableChecksumMethod: TABLE_CHECKSUM_METHOD,
      verification: {
        method: "pg_restore --list on the uploaded stream",
        tocEntries: tocSummary!.entries,
        tableDataEntries: tocSummary!.tableData.size,
      },
    };
    if (!(await putManifestOnce(s3, bucket, manifest, lock))) {
      // Another attempt of this slot finished first; its manifest describes the object now stored.
      const winner = (await getJson<BackupManifest>(s3, bucket, keys.manifestKey))!.value;
      return { outcome: "already-done", published: await publishLatest(s3, bucket, pointerKey, winner), manifest: winner };
    }
    const published = await publishLatest(s3, bucket, pointerKey, manifest);
    log(`backup ${keys.dumpKey}: ${manifest.size} bytes, sha256 ${manifest.sha256}, latest: ${published}`);
    return { outcome: "created", published, manifest };
  } finally {
    dump?.kill("SIGKILL");
    await client.end().catch(() => undefined);
  }
}

/** A hot standby (`pg_is_in_recovery()`) is a replica: it is never the writer, whatever else says so. */
async function refuseReplica(client: Awaited<ReturnType<typeof connect>>): Promise<void> {
  const res = await client.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
  if (res.rows[0]?.r) {
    throw new NotWriterError("its database is in recovery (a read replica); only the writer's backups are published");
  }
}

function writerCheck(writer: BackupOptions["writer"]): WriterCheck {
  if (typeof writer === "function") return writer;
  const fixed = writer ?? DEFAULT_WRITER;
  checkSiteName(fixed.site, "--site / SITE");
  if (!Number.isInteger(fixed.epoch) || fixed.epoch < 0) throw new UsageError(`--epoch / BACKUP_EPOCH must be a whole number of 0 or more (got ${fixed.epoch}).`);
  return async () => fixed;
}

async function* teeInto(source: AsyncIterable<Buffer>, write: (chunk: Buffer) => Promise<void>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await write(chunk);
    yield chunk;
  }
}

/** A crashed earlier attempt of this slot may have left an upload open: abort it before starting. */
async function abortStaleUploads(s3: S3Client, bucket: string, key: string, log: (m: string) => void): Promise<void> {
  const res = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const u of res.Uploads ?? []) {
    if (u.Key !== key || !u.UploadId) continue;
    log(`aborting stale upload ${u.UploadId} of ${key}`);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }));
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
