/**
 * The manifest written beside every verified dump, the per-site
 * `latest-<site>.json` pointers, and the small JSON read/write helpers around
 * them. Manifests are written once (If-None-Match: *); a site's pointer only
 * moves forward by (writer epoch, slot) (If-Match on the version read), so
 * retries and overlapping runs cannot publish an older or unverified backup
 * over a newer one. Each site writes only its own pointer; readers take the
 * newest of all the pointers present.
 */
import { S3Client, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ObjectLockHeaders, objectLockParams } from "./multipart";
import { isNotFound, s3ErrorInfo } from "./s3";
import { BackupTarget, compareWriterOrder, legacyLatestKey, newestByWriterOrder, pointerKeys } from "./layout";
import type { DataClass, Tier } from "./layout";
import type { TableState } from "./checksums";
import type { BackupEngine, MysqlEngine } from "./engine";

export const MANIFEST_FORMAT = "drstack.backup/v1";

/** What every manifest holds, whatever the engine. */
interface ManifestCommon {
  format: typeof MANIFEST_FORMAT;
  database: string;
  tier: Tier;
  dataClass: DataClass;
  runId: string;
  /** The site that took the backup, and its writer epoch then (README, Failover: fencing). */
  site: string;
  epoch: number;
  /** The schedule slot this run belongs to (ISO 8601); equals startedAt for ad-hoc runs. */
  slot: string;
  startedAt: string;
  endedAt: string;
  dumpKey: string;
  manifestKey: string;
  /** Bytes of the stored dump (the pg_dump archive, or the gzipped SQL). */
  size: number;
  /** SHA-256 of the whole stored dump, hex, computed while streaming. */
  sha256: string;
  /** S3's composite SHA-256 (base64 over part digests, `-<parts>`), when the server reports it. */
  s3ChecksumSha256?: string;
  etag: string;
  versionId?: string;
  partSize: number;
  partCount: number;
  serverVersion: string;
  /** Exact row counts (and, since checksums were added, content checksums) of every table, as the dump holds them. */
  tables: TableState[];
  /** How `tables[].checksum` was computed; absent in manifests written before checksums, which are compared by row count only. */
  tableChecksumMethod?: string;
}

/** A pg_dump backup; `engine` is absent in every PostgreSQL manifest (and in those written before engines). */
export interface PostgresManifest extends ManifestCommon {
  engine?: "postgres";
  pgDumpVersion: string;
  verification: {
    method: "pg_restore --list on the uploaded stream";
    tocEntries: number;
    tableDataEntries: number;
    statements?: never;
    tables?: never;
  };
}

/** Where the server's binary log stood: file and position, and the GTID set when the server has one. */
export interface BinlogPosition {
  file: string;
  position: number;
  /** MySQL: @@global.gtid_executed; MariaDB: @@global.gtid_binlog_pos. */
  gtid?: string;
}

export const MYSQL_DUMP_FORMAT = "mysqldump-sql-gzip";
export const MYSQL_VERIFICATION_METHOD = "mysqldump stream parsed; upload decompressed to it";

/** A mysqldump / mariadb-dump backup: gzipped SQL of one database, without CREATE DATABASE. */
export interface MysqlManifest extends ManifestCommon {
  engine: MysqlEngine;
  dumpFormat: typeof MYSQL_DUMP_FORMAT;
  /** e.g. "mariadb-dump 10.11.6-MariaDB". */
  dumpToolVersion: string;
  /**
   * The binary log just before the dump's snapshot and just after the dump.
   * The snapshot lies somewhere between the two, so a replay that loses
   * nothing starts at `before` and must tolerate changes the dump already
   * holds (`mysqlbinlog --idempotent`, or GTIDs skipped); starting at `after`
   * loses what was committed while the dump ran. Absent when binary logging
   * is off.
   */
  binlog?: { before?: BinlogPosition; after?: BinlogPosition };
  /**
   * Tables of a storage engine without transactions (MyISAM, Aria, MEMORY...):
   * `--single-transaction` neither locks nor snapshots them, so their rows may
   * be from a moment other than the InnoDB tables'. Absent when there are none.
   */
  nonTransactionalTables?: { table: string; storageEngine: string }[];
  /** The dump's other objects, by name, which a restore brings back beside the tables. */
  objects: { views: string[]; routines: string[]; triggers: string[]; events: string[] };
  verification: {
    method: typeof MYSQL_VERIFICATION_METHOD;
    /** SQL statements in the dump (DELIMITER commands not counted). */
    statements: number;
    /** Base tables the dump creates. */
    tables: number;
    tocEntries?: never;
    tableDataEntries?: never;
  };
}

export type BackupManifest = PostgresManifest | MysqlManifest;

/** The engine of a backup: `postgres` for manifests without one. */
export function manifestEngine(m: BackupManifest): BackupEngine {
  return m.engine ?? "postgres";
}

export function isMysqlManifest(m: BackupManifest): m is MysqlManifest {
  return m.engine === "mysql" || m.engine === "mariadb";
}

/** `<prefix>/<database>/latest-<site>.json`: the site's newest verified backup, enough to fetch its manifest. */
export interface LatestPointer {
  format: typeof MANIFEST_FORMAT;
  database: string;
  /** Which site published it; `legacy` for a pre-fencing `latest.json`. */
  site: string;
  /** The writer epoch of the site when it took the backup; 0 for a pre-fencing pointer. */
  epoch: number;
  slot: string;
  endedAt: string;
  manifestKey: string;
  dumpKey: string;
  sha256: string;
  size: number;
}

