/**
 * The run lock: one object per database and site,
 * `<class>/<database>/lock-<site>-backup.json`, that a backup run must hold
 * from before it reads or writes anything of its slot until it has published.
 * Two runs of the same backup (a duplicated scheduler delivery, an
 * overlapping retry, a slow dump overrunning the next slot) then never
 * overlap.
 *
 * Taken atomically with S3 conditional writes: `If-None-Match: *` creates it,
 * `If-Match: <etag>` takes over a released or expired one, and every renewal
 * and the release are `If-Match` on the holder's own last write, so a run that
 * lost the lock cannot write over its successor's. AWS S3 and MinIO both
 * support both headers on PutObject (AWS S3 User Guide, "How to prevent
 * object overwrites with conditional writes").
 *
 * The lock is a lease: the holder renews it every quarter of the lease, and a
 * run killed without releasing it (a Lambda timeout, SIGKILL) blocks the next
 * run only until its lease runs out. The record names the holder's multipart
 * upload, so whoever takes the lock over can abort an upload the dead run left
 * behind: it cannot be live, because its run no longer holds the lock and a
 * run completes its upload only while it does. The key carries the site like
 * the dumps (`*-<site>-*`), so the IAM rules on a site's own keys cover it.
 */
import { randomBytes } from "node:crypto";
import { S3Client, PutObjectCommand } from "@aws-sdk/client-s3";
import { BackupTarget, databasePrefix } from "./layout";
import { getJson, isPreconditionFailed } from "./manifest";
import { isNotFound } from "./s3";

export const RUN_LOCK_FORMAT = "drstack.backup-lock/v1";
export const DEFAULT_LOCK_LEASE_SECONDS = 120;

export interface RunLockRecord {
  format: typeof RUN_LOCK_FORMAT;
  database: string;
  site: string;
  /** Random per run: who holds the lock, whatever its run id. */
  owner: string;
  runId: string;
  slot: string;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
  /** The multipart upload the holder has open, once it has one. */
  upload?: { key: string; uploadId: string };
  released?: boolean;
}

export function runLockKey(target: Pick<BackupTarget, "database" | "dataClass">, site: string): string {
  return `${databasePrefix(target)}lock-${site}-backup.json`;
}

/** Another run of this backup holds its lock: this run did nothing. The CLI exits 3; the Lambda handler returns `{outcome: "locked"}`. */
export class LockHeldError extends Error {
  constructor(
    message: string,
    readonly holder: RunLockRecord,
  ) {
    super(message);
    this.name = "LockHeldError";
  }
}

/** This run held the lock and lost it (its lease ran out, or another run took it over): it must not complete or publish. */
export class LockLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LockLostError";
  }
}

export type LockAttempt = { held: true; lock: RunLock; previous?: RunLockRecord } | { held: false; holder: RunLockRecord };

export interface LockRequest {
  database: string;
  site: string;
  runId: string;
  slot: string;
  leaseSeconds: number;
  log: (message: string) => void;
  now?: () => Date;
}

export function isReleasedOrExpired(record: RunLockRecord, now: Date): boolean {
  return record.released === true || Date.parse(record.expiresAt) <= now.getTime();
}

