/**
 * The drill's scratch database on a server of the backup's engine: created
 * under a name of the drill's own, reached by the same URL with that name as
 * its database, and dropped afterwards; and the smoke query run on it
 * read-only. PostgreSQL through pg, MySQL/MariaDB through mysql2.
 */
import type { RowDataPacket } from "mysql2/promise";
import type { DrillCheck } from "./drill";
import { BackupEngine, ENGINE_LABELS, engineOfUrl, isMysqlEngine } from "./engine";
import { UsageError, errorMessage } from "./errors";
import { connectMysql, explainMysqlError, parseMysqlUrl } from "./mysql";
import { DatabaseConnection, connect, explainPgError, parseDatabaseUrl } from "./postgres";
import { quoteIdent } from "./checksums";
import { truthy } from "./drill";

export interface ScratchDatabases {
  /** host:port or the socket, for messages. */
  where: string;
  create(name: string): Promise<void>;
  drop(name: string): Promise<void>;
  end(): Promise<void>;
}

function mysqlIdent(name: string): string {
  return "`" + name.replace(/`/g, "``") + "`";
}

/** Refuses a scratch server of another engine than the backup's, naming the setting. */
export function checkScratchEngine(engine: BackupEngine, server: DatabaseConnection): void {
  const given = engineOfUrl(server.url, server.label);
  if (given !== engine) {
    throw new UsageError(
      `The backup to drill is ${ENGINE_LABELS[engine]}'s, but ${server.label} names a ${ENGINE_LABELS[given]} server (${given}://). Name a ${ENGINE_LABELS[engine]} server (${engine}://user:password@host/...), or leave it unset for a throwaway server of the backup's engine.`,
    );
  }
}

/** A malformed scratch server URL is refused before anything is read. */
export function checkScratchUrl(server: DatabaseConnection): void {
  if (isMysqlEngine(engineOfUrl(server.url, server.label))) parseMysqlUrl(server);
  else parseDatabaseUrl(server);
}

export async function scratchDatabases(engine: BackupEngine, server: DatabaseConnection): Promise<ScratchDatabases> {
  if (isMysqlEngine(engine)) {
    const parsed = parseMysqlUrl(server);
    const where = parsed.socketPath ?? `${parsed.host}:${parsed.port}`;
    const admin = await connectMysql(server, { database: null });
    return {
      where,
      create: async (name) => {
        await admin.query(`CREATE DATABASE ${mysqlIdent(name)} CHARACTER SET utf8mb4`).catch((err: unknown) => {
          throw new UsageError(`Could not create the scratch database ${name} on ${where} named by ${server.label} (${errorMessage(err)}). The user needs CREATE and DROP.`);
        });
      },
      drop: async (name) => {
        await admin.query(`DROP DATABASE IF EXISTS ${mysqlIdent(name)}`);
      },
      end: () => admin.end().catch(() => undefined),
    };
  }
  const parsed = parseDatabaseUrl(server);
  const where = `${parsed.host}:${parsed.port}`;
  const admin = await connect(server);
  return {
    where,
    create: async (name) => {
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`).catch((err: unknown) => {
        throw new UsageError(`Could not create the scratch database ${name} on ${where} named by ${server.label} (${errorMessage(err)}). The user needs CREATEDB.`);
      });
    },
    drop: async (name) => {
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    },
    end: () => admin.end().catch(() => undefined),
  };
}

/** The server's URL with the scratch database as its database (query parameters such as the socket kept). */
export function scratchDatabaseUrl(server: DatabaseConnection, name: string): string {
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function smokeQuery(engine: BackupEngine, destination: DatabaseConnection, sql: string): Promise<DrillCheck> {
  if (!isMysqlEngine(engine)) {
    const client = await connect(destination);
    try {
      await client.query("BEGIN READ ONLY");
      const res = await client.query({ text: sql, rowMode: "array" });
      const value: unknown = (res.rows[0] as unknown[] | undefined)?.[0];
      return { name: "smoke query", ok: truthy(value), detail: `${sql} -> ${res.rows.length === 0 ? "no rows" : JSON.stringify(value)}` };
    } catch (err) {
      return { name: "smoke query", ok: false, detail: `${sql} failed: ${errorMessage(explainPgError(err, parseDatabaseUrl(destination), destination.label))}` };
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const refused = mysqlSmokeQueryProblem(sql);
  if (refused !== undefined) {
    return { name: "smoke query", ok: false, detail: `${sql} refused, not sent: ${refused}. Give --smoke-query / DRILL_SMOKE_QUERIES one SELECT (or WITH ... SELECT) statement.` };
  }
  const conn = await connectMysql(destination);
  try {
    // Against DML in the functions it calls; DDL would commit it at once, which is why only a SELECT is sent.
    await conn.query("START TRANSACTION READ ONLY");
    const [rows] = await conn.query<RowDataPacket[]>({ sql, rowsAsArray: true });
    const first = (rows as unknown as unknown[][])[0];
    const value: unknown = first?.[0];
    return { name: "smoke query", ok: truthy(value), detail: `${sql} -> ${first === undefined ? "no rows" : JSON.stringify(value)}` };
  } catch (err) {
    return { name: "smoke query", ok: false, detail: `${sql} failed: ${errorMessage((err as { sqlMessage?: string }).sqlMessage !== undefined ? explainMysqlError(err, parseMysqlUrl(destination)) : err)}` };
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/**
 * Why a MySQL/MariaDB smoke query is not sent, or undefined for one SELECT
 * (or WITH) statement. START TRANSACTION READ ONLY does not hold back DDL
 * there (a CREATE or DROP commits the transaction first), so nothing but a
 * query is accepted: no second statement, no conditional comment (the server
 * runs its text), no INTO OUTFILE / DUMPFILE / a variable.
 */
export function mysqlSmokeQueryProblem(sql: string): string | undefined {
  // The text outside quotes and comments; a string or quoted name becomes a placeholder.
  let bare = "";
  for (let i = 0; i < sql.length; ) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`") {
      let j = i + 1;
      for (; j < sql.length; j++) {
        if (sql[j] === "\\" && c !== "`") j++;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j++;
          else break;
        }
      }
      if (j >= sql.length) return "it has an unterminated quote";
      bare += c === "`" ? " q " : " 's' ";
      i = j + 1;
    } else if (sql.startsWith("/*", i)) {
      if (sql[i + 2] === "!" || (sql[i + 2] === "M" && sql[i + 3] === "!")) return "it has a conditional comment (/*! ... */), which the server runs";
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) return "it has an unterminated comment";
      bare += " ";
      i = end + 2;
    } else if (c === "#" || (sql.startsWith("--", i) && /\s/.test(sql[i + 2] ?? " "))) {
      const end = sql.indexOf("\n", i);
      bare += " ";
      i = end < 0 ? sql.length : end + 1;
    } else {
      bare += c;
      i++;
    }
  }
  const text = bare.trim().replace(/;\s*$/, "");
  if (text.includes(";")) return "it is more than one statement";
  if (!/^\(*\s*(SELECT|WITH)\b/i.test(text)) return `it is not a SELECT (it starts with ${JSON.stringify(text.split(/\s+/)[0] ?? "")})`;
  if (/\bINTO\b/i.test(text)) return "it selects INTO a file or variable";
  return undefined;
}
