/**
 * Whole-database restore of a MySQL/MariaDB backup: the gunzipped dump piped
 * into the `mariadb` / `mysql` client (the backup engine's own) against an
 * empty database, created when absent, then proved by dumping the restored
 * database again with the backup's tool and flags and comparing every
 * table's rows and tuple checksum with the manifest (the same tool and
 * server flavour print the same rows as the same bytes), and that the views,
 * routines, triggers and events the manifest lists are all there.
 *
 * MySQL runs DDL outside transactions, so the dump cannot be applied in one
 * as pg_restore --single-transaction is. Instead nothing is kept from a
 * restore that did not finish: when the client fails, the object does not
 * hash to its manifest, or the gzip stream is damaged, the database is
 * dropped if this restore created it, or emptied again (dropped and created
 * with its own character set and collation) if it was an empty one.
 */
import { spawn } from "node:child_process";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { ENGINE_LABELS, MysqlEngine } from "./engine";
import { CheckFailedError, UsageError, errorMessage } from "./errors";
import { MYSQL_TOOLS, mysqlTool, mysqlToolArgs, ParsedMysqlUrl, withDefaultsFile } from "./mysql";
import { downloadDump, StoredDump } from "./mysqlDumpDownload";
import { redumpTables } from "./mysqlRedump";
import type { MysqlManifest } from "./manifest";
import type { TableComparison } from "./restore";
import { BucketLocation } from "./s3";
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
  manifest: StoredDump & { tables: TableState[]; endedAt: string; objects?: MysqlManifest["objects"] };
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
  if (!target.exists) {
    await conn.query(`CREATE DATABASE ${ident(dest.database)} CHARACTER SET utf8mb4`).catch((err: unknown) => {
      throw new UsageError(`Could not create database "${dest.database}" named by ${dest.label} (${errorMessage(err)}). The user needs the CREATE privilege, or create the database first.`);
    });
    log(`database ${dest.database} created`);
  }
  log(`restoring ${manifest.dumpKey} (${manifest.size} bytes, taken ${manifest.endedAt}) into ${dest.database} with ${client.display}`);
  try {
    await pipeIntoClient(run, client.path);
  } catch (err) {
    await undo(run).catch((e: unknown) => log(`could not undo the failed restore of ${dest.database}: ${errorMessage(e)}; drop it by hand`));
    throw err;
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
  return { tables, missingObjects, failures };
}

/** S3 -> SHA-256 -> gunzip -> the client; the client's failure, a damaged stream or a wrong digest throws. */
async function pipeIntoClient(run: MysqlDatabaseRun, clientPath: string): Promise<void> {
  const { dest, manifest } = run;
  await withDefaultsFile(dest, async (defaultsFile) => {
    const dump = await downloadDump(run.s3, run.bucket, manifest);
    const child = spawn(
      clientPath,
      [...mysqlToolArgs(dest, run.engine, defaultsFile), "--binary-mode", "--batch", "--default-character-set=utf8mb4", `--database=${dest.database}`],
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
      for await (const chunk of dump.sql) {
        if (!(await write(chunk))) throw await failed();
      }
      dump.checkDigest(`${undone}`);
    } catch (err) {
      dump.destroy();
      child.kill("SIGKILL");
      await exited;
      throw err;
    }
    child.stdin.end();
    if ((await exited) !== 0) throw await failed();
  });
}

function clientErrors(stderr: string): string {
  const errors = stderr.split("\n").filter((l) => /^ERROR\b/.test(l));
  return errors.length > 0 ? errors.join("; ") : stderr.trim().slice(-500);
}

/** Drops what a failed restore created: the database it made, or everything in the empty one it was given. */
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
