import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BACKUP_METRICS, databaseKeyPrefix, DRILL_TASK_COMMAND, drillReportKeys, drillTargets, HANDLER_ENV, METRIC_DIMENSION, METRIC_NAMESPACE } from "./backupContract";
import { notifyTopic } from "./alarms";
import { LOG_RETENTION_DAYS } from "./backups";
import { BackupDatabase } from "./backupTargets";
import { DrillTaskSize } from "./config";
import { DrillNetwork } from "./drillNetwork";
import { PolicyDocument, serviceTrustPolicy } from "./policyDocument";
import { SiteName } from "./roles";
import { TIER_NAMES, TierName } from "./tiers";

/** A drill may be late by this much (a run that failed to start, an outage on the day) before its age alarms. */
export const DRILL_AGE_GRACE_SECONDS = 24 * 3600;
/** The container's name in each drill task definition. */
export const DRILL_CONTAINER_NAME = "drill";
/** How long after its own deadline the task is sent SIGTERM from outside (then SIGKILL a minute on). */
export const DRILL_HARD_LIMIT_MARGIN_SECONDS = 600;
/** Fargate's longest stop timeout: after SIGTERM the task has this long to stop its drill, report and publish. */
export const DRILL_STOP_TIMEOUT_SECONDS = 120;

export interface RestoreDrillsArgs {
  site: SiteName;
  region: string;
  accountId: pulumi.Input<string>;
  namePrefix: string;
  bucketName: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  databases: BackupDatabase[];
  schedules: Record<TierName, string>;
  gapMinutes: Record<TierName, number>;
  smokeQueries: Record<string, string>;
  task: DrillTaskSize;
  /** The zone of the drill's subnet: the site's first data subnet zone. */
  zoneId: string;
  alarmTopicArn: pulumi.Input<string>;
  /** The backup job image, which holds the engine's restore tool and the server the drill restores into (PostgreSQL, MySQL or MariaDB). */
  backupImageUri: pulumi.Input<string>;
  /** Its repository, which the task's execution role pulls from. */
  backupRepositoryArn: pulumi.Input<string>;
}

/**
 * Scheduled restore drills for one site: per tier that protects a database,
 * an ECS task on Fargate (the backup image, `node /var/task/tasks/drill.js`)
 * that starts a throwaway server of the backup's engine (PostgreSQL, MySQL
 * or MariaDB) in the task's ephemeral storage,
 * restores the newest backup of each of the tier's databases from this
 * site's bucket into it, checks it against the manifest, publishes
 * DrillFailed and DrillRestoreSeconds and writes a drill report; its
 * schedule (EventBridge Scheduler's RunTask); and alarms on a failed drill,
 * on a schedule that could not start its task, and on the drill age the
 * verifier publishes (no passed drill for a schedule gap and a day).
 *
 * Drills run on both sites and never touch a database of the site: on the
 * standby they prove that the replicated copies restore, which is what a
 * region loss leaves. The tasks run in a VPC of their own (DrillNetwork)
 * that reaches S3, ECR, CloudWatch Logs and CloudWatch only; their
 * throwaway server listens on a socket in the task's /tmp.
 */
export class RestoreDrills extends pulumi.ComponentResource {
  /** Per tier, the task definition's ARN (with its revision). */
  public readonly drillTaskDefinitionArns: Partial<Record<TierName, pulumi.Output<string>>>;

