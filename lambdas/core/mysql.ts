/**
 * MySQL and MariaDB side of backup and restore: the connection URL (with
 * PostgreSQL's sslmode names, so one URL shape serves every engine), the
 * options of the in-process client (mysql2) and of the client tools
 * (mysqldump / mariadb-dump, mysql / mariadb), the password handed to the
 * tools in a private option file instead of argv, and which server and tool
 * flavour is on each end.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createConnection, type Connection, type ConnectionOptions, type SslOptions } from "mysql2/promise";
import { engineOfUrl, MysqlEngine } from "./engine";
import { UsageError, errorMessage } from "./errors";
import type { DatabaseConnection } from "./postgres";

export const MYSQL_DEFAULT_PORT = 3306;
/** Seconds the in-process client waits for a connection. */
export const MYSQL_CONNECT_TIMEOUT_SECONDS = 10;

/**
 * libpq's names for every engine. `preferred` is what an absent sslmode
 * means: TLS without verification when the server offers it, like libpq's
 * `prefer`.
 */
export const MYSQL_SSL_MODES = ["disable", "preferred", "require", "verify-ca", "verify-full"] as const;
export type MysqlSslMode = (typeof MYSQL_SSL_MODES)[number];

export interface MysqlTls {
  mode: MysqlSslMode;
  /** sslrootcert: the CA bundle file, required by verify-ca and verify-full. */
  caFile?: string;
}

export interface ParsedMysqlUrl {
  engine: MysqlEngine;
  /** Host name or address; ignored when `socketPath` is set. */
  host: string;
  port: number;
  /** `?socket=/path/mysqld.sock`: a unix socket instead of TCP (a drill's scratch server). */
  socketPath?: string;
  user: string;
  password?: string;
  database: string;
  /** The URL without its password: safe for logs and messages. */
  redacted: string;
  tls: MysqlTls;
  /** The setting the URL came from, for messages. */
  label: string;
}

/** Which implementation is on either end: the server, or the dump and client tools. */
export type MysqlFlavour = "mysql" | "mariadb";

const FLAVOUR_LABEL: Record<MysqlFlavour, string> = { mysql: "MySQL", mariadb: "MariaDB" };

