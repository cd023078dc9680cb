/**
 * Whole-database restore of a MySQL/MariaDB backup: the gunzipped dump piped
 * into the `mariadb` / `mysql` client (the backup engine's own) against an
 * empty database, created when absent, then proved by dumping the restored
 * database again with the backup's tool and flags and comparing every
 * table's rows and tuple checksum with the manifest (the same tool and
 * server flavour print the same rows as the same bytes), and that the views,
 * routines, triggers and events the manifest lists are all there.
 *
 * The client commits each statement as it runs it, so nothing is sent
 * before the whole object is checked: it is downloaded once into a private
 * temporary file (mode 0600 in a 0700 directory, removed afterwards) while
 * hashed, refused unless it is the manifest's SHA-256 and size, read through
 * the dump reader (it must parse as the manifest's dump, to its completion
 * line), and only then fed to the client, with --one-database as a backstop.
 *
 * MySQL runs DDL outside transactions, so the dump cannot be applied in one
 * as pg_restore --single-transaction is. Instead nothing is kept from a
 * restore that did not finish: when the client fails, the database is
 * dropped if this restore created it, or emptied again (dropped and created
 * with its own character set and collation) if it was an empty one, with
 * whatever else was written into it meanwhile: the target database must be
 * reserved for the restore.
 */
import { spawn } from "node:child_process";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { ENGINE_LABELS, MysqlEngine } from "./engine";
import { CheckFailedError, UsageError, errorMessage } from "./errors";
import { MYSQL_TOOLS, mysqlTool, mysqlToolArgs, ParsedMysqlUrl, withDefaultsFile } from "./mysql";
import { downloadVerifiedDump, StoredDump, VerifiedDump } from "./mysqlDumpDownload";
import { redumpTables } from "./mysqlRedump";
import type { MysqlManifest } from "./manifest";
import type { TableComparison } from "./restore";
import { BucketLocation } from "./s3";
import { MYSQL_TABLE_CHECKSUM_METHOD, SqlDumpReader } from "./sqlDump";
import { childWriter } from "./streamWrite";
import type { TableState } from "./checksums";

/** What the target database is before the restore; `exists: false` means the restore creates it. */
export interface MysqlTargetState {
  exists: boolean;
  charset?: string;
  collation?: string;
}

