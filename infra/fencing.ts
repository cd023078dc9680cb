import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { notifyTopic } from "./alarms";
import { functionErrorsAlarm, LOG_RETENTION_DAYS } from "./backups";
import { lambdaBundleArchive } from "./lambdaBundles";
import {
  databaseArn,
  databaseIdentifier,
  fenceMarkerParameterName,
  guardFunctionName,
  lambdaFunctionArn,
  ssmParameterArn,
  writerClaimParameterName,
} from "./naming";
import { PolicyDocument, serviceTrustPolicy } from "./policyDocument";
import { SiteName } from "./roles";
import { WriterClaim } from "./sitePlan";

/** Entry point inside the guard's archive. */
export const GUARD_HANDLER = "handlers/guard.handler";
export const GUARD_TIMEOUT_SECONDS = 60;
/** Metrics the guard publishes (lambdas/core/guard.ts), dimension `Site`. */
export const FENCING_METRIC_NAMESPACE = "drstack/fencing";
export const FENCING_METRICS = {
  peerUnreachable: "PeerUnreachable",
  inconsistent: "ClaimsInconsistent",
  fenced: "Fenced",
  actionFailed: "FenceActionFailed",
} as const;

/** The environment the guard reads (`guardOptionsFromEnv` in lambdas/core/guard.ts). */
export const GUARD_ENV = {
  site: "SITE",
  peerRegion: "PEER_REGION",
  claimParameter: "FENCING_CLAIM_PARAMETER",
  fenceMarkerParameter: "FENCE_MARKER_PARAMETER",
  peerClaimParameter: "PEER_FENCING_CLAIM_PARAMETER",
  peerFenceMarkerParameter: "PEER_FENCE_MARKER_PARAMETER",
  backupSchedules: "BACKUP_SCHEDULES",
  scheduleGroup: "BACKUP_SCHEDULE_GROUP",
  alarmTopicArn: "ALARM_TOPIC_ARN",
  metricNamespace: "METRIC_NAMESPACE",
} as const;

/** The built guard; a missing build stops the program before anything is declared (infra/lambdaBundles.ts). */
export function guardFunctionArchive(): pulumi.asset.FileArchive {
  return lambdaBundleArchive("guard");
}

/** Every name and ARN of one site's fencing protocol, by naming rule: both sites and the backup jobs derive them without reading anything. */
export interface FencingNames {
  claimParameterName: string;
  claimParameterArn: pulumi.Output<string>;
  fenceMarkerParameterName: string;
  fenceMarkerParameterArn: pulumi.Output<string>;
  guardFunctionName: string;
  guardFunctionArn: pulumi.Output<string>;
}

export function fencingNames(namePrefix: string, site: SiteName, region: string, accountId: pulumi.Input<string>): FencingNames {
  const claim = writerClaimParameterName(namePrefix, site);
  const marker = fenceMarkerParameterName(namePrefix, site);
  const guard = guardFunctionName(namePrefix, site);
  return {
    claimParameterName: claim,
    claimParameterArn: pulumi.output(accountId).apply((account) => ssmParameterArn(region, account, claim)),
    fenceMarkerParameterName: marker,
    fenceMarkerParameterArn: pulumi.output(accountId).apply((account) => ssmParameterArn(region, account, marker)),
    guardFunctionName: guard,
    guardFunctionArn: pulumi.output(accountId).apply((account) => lambdaFunctionArn(region, account, guard)),
  };
}