export function parseMysqlUrl(conn: DatabaseConnection): ParsedMysqlUrl {
  const engine = engineOfUrl(conn.url, conn.label);
  if (engine === "postgres") throw new UsageError(`${conn.label} names a PostgreSQL database (postgres://); expected mysql:// or mariadb://.`);
  const example = `${engine}://user:password@host:3306/database`;
  let u: URL;
  try {
    u = new URL(conn.url);
  } catch {
    throw new UsageError(`${conn.label} is not a URL; expected ${example}.`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database || database.includes("/")) throw new UsageError(`${conn.label} names no database (or more than one path segment); expected ${example}.`);
  const user = decodeURIComponent(u.username);
  if (!user) throw new UsageError(`${conn.label} names no user; expected ${example}.`);
  if (u.port && !/^[1-9]\d{0,4}$/.test(u.port)) throw new UsageError(`${conn.label}: the port "${u.port}" is not a port number.`);
  const known = new Set(["sslmode", "sslrootcert", "socket"]);
  for (const key of u.searchParams.keys()) {
    if (!known.has(key)) throw new UsageError(`${conn.label}: unknown parameter "${key}"; ${engine} URLs take sslmode, sslrootcert and socket.`);
  }
  const modeParam = u.searchParams.get("sslmode") ?? "preferred";
  const mode = modeParam === "prefer" ? "preferred" : modeParam;
  if (!(MYSQL_SSL_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`${conn.label}: sslmode "${modeParam}" is not one of disable, require, verify-ca, verify-full (absent: TLS when offered, unverified).`);
  }
  const caFile = u.searchParams.get("sslrootcert") ?? undefined;
  if ((mode === "verify-ca" || mode === "verify-full") && !caFile) {
    throw new UsageError(`${conn.label}: sslmode=${mode} verifies the server's certificate and needs the CA bundle: add &sslrootcert=<file> (on RDS, Amazon's global bundle).`);
  }
  const redacted = new URL(u.toString());
  redacted.password = "";
  return {
    engine,
    host: u.hostname || "localhost",
    port: u.port ? Number(u.port) : MYSQL_DEFAULT_PORT,
    socketPath: u.searchParams.get("socket") ?? undefined,
    user,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database,
    redacted: redacted.toString(),
    tls: { mode: mode as MysqlSslMode, caFile },
    label: conn.label,
  };
}

function readCa(db: ParsedMysqlUrl): string {
  try {
    return readFileSync(db.tls.caFile!, "utf8");
  } catch (err) {
    throw new UsageError(`${db.label}: cannot read the CA bundle sslrootcert=${db.tls.caFile} (${errorMessage(err)}). Point sslrootcert at a readable PEM file.`);
  }
}

/** mysql2's `ssl` for the URL's sslmode; undefined means no TLS. */
export function mysqlSslOptions(db: ParsedMysqlUrl): SslOptions | undefined {
  switch (db.tls.mode) {
    case "disable":
      return undefined;
    case "preferred":
    case "require":
      return { rejectUnauthorized: false, ...(db.tls.caFile ? { ca: readCa(db) } : {}) };
    case "verify-ca":
      return { ca: readCa(db), rejectUnauthorized: true, verifyIdentity: false };
    case "verify-full":
      return { ca: readCa(db), rejectUnauthorized: true, verifyIdentity: true };
  }
}

/** Options of the in-process client: utf8mb4, exact big numbers and dates as the server's text. */
export function mysqlClientOptions(db: ParsedMysqlUrl, opts: { database?: string | null; ssl?: SslOptions | null } = {}): ConnectionOptions {
  const ssl = opts.ssl === null ? undefined : (opts.ssl ?? mysqlSslOptions(db));
  return {
    ...(db.socketPath ? { socketPath: db.socketPath } : { host: db.host, port: db.port }),
    user: db.user,
    password: db.password,
    ...(opts.database === null ? {} : { database: opts.database ?? db.database }),
    ssl,
    charset: "utf8mb4",
    connectTimeout: MYSQL_CONNECT_TIMEOUT_SECONDS * 1000,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    enableKeepAlive: true,
  };
}

/**
 * Opens a mysql2 connection, turning the usual failures into sentences that
 * name the setting to fix. Without an sslmode TLS is tried first and plain
 * TCP only when the server offers no TLS, as libpq's `prefer` does.
 * `database: null` connects without selecting one (to create it).
 */
export async function connectMysql(conn: DatabaseConnection, opts: { database?: string | null } = {}): Promise<Connection> {
  const db = parseMysqlUrl(conn);
  const attempt = async (ssl?: SslOptions | null): Promise<Connection> => {
    const c = await createConnection(mysqlClientOptions(db, { database: opts.database, ssl }));
    c.on("error", () => {
      // A connection lost while idle surfaces on the next query.
    });
    return c;
  };
  try {
    return await attempt();
  } catch (err) {
    if (db.tls.mode === "preferred" && !db.socketPath && /does not support secure connection/i.test(errorMessage(err))) {
      try {
        return await attempt(null);
      } catch (plainErr) {
        throw explainMysqlError(plainErr, db);
      }
    }
    throw explainMysqlError(err, db);
  }
}

export function explainMysqlError(err: unknown, db: ParsedMysqlUrl): Error {
  const code = (err as { code?: string }).code;
  const msg = errorMessage(err);
  const what = db.engine === "mariadb" ? "MariaDB" : "MySQL";
  const where = db.socketPath ?? `${db.host}:${db.port}`;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ETIMEDOUT" || code === "ENOENT" || /timeout/i.test(msg)) {
    return new UsageError(`Cannot reach ${what} at ${where} (${code ?? msg}). Check the host and port in ${db.label} and that the server accepts connections.`);
  }
  if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR") {
    return new UsageError(`${what} at ${where} rejected user "${db.user}" (${msg}). Check the user and password in ${db.label}${db.password === undefined ? " (it has no password)" : ""}.`);
  }
  if (code === "ER_BAD_DB_ERROR") {
    return new UsageError(`Database "${db.database}" does not exist on ${where}. Check the database name in ${db.label}.`);
  }
  if (code === "ER_SECURE_TRANSPORT_REQUIRED" || /insecure transport|secure transport/i.test(msg) || /does not support secure connection/i.test(msg)) {
    return new UsageError(`${what} at ${where} and ${db.label} disagree about TLS (${msg}). Use sslmode=verify-full&sslrootcert=<CA bundle>${db.engine === "mysql" ? " (or at least sslmode=require)" : ""} where the server requires it, and a server with TLS for those modes.`);
  }
  if (/certificate|self[- ]signed|unable to verify|UNABLE_TO_VERIFY|ERR_TLS_CERT|Hostname\/IP does not match/i.test(msg) || /CERT|UNABLE_TO_GET_ISSUER/.test(code ?? "")) {
    return new UsageError(`The TLS certificate of ${what} at ${where} could not be verified (${msg}). Check that sslrootcert in ${db.label} names the CA bundle that signed the server's certificate and that the host name is the server's.`);
  }
  return new Error(`${what} at ${where}: ${msg}`);
}

