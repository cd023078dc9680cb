import * as pulumi from "@pulumi/pulumi";
import {
  DATABASE_PROMOTION_MINUTES,
  DATABASE_REPLICA_LAG_MINUTES,
  DATABASE_RESTORE_MINUTES,
  DEFAULT_BACKUP_INTERVAL_MINUTES,
  DEFAULT_DNS_TTL_SECONDS,
  DNS_PROPAGATION_SECONDS,
  MANUAL_DETECTION_MINUTES,
  MINIO_REPLICATION_MINUTES,
  OPERATOR_DECISION_MINUTES,
  ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD,
  S3_RTC_REPLICATION_MINUTES,
  STANDBY_SCALE_UP_MINUTES,
  UNCONTROLLED_REPLICATION_MINUTES,
} from "./assumptions";
import type { DrConfig, SharedConfig } from "./config";
import { DataClassName, DataClassPolicy } from "./dataClasses";
import { healthCheckAlarmPlacement, healthCheckStatusAlarm, ROUTE53_METRICS_REGION } from "./dns";
import { pointInTimeRecovery } from "./pointInTimeRecovery";
import { needsReplicationTimeControl } from "./replication";
import { checkScheduleExpression } from "./scheduleExpression";
import { peerOf, SiteName, SiteRole } from "./roles";
import { databaseMode, DatabaseMode } from "./sitePlan";
import { DatabaseEngine, ENGINE_PROFILES } from "./engines";
import { RecoveryObjectives, TIER_NAMES, TierName, tierKeyStem, TierObjectives } from "./tiers";

/**
 * Objectives as code (docs/design.md, rule 5): from the mechanisms a site
 * provisions, compute the RTO and RPO it can actually achieve per tier, and
 * refuse (or warn about) a configuration whose objectives those mechanisms
 * cannot meet. Every figure drstack assumes about a mechanism it does not
 * control comes from infra/assumptions.ts.
 */

export const OBJECTIVES_ENFORCEMENT_MODES = ["error", "warn"] as const;
export type ObjectivesEnforcement = (typeof OBJECTIVES_ENFORCEMENT_MODES)[number];

/** How a data class's backups reach the peer: S3 replication with or without RTC, MinIO's site-to-site bucket replication, or not at all. */
export type ReplicationMechanism = "time-controlled" | "uncontrolled" | "site-to-site" | "none";

/**
 * What the site provisions that bounds recovery time and data loss. Optional
 * fields are mechanisms not provisioned (yet): the arithmetic then falls back
 * to the conservative defaults in infra/assumptions.ts and says so.
 */