export interface SiteFencingArgs {
  site: SiteName;
  peer: SiteName;
  region: string;
  peerRegion: string;
  namePrefix: string;
  accountId: pulumi.Input<string>;
  /** What the stack says about its site (`writerClaim` in sitePlan.ts). */
  claim: WriterClaim;
  /**
   * What the claim waits for: the site's database. The claim changes only
   * once a promotion (or any database change) succeeded, so a failed
   * promotion never makes the other site's guard fence itself.
   */
  claimAfter: pulumi.Resource[];
  /** This site's backup schedules, which the guard disables when it fences the site. */
  backupSchedules: Array<{ name: pulumi.Input<string>; arn: pulumi.Input<string> }>;
  /** The role those schedules pass to EventBridge Scheduler. */
  backupSchedulerRoleArn: pulumi.Input<string>;
  /** The site's alarm topic (SiteAlarms). */
  alarmTopicArn: pulumi.Input<string>;
  /** `fencingGuardSchedule` and its interval in minutes. */
  guardSchedule: string;
  guardIntervalMinutes: number;
  /** The built guard (`npm run build:lambdas`). */
  guardCode: pulumi.asset.Archive;
}

/**
 * Fencing that holds at run time. The stack writes its site's claim (an SSM
 * parameter in its own region) after its database; a guard function per
 * site, outside the VPC and on an always-enabled schedule, compares it with
 * the peer's claim and database and fences the site when the peer's writer
 * supersedes it: a fence marker the backups honour, the backup schedules
 * disabled, the database stopped. It also keeps a standby's former writer
 * stopped, and answers the backup jobs, which ask it before they dump.
 */
export class SiteFencing extends pulumi.ComponentResource {
  public readonly claimParameterName: pulumi.Output<string>;
  public readonly guardFunctionArn: pulumi.Output<string>;

