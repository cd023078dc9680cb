/**
 * Recovery tiers, data classes and the bucket key layout.
 *
 *   <class-prefix>/<database>/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssZ>-<site>-<runId>.dump     (PostgreSQL: pg_dump's custom format)
 *   <class-prefix>/<database>/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssZ>-<site>-<runId>.sql.gz   (MySQL, MariaDB: gzipped mysqldump SQL)
 *   <class-prefix>/<database>/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssZ>-<site>-<runId>.manifest.json
 *   <class-prefix>/<database>/latest-<site>.json   (one pointer per writing site, written only after verification)
 *
 * Both sites' buckets replicate into each other, so every key a site writes
 * names that site: a replicated object can never land on a key the other site
 * writes. Finding the newest good backup is one GET per known site's pointer
 * (and the pre-fencing `latest.json`), then one GET of the manifest the newest
 * names, by (writer epoch, slot): O(1) requests whatever the bucket holds. The
 * class prefix is what the bucket's lifecycle rules key on.
 */
import type { BackupEngine } from "./engine";
import { UsageError } from "./errors";

export const TIERS = ["critical", "high", "standard", "low"] as const;
export type Tier = (typeof TIERS)[number];

/** RPO per tier from docs/design.md, in seconds. */
export const TIER_RPO_SECONDS: Record<Tier, number> = {
  critical: 5 * 60,
  high: 30 * 60,
  standard: 2 * 60 * 60,
  low: 24 * 60 * 60,
};

/** Retention classes; each is one lifecycle-rule prefix in the backup bucket. */
export const DATA_CLASSES = ["db", "critical", "archive", "financial"] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

export const DATA_CLASS_PREFIX: Record<DataClass, string> = {
  db: "db/", // 30 days
  critical: "critical/", // 90 days
  archive: "archive/", // 1 year
  financial: "financial/", // 7 years
};

/**
 * The class of a database whose class is not given: `db/`, the database dumps,
 * as in the program's `backupDatabases` config (`name:tier[:dataClass]`).
 * The class is a retention choice, not the tier's: one default everywhere.
 */
export const DEFAULT_DATA_CLASS: DataClass = "db";

export function parseTier(value: string, source: string): Tier {
  if ((TIERS as readonly string[]).includes(value)) return value as Tier;
  throw new UsageError(`${source} must be one of ${TIERS.join(", ")} (got "${value}").`);
}

export function parseDataClass(value: string, source: string): DataClass {
  if ((DATA_CLASSES as readonly string[]).includes(value)) return value as DataClass;
  if (value === "daily") {
    throw new UsageError(`${source}: the class of the database dumps is called "db" (its key prefix db/, as in the backupDatabases config), not "daily". Use db.`);
  }
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
  /** How old the newest good backup may be; absent: the tier's RPO (TIER_RPO_SECONDS). drstack passes its schedule interval plus one run. */
  maxAgeSeconds?: number;
}

/** Parses `name:tier[:class[:maxAgeSeconds]]` entries separated by commas, e.g. `app:critical,ledger:standard:financial:87300`. */
export function parseTargets(spec: string, source: string): BackupTarget[] {
  const entries = spec.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) {
    throw new UsageError(`${source} is empty; list the protected databases as name:tier[:class], e.g. "app:critical,ledger:standard:financial".`);
  }
  return entries.map((entry) => {
    const [database, tier, dataClass, maxAge, ...rest] = entry.split(":");
    if (!database || !tier || rest.length > 0) {
      throw new UsageError(`${source}: "${entry}" is not name:tier[:class[:maxAgeSeconds]], e.g. "app:critical".`);
    }
    if (maxAge !== undefined && !/^[1-9]\d*$/.test(maxAge)) {
      throw new UsageError(`${source} (${entry}): the maximum age "${maxAge}" is not a whole number of seconds above 0.`);
    }
    const t = parseTier(tier, `${source} (${entry})`);
    return {
      database: checkDatabaseName(database, source),
      tier: t,
      dataClass: dataClass ? parseDataClass(dataClass, `${source} (${entry})`) : DEFAULT_DATA_CLASS,
      ...(maxAge !== undefined ? { maxAgeSeconds: Number(maxAge) } : {}),
    };
  });
}

