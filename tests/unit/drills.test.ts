import { DRILL_HANDLER, HANDLER_ENV, METRIC_NAMESPACE } from "../../infra/backupContract";
import { parseConfig } from "../../infra/config";
import { DRILL_AGE_GRACE_SECONDS, DRILL_TIMEOUT_SECONDS } from "../../infra/drills";
import { longestScheduleGapMinutes } from "../../infra/scheduleExpression";
import { Evaluation } from "../../offline/evaluate";
import { readStackConfig } from "../../offline/stackFiles";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { evaluate, parsePolicy, ParsedStatement, resourcesOfType, STACK_CASES } from "./evaluations";
import { decide, PolicyRequest } from "./policyEvaluation";

jest.setTimeout(60_000);

const T = {
  fn: "aws:lambda/function:Function",
  schedule: "aws:scheduler/schedule:Schedule",
  policy: "aws:iam/rolePolicy:RolePolicy",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  invokeConfig: "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
};
const ACCOUNT = "123456789012";
const DAY = 86_400;

function named(evaluation: Evaluation, type: string, name: string) {
  const found = resourcesOfType(evaluation, type).find((resource) => resource.name === name);
  if (!found) throw new Error(`no ${type} named ${name}; have ${resourcesOfType(evaluation, type).map((r) => r.name).join(", ")}`);
  return found;
}

describe("longestScheduleGapMinutes bounds the wait between drills", () => {
  test.each([
    ["rate(7 days)", 7 * 24 * 60],
    ["cron(0 4 * * ? *)", 24 * 60],
    ["cron(0 4 ? * MON *)", 7 * 24 * 60],
    ["cron(0 4 1 * ? *)", 31 * 24 * 60],
    ["cron(0 4 1 1,4,7,10 ? *)", 3 * 31 * 24 * 60],
    ["cron(0 4 1 1/3 ? *)", 3 * 31 * 24 * 60],
    ["cron(0 4 15 JAN,JUL ? *)", 6 * 31 * 24 * 60],
    ["cron(0 4 1 6 ? *)", 12 * 31 * 24 * 60],
    ["cron(0 4 ? * MON#1 *)", 35 * 24 * 60],
    ["cron(0 4 31 * ? *)", 62 * 24 * 60],
    ["cron(0 4 L * ? *)", 34 * 24 * 60],
  ])("%s: at most %d minutes", (expression, minutes) => {
    expect(longestScheduleGapMinutes(expression)).toBe(minutes);
  });

  test("a cron limited to some years ends, so nothing bounds it; an invalid expression has no gap", () => {
    expect(longestScheduleGapMinutes("cron(0 4 1 * ? 2027)")).toBeUndefined();
    expect(longestScheduleGapMinutes("every month")).toBeUndefined();
  });
});

describe("drill config", () => {
  const valid = declaredDefaults();

  test("defaults: monthly drills per tier, no smoke queries, Lambda's largest ephemeral storage", () => {
    const drills = parseConfig(valid, "primary").backups.drills;
    expect(drills.schedules).toEqual({ critical: "cron(0 4 1 * ? *)", high: "cron(0 4 1 * ? *)", standard: "cron(0 4 1 * ? *)", low: "cron(0 4 1 * ? *)" });
    expect(drills.gapMinutes.critical).toBe(31 * 24 * 60);
    expect(drills.smokeQueries).toEqual({});
    expect(drills.scratchStorageMb).toBe(10240);
  });

  test("a smoke query is database=SQL for a backed-up database, one per database", () => {
    const raw = { ...valid, backupDatabases: "app:critical", drillSmokeQueries: JSON.stringify(["app=SELECT count(*) > 0 FROM orders"]) };
    expect(parseConfig(raw, "primary").backups.drills.smokeQueries).toEqual({ app: "SELECT count(*) > 0 FROM orders" });
    expect(problemsOf({ ...raw, drillSmokeQueries: JSON.stringify(["SELECT 1"]) })).toMatch(/drillSmokeQueries = .*: entry "SELECT 1" is not database=SQL/);
    expect(problemsOf({ ...raw, drillSmokeQueries: JSON.stringify(["shop=SELECT 1"]) })).toMatch(/drillSmokeQueries = .*: names "shop", which is not in backupDatabases.*use one of app/s);
    expect(problemsOf({ ...raw, drillSmokeQueries: JSON.stringify(["app=SELECT 1", "app=SELECT 2"]) })).toMatch(/gives app two queries/);
  });

  test("a drill schedule that ends, and storage beyond Lambda's 512-10240 MB, are refused with the fix", () => {
    expect(problemsOf({ ...valid, tierLowDrillSchedule: "cron(0 4 1 * ? 2027)" })).toMatch(/tierLowDrillSchedule = .*: does not recur for ever.*config set tierLowDrillSchedule 'cron\(0 4 1 \* \? \*\)'/s);
    expect(problemsOf({ ...valid, tierLowDrillSchedule: "monthly" })).toMatch(/tierLowDrillSchedule/);
    expect(problemsOf({ ...valid, tierLowDrillSchedule: "rate(1 hour)" })).toMatch(/tierLowDrillSchedule = .*: runs the drill every 60 minutes.*at most one a day/);
    expect(parseConfig({ ...valid, tierLowDrillSchedule: "rate(1 day)" }, "primary").backups.drills.gapMinutes.low).toBe(24 * 60);
    expect(problemsOf({ ...valid, drillScratchStorageMb: "20000" })).toMatch(/drillScratchStorageMb = .*: must be at most 10240/);
    expect(problemsOf({ ...valid, drillScratchStorageMb: "256" })).toMatch(/drillScratchStorageMb = .*: must be at least 512/);
  });
});

