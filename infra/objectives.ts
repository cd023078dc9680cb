import * as pulumi from "@pulumi/pulumi";
import {
  DATABASE_PROMOTION_MINUTES,
  DATABASE_REPLICA_LAG_MINUTES,
  DATABASE_RESTORE_MINUTES,
  DEFAULT_BACKUP_INTERVAL_MINUTES,
  DEFAULT_DNS_TTL_SECONDS,
  DNS_PROPAGATION_SECONDS,
  MANUAL_DETECTION_MINUTES,
  OPERATOR_DECISION_MINUTES,
  ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD,
  S3_RTC_REPLICATION_MINUTES,
  STANDBY_SCALE_UP_MINUTES,
  UNCONTROLLED_REPLICATION_MINUTES,
} from "./assumptions";
import type { DrConfig } from "./config";
import { DataClassName, DataClassPolicy } from "./dataClasses";
import { needsReplicationTimeControl } from "./replication";
import { checkScheduleExpression } from "./scheduleExpression";
import { SiteName, SiteRole } from "./roles";
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

/** How a data class's backups reach the peer region. */
export type ReplicationMechanism = "time-controlled" | "uncontrolled" | "none";

/**
 * What the site provisions that bounds recovery time and data loss. Optional
 * fields are mechanisms not provisioned (yet): the arithmetic then falls back
 * to the conservative defaults in infra/assumptions.ts and says so.
 */
export interface RecoveryMechanisms {
  /** TTL of the health-checked failover record; absent: no failover record, DEFAULT_DNS_TTL_SECONDS. */
  dnsTtlSeconds?: number;
  /** Seconds between health checks of the active endpoint; absent: no health check, a person detects the outage. */
  healthCheckIntervalSeconds?: number;
  /** Consecutive failed checks before the endpoint counts as down; absent with an interval: Route 53's default. */
  healthCheckFailureThreshold?: number;
  /** Whether the database streams to a replica in the peer region (promoted on failover) rather than being restored from a dump. */
  databaseReplica: boolean;
  /** Interval between scheduled backups of each tier's data; a tier absent here is assumed backed up daily. */
  backupIntervalMinutes: Partial<Record<TierName, number>>;
  /** How each data class's backups reach the peer's bucket. */
  replication: Record<DataClassName, ReplicationMechanism>;
}

/** Data classes whose data lives in the database, so a database replica protects them continuously. */
export const DATABASE_DATA_CLASSES: readonly DataClassName[] = ["db"];

/**
 * The mechanisms a site provisions, derived from its config the same way the
 * program derives the resources: the failover DNS (TTL, and health checks in
 * the health-checked modes), the standby's database replica, the backup
 * schedules per tier and the bucket replication per data class.
 */
