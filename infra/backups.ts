import { ENGINE_PROFILES } from "./engines";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  BACKUP_HANDLER,
  BACKUP_METRICS,
  classObjectLock,
  complianceClasses,
  databaseKeyPrefix,
  HANDLER_ENV,
  METRIC_DIMENSION,
  METRIC_NAMESPACE,
  siteWritableKeys,
  VERIFY_HANDLER,
  verifyTargets,
} from "./backupContract";
import { notifyTopic } from "./alarms";
import { BackupDatabase } from "./backupTargets";
import { DataClassPolicy } from "./dataClasses";
import { lambdaBundleArchive } from "./lambdaBundles";
import { PolicyDocument, serviceTrustPolicy } from "./policyDocument";
import { SiteName, SiteRole } from "./roles";
import { checkScheduleExpression } from "./scheduleExpression";
import { backupsScheduled } from "./sitePlan";
import { databaseUrl, FunctionNetwork, SiteDatabaseEndpoint } from "./siteConnections";
import { TierName, TierObjectives } from "./tiers";

/** Lambda's hard ceiling; a dump that needs longer belongs in a longer-running job. */
export const BACKUP_TIMEOUT_SECONDS = 900;
export const VERIFY_TIMEOUT_SECONDS = 300;
/** A backup slower than this share of its timeout alarms before it starts failing. */
export const DURATION_ALARM_SHARE = 0.8;
export const LOG_RETENTION_DAYS = 90;
/** AWS's policy for functions in a VPC: network interfaces and their own logs. */
export const VPC_EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

export interface BackupJobsArgs {
  site: SiteName;
  role: SiteRole;
  region: string;
  peerRegion: string;
  accountId: pulumi.Input<string>;
  /** This site's backup bucket and the key that encrypts it. */
  bucketName: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  /** The peer's bucket, by naming rule: the verifier checks that replication reached it. */
  peerBucketName: string;
  databases: BackupDatabase[];
  /** Each class's retention and lock mode: the backup job locks what it uploads, the verifier checks it. */
  dataClasses: DataClassPolicy[];
  tiers: TierObjectives;
  schedules: Record<TierName, string>;
  verifySchedule: string;
  /** The site's alarm topic (SiteAlarms); every backup alarm and the verifier notify it. */
  alarmTopicArn: pulumi.Input<string>;
  /** The backup job image in this site's ECR, by digest. */
  backupImageUri: pulumi.Input<string>;
  /** The built verification function (`npm run build:lambdas`). */
  verifyCode: pulumi.asset.Archive;
  /** The site's own database instance and the Secrets Manager secret holding its credentials. */
  database: SiteDatabaseEndpoint;
  /** Where the backup functions run: the site's data subnets, with their own security group and the endpoints they call. */
  network: FunctionNetwork;
  /** The site's fencing protocol (infra/fencing.ts): what the backup job checks before it dumps and publishes. */
  fencing: BackupFencing;
}

/** Names, fixed by naming rules, so the backup functions do not depend on the fencing component (which depends on their schedules). */
export interface BackupFencing {
  claimParameterArn: pulumi.Input<string>;
  claimParameterName: string;
  fenceMarkerParameterArn: pulumi.Input<string>;
  fenceMarkerParameterName: string;
  guardFunctionName: string;
  guardFunctionArn: pulumi.Input<string>;
}

/**
 * Scheduled, observed backups for one site: a container-image function per
 * database that streams the engine's dump (`pg_dump`, `mysqldump`, `mariadb-dump`) into the backup bucket, a Node.js function
 * that verifies the newest backups (age against RPO, checksum, the copy in the
 * peer region) and publishes metrics, EventBridge Scheduler schedules, and
 * CloudWatch alarms on the site's alarm topic.
 *
 * Backups run on the active site only; the standby's schedules are kept,
 * disabled, so failover flips a state instead of creating anything. The
 * verifier runs on both sites: on the standby it checks what replicates to it.
 */
