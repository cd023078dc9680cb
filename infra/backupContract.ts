import { BackupDatabase } from "./backupTargets";
import { DATA_CLASSES, DataClassPolicy } from "./dataClasses";
import { DatabaseEngine } from "./engines";
import { TierName } from "./tiers";

/**
 * What the infrastructure and the backup handlers in `lambdas/` agree on: the
 * environment each function reads, the metrics the verifier publishes (which
 * the alarms watch) and the key layout (which the IAM policies are scoped to).
 * Names follow the handlers' settings table (`lambdas/settings.ts`); change
 * one side and this module is the only place on the other.
 */

export const METRIC_NAMESPACE = "drstack/backups";
export const METRIC_DIMENSION = "Database";
export const BACKUP_METRICS = {
  age: "BackupAgeSeconds",
  size: "BackupSizeBytes",
  replicationLag: "ReplicationLagSeconds",
  /** Published by the drill task after each drill: 1 failed, 0 passed. */
  drillFailed: "DrillFailed",
  /** Published by the drill task: the measured restore time of a passed drill. */
  drillRestoreSeconds: "DrillRestoreSeconds",
  /** Published by the verifier: seconds since the newest passed drill started (or, with none, since the oldest retained backup ended). */
  drillAge: "DrillAgeSeconds",
} as const;

export const HANDLER_ENV = {
  bucket: "BACKUP_BUCKET",
  peerBucket: "PEER_BUCKET",
  peerRegion: "PEER_REGION",
  metricNamespace: "METRIC_NAMESPACE",
  alarmTopicArn: "ALARM_TOPIC_ARN",
  databaseUrl: "DATABASE_URL",
  databaseSecretArn: "DATABASE_SECRET_ARN",
  databaseName: "BACKUP_NAME",
  tier: "BACKUP_TIER",
  dataClass: "BACKUP_DATA_CLASS",
  targets: "BACKUP_TARGETS",
  objectLockMode: "BACKUP_OBJECT_LOCK_MODE",
  objectLockDays: "BACKUP_OBJECT_LOCK_DAYS",
  complianceClasses: "COMPLIANCE_CLASSES",
  site: "SITE",
  claimParameter: "FENCING_CLAIM_PARAMETER",
  fenceMarkerParameter: "FENCE_MARKER_PARAMETER",
  guardFunction: "GUARD_FUNCTION",
  /** The drill task's databases, `name:tier:class`, comma separated (one tier's per task). */
  drillTargets: "DRILL_TARGETS",
  /** JSON object: database name to the smoke query the drill runs on its restored copy. */
  drillSmokeQueries: "DRILL_SMOKE_QUERIES",
  /** The verifier's own site: only its drill reports count in the drill age. */
  drillSite: "DRILL_SITE",
  /** Seconds the drill task may run before it stops its drills and reports. */
  drillDeadlineSeconds: "DRILL_DEADLINE_SECONDS",
} as const;

/**
 * The PostgreSQL client major version in the backup job image
 * (`postgresql16` in lambdas/backup-image/Dockerfile; a test keeps the two
 * equal). pg_dump dumps servers of its own major version and older only.
 */
export const BACKUP_IMAGE_PG_DUMP_MAJOR = 16;

/**
 * The MariaDB release series in the backup job image, from MariaDB's own
 * RHEL 9 repository (`https://rpm.mariadb.org/11.8/...` in
 * lambdas/backup-image/Dockerfile; a test keeps the two equal). Its scratch
 * server must load dumps of every MariaDB server drstack runs, so a newer
 * server is refused (infra/config.ts).
 */
export const BACKUP_IMAGE_MARIADB_MAJOR = "11.8";

/** Whether a `<major>.<minor>` release series is newer than another (`11.10` is newer than `11.8`). */
export function releaseSeriesNewer(series: string, than: string): boolean {
  const [a, b] = [series, than].map((v) => v.split(".").map((part) => Number.parseInt(part, 10)));
  return a[0] !== b[0] ? a[0] > b[0] : (a[1] ?? 0) > (b[1] ?? 0);
}

/**
 * What the program needs of the backup image's contents, as a number the
 * image carries in its tag (`<tag>-contract<N>-<engine>`,
 * scripts/publish-backup-image.sh): 2 = the drill task at
 * /var/task/tasks/drill.js with postgres, setpriv and timeout; 3 = that, plus
 * the dump, restore and scratch server tools of the engine it was built for
 * (build argument DATABASE_ENGINE: PostgreSQL's always, MySQL's or MariaDB's
 * beside them), which the tag names. An image published by an older program,
 * or for another engine, lacks the suffix, and the preview stops
 * (infra/images.ts) instead of every backup or drill failing later.
 */
