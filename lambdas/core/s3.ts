/**
 * S3 access shared by every command: one client factory (AWS or any
 * S3-compatible endpoint such as MinIO) and the translation of SDK failures
 * into errors that name the setting to fix.
 */
import { S3Client, HeadBucketCommand, S3ServiceException } from "@aws-sdk/client-s3";
import { UsageError, errorMessage } from "./errors";

/** Where a bucket lives and how to reach it. */
export interface BucketLocation {
  bucket: string;
  region: string;
  /** S3-compatible endpoint (MinIO); unset means AWS S3 itself. Path-style addressing is used when set. */
  endpoint?: string;
  /** Static credentials; unset means the SDK's default chain (env, Lambda role, profile). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** How the operator sets this location, for error messages, e.g. "--bucket / BACKUP_BUCKET". */
  label: { bucket: string; endpoint: string; credentials: string };
  /** Per-request limits; S3_TIMEOUTS when unset. */
  timeouts?: S3Timeouts;
}

export interface S3Timeouts {
  /** To open the TCP (and TLS) connection. */
  connectMs: number;
  /** Of silence on an open socket: a server that accepted the request but stopped answering. */
  idleMs: number;
}

/**
 * Every S3 call is bounded: an endpoint that accepts connections but never
 * answers fails a request after `idleMs` of silence (socket inactivity, so a
 * 16 MiB part on a slow but moving link is not cut off), three attempts at most.
 */
export const S3_TIMEOUTS: S3Timeouts = { connectMs: 10_000, idleMs: 30_000 };

export function s3Client(loc: BucketLocation): S3Client {
  return new S3Client({
    region: loc.region,
    endpoint: loc.endpoint,
    forcePathStyle: loc.endpoint !== undefined,
    credentials: loc.credentials,
    // We send SHA-256 per part ourselves; don't let the SDK add a CRC32 pass on top.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
    // socketTimeout is the inactivity limit; this SDK's requestTimeout only logs a warning unless told to throw.
    requestHandler: { connectionTimeout: (loc.timeouts ?? S3_TIMEOUTS).connectMs, socketTimeout: (loc.timeouts ?? S3_TIMEOUTS).idleMs },
  });
}

/** The SDK error's code and HTTP status, whatever shape it arrived in. */
export function s3ErrorInfo(err: unknown): { name: string; status?: number } {
  if (err instanceof S3ServiceException) return { name: err.name, status: err.$metadata?.httpStatusCode };
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  return { name: e?.code ?? e?.name ?? "Error", status: e?.$metadata?.httpStatusCode };
}

export function isNotFound(err: unknown): boolean {
  const { name, status } = s3ErrorInfo(err);
  return status === 404 || name === "NoSuchKey" || name === "NotFound" || name === "NoSuchBucket";
}

/** Maps an S3 failure to a sentence that says which setting is wrong. */
export function explainS3Error(err: unknown, loc: BucketLocation, action: string): Error {
  const { name, status } = s3ErrorInfo(err);
  const where = loc.endpoint ?? `AWS S3 in ${loc.region}`;
  const msg = errorMessage(err);
  if (name === "TimeoutError" || /timed out|RequestTimeout/i.test(msg + name)) {
    const t = loc.timeouts ?? S3_TIMEOUTS;
    return new UsageError(`The S3 endpoint ${where} did not answer while trying to ${action} (${msg}; each request may be silent for ${t.idleMs / 1000}s). Check ${loc.label.endpoint} and that the server is healthy, not only listening.`);
  }
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|socket hang up/.test(msg + name)) {
    return new UsageError(`Cannot reach the S3 endpoint ${where} while trying to ${action} (${msg}). Check ${loc.label.endpoint} and that the server is running.`);
  }
  if (name === "NoSuchBucket" || (status === 404 && action.startsWith("check bucket"))) {
    return new UsageError(`Bucket "${loc.bucket}" does not exist at ${where}. Check ${loc.label.bucket}, or create the bucket (the infra stack owns it).`);
  }
  if (["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AccessDenied", "Forbidden"].includes(name) || status === 403) {
    return new UsageError(`S3 at ${where} rejected the credentials while trying to ${action} (${name}). Check ${loc.label.credentials}, and that they may access bucket "${loc.bucket}".`);
  }
  if (status === 301 || name === "PermanentRedirect" || name === "AuthorizationHeaderMalformed") {
    return new UsageError(`Bucket "${loc.bucket}" is not in region ${loc.region} (${name}). Check the region setting.`);
  }
  return new Error(`S3 ${action} failed on bucket "${loc.bucket}" at ${where}: ${name}: ${msg}`);
}

/** Fails early, before anything is written, when the bucket is missing or unreachable. */
export async function checkBucket(s3: S3Client, loc: BucketLocation): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
  } catch (err) {
    throw explainS3Error(err, loc, `check bucket "${loc.bucket}"`);
  }
}
