/**
 * PostgreSQL side of backup and restore: parsing the connection URL, running
 * the client tools (pg_dump, pg_restore) without putting the password on a
 * command line, and the SQL that takes row counts in the dump's own snapshot.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Client } from "pg";
import { UsageError, errorMessage } from "./errors";

/** A database connection as configured, with the setting it came from for error messages. */
export interface DatabaseConnection {
  url: string;
  /** e.g. "--database-url / DATABASE_URL". */
  label: string;
}

export interface ParsedDatabaseUrl {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  /** The URL without its password: safe for argv and logs. */
  redacted: string;
}

export function parseDatabaseUrl(conn: DatabaseConnection): ParsedDatabaseUrl {
  let u: URL;
  try {
    u = new URL(conn.url);
  } catch {
    throw new UsageError(`${conn.label} is not a URL; expected postgres://user:password@host:5432/database.`);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new UsageError(`${conn.label} must start with postgres:// (got ${u.protocol}//).`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database) throw new UsageError(`${conn.label} names no database; expected postgres://user:password@host:5432/database.`);
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  const redacted = new URL(u.toString());
  redacted.password = "";
  return {
    host: u.hostname || "localhost",
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || "postgres",
    password,
    database,
    redacted: redacted.toString(),
  };
}

/** Environment for pg_dump/pg_restore: the password travels in PGPASSWORD, never in argv. */
export function pgToolEnv(db: ParsedDatabaseUrl): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (db.password !== undefined) env.PGPASSWORD = db.password;
  else delete env.PGPASSWORD;
  return env;
}

/** Opens a client, turning the usual failures into sentences that say which setting to fix. */
export async function connect(conn: DatabaseConnection): Promise<Client> {
  const db = parseDatabaseUrl(conn);
  const client = new Client({ connectionString: conn.url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {
    // An idle client losing its server surfaces on the next query; don't crash the process here.
  });
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw explainPgError(err, db, conn.label);
  }
}

export function explainPgError(err: unknown, db: ParsedDatabaseUrl, label: string): Error {
  const code = (err as { code?: string }).code;
  const msg = errorMessage(err);
  const where = `${db.host}:${db.port}`;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ETIMEDOUT" || /timeout/i.test(msg)) {
    return new UsageError(`Cannot reach PostgreSQL at ${where} (${code ?? msg}). Check the host and port in ${label} and that the server accepts connections.`);
  }
  if (code === "28000" && /no encryption/.test(msg)) {
    return new UsageError(`PostgreSQL at ${where} requires an encrypted connection for user "${db.user}" (${msg}). Add sslmode=verify-full&sslrootcert=<CA bundle> (or at least sslmode=require) to ${label}.`);
  }
  if (/certificate|self[- ]signed|unable to verify|UNABLE_TO_VERIFY|ERR_TLS_CERT/i.test(msg) || /CERT|UNABLE_TO_GET_ISSUER/.test(code ?? "")) {
    return new UsageError(`The TLS certificate of PostgreSQL at ${where} could not be verified (${msg}). Check that sslrootcert in ${label} names the CA bundle that signed the server's certificate (on RDS, Amazon's global bundle) and that the host name is the server's.`);
  }
  if (code === "28P01" || code === "28000") {
    return new UsageError(`PostgreSQL at ${where} rejected user "${db.user}" (${msg}). Check the user and password in ${label}.`);
  }
  if (code === "3D000") {
    return new UsageError(`Database "${db.database}" does not exist on ${where}. Check the database name in ${label}.`);
  }
  return new Error(`PostgreSQL at ${where}: ${msg}`);
}

/** Resolves a client tool from PG_BIN_DIR (if set) or PATH, and reports its major version. */
export function pgTool(name: "pg_dump" | "pg_restore" | "psql", binDir?: string): { path: string; version: string; major: number } {
  const candidates = binDir ? [join(binDir, name)] : [...(process.env.PATH ?? "").split(":").filter(Boolean).map((d) => join(d, name))];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new UsageError(`${name} not found ${binDir ? `in ${binDir}` : "on PATH"}. Install the PostgreSQL client tools (Debian: postgresql-client-15) or set --pg-bin-dir / PG_BIN_DIR.`);
  }
  const res = spawnSync(path, ["--version"], { encoding: "utf8" });
  const m = /(\d+)(?:\.(\d+))?/.exec(res.stdout ?? "");
  if (res.status !== 0 || !m) throw new UsageError(`${path} --version failed: ${res.stderr || res.error?.message}`);
  return { path, version: res.stdout.trim(), major: Number(m[1]) };
}

/** One table's row count, as recorded in the manifest and checked after restore. */
export interface TableCount {
  schema: string;
  table: string;
  rows: number;
}

/** Ordinary tables pg_dump writes data for (not system or extension-owned tables). */
export const USER_TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS table
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
   ORDER BY 1, 2`;

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Exact row counts of every user table, in whatever snapshot the client's transaction holds. */
export async function countRows(client: Client): Promise<TableCount[]> {
  const tables = await client.query<{ schema: string; table: string }>(USER_TABLES_SQL);
  const counts: TableCount[] = [];
  for (const { schema, table } of tables.rows) {
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${quoteIdent(schema)}.${quoteIdent(table)}`);
    counts.push({ schema, table, rows: Number(r.rows[0].n) });
  }
  return counts;
}

export async function serverVersion(client: Client): Promise<{ version: string; major: number }> {
  const r = await client.query<{ v: string; n: string }>("SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n");
  return { version: r.rows[0].v, major: Math.floor(Number(r.rows[0].n) / 10000) };
}
