/**
 * Table restore from a MySQL/MariaDB backup, for a corrupted table in a
 * database that may be live: the selected tables' rows replaced by the
 * dump's, in one InnoDB transaction on one mysql2 connection:
 *
 *   START TRANSACTION;
 *   DELETE FROM t;                 -- not TRUNCATE, which commits at once
 *   <the dump's INSERT statements of t, nothing else>
 *   <count of t, and the checksum of the tuples fed, against the manifest>
 *   COMMIT;                        -- or ROLLBACK on any difference
 *
 * Only the dump's INSERT statements of the selected tables are sent, so its
 * LOCK TABLES / UNLOCK TABLES (which would commit), ALTER TABLE ... DISABLE
 * KEYS and DDL never reach the server. COMMIT is sent only once the whole
 * object hashed to its manifest's SHA-256, the dump was read to its end, and
 * every table has the manifest's row count and its fed tuples the
 * manifest's checksum (the same tuples the backup summed). Anything else
 * rolls back: nothing is half-applied.
 *
 * The tables must exist (definitions are not replayed: the table's own
 * indexes, constraints and grants stay), be InnoDB (a MyISAM table cannot be
 * rolled back) and have no triggers (they would fire for every restored
 * row). Foreign key checks are off for the transaction, as in the dump, so a
 * parent's rows can be replaced without cascading into its children.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { MysqlEngine } from "./engine";
import { CheckFailedError, UsageError } from "./errors";
import { connectMysql, explainMysqlError, parseMysqlUrl } from "./mysql";
import { downloadDump, StoredDump } from "./mysqlDumpDownload";
import type { DatabaseConnection } from "./postgres";
import type { TableComparison } from "./restore";
import type { TableSelection } from "./restoreTables";
import { BucketLocation } from "./s3";
import { addChecksums, EMPTY_CHECKSUM, insertStatements } from "./sqlDump";
import type { TableState } from "./checksums";

/** The session the dump's INSERTs expect (the dump's own header sets the same): UTC for TIMESTAMP, an explicit 0 kept in AUTO_INCREMENT columns. */
const SESSION_SQL = "SET SESSION time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0, unique_checks = 1";

export interface MysqlSelectionLabels {
  table: string;
  schema: string;
  intoSchema: string;
  dataOnly: string;
}

/** Refuses what a MySQL table restore does not do, before anything is read. */
export function checkMysqlSelection(sel: TableSelection, labels: MysqlSelectionLabels): void {
  if (sel.schemas.length > 0) {
    throw new UsageError(`${labels.schema} restores PostgreSQL schemas; a MySQL/MariaDB backup holds one database. Name its tables with ${labels.table} (database.table), or restore the whole database into a new one.`);
  }
  if (sel.intoSchema !== undefined) {
    throw new UsageError(`${labels.intoSchema} is not available for MySQL/MariaDB backups: restore the whole database into a new one (a new --target-database-url) and copy the rows you need from there.`);
  }
}

export interface MysqlTablesRun {
  s3: S3Client;
  bucket: BucketLocation;
  manifest: StoredDump & { tables: TableState[]; endedAt: string; tableChecksumMethod?: string };
  engine: MysqlEngine;
  selection: TableSelection;
  destination: DatabaseConnection;
  labels: MysqlSelectionLabels & { clean: string };
  log: (message: string) => void;
}

interface Fed {
  rows: number;
  checksum: string;
}

