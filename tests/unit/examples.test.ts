import * as fs from "fs";
import { parse } from "yaml";
import type { DrPosture } from "../../infra/objectives";
import { EvaluationError } from "../../offline/evaluate";
import { readStackConfig, sharedKeyDisagreements, stackFilePath } from "../../offline/stackFiles";
import { DATABASE_ENGINES } from "../../infra/engines";
import { buildPlan, renderPlanText } from "../../offline/plan";
import { CHEAP_EXAMPLE, evaluateIn, MAIN_EXAMPLE, resourcesOfType as resourcesOf } from "./evaluations";

// Each test evaluates both stacks of an example with the mock runtime; allow for a slow machine.
jest.setTimeout(240_000);

/**
 * The two example pairs: the stacks beside Pulumi.yaml, which meet the
 * example objectives with the mechanisms drstack offers, and examples/cheap,
 * which keeps the same data and objectives with cheaper mechanisms and says
 * what they miss (README, "Objectives").
 */
const EXAMPLES = [
  ["the example stacks", MAIN_EXAMPLE],
  ["the cheaper example", CHEAP_EXAMPLE],
] as const;
const STACKS = ["primary", "secondary"] as const;

const posture = async (stackDir: string, stack: string, overrides: Record<string, string> = {}) => {
  const evaluation = await evaluateIn(stackDir, stack, overrides);
  return { evaluation, posture: evaluation.outputs.drPosture as DrPosture };
};

describe.each(EXAMPLES)("%s", (_name, stackDir) => {
  test("agree on every shared key, the DNS their objectives count included", () => {
    for (const stack of STACKS) {
      expect({ stack, disagreements: sharedKeyDisagreements(stack, {}, stackDir) }).toEqual({ stack, disagreements: [] });
    }
  });

  test.each(DATABASE_ENGINES)("switch to databaseEngine=%s by that one setting: both stacks in both roles evaluate, and the plan shows the engine", async (engine) => {
    for (const stack of STACKS) {
      expect(fs.readFileSync(stackFilePath(stack, stackDir), "utf8")).toMatch(/^  drstack:databaseEngine: postgres$/m);
      for (const activeSite of STACKS) {
        const evaluation = await evaluateIn(stackDir, stack, { databaseEngine: engine, activeSite });
        expect(renderPlanText(buildPlan(evaluation))).toContain(`activeSite=${activeSite}, databaseEngine=${engine})`);
        expect(resourcesOf(evaluation, "aws:rds/instance:Instance").every((instance) => instance.inputs.engine === engine)).toBe(true);
      }
    }
  });

  test("set aws:region to the site's own region", () => {
    for (const stack of STACKS) {
      const file = parse(fs.readFileSync(stackFilePath(stack, stackDir), "utf8")) as { config: Record<string, string> };
      expect(file.config["aws:region"]).toBe(file.config[`drstack:${stack}Region`]);
    }
  });
});

