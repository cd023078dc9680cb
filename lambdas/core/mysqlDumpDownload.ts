/**
 * A stored MySQL/MariaDB dump read back from S3 for a restore: the gzipped
 * object downloaded once to a private file while hashed, accepted only when
 * its bytes are the manifest's (SHA-256 and size), then decompressed to its
 * SQL from that file as often as the restore reads it.
 */
import { createHash } from "node:crypto";
import { chmodSync, createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CheckFailedError, UsageError, errorMessage } from "./errors";
import { BucketLocation, explainS3Error } from "./s3";

export interface StoredDump {
  dumpKey: string;
  sha256: string;
  size: number;
}

interface Hashing {
  chunks: AsyncGenerator<Buffer>;
  /** SHA-256 (hex) and size of what `chunks` yielded; asked once, after they ended. */
  result(): { sha256: string; size: number };
}

function hashing(body: AsyncIterable<Uint8Array>): Hashing {
  const hash = createHash("sha256");
  let size = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      size += buf.length;
      yield buf;
    }
  }
  return { chunks: chunks(), result: () => ({ sha256: hash.digest("hex"), size }) };
}

function checkDigest(m: StoredDump, hashed: Hashing, consequence: string): void {
  const { sha256, size } = hashed.result();
  if (sha256 !== m.sha256 || size !== m.size) {
    throw new CheckFailedError(`checksum mismatch: ${m.dumpKey} (${size} bytes) hashes to sha256 ${sha256}, the manifest recorded ${m.sha256} (${m.size} bytes); ${consequence}`);
  }
}

/** A stored dump downloaded to a private file whose bytes hashed to the manifest's SHA-256 and size. */
export interface VerifiedDump {
  /** The gzipped object, in a 0700 directory of its own, mode 0600. */
  path: string;
  /** The decompressed SQL, read from the file again on each call; a corrupt gzip stream fails it with a CheckFailedError. */
  sql(): AsyncIterable<Buffer>;
  /** Removes the file and its directory; safe to call more than once. */
  remove(): void;
}

/**
 * Downloads the object once into a private temporary file, hashing it on the
 * way, and returns only when it is the manifest's (SHA-256 and size): a
 * whole-database restore must not feed a client SQL it has not checked, as
 * the client commits each statement as it runs. A wrong digest or a failed
 * download throws with the file removed; `consequence` ends the message.
 */
export async function downloadVerifiedDump(s3: S3Client, bucket: BucketLocation, m: StoredDump, consequence: string, parentDir = tmpdir()): Promise<VerifiedDump> {
  let dir: string;
  try {
    dir = mkdtempSync(join(parentDir, "drstack-restore-"));
    chmodSync(dir, 0o700);
  } catch (err) {
    throw new UsageError(`Could not make a private temporary directory under ${parentDir} for ${m.dumpKey} (${errorMessage(err)}): the restore checks the whole object before applying it, so it needs ${m.size} bytes of writable temporary space (TMPDIR).`);
  }
  const path = join(dir, "dump.sql.gz");
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: m.dumpKey })).catch((err: unknown) => {
      throw explainS3Error(err, bucket, `read ${m.dumpKey}`);
    });
    const hashed = hashing(obj.Body as AsyncIterable<Uint8Array>);
    await pipeline(Readable.from(hashed.chunks), createWriteStream(path, { flags: "wx", mode: 0o600 })).catch((err: unknown) => {
      if (err instanceof CheckFailedError || err instanceof UsageError) throw err;
      throw new CheckFailedError(`could not download ${m.dumpKey} into ${path} (${errorMessage(err)}): free temporary space (TMPDIR) for its ${m.size} bytes; ${consequence}`);
    });
    checkDigest(m, hashed, consequence);
  } catch (err) {
    remove();
    throw err;
  }
  return {
    path,
    sql: () => gunzipped(createReadStream(path), m.dumpKey),
    remove,
  };
}

async function* gunzipped(source: Readable, dumpKey: string): AsyncGenerator<Buffer> {
  const gunzip = createGunzip();
  source.on("error", (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code?.startsWith("Z_")) throw new CheckFailedError(`${dumpKey} is not a valid gzip stream (${errorMessage(err)}): the stored dump is damaged or not this manifest's`);
    throw err;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
