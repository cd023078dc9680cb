/**
 * The restore: a chosen backup (by manifest key, by time with `before`, or
 * by default the latest good one, the newest by writer epoch and slot among
 * every site's pointer) restored into PostgreSQL, then proved by comparing
 * every restored table's row count, and content checksum where the manifest
 * has one, with what the backup recorded in the dump's own snapshot.
 *
 * Whole database: into an existing, empty database. The archive streams
 * from S3 through a SHA-256 into `pg_restore --single-transaction`; the last
 * chunk is held back until the digest matches the manifest, so a tampered or
 * truncated archive is rolled back instead of committed.
 *
 * Selected tables or schemas (restoreTables.ts): into a database that may be
 * live, one transaction, nothing dropped unless `clean` says so.
 *
 * The engine is the backup's, from its manifest (none: PostgreSQL), and the
 * target URL's scheme must name the same one. MySQL/MariaDB backups restore
 * through mysqlRestore.ts (whole database) and mysqlRestoreTables.ts.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CheckFailedError, UsageError } from "./errors";
import { newestBackupBefore } from "./catalog";
import { BackupTarget, pointerKeys } from "./layout";
import { BackupManifest, LatestPointer, getJson, resolveLatest } from "./manifest";
import { DatabaseConnection, ParsedDatabaseUrl, connect, countRows, parseDatabaseUrl, pgTool, pgToolEnv } from "./postgres";
import { TableState, tableStatesNow } from "./checksums";
import { BucketLocation, checkBucket, explainS3Error, s3Client } from "./s3";
import { childWriter } from "./streamWrite";
import { restoreSelection, TableSelection } from "./restoreTables";
import { engineOfUrl, isMysqlEngine, MysqlEngine } from "./engine";
import { connectMysql, parseMysqlUrl, serverInfo } from "./mysql";
import { checkMysqlTargetEmpty, restoreMysqlDatabase } from "./mysqlRestore";
import { checkMysqlSelection, restoreMysqlTables } from "./mysqlRestoreTables";
import { checkTargetEngine } from "./restoreEngine";

export interface RestoreOptions {
  bucket: BucketLocation;
  /** Which database's backups; its class decides the prefix. */
  source: Pick<BackupTarget, "database" | "dataClass">;
  /** A specific manifest key. */
  manifestKey?: string;
  /** The newest backup that ended before this instant (ignored with manifestKey). */
  before?: Date;
  /** Sites whose pointers to look for beside primary and secondary (e.g. a non-AWS site's name). */
  sites?: string[];
  /** Whole database: must be an existing, empty database. With `selection`: any database. */
  destination: DatabaseConnection;
  /** Restore only these tables or schemas (restoreTables.ts); the whole database when unset. */
  selection?: TableSelection;
  pgBinDir?: string;
  /** Where mysql/mariadb and mysqldump/mariadb-dump are, for a MySQL or MariaDB backup; PATH when unset. */
  mysqlBinDir?: string;
  log?: (message: string) => void;
}

export interface TableComparison extends TableState {
  restoredRows?: number;
  restoredChecksum?: string;
  /** Where the table was restored, when not under its own schema (--into-schema). */
  restoredAs?: string;
}

export interface RestoreReport {
  ok: boolean;
  manifestKey: string;
  dumpKey: string;
  sha256: string;
  /** When the backup was taken (its manifest's endedAt). */
  backupEndedAt: string;
  mode: "database" | "tables";
  tables: TableComparison[];
  /** Archive entries a table restore left out, and why. */
  skipped?: string[];
  /** MySQL/MariaDB, whole database: views, routines, triggers and events the manifest lists that the restored database lacks. */
  missingObjects?: string[];
  /** Wall-clock seconds from the first byte read to the restore committed and checked. */
  durationSeconds: number;
  failures: string[];
}