describe("the example stacks meet the example objectives", () => {
  test.each(STACKS)("%s: every used tier met, with objectivesEnforcement at its default, error, and no objectives warning", async (stack) => {
    expect(fs.readFileSync(stackFilePath(stack, MAIN_EXAMPLE), "utf8")).not.toMatch(/^\s*drstack:objectivesEnforcement:/m);
    const { evaluation, posture: found } = await posture(MAIN_EXAMPLE, stack);
    expect(found.enforcement).toBe("error");
    expect(found.tiers.filter((tier) => tier.status !== "unused").map((tier) => [tier.tier, tier.status])).toEqual([
      ["critical", "met"],
      ["high", "met"],
      ["standard", "met"],
      ["low", "met"],
    ]);
    expect(found).toMatchObject({ met: true, interimGaps: [] });
    expect(evaluation.warnings.join("\n")).not.toMatch(/recovery objectives/);
  });

  test("with the mechanisms drstack offers: alarmed Route 53 health checks, the replica, RTC and the tiers' schedules", async () => {
    const { posture: found } = await posture(MAIN_EXAMPLE, "primary");
    expect(found.mechanisms).toMatchObject({ healthCheckIntervalSeconds: 30, healthCheckAlarmMinutes: 1, dnsTtlSeconds: 60, databaseReplica: true });
    expect(found.recoveryTime.minutes).toBe(32.5);
    expect(found.dataClasses.map((point) => [point.dataClass, point.tier, point.minutes])).toEqual([
      // The replica loses 1 min with the region; against corruption point-in-time recovery loses up to 5.
      ["db", "critical", 5],
      ["critical", "high", 30],
      ["archive", "low", 2880],
      ["financial", "standard", 75],
    ]);
  });

  test("the failover `up` is not refused for leaving the pair without a standby replica: it warns how to close the gap", async () => {
    const evaluation = await evaluateIn(MAIN_EXAMPLE, "secondary", { activeSite: "secondary" }, { kind: "unreachable" });
    const found = evaluation.outputs.drPosture as DrPosture;
    expect(found.met).toBe(false);
    expect(found.whenComplete?.met).toBe(true);
    expect(evaluation.warnings.join("\n")).toMatch(
      /objectives of stack "secondary" are NOT met for now, and this up goes ahead: the standby primary's database is a former writer.*primaryDatabaseGeneration to 2/,
    );
  });

  test("neither is the first deployment, before the peer exists", async () => {
    const evaluation = await evaluateIn(MAIN_EXAMPLE, "primary", { peerProvisioned: "false" });
    expect((evaluation.outputs.drPosture as DrPosture).whenComplete?.met).toBe(true);
    expect(evaluation.warnings.join("\n")).toMatch(/NOT met for now, and this up goes ahead: peerProvisioned is false/);
  });
});

describe("the cheaper example names what it misses", () => {
  test("the same data in the same tiers, against the same objectives, as the example stacks", async () => {
    for (const stack of STACKS) {
      const main = (await posture(MAIN_EXAMPLE, stack)).posture;
      const cheap = (await posture(CHEAP_EXAMPLE, stack)).posture;
      expect(cheap.tiers.map((tier) => [tier.tier, tier.objectives, tier.dataClasses])).toEqual(main.tiers.map((tier) => [tier.tier, tier.objectives, tier.dataClasses]));
    }
  });

  test.each(STACKS)("%s: warns (objectivesEnforcement: warn) with each shortfall and why", async (stack) => {
    const { evaluation, posture: found } = await posture(CHEAP_EXAMPLE, stack);
    expect(readStackConfig(stack, {}, CHEAP_EXAMPLE).values["drstack:objectivesEnforcement"]).toBe("warn");
    expect(found.tiers.map((tier) => [tier.tier, tier.status])).toEqual([
      ["critical", "not met"],
      ["high", "not met"],
      ["standard", "not met"],
      ["low", "met"],
    ]);
    const warning = evaluation.warnings.join("\n");
    expect(warning).toMatch(new RegExp(`recovery objectives of stack "${stack}" are NOT met \\(objectivesEnforcement is warn`));
    expect(warning).toMatch(/tier critical: RTO objective 35 min, but failover takes 45 min \[detection 15 \+ decision 10 \+ database 10 \+ max\(DNS switch 2, scale-up 10\); detection: no health check/);
    expect(warning).toMatch(/tier high: RPO objective 30 min, but the mechanisms achieve 255 min \[critical\/: 255 min \(region lost: backups every 240 min \+ S3 RTC replication 15 min; corruption: the newest dump before it: backups every 240 min\)\]/);
    expect(warning).toMatch(/tier standard: RPO objective 120 min, but the mechanisms achieve 735 min \[financial\/: 735 min/);
    expect(warning).not.toMatch(/tier low:/);
  });

  test("with enforcement error it stops before declaring anything", async () => {
    const failure = await evaluateIn(CHEAP_EXAMPLE, "primary", { objectivesEnforcement: "error" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EvaluationError);
    expect((failure as EvaluationError).message).toMatch(/recovery objectives of stack "primary" cannot be met[\s\S]*tier critical: RTO objective 35 min/);
    expect((failure as EvaluationError).resources).toEqual([]);
  });
});
