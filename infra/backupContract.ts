import { BackupDatabase } from "./backupTargets";
import { DATA_CLASSES, DataClassName } from "./dataClasses";

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
} as const;

/** Entry points inside the image and the archive. */
export const BACKUP_HANDLER = "handlers/backup.handler";
export const VERIFY_HANDLER = "handlers/verify.handler";

/** The handlers call the `db/` class "daily"; every other class has the same name on both sides. */
export function handlerDataClass(dataClass: DataClassName): string {
  return dataClass === "db" ? "daily" : dataClass;
}

/** Every object of one database's backups: `<class prefix><database>/...`, including its `latest.json`. */
export function databaseKeyPrefix(database: Pick<BackupDatabase, "name" | "dataClass">): string {
  return `${DATA_CLASSES[database.dataClass].prefix}${database.name}/`;
}

/** `BACKUP_TARGETS` for the verifier: `name:tier:class`, comma separated. */
export function verifyTargets(databases: readonly BackupDatabase[]): string {
  return databases.map((database) => `${database.name}:${database.tier}:${handlerDataClass(database.dataClass)}`).join(",");
}
