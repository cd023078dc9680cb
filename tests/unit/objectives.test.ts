import * as fs from "fs";
import * as path from "path";
import * as assumptions from "../../infra/assumptions";
import { ConfigError, parseConfig } from "../../infra/config";
import { DATA_CLASSES, DataClassPolicy } from "../../infra/dataClasses";
import {
  assessPosture,
  databaseStep,
  detectionStep,
  dnsSwitchStep,
  enforceObjectives,
  ObjectivesError,
  PostureInput,
  RecoveryMechanisms,
  recoveryMechanisms,
  recoveryPoint,
  recoveryTime,
  replicationMinutes,
} from "../../infra/objectives";
import { TierName, TierObjectives } from "../../infra/tiers";
import { EvaluationError } from "../../offline/evaluate";
import { declaredDefaults } from "./configHelpers";
import { evaluate } from "./evaluations";

// Each test evaluates the program with the mock runtime, up to four stacks (the active secondary beside its standby past); allow for a slow machine.
jest.setTimeout(60_000);

const EXAMPLE_TIERS: TierObjectives = {
  critical: { rtoMinutes: 15, rpoMinutes: 5 },
  high: { rtoMinutes: 60, rpoMinutes: 30 },
  standard: { rtoMinutes: 240, rpoMinutes: 120 },
  low: { rtoMinutes: 1440, rpoMinutes: 1440 },
};

function dataClass(name: keyof typeof DATA_CLASSES, tier: TierName): DataClassPolicy {
  return { ...DATA_CLASSES[name], retentionDays: DATA_CLASSES[name].minimumRetentionDays, tier };
}

/** A site with everything the DR plan asks for: health-checked DNS, a replica, frequent backups, RTC everywhere. */
const FULL: RecoveryMechanisms = {
  dnsTtlSeconds: 60,
  healthCheckIntervalSeconds: 10,
  healthCheckFailureThreshold: 3,
  databaseReplica: true,
  backupIntervalMinutes: { critical: 60, high: 15, standard: 60, low: 720 },
  replication: { db: "time-controlled", critical: "time-controlled", archive: "time-controlled", financial: "time-controlled" },
};

function input(overrides: Partial<PostureInput> = {}): PostureInput {
  return {
    stack: "primary",
    site: "primary",
    role: "active",
    tiers: EXAMPLE_TIERS,
    dataClasses: [dataClass("db", "critical"), dataClass("critical", "high"), dataClass("financial", "standard"), dataClass("archive", "low")],
    objectivesEnforcement: "error",
    ...overrides,
  };
}