  constructor(name: string, args: RestoreDrillsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:backups:RestoreDrills", name, {}, opts);
    const child = { parent: this };
    const notify = notifyTopic(args.alarmTopicArn);
    this.drillTaskDefinitionArns = {};

    const tiers = TIER_NAMES.filter((tier) => args.databases.some((database) => database.tier === tier));
    if (tiers.length === 0) {
      this.registerOutputs({});
      return;
    }

    const network = new DrillNetwork(`${name}-network`, { site: args.site, region: args.region, accountId: args.accountId, zoneId: args.zoneId, backupBucketArn: args.bucketArn }, child);
    const cluster = new aws.ecs.Cluster(`${name}-cluster`, { settings: [{ name: "containerInsights", value: "disabled" }] }, child);
    const logGroups = new Map(tiers.map((tier) => [tier, new aws.cloudwatch.LogGroup(`${name}-${tier}-logs`, { retentionInDays: LOG_RETENTION_DAYS }, child)]));

    // Two roles, as ECS separates them: the agent's (pull the image, write the log stream) and the drill's own.
    const executionRole = new aws.iam.Role(
      `${name}-execution-role`,
      { description: `ECS pulling the drstack ${args.site} restore drill image and writing its logs`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("ecs-tasks.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const executionPermissions = new aws.iam.RolePolicy(
      `${name}-execution-permissions`,
      { role: executionRole.name, policy: pulumi.jsonStringify(drillExecutionPolicy({ repositoryArn: args.backupRepositoryArn, logGroupArns: [...logGroups.values()].map((group) => group.arn) })) },
      child,
    );
    const taskRole = new aws.iam.Role(
      `${name}-task-role`,
      { description: `drstack ${args.site} restore drills`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("ecs-tasks.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const taskPermissions = new aws.iam.RolePolicy(
      `${name}-task-permissions`,
      { role: taskRole.name, policy: pulumi.jsonStringify(drillTaskPolicy({ site: args.site, region: args.region, bucketArn: args.bucketArn, keyArn: args.keyArn, databases: args.databases })) },
      child,
    );

    const taskDefinitions = new Map<TierName, aws.ecs.TaskDefinition>();
    for (const tier of tiers) {
      const databases = args.databases.filter((database) => database.tier === tier);
      const smokeQueries = Object.fromEntries(databases.flatMap((database) => (args.smokeQueries[database.name] !== undefined ? [[database.name, args.smokeQueries[database.name]]] : [])));
      const environment: Record<string, pulumi.Input<string>> = {
        AWS_REGION: args.region,
        [HANDLER_ENV.bucket]: args.bucketName,
        [HANDLER_ENV.site]: args.site,
        [HANDLER_ENV.drillTargets]: drillTargets(databases),
        [HANDLER_ENV.metricNamespace]: METRIC_NAMESPACE,
        [HANDLER_ENV.drillDeadlineSeconds]: String(args.task.timeoutMinutes * 60),
        ...(Object.keys(smokeQueries).length > 0 ? { [HANDLER_ENV.drillSmokeQueries]: JSON.stringify(smokeQueries) } : {}),
      };
      const definition = new aws.ecs.TaskDefinition(
        `${name}-${tier}`,
        {
          family: `${args.namePrefix}-${args.site}-drill-${tier}`,
          requiresCompatibilities: ["FARGATE"],
          networkMode: "awsvpc",
          runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
          cpu: String(args.task.cpu * 1024),
          memory: String(args.task.memoryGib * 1024),
          ephemeralStorage: { sizeInGib: args.task.scratchStorageGib },
          executionRoleArn: executionRole.arn,
          taskRoleArn: taskRole.arn,
          containerDefinitions: pulumi.jsonStringify([
            {
              name: DRILL_CONTAINER_NAME,
              image: args.backupImageUri,
              essential: true,
              // ECS never stops a standalone task: coreutils' timeout kills it DRILL_HARD_LIMIT_MARGIN_SECONDS after its own deadline if that deadline could not act.
              entryPoint: ["timeout", "--kill-after=60", String(args.task.timeoutMinutes * 60 + DRILL_HARD_LIMIT_MARGIN_SECONDS), DRILL_TASK_COMMAND[0]],
              command: DRILL_TASK_COMMAND.slice(1),
              environment: Object.entries(environment).map(([key, value]) => ({ name: key, value })),
              stopTimeout: DRILL_STOP_TIMEOUT_SECONDS,
              // tini as PID 1: the server processes the drill starts are reaped, and SIGTERM reaches node.
              linuxParameters: { initProcessEnabled: true },
              // Non-blocking: a Logs endpoint that stalls must not block the drill's writes to stdout, and with them its deadline.
              logConfiguration: {
                logDriver: "awslogs",
                options: { "awslogs-group": logGroups.get(tier)!.name, "awslogs-region": args.region, "awslogs-stream-prefix": "drill", mode: "non-blocking", "max-buffer-size": "4m" },
              },
            },
          ]),
        },
        { parent: this, dependsOn: [executionPermissions, taskPermissions] },
      );
      taskDefinitions.set(tier, definition);
      this.drillTaskDefinitionArns[tier] = definition.arn;

      for (const database of databases) {
        const id = `${name}-${database.name.replace(/[^A-Za-z0-9-]/g, "-").toLowerCase()}`;
        new aws.cloudwatch.MetricAlarm(`${id}-failed`, { ...notify, alarmDescription: `The restore drill of ${database.name} in ${args.site} failed: see ${databaseKeyPrefix(database)}drills/.`, ...drillFailedAlarm(database) }, child);
        new aws.cloudwatch.MetricAlarm(
          `${id}-stale`,
          {
            ...notify,
            alarmDescription: `No restore drill of ${database.name} has passed in ${args.site} for one ${tier}-tier drill interval and a day (a task that never started or was killed publishes nothing, and ends here): its measured restore time is out of date.`,
            ...drillAgeAlarm(database, args.gapMinutes[tier], args.task.timeoutMinutes),
          },
          child,
        );
      }
    }

    const schedulerRole = new aws.iam.Role(
      `${name}-scheduler-role`,
      { description: `EventBridge Scheduler starting drstack ${args.site} restore drill tasks`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("scheduler.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const schedulerPermissions = new aws.iam.RolePolicy(
      `${name}-scheduler-permissions`,
      {
        role: schedulerRole.name,
        policy: pulumi.jsonStringify(
          drillSchedulerPolicy({ clusterArn: cluster.arn, taskDefinitionFamilyArns: [...taskDefinitions.values()].map((definition) => definition.arnWithoutRevision), passedRoleArns: [executionRole.arn, taskRole.arn] }),
        ),
      },
      child,
    );
    const group = new aws.scheduler.ScheduleGroup(`${name}-schedules`, { name: `${args.namePrefix}-${args.site}-drills` }, child);
    for (const [tier, definition] of taskDefinitions) {
      new aws.scheduler.Schedule(
        `${name}-${tier}-schedule`,
        {
          groupName: group.name,
          description: `Restore drill of the ${tier} tier's databases from ${args.site}'s bucket; runs on both sites`,
          scheduleExpression: args.schedules[tier],
          scheduleExpressionTimezone: "UTC",
          state: "ENABLED",
          flexibleTimeWindow: { mode: "OFF" },
          target: {
            arn: cluster.arn,
            roleArn: schedulerRole.arn,
            ecsParameters: {
              taskDefinitionArn: definition.arn,
              launchType: "FARGATE",
              platformVersion: "LATEST",
              taskCount: 1,
              networkConfiguration: { subnets: network.subnetIds, securityGroups: [network.taskSecurityGroupId], assignPublicIp: false },
            },
            // Retries of RunTask itself (no capacity, throttling); a task that ran and failed is a result, not retried.
            retryPolicy: { maximumRetryAttempts: 10, maximumEventAgeInSeconds: 6 * 3600 },
          },
        },
        { parent: this, dependsOn: [schedulerPermissions] },
      );
    }
    // A task that stops without a clean exit (never started: image pull, capacity, network;
    // killed: out of memory; crashed before it published) leaves no metric behind: EventBridge tells.
    const stopped = new aws.cloudwatch.EventRule(
      `${name}-task-failed`,
      { description: `drstack ${args.site}: a restore drill task stopped without passing`, eventPattern: pulumi.jsonStringify(drillTaskFailedPattern(cluster.arn)) },
      child,
    );
    new aws.cloudwatch.EventTarget(
      `${name}-task-failed-notify`,
      {
        rule: stopped.name,
        arn: args.alarmTopicArn,
        inputTransformer: {
          inputPaths: { task: "$.detail.taskArn", code: "$.detail.stopCode", reason: "$.detail.stoppedReason", family: "$.detail.group" },
          inputTemplate: `"drstack ${args.site}: restore drill task <task> (<family>) stopped (<code>): <reason>. A drill that failed has its report and DrillFailed; one that never started or was killed has neither: see its log group."`,
        },
      },
      child,
    );
    new aws.cloudwatch.MetricAlarm(
      `${name}-not-started`,
      { ...notify, alarmDescription: `EventBridge Scheduler could not start a restore drill task in ${args.site} after its retries (RunTask refused: capacity, permissions, network); no drill ran.`, ...droppedInvocationsAlarm(group.name) },
      child,
    );
    this.registerOutputs({ clusterArn: cluster.arn });
  }
}

/**
 * ECS's task state change events (Amazon ECS Developer Guide, "Amazon ECS
 * task state change events"): a task of the drill cluster that stopped
 * because it could not start, or whose container exited other than 0.
 */
export function drillTaskFailedPattern(clusterArn: pulumi.Input<string>): Record<string, unknown> {
  return {
    source: ["aws.ecs"],
    "detail-type": ["ECS Task State Change"],
    detail: {
      clusterArn: [clusterArn],
      lastStatus: ["STOPPED"],
      $or: [{ stopCode: ["TaskFailedToStart"] }, { containers: { exitCode: [{ "anything-but": 0 }] } }],
    },
  };
}

/** A schedule group's invocations dropped after the retries: the task was never started. */
export function droppedInvocationsAlarm(groupName: pulumi.Input<string>): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    namespace: "AWS/Scheduler",
    metricName: "InvocationDroppedCount",
    dimensions: { ScheduleGroup: groupName },
    statistic: "Sum",
    period: 3600,
    evaluationPeriods: 1,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    treatMissingData: "notBreaching",
  };
}

/** How long after a tier's scheduled drill a missing pass counts as stale: the longest gap, the run's limit and a day's grace. */
export function drillStaleAfterSeconds(gapMinutes: number, timeoutMinutes: number): number {
  return (gapMinutes + timeoutMinutes) * 60 + DRILL_AGE_GRACE_SECONDS;
}

/** An hourly Maximum of one of a database's drill metrics. */
function hourlyDrillMetric(database: Pick<BackupDatabase, "name">, metricName: string): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return { namespace: METRIC_NAMESPACE, metricName, dimensions: { [METRIC_DIMENSION]: database.name }, statistic: "Maximum", period: 3600, evaluationPeriods: 1 };
}

/**
 * The drill task publishes DrillFailed once per drill; a 1 alarms. The
 * next datum comes with the next drill, a month on, so missing data keeps
 * the state ("ignore"): the alarm stays in ALARM until a drill passes.
 */
export function drillFailedAlarm(database: Pick<BackupDatabase, "name">): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return { ...hourlyDrillMetric(database, BACKUP_METRICS.drillFailed), comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1, treatMissingData: "ignore" };
}

/**
 * The verifier publishes the drill age with every run. Missing data is not
 * breaching here: a silent verifier already breaches the backup-age alarm,
 * and before a site's first drill there is no age to publish.
 */
export function drillAgeAlarm(database: Pick<BackupDatabase, "name">, gapMinutes: number, timeoutMinutes: number): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    ...hourlyDrillMetric(database, BACKUP_METRICS.drillAge),
    comparisonOperator: "GreaterThanThreshold",
    threshold: drillStaleAfterSeconds(gapMinutes, timeoutMinutes),
    treatMissingData: "notBreaching",
  };
}

