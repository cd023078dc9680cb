import { DATA_CLASS_NAMES, DataClassName } from "./dataClasses";
import { isTierName, TIER_NAMES, TierName } from "./tiers";

/**
 * The databases drstack backs up, from `backupDatabases`: comma-separated
 * `name:tier[:dataClass]` entries such as `app:critical,ledger:standard:financial`.
 * The data class decides the key prefix (and so retention) of the dumps; it
 * defaults to `db`, the database dumps on their tier's schedule.
 */
export interface BackupDatabase {
  name: string;
  tier: TierName;
  dataClass: DataClassName;
}

/** PostgreSQL names are free-form, backup keys are not: the name becomes a key segment. */
const DATABASE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

export type BackupDatabasesParse = { ok: true; databases: BackupDatabase[] } | { ok: false; problem: string };

export function parseBackupDatabases(spec: string): BackupDatabasesParse {
  const entries = spec
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) {
    return { ok: false, problem: "lists no database; every site must back up at least one" };
  }
  const databases: BackupDatabase[] = [];
  for (const entry of entries) {
    const [name, tier, dataClass = "db", ...rest] = entry.split(":");
    if (rest.length > 0 || tier === undefined) {
      return { ok: false, problem: `entry "${entry}" is not name:tier[:dataClass]` };
    }
    if (!DATABASE_NAME.test(name)) {
      return { ok: false, problem: `database name "${name}" cannot be a backup key segment; use letters, digits, "_", "-" and "."` };
    }
    if (!isTierName(tier)) {
      return { ok: false, problem: `entry "${entry}" names tier "${tier}"; known tiers are ${TIER_NAMES.join(", ")}` };
    }
    if (!(DATA_CLASS_NAMES as readonly string[]).includes(dataClass)) {
      return { ok: false, problem: `entry "${entry}" names data class "${dataClass}"; known classes are ${DATA_CLASS_NAMES.join(", ")}` };
    }
    if (databases.some((database) => database.name === name)) {
      return { ok: false, problem: `database "${name}" is listed twice` };
    }
    databases.push({ name, tier, dataClass: dataClass as DataClassName });
  }
  return { ok: true, databases };
}