export class BackupJobs extends pulumi.ComponentResource {
  /** The backup functions' role: the bucket policy lets it (and the break-glass role only) set retention. */
  public readonly backupRoleArn: pulumi.Output<string>;
  public readonly backupFunctionArns: Record<string, pulumi.Output<string>>;
  public readonly verifyFunctionArn: pulumi.Output<string>;
  /** The backup schedules (not verification's), for the fencing guard to disable. */
  public readonly backupSchedules: Array<{ name: pulumi.Output<string>; arn: pulumi.Output<string> }>;
  /** The role the schedules pass to EventBridge Scheduler; changing a schedule needs iam:PassRole on it. */
  public readonly schedulerRoleArn: pulumi.Output<string>;

  constructor(name: string, args: BackupJobsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:backups:BackupJobs", name, {}, opts);
    const child = { parent: this };

    const topicArn = pulumi.output(args.alarmTopicArn);

    // --- backup functions, one per database
    const backupRole = new aws.iam.Role(
      `${name}-backup-role`,
      { description: `drstack ${args.site} backup functions`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("lambda.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    new aws.iam.RolePolicyAttachment(`${name}-backup-vpc-access`, { role: backupRole.name, policyArn: VPC_EXECUTION_POLICY_ARN }, child);
    const backupPermissions = new aws.iam.RolePolicy(
      `${name}-backup-permissions`,
      {
        role: backupRole.name,
        policy: pulumi.jsonStringify(
          backupFunctionPolicy({
            site: args.site,
            region: args.region,
            bucketArn: args.bucketArn,
            keyArn: args.keyArn,
            secretArn: args.database.secretArn,
            secretKeyArn: args.database.secretKeyArn,
            databases: args.databases,
            dataClasses: args.dataClasses,
            fencing: args.fencing,
          }),
        ),
      },
      child,
    );

    this.backupFunctionArns = {};
    const backupFunctions: Array<{ database: BackupDatabase; fn: aws.lambda.Function }> = [];
    for (const database of args.databases) {
      const id = `${name}-backup-${resourceSuffix(database.name)}`;
      const logGroup = new aws.cloudwatch.LogGroup(`${id}-logs`, { retentionInDays: LOG_RETENTION_DAYS }, child);
      const fn = new aws.lambda.Function(
        id,
        {
          description: `drstack: ${ENGINE_PROFILES[args.database.engine].dumpTool} of ${database.name} (${database.tier} tier) into the ${args.site} backup bucket`,
          packageType: "Image",
          imageUri: args.backupImageUri,
          imageConfig: { commands: [BACKUP_HANDLER] },
          architectures: ["x86_64"],
          role: backupRole.arn,
          timeout: BACKUP_TIMEOUT_SECONDS,
          memorySize: 1024,
          vpcConfig: { subnetIds: args.network.privateSubnetIds, securityGroupIds: [args.network.securityGroupId] },
          loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
          environment: {
            // The data subnets have no route to public AWS endpoints: the SDK is pointed at the interface endpoints.
            variables: withEndpoints(args.network.endpointEnvironment, {
              [HANDLER_ENV.bucket]: args.bucketName,
              // Host, port and database; the user and password come from the secret.
              [HANDLER_ENV.databaseUrl]: databaseUrl(args.database.engine, args.database.host, args.database.port, database.name),
              [HANDLER_ENV.databaseSecretArn]: args.database.secretArn,
              [HANDLER_ENV.databaseName]: database.name,
              [HANDLER_ENV.tier]: database.tier,
              [HANDLER_ENV.dataClass]: database.dataClass,
              ...lockEnvironment(database, args.dataClasses),
              // Fencing: the job backs up only while its site's claim, fence marker and guard say it is the writer.
              [HANDLER_ENV.site]: args.site,
              [HANDLER_ENV.claimParameter]: args.fencing.claimParameterName,
              [HANDLER_ENV.fenceMarkerParameter]: args.fencing.fenceMarkerParameterName,
              [HANDLER_ENV.guardFunction]: args.fencing.guardFunctionName,
            }),
          },
        },
        { parent: this, dependsOn: [backupPermissions] },
      );
      // Scheduler invokes asynchronously and retries only delivery; a failed run
      // is retried once by Lambda, idempotently, because the slot is in the event.
      new aws.lambda.FunctionEventInvokeConfig(
        `${id}-retries`,
        { functionName: fn.name, maximumRetryAttempts: 1, maximumEventAgeInSeconds: 3600 },
        child,
      );
      backupFunctions.push({ database, fn });
      this.backupFunctionArns[database.name] = fn.arn;
    }

    // --- verification function, on both sites
    const verifyLogGroup = new aws.cloudwatch.LogGroup(`${name}-verify-logs`, { retentionInDays: LOG_RETENTION_DAYS }, child);
    const verifyRole = new aws.iam.Role(
      `${name}-verify-role`,
      { description: `drstack ${args.site} backup verification`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("lambda.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const verifyPermissions = new aws.iam.RolePolicy(
      `${name}-verify-permissions`,
      {
        role: verifyRole.name,
        policy: pulumi.jsonStringify(
          verifyFunctionPolicy({
            region: args.region,
            bucketArn: args.bucketArn,
            keyArn: args.keyArn,
            peerBucketArn: `arn:aws:s3:::${args.peerBucketName}`,
            topicArn,
            logGroupArn: verifyLogGroup.arn,
            databases: args.databases,
          }),
        ),
      },
      child,
    );
    // Not in the VPC: it talks only to S3, CloudWatch and SNS, never to the database.
    const verifyFunction = new aws.lambda.Function(
      `${name}-verify`,
      {
        description: `drstack: verifies ${args.site}'s newest backups and their copies in ${args.peerRegion}`,
        runtime: aws.lambda.Runtime.NodeJS20dX,
        handler: VERIFY_HANDLER,
        code: args.verifyCode,
        role: verifyRole.arn,
        timeout: VERIFY_TIMEOUT_SECONDS,
        memorySize: 512,
        loggingConfig: { logFormat: "Text", logGroup: verifyLogGroup.name },
        environment: {
          variables: {
            [HANDLER_ENV.bucket]: args.bucketName,
            [HANDLER_ENV.targets]: verifyTargets(args.databases, (tier) => backupAgeLimitSeconds(tier, args.tiers, args.schedules)),
            [HANDLER_ENV.peerBucket]: args.peerBucketName,
            [HANDLER_ENV.drillSite]: args.site,
            [HANDLER_ENV.peerRegion]: args.peerRegion,
            [HANDLER_ENV.metricNamespace]: METRIC_NAMESPACE,
            [HANDLER_ENV.alarmTopicArn]: topicArn,
            ...(complianceClasses(args.dataClasses) ? { [HANDLER_ENV.complianceClasses]: complianceClasses(args.dataClasses) } : {}),
          },
        },
      },
      { parent: this, dependsOn: [verifyPermissions] },
    );
    this.verifyFunctionArn = verifyFunction.arn;

    // --- schedules
    const schedulerRole = new aws.iam.Role(
      `${name}-scheduler-role`,
      { description: `EventBridge Scheduler invoking drstack ${args.site} backups`, assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("scheduler.amazonaws.com", { accountId: args.accountId })) },
      child,
    );
    const functionArns = [...backupFunctions.map(({ fn }) => fn.arn), verifyFunction.arn];
    const schedulerPermissions = new aws.iam.RolePolicy(
      `${name}-scheduler-permissions`,
      { role: schedulerRole.name, policy: pulumi.jsonStringify(schedulerPolicy(functionArns)) },
      child,
    );
    const backupState = backupsScheduled(args.role) ? "ENABLED" : "DISABLED";
    this.backupSchedules = [];
    for (const { database, fn } of backupFunctions) {
      const schedule = new aws.scheduler.Schedule(
        `${name}-backup-${resourceSuffix(database.name)}-schedule`,
        {
          description: `${database.tier}-tier backup of ${database.name}; runs only while ${args.site} is the active site`,
          scheduleExpression: args.schedules[database.tier],
          scheduleExpressionTimezone: "UTC",
          state: backupState,
          flexibleTimeWindow: { mode: "OFF" },
          target: {
            arn: fn.arn,
            roleArn: schedulerRole.arn,
            // The scheduled time names the slot, so a retried invocation writes the same keys.
            input: JSON.stringify({ slot: "<aws.scheduler.scheduled-time>" }),
            retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
          },
        },
        { parent: this, dependsOn: [schedulerPermissions] },
      );
      this.backupSchedules.push({ name: schedule.name, arn: schedule.arn });
    }
    this.schedulerRoleArn = schedulerRole.arn;
    new aws.scheduler.Schedule(
      `${name}-verify-schedule`,
      {
        description: `Verification of ${args.site}'s backups and their replication; runs on both sites`,
        scheduleExpression: args.verifySchedule,
        scheduleExpressionTimezone: "UTC",
        state: "ENABLED",
        flexibleTimeWindow: { mode: "OFF" },
        target: { arn: verifyFunction.arn, roleArn: schedulerRole.arn, retryPolicy: { maximumRetryAttempts: 1, maximumEventAgeInSeconds: 900 } },
      },
      { parent: this, dependsOn: [schedulerPermissions] },
    );

    // --- alarms
    const notify = notifyTopic(topicArn);
    for (const { database, fn } of backupFunctions) {
      const id = `${name}-backup-${resourceSuffix(database.name)}`;
      new aws.cloudwatch.MetricAlarm(
        `${id}-errors`,
        {
          ...notify,
          alarmDescription: `A backup of ${database.name} in ${args.site} failed; the previous good backup is still the latest.`,
          ...functionErrorsAlarm(fn.name),
        },
        child,
      );
      new aws.cloudwatch.MetricAlarm(
        `${id}-duration`,
        {
          ...notify,
          alarmDescription: `The backup of ${database.name} in ${args.site} is nearing Lambda's ${BACKUP_TIMEOUT_SECONDS}s limit.`,
          namespace: "AWS/Lambda",
          metricName: "Duration",
          dimensions: { FunctionName: fn.name },
          statistic: "Maximum",
          period: 300,
          evaluationPeriods: 1,
          comparisonOperator: "GreaterThanThreshold",
          threshold: BACKUP_TIMEOUT_SECONDS * 1000 * DURATION_ALARM_SHARE,
          treatMissingData: "notBreaching",
        },
        child,
      );
    }
    for (const database of args.databases) {
      new aws.cloudwatch.MetricAlarm(
        `${name}-backup-${resourceSuffix(database.name)}-age`,
        {
          ...notify,
          alarmDescription: `The newest good backup of ${database.name} in ${args.site} is older than one ${database.tier}-tier schedule interval and run (or the tier's RPO, if longer): a scheduled dump was missed.`,
          ...backupAgeAlarm(database, args.tiers, args.schedules),
        },
        child,
      );
    }
    new aws.cloudwatch.MetricAlarm(
      `${name}-verify-errors`,
      {
        ...notify,
        alarmDescription: `The backup verification function of ${args.site} itself failed, so backups are unobserved.`,
        ...functionErrorsAlarm(verifyFunction.name),
      },
      child,
    );

    this.backupRoleArn = backupRole.arn;
    this.registerOutputs({ verifyFunctionArn: this.verifyFunctionArn });
  }
}

/**
 * The built verification function. A missing build stops the program before
 * anything is declared (`requireLambdaBundles` in deploySite; checked again
 * here), never only a warning: the upload would fail half-way through an up.
 */
export function verifyFunctionArchive(): pulumi.asset.FileArchive {
  return lambdaBundleArchive("verify");
}

/** A function's own variables beside the endpoint variables of the services it calls. */
function withEndpoints(
  endpoints: pulumi.Input<Record<string, string>>,
  own: Record<string, pulumi.Input<string>>,
): pulumi.Output<Record<string, string>> {
  return pulumi.all([pulumi.output(endpoints), pulumi.output(own)]).apply(([urls, values]) => ({ ...urls, ...values }));
}

/** The lock headers' settings for a database whose class has its own Object Lock mode; none otherwise (the bucket default applies). */
function lockEnvironment(database: BackupDatabase, dataClasses: DataClassPolicy[]): Record<string, string> {
  const lock = classObjectLock(database, dataClasses);
  return lock ? { [HANDLER_ENV.objectLockMode]: lock.mode, [HANDLER_ENV.objectLockDays]: String(lock.days) } : {};
}

/** Resource names allow what database names allow except dots. */
function resourceSuffix(databaseName: string): string {
  return databaseName.replace(/[^A-Za-z0-9-]/g, "-").toLowerCase();
}

/** Any failed invocation in five minutes. No invocations (the standby, whose backup schedules are off) is not an error. */
export function functionErrorsAlarm(functionName: pulumi.Input<string>): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    namespace: "AWS/Lambda",
    metricName: "Errors",
    dimensions: { FunctionName: functionName },
    statistic: "Sum",
    period: 300,
    evaluationPeriods: 1,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    treatMissingData: "notBreaching",
  };
}

/**
 * How old the newest good dump may be before a run counts as missed: one
 * schedule interval plus one run at Lambda's ceiling, or the tier's RPO where
 * that is longer. The RPO itself is held by point-in-time recovery and the
 * replica (infra/pointInTimeRecovery.ts); the dumps are the long history, so
 * what their age proves is that they run on schedule. A cron that skips
 * days has no fixed interval: the RPO then stands.
 */
export function backupAgeLimitSeconds(tier: TierName, tiers: TierObjectives, schedules: Readonly<Record<TierName, string>>): number {
  const check = checkScheduleExpression(schedules[tier]);
  const scheduled = check.ok && check.intervalMinutes !== undefined ? check.intervalMinutes * 60 + BACKUP_TIMEOUT_SECONDS : 0;
  return Math.max(tiers[tier].rpoMinutes * 60, scheduled);
}

/**
 * Age of the newest good backup against `backupAgeLimitSeconds`. A missing metric means
 * the verifier is not reporting, which is as bad as a stale backup: it breaches.
 */
export function backupAgeAlarm(database: BackupDatabase, tiers: TierObjectives, schedules: Readonly<Record<TierName, string>>): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    namespace: METRIC_NAMESPACE,
    metricName: BACKUP_METRICS.age,
    dimensions: { [METRIC_DIMENSION]: database.name },
    statistic: "Maximum",
    period: 300,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    comparisonOperator: "GreaterThanThreshold",
    threshold: backupAgeLimitSeconds(database.tier, tiers, schedules),
    treatMissingData: "breaching",
  };
}

