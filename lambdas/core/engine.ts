/**
 * The database engines the backup code dumps, restores and verifies. The
 * program has its own list (infra/engines.ts, DATABASE_ENGINES) because it
 * never imports from lambdas/; tests/unit/engineAgreement.test.ts keeps the
 * two equal.
 */
import { UsageError } from "./errors";

export const BACKUP_ENGINES = ["postgres", "mysql", "mariadb"] as const;
export type BackupEngine = (typeof BACKUP_ENGINES)[number];
/** The engines that speak MySQL's protocol and are dumped with mysqldump or mariadb-dump. */
export type MysqlEngine = Exclude<BackupEngine, "postgres">;

export function isBackupEngine(value: string): value is BackupEngine {
  return (BACKUP_ENGINES as readonly string[]).includes(value);
}

export function isMysqlEngine(engine: BackupEngine): engine is MysqlEngine {
  return engine === "mysql" || engine === "mariadb";
}

/** How messages name the engine. */
export const ENGINE_LABELS: Readonly<Record<BackupEngine, string>> = { postgres: "PostgreSQL", mysql: "MySQL", mariadb: "MariaDB" };

const SCHEMES: Readonly<Record<string, BackupEngine>> = {
  "postgres:": "postgres",
  "postgresql:": "postgres",
  "mysql:": "mysql",
  "mariadb:": "mariadb",
};

/**
 * The engine a database URL names by its scheme: postgres:// or
 * postgresql://, mysql://, mariadb://. `label` is the setting the URL came
 * from, for the error.
 */
export function engineOfUrl(url: string, label = "DATABASE_URL"): BackupEngine {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*:)\/\//.exec(url)?.[1]?.toLowerCase();
  const engine = scheme ? SCHEMES[scheme] : undefined;
  if (!engine) {
    throw new UsageError(
      `${label} must start with postgres:// (or postgresql://), mysql:// or mariadb://, which names the engine to back up${scheme ? ` (got ${scheme}//)` : ""}; e.g. mysql://backup:secret@db.internal:3306/app.`,
    );
  }
  return engine;
}
