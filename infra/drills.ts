import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BACKUP_METRICS, databaseKeyPrefix, DRILL_HANDLER, drillReportKeys, drillTargets, HANDLER_ENV, METRIC_DIMENSION, METRIC_NAMESPACE } from "./backupContract";
import { notifyTopic } from "./alarms";
import { functionErrorsAlarm, LOG_RETENTION_DAYS } from "./backups";
import { BackupDatabase } from "./backupTargets";
import { PolicyDocument, serviceTrustPolicy } from "./policyDocument";
import { SiteName } from "./roles";
import { TIER_NAMES, TierName } from "./tiers";

/** Lambda's ceiling; a restore that needs longer is drilled with `drstack-backup drill` on a host. */
export const DRILL_TIMEOUT_SECONDS = 900;
/**
 * 3008 MB: new accounts have reduced memory quotas (Lambda Developer Guide,
 * "Lambda quotas") and 3008 MB was the long-standing ceiling; about 1.7
 * vCPUs (one per 1769 MB) for pg_restore and the scratch server beside it.
 */
export const DRILL_MEMORY_MB = 3008;
/** A drill may be late by this much (a run that failed to start, an outage on the day) before its age alarms. */
export const DRILL_AGE_GRACE_SECONDS = 24 * 3600;

export interface RestoreDrillsArgs {
  site: SiteName;
  region: string;
  accountId: pulumi.Input<string>;
  bucketName: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  databases: BackupDatabase[];
  schedules: Record<TierName, string>;
  gapMinutes: Record<TierName, number>;
  smokeQueries: Record<string, string>;
  scratchStorageMb: number;
  alarmTopicArn: pulumi.Input<string>;
  /** The backup job image, which holds pg_restore and the PostgreSQL server the drill restores into. */
  backupImageUri: pulumi.Input<string>;
}

/**
 * Scheduled restore drills for one site: per tier that protects a database,
 * a function (the backup image, handler `handlers/drill.handler`) that starts
 * a throwaway PostgreSQL in its own ephemeral storage, restores the newest
 * backup of each of the tier's databases from this site's bucket into it,
 * checks it against the manifest, publishes DrillFailed and
 * DrillRestoreSeconds and writes a drill report; its schedule; and alarms on
 * a failed drill, on the function failing, and on the drill age the verifier
 * publishes (no passed drill for a schedule gap and a day).
 *
 * Drills run on both sites and never touch a database of the site: on the
 * standby they prove that the replicated copies restore, which is what a
 * region loss leaves. The functions run outside the VPC: they call only S3
 * and CloudWatch, and their PostgreSQL listens on a socket in /tmp.
 */
export class RestoreDrills extends pulumi.ComponentResource {
  public readonly drillFunctionArns: Partial<Record<TierName, pulumi.Output<string>>>;

