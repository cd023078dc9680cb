import { DRILL_TASK_COMMAND, HANDLER_ENV, METRIC_NAMESPACE } from "../../infra/backupContract";
import { FARGATE_MEMORY_GIB, parseConfig } from "../../infra/config";
import { DRILL_AGE_GRACE_SECONDS, DRILL_HARD_LIMIT_MARGIN_SECONDS, DRILL_STOP_TIMEOUT_SECONDS, drillTaskFailedPattern } from "../../infra/drills";
import { DRILL_VPC_CIDR, ecrLayerBucketArn } from "../../infra/drillNetwork";
import { longestScheduleGapMinutes } from "../../infra/scheduleExpression";
import { Evaluation, RecordedResource } from "../../offline/evaluate";
import { handlerCalls } from "../../offline/handlerCalls";
import { reachabilityProblems } from "../../offline/reachability";
import { readStackConfig } from "../../offline/stackFiles";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { evaluate, parsePolicy, ParsedStatement, resourcesOfType, STACK_CASES } from "./evaluations";
import { decide, PolicyRequest } from "./policyEvaluation";

jest.setTimeout(60_000);

const T = {
  fn: "aws:lambda/function:Function",
  task: "aws:ecs/taskDefinition:TaskDefinition",
  cluster: "aws:ecs/cluster:Cluster",
  schedule: "aws:scheduler/schedule:Schedule",
  scheduleGroup: "aws:scheduler/scheduleGroup:ScheduleGroup",
  policy: "aws:iam/rolePolicy:RolePolicy",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  vpc: "aws:ec2/vpc:Vpc",
  route: "aws:ec2/route:Route",
  routeTable: "aws:ec2/routeTable:RouteTable",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  gateway: "aws:ec2/internetGateway:InternetGateway",
  nat: "aws:ec2/natGateway:NatGateway",
};
const ACCOUNT = "123456789012";
const DAY = 86_400;
const calls = handlerCalls();

interface Container {
  name: string;
  image: string;
  entryPoint: string[];
  command: string[];
  environment: Array<{ name: string; value: string }>;
  stopTimeout: number;
  linuxParameters: { initProcessEnabled: boolean };
  logConfiguration: { logDriver: string; options: Record<string, string> };
}

function named(evaluation: Evaluation, type: string, name: string): RecordedResource {
  const found = resourcesOfType(evaluation, type).find((resource) => resource.name === name);
  if (!found) throw new Error(`no ${type} named ${name}; have ${resourcesOfType(evaluation, type).map((r) => r.name).join(", ")}`);
  return found;
}

function containerOf(definition: RecordedResource): Container {
  const containers = JSON.parse(String(definition.inputs.containerDefinitions)) as Container[];
  expect(containers).toHaveLength(1);
  return containers[0];
}