/**
 * The TLS flags of the client tools for the URL's sslmode: Oracle's tools
 * take --ssl-mode, MariaDB's take --ssl and friends.
 *
 * MariaDB's tools have no enforced "TLS without verifying the server":
 * `--ssl --disable-ssl-verify-server-cert` quietly connects in plain text to
 * a server without TLS, so require and verify-ca are refused for them
 * (`label` names the setting in the message). Only --ssl-verify-server-cert
 * (verify-full) makes them fail instead of talking in the clear.
 */
export function mysqlSslArgs(tls: MysqlTls, flavour: MysqlFlavour, label = "the database URL"): string[] {
  const ca = tls.caFile ? [`--ssl-ca=${tls.caFile}`] : [];
  if (flavour === "mysql") {
    const mode = { disable: "DISABLED", preferred: "PREFERRED", require: "REQUIRED", "verify-ca": "VERIFY_CA", "verify-full": "VERIFY_IDENTITY" }[tls.mode];
    return [`--ssl-mode=${mode}`, ...ca];
  }
  switch (tls.mode) {
    case "disable":
      return ["--skip-ssl"];
    // MariaDB's client has no "TLS if offered": it leaves the choice to its build's default.
    case "preferred":
      return [];
    case "require":
    case "verify-ca":
      throw new UsageError(
        `${label}: sslmode=${tls.mode} cannot be enforced with MariaDB's client tools (mariadb-dump, mariadb): without verifying the server's certificate they fall back to plain text when the server offers no TLS. Use sslmode=verify-full&sslrootcert=<CA bundle> in ${label} (on RDS, Amazon's global bundle), which they enforce.`,
      );
    case "verify-full":
      return ["--ssl", ...ca, "--ssl-verify-server-cert"];
  }
}

/**
 * Connection arguments for mysqldump / mariadb-dump / mysql / mariadb.
 * Only drstack's own option file is read (--defaults-file, or --no-defaults
 * without one; either must come first): the host's /etc/mysql and ~/.my.cnf
 * could otherwise change what the dump prints (skip-comments, compatible=ansi)
 * and so make the dump unreadable or a re-dump differ from the backup.
 */
export function mysqlToolArgs(db: ParsedMysqlUrl, flavour: MysqlFlavour, defaultsFile?: string): string[] {
  return [
    defaultsFile ? `--defaults-file=${defaultsFile}` : "--no-defaults",
    // A host of "localhost" would otherwise mean the default unix socket.
    ...(db.socketPath ? [`--socket=${db.socketPath}`, "--protocol=SOCKET"] : [`--host=${db.host}`, `--port=${db.port}`, "--protocol=TCP"]),
    `--user=${db.user}`,
    ...mysqlSslArgs(db.tls, flavour, db.label),
  ];
}