export async function runRestore(opts: RestoreOptions): Promise<RestoreReport> {
  const log = opts.log ?? (() => undefined);
  if (isMysqlEngine(engineOfUrl(opts.destination.url, opts.destination.label))) return runMysqlRestore(opts, log);
  const pgRestore = pgTool("pg_restore", opts.pgBinDir);
  const dest = parseDatabaseUrl(opts.destination);
  const s3 = s3Client(opts.bucket);

  const client = await connect(opts.destination);
  try {
    if (!opts.selection) {
      const existing = await countRows(client);
      if (existing.length > 0) {
        throw new UsageError(`Database "${dest.database}" named by ${opts.destination.label} already has ${existing.length} table(s); restore into a new, empty database (createdb ${dest.database}_restore_test), or name what to restore with --table / --schema.`);
      }
    }
    await checkBucket(s3, opts.bucket);
    const manifest = await chooseBackup(s3, opts);
    checkTargetEngine(manifest, opts.destination);
    const started = Date.now();
    if (opts.selection) {
      const result = await restoreSelection({ s3, opts, manifest, selection: opts.selection, client, dest, pgRestorePath: pgRestore.path, psqlPath: pgTool("psql", opts.pgBinDir).path, log });
      const report: RestoreReport = {
        ok: result.failures.length === 0,
        manifestKey: manifest.manifestKey,
        dumpKey: manifest.dumpKey,
        sha256: manifest.sha256,
        backupEndedAt: manifest.endedAt,
        mode: "tables",
        tables: result.tables,
        skipped: result.skipped,
        durationSeconds: (Date.now() - started) / 1000,
        failures: result.failures,
      };
      log(report.ok ? `restored ${result.tables.length} table(s) from ${manifest.dumpKey}; row counts${manifest.tableChecksumMethod ? " and checksums" : ""} match` : `restore check failed: ${report.failures.join("; ")}`);
      return report;
    }

    log(`restoring ${manifest.dumpKey} (${manifest.size} bytes, taken ${manifest.endedAt}) into ${dest.database}`);
    await streamIntoPgRestore(s3, opts, pgRestore.path, manifest, dest);
    const { tables, failures } = await compareWithManifest(client, manifest, manifest.tables);
    const report: RestoreReport = {
      ok: failures.length === 0,
      manifestKey: manifest.manifestKey,
      dumpKey: manifest.dumpKey,
      sha256: manifest.sha256,
      backupEndedAt: manifest.endedAt,
      mode: "database",
      tables,
      durationSeconds: (Date.now() - started) / 1000,
      failures,
    };
    log(report.ok ? `restore verified: ${tables.length} table(s), row counts${manifest.tableChecksumMethod ? " and checksums" : ""} match` : `restore check failed: ${failures.join("; ")}`);
    return report;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const MYSQL_LABELS = { table: "--table", schema: "--schema", intoSchema: "--into-schema", dataOnly: "--data-only", clean: "--clean" };

/**
 * A MySQL/MariaDB backup: every refusal (a target that is not empty, a
 * selection it cannot do, a backup of another engine or server flavour)
 * before anything is written.
 */
async function runMysqlRestore(opts: RestoreOptions, log: (message: string) => void): Promise<RestoreReport> {
  const dest = parseMysqlUrl(opts.destination);
  if (opts.selection) checkMysqlSelection(opts.selection, MYSQL_LABELS);
  const s3 = s3Client(opts.bucket);
  const conn = await connectMysql(opts.destination, { database: null });
  try {
    const target = opts.selection ? undefined : await checkMysqlTargetEmpty(conn, dest);
    await checkBucket(s3, opts.bucket);
    const manifest = await chooseBackup(s3, opts);
    const engine = checkTargetEngine(manifest, opts.destination) as MysqlEngine;
    const server = await serverInfo(conn);
    if (server.flavour !== engine) {
      throw new UsageError(`${opts.destination.label} says ${dest.engine}:// but the server is ${server.flavour === "mariadb" ? "MariaDB" : "MySQL"} ${server.version}; ${manifest.dumpKey} is a ${engine} backup and restores into ${engine} only. Nothing was changed.`);
    }
    const started = Date.now();
    const result: { tables: TableComparison[]; failures: string[]; missingObjects?: string[] } = opts.selection
      ? await restoreMysqlTables({ s3, bucket: opts.bucket, manifest, engine, selection: opts.selection, destination: opts.destination, labels: MYSQL_LABELS, log })
      : await restoreMysqlDatabase({ s3, bucket: opts.bucket, manifest, engine, dest, conn, target: target!, binDir: opts.mysqlBinDir, log });
    const report: RestoreReport = {
      ok: result.failures.length === 0,
      manifestKey: manifest.manifestKey,
      dumpKey: manifest.dumpKey,
      sha256: manifest.sha256,
      backupEndedAt: manifest.endedAt,
      mode: opts.selection ? "tables" : "database",
      tables: result.tables,
      ...(result.missingObjects !== undefined ? { missingObjects: result.missingObjects } : {}),
      durationSeconds: (Date.now() - started) / 1000,
      failures: result.failures,
    };
    log(report.ok ? `restore verified: ${result.tables.length} table(s), row counts and checksums match` : `restore check failed: ${report.failures.join("; ")}`);
    return report;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** The manifest named, the newest before `before`, or the latest good one. */
export async function chooseBackup(s3: S3Client, opts: Pick<RestoreOptions, "bucket" | "source" | "manifestKey" | "before" | "sites">): Promise<BackupManifest> {
  const bucket = opts.bucket.bucket;
  if (!opts.manifestKey && opts.before) {
    const found = await newestBackupBefore(s3, bucket, opts.source, opts.before).catch((err: unknown) => {
      throw explainS3Error(err, opts.bucket, `list the backups of ${opts.source.database}`);
    });
    if (!found) {
      throw new UsageError(`No backup of "${opts.source.database}" in s3://${bucket}/ ended before ${opts.before.toISOString()}. Check --before, --name and --data-class.`);
    }
    return found;
  }
  const manifestKey = opts.manifestKey ?? (await latestGood(s3, opts)).manifestKey;
  const manifest = (await getJson<BackupManifest>(s3, bucket, manifestKey).catch((err: unknown) => {
    throw explainS3Error(err, opts.bucket, `read ${manifestKey}`);
  }))?.value;
  if (!manifest) throw new UsageError(`No manifest at s3://${bucket}/${manifestKey}. Check --manifest-key, or omit it to restore the latest good backup.`);
  return manifest;
}

/**
 * Row counts, and checksums when the manifest has them, of the restored
 * tables against the backup's record. `restoredAs` maps a table to where it
 * was restored when that is not its own name.
 */
export async function compareWithManifest(
  client: Awaited<ReturnType<typeof connect>>,
  manifest: BackupManifest,
  expected: readonly TableState[],
  restoredAs: (t: TableState) => { schema: string; table: string } = (t) => t,
): Promise<{ tables: TableComparison[]; failures: string[] }> {
  const present = new Set((await countRows(client)).map((t) => `${t.schema}.${t.table}`));
  const targets = expected.map((t) => ({ expected: t, at: restoredAs(t) }));
  const states = new Map(
    (await tableStatesNow(client, targets.filter((x) => present.has(`${x.at.schema}.${x.at.table}`)).map((x) => x.at))).map((s) => [`${s.schema}.${s.table}`, s]),
  );
  const compareChecksums = manifest.tableChecksumMethod !== undefined;
  const failures: string[] = [];
  const tables = targets.map(({ expected: t, at }): TableComparison => {
    const name = `${at.schema}.${at.table}`;
    const state = states.get(name);
    const renamed = name === `${t.schema}.${t.table}` ? {} : { restoredAs: name };
    if (!state) {
      failures.push(`table ${name} is missing after restore`);
      return { ...t, ...renamed };
    }
    if (state.rows !== t.rows) failures.push(`table ${name} has ${state.rows} rows, the backup recorded ${t.rows}`);
    else if (compareChecksums && t.checksum !== undefined && state.checksum !== t.checksum) {
      failures.push(`table ${name} has the backup's ${t.rows} rows but not their contents (checksum ${state.checksum}, the backup recorded ${t.checksum})`);
    }
    return { ...t, ...renamed, restoredRows: state.rows, ...(compareChecksums ? { restoredChecksum: state.checksum } : {}) };
  });
  return { tables, failures };
}

/** The newest verified backup by (writer epoch, slot) among every site's pointer in this bucket. */
async function latestGood(s3: S3Client, opts: Pick<RestoreOptions, "bucket" | "source" | "sites">): Promise<LatestPointer> {
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
  const write = childWriter(child.stdin, exited);
  const failed = async () => new CheckFailedError(`pg_restore failed (exit ${await exited}); the restore was rolled back: ${stderr.trim()}`);

  const hash = createHash("sha256");
  let size = 0;
  let held: Buffer | undefined;
  const body = obj.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
  try {
    for await (const chunk of body) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      size += buf.length;
      // pg_restore stopped at an error: the rest of the archive cannot change the outcome.
      if (held && !(await write(held))) {
        body.destroy?.();
        throw await failed();
      }
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
  if ((await exited) !== 0) throw await failed();
}
