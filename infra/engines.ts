/**
 * The database engines drstack runs on RDS (`databaseEngine`), side by side:
 * everything that differs between them, as data, so every other module asks
 * this one instead of naming an engine. README, "Database engines", is the
 * same table in prose; tests/unit/engines.test.ts pins each rule to its source.
 *
 * The backup code in lambdas/ has its own copy of the engine names
 * (lambdas/core/engine.ts, which its manifests and URL schemes use); a test
 * keeps the two equal. The program never imports from lambdas/.
 */

export const DATABASE_ENGINES = ["postgres", "mysql", "mariadb"] as const;
export type DatabaseEngine = (typeof DATABASE_ENGINES)[number];

export function isDatabaseEngine(value: string): value is DatabaseEngine {
  return (DATABASE_ENGINES as readonly string[]).includes(value);
}

export const POSTGRES_PORT = 5432;
/** MySQL's and MariaDB's default port, which RDS uses unless told otherwise. */
export const MYSQL_PORT = 3306;

/** One DB parameter setting drstack declares, and why. */
export interface EngineParameter {
  name: string;
  value: string;
  why: string;
}

export interface EngineProfile {
  engine: DatabaseEngine;
  /** How README and messages name it. */
  label: string;
  /** The RDS `Engine` value (CreateDBInstance Engine), also the secret's `engine` field. */
  rdsEngine: string;
  port: number;
  /** `dbEngineVersion` when unset. */
  defaultVersion: string;
  /** The versions drstack accepts, as an example list for error messages. */
  versionExamples: string;
  /** Logs exported to CloudWatch (EnableCloudwatchLogsExports), as RDS names them for this engine. */
  logExports: readonly string[];
  /** Whether an RDS read replica of this engine may keep automated backups of its own. */
  replicaKeepsBackups: boolean;
  /** What the backup job, the drill and a restore run. */
  dumpTool: string;
  restoreTool: string;
  /** URL scheme of the backup job's DATABASE_URL: the backup code reads the engine from it. */
  backupUrlScheme: string;
  /** URL scheme of the application's DATABASE_URL: what the engine's client libraries know. */
  appUrlScheme: string;
}

export const ENGINE_PROFILES: Readonly<Record<DatabaseEngine, EngineProfile>> = {
  postgres: {
    engine: "postgres",
    label: "PostgreSQL",
    rdsEngine: "postgres",
    port: POSTGRES_PORT,
    defaultVersion: "16",
    versionExamples: "a major version such as 16, or a minor version such as 16.4",
    logExports: ["postgresql", "upgrade"],
    replicaKeepsBackups: false,
    dumpTool: "pg_dump",
    restoreTool: "pg_restore",
    backupUrlScheme: "postgres",
    appUrlScheme: "postgres",
  },
  mysql: {
    engine: "mysql",
    label: "MySQL",
    rdsEngine: "mysql",
    port: MYSQL_PORT,
    defaultVersion: "8.4",
    versionExamples: "8.0 or 8.4, or a minor version such as 8.4.3",
    logExports: ["error", "slowquery"],
    replicaKeepsBackups: true,
    dumpTool: "mysqldump",
    restoreTool: "mysql",
    backupUrlScheme: "mysql",
    appUrlScheme: "mysql",
  },
  mariadb: {
    engine: "mariadb",
    label: "MariaDB",
    rdsEngine: "mariadb",
    port: MYSQL_PORT,
    defaultVersion: "10.11",
    versionExamples: "10.11, 11.4 or 11.8, or a minor version such as 10.11.9 (not 10.6: RDS has no IAM database authentication for MariaDB 10.6, which drstack turns on)",
    logExports: ["error", "slowquery"],
    replicaKeepsBackups: true,
    dumpTool: "mariadb-dump",
    restoreTool: "mariadb",
    backupUrlScheme: "mariadb",
    // MariaDB speaks MySQL's protocol; frameworks' URL parsers know `mysql://`.
    appUrlScheme: "mysql",
  },
};

/** Whether the engine speaks MySQL's protocol (the backup code's `mysql` family). */
export function isMysqlFamily(engine: DatabaseEngine): boolean {
  return engine === "mysql" || engine === "mariadb";
}

/**
 * The major versions RDS offers a parameter group family for, per engine
 * (family `mysql8.0`, `mysql8.4`, `mariadb10.11`, ...). PostgreSQL's rule is
 * its own (two digits, at most the backup image's pg_dump, infra/config.ts).
 */
export const MYSQL_FAMILY_MAJORS: Readonly<Record<"mysql" | "mariadb", readonly string[]>> = {
  mysql: ["8.0", "8.4"],
  mariadb: ["10.11", "11.4", "11.8"],
};

export type EngineVersionCheck = { ok: true; major: string } | { ok: false; problem: string };

/**
 * Checks `dbEngineVersion` for the engine: PostgreSQL `16` or `16.4`; MySQL
 * and MariaDB `<major>` or `<major>.<minor>` with a major RDS offers a
 * parameter group family for. Returns the major version.
 */
