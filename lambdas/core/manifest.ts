/**
 * The manifest written beside every verified dump, the `latest.json` pointer,
 * and the small JSON read/write helpers around them. Manifests are written
 * once (If-None-Match: *); the pointer only moves forward (If-Match on the
 * version read), so retries and overlapping runs cannot publish an older or
 * unverified backup over a newer one.
 */
import { S3Client, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { isNotFound, s3ErrorInfo } from "./s3";
import type { DataClass, Tier } from "./layout";
import type { TableCount } from "./postgres";

export const MANIFEST_FORMAT = "drstack.backup/v1";

export interface BackupManifest {
  format: typeof MANIFEST_FORMAT;
  database: string;
  tier: Tier;
  dataClass: DataClass;
  runId: string;
  /** The schedule slot this run belongs to (ISO 8601); equals startedAt for ad-hoc runs. */
  slot: string;
  startedAt: string;
  endedAt: string;
  dumpKey: string;
  manifestKey: string;
  /** Bytes of the pg_dump archive. */
  size: number;
  /** SHA-256 of the whole archive, hex, computed while streaming. */
  sha256: string;
  /** S3's composite SHA-256 (base64 over part digests, `-<parts>`), when the server reports it. */
  s3ChecksumSha256?: string;
  etag: string;
  versionId?: string;
  partSize: number;
  partCount: number;
  serverVersion: string;
  pgDumpVersion: string;
  /** Exact row counts taken in the same snapshot pg_dump used. */
  tables: TableCount[];
  verification: {
    method: "pg_restore --list on the uploaded stream";
    tocEntries: number;
    tableDataEntries: number;
  };
}

/** `<prefix>/<database>/latest.json`: the newest verified backup, enough to fetch its manifest. */
export interface LatestPointer {
  format: typeof MANIFEST_FORMAT;
  database: string;
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

/** Writes the manifest once; returns false when one already exists at that key. */
export async function putManifestOnce(s3: S3Client, bucket: string, manifest: BackupManifest): Promise<boolean> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: manifest.manifestKey,
        Body: jsonBody(manifest),
        ContentType: "application/json",
        ChecksumAlgorithm: "SHA256",
        IfNoneMatch: "*",
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
    slot: m.slot,
    endedAt: m.endedAt,
    manifestKey: m.manifestKey,
    dumpKey: m.dumpKey,
    sha256: m.sha256,
    size: m.size,
  };
}

export type PublishOutcome = "published" | "already-latest" | "newer-exists";

/**
 * Moves `latest.json` to this manifest unless a backup of a later slot is
 * already there. Conditional on the version read, retried on a lost race.
 */
export async function publishLatest(s3: S3Client, bucket: string, key: string, m: BackupManifest): Promise<PublishOutcome> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await getJson<LatestPointer>(s3, bucket, key);
    if (current?.value.manifestKey === m.manifestKey) return "already-latest";
    if (current && current.value.slot > m.slot) return "newer-exists";
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
      return "published";
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
    }
  }
  throw new Error(`could not publish ${key}: it kept changing under concurrent writers`);
}