export interface RecoveryMechanisms {
  /** TTL of the failover record; absent: no failover record, DEFAULT_DNS_TTL_SECONDS. */
  dnsTtlSeconds?: number;
  /** Seconds between health checks of the active endpoint; absent: no health check, DNS moves only in the failover `up`. */
  healthCheckIntervalSeconds?: number;
  /** Consecutive failed checks before the endpoint counts as down; absent with an interval: Route 53's default. */
  healthCheckFailureThreshold?: number;
  /**
   * Minutes from the health checks finding the active site down to their
   * alarm notifying the alarm topic, which pages the operator. Absent: no
   * alarm is declared on the health checks (or there are none), so a person
   * notices the outage some other way.
   */
  healthCheckAlarmMinutes?: number;
  /** Why no alarm pages the operator although health checks exist; set only then. */
  healthCheckAlarmAbsence?: string;
  /**
   * Whether the site that takes over (the standby) runs a cross-region
   * replica of the writer, promoted on failover, rather than restoring the
   * latest dump: true only when the peer is provisioned and the standby's
   * database is a replica (infra/sitePlan.ts, `databaseMode`), not a former
   * writer awaiting its rebuild.
   */
  databaseReplica: boolean;
  /**
   * `databaseEngine`. Promotion, replica lag and point-in-time recovery are
   * RDS's for every engine, so the figures are the same; the plan and the DR
   * diff show which engine they are for. Absent in postures of older revisions.
   */
  databaseEngine?: DatabaseEngine;
  /**
   * A Docker site's own promotion and start-up (infra/docker/objectives.ts):
   * its agent promotes the streaming standby within a guard interval of the
   * `up`, and containers start instead of Deployments scaling. Absent: an
   * AWS site's RDS promotion and Kubernetes scale-up.
   */
  selfHosted?: { promotionMinutes: number; promotionBasis: string; scaleUpMinutes: number; scaleUpBasis: string };
  /** Interval between scheduled backups of each tier's data; a tier absent here is assumed backed up daily. */
  backupIntervalMinutes: Partial<Record<TierName, number>>;
  /** How each data class's backups reach the peer's bucket. */
  replication: Record<DataClassName, ReplicationMechanism>;
  /**
   * Point-in-time recovery of the database (RDS automated backups): the data
   * lost restoring to just before a corruption. Absent: none, so the newest
   * dump before the corruption is what a restore gets back.
   */
  pointInTimeRecoveryMinutes?: number;
  /**
   * How long restoring the databases from their dumps took in the last
   * passed restore drills (`drstack plan --drills`); absent: no drill
   * measured it, so DATABASE_RESTORE_MINUTES is assumed.
   */
  measuredRestore?: { minutes: number; basis: string };
}

/** Data classes whose data lives in the database, so a database replica protects them continuously. */
export const DATABASE_DATA_CLASSES: readonly DataClassName[] = ["db"];

/**
 * A mechanism the pair lacks only while it is part-way through a procedure
 * the README documents (the first deployment, failback), and the step that
 * provides it. A shortfall it causes is reported, never enforced: stopping
 * the `up` would stop that procedure, the failover itself included.
 */
export interface InterimGap {
  /** What is missing and why, e.g. "the standby primary's database is a former writer, not a replica". */
  missing: string;
  /** The documented step that provides it, with the commands. */
  providedBy: string;
}

/** The standby site (the one a failover goes to) and how its current database runs. */
export function standbyDatabase(config: Pick<DrConfig, "activeSite" | "database">): { site: SiteName; mode: DatabaseMode } {
  const site = peerOf(config.activeSite);
  return { site, mode: databaseMode(site, config.activeSite, config.database.generations) };
}

/** What the pair lacks for now and the step that provides it (empty in normal operation). */
export function interimGaps(config: Pick<SharedConfig, "peerProvisioned" | "peer" | "stack" | "activeSite" | "database">): InterimGap[] {
  const gaps: InterimGap[] = [];
  if (!config.peerProvisioned) {
    gaps.push({
      missing: `peerProvisioned is false: the ${config.peer} site is not deployed yet, so no backup reaches it and no replica runs there`,
      providedBy: `deploy the ${config.peer} stack, then run \`pulumi -s ${config.stack} config rm peerProvisioned\` and \`pulumi -s ${config.stack} up\` (README, Deploy)`,
    });
  }
  const standby = standbyDatabase(config);
  if (standby.mode === "fenced") {
    const key = `${standby.site}DatabaseGeneration`;
    gaps.push({
      missing: `the standby ${standby.site}'s database is a former writer, not a replica, so a failover to it would restore the latest dump`,
      providedBy: `set ${key} to ${config.database.generations[standby.site] + 1} in both stack files and run \`pulumi -s ${standby.site} up\`, which rebuilds it as a replica (README, Failback)`,
    });
  }
  return gaps;
}

/**
 * The mechanisms a site provisions, derived from its config the same way the
 * program derives the resources: the failover DNS (TTL; in the
 * health-checked modes the health checks, and their alarm where
 * `FailoverDns` declares one), the standby's database replica, the backup
 * schedules per tier and the bucket replication per data class.
 */