export interface BackupFunctionPolicyArgs {
  site: SiteName;
  region: string;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  secretArn: pulumi.Input<string>;
  secretKeyArn: pulumi.Input<string>;
  databases: BackupDatabase[];
  dataClasses: DataClassPolicy[];
  fencing: BackupFencing;
}

/**
 * Write this site's dumps, manifests and `latest-<site>.json` under each
 * database's own prefix and nowhere else (never the other site's pointer or
 * keys, which replication would carry over the other site's); read what is
 * under the prefixes (the manifest of a retried slot, the pointer); abort its
 * own failed uploads; read the database password; read its site's claim and
 * fence marker and ask its guard (fencing). Bucket-level listing is on the
 * bucket itself (HeadBucket and finding stale multipart uploads need it).
 * Where a database's class has its own lock mode, the uploads carry Object
 * Lock headers, which S3 authorizes as s3:PutObjectRetention as well as
 * s3:PutObject.
 */
export function backupFunctionPolicy(args: BackupFunctionPolicyArgs): PolicyDocument {
  const locked = args.databases.filter((database) => classObjectLock(database, args.dataClasses));
  return {
    Version: "2012-10-17",
    Statement: [
      ...(locked.length > 0
        ? [
            {
              Sid: "LockOwnUploads",
              Effect: "Allow" as const,
              Action: "s3:PutObjectRetention",
              Resource: locked.map((database) => pulumi.interpolate`${args.bucketArn}/${databaseKeyPrefix(database)}*`),
            },
          ]
        : []),
      {
        Sid: "FindBucketAndStaleUploads",
        Effect: "Allow",
        Action: ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
        Resource: args.bucketArn,
      },
      {
        Sid: "WriteOwnSiteKeys",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteObject"],
        Resource: args.databases.flatMap((database) => siteWritableKeys(database, args.site).map((key) => pulumi.interpolate`${args.bucketArn}/${key}`)),
      },
      {
        Sid: "ReadOwnDatabasePrefixes",
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: args.databases.map((database) => pulumi.interpolate`${args.bucketArn}/${databaseKeyPrefix(database)}*`),
      },
      {
        Sid: "EncryptWithBackupKeyThroughS3",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey", "kms:Decrypt"],
        Resource: args.keyArn,
        Condition: { StringEquals: { "kms:ViaService": `s3.${args.region}.amazonaws.com` } },
      },
      {
        Sid: "ReadDatabaseCredentials",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: args.secretArn,
      },
      {
        // A secret under a customer-managed key is readable only with
        // kms:Decrypt on that key; Secrets Manager calls KMS with the secret's
        // ARN as encryption context (Secrets Manager User Guide, "Secret
        // encryption and decryption in AWS Secrets Manager").
        Sid: "DecryptDatabaseCredentialsThroughSecretsManager",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: args.secretKeyArn,
        Condition: {
          StringEquals: { "kms:ViaService": `secretsmanager.${args.region}.amazonaws.com`, "kms:EncryptionContext:SecretARN": args.secretArn },
        },
      },
      {
        Sid: "ReadOwnClaimAndFenceMarker",
        Effect: "Allow",
        Action: "ssm:GetParameters",
        Resource: [args.fencing.claimParameterArn, args.fencing.fenceMarkerParameterArn],
      },
      {
        Sid: "AskOwnFencingGuard",
        Effect: "Allow",
        Action: "lambda:InvokeFunction",
        Resource: args.fencing.guardFunctionArn,
      },
    ],
  };
}

