/**
 * gzip on several cores: the stream is cut into blocks, each compressed on
 * libuv's thread pool as a gzip member of its own, and the members are
 * emitted in order. Concatenated members are one valid gzip file (RFC 1952,
 * 2.2): gunzip, zcat and Node's createGunzip read them as one stream. One
 * deflate stream would use one core, which is slower than mysqldump.
 * Memory stays at `concurrency` blocks in flight plus the one being filled.
 */
import { promisify } from "node:util";
import { gzip } from "node:zlib";

const gzipAsync = promisify(gzip);

export interface ParallelGzipOptions {
  level: number;
  /** Bytes of input per member. */
  blockSize?: number;
  /** Members compressed at once; at most libuv's thread pool (UV_THREADPOOL_SIZE, default 4) run together. */
  concurrency?: number;
}

export const DEFAULT_GZIP_BLOCK_BYTES = 4 * 1024 * 1024;
export const DEFAULT_GZIP_CONCURRENCY = 4;

export async function* parallelGzip(source: AsyncIterable<Buffer>, opts: ParallelGzipOptions): AsyncGenerator<Buffer> {
  const blockSize = opts.blockSize ?? DEFAULT_GZIP_BLOCK_BYTES;
  const concurrency = opts.concurrency ?? DEFAULT_GZIP_CONCURRENCY;
  const pending: Promise<Buffer>[] = [];
  let parts: Buffer[] = [];
  let filled = 0;
  let members = 0;
  const submit = () => {
    members++;
    const block = parts.length === 1 ? parts[0] : Buffer.concat(parts, filled);
    const compressed = gzipAsync(block, { level: opts.level });
    // Awaited in order below; observed now so a failure while earlier blocks are awaited is not unhandled.
    compressed.catch(() => undefined);
    pending.push(compressed);
    parts = [];
    filled = 0;
  };
  for await (const chunk of source) {
    parts.push(chunk);
    filled += chunk.length;
    if (filled >= blockSize) {
      submit();
      while (pending.length >= concurrency) yield await pending.shift()!;
    }
  }
  // An empty input still gives one (empty) member: zero bytes are not a gzip file.
  if (filled > 0 || members === 0) submit();
  while (pending.length > 0) yield await pending.shift()!;
}
