/**
 * Recovery tiers, data classes and the bucket key layout.
 *
 *   <class-prefix>/<database>/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssZ>-<runId>.dump
 *   <class-prefix>/<database>/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssZ>-<runId>.manifest.json
 *   <class-prefix>/<database>/latest.json   (pointer, written only after verification)
 *
 * Finding the newest good backup is one GET of latest.json plus one GET of
 * the manifest it names: O(1) requests whatever the bucket holds. The class
 * prefix is what the bucket's lifecycle rules key on.
 */
import { UsageError } from "./errors";

export const TIERS = ["critical", "high", "standard", "low"] as const;
export type Tier = (typeof TIERS)[number];

/** RPO per tier from DESIGN.md, in seconds. */
export const TIER_RPO_SECONDS: Record<Tier, number> = {
  critical: 5 * 60,
  high: 30 * 60,
  standard: 2 * 60 * 60,
  low: 24 * 60 * 60,
};

/** Retention classes; each is one lifecycle-rule prefix in the backup bucket. */
export const DATA_CLASSES = ["daily", "critical", "archive", "financial"] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

export const DATA_CLASS_PREFIX: Record<DataClass, string> = {
  daily: "db/", // 30 days
  critical: "critical/", // 90 days
  archive: "archive/", // 1 year
  financial: "financial/", // 7 years
};

/** Critical-tier databases keep their dumps 90 days; everything else is a 30-day daily dump unless told otherwise. */
export function defaultDataClass(tier: Tier): DataClass {
  return tier === "critical" ? "critical" : "daily";
}

export function parseTier(value: string, source: string): Tier {
  if ((TIERS as readonly string[]).includes(value)) return value as Tier;
  throw new UsageError(`${source} must be one of ${TIERS.join(", ")} (got "${value}").`);
}

export function parseDataClass(value: string, source: string): DataClass {
  if ((DATA_CLASSES as readonly string[]).includes(value)) return value as DataClass;
  throw new UsageError(`${source} must be one of ${DATA_CLASSES.join(", ")} (got "${value}").`);
}

/** PostgreSQL database names are free-form; keys are not. Refuse what would break the layout. */
export function checkDatabaseName(name: string, source: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    throw new UsageError(`${source}: database name "${name}" cannot be used in a backup key; use letters, digits, "_", "-" or ".".`);
  }
  return name;
}

/** One protected database as the verifier sees it. */
export interface BackupTarget {
  database: string;
  tier: Tier;
  dataClass: DataClass;
}

/** Parses `name:tier[:class]` entries separated by commas, e.g. `app:critical,ledger:standard:financial`. */
export function parseTargets(spec: string, source: string): BackupTarget[] {
  const entries = spec.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) {
    throw new UsageError(`${source} is empty; list the protected databases as name:tier[:class], e.g. "app:critical,ledger:standard:financial".`);
  }
  return entries.map((entry) => {
    const [database, tier, dataClass, ...rest] = entry.split(":");
    if (!database || !tier || rest.length > 0) {
      throw new UsageError(`${source}: "${entry}" is not name:tier[:class], e.g. "app:critical".`);
    }
    const t = parseTier(tier, `${source} (${entry})`);
    return {
      database: checkDatabaseName(database, source),
      tier: t,
      dataClass: dataClass ? parseDataClass(dataClass, `${source} (${entry})`) : defaultDataClass(t),
    };
  });
}

export function databasePrefix(target: Pick<BackupTarget, "database" | "dataClass">): string {
  return `${DATA_CLASS_PREFIX[target.dataClass]}${target.database}/`;
}

export function latestKey(target: Pick<BackupTarget, "database" | "dataClass">): string {
  return `${databasePrefix(target)}latest.json`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** `20261123T020000Z`: sortable, no characters that need escaping in keys. */
export function compactTimestamp(t: Date): string {
  return (
    `${t.getUTCFullYear()}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}` +
    `T${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}Z`
  );
}

export interface BackupKeys {
  dumpKey: string;
  manifestKey: string;
}

export function backupKeys(target: Pick<BackupTarget, "database" | "dataClass">, slot: Date, runId: string): BackupKeys {
  if (!/^[a-z0-9-]{1,64}$/.test(runId)) throw new UsageError(`run id "${runId}" must be 1-64 of a-z, 0-9 and "-".`);
  const day = `${slot.getUTCFullYear()}/${pad(slot.getUTCMonth() + 1)}/${pad(slot.getUTCDate())}`;
  const base = `${databasePrefix(target)}${day}/${compactTimestamp(slot)}-${runId}`;
  return { dumpKey: `${base}.dump`, manifestKey: `${base}.manifest.json` };
}
