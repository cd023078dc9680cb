/**
 * MySQL's and MariaDB's part of a backup run: mysqldump / mariadb-dump of
 * one database in one consistent snapshot (`--single-transaction`, InnoDB),
 * with its routines, triggers and events, gzipped on the way to the upload
 * (parallelGzip.ts: on several cores) while sqlDump.ts reads the plain SQL
 * for each table's rows and checksum.
 *
 * The dump has no CREATE DATABASE, so it restores into any database name. It
 * keeps mysqldump's LOCK TABLES and DISABLE KEYS around each table's rows
 * (a faster load into an empty database); the table restore skips them.
 * Binary values are written as hex (`--hex-blob`), so the SQL is valid
 * UTF-8 and a table's checksum does not depend on how bytes are escaped.
 *
 * The binary log position is read just before the dump starts and just after
 * it ends, bracketing the snapshot: mysqldump's exact position
 * (`--source-data`) takes FLUSH TABLES WITH READ LOCK, which RDS for MySQL
 * does not allow. (mariadb-dump's `--master-data --single-transaction` takes
 * no global lock and could record the exact position; not used yet, so both
 * engines record the same bracket.)
 */
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { ENGINE_LABELS, MysqlEngine } from "./engine";
import { CheckFailedError, NotWriterError, UsageError, errorMessage } from "./errors";
import type { EngineSession, RunningDump } from "./engineDump";
import { BinlogPosition, MYSQL_DUMP_FORMAT, MYSQL_VERIFICATION_METHOD } from "./manifest";
import { checkDumpTool, checkServerFlavour, connectMysql, createDefaultsFile, MYSQL_TOOLS, MysqlFlavour, MysqlServerInfo, mysqlTool, mysqlToolArgs, parseMysqlUrl, serverInfo } from "./mysql";
import { parallelGzip } from "./parallelGzip";
import type { DatabaseConnection } from "./postgres";
import { DUMP_BUFFER_BYTES } from "./postgresBackup";
import { dumpedTableStates, MYSQL_TABLE_CHECKSUM_METHOD, SqlDumpReader, SqlDumpSummary } from "./sqlDump";

/** gzip level when --compress / BACKUP_COMPRESS_LEVEL is unset: fast, since the dump tool is the slower end. */
export const DEFAULT_GZIP_LEVEL = 1;

export interface MysqlSessionOptions {
  source: DatabaseConnection;
  /** Directory holding mysqldump / mariadb-dump; PATH when unset. */
  mysqlBinDir?: string;
  /** gzip level 0-9; DEFAULT_GZIP_LEVEL when unset. */
  compressLevel?: number;
  /** Bound on every query: the run's time left. */
  queryMs: number;
}

/** The dump's options beside the connection's (documented in this file's header). */
export function mysqlDumpArgs(flavour: MysqlFlavour, database: string): string[] {
  return [
    "--single-transaction",
    "--quick",
    "--routines",
    "--triggers",
    "--events",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    // Tablespaces are not the database's, and listing them needs the PROCESS privilege.
    "--no-tablespaces",
    "--skip-dump-date",
    // A restore into a server with GTIDs of its own must not try to overwrite its gtid_purged.
    ...(flavour === "mysql" ? ["--set-gtid-purged=OFF"] : []),
    database,
  ];
}

/** Tables mysqldump writes rows for: InnoDB/MyISAM base tables and MariaDB's system-versioned ones (not views, not sequences). */
export const BASE_TABLES_SQL = "SELECT TABLE_NAME AS t, ENGINE AS e FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME";

/** Storage engines whose tables `--single-transaction` reads in its snapshot. */
const TRANSACTIONAL_ENGINES = new Set(["INNODB"]);

export interface BaseTable {
  table: string;
  storageEngine: string;
}

/** The base tables whose rows the dump's snapshot does not cover, by table. */
export function nonTransactional(tables: readonly BaseTable[]): BaseTable[] {
  return tables.filter((t) => !TRANSACTIONAL_ENGINES.has(t.storageEngine.toUpperCase()));
}