describe("recovery time, one mechanism at a time", () => {
  test("detection is interval x failure threshold with a health check", () => {
    expect(detectionStep({ ...FULL, healthCheckIntervalSeconds: 30, healthCheckFailureThreshold: 4 }).minutes).toBe(2);
  });

  test("a health check without a threshold uses Route 53's default threshold", () => {
    const step = detectionStep({ ...FULL, healthCheckIntervalSeconds: 30, healthCheckFailureThreshold: undefined });
    expect(step.minutes).toBe((30 * assumptions.ROUTE53_DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD) / 60);
  });

  test("without a health check a person detects the outage", () => {
    const step = detectionStep({ ...FULL, healthCheckIntervalSeconds: undefined });
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

  test("with health-checked DNS: detection, then DNS on its own beside the operator's decision and the `up` (promotion and scale-up side by side)", () => {
    // 0.5 detection + max(2 DNS, 10 decision + max(10 promotion, 10 scale-up))
    expect(recoveryTime(FULL).minutes).toBe(0.5 + assumptions.OPERATOR_DECISION_MINUTES + 10);
    expect(recoveryTime(FULL).minutes).toBe(20.5);
    expect(recoveryTime(FULL).expression).toBe("detection 0.5 + max(DNS switch 2, decision 10 + max(database 10, scale-up 10))");
    // without a replica the restore (60) is the slowest part of the `up`
    expect(recoveryTime({ ...FULL, databaseReplica: false }).minutes).toBe(70.5);
    // a long TTL can outlast the whole `up`; rounded up to a tenth of a minute
    expect(recoveryTime({ ...FULL, dnsTtlSeconds: 3600 }).minutes).toBe(61.5);
    expect(recoveryTime({ ...FULL, dnsTtlSeconds: 3601 }).minutes).toBe(61.6);
  });

  test("the operator's decision and the `up` count even with the fastest health checks: no failover beats them", () => {
    const instant = { ...FULL, healthCheckIntervalSeconds: 1, healthCheckFailureThreshold: 1, dnsTtlSeconds: 1 };
    expect(recoveryTime(instant).minutes).toBeGreaterThanOrEqual(
      assumptions.OPERATOR_DECISION_MINUTES + Math.max(assumptions.DATABASE_PROMOTION_MINUTES, assumptions.STANDBY_SCALE_UP_MINUTES),
    );
  });

  test("with a plain record: a person detects and decides, and DNS moves only in the `up`, after the promotion", () => {
    const plain = { ...FULL, healthCheckIntervalSeconds: undefined, healthCheckFailureThreshold: undefined };
    // 15 detection + 10 decision + max(10 promotion + 2 DNS, 10 scale-up)
    expect(recoveryTime(plain).minutes).toBe(37);
    expect(recoveryTime(plain).expression).toBe("detection 15 + decision 10 + max(database 10 + DNS switch 2, scale-up 10)");
    expect(recoveryTime({ ...plain, databaseReplica: false }).minutes).toBe(15 + 10 + 62);
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

  test("database data with a replica loses only the replica lag", () => {
    expect(recoveryPoint(dataClass("db", "critical"), FULL).minutes).toBe(assumptions.DATABASE_REPLICA_LAG_MINUTES);
    expect(recoveryPoint(dataClass("db", "critical"), { ...FULL, databaseReplica: false }).minutes).toBe(60 + 15);
  });

  test("a replica protects only database data, not file backups", () => {
    expect(recoveryPoint(dataClass("critical", "critical"), FULL).minutes).toBe(60 + 15);
  });
});

describe("posture per tier (the example objectives, docs/design.md)", () => {
  test("the full set of mechanisms meets every tier but critical's 15 min RTO, which a person's decision and `up` cannot meet", () => {
    const posture = assessPosture(input(), FULL);
    expect(posture.tiers.map((tier) => [tier.tier, tier.status])).toEqual([
      ["critical", "not met"],
      ["high", "met"],
      ["standard", "met"],
      ["low", "met"],
    ]);
    expect(posture.tiers[0]).toMatchObject({ rtoMet: false, rpoMet: true, achievedRtoMinutes: 20.5 });
    // high holds critical/ backups every 15 min + RTC 15 = 30 = its RPO; 20.5 min RTO < 60
    const high = posture.tiers.find((tier) => tier.tier === "high")!;
    expect(high).toMatchObject({ achievedRpoMinutes: 30, rpoMet: true, achievedRtoMinutes: 20.5 });
  });

  test("uncontrolled replication alone uses up the low tier's whole day, so archive/ needs RTC or a looser RPO", () => {
    const posture = assessPosture(input(), { ...FULL, replication: { ...FULL.replication, archive: "uncontrolled" } });
    expect(posture.tiers.find((tier) => tier.tier === "low")).toMatchObject({ status: "not met", achievedRpoMinutes: 720 + 1440 });
  });

  test.each<[TierName, Partial<RecoveryMechanisms>, "rto" | "rpo"]>([
    ["critical", { databaseReplica: false }, "rpo"],
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
      expect(message).toMatch(/db\/: 75 min \(backups every 60 min \+ S3 RTC replication 15 min\)/);
      expect(message).toMatch(/pulumi -s primary config set tierCriticalRpoMinutes 75/);
      expect(message).toMatch(/dbTier/);
      expect(message).toMatch(/pulumi -s primary config set objectivesEnforcement warn/);
    }
  });

  test("an RTO shortfall lists the steps and the objective key", () => {
    const posture = assessPosture(input(), { ...FULL, healthCheckIntervalSeconds: undefined });
    expect(() => enforceObjectives(posture, "secondary", () => undefined)).toThrow(
      /tier critical: RTO objective 15 min, but failover takes 37 min \[detection 15 \+ decision 10 \+ max\(database 10 \+ DNS switch 2, scale-up 10\); detection: no health check.*decision: an operator.*tierCriticalRtoMinutes 37/,
    );
  });

  test("warn mode reports the same shortfall and does not throw", () => {
    const warnings: string[] = [];
    enforceObjectives({ ...unmet(), enforcement: "warn" }, "primary", (message) => warnings.push(message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NOT met .*warn[\s\S]*tier critical: RPO objective 5 min/);
  });

  test("nothing is said when every tier is met", () => {
    const warnings: string[] = [];
    const reachable = { ...EXAMPLE_TIERS, critical: { rtoMinutes: 30, rpoMinutes: 5 } };
    enforceObjectives(assessPosture(input({ tiers: reachable, dataClasses: [dataClass("db", "critical")] }), FULL), "primary", (m) => warnings.push(m));
    expect(warnings).toEqual([]);
  });
});

describe("the program", () => {
  const defaults = declaredDefaults;

  test("objectivesEnforcement defaults to error and rejects other values", () => {
    expect(parseConfig(defaults(), "primary").objectivesEnforcement).toBe("error");
    expect(() => parseConfig({ ...defaults(), objectivesEnforcement: "ignore" }, "primary")).toThrow(ConfigError);
    expect(() => parseConfig({ ...defaults(), objectivesEnforcement: "ignore" }, "primary")).toThrow(
      /objectivesEnforcement = "ignore": must be one of "error", "warn"/,
    );
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
    expect(plain.backupIntervalMinutes.low).toBe(24 * 60);
    const checked = recoveryMechanisms(
      parseConfig({ ...defaults(), dnsProvider: "route53", healthCheckIntervalSeconds: "10", healthCheckFailureThreshold: "2", dnsTtlSeconds: "30", tierLowBackupSchedule: "rate(12 hours)" }, "primary"),
    );
    expect(checked).toMatchObject({ dnsTtlSeconds: 30, healthCheckIntervalSeconds: 10, healthCheckFailureThreshold: 2, backupIntervalMinutes: { low: 720 } });
  });

  test("exports the posture as the drPosture stack output", async () => {
    const { outputs } = await evaluate("primary");
    const posture = outputs.drPosture as { site: string; tiers: Array<{ tier: string; status: string }>; recoveryTime: { minutes: number } };
    expect(posture.site).toBe("primary");
    expect(posture.tiers.map((tier) => tier.tier)).toEqual(["critical", "high", "standard", "low"]);
    expect(posture.recoveryTime.minutes).toBeGreaterThan(0);
  });

  test("the example stacks warn (objectivesEnforcement: warn) that their tiers are not met yet", async () => {
    for (const stack of ["primary", "secondary"]) {
      const evaluation = await evaluate(stack);
      expect(evaluation.warnings.join("\n")).toMatch(/recovery objectives of stack "\w+" are NOT met[\s\S]*tier critical/);
    }
  });

  test("with enforcement error, a preview of the example stops with the shortfall before declaring anything", async () => {
    const failure = await evaluate("primary", { objectivesEnforcement: "error" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EvaluationError);
    expect((failure as EvaluationError).message).toMatch(/recovery objectives of stack "primary" cannot be met[\s\S]*tier critical: RPO objective 5 min/);
    expect((failure as EvaluationError).resources).toEqual([]);
  });
});