export function recoveryMechanisms(config: DrConfig): RecoveryMechanisms {
  return mechanismsOf(config, { peerProvisioned: config.peerProvisioned, standbyReplica: standbyDatabase(config).mode === "replica" });
}

/** The same mechanisms once every interim gap is closed: the peer deployed, the standby's database a replica. */
export function completedRecoveryMechanisms(config: DrConfig): RecoveryMechanisms {
  return mechanismsOf(config, { peerProvisioned: true, standbyReplica: true });
}

function mechanismsOf(config: DrConfig, pair: { peerProvisioned: boolean; standbyReplica: boolean }): RecoveryMechanisms {
  const pitr = pointInTimeRecovery(config);
  const replication = {} as Record<DataClassName, ReplicationMechanism>;
  for (const dataClass of config.dataClasses) {
    replication[dataClass.name] = !pair.peerProvisioned
      ? "none"
      : needsReplicationTimeControl(config.tiers[dataClass.tier].rpoMinutes)
        ? "time-controlled"
        : "uncontrolled";
  }
  const backupIntervalMinutes: Partial<Record<TierName, number>> = {};
  for (const tier of TIER_NAMES) {
    const schedule = checkScheduleExpression(config.backups.schedules[tier]);
    if (schedule.ok && schedule.intervalMinutes !== undefined) {
      backupIntervalMinutes[tier] = schedule.intervalMinutes;
    }
  }
  return {
    dnsTtlSeconds: config.dns.ttlSeconds,
    ...healthCheckMechanisms(config),
    databaseReplica: pair.peerProvisioned && pair.standbyReplica,
    databaseEngine: config.database.engine,
    backupIntervalMinutes,
    replication,
    ...(pitr.enabled ? { pointInTimeRecoveryMinutes: pitr.rpoMinutes } : {}),
  };
}

/**
 * The health checks and their alarm as `FailoverDns` (infra/dns.ts) declares
 * them: Route 53 health checks alarm wherever `healthCheckAlarmPlacement`
 * allows; a Cloudflare load balancer's monitor has no alarm drstack declares;
 * a plain Cloudflare record has no health check at all.
 */
export function healthCheckMechanisms(config: Pick<SharedConfig, "dns" | "regions">): Pick<RecoveryMechanisms, "healthCheckIntervalSeconds" | "healthCheckFailureThreshold" | "healthCheckAlarmMinutes" | "healthCheckAlarmAbsence"> {
  if (config.dns.provider === "cloudflare" && !config.dns.cloudflare.loadBalancer) {
    return {};
  }
  const checks = { healthCheckIntervalSeconds: config.dns.healthCheck.intervalSeconds, healthCheckFailureThreshold: config.dns.healthCheck.failureThreshold };
  if (config.dns.provider === "cloudflare") {
    return { ...checks, healthCheckAlarmAbsence: "drstack declares no notification on the Cloudflare load balancer's monitor" };
  }
  if (healthCheckAlarmPlacement(config.regions) === "none") {
    return {
      ...checks,
      healthCheckAlarmAbsence: `Route 53 health-check metrics live only in ${ROUTE53_METRICS_REGION}, the primary's region, so drstack declares no alarm on them`,
    };
  }
  return { ...checks, healthCheckAlarmMinutes: HEALTH_CHECK_ALARM_MINUTES };
}

/** How long the health-check alarm takes to go off once Route 53 reports the site unhealthy: its evaluation periods (infra/dns.ts). */
const HEALTH_CHECK_ALARM_MINUTES = (() => {
  const alarm = healthCheckStatusAlarm("");
  return ((alarm.period as number) * (alarm.evaluationPeriods as number)) / 60;
})();

/** One term of a recovery-time or recovery-point sum, with the assumption behind it. */
export interface TimingStep {
  step: string;
  minutes: number;
  basis: string;
}