export async function getJson<T>(s3: S3Client, bucket: string, key: string): Promise<{ value: T; etag: string } | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await res.Body!.transformToString("utf8");
    return { value: JSON.parse(text) as T, etag: res.ETag ?? "" };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function jsonBody(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

export function isPreconditionFailed(err: unknown): boolean {
  const { name, status } = s3ErrorInfo(err);
  return status === 412 || name === "PreconditionFailed" || status === 409 || name === "ConditionalRequestConflict";
}

/** Writes the manifest once, locked like its dump when a lock is given; returns false when one already exists at that key. */
export async function putManifestOnce(s3: S3Client, bucket: string, manifest: BackupManifest, lock?: ObjectLockHeaders): Promise<boolean> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: manifest.manifestKey,
        Body: jsonBody(manifest),
        ContentType: "application/json",
        ChecksumAlgorithm: "SHA256",
        IfNoneMatch: "*",
        ...objectLockParams(lock),
      }),
    );
    return true;
  } catch (err) {
    if (isPreconditionFailed(err)) return false;
    throw err;
  }
}

export function pointerFor(m: BackupManifest): LatestPointer {
  return {
    format: MANIFEST_FORMAT,
    database: m.database,
    site: m.site,
    epoch: m.epoch,
    slot: m.slot,
    endedAt: m.endedAt,
    manifestKey: m.manifestKey,
    dumpKey: m.dumpKey,
    sha256: m.sha256,
    size: m.size,
  };
}

/**
 * "published", "already-latest", "newer-exists", or "replaced-future": the
 * pointer named a slot ahead of the clock (a mistyped --slot, a host with a
 * wrong clock), which no real backup could ever pass by (epoch, slot), so it
 * was replaced rather than left to block every later backup.
 */
export type PublishOutcome = "published" | "already-latest" | "newer-exists" | "replaced-future";

/** How far a slot may be ahead of this host's clock: NTP-synchronised hosts and S3 agree to well within this. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** True when a slot is later than `now` by more than the skew allowed: no run could have started at it yet. */
export function isAheadOfClock(slot: string, now: Date): boolean {
  return Date.parse(slot) > now.getTime() + MAX_CLOCK_SKEW_MS;
}

/** A pointer as stored, with the fields a pre-fencing pointer lacks filled in as the oldest writer. */
export function normalisePointer(value: Partial<LatestPointer> & Omit<LatestPointer, "site" | "epoch">, fallbackSite: string): LatestPointer {
  return { ...value, site: value.site ?? fallbackSite, epoch: typeof value.epoch === "number" ? value.epoch : 0 };
}

/**
 * Moves the site's pointer to this manifest unless a backup later by (writer
 * epoch, slot) is already there. Conditional on the version read, retried on
 * a lost race.
 */
export async function publishLatest(
  s3: S3Client,
  bucket: string,
  key: string,
  m: BackupManifest,
  log: (message: string) => void = () => undefined,
  now: () => Date = () => new Date(),
): Promise<PublishOutcome> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await getJson<LatestPointer>(s3, bucket, key);
    const current = stored && { ...stored, value: normalisePointer(stored.value, m.site) };
    if (current?.value.manifestKey === m.manifestKey) return "already-latest";
    const future = current !== undefined && isAheadOfClock(current.value.slot, now());
    if (current && future) {
      log(`WARNING: ${key} named slot ${current.value.slot} (${current.value.manifestKey}), ahead of the clock (${now().toISOString()}); replacing it with ${m.manifestKey}`);
    } else if (current && compareWriterOrder(current.value, m) > 0) {
      return "newer-exists";
    }
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: jsonBody(pointerFor(m)),
          ContentType: "application/json",
          ChecksumAlgorithm: "SHA256",
          ...(current ? { IfMatch: current.etag } : { IfNoneMatch: "*" }),
        }),
      );
      return future ? "replaced-future" : "published";
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
    }
  }
  throw new Error(`could not publish ${key}: it kept changing under concurrent writers`);
}

export interface ResolvedPointer {
  key: string;
  pointer: LatestPointer;
}

/**
 * The newest verified backup of one database among every site's pointer (and
 * the legacy one): a few GETs in parallel, never a listing. `sites` are looked
 * for first, beside the sites drstack deploys.
 */
export async function resolveLatest(
  s3: S3Client,
  bucket: string,
  target: Pick<BackupTarget, "database" | "dataClass">,
  sites: readonly string[] = [],
): Promise<ResolvedPointer | undefined> {
  const legacy = legacyLatestKey(target);
  const found = await Promise.all(
    pointerKeys(target, sites).map(async (key): Promise<ResolvedPointer | undefined> => {
      const stored = await getJson<LatestPointer>(s3, bucket, key);
      return stored && { key, pointer: normalisePointer(stored.value, key === legacy ? "legacy" : key.replace(/^.*latest-(.*)\.json$/, "$1")) };
    }),
  );
  const present = found.filter((entry): entry is ResolvedPointer => entry !== undefined);
  const newest = newestByWriterOrder(present.map((entry) => ({ ...entry, epoch: entry.pointer.epoch, slot: entry.pointer.slot })));
  return newest && { key: newest.key, pointer: newest.pointer };
}
