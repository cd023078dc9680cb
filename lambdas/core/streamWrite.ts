/**
 * Writing into a child process's stdin with backpressure, for a child that
 * may exit before it has read everything (pg_restore stops at its first
 * error). Each wait for "drain" removes its listeners when it ends, however
 * it ends, and once the child has closed every later write is refused at
 * once instead of waiting on a stream that will never drain.
 */
import { once } from "node:events";
import type { Writable } from "node:stream";

/** Resolves true when the chunk was taken, false when the child is gone (stop writing then). */
export type ChildWriter = (chunk: Buffer | string) => Promise<boolean>;

export function childWriter(stream: Writable, closed: Promise<unknown>): ChildWriter {
  let isClosed = false;
  void closed.then(() => {
    isClosed = true;
  });
  // A child that exits early closes the pipe (EPIPE): its exit code tells what went wrong.
  stream.on("error", () => undefined);
  return async (chunk) => {
    if (isClosed || stream.destroyed || stream.writableEnded) return false;
    if (stream.write(chunk)) return true;
    const done = new AbortController();
    const drained = once(stream, "drain", { signal: done.signal }).catch(() => undefined);
    try {
      await Promise.race([drained, closed]);
    } finally {
      done.abort();
    }
    return !isClosed && !stream.destroyed;
  };
}