  constructor(name: string, args: SiteFencingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:fencing:SiteFencing", name, {}, opts);
    const child = { parent: this };
    const names = fencingNames(args.namePrefix, args.site, args.region, args.accountId);
    const peerNames = fencingNames(args.namePrefix, args.peer, args.peerRegion, args.accountId);

    const claim = new aws.ssm.Parameter(
      `${name}-claim`,
      {
        name: names.claimParameterName,
        type: "String",
        // Not a secret: reviewers should see a failover change it in the diff.
        insecureValue: JSON.stringify(args.claim),
        tier: "Standard",
        description: `drstack writer claim of ${args.site}, written by its stack after its database change; read by both sites' fencing guards and by its backup jobs`,
      },
      { parent: this, dependsOn: args.claimAfter },
    );

    const logGroup = new aws.cloudwatch.LogGroup(`${name}-guard-logs`, { retentionInDays: LOG_RETENTION_DAYS }, child);
    const role = new aws.iam.Role(
      `${name}-guard-role`,
      { description: `drstack ${args.site} fencing guard`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("lambda.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const permissions = new aws.iam.RolePolicy(
      `${name}-guard-permissions`,
      {
        role: role.name,
        policy: pulumi.jsonStringify(
          guardFunctionPolicy({
            site: args.site,
            peer: args.peer,
            region: args.region,
            peerRegion: args.peerRegion,
            namePrefix: args.namePrefix,
            accountId: args.accountId,
            databaseIdentifier: args.claim.databaseIdentifier,
            own: names,
            peerNames,
            backupScheduleArns: args.backupSchedules.map((schedule) => schedule.arn),
            backupSchedulerRoleArn: args.backupSchedulerRoleArn,
            topicArn: args.alarmTopicArn,
            logGroupArn: logGroup.arn,
          }),
        ),
      },
      child,
    );
    // Outside any VPC: it calls SSM and RDS in the peer's region over their public endpoints.
    const guard = new aws.lambda.Function(
      `${name}-guard`,
      {
        name: names.guardFunctionName,
        description: `drstack: fences ${args.site} when ${args.peer}'s writer supersedes it; asked by ${args.site}'s backups`,
        runtime: aws.lambda.Runtime.NodeJS20dX,
        handler: GUARD_HANDLER,
        code: args.guardCode,
        role: role.arn,
        timeout: GUARD_TIMEOUT_SECONDS,
        memorySize: 256,
        loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
        environment: {
          variables: {
            [GUARD_ENV.site]: args.site,
            [GUARD_ENV.peerRegion]: args.peerRegion,
            [GUARD_ENV.claimParameter]: names.claimParameterName,
            [GUARD_ENV.fenceMarkerParameter]: names.fenceMarkerParameterName,
            [GUARD_ENV.peerClaimParameter]: peerNames.claimParameterName,
            [GUARD_ENV.peerFenceMarkerParameter]: peerNames.fenceMarkerParameterName,
            [GUARD_ENV.backupSchedules]: pulumi.all(args.backupSchedules.map((schedule) => schedule.name)).apply((all) => all.join(",")),
            [GUARD_ENV.scheduleGroup]: "default",
            [GUARD_ENV.alarmTopicArn]: args.alarmTopicArn,
            [GUARD_ENV.metricNamespace]: FENCING_METRIC_NAMESPACE,
          },
        },
      },
      { parent: this, dependsOn: [permissions] },
    );

    const schedulerRole = new aws.iam.Role(
      `${name}-guard-scheduler-role`,
      { description: `EventBridge Scheduler running drstack ${args.site}'s fencing guard`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("scheduler.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const schedulerPermissions = new aws.iam.RolePolicy(
      `${name}-guard-scheduler-permissions`,
      {
        role: schedulerRole.name,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [{ Sid: "InvokeFencingGuard", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: guard.arn }],
        } satisfies PolicyDocument),
      },
      child,
    );
    new aws.scheduler.Schedule(
      `${name}-guard-schedule`,
      {
        description: `drstack ${args.site} fencing guard; enabled on both sites in every role`,
        scheduleExpression: args.guardSchedule,
        scheduleExpressionTimezone: "UTC",
        state: "ENABLED",
        flexibleTimeWindow: { mode: "OFF" },
        target: {
          arn: guard.arn,
          roleArn: schedulerRole.arn,
          input: JSON.stringify({ source: "schedule" }),
          // A missed run is superseded by the next one; retrying it later only repeats an older look.
          retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
        },
      },
      { parent: this, dependsOn: [schedulerPermissions] },
    );

    const notify = notifyTopic(args.alarmTopicArn);
    new aws.cloudwatch.MetricAlarm(
      `${name}-guard-errors`,
      { ...notify, alarmDescription: `The fencing guard of ${args.site} itself failed, so nothing fences ${args.site} at run time.`, ...functionErrorsAlarm(guard.name) },
      child,
    );
    for (const alarm of fencingAlarms(args.site, args.peer, args.guardIntervalMinutes)) {
      new aws.cloudwatch.MetricAlarm(`${name}-${alarm.suffix}`, { ...notify, ...alarm.args }, child);
    }

    this.claimParameterName = claim.name;
    this.guardFunctionArn = guard.arn;
    this.registerOutputs({ claimParameterName: this.claimParameterName, guardFunctionArn: this.guardFunctionArn });
  }
}

/**
 * The guard's alarms. Periods are one guard interval, so every period holds a
 * run's data point and a missing one means the guard did not run.
 */
export function fencingAlarms(site: SiteName, peer: SiteName, guardIntervalMinutes: number): Array<{ suffix: string; args: Partial<aws.cloudwatch.MetricAlarmArgs> }> {
  const period = Math.max(1, guardIntervalMinutes) * 60;
  const metric = (metricName: string) => ({
    namespace: FENCING_METRIC_NAMESPACE,
    metricName,
    dimensions: { Site: site },
    statistic: "Maximum",
    period,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    threshold: 1,
  });
  return [
    {
      suffix: "peer-unreachable",
      args: {
        ...metric(FENCING_METRICS.peerUnreachable),
        alarmDescription: `${site}'s fencing guard cannot read ${peer}'s claim (or is not reporting): it cannot tell whether ${peer} was promoted, and does not fence.`,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        // A guard that stops reporting is as bad as one that cannot see.
        treatMissingData: "breaching",
      },
    },
    {
      suffix: "claims-inconsistent",
      args: {
        ...metric(FENCING_METRICS.inconsistent),
        alarmDescription: `The claims of ${site} and ${peer} contradict each other or name no writer; see ${site}'s fencing guard log. Normal for a few minutes during a planned switchover.`,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: "notBreaching",
      },
    },
    {
      suffix: "fenced",
      args: {
        ...metric(FENCING_METRICS.fenced),
        alarmDescription: `${site} is fenced: ${peer}'s writer superseded it, its database is stopped and its backups refuse. Demote it with \`pulumi -s ${site} config set activeSite ${peer} && pulumi -s ${site} up\` (README, Failover).`,
        evaluationPeriods: 1,
        treatMissingData: "missing",
      },
    },
    {
      suffix: "fence-action-failed",
      args: {
        ...metric(FENCING_METRICS.actionFailed),
        alarmDescription: `${site}'s fencing guard could not carry out an action (stop the database, disable a schedule, write its marker); see its log.`,
        evaluationPeriods: 1,
        treatMissingData: "notBreaching",
      },
    },
  ];
}

export interface GuardFunctionPolicyArgs {
  site: SiteName;
  peer: SiteName;
  region: string;
  peerRegion: string;
  namePrefix: string;
  accountId: pulumi.Input<string>;
  /** The site's current database: the only one the guard may stop. */
  databaseIdentifier: string;
  own: FencingNames;
  peerNames: FencingNames;
  backupScheduleArns: pulumi.Input<string>[];
  backupSchedulerRoleArn: pulumi.Input<string>;
  topicArn: pulumi.Input<string>;
  logGroupArn: pulumi.Input<string>;
}

/**
 * Named resources only. Reads both sites' claims and markers, writes only its
 * own marker; describes its own database and the peer's (any generation, by
 * the naming rule's pattern, since the peer's claim names it), stops only its
 * own current database; reads and disables only its site's backup schedules,
 * passing only their role to Scheduler (UpdateSchedule needs iam:PassRole:
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/security_iam_id-based-policy-examples.html);
 * publishes metrics in drstack/fencing only, notifies the site's topic,
 * writes its own logs.
 */
export function guardFunctionPolicy(args: GuardFunctionPolicyArgs): PolicyDocument {
  const dbArn = (region: string, identifier: string) => pulumi.output(args.accountId).apply((account) => databaseArn(region, account, identifier));
  const peerFirst = databaseIdentifier(args.namePrefix, args.peer, 1);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadBothSitesClaimsAndMarkers",
        Effect: "Allow",
        Action: "ssm:GetParameters",
        Resource: [args.own.claimParameterArn, args.own.fenceMarkerParameterArn, args.peerNames.claimParameterArn, args.peerNames.fenceMarkerParameterArn],
      },
      { Sid: "WriteOwnFenceMarker", Effect: "Allow", Action: "ssm:PutParameter", Resource: args.own.fenceMarkerParameterArn },
      {
        Sid: "DescribeOwnAndPeerDatabases",
        Effect: "Allow",
        Action: "rds:DescribeDBInstances",
        Resource: [dbArn(args.region, args.databaseIdentifier), dbArn(args.peerRegion, peerFirst), dbArn(args.peerRegion, `${peerFirst}-g*`)],
      },
      { Sid: "StopOwnDatabase", Effect: "Allow", Action: "rds:StopDBInstance", Resource: dbArn(args.region, args.databaseIdentifier) },
      { Sid: "DisableOwnBackupSchedules", Effect: "Allow", Action: ["scheduler:GetSchedule", "scheduler:UpdateSchedule"], Resource: args.backupScheduleArns },
      {
        Sid: "PassBackupSchedulerRole",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: args.backupSchedulerRoleArn,
        Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      },
      {
        Sid: "PublishFencingMetrics",
        Effect: "Allow",
        Action: "cloudwatch:PutMetricData",
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": FENCING_METRIC_NAMESPACE } },
      },
      { Sid: "NotifyAlarmTopic", Effect: "Allow", Action: "sns:Publish", Resource: args.topicArn },
      { Sid: "WriteOwnLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: pulumi.interpolate`${args.logGroupArn}:*` },
    ],
  };
}