export function recoveryMechanisms(config: DrConfig): RecoveryMechanisms {
  const replication = {} as Record<DataClassName, ReplicationMechanism>;
  for (const dataClass of config.dataClasses) {
    replication[dataClass.name] = !config.peerProvisioned
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
  const healthChecked = config.dns.provider === "route53" || config.dns.cloudflare.loadBalancer;
  return {
    dnsTtlSeconds: config.dns.ttlSeconds,
    ...(healthChecked
      ? {
          healthCheckIntervalSeconds: config.dns.healthCheck.intervalSeconds,
          healthCheckFailureThreshold: config.dns.healthCheck.failureThreshold,
        }
      : {}),
    // The standby always runs a cross-region replica of the writer (infra/database.ts).
    databaseReplica: true,
    backupIntervalMinutes,
    replication,
  };
}

/** One term of a recovery-time or recovery-point sum, with the assumption behind it. */
export interface TimingStep {
  step: string;
  minutes: number;
  basis: string;
}

export function detectionStep(mechanisms: RecoveryMechanisms): TimingStep {
  if (mechanisms.healthCheckIntervalSeconds === undefined) {
    return { step: "detection", minutes: MANUAL_DETECTION_MINUTES, basis: "no health check: an operator is paged" };
  }
  const threshold = mechanisms.healthCheckFailureThreshold ?? ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD;
  return {
    step: "detection",
    minutes: (mechanisms.healthCheckIntervalSeconds * threshold) / 60,
    basis: `health check every ${mechanisms.healthCheckIntervalSeconds} s, down after ${threshold} failures`,
  };
}

export function dnsSwitchStep(mechanisms: RecoveryMechanisms): TimingStep {
  const ttl = mechanisms.dnsTtlSeconds ?? DEFAULT_DNS_TTL_SECONDS;
  return {
    step: "DNS switch",
    minutes: (ttl + DNS_PROPAGATION_SECONDS) / 60,
    basis: `${mechanisms.dnsTtlSeconds === undefined ? "no failover record yet, assumed " : ""}TTL ${ttl} s + propagation ${DNS_PROPAGATION_SECONDS} s`,
  };
}

export function databaseStep(mechanisms: RecoveryMechanisms): TimingStep {
  return mechanisms.databaseReplica
    ? { step: "database", minutes: DATABASE_PROMOTION_MINUTES, basis: "promote the cross-region replica" }
    : { step: "database", minutes: DATABASE_RESTORE_MINUTES, basis: "no replica: restore the latest dump" };
}

export function scaleUpStep(): TimingStep {
  return { step: "scale-up", minutes: STANDBY_SCALE_UP_MINUTES, basis: "standby workloads to full size" };
}

export function decisionStep(): TimingStep {
  return { step: "decision", minutes: OPERATOR_DECISION_MINUTES, basis: "an operator confirms the loss and starts the reviewed failover `pulumi up`" };
}

/** Whether DNS moves traffic on its own once health checks fail, or only when the failover `up` changes the record. */
export function dnsFollowsHealthChecks(mechanisms: RecoveryMechanisms): boolean {
  return mechanisms.healthCheckIntervalSeconds !== undefined;
}

export interface RecoveryTime {
  minutes: number;
  steps: TimingStep[];
  /** How the steps add up, e.g. `detection 0.5 + max(DNS switch 2, decision 10 + max(database 10, scale-up 10))`. */
  expression: string;
}

/**
 * Time from losing the active site to serving users from the other.
 * Nothing starts before the outage is detected. Only a person's reviewed
 * `pulumi up` promotes the database and scales the standby (docs/design.md
 * rule 4), so after detection come the operator's decision and that
 * `up`, in series; inside the `up` the promotion and the scale-up run side by
 * side. Health-checked DNS moves traffic on its own after detection, in
 * parallel with all of that; a plain record moves only in the `up`, after the
 * promotion (the DNS change depends on the database). Users are served once
 * both traffic and the writer are there.
 */
export function recoveryTime(mechanisms: RecoveryMechanisms): RecoveryTime {
  const detection = detectionStep(mechanisms);
  const decision = decisionStep();
  const database = databaseStep(mechanisms);
  const scaleUp = scaleUpStep();
  const dns = dnsSwitchStep(mechanisms);
  const term = (step: TimingStep) => `${step.step} ${round(step.minutes)}`;
  if (dnsFollowsHealthChecks(mechanisms)) {
    const up = decision.minutes + Math.max(database.minutes, scaleUp.minutes);
    return {
      minutes: roundUp(detection.minutes + Math.max(dns.minutes, up)),
      steps: [detection, dns, decision, database, scaleUp],
      expression: `${term(detection)} + max(${term(dns)}, ${term(decision)} + max(${term(database)}, ${term(scaleUp)}))`,
    };
  }
  return {
    minutes: roundUp(detection.minutes + decision.minutes + Math.max(database.minutes + dns.minutes, scaleUp.minutes)),
    steps: [detection, decision, database, dns, scaleUp],
    expression: `${term(detection)} + ${term(decision)} + max(${term(database)} + ${term(dns)}, ${term(scaleUp)})`,
  };
}

/** Worst-case minutes for a backup to reach the peer's bucket; null when it never does. */
export function replicationMinutes(mechanism: ReplicationMechanism): number | null {
  switch (mechanism) {
    case "time-controlled":
      return S3_RTC_REPLICATION_MINUTES;
    case "uncontrolled":
      return UNCONTROLLED_REPLICATION_MINUTES;
    case "none":
      return null;
  }
}

export interface DataClassRecoveryPoint {
  dataClass: DataClassName;
  tier: TierName;
  /** Worst-case data loss in minutes if the active site is lost now; null: no bound (nothing reaches the peer). */
  minutes: number | null;
  basis: string;
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
          basis: `${scheduled} + ${replication === "time-controlled" ? "S3 RTC" : "uncontrolled S3"} replication ${delay} min`,
        };
  if (mechanisms.databaseReplica && DATABASE_DATA_CLASSES.includes(dataClass.name)) {
    if (viaBackups.minutes === null || DATABASE_REPLICA_LAG_MINUTES < viaBackups.minutes) {
      return { dataClass: dataClass.name, tier: dataClass.tier, minutes: DATABASE_REPLICA_LAG_MINUTES, basis: "database replica lag" };
    }
  }
  return { dataClass: dataClass.name, tier: dataClass.tier, ...viaBackups };
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
  };
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
          `Fix: back the data up more often, replicate it with S3 RTC or give the database a replica${relax}, ` +
          `or move the data class to another tier (${worst.map((point) => `${point.dataClass}Tier`).join(", ")}).`,
      );
    }
    if (!tier.rtoMet) {
      const bases = posture.recoveryTime.steps.map((step) => `${step.step}: ${step.basis}`).join("; ");
      messages.push(
        `tier ${tier.tier}: RTO objective ${tier.objectives.rtoMinutes} min, but failover takes ${tier.achievedRtoMinutes} min ` +
          `[${posture.recoveryTime.expression}; ${bases}]. ` +
          `Fix: a health-checked failover record with a short TTL and a database replica shorten it, and the operator's decision ` +
          `and the failover \`up\` always count; or relax the objective: ${set(`${stem}RtoMinutes`, String(tier.achievedRtoMinutes))}.`,
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
 */
export function enforceObjectives(posture: DrPosture, stack: string, warn: (message: string) => void): void {
  const shortfalls = objectiveShortfalls(posture, stack);
  if (shortfalls.length === 0) {
    return;
  }
  if (posture.enforcement === "error") {
    throw new ObjectivesError(stack, shortfalls);
  }
  warn(
    [
      `drstack recovery objectives of stack "${stack}" are NOT met (objectivesEnforcement is warn, so deploying anyway):`,
      ...shortfalls.map((shortfall) => `  - ${shortfall}`),
    ].join("\n"),
  );
}

function roundUp(minutes: number): number {
  return Math.ceil(minutes * 10 - 1e-9) / 10;
}

function round(minutes: number): number {
  return Math.round(minutes * 10) / 10;
}