/** Whether DNS moves traffic on its own once health checks fail, or only when the failover `up` changes the record. */
export function dnsFollowsHealthChecks(mechanisms: RecoveryMechanisms): boolean {
  return mechanisms.healthCheckIntervalSeconds !== undefined;
}

/** Until the health checks count the active site as down: interval x failure threshold. Only in the health-checked modes. */
export function healthCheckStep(mechanisms: RecoveryMechanisms): TimingStep | undefined {
  if (mechanisms.healthCheckIntervalSeconds === undefined) {
    return undefined;
  }
  const threshold = mechanisms.healthCheckFailureThreshold ?? ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD;
  return {
    step: "health check",
    minutes: (mechanisms.healthCheckIntervalSeconds * threshold) / 60,
    basis: `every ${mechanisms.healthCheckIntervalSeconds} s, down after ${threshold} failures`,
  };
}

/**
 * Until the operator knows: the health checks' alarm pages them where one
 * is declared; everywhere else (a plain record, a health check without an
 * alarm) a person notices by other means.
 */
export function detectionStep(mechanisms: RecoveryMechanisms): TimingStep {
  const checks = healthCheckStep(mechanisms);
  if (checks === undefined) {
    return { step: "detection", minutes: MANUAL_DETECTION_MINUTES, basis: "no health check: an operator is paged by other means" };
  }
  if (mechanisms.healthCheckAlarmMinutes === undefined) {
    return {
      step: "detection",
      minutes: MANUAL_DETECTION_MINUTES,
      basis: `health checks move DNS, but no alarm pages anyone (${mechanisms.healthCheckAlarmAbsence ?? "none declared"}): an operator is paged by other means`,
    };
  }
  return {
    step: "detection",
    minutes: checks.minutes + mechanisms.healthCheckAlarmMinutes,
    basis: `the health check (${round(checks.minutes)} min), then its alarm (${round(mechanisms.healthCheckAlarmMinutes)} min) pages the operator through the alarm topic`,
  };
}

export function dnsSwitchStep(mechanisms: RecoveryMechanisms): TimingStep {
  const ttl = mechanisms.dnsTtlSeconds ?? DEFAULT_DNS_TTL_SECONDS;
  const when = dnsFollowsHealthChecks(mechanisms)
    ? "on its own once the health checks fail"
    : "in the `up`, after the promotion (the record dependsOn the database)";
  return {
    step: "DNS switch",
    minutes: (ttl + DNS_PROPAGATION_SECONDS) / 60,
    basis: `${mechanisms.dnsTtlSeconds === undefined ? "no failover record yet, assumed " : ""}TTL ${ttl} s + propagation ${DNS_PROPAGATION_SECONDS} s, ${when}`,
  };
}

export function databaseStep(mechanisms: RecoveryMechanisms): TimingStep {
  if (mechanisms.databaseReplica && mechanisms.selfHosted !== undefined) {
    return { step: "database", minutes: mechanisms.selfHosted.promotionMinutes, basis: mechanisms.selfHosted.promotionBasis };
  }
  return mechanisms.databaseReplica
    ? { step: "database", minutes: DATABASE_PROMOTION_MINUTES, basis: `promote the standby's cross-region ${ENGINE_PROFILES[mechanisms.databaseEngine ?? "postgres"].label} replica` }
    : mechanisms.measuredRestore !== undefined
      ? { step: "database", minutes: mechanisms.measuredRestore.minutes, basis: `the standby has no replica: restore the latest dump, ${mechanisms.measuredRestore.basis}` }
      : { step: "database", minutes: DATABASE_RESTORE_MINUTES, basis: "the standby has no replica: restore the latest dump (assumed; no drill has measured it)" };
}

