import type { DrConfig } from "./config";
import { peerOf, SiteName } from "./roles";
import { replicatedBackupsSource } from "./sitePlan";

/**
 * Point-in-time recovery (PITR) from RDS automated backups: what it achieves,
 * and the recovery point an operator asks for in config.
 *
 * RDS keeps automated backups per instance, not per database: one
 * `dbBackupRetentionDays` covers every tier the instance holds, so it must be
 * the longest window in which any tier's corruption has to be recoverable.
 * The tiers differ only in how often their logical dumps run.
 */

/**
 * "RDS uploads transaction logs for DB instances to Amazon S3 every 5
 * minutes" (Amazon RDS User Guide, "Restoring a DB instance to a specified
 * time", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html);
 * "The latest restorable time for a DB instance is typically within 5
 * minutes of the current time" (https://aws.amazon.com/rds/features/backup/).
 * The latest restorable time trails the present by up to this much, which
 * is both PITR's recovery point against corruption and how recent a
 * requested recovery point may be.
 */
export const PITR_LOG_UPLOAD_MINUTES = 5;

/** What the objectives may count: PITR of the database, separately from the replica (which copies corruption too). */
export interface PointInTimeRecovery {
  /** Automated backups are on for every writer (dbBackupRetentionDays is 1-35, never 0). */
  enabled: boolean;
  /** Worst-case data loss restoring to just before a corruption: one transaction-log upload interval. */
  rpoMinutes: number;
  /** How far back a point can be restored, on the writer and in the standby region's replicated copy. */
  retentionDays: number;
  /**
   * The standby region holds a copy of the current writer's automated backups
   * (InstanceAutomatedBackupsReplication), so PITR survives the writer's
   * region: false from a failover until failback step 1, and between steps 2
   * and 3 (sitePlan.ts `replicatedBackupsSource`).
   */
  replicatedToStandbyRegion: boolean;
  basis: string;
}

export function pointInTimeRecovery(config: Pick<DrConfig, "database" | "activeSite">): PointInTimeRecovery {
  const retentionDays = config.database.backupRetentionDays;
  const generations = config.database.generations;
  const copied = replicatedBackupsSource(peerOf(config.activeSite), generations);
  const replicatedToStandbyRegion = copied?.site === config.activeSite && copied.generation === generations[config.activeSite];
  return {
    enabled: retentionDays > 0,
    rpoMinutes: PITR_LOG_UPLOAD_MINUTES,
    retentionDays,
    replicatedToStandbyRegion,
    basis:
      `RDS automated backups for ${retentionDays} days, transaction logs uploaded every ${PITR_LOG_UPLOAD_MINUTES} min` +
      (replicatedToStandbyRegion ? ", copied to the standby region" : "; the standby region holds no copy of the current writer's until the failback rebuilds it"),
  };
}

/** A recovery point from config: a UTC time, or the latest restorable time. */
export type RecoveryPoint = { kind: "time"; time: Date } | { kind: "latest" };

export type RecoveryPointCheck = { ok: true; point: RecoveryPoint | undefined } | { ok: false; problem: string; example: string };

/** `2026-12-02T14:30:00Z`: RDS takes a UTC time (RestoreDBInstanceToPointInTime, RestoreTime), to the second. */
const UTC_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/**
 * Validates `recoveryPointInTime` against what RDS can restore now: not in
 * the future, not later than the latest restorable time (at most
 * PITR_LOG_UPLOAD_MINUTES behind the present), not earlier than the
 * retention window. Empty means no recovery instance.
 */
export function checkRecoveryPoint(value: string, retentionDays: number, now: Date): RecoveryPointCheck {
  const example = isoSeconds(new Date(now.getTime() - 60 * 60_000));
  if (value === "") {
    return { ok: true, point: undefined };
  }
  if (value === "latest") {
    return { ok: true, point: { kind: "latest" } };
  }
  const match = UTC_TIMESTAMP.exec(value);
  const time = match ? new Date(value) : undefined;
  if (!match || time === undefined || Number.isNaN(time.getTime()) || isoSeconds(time) !== value) {
    return { ok: false, problem: `is neither "latest" nor a UTC time such as ${example} (seconds and a trailing Z)`, example };
  }
  const latestRestorable = now.getTime() - PITR_LOG_UPLOAD_MINUTES * 60_000;
  if (time.getTime() > now.getTime()) {
    return { ok: false, problem: `is in the future (now is ${isoSeconds(now)})`, example };
  }
  if (time.getTime() > latestRestorable) {
    return {
      ok: false,
      problem: `is later than RDS can restore yet: transaction logs reach S3 every ${PITR_LOG_UPLOAD_MINUTES} minutes, so the latest restorable time trails now (${isoSeconds(now)}) by up to that much; use "latest" or an earlier time`,
      example,
    };
  }
  const earliest = now.getTime() - retentionDays * 24 * 60 * 60_000;
  if (time.getTime() < earliest) {
    return {
      ok: false,
      problem: `is older than the ${retentionDays} days of automated backups (dbBackupRetentionDays), so RDS cannot restore it; restore a logical dump instead (README, "Recovering from corruption"), or remove the setting to retire an existing recovery instance`,
      example,
    };
  }
  return { ok: true, point: { kind: "time", time } };
}

function isoSeconds(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The part of the recovery instance's identifier that names its point: `20261202143000`, or `latest`. */
export function recoveryPointLabel(point: RecoveryPoint): string {
  return point.kind === "latest" ? "latest" : isoSeconds(point.time).replace(/[-:TZ]/g, "");
}

/** `<namePrefix>-<site>-db-recovery-<yyyymmddhhmmss|latest>`: never a name the writer, a replica or a former writer can have. */
export function recoveryInstanceIdentifier(namePrefix: string, site: SiteName, point: RecoveryPoint): string {
  return `${namePrefix}-${site}-db-recovery-${recoveryPointLabel(point)}`;
}

/** The longest identifier: a timestamp label (14 digits) is longer than `latest`. */
export function longestRecoveryInstanceIdentifier(namePrefix: string, site: SiteName): string {
  return recoveryInstanceIdentifier(namePrefix, site, { kind: "time", time: new Date(Date.UTC(2099, 11, 31, 23, 59, 59)) });
}
