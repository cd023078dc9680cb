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
  /** The one role that may change the key's protection (and, through BackupProtection, the bucket's). */
  breakGlassRoleArn: string;
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
 * Data stores are protected (a `pulumi destroy` or a refactor that would
 * delete them stops) and retained on delete (should protection ever be lifted,
 * the engine drops them from its state instead of deleting them in AWS).
 */
export const DATA_STORE_OPTIONS = { protect: true, retainOnDelete: true } as const;

/**
 * A site's backup bucket and the customer-managed key that encrypts it:
 * private, versioned, Object Lock-capable, with lifecycle retention per data
 * class. The bucket policy that locks this configuration is BackupProtection,
 * declared after everything it locks (replication included).
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
    const dataStore = { parent: this, ...DATA_STORE_OPTIONS };

    const key = new aws.kms.Key(`${name}-key`, protectedKeyArgs(`drstack ${args.site} backups`, args.accountId, args.breakGlassRoleArn), dataStore);
    this.keyAliasName = backupKeyAliasName(args.namePrefix, args.site);
    new aws.kms.Alias(`${name}-key-alias`, { name: this.keyAliasName, targetKeyId: key.keyId }, dataStore);

    const bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      {
        bucket: backupBucketName(args.namePrefix, args.site, args.region),
        // Enabled at creation: S3 then needs no support token to replicate
        // locked objects (S3 User Guide, "Using Object Lock with replication").
        objectLockEnabled: true,
        forceDestroy: false,
      },
      dataStore,
    );
    const bucketRef = { bucket: bucket.bucket };

    new aws.s3.BucketOwnershipControls(`${name}-ownership`, { ...bucketRef, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
    new aws.s3.BucketPublicAccessBlock(
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

export interface BackupProtectionArgs {
  bucketName: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  /** The bucket's own key: the only encryption an upload may ask for. */
  keyArn: pulumi.Input<string>;
  breakGlassRoleArn: string;
  /**
   * Roles that set Object Lock retention on the objects they upload (the
   * backup functions): S3 authorizes a PutObject carrying lock headers as
   * s3:PutObjectRetention too.
   */
  retentionWriterRoleArns: pulumi.Input<string>[];
}

/**
 * The bucket policy that makes the backups' protection hold against the
 * account's own administrators. Declare it after every resource that
 * configures the bucket (pass them in `dependsOn`): once it exists, only the
 * break-glass role can change that configuration.
 */
export class BackupProtection extends pulumi.ComponentResource {
  constructor(name: string, args: BackupProtectionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:storage:BackupProtection", name, {}, opts);
    new aws.s3.BucketPolicy(`${name}-bucket-policy`, { bucket: args.bucketName, policy: pulumi.jsonStringify(backupBucketPolicy(args)) }, { parent: this });
    this.registerOutputs({});
  }
}

/**
 * What a key that protects backups or data stores is declared with. The
 * policy denies PutKeyPolicy to every principal but the break-glass role,
 * the deploying one included, so KMS's lockout safety check (CreateKey and
 * PutKeyPolicy refuse a policy that denies the caller a later PutKeyPolicy)
 * must be bypassed: AWS documents the bypass for exactly this intent, and the
 * key stays manageable because the break-glass role keeps PutKeyPolicy and
 * every other action (a unit test evaluates the policy to hold that).
 */
export function protectedKeyArgs(description: string, accountId: pulumi.Input<string>, breakGlassRoleArn: string): aws.kms.KeyArgs {
  return {
    description,
    enableKeyRotation: true,
    deletionWindowInDays: 30,
    bypassPolicyLockoutSafetyCheck: true,
    policy: pulumi.jsonStringify(backupKeyPolicy(accountId, breakGlassRoleArn)),
  };
}

/**
 * Key-policy actions that would make the key, and so every backup or
 * snapshot it encrypts, unusable or let someone rewrite these rules. All are
 * authorized by the key policy (DeleteAlias and UpdateAlias need permission on
 * the key as well as on the alias, AWS KMS API Reference), so a key-policy
 * Deny holds whatever IAM grants.
 */
export const PROTECTED_KEY_ACTIONS = [
  "kms:ScheduleKeyDeletion",
  "kms:DisableKey",
  "kms:PutKeyPolicy",
  "kms:DisableKeyRotation",
  "kms:DeleteAlias",
  "kms:UpdateAlias",
] as const;

/**
 * The account's IAM policies govern use of the key (the delegation KMS's
 * default policy makes; the replication roles and functions rely on it), but
 * no principal other than the break-glass role can delete, disable or
 * re-police the key, or move its alias, whatever IAM grants. The break-glass
 * role is also named directly, so it keeps every action even if no IAM policy
 * grants it any. KMS knows no root exception: the deny binds the root user too.
 */