function withResources(evaluation: Evaluation, change: (resource: RecordedResource) => RecordedResource | undefined): Evaluation {
  return { ...evaluation, resources: evaluation.resources.flatMap((resource) => change(resource) ?? []) };
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

  test("defaults: monthly drills per tier, no smoke queries, a 2 vCPU / 8 GiB task with 30 GiB of scratch and three hours", () => {
    const drills = parseConfig(valid, "primary").backups.drills;
    expect(drills.schedules).toEqual({ critical: "cron(0 4 1 * ? *)", high: "cron(0 4 1 * ? *)", standard: "cron(0 4 1 * ? *)", low: "cron(0 4 1 * ? *)" });
    expect(drills.gapMinutes.critical).toBe(31 * 24 * 60);
    expect(drills.smokeQueries).toEqual({});
    expect(drills.task).toEqual({ cpu: 2, memoryGib: 8, scratchStorageGib: 30, timeoutMinutes: 180 });
  });

  test("a smoke query is database=SQL for a backed-up database, one per database", () => {
    const raw = { ...valid, backupDatabases: "app:critical", drillSmokeQueries: JSON.stringify(["app=SELECT count(*) > 0 FROM orders"]) };
    expect(parseConfig(raw, "primary").backups.drills.smokeQueries).toEqual({ app: "SELECT count(*) > 0 FROM orders" });
    expect(problemsOf({ ...raw, drillSmokeQueries: JSON.stringify(["SELECT 1"]) })).toMatch(/drillSmokeQueries = .*: entry "SELECT 1" is not database=SQL/);
    expect(problemsOf({ ...raw, drillSmokeQueries: JSON.stringify(["shop=SELECT 1"]) })).toMatch(/drillSmokeQueries = .*: names "shop", which is not in backupDatabases.*use one of app/s);
    expect(problemsOf({ ...raw, drillSmokeQueries: JSON.stringify(["app=SELECT 1", "app=SELECT 2"]) })).toMatch(/gives app two queries/);
  });

  test("a drill schedule that ends or runs more than daily is refused with the fix", () => {
    expect(problemsOf({ ...valid, tierLowDrillSchedule: "cron(0 4 1 * ? 2027)" })).toMatch(/tierLowDrillSchedule = .*: does not recur for ever.*config set tierLowDrillSchedule 'cron\(0 4 1 \* \? \*\)'/s);
    expect(problemsOf({ ...valid, tierLowDrillSchedule: "monthly" })).toMatch(/tierLowDrillSchedule/);
    expect(problemsOf({ ...valid, tierLowDrillSchedule: "rate(1 hour)" })).toMatch(/tierLowDrillSchedule = .*: runs the drill every 60 minutes.*at most one a day/);
    expect(parseConfig({ ...valid, tierLowDrillSchedule: "rate(1 day)" }, "primary").backups.drills.gapMinutes.low).toBe(24 * 60);
  });

  // Amazon ECS Developer Guide, "Task CPU and memory": Fargate's task sizes; ECS API Reference, EphemeralStorage: 21-200 GiB.
  test("task sizes are Fargate's: vCPUs 1-16, memory in the range and step of the vCPUs, storage 21-200 GiB, a run of 30-1440 minutes", () => {
    for (const [cpu, range] of Object.entries(FARGATE_MEMORY_GIB)) {
      for (let memory = range.min; memory <= range.max; memory += range.step) {
        expect(parseConfig({ ...valid, drillCpu: cpu, drillMemoryGib: String(memory) }, "primary").backups.drills.task).toMatchObject({ cpu: Number(cpu), memoryGib: memory });
      }
      expect(problemsOf({ ...valid, drillCpu: cpu, drillMemoryGib: String(range.max + range.step) })).toMatch(new RegExp(`drillMemoryGib = .*: is ${range.max + range.step}, which Fargate does not offer with drillCpu ${cpu}: ${range.min} to ${range.max} GiB`));
    }
    expect(problemsOf({ ...valid, drillCpu: "8", drillMemoryGib: "18" })).toMatch(/drillMemoryGib = .*: is 18, which Fargate does not offer with drillCpu 8: 16 to 60 GiB in steps of 4.*config set drillMemoryGib 16/s);
    expect(problemsOf({ ...valid, drillCpu: "3" })).toMatch(/drillCpu = .*: must be one of 1, 2, 4, 8, 16/);
    // A bad drillCpu is the one problem: the memory is not judged against a size nobody asked for.
    expect(problemsOf({ ...valid, drillCpu: "3" })).not.toMatch(/drillMemoryGib/);
    expect(problemsOf({ ...valid, drillScratchStorageGib: "20" })).toMatch(/drillScratchStorageGib = .*: must be at least 21/);
    expect(problemsOf({ ...valid, drillScratchStorageGib: "201" })).toMatch(/drillScratchStorageGib = .*: must be at most 200/);
    expect(problemsOf({ ...valid, drillTimeoutMinutes: "10" })).toMatch(/drillTimeoutMinutes = .*: must be at least 30/);
    expect(problemsOf({ ...valid, drillTimeoutMinutes: "2000" })).toMatch(/drillTimeoutMinutes = .*: must be at most 1440/);
  });
});

