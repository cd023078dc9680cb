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
 * KEYS and DDL never reach the server. The object is downloaded into a
 * private temporary file and must hash to its manifest's SHA-256 before the
 * transaction starts; each table's definition now (SHOW CREATE TABLE) must
 * be the dump's CREATE TABLE but for its AUTO_INCREMENT counter, as the
 * INSERTs have no column list; an INSERT the server stored with a warning (a
 * value truncated or converted: the dump's session is not strict) rolls
 * back. COMMIT is sent only once the dump was read to its end and every
 * table has the manifest's row count and its fed tuples the manifest's
 * checksum (the same tuples the backup summed). Anything else rolls back:
 * nothing is half-applied.
 *
 * The tables must exist (definitions are not replayed: the table's own
 * indexes, constraints and grants stay), be InnoDB (a MyISAM table cannot be
 * rolled back) and have no triggers (they would fire for every restored
 * row). Foreign key checks are off for the transaction, as in the dump, so a
 * parent's rows can be replaced without cascading into its children.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { Connection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { MysqlEngine } from "./engine";
import { CheckFailedError, UsageError } from "./errors";
import { connectMysql, explainMysqlError, parseMysqlUrl } from "./mysql";
import { downloadVerifiedDump, StoredDump, VerifiedDump } from "./mysqlDumpDownload";
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
    const dump = await downloadVerifiedDump(run.s3, run.bucket, manifest, "nothing was changed");
    try {
      await conn.query(SESSION_SQL);
      await checkDefinitions(conn, dest.database, expected, dump, manifest.dumpKey);
      await conn.beginTransaction();
      try {
        for (const t of expected) await conn.query(`DELETE FROM ${ident(t.table)}`);
        for await (const stmt of insertStatements(dump.sql(), (table) => wanted.has(table))) {
          const [result] = await conn.query<ResultSetHeader>(stmt.sql);
          // The session is not strict (the dump's own mode): a value the server changed on the way in is only a warning.
          if (result.warningStatus > 0) {
            const [warnings] = await conn.query<RowDataPacket[]>("SHOW WARNINGS LIMIT 3");
            const said = warnings.map((w) => `${String(w.Level)} ${String(w.Code)}: ${String(w.Message)}`).join("; ");
            throw new CheckFailedError(`the server changed values of the dump's rows of ${stmt.table} as it stored them (${result.warningStatus} warning(s): ${said}); the restore was rolled back, nothing changed`);
          }
          const f = fed.get(stmt.table)!;
          f.rows += stmt.rows;
          f.checksum = addChecksums(f.checksum, stmt.checksum);
        }
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
        await conn.rollback().catch(() => undefined);
        if (err instanceof CheckFailedError || err instanceof UsageError) throw err;
        if ((err as { sqlMessage?: string }).sqlMessage !== undefined) {
          throw new CheckFailedError(`the server refused a statement of the dump (${(err as { sqlMessage: string }).sqlMessage}); the restore was rolled back, nothing changed`);
        }
        throw err;
      }
    } finally {
      dump.remove();
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

/** `CREATE TABLE ... ;` as SHOW CREATE TABLE prints it, without its AUTO_INCREMENT counter, which moves with every insert. */
function normaliseDefinition(sql: string): string {
  return sql
    .replace(/\s+AUTO_INCREMENT=\d+/g, "")
    .replace(/;\s*$/, "")
    .trim();
}

/**
 * The dump's CREATE TABLE of each table, from the verified file: mysqldump
 * writes it as SHOW CREATE TABLE printed it, starting a line with
 * "CREATE TABLE `name` (" and ending with the line that starts with ")" and
 * ends with ";" (column lines are indented, and no raw newline is ever
 * inside a dumped value).
 */
async function dumpedDefinitions(dump: VerifiedDump, names: readonly string[]): Promise<Map<string, string>> {
  const heads = new Map(names.map((n) => [`CREATE TABLE ${ident(n)} (`, n]));
  const found = new Map<string, string>();
  let rest = "";
  let current: { name: string; lines: string[] } | undefined;
  const line = (text: string): void => {
    if (current) {
      current.lines.push(text);
      if (text.startsWith(")") && text.trimEnd().endsWith(";")) {
        found.set(current.name, current.lines.join("\n"));
        current = undefined;
      }
      return;
    }
    const name = heads.get(text);
    if (name !== undefined && !found.has(name)) current = { name, lines: [text] };
  };
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of dump.sql()) {
    const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) line(l);
    if (found.size === names.length) break;
  }
  return found;
}

/**
 * Refuses, before the transaction, a table whose definition is not the
 * backup's: the dump's INSERTs have no column list and the session is not
 * strict, so a column added, dropped, reordered or narrowed since the backup
 * would take the wrong values, or truncated ones, without an error.
 */
async function checkDefinitions(conn: Connection, database: string, expected: readonly TableState[], dump: VerifiedDump, dumpKey: string): Promise<void> {
  const names = expected.map((t) => t.table);
  const dumped = await dumpedDefinitions(dump, names);
  for (const name of names) {
    const theirs = dumped.get(name);
    if (theirs === undefined) throw new CheckFailedError(`${dumpKey} has no CREATE TABLE ${ident(name)} to compare the live table with; nothing was changed`);
    const [rows] = await conn.query<RowDataPacket[]>(`SHOW CREATE TABLE ${ident(name)}`);
    const live = normaliseDefinition(String(rows[0]?.["Create Table"] ?? ""));
    const backup = normaliseDefinition(theirs);
    if (live === backup) continue;
    const liveLines = live.split("\n");
    const backupLines = backup.split("\n");
    const at = liveLines.findIndex((l, i) => l !== backupLines[i]);
    const i = at < 0 ? liveLines.length : at;
    throw new UsageError(
      `Table ${database}.${name} is not defined as it was in the backup (line ${i + 1} of SHOW CREATE TABLE: now ${JSON.stringify(liveLines[i]?.trim() ?? "(nothing)")}, in the backup ${JSON.stringify(backupLines[i]?.trim() ?? "(nothing)")}): the dump's rows would go into changed columns, truncated or misplaced. Make the table's definition the backup's again (its CREATE TABLE is in ${dumpKey}), or restore the whole database into a new one and copy the rows from there. Nothing was changed.`,
    );
  }
}
