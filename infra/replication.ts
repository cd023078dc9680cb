import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { notifyTopic } from "./alarms";
import { S3_RTC_REPLICATION_MINUTES, UNCONTROLLED_REPLICATION_MINUTES } from "./assumptions";
import { DataClassPolicy } from "./dataClasses";
import { backupBucketName, kmsAliasArn, replicationRoleName } from "./naming";
import { PolicyDocument, serviceTrustPolicy } from "./policyDocument";
import { SiteName } from "./roles";
import { TierObjectives } from "./tiers";

export interface CrossRegionReplicationArgs {
  /** The site whose bucket is the source. */
  site: SiteName;
  /** The site whose bucket receives the replicas. */
  peer: SiteName;
  namePrefix: string;
  accountId: pulumi.Input<string>;
  sourceRegion: string;
  sourceBucketName: pulumi.Input<string>;
  sourceBucketArn: pulumi.Input<string>;
  sourceKeyArn: pulumi.Input<string>;
  /** Derived by the naming rule, never read from the peer's stack. */
  destinationBucketName: string;
  destinationRegion: string;
  /** Alias of the peer's backup key: replicas are re-encrypted with the destination's own key. */
  destinationKeyAliasName: string;
  dataClasses: DataClassPolicy[];
  tiers: TierObjectives;
  /** Replication needs versioning on the source first. */
  sourceVersioning: pulumi.Resource;
  /** The site's alarm topic (SiteAlarms): failed replication of any rule notifies it. */
  alarmTopicArn: pulumi.Input<string>;
}

/**
 * One direction of the two-way backup replication: this site's bucket to the
 * peer's. Each stack owns the direction that starts in its own region, so
 * neither stack writes to the other's region and either can run alone.
 */
export class CrossRegionReplication extends pulumi.ComponentResource {
  public readonly roleArn: pulumi.Output<string>;
  /** The replication configuration; the bucket policy that locks it is declared after it. */
  public readonly configuration: aws.s3.BucketReplicationConfig;

  constructor(name: string, args: CrossRegionReplicationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:replication:CrossRegionReplication", name, {}, opts);

    const role = new aws.iam.Role(
      `${name}-role`,
      {
        name: replicationRoleName(args.namePrefix, args.site, args.peer),
        description: `S3 replication of drstack backups from ${args.site} to ${args.peer}`,
        assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("s3.amazonaws.com", { accountId: args.accountId, sourceArn: args.sourceBucketArn })),
      },
      { parent: this },
    );
    const destinationBucketArn = `arn:aws:s3:::${args.destinationBucketName}`;
    const permissions = new aws.iam.RolePolicy(
      `${name}-permissions`,
      {
        role: role.name,
        policy: pulumi.jsonStringify(
          replicationPermissions({
            accountId: args.accountId,
            sourceRegion: args.sourceRegion,
            sourceBucketArn: args.sourceBucketArn,
            sourceKeyArn: args.sourceKeyArn,
            destinationRegion: args.destinationRegion,
            destinationBucketArn,
            destinationKeyAliasName: args.destinationKeyAliasName,
          }),
        ),
      },
      { parent: this },
    );
    // S3 resolves an alias in the requester's account, not the destination
    // bucket owner's (CloudFormation's ReplicationConfiguration
    // EncryptionConfiguration reference). The requester is this account's
    // replication role and both buckets live in this account, so the alias
    // names the peer bucket's own key; only the break-glass role can move it.
    const replicaKmsKeyId = pulumi
      .output(args.accountId)
      .apply((account) => kmsAliasArn(args.destinationRegion, account, args.destinationKeyAliasName));
    const rules = replicationRules(args.dataClasses, args.tiers, destinationBucketArn, replicaKmsKeyId);
    this.configuration = new aws.s3.BucketReplicationConfig(
      `${name}-rules`,
      { bucket: args.sourceBucketName, role: role.arn, rules },
      { parent: this, dependsOn: [args.sourceVersioning, permissions] },
    );

    // OperationsFailedReplication is published in the source bucket's region,
    // so the stack that owns this direction alarms on it in its own region.
    const notify = notifyTopic(args.alarmTopicArn);
    for (const dataClass of args.dataClasses) {
      new aws.cloudwatch.MetricAlarm(
        `${name}-${dataClass.name}-failed`,
        {
          ...notify,
          alarmDescription: `S3 failed to replicate objects of ${dataClass.prefix} from ${args.site} to ${args.peer}; those backups exist in one region only.`,
          ...failedReplicationAlarm({ sourceBucketName: args.sourceBucketName, destinationBucketName: args.destinationBucketName, ruleId: replicationRuleId(dataClass) }),
        },
        { parent: this, dependsOn: [this.configuration] },
      );
    }

    this.roleArn = role.arn;
    this.registerOutputs({ roleArn: this.roleArn });
  }
}

