/**
 * The restore test: restores a chosen backup (default: the latest good one,
 * the newest by writer epoch and slot among every site's pointer)
 * into an empty database and proves it by comparing every table's row count
 * with the counts taken in the dump's own snapshot.
 *
 * The archive streams from S3 through a SHA-256 into `pg_restore
 * --single-transaction`; the last chunk is held back until the digest
 * matches the manifest, so a tampered or truncated archive is rolled back
 * instead of committed.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createHash } from "node:crypto";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CheckFailedError, UsageError } from "./errors";
import { BackupTarget, pointerKeys } from "./layout";
import { BackupManifest, LatestPointer, getJson, resolveLatest } from "./manifest";
import { DatabaseConnection, ParsedDatabaseUrl, connect, countRows, parseDatabaseUrl, pgTool, pgToolEnv, TableCount } from "./postgres";
import { BucketLocation, checkBucket, explainS3Error, s3Client } from "./s3";

export interface RestoreOptions {
  bucket: BucketLocation;
  /** Which database's backups; its class decides the prefix. */
  source: Pick<BackupTarget, "database" | "dataClass">;
  /** A specific manifest key; the latest good backup (newest by writer epoch, then slot, among the sites' pointers) when unset. */
  manifestKey?: string;
  /** Sites whose pointers to look for beside primary and secondary (e.g. a non-AWS site's name). */
  sites?: string[];
  /** Must be an existing, empty database. */
  destination: DatabaseConnection;
  pgBinDir?: string;
  log?: (message: string) => void;
}

export interface TableComparison extends TableCount {
  restoredRows?: number;
}

export interface RestoreReport {
  ok: boolean;
  manifestKey: string;
  dumpKey: string;
  sha256: string;
  tables: TableComparison[];
  failures: string[];
}

export async function runRestore(opts: RestoreOptions): Promise<RestoreReport> {
  const log = opts.log ?? (() => undefined);
  const pgRestore = pgTool("pg_restore", opts.pgBinDir);
  const dest = parseDatabaseUrl(opts.destination);
  const s3 = s3Client(opts.bucket);
  const bucket = opts.bucket.bucket;

  const client = await connect(opts.destination);
  try {
    const existing = await countRows(client);
    if (existing.length > 0) {
      throw new UsageError(`Database "${dest.database}" named by ${opts.destination.label} already has ${existing.length} table(s); restore into a new, empty database (createdb ${dest.database}_restore_test).`);
    }
    await checkBucket(s3, opts.bucket);

    const manifestKey = opts.manifestKey ?? (await latestGood(s3, opts)).manifestKey;
    const manifest = (await getJson<BackupManifest>(s3, bucket, manifestKey).catch((err: unknown) => {
      throw explainS3Error(err, opts.bucket, `read ${manifestKey}`);
    }))?.value;
    if (!manifest) throw new UsageError(`No manifest at s3://${bucket}/${manifestKey}. Check --manifest-key, or omit it to restore the latest good backup.`);
    log(`restoring ${manifest.dumpKey} (${manifest.size} bytes, taken ${manifest.endedAt}) into ${dest.database}`);

    await streamIntoPgRestore(s3, opts, pgRestore.path, manifest, dest);

    const restored = new Map((await countRows(client)).map((t) => [`${t.schema}.${t.table}`, t.rows]));
    const failures: string[] = [];
    const tables: TableComparison[] = manifest.tables.map((t) => {
      const restoredRows = restored.get(`${t.schema}.${t.table}`);
      if (restoredRows === undefined) failures.push(`table ${t.schema}.${t.table} is missing after restore`);
      else if (restoredRows !== t.rows) failures.push(`table ${t.schema}.${t.table} has ${restoredRows} rows, the backup recorded ${t.rows}`);
      return { ...t, restoredRows };
    });
    const report: RestoreReport = { ok: failures.length === 0, manifestKey, dumpKey: manifest.dumpKey, sha256: manifest.sha256, tables, failures };
    log(report.ok ? `restore verified: ${tables.length} table(s), row counts match` : `restore check failed: ${failures.join("; ")}`);
    return report;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The newest verified backup by (writer epoch, slot) among every site's pointer in this bucket. */
async function latestGood(s3: S3Client, opts: RestoreOptions): Promise<LatestPointer> {
  const keys = pointerKeys(opts.source, opts.sites);
  const resolved = await resolveLatest(s3, opts.bucket.bucket, opts.source, opts.sites).catch((err: unknown) => {
    throw explainS3Error(err, opts.bucket, `read ${keys.join(", ")}`);
  });
  if (!resolved) {
    throw new UsageError(`No verified backup of "${opts.source.database}" in s3://${opts.bucket.bucket}/ (none of ${keys.join(", ")} exists). Check --name and --data-class, or run a backup first.`);
  }
  return resolved.pointer;
}

async function streamIntoPgRestore(s3: S3Client, opts: RestoreOptions, pgRestorePath: string, m: BackupManifest, dest: ParsedDatabaseUrl): Promise<void> {
  const obj = await s3.send(new GetObjectCommand({ Bucket: opts.bucket.bucket, Key: m.dumpKey })).catch((err: unknown) => {
    throw explainS3Error(err, opts.bucket, `read ${m.dumpKey}`);
  });
  const child = spawn(
    pgRestorePath,
    ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", "--no-password", `--dbname=${dest.redacted}`],
    { env: pgToolEnv(dest), stdio: ["pipe", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  child.stdin.on("error", () => undefined); // pg_restore failing surfaces through its exit code

  const hash = createHash("sha256");
  let size = 0;
  let held: Buffer | undefined;
  const write = async (chunk: Buffer) => {
    if (!child.stdin.write(chunk)) await Promise.race([once(child.stdin, "drain").catch(() => undefined), exited]);
  };
  try {
    for await (const chunk of obj.Body as AsyncIterable<Uint8Array>) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      size += buf.length;
      if (held) await write(held);
      held = buf;
    }
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const digest = hash.digest("hex");
  if (digest !== m.sha256 || size !== m.size) {
    child.kill("SIGKILL");
    await exited;
    throw new CheckFailedError(`checksum mismatch: ${m.dumpKey} (${size} bytes) hashes to sha256 ${digest}, the manifest recorded ${m.sha256} (${m.size} bytes); nothing was restored`);
  }
  if (held) await write(held);
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new CheckFailedError(`pg_restore failed (exit ${code}); the restore was rolled back: ${stderr.trim()}`);
}