export function scaleUpStep(mechanisms?: RecoveryMechanisms): TimingStep {
  if (mechanisms?.selfHosted !== undefined) {
    return { step: "scale-up", minutes: mechanisms.selfHosted.scaleUpMinutes, basis: mechanisms.selfHosted.scaleUpBasis };
  }
  return {
    step: "scale-up",
    minutes: STANDBY_SCALE_UP_MINUTES,
    basis:
      "standby workloads to full size, once the database step is done: the Deployments wait for the connections Secret, " +
      "which takes the database's address (infra/workloads.ts)",
  };
}

export function decisionStep(): TimingStep {
  return { step: "decision", minutes: OPERATOR_DECISION_MINUTES, basis: "an operator confirms the loss and starts the reviewed failover `pulumi up`" };
}

export interface RecoveryTime {
  minutes: number;
  steps: TimingStep[];
  /** How the steps add up, e.g. `max(health check 1.5 + DNS switch 2, detection 2.5 + decision 10 + database 10 + scale-up 10)`. */
  expression: string;
}

/**
 * Time from losing the active site to serving users from the other. Only a
 * person's reviewed `pulumi up` promotes the database and scales the standby
 * (docs/design.md rule 4), so the operator's detection, their decision and
 * that `up` come in series. Inside the `up` the engine follows the
 * dependencies: the workloads' connections Secret takes the database's
 * address, and the Deployments wait for the Secret, so the scale-up starts
 * only once the promotion is done. Health-checked DNS moves traffic on its
 * own once its checks fail, in parallel with all of that; a plain record
 * moves only in the `up`, after the promotion (the record dependsOn the
 * database), beside the scale-up. Users are served once traffic has moved and
 * the promoted, scaled-up site is there.
 */
export function recoveryTime(mechanisms: RecoveryMechanisms): RecoveryTime {
  const detection = detectionStep(mechanisms);
  const decision = decisionStep();
  const database = databaseStep(mechanisms);
  const scaleUp = scaleUpStep(mechanisms);
  const dns = dnsSwitchStep(mechanisms);
  const checks = healthCheckStep(mechanisms);
  const term = (step: TimingStep) => `${step.step} ${round(step.minutes)}`;
  if (checks !== undefined) {
    const traffic = checks.minutes + dns.minutes;
    const up = detection.minutes + decision.minutes + database.minutes + scaleUp.minutes;
    return {
      minutes: roundUp(Math.max(traffic, up)),
      steps: [checks, dns, detection, decision, database, scaleUp],
      expression: `max(${term(checks)} + ${term(dns)}, ${term(detection)} + ${term(decision)} + ${term(database)} + ${term(scaleUp)})`,
    };
  }
  return {
    minutes: roundUp(detection.minutes + decision.minutes + database.minutes + Math.max(dns.minutes, scaleUp.minutes)),
    steps: [detection, decision, database, dns, scaleUp],
    expression: `${term(detection)} + ${term(decision)} + ${term(database)} + max(${term(dns)}, ${term(scaleUp)})`,
  };
}

const REPLICATION_LABELS: Record<ReplicationMechanism, string> = {
  "time-controlled": "S3 RTC",
  uncontrolled: "uncontrolled S3",
  "site-to-site": "MinIO site-to-site",
  none: "no",
};

/** Worst-case minutes for a backup to reach the peer's bucket; null when it never does. */
export function replicationMinutes(mechanism: ReplicationMechanism): number | null {
  switch (mechanism) {
    case "time-controlled":
      return S3_RTC_REPLICATION_MINUTES;
    case "uncontrolled":
      return UNCONTROLLED_REPLICATION_MINUTES;
    case "site-to-site":
      return MINIO_REPLICATION_MINUTES;
    case "none":
      return null;
  }
}

export interface DataClassRecoveryPoint {
  dataClass: DataClassName;
  tier: TierName;
  /** Worst-case data loss in minutes, the worse of losing the active site and of a corruption; null: no bound. */
  minutes: number | null;
  basis: string;
  /** If the active site is lost now: what reached the peer. null: nothing does. */
  regionLossMinutes: number | null;
  /**
   * If the data is corrupted (a bad migration, a DELETE without WHERE): a
   * replica copies the corruption within seconds, so only point-in-time
   * recovery (database data) or the newest dump before it count.
   */
  corruptionMinutes: number;
}

