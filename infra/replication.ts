import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { S3_RTC_REPLICATION_MINUTES, UNCONTROLLED_REPLICATION_MINUTES } from "./assumptions";
import { DataClassPolicy } from "./dataClasses";
import { kmsAliasArn, replicationRoleName } from "./naming";
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
}

/**
 * One direction of the two-way backup replication: this site's bucket to the
 * peer's. Each stack owns the direction that starts in its own region, so
 * neither stack writes to the other's region and either can run alone.
 */
export class CrossRegionReplication extends pulumi.ComponentResource {
  public readonly roleArn: pulumi.Output<string>;

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
    // S3 resolves an alias ARN in the requester's account; both buckets live
    // in this account, so the alias names the peer bucket owner's own key.
    const replicaKmsKeyId = pulumi
      .output(args.accountId)
      .apply((account) => kmsAliasArn(args.destinationRegion, account, args.destinationKeyAliasName));
    new aws.s3.BucketReplicationConfig(
      `${name}-rules`,
      {
        bucket: args.sourceBucketName,
        role: role.arn,
        rules: replicationRules(args.dataClasses, args.tiers, destinationBucketArn, replicaKmsKeyId),
      },
      { parent: this, dependsOn: [args.sourceVersioning, permissions] },
    );

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
      id: `replicate-${dataClass.name}`,
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
        ...(timeControlled
          ? {
              replicationTime: { status: "Enabled", time: { minutes: S3_RTC_REPLICATION_MINUTES } },
              metrics: { status: "Enabled", eventThreshold: { minutes: S3_RTC_REPLICATION_MINUTES } },
            }
          : {}),
      },
    };
  });
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
          StringLike: { "kms:EncryptionContext:aws:s3:arn": pulumi.interpolate`${args.sourceBucketArn}/*` },
        },
      },
      {
        Sid: "EncryptWithPeerKey",
        Effect: "Allow",
        Action: ["kms:Encrypt", "kms:GenerateDataKey"],
        Resource: pulumi.interpolate`arn:aws:kms:${args.destinationRegion}:${args.accountId}:key/*`,
        Condition: {
          StringEquals: { "kms:ViaService": `s3.${args.destinationRegion}.amazonaws.com` },
          "ForAnyValue:StringEquals": { "kms:ResourceAliases": args.destinationKeyAliasName },
          StringLike: { "kms:EncryptionContext:aws:s3:arn": `${args.destinationBucketArn}/*` },
        },
      },
    ],
  };
}