export interface DrillTaskPolicyArgs {
  site: SiteName;
  region: string;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  databases: BackupDatabase[];
}

/**
 * Read the backups of the protected databases (pointers, the time-ordered
 * manifests, dumps), write this site's drill reports and nothing else,
 * decrypt what it reads and encrypt what it writes with the bucket's key
 * through S3 only, and publish metrics in drstack's namespace only. No
 * database credentials: its server is its own. (Its logs are the execution
 * role's: the awslogs driver writes them.)
 */
export function drillTaskPolicy(args: DrillTaskPolicyArgs): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "FindBucketAndListBackups", Effect: "Allow", Action: "s3:ListBucket", Resource: args.bucketArn },
      {
        Sid: "ReadBackups",
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: args.databases.map((database) => pulumi.interpolate`${args.bucketArn}/${databaseKeyPrefix(database)}*`),
      },
      {
        Sid: "WriteOwnDrillReports",
        Effect: "Allow",
        Action: "s3:PutObject",
        Resource: args.databases.map((database) => pulumi.interpolate`${args.bucketArn}/${drillReportKeys(database, args.site)}`),
      },
      {
        Sid: "UseBackupKeyThroughS3",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: args.keyArn,
        Condition: { StringEquals: { "kms:ViaService": `s3.${args.region}.amazonaws.com` } },
      },
      {
        Sid: "PublishDrillMetrics",
        Effect: "Allow",
        Action: "cloudwatch:PutMetricData",
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } },
      },
    ],
  };
}

