import fc from "fast-check";
import { GUARD_HANDLER } from "../../infra/fencing";
import { roleOf, SiteName } from "../../infra/roles";
import { databaseMode, writerClaim, writerEpoch } from "../../infra/sitePlan";
import { readStackConfig } from "../../offline/stackFiles";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { asArray, evaluate, parsePolicy, resourcesOfType, STACK_CASES, within } from "./evaluations";

jest.setTimeout(60_000);

const FENCING = "drstack:fencing:SiteFencing";
const ACCOUNT = "123456789012";
const T = {
  parameter: "aws:ssm/parameter:Parameter",
  fn: "aws:lambda/function:Function",
  policy: "aws:iam/rolePolicy:RolePolicy",
  schedule: "aws:scheduler/schedule:Schedule",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
};

describe("the writer epoch", () => {
  /** README's failback table, one cycle from generation n, then the next failover. */
  const cycle = (n: number): Array<{ phase: string; activeSite: SiteName; generations: Record<SiteName, number> }> => [
    { phase: "normal", activeSite: "primary", generations: { primary: n, secondary: n } },
    { phase: "failed over", activeSite: "secondary", generations: { primary: n, secondary: n } },
    { phase: "primary rebuilt", activeSite: "secondary", generations: { primary: n + 1, secondary: n } },
    { phase: "switched back", activeSite: "primary", generations: { primary: n + 1, secondary: n } },
    { phase: "secondary rebuilt", activeSite: "primary", generations: { primary: n + 1, secondary: n + 1 } },
    { phase: "failed over again", activeSite: "secondary", generations: { primary: n + 1, secondary: n + 1 } },
  ];

  test("strictly increases at every change of writer along failover and failback, and is constant otherwise", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 4 }), (start, cycles) => {
        const phases = Array.from({ length: cycles }, (_, i) => cycle(start + i).slice(i === 0 ? 0 : 1, 5)).flat();
        for (let i = 1; i < phases.length; i++) {
          const [before, after] = [phases[i - 1], phases[i]];
          const [e0, e1] = [writerEpoch(before.activeSite, before.generations), writerEpoch(after.activeSite, after.generations)];
          if (before.activeSite !== after.activeSite) {
            expect({ phase: after.phase, increases: e1 > e0 }).toEqual({ phase: after.phase, increases: true });
          } else {
            expect({ phase: after.phase, epoch: e1 }).toEqual({ phase: after.phase, epoch: e0 });
          }
        }
      }),
    );
    expect(cycle(1).map(({ activeSite, generations }) => writerEpoch(activeSite, generations))).toEqual([2, 3, 3, 4, 4, 5]);
  });

  test("the primary's writers take even epochs and the secondary's odd ones, so two writer claims never tie", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (primary, secondary) => {
        expect(writerEpoch("primary", { primary, secondary }) % 2).toBe(0);
        expect(writerEpoch("secondary", { primary, secondary }) % 2).toBe(1);
      }),
    );
  });
});