export const BACKUP_IMAGE_CONTRACT = 3;

/** The tag suffix that says an image meets a contract for an engine: `-contract3-mysql`; contracts before 3 named no engine. */
export function backupImageContractSuffix(engine: DatabaseEngine, contract: number = BACKUP_IMAGE_CONTRACT): string {
  return contract >= 3 ? `-contract${contract}-${engine}` : `-contract${contract}`;
}

/** Entry points inside the image and the archive. */
export const BACKUP_HANDLER = "handlers/backup.handler";
export const VERIFY_HANDLER = "handlers/verify.handler";
/**
 * The drill task's command in the backup image (ECS overrides the Lambda
 * base image's entry point): Node on the bundle build:lambdas writes to
 * dist/lambdas/backup/tasks/drill.js, which the image copies to /var/task.
 */
export const DRILL_TASK_COMMAND = ["node", "/var/task/tasks/drill.js"] as const;
/** The drill task's exit codes (lambdas/tasks/drill.ts; a test keeps them equal). */
export const DRILL_TASK_EXIT = { passed: 0, failed: 1, badSettings: 2 } as const;
/** The `format` of a drill report (lambdas/core/drill.ts, DRILL_FORMAT; a test keeps the two equal). */
export const DRILL_REPORT_FORMAT = "drstack.drill/v1";

/** `DRILL_TARGETS` for a drill task: `name:tier:class`, comma separated. */
export function drillTargets(databases: readonly BackupDatabase[]): string {
  return databases.map((database) => `${database.name}:${database.tier}:${database.dataClass}`).join(",");
}

/** Where a database's drill reports go (lambdas/core/drill.ts, drillReportKey): `<prefix>drills/<timestamp>-<site>.json`. */
export function drillReportKeys(database: Pick<BackupDatabase, "name" | "dataClass">, site: string): string {
  return `${databaseKeyPrefix(database)}drills/*-${site}.json`;
}

/** Every object of one database's backups: `<class prefix><database>/...`, including the sites' `latest-<site>.json`. */
export function databaseKeyPrefix(database: Pick<BackupDatabase, "name" | "dataClass">): string {
  return `${DATA_CLASSES[database.dataClass].prefix}${database.name}/`;
}

/** `BACKUP_TARGETS` for the verifier: `name:tier:class:maxAgeSeconds`, comma separated. */
export function verifyTargets(databases: readonly BackupDatabase[], maxAgeSeconds: (tier: TierName) => number): string {
  return databases.map((database) => `${database.name}:${database.tier}:${database.dataClass}:${maxAgeSeconds(database.tier)}`).join(",");
}

/** The lock the backup job puts on every object of a database's class, when the class has its own mode. */
export function classObjectLock(database: Pick<BackupDatabase, "dataClass">, dataClasses: readonly DataClassPolicy[]): { mode: "GOVERNANCE" | "COMPLIANCE"; days: number } | undefined {
  const policy = dataClasses.find((dataClass) => dataClass.name === database.dataClass);
  return policy?.objectLockMode ? { mode: policy.objectLockMode, days: policy.retentionDays } : undefined;
}

/** `COMPLIANCE_CLASSES` for the verifier: `class:retentionDays` of every COMPLIANCE class, comma separated. */
export function complianceClasses(dataClasses: readonly DataClassPolicy[]): string {
  return dataClasses
    .filter((dataClass) => dataClass.objectLockMode === "COMPLIANCE")
    .map((dataClass) => `${dataClass.name}:${dataClass.retentionDays}`)
    .join(",");
}

/**
 * The keys one site's backup job may write under a database's prefix: its own
 * pointer and the dumps and manifests that carry its site name
 * (`<day path>/<timestamp>-<site>-<run id>.dump`, lambdas/core/layout.ts). A
 * site can then never write the other site's pointer, not even in its own
 * bucket, from which replication would carry it over the other's.
 */
export function siteWritableKeys(database: Pick<BackupDatabase, "name" | "dataClass">, site: string): string[] {
  const prefix = databaseKeyPrefix(database);
  return [`${prefix}latest-${site}.json`, `${prefix}*-${site}-*`];
}