/**
 * The data lost with the active site is what was written since the last copy
 * that reached the peer: a backup interval plus the replication delay, or for
 * database data with a replica, the replica's lag, whichever is smaller.
 */
export function recoveryPoint(dataClass: DataClassPolicy, mechanisms: RecoveryMechanisms): DataClassRecoveryPoint {
  const interval = mechanisms.backupIntervalMinutes[dataClass.tier] ?? DEFAULT_BACKUP_INTERVAL_MINUTES;
  const replication = mechanisms.replication[dataClass.name] ?? "none";
  const delay = replicationMinutes(replication);
  const scheduled = mechanisms.backupIntervalMinutes[dataClass.tier] === undefined ? "assumed daily backups" : `backups every ${interval} min`;
  const viaBackups =
    delay === null
      ? { minutes: null, basis: `${scheduled}, not replicated to the peer` }
      : {
          minutes: interval + delay,
          basis: `${scheduled} + ${REPLICATION_LABELS[replication]} replication ${delay} min`,
        };
  const regionLoss =
    mechanisms.databaseReplica && DATABASE_DATA_CLASSES.includes(dataClass.name) && (viaBackups.minutes === null || DATABASE_REPLICA_LAG_MINUTES < viaBackups.minutes)
      ? { minutes: DATABASE_REPLICA_LAG_MINUTES, basis: "database replica lag" }
      : viaBackups;
  const pitr = mechanisms.pointInTimeRecoveryMinutes;
  const corruption =
    pitr !== undefined && DATABASE_DATA_CLASSES.includes(dataClass.name) && pitr < interval
      ? { minutes: pitr, basis: `point-in-time recovery ${pitr} min` }
      : { minutes: interval, basis: `the newest dump before it: ${scheduled}` };
  const minutes = regionLoss.minutes === null ? null : Math.max(regionLoss.minutes, corruption.minutes);
  return {
    dataClass: dataClass.name,
    tier: dataClass.tier,
    minutes,
    basis: `region lost: ${regionLoss.basis}; corruption: ${corruption.basis}`,
    regionLossMinutes: regionLoss.minutes,
    corruptionMinutes: corruption.minutes,
  };
}

export interface TierPosture {
  tier: TierName;
  objectives: RecoveryObjectives;
  dataClasses: DataClassName[];
  achievedRtoMinutes: number;
  /** The worst recovery point among the tier's data classes; null when one has no bound. */
  achievedRpoMinutes: number | null;
  rtoMet: boolean;
  rpoMet: boolean;
  /** A tier no data class uses holds nothing to recover, so it is not judged. */
  status: "met" | "not met" | "unused";
}

/** What the objectives check concluded; exported as the `drPosture` stack output. */
export interface DrPosture {
  site: SiteName;
  role: SiteRole;
  enforcement: ObjectivesEnforcement;
  mechanisms: RecoveryMechanisms;
  recoveryTime: RecoveryTime;
  dataClasses: DataClassRecoveryPoint[];
  tiers: TierPosture[];
  /** True when every used tier is met. */
  met: boolean;
  /** What the pair lacks only for now (the first deployment, failback); empty in normal operation. */
  interimGaps: InterimGap[];
  /** With interim gaps: the posture once they are closed, which is what enforcement judges. */
  whenComplete?: DrPosture;
}

export interface PostureInput {
  stack: string;
  site: SiteName;
  role: SiteRole;
  tiers: TierObjectives;
  dataClasses: DataClassPolicy[];
  objectivesEnforcement: ObjectivesEnforcement;
}

