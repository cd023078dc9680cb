/**
 * The deep check of a stored MySQL/MariaDB dump, in one read of the object:
 * its bytes hash to the manifest's SHA-256, they gunzip, and the SQL holds
 * what the manifest says - every table with its rows and checksum, the same
 * number of statements, and the tool's completion line. It needs no database
 * and no client tools, so it runs in the verifier's plain Node.js Lambda.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { errorMessage } from "./errors";
import type { MysqlManifest } from "./manifest";
import { MYSQL_TABLE_CHECKSUM_METHOD, SqlDumpReader, SqlDumpSummary } from "./sqlDump";

export interface MysqlDumpCheck {
  /** SHA-256 of the stored bytes, hex. */
  sha256: string;
  size: number;
  /** What does not match the manifest, as sentences; empty when the dump is what it says. */
  problems: string[];
}

export async function checkMysqlDump(s3: S3Client, bucket: string, m: MysqlManifest): Promise<MysqlDumpCheck> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: m.dumpKey }));
  const hash = createHash("sha256");
  let size = 0;
  async function* stored(): AsyncGenerator<Buffer> {
    for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      size += buf.length;
      yield buf;
    }
  }
  const source = Readable.from(stored());
  const gunzip = createGunzip();
  source.on("error", (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  const reader = new SqlDumpReader();
  const problems: string[] = [];
  let summary: SqlDumpSummary | undefined;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) reader.write(chunk);
    summary = reader.end();
  } catch (err) {
    const code = (err as { code?: string }).code;
    problems.push(code?.startsWith("Z_") ? `${m.dumpKey} is not a valid gzip stream (${errorMessage(err)})` : `${m.dumpKey} does not read as the dump it was: ${errorMessage(err)}`);
    // Hash the rest, so the digest reported is the whole object's.
    source.unpipe(gunzip);
    gunzip.destroy();
    try {
      for await (const _chunk of source) {
        // read only for the hash
      }
    } catch (readErr) {
      problems.push(`${m.dumpKey} could not be read to its end: ${errorMessage(readErr)}`);
    }
  }
  if (summary) problems.push(...compareWithManifest(summary, m));
  return { sha256: hash.digest("hex"), size, problems };
}

/** What a dump read back holds that its manifest does not say. */
export function compareWithManifest(summary: SqlDumpSummary, m: MysqlManifest): string[] {
  const problems: string[] = [];
  if (!summary.completed) problems.push(`${m.dumpKey} has no "-- Dump completed" line: the SQL stops early`);
  if (summary.statements !== m.verification.statements) problems.push(`${m.dumpKey} holds ${summary.statements} statements, the manifest recorded ${m.verification.statements}`);
  const compareChecksums = m.tableChecksumMethod === MYSQL_TABLE_CHECKSUM_METHOD;
  for (const t of m.tables) {
    const dumped = summary.tables.get(t.table);
    if (!dumped || !summary.createdTables.includes(t.table)) {
      problems.push(`${m.dumpKey} has no table ${t.schema}.${t.table}`);
      continue;
    }
    if (dumped.rows !== t.rows) problems.push(`${t.schema}.${t.table}: ${dumped.rows} rows in the dump, the manifest recorded ${t.rows}`);
    else if (compareChecksums && t.checksum !== undefined && dumped.checksum !== t.checksum) problems.push(`${t.schema}.${t.table}: checksum ${dumped.checksum} in the dump, the manifest recorded ${t.checksum}`);
  }
  return problems;
}
