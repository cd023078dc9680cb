import { readdirSync, readFileSync } from "fs";
import { join } from "path";

/**
 * S3 refuses a PutObject into a bucket with Object Lock default retention
 * (every drstack backup bucket) unless it carries Content-MD5 or an
 * x-amz-checksum-* header ("Content-MD5 OR x-amz-checksum- HTTP header is
 * required for Put Object requests with Object Lock parameters"; S3 API
 * Reference, PutObject). The SDK sends one by default, but lambdas/core/s3.ts
 * sets requestChecksumCalculation WHEN_REQUIRED, so each call must ask. MinIO
 * does not enforce the rule, so the integration suite cannot catch this.
 */
const CORE = join(__dirname, "..", "..", "..", "lambdas");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []));
}

/** The argument text of each `new PutObjectCommand(...)`, by balanced parentheses. */
function putObjectCalls(text: string): string[] {
  const calls: string[] = [];
  for (let at = text.indexOf("new PutObjectCommand("); at !== -1; at = text.indexOf("new PutObjectCommand(", at + 1)) {
    let depth = 0;
    let end = at + "new PutObjectCommand".length;
    for (; end < text.length; end++) {
      if (text[end] === "(") depth++;
      if (text[end] === ")" && --depth === 0) break;
    }
    calls.push(text.slice(at, end + 1));
  }
  return calls;
}

test("every PutObject under lambdas/ sends a checksum, as Object Lock buckets require", () => {
  const calls = sources(CORE).flatMap((file) => putObjectCalls(readFileSync(file, "utf8")).map((call) => ({ file, call })));
  expect(calls.length).toBeGreaterThanOrEqual(4);
  expect(calls.filter(({ call }) => !/ChecksumAlgorithm|ContentMD5/.test(call)).map(({ file }) => file)).toEqual([]);
});