/**
 * The tables the manifest lists: the base tables when the dump started and
 * any the dump created that are base tables now (created between the listing
 * and the dump's snapshot), so every table the dump holds has its counts.
 */
export function manifestTables(listed: readonly string[], created: readonly string[], baseNow: readonly string[]): string[] {
  const now = new Set(baseNow);
  const extra = created.filter((t) => !listed.includes(t) && now.has(t));
  return [...listed, ...extra];
}

function isOn(value: unknown): boolean {
  // MariaDB 11 made read_only an enum (OFF, ON, NO_LOCK, NO_LOCK_NO_ADMIN); MySQL's is 0/1.
  const v = String(value ?? "").toUpperCase();
  return v === "1" || v === "ON" || v.startsWith("NO_LOCK");
}

function isAccessDenied(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "ER_SPECIFIC_ACCESS_DENIED_ERROR" || code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR";
}

function isSyntaxError(err: unknown): boolean {
  return (err as { code?: string }).code === "ER_PARSE_ERROR";
}

export async function openMysqlSession(opts: MysqlSessionOptions): Promise<EngineSession> {
  const db = parseMysqlUrl(opts.source);
  const engine: MysqlEngine = db.engine;
  const tool = mysqlTool(MYSQL_TOOLS[engine].dump, opts.mysqlBinDir);
  const client = await connectMysql(opts.source);
  let server: MysqlServerInfo;
  try {
    server = await serverInfo(client);
    // The scheme is the engine the backup is recorded, restored and drilled as: it must be the server's.
    checkServerFlavour(server, engine, db.label);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  const q = async (sql: string, values: unknown[] = []): Promise<RowDataPacket[]> => {
    const [rows] = await client.query<RowDataPacket[]>({ sql, values, timeout: opts.queryMs });
    return rows;
  };

  return {
    engine,
    database: db.database,
    tool: tool.name,
    async refuseReplica() {
      const flags = await q(engine === "mysql" ? "SELECT @@global.read_only AS ro, @@global.super_read_only AS sro" : "SELECT @@global.read_only AS ro");
      if (isOn(flags[0]?.ro) || isOn(flags[0]?.sro)) {
        throw new NotWriterError(`its database is read-only (@@read_only${engine === "mysql" ? "/@@super_read_only" : ""} is on, as on an RDS read replica); only the writer's backups are published`);
      }
      await refuseReplicationSource(client, engine, opts.queryMs, `user "${db.user}" of ${db.label}`);
    },
    async checkTool() {
      checkDumpTool(tool, server, engine, db.label);
      // Refuses now, before anything runs, an sslmode the dump tool cannot enforce (MariaDB's: require, verify-ca).
      mysqlToolArgs(db, tool.flavour);
      // Fails now, before anything is written, if the user may not read the binary log position.
      await binlogPosition(client, engine, opts.queryMs).catch((err: unknown) => {
        if (!isAccessDenied(err)) throw err;
        throw new UsageError(
          `${ENGINE_LABELS[engine]} refused to show user "${db.user}" the binary log position (${errorMessage(err)}), which the manifest records for point-in-time recovery. GRANT ${engine === "mysql" ? "REPLICATION CLIENT" : "BINLOG MONITOR"} ON *.* TO the user of ${db.label}.`,
        );
      });
    },
    async startDump(log) {
      const serverVersion = server.version;
      const listed: BaseTable[] = (await q(BASE_TABLES_SQL, [db.database])).map((r) => ({ table: String(r.t), storageEngine: String(r.e ?? "") }));
      const baseTables = listed.map((t) => t.table);
      const unsnapshotted = nonTransactional(listed);
      if (unsnapshotted.length > 0) {
        log(
          `WARNING: ${unsnapshotted.map((t) => `${db.database}.${t.table} (${t.storageEngine})`).join(", ")} ${unsnapshotted.length === 1 ? "is" : "are"} not transactional: --single-transaction does not snapshot ${unsnapshotted.length === 1 ? "it" : "them"}, so ${unsnapshotted.length === 1 ? "its" : "their"} rows may be from another moment than the InnoDB tables'; the manifest lists ${unsnapshotted.length === 1 ? "it" : "them"} (ALTER TABLE ... ENGINE=InnoDB makes ${unsnapshotted.length === 1 ? "it" : "them"} consistent)`,
        );
      }
      const before = await binlogPosition(client, engine, opts.queryMs);
      const defaults = createDefaultsFile(db);
      const args = [...mysqlToolArgs(db, tool.flavour, defaults.file), ...mysqlDumpArgs(tool.flavour, db.database)];
      const child = spawn(tool.path, args, { stdio: ["ignore", "pipe", "pipe"] });
      // Read from this tick on, as for pg_dump: Node discards an unread child's stdout at its exit.
      const plain = child.stdout.pipe(new PassThrough({ highWaterMark: DUMP_BUFFER_BYTES }));
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (s: string) => {
        stderr = (stderr + s).slice(-4000);
      });
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on("close", (code, signal) => resolve({ code, signal }));
        child.on("error", (err) => {
          stderr += errorMessage(err);
          resolve({ code: -1, signal: null });
        });
      });
      void exit.then(() => defaults.remove());
      log(`${tool.display} of ${db.database} started (pid ${child.pid}), ${baseTables.length} base tables`);

      const reader = new SqlDumpReader();
      let summary: SqlDumpSummary | undefined;
      let unreadable: unknown;
      let plainBytes = 0;
      /** The plain SQL, read by the dump reader on its way to gzip. */
      async function* read(): AsyncGenerator<Buffer> {
        for await (const chunk of plain as AsyncIterable<Buffer>) {
          plainBytes += chunk.length;
          try {
            reader.write(chunk);
          } catch (err) {
            // Output that is not a dump: stop the tool, fail the upload.
            unreadable = err;
            child.kill("SIGKILL");
            throw err;
          }
          yield chunk;
        }
        try {
          summary = reader.end();
        } catch (err) {
          // Reported in finish, after the tool's exit code (a killed tool also leaves a cut-off dump).
          unreadable = err;
        }
      }
      const output = parallelGzip(read(), { level: opts.compressLevel ?? DEFAULT_GZIP_LEVEL });

      const running: RunningDump = {
        pid: child.pid,
        output,
        async finish() {
          const { code, signal } = await exit;
          if (code !== 0) throw new CheckFailedError(`${tool.name} failed (${signal ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim() || "no message"}`);
          if (unreadable !== undefined || !summary) {
            throw new CheckFailedError(`${errorMessage(unreadable ?? "the dump was not read to its end")} (${tool.name} exited 0 after ${plainBytes} bytes${stderr.trim() ? `; it said: ${stderr.trim()}` : ""})`);
          }
          if (!summary.completed) throw new CheckFailedError(`${tool.name} exited 0 but its output does not end with "-- Dump completed" (${plainBytes} bytes): it was cut off`);
          const dumped = new Set(summary.createdTables);
          const missing = baseTables.filter((t) => !dumped.has(t));
          if (missing.length > 0) throw new CheckFailedError(`the dump creates no table ${missing.map((t) => `${db.database}.${t}`).join(", ")} (base tables of the database when the dump started)`);
          const after = await binlogPosition(client, engine, opts.queryMs);
          const createdSince = summary.createdTables.filter((t) => !baseTables.includes(t));
          const baseNow = createdSince.length > 0 ? (await q(BASE_TABLES_SQL, [db.database])).map((r) => String(r.t)) : baseTables;
          return {
            tables: dumpedTableStates(summary, db.database, manifestTables(baseTables, summary.createdTables, baseNow)),
            tableChecksumMethod: MYSQL_TABLE_CHECKSUM_METHOD,
            fields: {
              engine,
              serverVersion,
              dumpFormat: MYSQL_DUMP_FORMAT,
              dumpToolVersion: tool.display,
              ...(unsnapshotted.length > 0 ? { nonTransactionalTables: unsnapshotted } : {}),
              ...(before || after ? { binlog: { ...(before ? { before } : {}), ...(after ? { after } : {}) } } : {}),
              objects: { views: summary.views, routines: summary.routines, triggers: summary.triggers, events: summary.events },
              verification: { method: MYSQL_VERIFICATION_METHOD, statements: summary.statements, tables: summary.createdTables.length },
            },
          };
        },
        kill() {
          // Its output then ends, and finish reports the signal.
          child.kill("SIGKILL");
        },
        async release() {
          // mysqldump's transaction was its own connection's, ended when it exited.
        },
      };
      return running;
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}