/** Pull the backup image from its repository (the token is account-wide) and write the drill's log streams. */
export function drillExecutionPolicy(args: { repositoryArn: pulumi.Input<string>; logGroupArns: pulumi.Input<string>[] }): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "RegistryToken", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
      { Sid: "PullBackupImage", Effect: "Allow", Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"], Resource: args.repositoryArn },
      { Sid: "WriteDrillLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: args.logGroupArns.map((arn) => pulumi.interpolate`${arn}:*`) },
    ],
  };
}

/**
 * Start the drill task definitions (any revision of their families) in the
 * drill cluster only, and hand ECS the two roles they name (Amazon ECS
 * Developer Guide, "Amazon ECS EventBridge IAM Role": RunTask, and
 * iam:PassRole for the execution and task roles).
 */
export function drillSchedulerPolicy(args: { clusterArn: pulumi.Input<string>; taskDefinitionFamilyArns: pulumi.Input<string>[]; passedRoleArns: pulumi.Input<string>[] }): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "RunDrillTasks",
        Effect: "Allow",
        Action: "ecs:RunTask",
        Resource: args.taskDefinitionFamilyArns.map((arn) => pulumi.interpolate`${arn}:*`),
        Condition: { ArnEquals: { "ecs:cluster": args.clusterArn } },
      },
      { Sid: "PassDrillRoles", Effect: "Allow", Action: "iam:PassRole", Resource: args.passedRoleArns, Condition: { StringEquals: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } } },
    ],
  };
}