describe.each(STACK_CASES)("fencing of stack $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });
  const values = readStackConfig(stack).values;
  const region = values[`drstack:${stack}Region`];
  const peer: SiteName = stack === "primary" ? "secondary" : "primary";
  const peerRegion = values[`drstack:${peer}Region`];
  const param = (site: SiteName, r: string, leaf: string) => `arn:aws:ssm:${r}:${ACCOUNT}:parameter/acme-shop-dr/${site}/fencing/${leaf}`;
  const topicArn = `arn:aws:sns:${region}:${ACCOUNT}:${stack}-alarms-topic-topic`;

  test("the claim is a plain String parameter in the site's region, written after the database, saying the site's role, mode and epoch", async () => {
    const evaluation = await run();
    const [claim, ...others] = resourcesOfType(within(evaluation, FENCING), T.parameter);
    expect(others).toEqual([]);
    expect(claim.inputs.name).toBe(`/acme-shop-dr/${stack}/fencing/claim`);
    expect(JSON.parse(String(claim.inputs.insecureValue))).toEqual(writerClaim(stack, activeSite, { primary: 1, secondary: 1 }, `acme-shop-dr-${stack}-db`));
    expect(JSON.parse(String(claim.inputs.insecureValue))).toMatchObject({ role: roleOf(stack, activeSite), databaseMode: databaseMode(stack, activeSite, { primary: 1, secondary: 1 }), epoch: activeSite === "primary" ? 2 : 3 });
    // internal/service/ssm/parameter.go: exactly one of value, insecure_value, value_wo; insecure_value with
    // SecureString fails at read; overwrite left unset so creating never clobbers a parameter made outside the program.
    expect(claim.inputs).toMatchObject({ type: "String", tier: "Standard" });
    expect(claim.inputs.value).toBeUndefined();
    expect(claim.inputs.valueWo).toBeUndefined();
    expect(claim.inputs.overwrite).toBeUndefined();
    expect(claim.dependsOn).toEqual([`drstack:database:SiteDatabase::${stack}-database`]);
    expect(claim.provider).toContain(`::${stack}-aws::`);
    expect(evaluation.outputs.writerEpoch).toBe(JSON.parse(String(claim.inputs.insecureValue)).epoch);
  });

  test("the guard is a Node.js function from the built archive, outside the VPC, with the environment its handler reads", async () => {
    const evaluation = await run();
    const [guard, ...others] = resourcesOfType(within(evaluation, FENCING), T.fn);
    expect(others).toEqual([]);
    expect(guard.inputs).toMatchObject({ name: `acme-shop-dr-${stack}-fencing-guard`, runtime: "nodejs20.x", handler: GUARD_HANDLER, timeout: 60 });
    expect((guard.inputs.code as Record<string, unknown>).__pulumiArchive).toBe(true);
    expect(guard.inputs.vpcConfig).toBeUndefined();
    const scheduleNames = resourcesOfType(evaluation, T.schedule)
      .filter((s) => /-backup-jobs-backup-.*-schedule$/.test(s.name))
      .map((s) => `terraform-${s.name}`);
    expect((guard.inputs.environment as { variables: Record<string, string> }).variables).toEqual({
      SITE: stack,
      PEER_REGION: peerRegion,
      FENCING_CLAIM_PARAMETER: `/acme-shop-dr/${stack}/fencing/claim`,
      FENCE_MARKER_PARAMETER: `/acme-shop-dr/${stack}/fencing/fence`,
      PEER_FENCING_CLAIM_PARAMETER: `/acme-shop-dr/${peer}/fencing/claim`,
      PEER_FENCE_MARKER_PARAMETER: `/acme-shop-dr/${peer}/fencing/fence`,
      BACKUP_SCHEDULES: scheduleNames.join(","),
      BACKUP_SCHEDULE_GROUP: "default",
      ALARM_TOPIC_ARN: topicArn,
      METRIC_NAMESPACE: "drstack/fencing",
    });
    expect(scheduleNames).toHaveLength(2);
  });

  test("the guard's role names every resource it may touch: both claims, its own marker, its own database to stop, its own schedules", async () => {
    const evaluation = await run();
    const statements = parsePolicy(resourcesOfType(evaluation, T.policy).find((p) => p.name === `${stack}-fencing-guard-permissions`)!.inputs.policy);
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      for (const action of asArray(statement.Action)) expect(action).not.toContain("*");
      for (const resource of asArray(statement.Resource)) {
        if (resource === "*") {
          // PutMetricData has no resource-level permission: its scope is the namespace condition.
          expect(statement.Action).toBe("cloudwatch:PutMetricData");
          expect(statement.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "drstack/fencing" } });
        }
      }
    }
    expect(bySid.ReadBothSitesClaimsAndMarkers.Resource).toEqual([param(stack, region, "claim"), param(stack, region, "fence"), param(peer, peerRegion, "claim"), param(peer, peerRegion, "fence")]);
    expect(bySid.WriteOwnFenceMarker).toMatchObject({ Action: "ssm:PutParameter", Resource: param(stack, region, "fence") });
    const ownDb = `arn:aws:rds:${region}:${ACCOUNT}:db:acme-shop-dr-${stack}-db`;
    expect(bySid.StopOwnDatabase).toMatchObject({ Action: "rds:StopDBInstance", Resource: ownDb });
    expect(bySid.DescribeOwnAndPeerDatabases.Resource).toEqual([ownDb, `arn:aws:rds:${peerRegion}:${ACCOUNT}:db:acme-shop-dr-${peer}-db`, `arn:aws:rds:${peerRegion}:${ACCOUNT}:db:acme-shop-dr-${peer}-db-g*`]);
    const backupSchedules = resourcesOfType(evaluation, T.schedule).filter((s) => /-backup-jobs-backup-.*-schedule$/.test(s.name));
    expect(asArray(bySid.DisableOwnBackupSchedules.Resource).sort()).toEqual(
      backupSchedules.map((s) => `arn:aws:scheduler:${region}:${ACCOUNT}:schedule/default/terraform-${s.name}`).sort(),
    );
    // UpdateSchedule passes the target's role: iam:PassRole on that role, to Scheduler only
    // (https://docs.aws.amazon.com/scheduler/latest/UserGuide/security_iam_id-based-policy-examples.html).
    expect(bySid.PassBackupSchedulerRole).toMatchObject({
      Action: "iam:PassRole",
      Resource: `arn:aws:iam::${ACCOUNT}:role/${stack}-backup-jobs-scheduler-role`,
      Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    });
    for (const schedule of backupSchedules) expect((schedule.inputs.target as { roleArn: string }).roleArn).toBe(bySid.PassBackupSchedulerRole.Resource);
    expect(bySid.NotifyAlarmTopic.Resource).toBe(topicArn);
  });

  test("the guard runs on an always-enabled schedule in every role, with a retry policy inside the provider's ranges", async () => {
    const schedule = resourcesOfType(await run(), T.schedule).find((s) => s.name === `${stack}-fencing-guard-schedule`)!.inputs;
    expect(schedule).toMatchObject({ state: "ENABLED", scheduleExpression: "rate(1 minute)", scheduleExpressionTimezone: "UTC", flexibleTimeWindow: { mode: "OFF" } });
    const target = schedule.target as { arn: string; input: string; retryPolicy: { maximumRetryAttempts: number; maximumEventAgeInSeconds: number } };
    expect(target.arn).toBe(`arn:aws:lambda:${region}:${ACCOUNT}:function:acme-shop-dr-${stack}-fencing-guard`);
    expect(JSON.parse(target.input)).toEqual({ source: "schedule" });
    // internal/service/scheduler/schedule.go: maximum_event_age_in_seconds 60-86400, maximum_retry_attempts 0-185.
    expect(target.retryPolicy.maximumEventAgeInSeconds).toBeGreaterThanOrEqual(60);
    expect(target.retryPolicy.maximumEventAgeInSeconds).toBeLessThanOrEqual(86400);
    expect(target.retryPolicy.maximumRetryAttempts).toBeGreaterThanOrEqual(0);
    expect(target.retryPolicy.maximumRetryAttempts).toBeLessThanOrEqual(185);
  });

  test("every fencing alarm notifies the site's topic, one guard interval per period", async () => {
    const alarms = resourcesOfType(within(await run(), FENCING), T.alarm);
    expect(alarms.map((a) => a.name).sort()).toEqual(
      ["guard-errors", "peer-unreachable", "claims-inconsistent", "fenced", "fence-action-failed"].map((s) => `${stack}-fencing-${s}`).sort(),
    );
    for (const alarm of alarms) {
      expect(alarm.inputs.alarmActions).toEqual([topicArn]);
      expect(alarm.inputs.okActions).toEqual([topicArn]);
    }
    const unreachable = alarms.find((a) => a.name.endsWith("peer-unreachable"))!.inputs;
    expect(unreachable).toMatchObject({ namespace: "drstack/fencing", metricName: "PeerUnreachable", dimensions: { Site: stack }, period: 60, treatMissingData: "breaching" });
  });
});

describe("fencing config", () => {
  test("the guard's schedule follows fencingGuardSchedule, and its alarms' periods follow the interval", async () => {
    const evaluation = await evaluate("primary", { fencingGuardSchedule: "rate(5 minutes)" });
    expect(resourcesOfType(evaluation, T.schedule).find((s) => s.name === "primary-fencing-guard-schedule")!.inputs.scheduleExpression).toBe("rate(5 minutes)");
    expect(resourcesOfType(within(evaluation, FENCING), T.alarm).find((a) => a.name.endsWith("peer-unreachable"))!.inputs.period).toBe(300);
  });

  test.each([
    ["rate(1 hour)", /fencingGuardSchedule = "rate\(1 hour\)": leaves up to 60 minutes between guard runs.*at most 15 minutes/],
    ["cron(0 3 ? * MON *)", /does not run every day/],
    ["every minute", /is not an EventBridge Scheduler expression/],
  ])("rejects fencingGuardSchedule %j, naming the fix", (value, message) => {
    const text = problemsOf({ ...declaredDefaults(), fencingGuardSchedule: value });
    expect(text).toMatch(message);
    expect(text).toMatch(/pulumi -s primary config set fencingGuardSchedule 'rate\(1 minute\)'/);
  });
});