export function assessPosture(input: PostureInput, mechanisms: RecoveryMechanisms): DrPosture {
  const time = recoveryTime(mechanisms);
  const points = input.dataClasses.map((dataClass) => recoveryPoint(dataClass, mechanisms));
  const tiers = TIER_NAMES.map((tier): TierPosture => {
    const objectives = input.tiers[tier];
    const inTier = points.filter((point) => point.tier === tier);
    const unbounded = inTier.some((point) => point.minutes === null);
    const achievedRpoMinutes = unbounded ? null : Math.max(0, ...inTier.map((point) => point.minutes as number));
    const rtoMet = time.minutes <= objectives.rtoMinutes;
    const rpoMet = achievedRpoMinutes !== null && achievedRpoMinutes <= objectives.rpoMinutes;
    return {
      tier,
      objectives,
      dataClasses: inTier.map((point) => point.dataClass),
      achievedRtoMinutes: time.minutes,
      achievedRpoMinutes,
      rtoMet,
      rpoMet,
      status: inTier.length === 0 ? "unused" : rtoMet && rpoMet ? "met" : "not met",
    };
  });
  return {
    site: input.site,
    role: input.role,
    enforcement: input.objectivesEnforcement,
    mechanisms,
    recoveryTime: time,
    dataClasses: points,
    tiers,
    met: tiers.every((tier) => tier.status !== "not met"),
    interimGaps: [],
  };
}

/**
 * The posture with the restore time the drills measured in place of the
 * assumed one: the failover time and each tier's RTO judged again (the data
 * loss does not depend on it). With a replica the measure changes nothing
 * in the failover, which promotes rather than restores.
 */
export function withMeasuredRestore(posture: DrPosture, measuredRestore: { minutes: number; basis: string }): DrPosture {
  const mechanisms = { ...posture.mechanisms, measuredRestore };
  const time = recoveryTime(mechanisms);
  const tiers = posture.tiers.map((tier): TierPosture => {
    const rtoMet = time.minutes <= tier.objectives.rtoMinutes;
    return { ...tier, achievedRtoMinutes: time.minutes, rtoMet, status: tier.status === "unused" ? "unused" : rtoMet && tier.rpoMet ? "met" : "not met" };
  });
  return {
    ...posture,
    mechanisms,
    recoveryTime: time,
    tiers,
    met: tiers.every((tier) => tier.status !== "not met"),
    whenComplete: posture.whenComplete === undefined ? undefined : withMeasuredRestore(posture.whenComplete, measuredRestore),
  };
}

/**
 * The site's posture as `deploySite` exports it: what its mechanisms achieve
 * now, and, while the pair is part-way through a documented procedure, what
 * they achieve once that procedure is complete.
 */
export function assessSitePosture(config: DrConfig): DrPosture {
  const posture = assessPosture(config, recoveryMechanisms(config));
  const gaps = interimGaps(config);
  return gaps.length === 0 ? posture : { ...posture, interimGaps: gaps, whenComplete: assessPosture(config, completedRecoveryMechanisms(config)) };
}

function formatMinutes(minutes: number | null): string {
  return minutes === null ? "no bound" : `${minutes} min`;
}

