/**
 * A stored MySQL/MariaDB dump read back from S3 for a restore: the gzipped
 * object hashed as it streams and decompressed to its SQL, with the check
 * that the bytes were the manifest's (SHA-256 and size) once the SQL has
 * been read to its end.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CheckFailedError, errorMessage } from "./errors";
import { BucketLocation, explainS3Error } from "./s3";

export interface StoredDump {
  dumpKey: string;
  sha256: string;
  size: number;
}

export interface DumpDownload {
  /** The decompressed SQL; a corrupt gzip stream fails it with a CheckFailedError. */
  sql: AsyncIterable<Buffer>;
  /** After `sql` was read to its end: throws CheckFailedError unless the object hashed to the manifest's SHA-256 and size. */
  checkDigest(consequence: string): void;
  /** Stops the download (on an error part-way). */
  destroy(): void;
}

export async function downloadDump(s3: S3Client, bucket: BucketLocation, m: StoredDump): Promise<DumpDownload> {
  const obj = await s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: m.dumpKey })).catch((err: unknown) => {
    throw explainS3Error(err, bucket, `read ${m.dumpKey}`);
  });
  const body = obj.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
  const hash = createHash("sha256");
  let size = 0;
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      size += buf.length;
      yield buf;
    }
  }
  const source = Readable.from(hashed());
  const gunzip = createGunzip();
  source.on("error", (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  async function* sql(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code?.startsWith("Z_")) throw new CheckFailedError(`${m.dumpKey} is not a valid gzip stream (${errorMessage(err)}): the stored dump is damaged or not this manifest's`);
      throw err;
    }
  }
  return {
    sql: sql(),
    checkDigest(consequence: string): void {
      const digest = hash.digest("hex");
      if (digest !== m.sha256 || size !== m.size) {
        throw new CheckFailedError(`checksum mismatch: ${m.dumpKey} (${size} bytes) hashes to sha256 ${digest}, the manifest recorded ${m.sha256} (${m.size} bytes); ${consequence}`);
      }
    },
    destroy(): void {
      source.destroy();
      gunzip.destroy();
      body.destroy?.();
    },
  };
}
