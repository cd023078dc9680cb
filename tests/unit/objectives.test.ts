import * as fs from "fs";
import * as path from "path";
import * as assumptions from "../../infra/assumptions";
import { ConfigError, parseConfig } from "../../infra/config";
import { DATA_CLASSES, DataClassPolicy } from "../../infra/dataClasses";
import {
  assessPosture,
  assessSitePosture,
  databaseStep,
  detectionStep,
  dnsSwitchStep,
  enforceObjectives,
  healthCheckStep,
  interimGaps,
  ObjectivesError,
  PostureInput,
  RecoveryMechanisms,
  recoveryMechanisms,
  recoveryPoint,
  recoveryTime,
  replicationMinutes,
  scaleUpStep,
} from "../../infra/objectives";
import { TierName, TierObjectives } from "../../infra/tiers";
import { healthCheckAlarmPlacement, healthCheckStatusAlarm } from "../../infra/dns";
import { revealSecrets } from "../../offline/evaluate";
import { declaredDefaults } from "./configHelpers";
import { evaluate, resourcesOfType, single } from "./evaluations";

// Each test evaluates the program with the mock runtime, up to four stacks (the active secondary beside its standby past); allow for a slow machine.
jest.setTimeout(60_000);

/** The example's objectives (docs/design.md, Pulumi.yaml's defaults). */
const EXAMPLE_TIERS: TierObjectives = {
  critical: { rtoMinutes: 35, rpoMinutes: 5 },
  high: { rtoMinutes: 60, rpoMinutes: 30 },
  standard: { rtoMinutes: 240, rpoMinutes: 120 },
  low: { rtoMinutes: 1440, rpoMinutes: 2880 },
};

function dataClass(name: keyof typeof DATA_CLASSES, tier: TierName): DataClassPolicy {
  return { ...DATA_CLASSES[name], retentionDays: DATA_CLASSES[name].minimumRetentionDays, tier };
}

/** A site with everything drstack offers: Route 53 health checks every 10 s and their alarm, a replica, point-in-time recovery, frequent backups, RTC everywhere. */
const FULL: RecoveryMechanisms = {
  dnsTtlSeconds: 60,
  healthCheckIntervalSeconds: 10,
  healthCheckFailureThreshold: 3,
  healthCheckAlarmMinutes: 1,
  databaseReplica: true,
  backupIntervalMinutes: { critical: 60, high: 15, standard: 60, low: 720 },
  replication: { db: "time-controlled", critical: "time-controlled", archive: "time-controlled", financial: "time-controlled" },
  pointInTimeRecoveryMinutes: 5,
};
/** A plain record: no health check, so no alarm either. */
const PLAIN: RecoveryMechanisms = { ...FULL, healthCheckIntervalSeconds: undefined, healthCheckFailureThreshold: undefined, healthCheckAlarmMinutes: undefined };

function input(overrides: Partial<PostureInput> = {}): PostureInput {
  return {
    stack: "primary",
    site: "primary",
    role: "active",
    tiers: EXAMPLE_TIERS,
    // As the example stacks map them: critical/ holds backup files, which S3 cannot bring under the critical tier's 5 min RPO.
    dataClasses: [dataClass("db", "critical"), dataClass("critical", "high"), dataClass("financial", "standard"), dataClass("archive", "low")],
    objectivesEnforcement: "error",
    ...overrides,
  };
}

