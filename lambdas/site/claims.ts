/**
 * A Docker site's fencing state: the writer claim and the fence marker as
 * objects in the site's own, unreplicated fencing bucket on its MinIO
 * (`writer-claim.json`, written by the stack at every `pulumi up`;
 * `fence-marker.json`, written only by the site's agent). The same JSON as
 * the SSM parameters of an AWS site (lambdas/core/fencing.ts). Beside them,
 * `fenced-wal.json`, written by the agent once it fenced its database: the
 * WAL position everything the application wrote is before, which the peer's
 * standby must have replayed before a planned switch-over promotes it.
 *
 * Reads never throw: a missing object is a found nothing, anything else
 * (unreachable endpoint, refused credentials, missing bucket, unreadable
 * JSON) a failed lookup whose problem names the setting to check. Every
 * request is short (CLIENT_TIMEOUTS): the peer's data centre may be gone.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { errorMessage } from "../core/errors";
import { FenceMarker, Lookup, parseFenceMarker, parseWriterClaim, WriterClaim } from "../core/fencing";
import { CLIENT_TIMEOUTS, FencingState } from "../core/fencingState";
import { BucketLocation, explainS3Error, s3ErrorInfo } from "../core/s3";

export const WRITER_CLAIM_KEY = "writer-claim.json";
export const FENCE_MARKER_KEY = "fence-marker.json";
export const FENCED_WAL_KEY = "fenced-wal.json";
export const FENCED_WAL_FORMAT = "drstack.fenced-wal/v1";

/** What a fencing agent writes once its database is fenced and its application's sessions are gone. */
export interface FencedWal {
  format: typeof FENCED_WAL_FORMAT;
  site: string;
  /** The epoch of the fenced site's claim when it fenced. */
  epoch: number;
  /** pg_current_wal_insert_lsn() read after the fence took effect and the sessions ended. */
  walPosition: string;
  fencedAt: string;
  /** The fenced server's pg_control_system().system_identifier: a standby copied from it has the same. Absent in an older agent's record. */
  systemIdentifier?: string;
  /** The fenced server's timeline when it fenced: a standby following it receives on it. Absent in an older agent's record. */
  timeline?: number;
}

const LSN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