/** An option file value: double-quoted, with the escapes the tools' option parser undoes. */
export function optionFileValue(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}"`;
}

/** The option file's text: a [client] section with the password. */
export function defaultsFileText(password: string): string {
  return `[client]\npassword=${optionFileValue(password)}\n`;
}

/**
 * A 0600 option file holding the password in a private temporary directory
 * (none when the URL has no password); `remove` deletes it. MYSQL_PWD is
 * deprecated and argv is visible to every user of the host.
 */
export function createDefaultsFile(db: ParsedMysqlUrl): { file: string | undefined; remove(): void } {
  if (db.password === undefined) return { file: undefined, remove: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), "drstack-my-"));
  const file = join(dir, "client.cnf");
  try {
    writeFileSync(file, defaultsFileText(db.password), { mode: 0o600 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `fn` with the option file of createDefaultsFile, removed afterwards whatever `fn` does. */
export async function withDefaultsFile<T>(db: ParsedMysqlUrl, fn: (defaultsFile: string | undefined) => Promise<T>): Promise<T> {
  const defaults = createDefaultsFile(db);
  try {
    return await fn(defaults.file);
  } finally {
    defaults.remove();
  }
}

export type MysqlToolName = "mysqldump" | "mariadb-dump" | "mysql" | "mariadb";

export interface MysqlTool {
  path: string;
  name: MysqlToolName;
  /** Whose tool it is, from its --version (Debian's mysqldump is MariaDB's). */
  flavour: MysqlFlavour;
  /** e.g. "8.4.3" or "10.11.6-MariaDB". */
  version: string;
  /** e.g. "8.4", "10.11". */
  major: string;
  /** What the manifest records, e.g. "mariadb-dump 10.11.6-MariaDB". */
  display: string;
}

/**
 * The version a tool prints: "mysqldump  Ver 8.4.3 for Linux on x86_64 (MySQL
 * Community Server - GPL)", "mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB,
 * for debian-linux-gnu (x86_64)" or "mariadb-dump from 11.4.2-MariaDB, client
 * 10.19 for Linux (x86_64)".
 */
export function parseToolVersion(output: string): { flavour: MysqlFlavour; version: string; major: string } | undefined {
  const maria = /(\d+)\.(\d+)\.(\d+)-MariaDB/i.exec(output);
  if (maria) return { flavour: "mariadb", version: `${maria[1]}.${maria[2]}.${maria[3]}-MariaDB`, major: `${maria[1]}.${maria[2]}` };
  const mysql = /Ver\s+(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (mysql) return { flavour: "mysql", version: `${mysql[1]}.${mysql[2]}.${mysql[3]}`, major: `${mysql[1]}.${mysql[2]}` };
  return undefined;
}

/** Resolves a client tool from `binDir` (--mysql-bin-dir / MYSQL_BIN_DIR) or PATH, with its version. */
export function mysqlTool(name: MysqlToolName, binDir?: string): MysqlTool {
  const dirs = binDir ? [binDir] : (process.env.PATH ?? "").split(":").filter(Boolean);
  const path = dirs.map((d) => join(d, name)).find((p) => existsSync(p));
  if (!path) {
    const pkg = name.startsWith("mariadb") ? "MariaDB's client (Debian: mariadb-client)" : "MySQL's client tools (Oracle's mysql-community-client)";
    throw new UsageError(`${name} not found ${binDir ? `in ${binDir}` : "on PATH"}. Install ${pkg} or set --mysql-bin-dir / MYSQL_BIN_DIR.`);
  }
  const res = spawnSync(path, ["--version"], { encoding: "utf8" });
  const v = parseToolVersion(res.stdout ?? "");
  if (res.status !== 0 || !v) throw new UsageError(`${path} --version failed or printed no version: ${(res.stderr || res.stdout || res.error?.message || "").trim()}`);
  return { path, name: basename(path) as MysqlToolName, ...v, display: `${name} ${v.version}` };
}

/** The dump and client tool an engine's backups are written and restored with. */
export const MYSQL_TOOLS: Readonly<Record<MysqlEngine, { dump: MysqlToolName; client: MysqlToolName }>> = {
  mysql: { dump: "mysqldump", client: "mysql" },
  mariadb: { dump: "mariadb-dump", client: "mariadb" },
};

export interface MysqlServerInfo {
  flavour: MysqlFlavour;
  /** As the server reports it, e.g. "8.4.3" or "10.11.6-MariaDB-0+deb12u1". */
  version: string;
  /** e.g. "8.4", "10.11". */
  major: string;
}

/** The flavour of a server from VERSION() and @@version_comment: MariaDB says so in one of them. */
export function serverInfoOf(version: string, comment: string): MysqlServerInfo {
  const flavour: MysqlFlavour = /mariadb/i.test(version) || /mariadb/i.test(comment) ? "mariadb" : "mysql";
  const m = /^(\d+)\.(\d+)/.exec(version);
  return { flavour, version, major: m ? `${m[1]}.${m[2]}` : version };
}

export async function serverInfo(client: Connection): Promise<MysqlServerInfo> {
  const [rows] = await client.query<import("mysql2").RowDataPacket[]>("SELECT VERSION() AS v, @@version_comment AS c");
  return serverInfoOf(String(rows[0].v), String(rows[0].c ?? ""));
}

function majorNumber(major: string): number {
  const [a, b] = major.split(".").map(Number);
  return a * 1000 + (b || 0);
}

/**
 * Refuses a dump tool that cannot dump the server: the other flavour's tool
 * (MySQL 8 and MariaDB have diverged: GTIDs, system tables, collations), the
 * other flavour than the URL's scheme says, or an Oracle mysqldump older than
 * the server (8.4's dumps 8.0 and 8.4; 8.0's does not know 8.4).
 */
/** Refuses a URL whose scheme is not the server's flavour: mysql:// for a MariaDB server, or the reverse. */
export function checkServerFlavour(server: MysqlServerInfo, engine: MysqlEngine, label: string): void {
  if (server.flavour !== engine) {
    throw new UsageError(
      `${label} says ${engine}:// but the server is ${FLAVOUR_LABEL[server.flavour]} ${server.version}. Start the URL with ${server.flavour}:// so the backup is recorded, restored and drilled as ${FLAVOUR_LABEL[server.flavour]}.`,
    );
  }
}

export function checkDumpTool(tool: MysqlTool, server: MysqlServerInfo, engine: MysqlEngine, label: string, binDirSetting = "--mysql-bin-dir / MYSQL_BIN_DIR"): void {
  checkServerFlavour(server, engine, label);
  if (tool.flavour !== server.flavour) {
    throw new UsageError(
      `${tool.path} is ${FLAVOUR_LABEL[tool.flavour]}'s ${tool.display}, but the server is ${FLAVOUR_LABEL[server.flavour]} ${server.version}: ${FLAVOUR_LABEL[tool.flavour]}'s dump tool does not dump ${FLAVOUR_LABEL[server.flavour]} faithfully. Install ${server.flavour === "mariadb" ? "MariaDB's client (mariadb-dump)" : "Oracle's MySQL client (mysqldump 8.4)"} and point ${binDirSetting} at it.`,
    );
  }
  if (tool.flavour === "mysql" && majorNumber(tool.major) < majorNumber(server.major)) {
    throw new UsageError(`${tool.path} is ${tool.display} but the server runs MySQL ${server.version}; mysqldump must be at least the server's version (8.4 dumps 8.0 and 8.4). Set ${binDirSetting} to newer client tools.`);
  }
}