function ident(name: string): string {
  return "`" + name.replace(/`/g, "``") + "`";
}

/**
 * Refuses a database that holds anything (tables, views, sequences, routines,
 * events), before the bucket is read; `conn` is connected without a database.
 */
export async function checkMysqlTargetEmpty(conn: Connection, dest: ParsedMysqlUrl): Promise<MysqlTargetState> {
  const [schemata] = await conn.query<RowDataPacket[]>(
    "SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    [dest.database],
  );
  if (schemata.length === 0) return { exists: false };
  const [counts] = await conn.query<RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) AS tables,
            (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) AS routines,
            (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS events`,
    [dest.database, dest.database, dest.database],
  );
  const c = counts[0];
  const held = [[Number(c.tables), "table(s) or view(s)"], [Number(c.routines), "routine(s)"], [Number(c.events), "event(s)"]] as const;
  const found = held.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  if (found.length > 0) {
    throw new UsageError(
      `Database "${dest.database}" named by ${dest.label} already has ${found.join(", ")}; restore into a new, empty database (name one that does not exist, e.g. ${dest.database}_restore_test, and the restore creates it), or name what to restore with --table. Nothing was changed.`,
    );
  }
  return { exists: true, charset: String(schemata[0].cs), collation: String(schemata[0].co) };
}

export interface MysqlDatabaseRun {
  s3: S3Client;
  bucket: BucketLocation;
  manifest: StoredDump & { tables: TableState[]; endedAt: string; objects?: MysqlManifest["objects"]; tableChecksumMethod?: string; verification?: { statements?: number } };
  engine: MysqlEngine;
  /** The target, and an admin connection to its server without a database selected. */
  dest: ParsedMysqlUrl;
  conn: Connection;
  target: MysqlTargetState;
  binDir?: string;
  log: (message: string) => void;
}

export async function restoreMysqlDatabase(run: MysqlDatabaseRun): Promise<{ tables: TableComparison[]; missingObjects: string[]; failures: string[] }> {
  const { dest, conn, target, log, manifest } = run;
  const client = mysqlTool(MYSQL_TOOLS[run.engine].client, run.binDir);
  if (client.flavour !== run.engine) {
    throw new UsageError(`${client.path} is ${ENGINE_LABELS[client.flavour]}'s client (${client.display}); a ${ENGINE_LABELS[run.engine]} dump is restored with ${ENGINE_LABELS[run.engine]}'s. Install it and set --mysql-bin-dir / MYSQL_BIN_DIR to its directory. Nothing was changed.`);
  }
  // The client commits every statement as it runs it: the object is checked whole before the first one is sent.
  const dump = await downloadVerifiedDump(run.s3, run.bucket, manifest, "nothing was changed");
  try {
    await checkDumpIsTheManifests(dump, manifest);
    log(`${manifest.dumpKey} hashes to its manifest's sha256 and reads as its dump; applying it`);
    if (!target.exists) {
      await conn.query(`CREATE DATABASE ${ident(dest.database)} CHARACTER SET utf8mb4`).catch((err: unknown) => {
        throw new UsageError(`Could not create database "${dest.database}" named by ${dest.label} (${errorMessage(err)}). The user needs the CREATE privilege, or create the database first.`);
      });
      log(`database ${dest.database} created`);
    }
    log(`restoring ${manifest.dumpKey} (${manifest.size} bytes, taken ${manifest.endedAt}) into ${dest.database} with ${client.display}`);
    try {
      await pipeIntoClient(run, client.path, dump);
    } catch (err) {
      await undo(run).catch((e: unknown) => log(`could not undo the failed restore of ${dest.database}: ${errorMessage(e)}; drop it by hand`));
      throw err;
    }
  } finally {
    dump.remove();
  }
  log(`dump applied; dumping ${dest.database} again to compare its rows with the manifest`);
  const dumped = await redumpTables({ dest, engine: run.engine, binDir: run.binDir });
  const failures: string[] = [];
  const tables = manifest.tables.map((t): TableComparison => {
    const now = dumped.tables.get(t.table);
    const renamed = dest.database !== t.schema ? { restoredAs: `${dest.database}.${t.table}` } : {};
    if (!now || !dumped.createdTables.includes(t.table)) {
      failures.push(`table ${dest.database}.${t.table} is missing after restore`);
      return { ...t, ...renamed };
    }
    if (now.rows !== t.rows) failures.push(`table ${dest.database}.${t.table} has ${now.rows} rows, the backup recorded ${t.rows}`);
    else if (t.checksum !== undefined && now.checksum !== t.checksum) {
      failures.push(`table ${dest.database}.${t.table} has the backup's ${t.rows} rows but not their contents (checksum ${now.checksum}, the backup recorded ${t.checksum})`);
    }
    return { ...t, ...renamed, restoredRows: now.rows, restoredChecksum: now.checksum };
  });
  const missingObjects: string[] = [];
  const objects = manifest.objects;
  if (objects) {
    for (const kind of ["views", "routines", "triggers", "events"] as const) {
      const missing = objects[kind].filter((name) => !dumped[kind].includes(name));
      missingObjects.push(...missing.map((name) => `${kind.slice(0, -1)} ${name}`));
    }
  }
  if (missingObjects.length > 0) failures.push(`${missingObjects.join(", ")} of the backup missing after restore`);
  if (dumped.events.length > 0) log(await eventsNote(conn, dest.database, dumped.events));
  return { tables, missingObjects, failures };
}

/**
 * The verified object read as a dump before any of it is applied: it must
 * parse as mysqldump output to its completion line, with the manifest's
 * statement count and every table's rows and checksum. The digest already
 * matched, so this refuses a manifest whose digest was rewritten to match an
 * object that is not the dump it describes.
 */