export class RunLock {
  private lost: string | undefined;
  private renewal: NodeJS.Timeout | undefined;
  /** Writes are chained so a renewal never races the holder's own update on the same ETag. */
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    readonly key: string,
    private record: RunLockRecord,
    private etag: string,
    private readonly leaseMs: number,
    private readonly log: (message: string) => void,
    private readonly now: () => Date,
  ) {}

  /** Takes the lock if it is free, released or expired; otherwise reports who holds it. */
  static async acquire(s3: S3Client, bucket: string, key: string, req: LockRequest): Promise<LockAttempt> {
    const now = req.now ?? (() => new Date());
    const leaseMs = req.leaseSeconds * 1000;
    for (let attempt = 0; attempt < 5; attempt++) {
      const t = now();
      const record: RunLockRecord = {
        format: RUN_LOCK_FORMAT,
        database: req.database,
        site: req.site,
        owner: randomBytes(8).toString("hex"),
        runId: req.runId,
        slot: req.slot,
        acquiredAt: t.toISOString(),
        renewedAt: t.toISOString(),
        expiresAt: new Date(t.getTime() + leaseMs).toISOString(),
      };
      const stored = await getJson<RunLockRecord>(s3, bucket, key);
      if (stored && !isReleasedOrExpired(stored.value, t)) return { held: false, holder: stored.value };
      const etag = await putConditional(s3, bucket, key, record, stored ? { IfMatch: stored.etag } : { IfNoneMatch: "*" });
      if (etag === undefined) continue; // another run wrote it between our read and write: read again
      const lock = new RunLock(s3, bucket, key, record, etag, leaseMs, req.log, now);
      const previous = stored && !stored.value.released ? stored.value : undefined;
      if (previous) req.log(`took over the run lock ${key} from run ${previous.runId} (slot ${previous.slot}), whose lease ran out at ${previous.expiresAt} without a release`);
      return { held: true, lock, previous };
    }
    throw new Error(`could not take the run lock ${key}: it kept changing under concurrent runs`);
  }

  /** Renews the lease every quarter of it; `onLost` runs once if the lock is lost. */
  startRenewal(onLost: (reason: string) => void): void {
    const every = Math.max(250, Math.floor(this.leaseMs / 4));
    this.renewal = setInterval(() => {
      if (this.lost) return;
      const renewed = this.now();
      this.write({ renewedAt: renewed.toISOString(), expiresAt: new Date(renewed.getTime() + this.leaseMs).toISOString() })
        .catch((err: unknown) => {
          if (err instanceof LockLostError) return;
          // A failed renewal is not yet a lost lock; it is once the lease has run out unrenewed.
          this.log(`could not renew the run lock ${this.key}: ${err instanceof Error ? err.message : String(err)}`);
          if (Date.parse(this.record.expiresAt) <= this.now().getTime()) this.markLost(`its lease ran out at ${this.record.expiresAt} without a renewal`);
        })
        .finally(() => {
          if (this.lost) onLost(this.lost);
        });
    }, every);
    this.renewal.unref();
  }

  /** Records the run's open multipart upload, so a successor can abort it if this run dies. */
  recordUpload(upload: RunLockRecord["upload"]): Promise<void> {
    return this.write({ upload });
  }

  /** Throws LockLostError unless the stored lock is still this run's: asked before completing the upload and before publishing. */
  async confirmHeld(): Promise<void> {
    await this.writes.catch(() => undefined);
    if (this.lost) throw new LockLostError(`this run lost the run lock ${this.key}: ${this.lost}`);
    const stored = await getJson<RunLockRecord>(this.s3, this.bucket, this.key);
    if (!stored || stored.value.owner !== this.record.owner) {
      this.markLost(stored ? `run ${stored.value.runId} (slot ${stored.value.slot}) holds it now` : "it was deleted");
      throw new LockLostError(`this run lost the run lock ${this.key}: ${this.lost}`);
    }
    if (Date.parse(stored.value.expiresAt) <= this.now().getTime()) {
      this.markLost(`its lease ran out at ${stored.value.expiresAt}`);
      throw new LockLostError(`this run lost the run lock ${this.key}: ${this.lost}`);
    }
  }

  /** Stops renewing and marks the lock released (If-Match: a lost lock is left to its new holder). */
  async release(): Promise<void> {
    if (this.renewal) clearInterval(this.renewal);
    if (this.lost) return;
    await this.write({ released: true, upload: undefined }).catch((err: unknown) => {
      // Unreleased, the lock still frees itself when its lease runs out.
      this.log(`could not release the run lock ${this.key}: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  private markLost(reason: string): void {
    this.lost ??= reason;
  }

  private write(patch: Partial<RunLockRecord>): Promise<void> {
    const next = this.writes.then(async () => {
      if (this.lost) throw new LockLostError(`this run lost the run lock ${this.key}: ${this.lost}`);
      const record = { ...this.record, ...patch };
      const etag = await putConditional(this.s3, this.bucket, this.key, record, { IfMatch: this.etag });
      if (etag === undefined) {
        this.markLost("another run took it over");
        throw new LockLostError(`this run lost the run lock ${this.key}: ${this.lost}`);
      }
      this.record = record;
      this.etag = etag;
    });
    this.writes = next.catch(() => undefined);
    return next;
  }
}

/** The new ETag, or undefined when the condition failed (someone else wrote first). */
async function putConditional(s3: S3Client, bucket: string, key: string, record: RunLockRecord, condition: { IfMatch: string } | { IfNoneMatch: "*" }): Promise<string | undefined> {
  try {
    const res = await s3.send(
      // A checksum, because S3 requires one on every PutObject into a bucket with Object Lock.
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(record, null, 2) + "\n", ContentType: "application/json", ChecksumAlgorithm: "SHA256", ...condition }),
    );
    return res.ETag ?? "";
  } catch (err) {
    if (isPreconditionFailed(err) || isNotFound(err)) return undefined;
    throw err;
  }
}