describe("recovery time, one mechanism at a time", () => {
  test("the health check counts the site down after interval x failure threshold", () => {
    expect(healthCheckStep({ ...FULL, healthCheckIntervalSeconds: 30, healthCheckFailureThreshold: 4 })?.minutes).toBe(2);
    expect(healthCheckStep(PLAIN)).toBeUndefined();
  });

  test("a health check without a threshold uses Route 53's default threshold", () => {
    const step = healthCheckStep({ ...FULL, healthCheckIntervalSeconds: 30, healthCheckFailureThreshold: undefined });
    expect(step?.minutes).toBe((30 * assumptions.ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD) / 60);
  });

  test("the operator is paged by the health checks' alarm: the health check, then the alarm", () => {
    const step = detectionStep({ ...FULL, healthCheckIntervalSeconds: 30, healthCheckFailureThreshold: 3, healthCheckAlarmMinutes: 1 });
    expect(step.minutes).toBe(1.5 + 1);
    expect(step.basis).toMatch(/alarm .* pages the operator/);
  });

  test("health checks without an alarm move DNS but page nobody: a person detects the outage, and the breakdown says why", () => {
    const step = detectionStep({ ...FULL, healthCheckAlarmMinutes: undefined, healthCheckAlarmAbsence: "drstack declares no notification on the Cloudflare load balancer's monitor" });
    expect(step.minutes).toBe(assumptions.MANUAL_DETECTION_MINUTES);
    expect(step.basis).toMatch(/no alarm pages anyone \(drstack declares no notification on the Cloudflare load balancer's monitor\)/);
  });

  test("without a health check a person detects the outage", () => {
    const step = detectionStep(PLAIN);
    expect(step.minutes).toBe(assumptions.MANUAL_DETECTION_MINUTES);
    expect(step.basis).toMatch(/no health check/);
  });

  test("the DNS switch is the TTL plus propagation, and the plans' 300 s when no record is provisioned", () => {
    expect(dnsSwitchStep({ ...FULL, dnsTtlSeconds: 60 }).minutes).toBe((60 + assumptions.DNS_PROPAGATION_SECONDS) / 60);
    expect(dnsSwitchStep({ ...FULL, dnsTtlSeconds: undefined }).minutes).toBe(
      (assumptions.DEFAULT_DNS_TTL_SECONDS + assumptions.DNS_PROPAGATION_SECONDS) / 60,
    );
  });

  test("a database replica is promoted; without one the dump is restored", () => {
    expect(databaseStep({ ...FULL, databaseReplica: true }).minutes).toBe(assumptions.DATABASE_PROMOTION_MINUTES);
    expect(databaseStep({ ...FULL, databaseReplica: false }).minutes).toBe(assumptions.DATABASE_RESTORE_MINUTES);
  });

  test("the scale-up follows the promotion, and its breakdown says why", () => {
    expect(scaleUpStep().basis).toMatch(/once the database step is done: the Deployments wait for the connections Secret, which takes the database's address/);
  });

  test("with alarmed health checks: DNS moves on its own, beside the alarm, the decision, the promotion and then the scale-up, in series", () => {
    // max(0.5 health check + 2 DNS, 1.5 detection + 10 decision + 10 promotion + 10 scale-up)
    expect(recoveryTime(FULL).minutes).toBe(0.5 + 1 + assumptions.OPERATOR_DECISION_MINUTES + assumptions.DATABASE_PROMOTION_MINUTES + assumptions.STANDBY_SCALE_UP_MINUTES);
    expect(recoveryTime(FULL).minutes).toBe(31.5);
    expect(recoveryTime(FULL).expression).toBe("max(health check 0.5 + DNS switch 2, detection 1.5 + decision 10 + database 10 + scale-up 10)");
    expect(recoveryTime(FULL).steps.map((step) => step.step)).toEqual(["health check", "DNS switch", "detection", "decision", "database", "scale-up"]);
    // without a replica the restore (60) replaces the promotion, and the scale-up still waits for it
    expect(recoveryTime({ ...FULL, databaseReplica: false }).minutes).toBe(81.5);
    // a long TTL can outlast the whole `up`; rounded up to a tenth of a minute
    expect(recoveryTime({ ...FULL, dnsTtlSeconds: 3600 }).minutes).toBe(61.5);
    expect(recoveryTime({ ...FULL, dnsTtlSeconds: 3601 }).minutes).toBe(61.6);
  });

  test("health checks without an alarm: DNS still moves on its own, but the `up` waits for a person to notice", () => {
    const unalarmed = { ...FULL, healthCheckAlarmMinutes: undefined };
    expect(recoveryTime(unalarmed).minutes).toBe(15 + 10 + 10 + 10);
    expect(recoveryTime(unalarmed).expression).toBe("max(health check 0.5 + DNS switch 2, detection 15 + decision 10 + database 10 + scale-up 10)");
  });

  test("the operator's decision and the `up` count even with the fastest health checks: no failover beats them", () => {
    const instant = { ...FULL, healthCheckIntervalSeconds: 1, healthCheckFailureThreshold: 1, dnsTtlSeconds: 1, healthCheckAlarmMinutes: 0 };
    expect(recoveryTime(instant).minutes).toBeGreaterThanOrEqual(
      assumptions.OPERATOR_DECISION_MINUTES + assumptions.DATABASE_PROMOTION_MINUTES + assumptions.STANDBY_SCALE_UP_MINUTES,
    );
  });

  test("with a plain record: a person detects and decides, the `up` promotes, then moves DNS beside the scale-up", () => {
    // 15 detection + 10 decision + 10 promotion + max(2 DNS, 10 scale-up)
    expect(recoveryTime(PLAIN).minutes).toBe(45);
    expect(recoveryTime(PLAIN).expression).toBe("detection 15 + decision 10 + database 10 + max(DNS switch 2, scale-up 10)");
    expect(recoveryTime({ ...PLAIN, databaseReplica: false }).minutes).toBe(15 + 10 + 60 + 10);
    expect(dnsSwitchStep(PLAIN).basis).toMatch(/after the promotion/);
  });
});

describe("infra/assumptions.ts", () => {
  const source = fs.readFileSync(path.join(__dirname, "../../infra/assumptions.ts"), "utf8");

  test("gives every figure its source, or says it is drstack's own estimate or budget", () => {
    // Each figure with the doc comment above it (two figures may share one).
    const figures = [...source.matchAll(/export const (\w+)/g)].map((match) => {
      const before = source.slice(0, match.index);
      return [match[1], before.slice(before.lastIndexOf("/**")).replace(/\s*\n\s*\*\s*/g, " ")] as const;
    });
    expect(figures.map(([name]) => name).sort()).toEqual(Object.keys(assumptions).sort());
    for (const [name, comment] of figures) {
      const sourced = /(User Guide|Developer Guide|API Reference|SLA|docs\/design\.md|https:\/\/|document)/.test(comment);
      const estimate = /drstack's (own )?(estimate|budget)|drstack budgets|drstack treats/.test(comment);
      expect({ name, sourcedOrEstimate: sourced || estimate }).toEqual({ name, sourcedOrEstimate: true });
    }
  });
});

describe("recovery point, one mechanism at a time", () => {
  test("replication delay: RTC 15 min, uncontrolled a day, none unbounded", () => {
    expect(replicationMinutes("time-controlled")).toBe(assumptions.S3_RTC_REPLICATION_MINUTES);
    expect(replicationMinutes("uncontrolled")).toBe(assumptions.UNCONTROLLED_REPLICATION_MINUTES);
    expect(replicationMinutes("none")).toBeNull();
  });

  test("backed-up data loses the backup interval plus the replication delay", () => {
    expect(recoveryPoint(dataClass("financial", "standard"), FULL).minutes).toBe(60 + 15);
  });

  test("a tier without a backup schedule is assumed backed up daily", () => {
    const point = recoveryPoint(dataClass("financial", "standard"), { ...FULL, backupIntervalMinutes: {} });
    expect(point.minutes).toBe(assumptions.DEFAULT_BACKUP_INTERVAL_MINUTES + 15);
    expect(point.basis).toMatch(/assumed daily/);
  });

  test("backups that never reach the peer give no bound", () => {
    const point = recoveryPoint(dataClass("financial", "standard"), { ...FULL, replication: { ...FULL.replication, financial: "none" } });
    expect(point.minutes).toBeNull();
  });

  test("database data with a replica loses only the replica lag with the region, and point-in-time recovery's 5 min to a corruption", () => {
    const point = recoveryPoint(dataClass("db", "critical"), FULL);
    expect(point).toMatchObject({ regionLossMinutes: assumptions.DATABASE_REPLICA_LAG_MINUTES, corruptionMinutes: 5, minutes: 5 });
    expect(point.basis).toBe("region lost: database replica lag; corruption: point-in-time recovery 5 min");
    expect(recoveryPoint(dataClass("db", "critical"), { ...FULL, databaseReplica: false }).minutes).toBe(60 + 15);
  });

  test("a replica copies a corruption, so without point-in-time recovery the newest dump before it is what a restore gets back", () => {
    const point = recoveryPoint(dataClass("db", "critical"), { ...FULL, pointInTimeRecoveryMinutes: undefined });
    expect(point).toMatchObject({ regionLossMinutes: assumptions.DATABASE_REPLICA_LAG_MINUTES, corruptionMinutes: 60, minutes: 60 });
    // File backups have no point-in-time recovery: their last dump bounds both cases.
    expect(recoveryPoint(dataClass("critical", "critical"), FULL)).toMatchObject({ corruptionMinutes: 60, regionLossMinutes: 75, minutes: 75 });
  });

  test("a replica protects only database data, not file backups", () => {
    expect(recoveryPoint(dataClass("critical", "critical"), FULL).minutes).toBe(60 + 15);
  });
});

describe("posture per tier (the example objectives, docs/design.md)", () => {
  test("the full set of mechanisms meets every tier of the example objectives", () => {
    const posture = assessPosture(input(), FULL);
    expect(posture.tiers.map((tier) => [tier.tier, tier.status])).toEqual([
      ["critical", "met"],
      ["high", "met"],
      ["standard", "met"],
      ["low", "met"],
    ]);
    expect(posture.tiers[0]).toMatchObject({ achievedRtoMinutes: 31.5, achievedRpoMinutes: 5 }) // PITR against corruption; the replica alone would be 1 min;
    // high holds critical/ backups every 15 min + RTC 15 = 30 = its RPO
    expect(posture.tiers.find((tier) => tier.tier === "high")).toMatchObject({ achievedRpoMinutes: 30, rpoMet: true });
    expect(posture).toMatchObject({ met: true, interimGaps: [] });
  });

  test("no mechanism meets a 15 min RTO: the operator's decision and the `up` always count", () => {
    const posture = assessPosture(input({ tiers: { ...EXAMPLE_TIERS, critical: { rtoMinutes: 15, rpoMinutes: 5 } } }), FULL);
    expect(posture.tiers[0]).toMatchObject({ status: "not met", rtoMet: false, rpoMet: true });
  });

  test("backup files cannot meet a 5 min RPO: S3 RTC alone takes up to 15 min; only database data, through the replica, does", () => {
    const posture = assessPosture(input({ dataClasses: [dataClass("db", "critical"), dataClass("critical", "critical")] }), { ...FULL, backupIntervalMinutes: { critical: 1 } });
    expect(posture.dataClasses.map((point) => [point.dataClass, point.minutes])).toEqual([
      ["db", assumptions.DATABASE_REPLICA_LAG_MINUTES],
      ["critical", 1 + assumptions.S3_RTC_REPLICATION_MINUTES],
    ]);
    expect(posture.tiers[0].rpoMet).toBe(false);
  });

  test("uncontrolled replication alone uses up a day, so archive/ with daily backups needs a two-day RPO", () => {
    const posture = assessPosture(input(), { ...FULL, backupIntervalMinutes: { ...FULL.backupIntervalMinutes, low: 1440 }, replication: { ...FULL.replication, archive: "uncontrolled" } });
    expect(posture.tiers.find((tier) => tier.tier === "low")).toMatchObject({ status: "met", achievedRpoMinutes: 1440 + 1440 });
    const tighter = assessPosture(input({ tiers: { ...EXAMPLE_TIERS, low: { rtoMinutes: 1440, rpoMinutes: 1440 } } }), { ...FULL, replication: { ...FULL.replication, archive: "uncontrolled" } });
    expect(tighter.tiers.find((tier) => tier.tier === "low")).toMatchObject({ status: "not met", achievedRpoMinutes: 720 + 1440 });
  });

  test.each<[TierName, Partial<RecoveryMechanisms>, "rto" | "rpo"]>([
    ["critical", { databaseReplica: false }, "rpo"],
    ["critical", { healthCheckAlarmMinutes: undefined }, "rto"],
    ["critical", { healthCheckIntervalSeconds: undefined, healthCheckAlarmMinutes: undefined }, "rto"],
    ["high", { databaseReplica: false }, "rto"],
    ["high", { healthCheckIntervalSeconds: 30, healthCheckFailureThreshold: 10, dnsTtlSeconds: 3600 }, "rto"],
    ["high", { backupIntervalMinutes: { ...FULL.backupIntervalMinutes, high: 16 } }, "rpo"],
    ["standard", { backupIntervalMinutes: { ...FULL.backupIntervalMinutes, standard: 106 } }, "rpo"],
    ["low", { replication: { ...FULL.replication, archive: "none" } }, "rpo"],
  ])("tier %s is not met when %j (%s)", (tier, change, which) => {
    const posture = assessPosture(input(), { ...FULL, ...change });
    const result = posture.tiers.find((t) => t.tier === tier)!;
    expect(result.status).toBe("not met");
    expect(which === "rto" ? result.rtoMet : result.rpoMet).toBe(false);
    expect(posture.met).toBe(false);
  });

  test("a tier no data class uses is not judged", () => {
    const posture = assessPosture(input({ dataClasses: [dataClass("archive", "low")] }), FULL);
    expect(posture.tiers.filter((tier) => tier.status === "unused").map((tier) => tier.tier)).toEqual(["critical", "high", "standard"]);
    expect(posture.met).toBe(true);
  });
});

describe("enforcement", () => {
  const unmet = () => assessPosture(input(), { ...FULL, databaseReplica: false });

  test("error mode throws naming the tier, the objective, what is achieved and the config to change", () => {
    expect(() => enforceObjectives(unmet(), "primary", () => undefined)).toThrow(ObjectivesError);
    try {
      enforceObjectives(unmet(), "primary", () => undefined);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/tier critical: RPO objective 5 min, but the mechanisms achieve 75 min/);
      expect(message).toMatch(/db\/: 75 min \(region lost: backups every 60 min \+ S3 RTC replication 15 min; corruption: point-in-time recovery 5 min\)/);
      expect(message).toMatch(/back the data up more often \(tierCriticalBackupSchedule/);
      expect(message).toMatch(/pulumi -s primary config set tierCriticalRpoMinutes 75/);
      expect(message).toMatch(/dbTier/);
      expect(message).toMatch(/pulumi -s primary config set objectivesEnforcement warn/);
    }
  });

  test("an RTO shortfall lists the steps and the objective key", () => {
    const posture = assessPosture(input(), PLAIN);
    expect(() => enforceObjectives(posture, "secondary", () => undefined)).toThrow(
      /tier critical: RTO objective 35 min, but failover takes 45 min \[detection 15 \+ decision 10 \+ database 10 \+ max\(DNS switch 2, scale-up 10\); detection: no health check.*decision: an operator.*scale-up: .*connections Secret.*dnsProvider route53.*tierCriticalRtoMinutes 45/,
    );
  });

  test("the objective it suggests is a whole number of minutes, as the config key takes", () => {
    const posture = assessPosture(input({ tiers: { ...EXAMPLE_TIERS, critical: { rtoMinutes: 30, rpoMinutes: 5 } } }), FULL);
    expect(() => enforceObjectives(posture, "primary", () => undefined)).toThrow(/failover takes 31.5 min .*config set tierCriticalRtoMinutes 32\./);
  });

  test("warn mode reports the same shortfall and does not throw", () => {
    const warnings: string[] = [];
    enforceObjectives({ ...unmet(), enforcement: "warn" }, "primary", (message) => warnings.push(message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NOT met .*warn[\s\S]*tier critical: RPO objective 5 min/);
  });

  test("nothing is said when every tier is met", () => {
    const warnings: string[] = [];
    enforceObjectives(assessPosture(input(), FULL), "primary", (m) => warnings.push(m));
    expect(warnings).toEqual([]);
  });

  const gap = { missing: "the standby primary's database is a former writer, not a replica", providedBy: "set primaryDatabaseGeneration to 2" };

  test("a shortfall only an interim gap causes warns, even with enforcement error, naming the gap and the step that closes it", () => {
    const warnings: string[] = [];
    const posture = { ...unmet(), interimGaps: [gap], whenComplete: assessPosture(input(), FULL) };
    enforceObjectives(posture, "secondary", (message) => warnings.push(message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NOT met for now, and this up goes ahead: the standby primary's database is a former writer.*To close the gap: set primaryDatabaseGeneration to 2\. Once it is closed every used tier is met\.[\s\S]*tier critical: RPO objective 5 min/);
  });

  test("what would still be missed once the gap is closed stops the `up` with enforcement error", () => {
    const posture = { ...unmet(), interimGaps: [gap], whenComplete: assessPosture(input(), PLAIN) };
    expect(() => enforceObjectives(posture, "secondary", () => undefined)).toThrow(/cannot be met[\s\S]*tier critical: RTO objective 35 min, but failover takes 45 min/);
    const warnings: string[] = [];
    enforceObjectives({ ...posture, enforcement: "warn" }, "secondary", (message) => warnings.push(message));
    expect(warnings[0]).toMatch(/Even then some tiers are not met/);
  });
});

describe("the program", () => {
  const defaults = declaredDefaults;
  const cloudflareLoadBalancer = { cloudflareLoadBalancer: "true" };
  const route53 = { dnsProvider: "route53" };
  /** Regions where Route 53's health-check metrics (us-east-1) are the primary's: no alarm is declared (infra/dns.ts). */
  const primaryInUsEast1 = { primaryRegion: "us-east-1", secondaryRegion: "us-west-2", dataSubnetZoneIds: '["use1-az1","use1-az2"]' };

  test("objectivesEnforcement defaults to error and rejects other values", () => {
    expect(parseConfig(defaults(), "primary").objectivesEnforcement).toBe("error");
    expect(() => parseConfig({ ...defaults(), objectivesEnforcement: "ignore" }, "primary")).toThrow(ConfigError);
    expect(() => parseConfig({ ...defaults(), objectivesEnforcement: "ignore" }, "primary")).toThrow(
      /objectivesEnforcement = "ignore": must be one of "error", "warn"/,
    );
  });

  test("the defaults are the example objectives of docs/design.md", () => {
    expect(parseConfig(defaults(), "primary").tiers).toEqual(EXAMPLE_TIERS);
    const design = fs.readFileSync(path.join(__dirname, "../../docs/design.md"), "utf8");
    expect(design).toMatch(/\| critical \| 35 min \| 5 min \|/);
    expect(design).toMatch(/\| low \| 24 h \| 48 h \|/);
  });

  test("derives today's mechanisms from config: RTC by tier RPO, nothing replicated before the peer exists", () => {
    const config = parseConfig(defaults(), "primary");
    expect(recoveryMechanisms(config).replication).toEqual({
      db: "time-controlled",
      critical: "time-controlled",
      archive: "uncontrolled",
      financial: "time-controlled",
    });
    const alone = parseConfig({ ...defaults(), peerProvisioned: "false" }, "primary");
    expect(Object.values(recoveryMechanisms(alone).replication)).toEqual(["none", "none", "none", "none"]);
  });

  test("reads DNS, health checks, the database replica and backup schedules from the same config as the resources", () => {
    const plain = recoveryMechanisms(parseConfig(defaults(), "primary"));
    expect(plain).toMatchObject({ dnsTtlSeconds: 60, databaseReplica: true, backupIntervalMinutes: { critical: 60, high: 240, standard: 720 } });
    expect(plain.healthCheckIntervalSeconds).toBeUndefined();
    expect(plain.healthCheckAlarmMinutes).toBeUndefined();
    expect(plain.backupIntervalMinutes.low).toBe(24 * 60);
    const checked = recoveryMechanisms(
      parseConfig({ ...defaults(), ...route53, healthCheckIntervalSeconds: "10", healthCheckFailureThreshold: "2", dnsTtlSeconds: "30", tierLowBackupSchedule: "rate(12 hours)" }, "primary"),
    );
    expect(checked).toMatchObject({ dnsTtlSeconds: 30, healthCheckIntervalSeconds: 10, healthCheckFailureThreshold: 2, backupIntervalMinutes: { low: 720 } });
  });

  // The alarm FailoverDns declares: HealthCheckStatus over one 60-second period (infra/dns.ts, healthCheckStatusAlarm).
  test("the operator is paged by a health-check alarm exactly where FailoverDns declares one", () => {
    const alarm = healthCheckStatusAlarm("check");
    const alarmMinutes = ((alarm.period as number) * (alarm.evaluationPeriods as number)) / 60;
    const mechanisms = (raw: Record<string, string>) => recoveryMechanisms(parseConfig({ ...defaults(), ...raw }, "primary"));
    expect(healthCheckAlarmPlacement(parseConfig(defaults(), "primary").regions)).toBe("owner-region");
    expect(mechanisms(route53)).toMatchObject({ healthCheckAlarmMinutes: alarmMinutes });
    expect(detectionStep(mechanisms(route53)).minutes).toBe(1.5 + alarmMinutes);
    // Route 53 with the primary in us-east-1: checks, but no alarm
    expect(healthCheckAlarmPlacement(parseConfig({ ...defaults(), ...primaryInUsEast1 }, "primary").regions)).toBe("none");
    expect(mechanisms({ ...route53, ...primaryInUsEast1 })).toMatchObject({ healthCheckIntervalSeconds: 30, healthCheckAlarmAbsence: expect.stringMatching(/only in us-east-1, the primary's region/) });
    expect(mechanisms({ ...route53, ...primaryInUsEast1 }).healthCheckAlarmMinutes).toBeUndefined();
    expect(detectionStep(mechanisms({ ...route53, ...primaryInUsEast1 })).minutes).toBe(assumptions.MANUAL_DETECTION_MINUTES);
    // a Cloudflare load balancer's monitor: checks, no alarm drstack declares
    expect(mechanisms(cloudflareLoadBalancer)).toMatchObject({ healthCheckIntervalSeconds: 30, healthCheckAlarmAbsence: expect.stringMatching(/Cloudflare load balancer/) });
    expect(detectionStep(mechanisms(cloudflareLoadBalancer)).minutes).toBe(assumptions.MANUAL_DETECTION_MINUTES);
  });

  test.each<[string, Record<string, string>, boolean, string[]]>([
    ["normal operation", {}, true, []],
    ["the first deployment (peerProvisioned false)", { peerProvisioned: "false" }, false, ["peerProvisioned is false"]],
    ["failed over (the primary fenced)", { activeSite: "secondary" }, false, ["standby primary's database is a former writer"]],
    ["failback step 1 (the primary rebuilt)", { activeSite: "secondary", primaryDatabaseGeneration: "2" }, true, []],
    ["failback step 2 (switched back, the secondary fenced)", { primaryDatabaseGeneration: "2" }, false, ["standby secondary's database is a former writer"]],
    ["failback step 3 (the secondary rebuilt)", { primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" }, true, []],
  ])("the standby's replica follows its database mode (infra/sitePlan.ts): %s", (_phase, raw, replica, gaps) => {
    for (const site of ["primary", "secondary"] as const) {
      const config = parseConfig({ ...defaults(site), cloudflareZoneId: "0".repeat(32), ...raw }, site);
      expect({ site, replica: recoveryMechanisms(config).databaseReplica }).toEqual({ site, replica });
      const found = interimGaps(config).map((gap) => gap.missing);
      expect({ site, gaps: found.length }).toEqual({ site, gaps: gaps.length });
      gaps.forEach((expected, index) => expect(found[index]).toContain(expected));
      // Closing the gap is what enforcement judges: the same config with the peer deployed and the standby a replica.
      const posture = assessSitePosture(config);
      expect({ site, judged: posture.whenComplete?.mechanisms.databaseReplica ?? posture.mechanisms.databaseReplica }).toEqual({ site, judged: true });
    }
  });

  test("the interim gaps name the step that closes them", () => {
    const failedOver = parseConfig({ ...defaults("secondary"), cloudflareZoneId: "0".repeat(32), activeSite: "secondary" }, "secondary");
    expect(interimGaps(failedOver)).toEqual([
      expect.objectContaining({ providedBy: expect.stringMatching(/set primaryDatabaseGeneration to 2 in both stack files and run `pulumi -s primary up`/) }),
    ]);
    const first = parseConfig({ ...defaults(), peerProvisioned: "false" }, "primary");
    expect(interimGaps(first)).toEqual([expect.objectContaining({ providedBy: expect.stringMatching(/deploy the secondary stack.*config rm peerProvisioned/) })]);
  });

  test("exports the posture as the drPosture stack output", async () => {
    const { outputs } = await evaluate("primary");
    const posture = outputs.drPosture as { site: string; tiers: Array<{ tier: string; status: string }>; recoveryTime: { minutes: number } };
    expect(posture.site).toBe("primary");
    expect(posture.tiers.map((tier) => tier.tier)).toEqual(["critical", "high", "standard", "low"]);
    expect(posture.recoveryTime.minutes).toBeGreaterThan(0);
  });

  // Pulumi orders an update after every resource whose outputs it takes as inputs, and after its dependsOn
  // (https://www.pulumi.com/docs/iac/concepts/resources/options/dependson/): that chain is why the model adds the scale-up to the promotion.
  test("in the program the scale-up waits for the promotion: the Deployments dependOn the connections Secret, which takes the database's address", async () => {
    const evaluation = await evaluate("secondary", { activeSite: "secondary" }, { kind: "unreachable" });
    const secret = single(evaluation, "kubernetes:core/v1:Secret");
    const address = single(evaluation, "aws:rds/instance:Instance").state?.address as string;
    expect(JSON.stringify(revealSecrets(secret.inputs.stringData))).toContain(address);
    const deployments = resourcesOfType(evaluation, "kubernetes:apps/v1:Deployment");
    expect(deployments.map((deployment) => deployment.name).sort()).toEqual(["secondary-workloads-web", "secondary-workloads-worker"]);
    for (const deployment of deployments) {
      expect(deployment.dependsOn).toContain(`kubernetes:core/v1:Secret::${secret.name}`);
    }
    // DNS waits for the database only, not for the workloads: a plain record moves beside the scale-up.
    const dns = evaluation.resources.filter((resource) => resource.parent === "drstack:dns:FailoverDns::secondary-failover-dns" && resource.custom);
    expect(dns.length).toBeGreaterThan(0);
    for (const resource of dns.filter((candidate) => candidate.dependsOn !== undefined)) {
      expect(resource.dependsOn!.filter((dependency) => dependency.includes("workloads"))).toEqual([]);
    }
  });
});