export async function restoreMysqlTables(run: MysqlTablesRun): Promise<{ tables: TableComparison[]; failures: string[] }> {
  const { manifest, selection: sel, log } = run;
  const dest = parseMysqlUrl(run.destination);
  if (manifest.tableChecksumMethod === undefined) throw new CheckFailedError(`${manifest.dumpKey}'s manifest records no table checksums, so a table restore could not be proved; nothing was changed`);
  const source = manifest.tables[0]?.schema;
  const byName = new Map(manifest.tables.map((t) => [t.table, t]));
  const expected: TableState[] = [];
  for (const t of sel.tables) {
    const state = byName.get(t.table);
    if (t.schema !== source && t.schema !== dest.database) {
      throw new UsageError(`${run.labels.table} ${t.schema}.${t.table}: this backup is of database "${source}"; name its tables as ${source}.<table> (or ${dest.database}.<table>, the target's name). Nothing was changed.`);
    }
    if (!state) {
      throw new UsageError(`${run.labels.table} ${t.schema}.${t.table}: not in this backup, which holds ${[...byName.keys()].sort().map((n) => `${source}.${n}`).join(", ") || "no tables"}. Check the name; nothing was changed.`);
    }
    if (!expected.includes(state)) expected.push(state);
  }

  const conn = await connectMysql(run.destination);
  try {
    await checkTargets(conn, dest.database, expected, sel.clean, run);

    const wanted = new Set(expected.map((t) => t.table));
    log(`restoring the rows of ${expected.map((t) => t.table).join(", ")} from ${manifest.dumpKey} (taken ${manifest.endedAt}) into ${dest.database}, in one transaction`);
    const fed = new Map<string, Fed>(expected.map((t) => [t.table, { rows: 0, checksum: EMPTY_CHECKSUM }]));
    const counts = new Map<string, number>();
    const dump = await downloadDump(run.s3, run.bucket, manifest);
    await conn.query(SESSION_SQL);
    await conn.beginTransaction();
    try {
      for (const t of expected) await conn.query(`DELETE FROM ${ident(t.table)}`);
      for await (const stmt of insertStatements(dump.sql, (table) => wanted.has(table))) {
        await conn.query(stmt.sql);
        const f = fed.get(stmt.table)!;
        f.rows += stmt.rows;
        f.checksum = addChecksums(f.checksum, stmt.checksum);
      }
      dump.checkDigest("the restore was rolled back, nothing changed");
      const failures: string[] = [];
      for (const t of expected) {
        const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${ident(t.table)}`);
        const n = Number(rows[0].n);
        counts.set(t.table, n);
        const f = fed.get(t.table)!;
        if (n !== t.rows) failures.push(`table ${dest.database}.${t.table} would have ${n} rows, the backup recorded ${t.rows}`);
        else if (f.rows !== t.rows || f.checksum !== t.checksum) {
          failures.push(`the dump's rows of ${t.table} (${f.rows}, checksum ${f.checksum}) are not the ones its manifest recorded (${t.rows}, checksum ${t.checksum})`);
        }
      }
      if (failures.length > 0) throw new CheckFailedError(`${failures.join("; ")}; the restore was rolled back, nothing changed`);
      await conn.commit();
    } catch (err) {
      dump.destroy();
      await conn.rollback().catch(() => undefined);
      if (err instanceof CheckFailedError || err instanceof UsageError) throw err;
      if ((err as { sqlMessage?: string }).sqlMessage !== undefined) {
        throw new CheckFailedError(`the server refused a statement of the dump (${(err as { sqlMessage: string }).sqlMessage}); the restore was rolled back, nothing changed`);
      }
      throw err;
    }
    const tables = expected.map((t): TableComparison => {
      const f = fed.get(t.table)!;
      return { ...t, restoredRows: counts.get(t.table), restoredChecksum: f.checksum, ...(dest.database !== t.schema ? { restoredAs: `${dest.database}.${t.table}` } : {}) };
    });
    return { tables, failures: [] };
  } catch (err) {
    if (err instanceof UsageError || err instanceof CheckFailedError) throw err;
    throw (err as { sqlMessage?: string }).sqlMessage !== undefined ? explainMysqlError(err, dest) : err;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

function ident(name: string): string {
  return "`" + name.replace(/`/g, "``") + "`";
}

/** Every refusal before the transaction starts: missing, not InnoDB, with triggers, holding rows without --clean. */
async function checkTargets(conn: Connection, database: string, expected: readonly TableState[], clean: boolean, run: MysqlTablesRun): Promise<void> {
  const names = expected.map((t) => t.table);
  const [tables] = await conn.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS name, TABLE_TYPE AS type, ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?)",
    [database, names],
  );
  const found = new Map(tables.map((r) => [String(r.name), { type: String(r.type), engine: r.engine === null ? "" : String(r.engine) }]));
  const [triggers] = await conn.query<RowDataPacket[]>(
    "SELECT EVENT_OBJECT_TABLE AS tbl, TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE IN (?)",
    [database, names],
  );
  for (const name of names) {
    const t = found.get(name);
    if (!t) {
      throw new UsageError(
        `Table ${database}.${name} does not exist in the database named by ${run.destination.label}: a MySQL/MariaDB table restore replaces the rows of a table that exists. Restore the whole database into a new one instead, or create the table first. Nothing was changed.`,
      );
    }
    if (t.type !== "BASE TABLE") throw new UsageError(`${database}.${name} is a ${t.type.toLowerCase()}, not a table; nothing was changed.`);
    if (t.engine.toLowerCase() !== "innodb") {
      throw new UsageError(
        `Table ${database}.${name} uses the ${t.engine || "unknown"} storage engine: a table restore replaces rows in one transaction, which only InnoDB can roll back. Convert it (ALTER TABLE ${ident(name)} ENGINE=InnoDB) or restore the whole database into a new one. Nothing was changed.`,
      );
    }
    const own = triggers.filter((r) => String(r.tbl) === name).map((r) => String(r.name));
    if (own.length > 0) {
      throw new UsageError(
        `Table ${database}.${name} has trigger(s) ${own.join(", ")}, which would fire for every row the restore deletes and inserts. Drop them for the restore (SHOW CREATE TRIGGER keeps their definitions) and recreate them after, or restore the whole database into a new one. Nothing was changed.`,
      );
    }
  }
  if (!clean) {
    for (const name of names) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT EXISTS (SELECT 1 FROM ${ident(name)}) AS r`);
      if (Number(rows[0].r) === 1) {
        throw new UsageError(`Table ${database}.${name} has rows; add ${run.labels.clean} to replace them (DELETE, in the restore's transaction) with the backup's. Nothing was changed.`);
      }
    }
  }
}
