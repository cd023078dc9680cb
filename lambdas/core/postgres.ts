/**
 * PostgreSQL side of backup and restore: parsing the connection URL, running
 * the client tools (pg_dump, pg_restore) without putting the password on a
 * command line, and the SQL that takes row counts in the dump's own snapshot.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
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
  /** A host name or address, or a unix socket directory (starting with "/"). */
  host: string;
  port: number;
  user: string;
  /** The password libpq would use: the URL's, else PGPASSWORD, else the matching PGPASSFILE (~/.pgpass) line. */
  password?: string;
  /** Where the password came from, for error messages. */
  passwordSource: PasswordSource;
  database: string;
  /** The URL without its password: safe for argv and logs. */
  redacted: string;
  /** The URL with the resolved password, for the in-process client only (never argv or logs). */
  withPassword: string;
}

export type PasswordSource = "the URL" | "PGPASSWORD" | "PGPASSFILE" | "none";

/** Where libpq looks for a password file: PGPASSFILE, else ~/.pgpass. */
export function passFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PGPASSFILE || join(env.HOME || homedir(), ".pgpass");
}

/** libpq's password file: `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape; first match wins. */
export function passFileLookup(file: string, host: string, port: number, database: string, user: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim() || line.startsWith("#")) continue;
    const fields: string[] = [];
    let current = "";
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (ch === "\\" && i + 1 < line.length) current += line[++i];
      else if (ch === ":" && fields.length < 4) {
        fields.push(current);
        current = "";
      } else current += ch;
    }
    fields.push(current);
    if (fields.length !== 5) continue;
    const [h, p, d, u, password] = fields;
    const matches = (pattern: string, value: string) => pattern === "*" || pattern === value;
    // libpq treats a socket connection as host "localhost" when matching.
    if (matches(h, host) && matches(p, String(port)) && matches(d, database) && matches(u, user)) return password;
  }
  return undefined;
}

/**
 * Parses the URL and resolves its password the way libpq does, so the
 * preflight client and pg_dump/pg_restore always use the same one.
 */
export function parseDatabaseUrl(conn: DatabaseConnection, env: NodeJS.ProcessEnv = process.env): ParsedDatabaseUrl {
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
  // A `host` or `port` query parameter wins over the URL's own, as in libpq and node-postgres:
  // `postgres://user@localhost/db?host=/run/dir` connects over the unix socket in /run/dir.
  const hostParam = u.searchParams.get("host");
  const portParam = u.searchParams.get("port");
  if (portParam !== null && !/^[1-9]\d{0,4}$/.test(portParam)) throw new UsageError(`${conn.label}: the port parameter "${portParam}" is not a port number.`);
  const host = hostParam || u.hostname || "localhost";
  const port = portParam ? Number(portParam) : u.port ? Number(u.port) : 5432;
  const user = decodeURIComponent(u.username) || env.PGUSER || "postgres";
  let password: string | undefined;
  let passwordSource: PasswordSource = "none";
  if (u.password) {
    password = decodeURIComponent(u.password);
    passwordSource = "the URL";
  } else if (env.PGPASSWORD) {
    password = env.PGPASSWORD;
    passwordSource = "PGPASSWORD";
  } else {
    password = passFileLookup(passFilePath(env), host, port, database, user);
    if (password !== undefined) passwordSource = "PGPASSFILE";
  }
  const redacted = new URL(u.toString());
  redacted.password = "";
  const withPassword = new URL(u.toString());
  if (password !== undefined) {
    if (!withPassword.username) withPassword.username = encodeURIComponent(user);
    withPassword.password = encodeURIComponent(password);
  }
  return { host, port, user, password, passwordSource, database, redacted: redacted.toString(), withPassword: withPassword.toString() };
}

/** Seconds libpq waits for a connection (PGCONNECT_TIMEOUT) in pg_dump/pg_restore, like the in-process client. */
export const CONNECT_TIMEOUT_SECONDS = 10;

/** Environment for pg_dump/pg_restore: the resolved password travels in PGPASSWORD, never in argv. */
export function pgToolEnv(db: ParsedDatabaseUrl): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (db.password !== undefined) env.PGPASSWORD = db.password;
  else delete env.PGPASSWORD;
  env.PGCONNECT_TIMEOUT ??= String(CONNECT_TIMEOUT_SECONDS);
  return env;
}

/** Opens a client, turning the usual failures into sentences that say which setting to fix. */
export async function connect(conn: DatabaseConnection, timeouts: { queryMs?: number } = {}): Promise<Client> {
  const db = parseDatabaseUrl(conn);
  // Every query is bounded too: a server that stops answering mid-run must not hang the run.
  const client = new Client({ connectionString: db.withPassword, connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000, query_timeout: timeouts.queryMs, keepAlive: true });
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
  if (db.password === undefined && /client password must be a string|password authentication failed|no password (was )?supplied/i.test(msg)) {
    return new UsageError(
      `PostgreSQL at ${where} asks user "${db.user}" for a password and none was given. Put it in ${label} (postgres://${db.user}:<password>@${where}/${db.database}), export PGPASSWORD, or add a line ${db.host}:${db.port}:${db.database}:${db.user}:<password> to the password file (PGPASSFILE, default ~/.pgpass).`,
    );
  }
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
    const from = db.passwordSource === "the URL" || db.passwordSource === "none" ? label : `${db.passwordSource} (${label} has none)`;
    return new UsageError(`PostgreSQL at ${where} rejected user "${db.user}" (${msg}). Check the user and password in ${from}.`);
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
