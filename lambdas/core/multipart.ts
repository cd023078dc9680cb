/**
 * Streams an async byte source into one S3 multipart upload with bounded
 * memory: at most `concurrency` parts in flight plus the one being filled,
 * whatever the total size. Each part carries its SHA-256 (so S3 computes the
 * composite checksum) and the whole stream is hashed as it passes, for the
 * manifest. Any failure, including one reported by `beforeComplete`, aborts
 * the upload so no partial object or dangling upload is left behind.
 */
import { createHash } from "node:crypto";
import {
  S3Client,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
  CompletedPart,
} from "@aws-sdk/client-s3";

/** An Object Lock retention set on the object as it is created (needs s3:PutObjectRetention beside s3:PutObject). */
export interface ObjectLockHeaders {
  mode: "GOVERNANCE" | "COMPLIANCE";
  retainUntil: Date;
}

/** The lock as CreateMultipartUpload and PutObject take it; nothing when unset, so the bucket's default retention applies. */
export function objectLockParams(lock: ObjectLockHeaders | undefined): { ObjectLockMode?: ObjectLockHeaders["mode"]; ObjectLockRetainUntilDate?: Date } {
  return lock ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.retainUntil } : {};
}

export interface MultipartOptions {
  /** Bytes per part; S3 needs at least 5 MiB for every part but the last. */
  partSize: number;
  /** Parts uploaded at the same time. */
  concurrency: number;
  contentType?: string;
  /** Lock the object on creation; S3 then requires a checksum on every part, which each part carries anyway. */
  objectLock?: ObjectLockHeaders;
  /** Runs once the upload exists, before any part is sent (the backup records the upload id in its run lock); throw to abort it. */
  onCreated?: (uploadId: string) => Promise<void>;
  /** Runs after the source ends and before the upload is completed; throw to abort it. */
  beforeComplete?: (summary: StreamSummary) => Promise<void>;
}

export interface StreamSummary {
  size: number;
  /** SHA-256 of the whole stream, hex. */
  sha256: string;
  partCount: number;
}

export interface UploadResult extends StreamSummary {
  uploadId: string;
  etag: string;
  versionId?: string;
  /** S3's composite checksum: base64 SHA-256 over the part digests, suffixed `-<parts>`. */
  s3ChecksumSha256?: string;
}

/**
 * Over plain HTTP (MinIO on a LAN) the SDK would otherwise hash every part a
 * second time to sign it, and the server would verify that hash too. The
 * part's x-amz-checksum-sha256, which the server checks before accepting the
 * part, already protects the bytes, so the payload is left out of the signature.
 */
function leavePayloadUnsigned(command: UploadPartCommand): void {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "drstackUnsignedPayload" },
  );
}

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

/** The composite checksum S3 reports for a multipart object whose part digests are given. */
export function compositeChecksum(partDigests: Buffer[]): string {
  const h = createHash("sha256");
  for (const d of partDigests) h.update(d);
  return `${h.digest("base64")}-${partDigests.length}`;
}

export async function uploadStream(
  s3: S3Client,
  bucket: string,
  key: string,
  source: AsyncIterable<Buffer>,
  opts: MultipartOptions,
): Promise<UploadResult> {
  if (opts.partSize < MIN_PART_SIZE) throw new Error(`part size ${opts.partSize} is below S3's minimum of ${MIN_PART_SIZE} bytes`);
  if (opts.concurrency < 1) throw new Error("concurrency must be at least 1");

  const created = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ChecksumAlgorithm: "SHA256",
      ContentType: opts.contentType ?? "application/octet-stream",
      ...objectLockParams(opts.objectLock),
    }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`S3 returned no UploadId for ${key}`);

  const whole = createHash("sha256");
  const parts: CompletedPart[] = [];
  const digests: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  let partNumber = 0;

  // Part buffers are reused rather than reallocated: memory stays at
  // (concurrency + 1) parts and the GC never sees 16 MiB garbage per part.
  const pool: Buffer[] = [];
  const take = (): Buffer => pool.pop() ?? Buffer.allocUnsafe(opts.partSize);

  const send = (body: Buffer, recycle?: Buffer): void => {
    const n = ++partNumber;
    if (n > MAX_PARTS) throw new Error(`stream needs more than ${MAX_PARTS} parts of ${opts.partSize} bytes; raise the part size`);
    const digest = createHash("sha256").update(body).digest();
    whole.update(body);
    size += body.length;
    digests[n - 1] = digest;
    const checksum = digest.toString("base64");
    const command = new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n, Body: body, ContentLength: body.length, ChecksumSHA256: checksum });
    leavePayloadUnsigned(command);
    const p: Promise<void> = s3
      .send(command)
      .then((res) => {
        parts[n - 1] = { PartNumber: n, ETag: res.ETag, ChecksumSHA256: checksum };
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => {
        inFlight.delete(p);
        if (recycle) pool.push(recycle);
      });
    inFlight.add(p);
  };

  try {
    if (opts.onCreated) await opts.onCreated(uploadId);
    let buf = take();
    let filled = 0;
    for await (const chunk of source) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = chunk.copy(buf, filled, offset);
        filled += n;
        offset += n;
        if (filled === buf.length) {
          send(buf, buf);
          buf = take();
          filled = 0;
          // Backpressure: stop reading the source while the pipe to S3 is full.
          while (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
          if (failure) throw failure;
        }
      }
    }
    if (filled > 0 || partNumber === 0) send(buf.subarray(0, filled));
    await Promise.all(inFlight);
    if (failure) throw failure;

    const summary: StreamSummary = { size, sha256: whole.digest("hex"), partCount: partNumber };
    if (opts.beforeComplete) await opts.beforeComplete(summary);

    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
    return {
      ...summary,
      uploadId,
      etag: done.ETag ?? "",
      versionId: done.VersionId,
      s3ChecksumSha256: done.ChecksumSHA256,
    };
  } catch (err) {
    await Promise.allSettled(inFlight);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => {
      // The original failure matters more; a bucket lifecycle rule for incomplete uploads is the backstop.
    });
    throw err;
  }
}