/** One sentence per objective a tier misses: what is asked, what is achieved and why, and the config to change. */
export function objectiveShortfalls(posture: DrPosture, stack: string): string[] {
  const set = (key: string, value: string) => `pulumi -s ${stack} config set ${key} ${value}`;
  const messages: string[] = [];
  for (const tier of posture.tiers.filter((t) => t.status === "not met")) {
    const stem = tierKeyStem(tier.tier);
    if (!tier.rpoMet) {
      const worst = posture.dataClasses.filter((point) => point.tier === tier.tier && (point.minutes === null || point.minutes > tier.objectives.rpoMinutes));
      const why = worst.map((point) => `${point.dataClass}/: ${formatMinutes(point.minutes)} (${point.basis})`).join("; ");
      const relax = tier.achievedRpoMinutes === null ? "" : `, or relax the objective: ${set(`${stem}RpoMinutes`, String(tier.achievedRpoMinutes))}`;
      messages.push(
        `tier ${tier.tier}: RPO objective ${tier.objectives.rpoMinutes} min, but the mechanisms achieve ${formatMinutes(tier.achievedRpoMinutes)} [${why}]. ` +
          `Fix: back the data up more often (${stem}BackupSchedule; S3 RTC already carries every tier whose RPO is under a day, and only database data has the replica)${relax}, ` +
          `or move the data class to another tier (${worst.map((point) => `${point.dataClass}Tier`).join(", ")}).`,
      );
    }
    if (!tier.rtoMet) {
      const bases = posture.recoveryTime.steps.map((step) => `${step.step}: ${step.basis}`).join("; ");
      messages.push(
        `tier ${tier.tier}: RTO objective ${tier.objectives.rtoMinutes} min, but failover takes ${tier.achievedRtoMinutes} min ` +
          `[${posture.recoveryTime.expression}; ${bases}]. ` +
          `Fix: Route 53 failover records (dnsProvider route53; alarmed unless the primary is in us-east-1) move DNS on their health checks and page the operator with their alarm, ` +
          `and a short TTL shortens the switch; the operator's decision and the failover \`up\` (the promotion, then the scale-up) always count; ` +
          `or relax the objective: ${set(`${stem}RtoMinutes`, String(Math.ceil(tier.achievedRtoMinutes)))}.`,
      );
    }
  }
  return messages;
}

/** A `RunError`, like ConfigError: the language host prints its message alone. */
export class ObjectivesError extends pulumi.RunError {
  constructor(
    readonly stackName: string,
    readonly shortfalls: string[],
  ) {
    super(
      [
        `drstack recovery objectives of stack "${stackName}" cannot be met by what it provisions; nothing was deployed:`,
        ...shortfalls.map((shortfall) => `  - ${shortfall}`),
        `To deploy anyway and only warn: pulumi -s ${stackName} config set objectivesEnforcement warn`,
      ].join("\n"),
    );
    this.name = "ObjectivesError";
  }
}

/**
 * Throws an ObjectivesError naming every missed objective when enforcement is
 * `error`; with `warn`, hands the same message to `warn` and carries on.
 * While the pair has interim gaps, only what would still be missed once they
 * are closed is enforced: what they alone cause is warned about, with the
 * step that closes them, because refusing the `up` would refuse the failover
 * or failback step the pair is in.
 */
export function enforceObjectives(posture: DrPosture, stack: string, warn: (message: string) => void): void {
  const shortfalls = objectiveShortfalls(posture, stack);
  if (shortfalls.length === 0) {
    return;
  }
  const lasting = posture.whenComplete === undefined ? shortfalls : objectiveShortfalls(posture.whenComplete, stack);
  if (posture.enforcement === "error" && lasting.length > 0) {
    throw new ObjectivesError(stack, lasting);
  }
  const interim = posture.interimGaps;
  const header =
    interim.length === 0
      ? `drstack recovery objectives of stack "${stack}" are NOT met (objectivesEnforcement is warn, so deploying anyway):`
      : `drstack recovery objectives of stack "${stack}" are NOT met for now, and this up goes ahead: ${interim.map((gap) => gap.missing).join("; ")}. ` +
        `To close the gap: ${interim.map((gap) => gap.providedBy).join("; ")}. ` +
        (lasting.length === 0
          ? "Once it is closed every used tier is met."
          : "Even then some tiers are not met (objectivesEnforcement is warn, so deploying anyway).");
  warn([header, ...shortfalls.map((shortfall) => `  - ${shortfall}`)].join("\n"));
}

function roundUp(minutes: number): number {
  return Math.ceil(minutes * 10 - 1e-9) / 10;
}

function round(minutes: number): number {
  return Math.round(minutes * 10) / 10;
}