describe.each(STACK_CASES)("restore drills of stack $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });
  const values = readStackConfig(stack).values;
  const region = values[`drstack:${stack}Region`];
  const peer = stack === "primary" ? "secondary" : "primary";
  const bucketArn = `arn:aws:s3:::acme-shop-dr-backups-${stack}-${region}`;
  const functionName = (tier: string) => `${stack}-restore-drills-${tier}`;

  test("one drill function per used tier, from the backup image, outside the VPC, within Lambda's limits", async () => {
    const evaluation = await run();
    const functions = resourcesOfType(evaluation, T.fn).filter((fn) => fn.name.startsWith(`${stack}-restore-drills-`));
    // The example protects shop (critical) and ledger (standard, financial).
    expect(functions.map((fn) => fn.name).sort()).toEqual([functionName("critical"), functionName("standard")]);
    for (const fn of functions) {
      const inputs = fn.inputs as Record<string, unknown>;
      expect(inputs.packageType).toBe("Image");
      expect((inputs.imageConfig as { commands: string[] }).commands).toEqual([DRILL_HANDLER]);
      // Its PostgreSQL listens on a socket in /tmp; it calls S3 and CloudWatch only, through Lambda's own networking.
      expect(inputs.vpcConfig).toBeUndefined();
      // Lambda Developer Guide: timeout at most 900 s, ephemeral storage 512-10240 MB.
      expect(inputs.timeout).toBeLessThanOrEqual(900);
      expect((inputs.ephemeralStorage as { size: number }).size).toBe(10240);
      const variables = (inputs.environment as { variables: Record<string, string> }).variables;
      expect(variables[HANDLER_ENV.site]).toBe(stack);
      expect(variables[HANDLER_ENV.metricNamespace]).toBe(METRIC_NAMESPACE);
      expect(variables.DATABASE_URL).toBeUndefined();
    }
    const env = (name: string) => (named(evaluation, T.fn, name).inputs.environment as { variables: Record<string, string> }).variables;
    expect(env(functionName("critical"))[HANDLER_ENV.drillTargets]).toBe("shop:critical:db");
    expect(env(functionName("standard"))[HANDLER_ENV.drillTargets]).toBe("ledger:standard:financial");
    // A failed drill is recorded and alarmed; Lambda does not run it again.
    expect(named(evaluation, T.invokeConfig, `${functionName("critical")}-retries`).inputs.maximumRetryAttempts).toBe(0);
  });

  test("drills are scheduled on both sites whichever is active: the standby's drill proves the replicated copies restore", async () => {
    const evaluation = await run();
    for (const tier of ["critical", "standard"]) {
      const schedule = named(evaluation, T.schedule, `${functionName(tier)}-schedule`).inputs as Record<string, unknown>;
      expect(schedule.state).toBe("ENABLED");
      expect(schedule.scheduleExpression).toBe("cron(0 4 1 * ? *)");
      const target = schedule.target as { arn: string; roleArn: string };
      expect(target.arn).toBe(`arn:aws:lambda:${region}:${ACCOUNT}:function:${functionName(tier)}-fn`);
    }
    const scheduler = parsePolicy(named(evaluation, T.policy, `${stack}-restore-drills-scheduler-permissions`).inputs.policy);
    for (const tier of ["critical", "standard"]) {
      expect(decide(scheduler, { principal: "scheduler", action: "lambda:InvokeFunction", resource: `arn:aws:lambda:${region}:${ACCOUNT}:function:${functionName(tier)}-fn` })).toBe("allow");
    }
    expect(decide(scheduler, { principal: "scheduler", action: "lambda:InvokeFunction", resource: `arn:aws:lambda:${region}:${ACCOUNT}:function:${stack}-backup-jobs-backup-shop-fn` })).toBe("implicit-deny");
  });

  test("the drill role reads the backups and writes only its own site's drill reports", async () => {
    const evaluation = await run();
    const statements: ParsedStatement[] = parsePolicy(named(evaluation, T.policy, `${stack}-restore-drills-permissions`).inputs.policy);
    const role = `arn:aws:iam::${ACCOUNT}:role/${stack}-restore-drills-role`;
    const s3 = (action: string, key: string): PolicyRequest => ({ principal: role, action, resource: `${bucketArn}/${key}` });
    expect(decide(statements, { principal: role, action: "s3:ListBucket", resource: bucketArn })).toBe("allow");
    expect(decide(statements, s3("s3:GetObject", "db/shop/latest-primary.json"))).toBe("allow");
    expect(decide(statements, s3("s3:GetObject", "financial/ledger/2026/12/01/20261201T000000Z-primary-ab12.dump"))).toBe("allow");
    expect(decide(statements, s3("s3:GetObject", "archive/other/x"))).toBe("implicit-deny");
    expect(decide(statements, s3("s3:PutObject", `db/shop/drills/20261201T040000Z-${stack}.json`))).toBe("allow");
    // Never the peer's reports, a pointer or a dump, which replication would carry as the peer's or the writer's.
    expect(decide(statements, s3("s3:PutObject", `db/shop/drills/20261201T040000Z-${peer}.json`))).toBe("implicit-deny");
    expect(decide(statements, s3("s3:PutObject", `db/shop/latest-${stack}.json`))).toBe("implicit-deny");
    expect(decide(statements, s3("s3:PutObject", `db/shop/2026/12/01/20261201T040000Z-${stack}-ab12.dump`))).toBe("implicit-deny");
    expect(decide(statements, s3("s3:DeleteObject", `db/shop/drills/20261201T040000Z-${stack}.json`))).toBe("implicit-deny");
    const keyArn = `arn:aws:kms:${region}:${ACCOUNT}:key/`;
    const kms = statements.find((statement) => statement.Sid === "UseBackupKeyThroughS3");
    expect(kms?.Condition).toEqual({ StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } });
    expect(String(kms?.Resource)).toContain(keyArn);
    expect(decide(statements, { principal: role, action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": METRIC_NAMESPACE } })).toBe("allow");
    expect(decide(statements, { principal: role, action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "AWS/Lambda" } })).toBe("implicit-deny");
    expect(decide(statements, { principal: role, action: "secretsmanager:GetSecretValue", resource: "*" })).toBe("implicit-deny");
  });

  test("alarms: a failed drill, a drill function that fails, and no passed drill for a month and a day", async () => {
    const evaluation = await run();
    const failed = named(evaluation, T.alarm, `${stack}-restore-drills-shop-failed`).inputs as Record<string, unknown>;
    expect([failed.metricName, failed.namespace, failed.threshold, failed.treatMissingData]).toEqual(["DrillFailed", METRIC_NAMESPACE, 1, "ignore"]);
    expect(failed.dimensions).toEqual({ Database: "shop" });
    const stale = named(evaluation, T.alarm, `${stack}-restore-drills-ledger-stale`).inputs as Record<string, unknown>;
    expect(stale.metricName).toBe("DrillAgeSeconds");
    expect(stale.threshold).toBe(31 * DAY + DRILL_TIMEOUT_SECONDS + DRILL_AGE_GRACE_SECONDS);
    expect((stale.alarmActions as string[])[0]).toMatch(/^arn:aws:sns:/);
    const errors = named(evaluation, T.alarm, `${stack}-restore-drills-critical-errors`).inputs as Record<string, unknown>;
    expect([errors.namespace, errors.metricName]).toEqual(["AWS/Lambda", "Errors"]);
  });
});