/** Whether a data class's tier needs replication with a time bound (S3 RTC) to meet its RPO. */
export function needsReplicationTimeControl(rpoMinutes: number): boolean {
  return rpoMinutes < UNCONTROLLED_REPLICATION_MINUTES;
}

/**
 * One rule per data class. Delete markers are deliberately NOT replicated: a
 * delete in one region, whether a mistake or a compromised account, must not
 * hide the backup in the other. Each bucket's own lifecycle expires its
 * copies on the same schedule, so retention stays symmetric without it.
 * Replica modification sync keeps metadata changes made to replicas (tags,
 * retention) flowing back, which matters after a failover when the peer's
 * copies become the ones people work with.
 */
export function replicationRules(
  dataClasses: DataClassPolicy[],
  tiers: TierObjectives,
  destinationBucketArn: string,
  replicaKmsKeyId: pulumi.Input<string>,
): aws.types.input.s3.BucketReplicationConfigRule[] {
  return dataClasses.map((dataClass, index) => {
    const timeControlled = needsReplicationTimeControl(tiers[dataClass.tier].rpoMinutes);
    return {
      id: replicationRuleId(dataClass),
      priority: index + 1,
      status: "Enabled",
      filter: { prefix: dataClass.prefix },
      deleteMarkerReplication: { status: "Disabled" },
      sourceSelectionCriteria: {
        sseKmsEncryptedObjects: { status: "Enabled" },
        replicaModifications: { status: "Enabled" },
      },
      destination: {
        bucket: destinationBucketArn,
        storageClass: "STANDARD",
        encryptionConfiguration: { replicaKmsKeyId },
        // Metrics on every rule, so failures alarm whatever the tier. S3
        // accepts an event threshold only beside RTC ("Metrics cannot contain
        // an event threshold when ReplicationTime is not specified or
        // Disabled"), and RTC requires metrics with a 15-minute threshold.
        ...(timeControlled
          ? {
              replicationTime: { status: "Enabled", time: { minutes: S3_RTC_REPLICATION_MINUTES } },
              metrics: { status: "Enabled", eventThreshold: { minutes: S3_RTC_REPLICATION_MINUTES } },
            }
          : { metrics: { status: "Enabled" } }),
      },
    };
  });
}

/** A rule's id: S3 reports each rule's replication metrics under it (the RuleId dimension). */
export function replicationRuleId(dataClass: Pick<DataClassPolicy, "name">): string {
  return `replicate-${dataClass.name}`;
}

/** S3 Replication metrics: namespace AWS/S3, dimensions SourceBucket, DestinationBucket (bucket names) and RuleId. */
export const S3_REPLICATION_NAMESPACE = "AWS/S3";
export const S3_REPLICATION_METRICS = { failed: "OperationsFailedReplication", latency: "ReplicationLatency" } as const;

export interface ReplicationRuleRef {
  sourceBucketName: pulumi.Input<string>;
  destinationBucketName: pulumi.Input<string>;
  ruleId: string;
}

function replicationDimensions(rule: ReplicationRuleRef): Record<string, pulumi.Input<string>> {
  return { SourceBucket: rule.sourceBucketName, DestinationBucket: rule.destinationBucketName, RuleId: rule.ruleId };
}

/**
 * Any failed replication operation of one rule in five minutes (the metric's
 * Sum counts failed operations). AWS recommends treating missing data as
 * "ignore" for replication metrics: no datapoint means no operation, which
 * neither proves nor disproves health, so the alarm keeps its state.
 */
export function failedReplicationAlarm(rule: ReplicationRuleRef): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    namespace: S3_REPLICATION_NAMESPACE,
    metricName: S3_REPLICATION_METRICS.failed,
    dimensions: replicationDimensions(rule),
    statistic: "Sum",
    period: 300,
    evaluationPeriods: 1,
    comparisonOperator: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    treatMissingData: "ignore",
  };
}

/** An RTC rule whose replicas lag past RTC's 15-minute threshold (ReplicationLatency, seconds, statistic Maximum). */
export function replicationLatencyAlarm(rule: ReplicationRuleRef): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    namespace: S3_REPLICATION_NAMESPACE,
    metricName: S3_REPLICATION_METRICS.latency,
    dimensions: replicationDimensions(rule),
    statistic: "Maximum",
    period: 300,
    evaluationPeriods: 1,
    comparisonOperator: "GreaterThanThreshold",
    threshold: S3_RTC_REPLICATION_MINUTES * 60,
    treatMissingData: "ignore",
  };
}

export interface InboundReplicationAlarmsArgs {
  site: SiteName;
  peer: SiteName;
  namePrefix: string;
  /** This site's bucket, the destination of the peer's replication. */
  bucketName: pulumi.Input<string>;
  peerRegion: string;
  /** The peer's rules are derived from the same shared data classes and tiers. */
  dataClasses: DataClassPolicy[];
  tiers: TierObjectives;
  alarmTopicArn: pulumi.Input<string>;
}