export function databasePrefix(target: Pick<BackupTarget, "database" | "dataClass">): string {
  return `${DATA_CLASS_PREFIX[target.dataClass]}${target.database}/`;
}

/** The sites drstack deploys; readers look for a pointer of each, plus the site they are told about. */
export const POINTER_SITES = ["primary", "secondary"] as const;

/** Site names go into keys; a short lowercase word keeps the layout (and the IAM patterns on it) unambiguous. */
export function checkSiteName(site: string, source: string): string {
  if (!/^[a-z][a-z0-9]{0,31}$/.test(site)) {
    throw new UsageError(`${source}: site "${site}" must be 1-32 lowercase letters and digits, starting with a letter (e.g. primary, secondary, onprem).`);
  }
  return site;
}

/** The pointer one site publishes: only that site ever writes it, so replication of the peer's pointer cannot overwrite it. */
export function latestKey(target: Pick<BackupTarget, "database" | "dataClass">, site: string): string {
  return `${databasePrefix(target)}latest-${site}.json`;
}

/** The single pointer of buckets written before fencing; still read (as the oldest epoch), never written. */
export function legacyLatestKey(target: Pick<BackupTarget, "database" | "dataClass">): string {
  return `${databasePrefix(target)}latest.json`;
}

/** Every pointer a reader looks for: each known site's (the given ones first), then the legacy one. */
export function pointerKeys(target: Pick<BackupTarget, "database" | "dataClass">, sites: readonly string[] = []): string[] {
  const all = [...new Set([...sites, ...POINTER_SITES])];
  return [...all.map((site) => latestKey(target, site)), legacyLatestKey(target)];
}

/** Where a backup stands in the order of writers: a later writer's epoch wins, then a later slot. */
export interface WriterOrder {
  epoch: number;
  slot: string;
}

/** Negative when a comes before b, positive after, zero when they are the same backup position. */
export function compareWriterOrder(a: WriterOrder, b: WriterOrder): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  const ta = Date.parse(a.slot);
  const tb = Date.parse(b.slot);
  return ta === tb ? 0 : ta < tb ? -1 : 1;
}

/** The newest of several pointers by (epoch, slot); undefined for none. */
export function newestByWriterOrder<T extends WriterOrder>(candidates: readonly T[]): T | undefined {
  return candidates.reduce<T | undefined>((best, next) => (best === undefined || compareWriterOrder(next, best) > 0 ? next : best), undefined);
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

/** The dump's extension by engine: what the object is, for whoever lists the bucket. */
export const DUMP_EXTENSIONS: Readonly<Record<BackupEngine, string>> = { postgres: ".dump", mysql: ".sql.gz", mariadb: ".sql.gz" };

/** Whether a key is a dump of any engine (not a manifest, pointer or lock). */
export function isDumpKey(key: string): boolean {
  return Object.values(DUMP_EXTENSIONS).some((ext) => key.endsWith(ext));
}

/** The site is in the key so the two sites' backups of the same slot never share a key (each bucket replicates into the other). */
export function backupKeys(target: Pick<BackupTarget, "database" | "dataClass">, slot: Date, runId: string, site: string, engine: BackupEngine = "postgres"): BackupKeys {
  if (!/^[a-z0-9-]{1,64}$/.test(runId)) throw new UsageError(`run id "${runId}" must be 1-64 of a-z, 0-9 and "-".`);
  checkSiteName(site, "site");
  const day = `${slot.getUTCFullYear()}/${pad(slot.getUTCMonth() + 1)}/${pad(slot.getUTCDate())}`;
  const base = `${databasePrefix(target)}${day}/${compactTimestamp(slot)}-${site}-${runId}`;
  return { dumpKey: `${base}${DUMP_EXTENSIONS[engine]}`, manifestKey: `${base}.manifest.json` };
}