export function backupKeyPolicy(accountId: pulumi.Input<string>, breakGlassRoleArn: string): PolicyDocument {
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
      {
        Sid: "BreakGlassRoleAdministers",
        Effect: "Allow",
        Principal: { AWS: breakGlassRoleArn },
        Action: "kms:*",
        Resource: "*",
      },
      {
        Sid: "OnlyBreakGlassChangesProtection",
        Effect: "Deny",
        Principal: "*",
        Action: [...PROTECTED_KEY_ACTIONS],
        Resource: "*",
        Condition: { ArnNotEquals: { "aws:PrincipalArn": breakGlassRoleArn } },
      },
    ],
  };
}

/**
 * Bucket configuration whose change would weaken the backups' protection:
 * the policy itself, retention (lifecycle, Object Lock default, versioning),
 * replication, default encryption, governance bypass, legal holds and the
 * bucket's deletion. Only the break-glass role may perform them. The Delete*
 * calls for lifecycle, replication and encryption are authorized by these Put*
 * actions (S3 API Reference, DeleteBucketLifecycle, DeleteBucketReplication,
 * DeleteBucketEncryption).
 */
export const PROTECTED_BUCKET_ACTIONS = [
  "s3:PutBucketPolicy",
  "s3:DeleteBucketPolicy",
  "s3:PutLifecycleConfiguration",
  "s3:PutBucketObjectLockConfiguration",
  "s3:PutBucketVersioning",
  "s3:PutReplicationConfiguration",
  "s3:PutEncryptionConfiguration",
  "s3:BypassGovernanceRetention",
  "s3:PutObjectLegalHold",
  "s3:DeleteBucket",
] as const;

/**
 * Deny-only: access is granted by the account's IAM policies, and every
 * statement here takes something away from every principal the conditions
 * match. None matches S3 replication's own actions (s3:ReplicateObject and
 * s3:ReplicateTags are not s3:PutObject), so the peer's replicas still land.
 */
export function backupBucketPolicy(args: Omit<BackupProtectionArgs, "bucketName">): PolicyDocument {
  const bucketAndObjects = [args.bucketArn, pulumi.interpolate`${args.bucketArn}/*`];
  const objects = pulumi.interpolate`${args.bucketArn}/*`;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: bucketAndObjects,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      {
        Sid: "DenyTlsOlderThan12",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: bucketAndObjects,
        Condition: { NumericLessThan: { "s3:TlsVersion": "1.2" } },
      },
      {
        Sid: "OnlyBreakGlassChangesProtection",
        Effect: "Deny",
        Principal: "*",
        Action: [...PROTECTED_BUCKET_ACTIONS],
        Resource: bucketAndObjects,
        Condition: { ArnNotEquals: { "aws:PrincipalArn": args.breakGlassRoleArn } },
      },
      {
        // Retention can only be lengthened or strengthened without the
        // (denied) governance bypass; the backup functions set it on upload.
        Sid: "OnlyBackupJobsAndBreakGlassSetRetention",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObjectRetention",
        Resource: objects,
        Condition: { ArnNotEquals: { "aws:PrincipalArn": [args.breakGlassRoleArn, ...args.retentionWriterRoleArns] } },
      },
      // An upload without encryption headers gets the bucket's default (SSE-KMS
      // with this key); one that asks for anything else is refused.
      {
        Sid: "DenyUploadsAskingForOtherEncryption",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObject",
        Resource: objects,
        Condition: { Null: { "s3:x-amz-server-side-encryption": "false" }, StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" } },
      },
      {
        Sid: "DenyUploadsNamingAnotherKey",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObject",
        Resource: objects,
        Condition: { Null: { "s3:x-amz-server-side-encryption-aws-kms-key-id": "false" }, ArnNotEquals: { "s3:x-amz-server-side-encryption-aws-kms-key-id": args.keyArn } },
      },
      {
        // SSE-KMS without a key id means the AWS managed key aws/s3 (S3 User Guide, "Specifying server-side encryption with AWS KMS").
        Sid: "DenySseKmsUploadsWithoutThisKey",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObject",
        Resource: objects,
        Condition: { Null: { "s3:x-amz-server-side-encryption": "false", "s3:x-amz-server-side-encryption-aws-kms-key-id": "true" } },
      },
      {
        Sid: "DenyCustomerProvidedKeys",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:PutObject",
        Resource: objects,
        Condition: { Null: { "s3:x-amz-server-side-encryption-customer-algorithm": "false" } },
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