export function checkEngineVersion(engine: DatabaseEngine, version: string): EngineVersionCheck {
  const profile = ENGINE_PROFILES[engine];
  if (engine === "postgres") {
    const match = /^(\d{2})(\.\d+)?$/.exec(version);
    return match ? { ok: true, major: match[1] } : { ok: false, problem: `is not a ${profile.label} version drstack runs: ${profile.versionExamples} (databaseEngine is postgres)` };
  }
  const match = /^(\d+\.\d+)(\.\d+)?$/.exec(version);
  const majors = MYSQL_FAMILY_MAJORS[engine as "mysql" | "mariadb"];
  if (!match || !majors.includes(match[1])) {
    return { ok: false, problem: `is not a ${profile.label} version drstack runs: ${profile.versionExamples} (databaseEngine is ${engine})` };
  }
  return { ok: true, major: match[1] };
}

/** The DB parameter group family of an engine's major version, as RDS names it: `mysql8.4`, `mariadb10.11`, `postgres16`. */
export function parameterGroupFamily(engine: DatabaseEngine, major: string): string {
  return `${ENGINE_PROFILES[engine].rdsEngine}${major}`;
}

/**
 * The settings drstack's own parameter group carries, or none where the
 * engine's default group already does what DR needs (PostgreSQL: RDS for
 * PostgreSQL 15 and later sets rds.force_ssl=1 by default, and its
 * replication is physical).
 *
 * MySQL and MariaDB:
 * - `binlog_format=ROW`: row-based replication copies each row's change, not
 *   the statement, so a non-deterministic statement cannot leave the replica
 *   (the next writer) different from its source (MySQL Reference Manual,
 *   "Advantages and Disadvantages of Statement-Based and Row-Based
 *   Replication"); declared, not left to the group's default, which differs
 *   between engines and versions.
 * - `require_secure_transport=ON`: RDS for MySQL and MariaDB accept
 *   unencrypted connections by default; the backup job and the application
 *   connect with TLS, and the server now refuses anything else.
 * - the slow query log, written to a file, so the `slowquery` export has
 *   something to publish (RDS: "log_output = FILE" to publish to CloudWatch Logs).
 * - `log_bin_trust_function_creators=1`: automated backups turn binary
 *   logging on and the RDS master user has no SUPER privilege, so without it
 *   CREATE FUNCTION and CREATE TRIGGER fail with ERROR 1419, and neither the
 *   application's migrations nor a restore of a dump with routines could
 *   create them (AWS Knowledge Center, "rds-mysql-functions",
 *   https://repost.aws/knowledge-center/rds-mysql-functions). With
 *   `binlog_format=ROW` a non-deterministic function cannot make the replica
 *   differ: its rows are logged, not its calls.
 */
export function engineParameters(engine: DatabaseEngine, major: string): EngineParameter[] {
  if (!isMysqlFamily(engine)) {
    return [];
  }
  // MariaDB 10.11 renamed slow_query_log and long_query_time to log_slow_query and log_slow_query_time (the old names
  // aliases); 11.x groups carry the new names, used together; MySQL and MariaDB 10.11 the old ones.
  const newNames = engine === "mariadb" && major.startsWith("11.");
  const slowLog = newNames ? "log_slow_query" : "slow_query_log";
  const slowTime = newNames ? "log_slow_query_time" : "long_query_time";
  return [
    { name: "binlog_format", value: "ROW", why: "row-based replication: the replica that becomes the next writer holds exactly the source's rows" },
    { name: "require_secure_transport", value: "1", why: "only TLS connections: RDS accepts unencrypted ones by default" },
    { name: slowLog, value: "1", why: "the slow query log, which the slowquery export publishes" },
    { name: slowTime, value: "2", why: "a query slower than 2 s is logged" },
    { name: "log_output", value: "FILE", why: "RDS publishes only file logs to CloudWatch Logs" },
    {
      name: "log_bin_trust_function_creators",
      value: "1",
      why: "CREATE FUNCTION and CREATE TRIGGER by the RDS master user, who has no SUPER, while binary logging is on (ERROR 1419); safe with row-based logs",
    },
  ];
}

/**
 * Instance classes on which RDS for MySQL and MariaDB offer no Performance
 * Insights (Database Insights): "Database Insights isn't supported for the
 * following instance classes" (Amazon RDS User Guide, "Amazon RDS DB engine,
 * Region, and instance class support for Database Insights",
 * USER_DatabaseInsights.Engines.html). PostgreSQL has no such restriction.
 */
export const NO_PERFORMANCE_INSIGHTS_CLASSES: readonly string[] = ["db.t2.micro", "db.t2.small", "db.t3.micro", "db.t3.small", "db.t4g.micro", "db.t4g.small"];

export function performanceInsightsSupported(engine: DatabaseEngine, instanceClass: string): boolean {
  return !(isMysqlFamily(engine) && NO_PERFORMANCE_INSIGHTS_CLASSES.includes(instanceClass));
}