/** The grant that lets a user read the replication status (MariaDB 10.5.9 split SLAVE MONITOR from REPLICATION CLIENT). */
export const REPLICATION_STATUS_GRANT: Readonly<Record<MysqlEngine, string>> = { mysql: "REPLICATION CLIENT", mariadb: "SLAVE MONITOR" };

/**
 * Refuses a server that replicates from another. A replica whose read_only
 * was turned off (RDS lets a user do so) passes the read_only check, so a
 * status the user may not read is a refusal too, never a pass.
 */
export async function refuseReplicationSource(client: Connection, engine: MysqlEngine, timeout: number, who: string): Promise<void> {
  const sources = await replicationSources(client, engine, timeout).catch((err: unknown) => {
    if (!isAccessDenied(err)) throw err;
    throw new UsageError(
      `${ENGINE_LABELS[engine]} refused to show ${who} its replication status (${errorMessage(err)}), so the backup cannot tell a writer from a replica whose read_only was turned off. GRANT ${REPLICATION_STATUS_GRANT[engine]} ON *.* TO that user.`,
    );
  });
  if (sources.length > 0) {
    throw new NotWriterError(`its database replicates from another server (${engine === "mysql" ? "SHOW REPLICA STATUS" : "SHOW ALL SLAVES STATUS"} lists a source); only the writer's backups are published`);
  }
}