describe.each(STACK_CASES)("restore drills of stack $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });
  const values = readStackConfig(stack).values;
  const region = values[`drstack:${stack}Region`];
  const prefix = values["drstack:namePrefix"];
  const peer = stack === "primary" ? "secondary" : "primary";
  const bucketArn = `arn:aws:s3:::acme-shop-dr-backups-${stack}-${region}`;
  const taskName = (tier: string) => `${stack}-restore-drills-${tier}`;
  const family = (tier: string) => `${prefix}-${stack}-drill-${tier}`;
  const familyArn = (tier: string) => `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/${family(tier)}`;

  test("one Fargate task definition per used tier, from the backup image, with no Lambda left behind", async () => {
    const evaluation = await run();
    expect(resourcesOfType(evaluation, T.fn).filter((fn) => fn.name.startsWith(`${stack}-restore-drills`))).toEqual([]);
    const definitions = resourcesOfType(evaluation, T.task).filter((definition) => definition.name.startsWith(`${stack}-restore-drills-`));
    // The example protects shop (critical) and ledger (standard, financial).
    expect(definitions.map((definition) => definition.name).sort()).toEqual([taskName("critical"), taskName("standard")]);
    for (const definition of definitions) {
      const inputs = definition.inputs;
      expect(inputs.family).toBe(family(definition.name.split("-").pop()!));
      expect([inputs.requiresCompatibilities, inputs.networkMode]).toEqual([["FARGATE"], "awsvpc"]);
      // Fargate takes cpu units and MiB as strings, in its table's pairs.
      expect([inputs.cpu, inputs.memory]).toEqual(["2048", "8192"]);
      expect(inputs.ephemeralStorage).toEqual({ sizeInGib: 30 });
      expect(inputs.runtimePlatform).toEqual({ operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" });
      expect(String(inputs.executionRoleArn)).toMatch(/role\/.*restore-drills-execution-role/);
      expect(String(inputs.taskRoleArn)).toMatch(/role\/.*restore-drills-task-role/);
      const container = containerOf(definition);
      expect(container.image).toMatch(new RegExp(`^${ACCOUNT}\\.dkr\\.ecr\\.${region}\\.amazonaws\\.com/${prefix}/drstack-backup@sha256:[0-9a-f]{64}$`));
      // The task's own deadline, then SIGTERM from outside ten minutes on, SIGKILL a minute after: ECS never stops a standalone task.
      expect([...container.entryPoint, ...container.command]).toEqual(["timeout", "--kill-after=60", String(180 * 60 + DRILL_HARD_LIMIT_MARGIN_SECONDS), ...DRILL_TASK_COMMAND]);
      expect(container.logConfiguration.options.mode).toBe("non-blocking");
      // Fargate's stop timeout is at most 120 s (ECS API Reference, ContainerDefinition stopTimeout).
      expect(container.stopTimeout).toBe(DRILL_STOP_TIMEOUT_SECONDS);
      expect(container.stopTimeout).toBeLessThanOrEqual(120);
      expect(container.linuxParameters.initProcessEnabled).toBe(true);
      expect(container.logConfiguration.logDriver).toBe("awslogs");
      expect(container.logConfiguration.options["awslogs-region"]).toBe(region);
      const env = Object.fromEntries(container.environment.map(({ name, value }) => [name, value]));
      expect(env[HANDLER_ENV.site]).toBe(stack);
      expect(env.AWS_REGION).toBe(region);
      expect(env[HANDLER_ENV.metricNamespace]).toBe(METRIC_NAMESPACE);
      expect(env[HANDLER_ENV.drillDeadlineSeconds]).toBe(String(180 * 60));
      expect(env.DATABASE_URL).toBeUndefined();
    }
    const targets = (tier: string) => containerOf(named(evaluation, T.task, taskName(tier))).environment.find(({ name }) => name === HANDLER_ENV.drillTargets)?.value;
    expect(targets("critical")).toBe("shop:critical:db");
    expect(targets("standard")).toBe("ledger:standard:financial");
  });

  test("drills are scheduled on both sites whichever is active, as RunTask in the drill cluster with no public IP", async () => {
    const evaluation = await run();
    const cluster = named(evaluation, T.cluster, `${stack}-restore-drills-cluster`);
    const group = named(evaluation, T.scheduleGroup, `${stack}-restore-drills-schedules`);
    for (const tier of ["critical", "standard"]) {
      const schedule = named(evaluation, T.schedule, `${taskName(tier)}-schedule`).inputs as Record<string, unknown>;
      expect(schedule.state).toBe("ENABLED");
      expect(schedule.scheduleExpression).toBe("cron(0 4 1 * ? *)");
      expect(schedule.groupName).toBe(group.state?.name);
      const target = schedule.target as { arn: string; ecsParameters: { taskDefinitionArn: string; launchType: string; taskCount: number; networkConfiguration: { subnets: string[]; securityGroups: string[]; assignPublicIp: boolean } } };
      // EventBridge Scheduler's ECS target: the cluster's ARN, the task definition in ecsParameters.
      expect(target.arn).toBe(cluster.state?.arn);
      expect(target.ecsParameters.taskDefinitionArn).toBe(`${familyArn(tier)}:1`);
      expect([target.ecsParameters.launchType, target.ecsParameters.taskCount, target.ecsParameters.networkConfiguration.assignPublicIp]).toEqual(["FARGATE", 1, false]);
    }
    const scheduler = parsePolicy(named(evaluation, T.policy, `${stack}-restore-drills-scheduler-permissions`).inputs.policy);
    const inCluster = { "ecs:cluster": String(cluster.state?.arn) };
    for (const tier of ["critical", "standard"]) {
      expect(decide(scheduler, { principal: "scheduler", action: "ecs:RunTask", resource: `${familyArn(tier)}:7`, context: inCluster })).toBe("allow");
      expect(decide(scheduler, { principal: "scheduler", action: "ecs:RunTask", resource: `${familyArn(tier)}:7`, context: { "ecs:cluster": `arn:aws:ecs:${region}:${ACCOUNT}:cluster/other` } })).toBe("implicit-deny");
    }
    expect(decide(scheduler, { principal: "scheduler", action: "ecs:RunTask", resource: `arn:aws:ecs:${region}:${ACCOUNT}:task-definition/other:1`, context: inCluster })).toBe("implicit-deny");
    // Amazon ECS Developer Guide, "Amazon ECS EventBridge IAM Role": iam:PassRole for the execution and task roles.
    const toEcs = { "iam:PassedToService": "ecs-tasks.amazonaws.com" };
    for (const role of ["execution-role", "task-role"]) {
      expect(decide(scheduler, { principal: "scheduler", action: "iam:PassRole", resource: `arn:aws:iam::${ACCOUNT}:role/${stack}-restore-drills-${role}`, context: toEcs })).toBe("allow");
      expect(decide(scheduler, { principal: "scheduler", action: "iam:PassRole", resource: `arn:aws:iam::${ACCOUNT}:role/${stack}-restore-drills-${role}`, context: { "iam:PassedToService": "lambda.amazonaws.com" } })).toBe("implicit-deny");
    }
    expect(decide(scheduler, { principal: "scheduler", action: "iam:PassRole", resource: `arn:aws:iam::${ACCOUNT}:role/admin`, context: toEcs })).toBe("implicit-deny");
  });

  test("the drill's task role reads the backups and writes only its own site's drill reports; the execution role only pulls its image and writes its logs", async () => {
    const evaluation = await run();
    const statements: ParsedStatement[] = parsePolicy(named(evaluation, T.policy, `${stack}-restore-drills-task-permissions`).inputs.policy);
    const role = `arn:aws:iam::${ACCOUNT}:role/${stack}-restore-drills-task-role`;
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
    const kms = statements.find((statement) => statement.Sid === "UseBackupKeyThroughS3");
    expect(kms?.Condition).toEqual({ StringEquals: { "kms:ViaService": `s3.${region}.amazonaws.com` } });
    expect(String(kms?.Resource)).toContain(`arn:aws:kms:${region}:${ACCOUNT}:key/`);
    expect(decide(statements, { principal: role, action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": METRIC_NAMESPACE } })).toBe("allow");
    expect(decide(statements, { principal: role, action: "cloudwatch:PutMetricData", resource: "*", context: { "cloudwatch:namespace": "AWS/ECS" } })).toBe("implicit-deny");
    expect(decide(statements, { principal: role, action: "secretsmanager:GetSecretValue", resource: "*" })).toBe("implicit-deny");

    const execution = parsePolicy(named(evaluation, T.policy, `${stack}-restore-drills-execution-permissions`).inputs.policy);
    const agent = `arn:aws:iam::${ACCOUNT}:role/${stack}-restore-drills-execution-role`;
    const repository = `arn:aws:ecr:${region}:${ACCOUNT}:repository/${prefix}/drstack-backup`;
    for (const action of ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]) {
      expect(decide(execution, { principal: agent, action, resource: repository })).toBe("allow");
      expect(decide(execution, { principal: agent, action, resource: `arn:aws:ecr:${region}:${ACCOUNT}:repository/${prefix}/app` })).toBe("implicit-deny");
    }
    expect(decide(execution, { principal: agent, action: "ecr:GetAuthorizationToken", resource: "*" })).toBe("allow");
    expect(decide(execution, { principal: agent, action: "s3:GetObject", resource: `${bucketArn}/db/shop/latest-primary.json` })).toBe("implicit-deny");
  });

  test("the drill VPC has no way out but its endpoints: no internet or NAT gateway, no routes, S3 only to the site's bucket and ECR's layers", async () => {
    const evaluation = await run();
    const vpc = named(evaluation, T.vpc, `${stack}-restore-drills-network-vpc`);
    expect(vpc.inputs).toMatchObject({ cidrBlock: DRILL_VPC_CIDR, enableDnsSupport: true, enableDnsHostnames: true });
    expect(resourcesOfType(evaluation, T.gateway)).toEqual([]);
    expect(resourcesOfType(evaluation, T.nat)).toEqual([]);
    const table = named(evaluation, T.routeTable, `${stack}-restore-drills-network-routes`);
    expect(table.inputs.routes ?? []).toEqual([]);
    expect(resourcesOfType(evaluation, T.route).filter((route) => route.inputs.routeTableId === table.state?.id)).toEqual([]);
    const endpoints = resourcesOfType(evaluation, T.endpoint).filter((endpoint) => endpoint.inputs.vpcId === vpc.state?.id);
    expect(endpoints.map((endpoint) => String(endpoint.inputs.serviceName)).sort()).toEqual(["ecr.api", "ecr.dkr", "logs", "monitoring", "s3"].map((service) => `com.amazonaws.${region}.${service}`));
    const gateway = endpoints.find((endpoint) => endpoint.inputs.vpcEndpointType === "Gateway")!;
    const policy = parsePolicy(gateway.inputs.policy);
    const mine = { "aws:PrincipalAccount": ACCOUNT };
    expect(decide(policy, { principal: "*", action: "s3:GetObject", resource: `${bucketArn}/db/shop/latest-primary.json`, context: mine })).toBe("allow");
    // Another account's credentials do not pass, whatever their own policies say.
    expect(decide(policy, { principal: "*", action: "s3:PutObject", resource: `${bucketArn}/db/shop/drills/x-${stack}.json`, context: { "aws:PrincipalAccount": "999999999999" } })).toBe("implicit-deny");
    for (const endpoint of endpoints.filter((candidate) => candidate.inputs.vpcEndpointType === "Interface")) {
      expect(endpoint.inputs.privateDnsEnabled).toBe(true);
      const statements = parsePolicy(endpoint.inputs.policy);
      const action = String(statements[0].Action instanceof Array ? statements[0].Action[0] : statements[0].Action);
      expect(decide(statements, { principal: "*", action, resource: "*", context: mine })).toBe("allow");
      expect(decide(statements, { principal: "*", action, resource: "*", context: { "aws:PrincipalAccount": "999999999999" } })).toBe("implicit-deny");
    }
    expect(decide(policy, { principal: "*", action: "s3:GetObject", resource: `${ecrLayerBucketArn(region)}/sha256/abc` })).toBe("allow");
    expect(decide(policy, { principal: "*", action: "s3:PutObject", resource: `${ecrLayerBucketArn(region)}/sha256/abc` })).toBe("implicit-deny");
    expect(decide(policy, { principal: "*", action: "s3:PutObject", resource: "arn:aws:s3:::attacker-bucket/loot" })).toBe("implicit-deny");
    expect(decide(policy, { principal: "*", action: "s3:DeleteObject", resource: `${bucketArn}/db/shop/latest-primary.json` })).toBe("implicit-deny");
  });

  test("each drill task reaches what its entry point calls and what Fargate calls to start it, by the graph", async () => {
    const evaluation = await run();
    expect(calls["tasks/drill"]).toEqual({ aws: expect.arrayContaining(["s3", "monitoring"]), database: false });
    const problems = reachabilityProblems(evaluation, calls).filter((problem) => problem.from.includes("restore-drills"));
    expect(problems).toEqual([]);
  });

  test("alarms: a failed drill, a task the schedule could not start, and no passed drill for a month, the run's limit and a day", async () => {
    const evaluation = await run();
    const failed = named(evaluation, T.alarm, `${stack}-restore-drills-shop-failed`).inputs as Record<string, unknown>;
    expect([failed.metricName, failed.namespace, failed.threshold, failed.treatMissingData]).toEqual(["DrillFailed", METRIC_NAMESPACE, 1, "ignore"]);
    expect(failed.dimensions).toEqual({ Database: "shop" });
    const stale = named(evaluation, T.alarm, `${stack}-restore-drills-ledger-stale`).inputs as Record<string, unknown>;
    expect(stale.metricName).toBe("DrillAgeSeconds");
    expect(stale.threshold).toBe(31 * DAY + 180 * 60 + DRILL_AGE_GRACE_SECONDS);
    expect((stale.alarmActions as string[])[0]).toMatch(/^arn:aws:sns:/);
    // A task that never started or was killed publishes nothing: ECS's stopped event goes to the alarm topic.
    const rule = named(evaluation, "aws:cloudwatch/eventRule:EventRule", `${stack}-restore-drills-task-failed`);
    const cluster = named(evaluation, T.cluster, `${stack}-restore-drills-cluster`);
    expect(JSON.parse(String(rule.inputs.eventPattern))).toEqual(drillTaskFailedPattern(String(cluster.state?.arn)));
    const notify = named(evaluation, "aws:cloudwatch/eventTarget:EventTarget", `${stack}-restore-drills-task-failed-notify`);
    expect(String(notify.inputs.arn)).toMatch(/^arn:aws:sns:/);
    expect(notify.inputs.rule).toBe(rule.state?.name);
    const topicPolicy = parsePolicy(resourcesOfType(evaluation, "aws:sns/topicPolicy:TopicPolicy").find((policy) => policy.inputs.arn === notify.inputs.arn)!.inputs.policy);
    expect(decide(topicPolicy, { principal: "events.amazonaws.com", action: "sns:Publish", resource: String(notify.inputs.arn), context: { "aws:SourceAccount": ACCOUNT } })).toBe("allow");
    expect(decide(topicPolicy, { principal: "events.amazonaws.com", action: "sns:Publish", resource: String(notify.inputs.arn), context: { "aws:SourceAccount": "999999999999" } })).toBe("implicit-deny");
    // A topic policy replaces SNS's default: the account's own publishers (CloudWatch alarms) keep the default's grant.
    expect(decide(topicPolicy, { principal: `arn:aws:iam::${ACCOUNT}:role/anything`, action: "SNS:Publish", resource: String(notify.inputs.arn), context: { "AWS:SourceOwner": ACCOUNT } })).toBe("allow");
    expect(decide(topicPolicy, { principal: "arn:aws:iam::999999999999:role/anything", action: "SNS:Publish", resource: String(notify.inputs.arn), context: { "AWS:SourceOwner": "999999999999" } })).toBe("implicit-deny");
    const notStarted = named(evaluation, T.alarm, `${stack}-restore-drills-not-started`).inputs as Record<string, unknown>;
    // EventBridge Scheduler User Guide, "Monitoring ... with CloudWatch": AWS/Scheduler, dimension ScheduleGroup.
    expect([notStarted.namespace, notStarted.metricName, notStarted.threshold]).toEqual(["AWS/Scheduler", "InvocationDroppedCount", 1]);
    expect(notStarted.dimensions).toEqual({ ScheduleGroup: named(evaluation, T.scheduleGroup, `${stack}-restore-drills-schedules`).state?.name });
  });
});

describe("the drill's reachability check fails when a hop breaks", () => {
  const isDrill = (resource: RecordedResource, suffix: string) => resource.name === `primary-restore-drills-network-${suffix}`;
  const drillProblems = (evaluation: Evaluation) => reachabilityProblems(evaluation, calls).filter((problem) => problem.from.includes("restore-drills")).map((problem) => problem.problem);

  test("without the ecr.dkr endpoint the image cannot be pulled", async () => {
    const evaluation = withResources(await evaluate("primary"), (resource) => (isDrill(resource, "ecr-dkr") ? undefined : resource));
    expect(drillProblems(evaluation)).toEqual([expect.stringMatching(/^ecr\.dkr has no interface endpoint in .*, and task of schedule primary-restore-drills-critical-schedule's subnets have no other way out$/), expect.stringMatching(/standard-schedule/)]);
  });

  test("an endpoint without private DNS, or a VPC without DNS hostnames, leaves the task's calls unanswered", async () => {
    const base = await evaluate("primary");
    const noPrivateDns = withResources(base, (resource) => (isDrill(resource, "logs") ? { ...resource, inputs: { ...resource.inputs, privateDnsEnabled: false } } : resource));
    expect(drillProblems(noPrivateDns)[0]).toMatch(/^the logs endpoint has no private DNS, and nothing points task of schedule .* at its own name$/);
    const noHostnames = withResources(base, (resource) => (isDrill(resource, "vpc") ? { ...resource, inputs: { ...resource.inputs, enableDnsHostnames: false } } : resource));
    expect(drillProblems(noHostnames)).toContainEqual(expect.stringMatching(/^the monitoring endpoint has private DNS, which VPC .* cannot answer without enableDnsSupport and enableDnsHostnames$/));
  });

  test("when the task's group loses its way out to S3, or is given a public IP", async () => {
    const base = await evaluate("primary");
    const noS3 = withResources(base, (resource) =>
      isDrill(resource, "task") ? { ...resource, inputs: { ...resource.inputs, egress: (resource.inputs.egress as Array<{ prefixListIds?: string[] }>).filter((rule) => !rule.prefixListIds) } } : resource,
    );
    expect(drillProblems(noS3)).toContainEqual(expect.stringMatching(/no egress rule of task of schedule .*'s groups lets HTTPS out to S3's prefix list/));
    const publicIp = withResources(base, (resource) => {
      const target = resource.inputs.target as { ecsParameters?: { networkConfiguration: Record<string, unknown> } } | undefined;
      if (resource.name !== "primary-restore-drills-critical-schedule" || !target?.ecsParameters) return resource;
      return { ...resource, inputs: { ...resource.inputs, target: { ...target, ecsParameters: { ...target.ecsParameters, networkConfiguration: { ...target.ecsParameters.networkConfiguration, assignPublicIp: true } } } } };
    });
    expect(drillProblems(publicIp)).toEqual([expect.stringMatching(/it is given a public IP address/)]);
  });
});

/**
 * EventBridge's matching for the operators the pattern uses (EventBridge User
 * Guide, "Event patterns"): a list of values matches a field equal to one of
 * them (any element, for an array field), `anything-but` one that exists and
 * differs, a nested object its fields, `$or` any of its patterns.
 */
function patternMatches(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    if (key === "$or") return (rule as Array<Record<string, unknown>>).some((alternative) => patternMatches(alternative, event));
    const value = event[key];
    if (Array.isArray(rule)) {
      const values = (Array.isArray(value) ? value : [value]).filter((v) => v !== undefined);
      return values.some((v) => rule.some((r) => (typeof r === "object" && r !== null && "anything-but" in r ? v !== (r as { "anything-but": unknown })["anything-but"] : v === r)));
    }
    if (Array.isArray(value)) return value.some((element) => patternMatches(rule as Record<string, unknown>, element as Record<string, unknown>));
    return typeof value === "object" && value !== null && patternMatches(rule as Record<string, unknown>, value as Record<string, unknown>);
  });
}

// Amazon ECS Developer Guide, "Amazon ECS task state change events": detail.clusterArn, lastStatus, stopCode, containers[].exitCode.
describe("the drill task's stopped-with-a-failure pattern", () => {
  const cluster = "arn:aws:ecs:us-west-2:123456789012:cluster/drills";
  const event = (detail: Record<string, unknown>) => ({ source: "aws.ecs", "detail-type": "ECS Task State Change", detail: { clusterArn: cluster, lastStatus: "STOPPED", ...detail } });
  const matches = (e: Record<string, unknown>) => patternMatches(drillTaskFailedPattern(cluster), e);
  test("a task that could not start, or exited non-zero, in the drill cluster; not a clean exit, a running task or another cluster", () => {
    expect(matches(event({ stopCode: "TaskFailedToStart", containers: [{ name: "drill" }] }))).toBe(true);
    expect(matches(event({ stopCode: "EssentialContainerExited", containers: [{ exitCode: 137 }] }))).toBe(true);
    expect(matches(event({ stopCode: "EssentialContainerExited", containers: [{ exitCode: 1 }] }))).toBe(true);
    expect(matches(event({ stopCode: "EssentialContainerExited", containers: [{ exitCode: 0 }] }))).toBe(false);
    expect(matches(event({ lastStatus: "RUNNING", containers: [{}] }))).toBe(false);
    expect(matches(event({ clusterArn: "arn:aws:ecs:us-west-2:123456789012:cluster/other", stopCode: "TaskFailedToStart" }))).toBe(false);
    expect(matches({ ...event({ stopCode: "TaskFailedToStart" }), "detail-type": "ECS Container Instance State Change" })).toBe(false);
  });
});
