import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ObjectLockMode } from "./config";
import { DataClassPolicy } from "./dataClasses";
import { backupBucketName, backupKeyAliasName } from "./naming";
import { PolicyDocument } from "./policyDocument";
import { SiteName } from "./roles";

export interface BackupStorageArgs {
  /** The site this bucket belongs to; part of the bucket and key names. */
  site: SiteName;
  /** The site's region; part of the bucket name so the peer can derive it. */
  region: string;
  /** Prefix of globally unique names, shared by both stacks. */
  namePrefix: string;
  /** The AWS account that owns the key; only this account's IAM can use it. */
  accountId: pulumi.Input<string>;
  /** Retention and tier of each key prefix in the bucket. */
  dataClasses: DataClassPolicy[];
  /** Default Object Lock retention of each new object version. */
  objectLock: { mode: ObjectLockMode; days: number };
  /** How long a deleted or overwritten version stays recoverable. */
  noncurrentVersionDays: number;
  /** How long an unfinished multipart upload may linger. */
  abortIncompleteUploadDays: number;
}

/**
 * A site's backup bucket and the customer-managed key that encrypts it:
 * private, TLS-only, versioned, Object Lock-capable, with lifecycle retention
 * per data class. The bucket, key and alias are protected: `pulumi destroy` or
 * a refactor that would delete them stops instead.
 */
export class BackupStorage extends pulumi.ComponentResource {
  /** The bucket's globally unique name (derived by the naming rule). */
  public readonly bucketName: pulumi.Output<string>;
  public readonly bucketArn: pulumi.Output<string>;
  /** ARN of the KMS key that encrypts every object in the bucket. */
  public readonly keyArn: pulumi.Output<string>;
  /** The key's alias; the peer's replication re-encrypts replicas with it. */
  public readonly keyAliasName: string;
  /** Versioning must be on before replication can be configured. */
  public readonly versioning: aws.s3.BucketVersioning;

  constructor(name: string, args: BackupStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:storage:BackupStorage", name, {}, opts);
    const child = { parent: this };
    const dataStore = { parent: this, protect: true };

    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `drstack ${args.site} backups`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: pulumi.jsonStringify(backupKeyPolicy(args.accountId)),
      },
      dataStore,
    );
    this.keyAliasName = backupKeyAliasName(args.namePrefix, args.site);
    new aws.kms.Alias(`${name}-key-alias`, { name: this.keyAliasName, targetKeyId: key.keyId }, dataStore);

    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      {
        bucket: backupBucketName(args.namePrefix, args.site, args.region),
        objectLockEnabled: true,
        forceDestroy: false,
      },
      dataStore,
    );
    const bucketRef = { bucket: bucket.bucket };

    new aws.s3.BucketOwnershipControls(`${name}-ownership`, { ...bucketRef, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
    const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access-block`,
      { ...bucketRef, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      child,
    );
    this.versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { ...bucketRef, versioningConfiguration: { status: "Enabled" } },
      child,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        ...bucketRef,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }, bucketKeyEnabled: true }],
      },
      child,
    );
    new aws.s3.BucketPolicy(
      `${name}-policy`,
      { ...bucketRef, policy: pulumi.jsonStringify(tlsOnlyBucketPolicy(bucket.arn)) },
      { parent: this, dependsOn: [publicAccessBlock] },
    );
    if (args.objectLock.mode !== "NONE") {
      new aws.s3.BucketObjectLockConfiguration(
        `${name}-object-lock`,
        { ...bucketRef, objectLockEnabled: "Enabled", rule: { defaultRetention: { mode: args.objectLock.mode, days: args.objectLock.days } } },
        { parent: this, dependsOn: [this.versioning] },
      );
    }
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      { ...bucketRef, rules: lifecycleRules(args.dataClasses, args.noncurrentVersionDays, args.abortIncompleteUploadDays) },
      { parent: this, dependsOn: [this.versioning] },
    );

    this.bucketName = bucket.bucket;
    this.bucketArn = bucket.arn;
    this.keyArn = key.arn;
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn, keyArn: this.keyArn });
  }
}

/** Only this account's IAM policies may use the key; no other principal is named. */
export function backupKeyPolicy(accountId: pulumi.Input<string>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AccountIamPoliciesGovernUse",
        Effect: "Allow",
        Principal: { AWS: pulumi.interpolate`arn:aws:iam::${accountId}:root` },
        Action: "kms:*",
        Resource: "*",
      },
    ],
  };
}

export function tlsOnlyBucketPolicy(bucketArn: pulumi.Input<string>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, pulumi.interpolate`${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

export interface StorageTransition {
  days: number;
  storageClass: "STANDARD_IA" | "GLACIER_IR" | "DEEP_ARCHIVE";
}

/**
 * Cheaper storage classes only where an object stays long enough to pay back
 * the class's minimum storage duration (S3 bills IA for 30 days, Glacier
 * Instant Retrieval for 90, Deep Archive for 180, however early the object
 * is deleted). Deep Archive takes 12 hours or more to restore, so it is used
 * only past the first year, for objects that are records rather than restore
 * points.
 */
export function storageTransitions(retentionDays: number): StorageTransition[] {
  const transitions: StorageTransition[] = [];
  if (retentionDays >= 30 + 30) {
    transitions.push({ days: 30, storageClass: "STANDARD_IA" });
  }
  if (retentionDays >= 90 + 90) {
    transitions.push({ days: 90, storageClass: "GLACIER_IR" });
  }
  if (retentionDays >= 365 + 180) {
    transitions.push({ days: 365, storageClass: "DEEP_ARCHIVE" });
  }
  return transitions;
}

export const DELETE_MARKER_RULE_ID = "expired-delete-markers-and-stale-uploads";

export function lifecycleRules(
  dataClasses: DataClassPolicy[],
  noncurrentVersionDays: number,
  abortIncompleteUploadDays: number,
): aws.types.input.s3.BucketLifecycleConfigurationRule[] {
  const perClass = dataClasses.map((dataClass) => ({
    id: `retain-${dataClass.name}-${dataClass.retentionDays}d`,
    status: "Enabled",
    filter: { prefix: dataClass.prefix },
    expiration: { days: dataClass.retentionDays },
    transitions: storageTransitions(dataClass.retentionDays),
    noncurrentVersionExpiration: { noncurrentDays: noncurrentVersionDays },
  }));
  // S3 forbids ExpiredObjectDeleteMarker beside Days in one rule, so the
  // bucket-wide clean-up is a rule of its own.
  const cleanUp = {
    id: DELETE_MARKER_RULE_ID,
    status: "Enabled",
    filter: { prefix: "" },
    expiration: { expiredObjectDeleteMarker: true },
    abortIncompleteMultipartUpload: { daysAfterInitiation: abortIncompleteUploadDays },
  };
  return [...perClass, cleanUp];
}