export function parseFencedWal(text: string): FencedWal {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("malformed fenced WAL record: not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("malformed fenced WAL record: not a JSON object");
  const r = value as Partial<Record<keyof FencedWal, unknown>>;
  if (r.format !== FENCED_WAL_FORMAT || typeof r.site !== "string" || !Number.isInteger(r.epoch) || typeof r.walPosition !== "string" || !LSN.test(r.walPosition) || typeof r.fencedAt !== "string") {
    throw new Error(`malformed fenced WAL record (format ${JSON.stringify(r.format)}, epoch ${JSON.stringify(r.epoch)}, walPosition ${JSON.stringify(r.walPosition)})`);
  }
  if (r.systemIdentifier !== undefined && (typeof r.systemIdentifier !== "string" || !/^[0-9]{1,20}$/.test(r.systemIdentifier))) {
    throw new Error(`malformed fenced WAL record (systemIdentifier ${JSON.stringify(r.systemIdentifier)}: not a system identifier)`);
  }
  if (r.timeline !== undefined && (!Number.isInteger(r.timeline) || (r.timeline as number) < 1)) throw new Error(`malformed fenced WAL record (timeline ${JSON.stringify(r.timeline)}: not a timeline)`);
  return {
    format: FENCED_WAL_FORMAT,
    site: r.site,
    epoch: r.epoch as number,
    walPosition: r.walPosition,
    fencedAt: r.fencedAt,
    ...(r.systemIdentifier !== undefined ? { systemIdentifier: r.systemIdentifier as string } : {}),
    ...(r.timeline !== undefined ? { timeline: r.timeline as number } : {}),
  };
}

/** CLIENT_TIMEOUTS in the shape BucketLocation carries, so explainS3Error quotes the limits really used. */
const FENCING_TIMEOUTS = { connectMs: CLIENT_TIMEOUTS.requestHandler.connectionTimeout, idleMs: CLIENT_TIMEOUTS.requestHandler.socketTimeout };

export interface FencingBucket {
  location: BucketLocation;
  s3: S3Client;
}

/** A client for a fencing bucket, built like lambdas/core/s3.ts s3Client but with the guard's short timeouts and two attempts. */
export function fencingBucket(location: Omit<BucketLocation, "timeouts">): FencingBucket {
  const loc: BucketLocation = { ...location, timeouts: FENCING_TIMEOUTS };
  const s3 = new S3Client({
    region: loc.region,
    endpoint: loc.endpoint,
    forcePathStyle: loc.endpoint !== undefined,
    credentials: loc.credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...CLIENT_TIMEOUTS,
  });
  return { location: loc, s3 };
}

/** One object's text; undefined when the key does not exist (never when the bucket does not). */
async function getText(bucket: FencingBucket, key: string): Promise<Lookup<string>> {
  try {
    const res = await bucket.s3.send(new GetObjectCommand({ Bucket: bucket.location.bucket, Key: key }));
    return { ok: true, value: (await res.Body?.transformToString("utf8")) ?? "" };
  } catch (err) {
    if (s3ErrorInfo(err).name === "NoSuchKey") return { ok: true };
    return { ok: false, problem: explainS3Error(err, bucket.location, `read s3://${bucket.location.bucket}/${key}`).message };
  }
}

function parsed<T>(text: Lookup<string>, key: string, parse: (text: string) => T): Lookup<T> {
  if (!text.ok) return text;
  if (text.value === undefined) return { ok: true };
  try {
    return { ok: true, value: parse(text.value) };
  } catch (err) {
    return { ok: false, problem: `${key}: ${errorMessage(err)}` };
  }
}

export async function readWriterClaim(bucket: FencingBucket): Promise<Lookup<WriterClaim>> {
  return parsed(await getText(bucket, WRITER_CLAIM_KEY), WRITER_CLAIM_KEY, parseWriterClaim);
}

export async function readFenceMarker(bucket: FencingBucket): Promise<Lookup<FenceMarker>> {
  return parsed(await getText(bucket, FENCE_MARKER_KEY), FENCE_MARKER_KEY, parseFenceMarker);
}

export async function readFencedWal(bucket: FencingBucket): Promise<Lookup<FencedWal>> {
  return parsed(await getText(bucket, FENCED_WAL_KEY), FENCED_WAL_KEY, parseFencedWal);
}

/** Claim and marker, read side by side. */
export async function readFencingObjects(bucket: FencingBucket): Promise<FencingState> {
  const [claim, marker] = await Promise.all([readWriterClaim(bucket), readFenceMarker(bucket)]);
  return { claim, marker };
}

async function putJson(bucket: FencingBucket, key: string, value: object): Promise<void> {
  try {
    await bucket.s3.send(new PutObjectCommand({ Bucket: bucket.location.bucket, Key: key, Body: JSON.stringify(value, null, 2), ContentType: "application/json", ChecksumAlgorithm: "SHA256" }));
  } catch (err) {
    throw explainS3Error(err, bucket.location, `write s3://${bucket.location.bucket}/${key}`);
  }
}

/** Only the site's own agent writes its marker. */
export async function writeFenceMarkerObject(bucket: FencingBucket, marker: FenceMarker): Promise<void> {
  await putJson(bucket, FENCE_MARKER_KEY, marker);
}

/** Only the site's own agent writes its fenced WAL position, after it fenced its database. */
export async function writeFencedWalObject(bucket: FencingBucket, record: FencedWal): Promise<void> {
  await putJson(bucket, FENCED_WAL_KEY, record);
}

/** The stack writes the claim; this is for tools and tests that stand in for it. */
export async function writeWriterClaimObject(bucket: FencingBucket, claim: WriterClaim): Promise<void> {
  await putJson(bucket, WRITER_CLAIM_KEY, claim);
}