async function checkDumpIsTheManifests(dump: VerifiedDump, m: MysqlDatabaseRun["manifest"]): Promise<void> {
  const reader = new SqlDumpReader();
  const problems: string[] = [];
  try {
    for await (const chunk of dump.sql()) reader.write(chunk);
    const summary = reader.end();
    if (!summary.completed) problems.push(`it has no "-- Dump completed" line`);
    if (m.verification?.statements !== undefined && summary.statements !== m.verification.statements) {
      problems.push(`it holds ${summary.statements} statements, the manifest recorded ${m.verification.statements}`);
    }
    for (const t of m.tables) {
      const dumped = summary.tables.get(t.table);
      if (!dumped || !summary.createdTables.includes(t.table)) problems.push(`it has no table ${t.table}`);
      else if (dumped.rows !== t.rows) problems.push(`${t.table} has ${dumped.rows} rows in it, the manifest recorded ${t.rows}`);
      else if (t.checksum !== undefined && m.tableChecksumMethod === MYSQL_TABLE_CHECKSUM_METHOD && dumped.checksum !== t.checksum) {
        problems.push(`${t.table} has checksum ${dumped.checksum} in it, the manifest recorded ${t.checksum}`);
      }
    }
  } catch (err) {
    problems.push(`it does not read as a mysqldump/mariadb-dump of one database (${errorMessage(err)})`);
  }
  if (problems.length > 0) {
    throw new CheckFailedError(`${m.dumpKey} is not the dump its manifest describes: ${problems.join("; ")}. Nothing was changed; restore another backup (--manifest-key).`);
  }
}

/** The verified file -> gunzip -> the client; the client's failure throws. */
async function pipeIntoClient(run: MysqlDatabaseRun, clientPath: string, dump: VerifiedDump): Promise<void> {
  const { dest } = run;
  await withDefaultsFile(dest, async (defaultsFile) => {
    const child = spawn(
      clientPath,
      // --one-database: statements after a USE of another database are skipped (a backstop; the dump of one database has none).
      // It applies to the database named as the argument, not to --database=.
      [...mysqlToolArgs(dest, run.engine, defaultsFile), "--binary-mode", "--batch", "--default-character-set=utf8mb4", "--one-database", "--", dest.database],
      { stdio: ["pipe", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on("close", resolve);
      child.on("error", () => resolve(null));
    });
    const write = childWriter(child.stdin, exited);
    const undone = run.target.exists ? `what it created in ${dest.database} was dropped` : `${dest.database} was dropped`;
    // The client echoes the failing statement, rows and all: only its ERROR lines go into the message.
    const failed = async () => new CheckFailedError(`${clientPath} failed (exit ${await exited}); ${undone}: ${clientErrors(stderr)}`);
    try {
      for await (const chunk of dump.sql()) {
        if (!(await write(chunk))) throw await failed();
      }
    } catch (err) {
      child.kill("SIGKILL");
      await exited;
      throw err;
    }
    child.stdin.end();
    if ((await exited) !== 0) throw await failed();
  });
}

/**
 * Restored events keep the backup's status, ENABLED ones included: on a
 * server whose event_scheduler is ON they run on their schedule from the
 * moment they are created, and one that names another schema runs against
 * it. The restore says so (a warning when the scheduler is ON).
 */
async function eventsNote(conn: Connection, database: string, events: readonly string[]): Promise<string> {
  const [rows] = await conn.query<RowDataPacket[]>("SELECT @@GLOBAL.event_scheduler AS s");
  const scheduler = String(rows[0]?.s ?? "unknown").toUpperCase();
  const what = `${events.length} event(s) restored into ${database} (${events.join(", ")}) with the backup's status`;
  return scheduler === "ON" || scheduler === "1"
    ? `warning: ${what}, and the server's event_scheduler is ON, so the enabled ones run on their schedule now; ALTER EVENT ... DISABLE them (or SET GLOBAL event_scheduler = OFF) if the restored copy must not act`
    : `${what}; the server's event_scheduler is ${scheduler}, so none runs until it is turned ON`;
}

function clientErrors(stderr: string): string {
  const errors = stderr.split("\n").filter((l) => /^ERROR\b/.test(l));
  return errors.length > 0 ? errors.join("; ") : stderr.trim().slice(-500);
}

/**
 * Drops what a failed restore created: the database it made, or everything in
 * the empty one it was given. It drops the whole database, not only what the
 * dump created: the target was empty when checked, so anything else in it
 * now was written by someone else during the restore, and is dropped too. The
 * target must be reserved for the restore (nothing else writes to it) until
 * the restore has finished.
 */
async function undo(run: MysqlDatabaseRun): Promise<void> {
  const { conn, dest, target } = run;
  await conn.query(`DROP DATABASE IF EXISTS ${ident(dest.database)}`);
  if (target.exists) {
    await conn.query(`CREATE DATABASE ${ident(dest.database)} CHARACTER SET ${target.charset} COLLATE ${target.collation}`);
    run.log(`the failed restore was undone: ${dest.database} is empty again`);
  } else {
    run.log(`the failed restore was undone: ${dest.database} dropped`);
  }
}