/** The sources this server replicates from: one row per replication channel / connection. */
export async function replicationSources(client: Connection, engine: MysqlEngine, timeout: number): Promise<RowDataPacket[]> {
  if (engine === "mariadb") return (await client.query<RowDataPacket[]>({ sql: "SHOW ALL SLAVES STATUS", timeout }))[0];
  try {
    return (await client.query<RowDataPacket[]>({ sql: "SHOW REPLICA STATUS", timeout }))[0];
  } catch (err) {
    // MySQL before 8.0.22 knows only the old name.
    if (!isSyntaxError(err)) throw err;
    return (await client.query<RowDataPacket[]>({ sql: "SHOW SLAVE STATUS", timeout }))[0];
  }
}

/** The binary log's current file and position with the GTID set, or undefined when binary logging is off. */
export async function binlogPosition(client: Connection, engine: MysqlEngine, timeout: number): Promise<BinlogPosition | undefined> {
  const [on] = (await client.query<RowDataPacket[]>({ sql: "SELECT @@global.log_bin AS on_", timeout }))[0];
  if (!isOn(on?.on_)) return undefined;
  let rows: RowDataPacket[];
  if (engine === "mariadb") {
    rows = (await client.query<RowDataPacket[]>({ sql: "SHOW MASTER STATUS", timeout }))[0];
  } else {
    try {
      // MySQL 8.4 removed SHOW MASTER STATUS; 8.2 added this name.
      rows = (await client.query<RowDataPacket[]>({ sql: "SHOW BINARY LOG STATUS", timeout }))[0];
    } catch (err) {
      if (!isSyntaxError(err)) throw err;
      rows = (await client.query<RowDataPacket[]>({ sql: "SHOW MASTER STATUS", timeout }))[0];
    }
  }
  if (rows.length === 0) return undefined;
  const gtidRows = (await client.query<RowDataPacket[]>({ sql: engine === "mysql" ? "SELECT @@global.gtid_executed AS g" : "SELECT @@global.gtid_binlog_pos AS g", timeout }))[0];
  const gtid = String(gtidRows[0]?.g ?? "").replace(/\s+/g, "");
  return { file: String(rows[0].File), position: Number(rows[0].Position), ...(gtid ? { gtid } : {}) };
}