  constructor(name: string, args: RestoreDrillsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:backups:RestoreDrills", name, {}, opts);
    const child = { parent: this };
    const notify = notifyTopic(args.alarmTopicArn);
    this.drillFunctionArns = {};

    const tiers = TIER_NAMES.filter((tier) => args.databases.some((database) => database.tier === tier));
    if (tiers.length === 0) {
      this.registerOutputs({});
      return;
    }

    const logGroups = new Map(tiers.map((tier) => [tier, new aws.cloudwatch.LogGroup(`${name}-${tier}-logs`, { retentionInDays: LOG_RETENTION_DAYS }, child)]));
    const role = new aws.iam.Role(
      `${name}-role`,
      { description: `drstack ${args.site} restore drills`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("lambda.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const permissions = new aws.iam.RolePolicy(
      `${name}-permissions`,
      {
        role: role.name,
        policy: pulumi.jsonStringify(
          drillFunctionPolicy({
            site: args.site,
            region: args.region,
            bucketArn: args.bucketArn,
            keyArn: args.keyArn,
            databases: args.databases,
            logGroupArns: [...logGroups.values()].map((group) => group.arn),
          }),
        ),
      },
      child,
    );

    const schedulerRole = new aws.iam.Role(
      `${name}-scheduler-role`,
      { description: `EventBridge Scheduler invoking drstack ${args.site} restore drills`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("scheduler.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const functions: aws.lambda.Function[] = [];
    for (const tier of tiers) {
      const databases = args.databases.filter((database) => database.tier === tier);
      const smokeQueries = Object.fromEntries(databases.flatMap((database) => (args.smokeQueries[database.name] !== undefined ? [[database.name, args.smokeQueries[database.name]]] : [])));
      const fn = new aws.lambda.Function(
        `${name}-${tier}`,
        {
          description: `drstack: restore drill of the ${tier} tier's databases (${databases.map((database) => database.name).join(", ")}) from the ${args.site} backup bucket`,
          packageType: "Image",
          imageUri: args.backupImageUri,
          imageConfig: { commands: [DRILL_HANDLER] },
          architectures: ["x86_64"],
          role: role.arn,
          timeout: DRILL_TIMEOUT_SECONDS,
          memorySize: DRILL_MEMORY_MB,
          ephemeralStorage: { size: args.scratchStorageMb },
          loggingConfig: { logFormat: "Text", logGroup: logGroups.get(tier)!.name },
          environment: {
            variables: {
              [HANDLER_ENV.bucket]: args.bucketName,
              [HANDLER_ENV.site]: args.site,
              [HANDLER_ENV.drillTargets]: drillTargets(databases),
              [HANDLER_ENV.metricNamespace]: METRIC_NAMESPACE,
              ...(Object.keys(smokeQueries).length > 0 ? { [HANDLER_ENV.drillSmokeQueries]: JSON.stringify(smokeQueries) } : {}),
            },
          },
        },
        { parent: this, dependsOn: [permissions] },
      );
      // A failed drill is a result, recorded and alarmed; running it again at once measures nothing new.
      new aws.lambda.FunctionEventInvokeConfig(`${name}-${tier}-retries`, { functionName: fn.name, maximumRetryAttempts: 0, maximumEventAgeInSeconds: 3600 }, child);
      functions.push(fn);
      this.drillFunctionArns[tier] = fn.arn;

      new aws.cloudwatch.MetricAlarm(
        `${name}-${tier}-errors`,
        { ...notify, alarmDescription: `A ${tier}-tier restore drill in ${args.site} failed or could not run; its report (or the function's log) says which check.`, ...functionErrorsAlarm(fn.name) },
        child,
      );
      for (const database of databases) {
        const id = `${name}-${database.name.replace(/[^A-Za-z0-9-]/g, "-").toLowerCase()}`;
        new aws.cloudwatch.MetricAlarm(`${id}-failed`, { ...notify, alarmDescription: `The restore drill of ${database.name} in ${args.site} failed: see ${databaseKeyPrefix(database)}drills/.`, ...drillFailedAlarm(database) }, child);
        new aws.cloudwatch.MetricAlarm(
          `${id}-stale`,
          {
            ...notify,
            alarmDescription: `No restore drill of ${database.name} has passed in ${args.site} for one ${tier}-tier drill interval and a day: its measured restore time is out of date.`,
            ...drillAgeAlarm(database, args.gapMinutes[tier]),
          },
          child,
        );
      }
    }
    const schedulerPermissions = new aws.iam.RolePolicy(
      `${name}-scheduler-permissions`,
      {
        role: schedulerRole.name,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [{ Sid: "InvokeDrillFunctions", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: functions.map((fn) => fn.arn) }],
        } satisfies PolicyDocument),
      },
      child,
    );
    for (const [index, tier] of tiers.entries()) {
      new aws.scheduler.Schedule(
        `${name}-${tier}-schedule`,
        {
          description: `Restore drill of the ${tier} tier's databases from ${args.site}'s bucket; runs on both sites`,
          scheduleExpression: args.schedules[tier],
          scheduleExpressionTimezone: "UTC",
          state: "ENABLED",
          flexibleTimeWindow: { mode: "OFF" },
          target: { arn: functions[index].arn, roleArn: schedulerRole.arn, input: "{}", retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 } },
        },
        { parent: this, dependsOn: [schedulerPermissions] },
      );
    }
    this.registerOutputs({});
  }
}

/** An hourly Maximum of one of a database's drill metrics. */
function hourlyDrillMetric(database: Pick<BackupDatabase, "name">, metricName: string): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return { namespace: METRIC_NAMESPACE, metricName, dimensions: { [METRIC_DIMENSION]: database.name }, statistic: "Maximum", period: 3600, evaluationPeriods: 1 };
}

/**
 * The drill function publishes DrillFailed once per drill; a 1 alarms. The
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
export function drillAgeAlarm(database: Pick<BackupDatabase, "name">, gapMinutes: number): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    ...hourlyDrillMetric(database, BACKUP_METRICS.drillAge),
    comparisonOperator: "GreaterThanThreshold",
    threshold: gapMinutes * 60 + DRILL_TIMEOUT_SECONDS + DRILL_AGE_GRACE_SECONDS,
    treatMissingData: "notBreaching",
  };
}

export interface DrillFunctionPolicyArgs {
  site: SiteName;
  region: string;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  databases: BackupDatabase[];
  logGroupArns: pulumi.Input<string>[];
}

/**
 * Read the backups of the protected databases (pointers, the time-ordered
 * manifests, dumps), write this site's drill reports and nothing else,
 * decrypt what it reads and encrypt what it writes with the bucket's key
 * through S3 only, publish metrics in drstack's namespace only and write its
 * logs. No database credentials: its server is its own.
 */
export function drillFunctionPolicy(args: DrillFunctionPolicyArgs): PolicyDocument {
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
      {
        Sid: "WriteOwnLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: args.logGroupArns.map((arn) => pulumi.interpolate`${arn}:*`),
      },
    ],
  };
}