/**
 * The peer's replication into this site's bucket, watched from this site:
 * ReplicationLatency is published in the destination bucket's region, so the
 * destination's stack alarms on it in its own region, for every rule of the
 * peer's direction that uses RTC. The peer's bucket name and rule ids come from
 * the naming rules, never from the peer's stack.
 */
export class InboundReplicationAlarms extends pulumi.ComponentResource {
  constructor(name: string, args: InboundReplicationAlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:replication:InboundReplicationAlarms", name, {}, opts);
    const notify = notifyTopic(args.alarmTopicArn);
    const sourceBucketName = backupBucketName(args.namePrefix, args.peer, args.peerRegion);
    for (const dataClass of args.dataClasses.filter((c) => needsReplicationTimeControl(args.tiers[c.tier].rpoMinutes))) {
      new aws.cloudwatch.MetricAlarm(
        `${name}-${dataClass.name}-latency`,
        {
          ...notify,
          alarmDescription: `Replicas of ${dataClass.prefix} from ${args.peer} reach ${args.site} later than S3 RTC's ${S3_RTC_REPLICATION_MINUTES} minutes; the ${dataClass.tier} tier's RPO assumes they do not.`,
          ...replicationLatencyAlarm({ sourceBucketName, destinationBucketName: args.bucketName, ruleId: replicationRuleId(dataClass) }),
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}

export interface ReplicationPermissionsArgs {
  accountId: pulumi.Input<string>;
  sourceRegion: string;
  sourceBucketArn: pulumi.Input<string>;
  sourceKeyArn: pulumi.Input<string>;
  destinationRegion: string;
  destinationBucketArn: string;
  destinationKeyAliasName: string;
}

/**
 * What S3 replication needs and nothing more: read the source bucket's
 * configuration and object versions (with their Object Lock retention, so
 * replicas stay locked), write replicas and tags into the peer bucket, decrypt
 * with the source key and encrypt with the destination key. No
 * s3:ReplicateDelete, because delete markers are not replicated. The
 * destination key is named by its alias (the peer is never read), so the KMS
 * statement is scoped by the kms:ResourceAliases condition.
 *
 * The KMS conditions match the encryption context S3 sends. With S3 Bucket
 * Keys (on for both buckets) the context `aws:s3:arn` is the bucket's ARN,
 * not the object's; objects written before Bucket Keys were on, or uploaded
 * with `x-amz-server-side-encryption-bucket-key-enabled: false`, carry their
 * object ARN, and their replicas keep that setting. Both forms are allowed,
 * for this bucket and the peer's only (S3 User Guide, "Replicating encrypted
 * objects", Amazon S3 Bucket Keys and replication). With a Bucket Key at the
 * destination S3 also calls Decrypt on the destination key to verify it.
 */
export function replicationPermissions(args: ReplicationPermissionsArgs): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadSourceReplicationConfiguration",
        Effect: "Allow",
        Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"],
        Resource: args.sourceBucketArn,
      },
      {
        Sid: "ReadSourceObjectVersions",
        Effect: "Allow",
        Action: [
          "s3:GetObjectVersionForReplication",
          "s3:GetObjectVersionAcl",
          "s3:GetObjectVersionTagging",
          "s3:GetObjectRetention",
          "s3:GetObjectLegalHold",
        ],
        Resource: pulumi.interpolate`${args.sourceBucketArn}/*`,
      },
      {
        Sid: "WriteReplicasToPeerBucket",
        Effect: "Allow",
        Action: ["s3:ReplicateObject", "s3:ReplicateTags"],
        Resource: `${args.destinationBucketArn}/*`,
      },
      {
        Sid: "DecryptWithSourceKey",
        Effect: "Allow",
        Action: "kms:Decrypt",
        Resource: args.sourceKeyArn,
        Condition: {
          StringEquals: { "kms:ViaService": `s3.${args.sourceRegion}.amazonaws.com` },
          StringLike: { "kms:EncryptionContext:aws:s3:arn": [args.sourceBucketArn, pulumi.interpolate`${args.sourceBucketArn}/*`] },
        },
      },
      {
        Sid: "EncryptWithPeerKey",
        Effect: "Allow",
        Action: ["kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"],
        Resource: pulumi.interpolate`arn:aws:kms:${args.destinationRegion}:${args.accountId}:key/*`,
        Condition: {
          StringEquals: { "kms:ViaService": `s3.${args.destinationRegion}.amazonaws.com` },
          "ForAnyValue:StringEquals": { "kms:ResourceAliases": args.destinationKeyAliasName },
          StringLike: { "kms:EncryptionContext:aws:s3:arn": [args.destinationBucketArn, `${args.destinationBucketArn}/*`] },
        },
      },
    ],
  };
}