export interface VerifyFunctionPolicyArgs {
  region: string;
  bucketArn: pulumi.Input<string>;
  keyArn: pulumi.Input<string>;
  peerBucketArn: string;
  topicArn: pulumi.Input<string>;
  logGroupArn: pulumi.Input<string>;
  databases: BackupDatabase[];
}

/**
 * Read (never write) the backups of the protected databases here, check their
 * copies in the peer bucket by HEAD (which needs no key), publish metrics in
 * drstack's namespace only (PutMetricData has no resource-level permission;
 * the namespace condition is its scope) and notify the alarm topic.
 */
export function verifyFunctionPolicy(args: VerifyFunctionPolicyArgs): PolicyDocument {
  const prefixes = (bucketArn: pulumi.Input<string>) => args.databases.map((database) => pulumi.interpolate`${bucketArn}/${databaseKeyPrefix(database)}*`);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "SeeBothBuckets",
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: [args.bucketArn, args.peerBucketArn],
      },
      {
        // HEAD returns an object's lock mode and retain-until date only to a
        // caller allowed s3:GetObjectRetention; without it the verifier would
        // see every COMPLIANCE object as unlocked.
        Sid: "ReadOwnBackups",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:GetObjectRetention"],
        Resource: prefixes(args.bucketArn),
      },
      {
        Sid: "CheckPeerCopies",
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: prefixes(args.peerBucketArn),
      },
      {
        Sid: "DecryptOwnBackupsThroughS3",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: args.keyArn,
        Condition: { StringEquals: { "kms:ViaService": `s3.${args.region}.amazonaws.com` } },
      },
      {
        Sid: "PublishBackupMetrics",
        Effect: "Allow",
        Action: "cloudwatch:PutMetricData",
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": METRIC_NAMESPACE } },
      },
      {
        Sid: "NotifyAlarmTopic",
        Effect: "Allow",
        Action: "sns:Publish",
        Resource: args.topicArn,
      },
      {
        Sid: "WriteOwnLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: pulumi.interpolate`${args.logGroupArn}:*`,
      },
    ],
  };
}

export function schedulerPolicy(functionArns: pulumi.Input<string>[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Sid: "InvokeBackupFunctions", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: functionArns }],
  };
}
