import { longestRecoveryInstanceIdentifier } from "./pointInTimeRecovery";
import { SiteName } from "./roles";

/**
 * Naming rules. Each stack derives its peer's resource names from these
 * functions and shared config, so the primary never needs to read the
 * secondary's stack and the secondary never needs the primary to be reachable.
 */

const S3_BUCKET_NAME_MAX = 63;

export function backupBucketName(namePrefix: string, site: SiteName, region: string): string {
  return `${namePrefix}-backups-${site}-${region}`;
}

/** The KMS alias of a site's backup key; S3 replication accepts an alias ARN as the replica key. */
export function backupKeyAliasName(namePrefix: string, site: SiteName): string {
  return `alias/${namePrefix}-backups-${site}`;
}

export function kmsAliasArn(region: string, accountId: string, aliasName: string): string {
  return `arn:aws:kms:${region}:${accountId}:${aliasName}`;
}

export function replicationRoleName(namePrefix: string, from: SiteName, to: SiteName): string {
  return `${namePrefix}-replicate-${from}-to-${to}`;
}

/**
 * ECR repositories carry the same names in both regions: ECR replication
 * copies an image into the repository of the same name in the peer region.
 * Only the application's repositories (under this prefix) replicate; each
 * site builds and pushes drstack's own images itself.
 */
export function appImageRepositoryName(namePrefix: string): string {
  return `${namePrefix}/app`;
}

export function backupImageRepositoryName(namePrefix: string): string {
  return `${namePrefix}/drstack-backup`;
}

/** Enhanced Monitoring's role of a site's databases. */
export function databaseMonitoringRoleName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-rds-monitoring-${site}`;
}

/**
 * Every name the program sets from namePrefix whose AWS limit is short
 * enough to bind, with that limit: S3 bucket names 3-63 characters (S3 User
 * Guide, "Bucket naming rules"); ElastiCache replication group IDs 1-40
 * (CreateReplicationGroup, ReplicationGroupId); IAM role names 64 (IAM User
 * Guide, "IAM object quotas"); Lambda function names 64 (CreateFunction,
 * FunctionName); RDS instance identifiers 63 (CreateDBInstance,
 * DBInstanceIdentifier; the generation suffix counted up to g999, and a
 * recovery instance's timestamp).
 */
export function boundedNames(namePrefix: string, regions: readonly string[]): Array<{ name: string; limit: number; what: string }> {
  const sites: SiteName[] = ["primary", "secondary"];
  return [
    ...sites.flatMap((site) => regions.map((region) => ({ name: backupBucketName(namePrefix, site, region), limit: S3_BUCKET_NAME_MAX, what: "S3 bucket name" }))),
    ...sites.map((site) => ({ name: cacheReplicationGroupId(namePrefix, site), limit: 40, what: "ElastiCache replication group ID" })),
    ...sites.map((site) => ({ name: replicationRoleName(namePrefix, site, site === "primary" ? "secondary" : "primary"), limit: 64, what: "IAM role name" })),
    ...sites.map((site) => ({ name: databaseMonitoringRoleName(namePrefix, site), limit: 64, what: "IAM role name" })),
    ...sites.map((site) => ({ name: guardFunctionName(namePrefix, site), limit: 64, what: "Lambda function name" })),
    ...sites.map((site) => ({ name: databaseIdentifier(namePrefix, site, 999), limit: 63, what: "RDS instance identifier" })),
    ...sites.map((site) => ({ name: longestRecoveryInstanceIdentifier(namePrefix, site), limit: 63, what: "RDS instance identifier" })),
  ];
}

/** The longest namePrefix for which every name in `boundedNames` fits its AWS limit. */
export function maxNamePrefixLength(regions: readonly string[]): number {
  return Math.min(...boundedNames("", regions).map(({ name, limit }) => limit - name.length));
}

/** A site's database instance identifier; generation 1 keeps the plain name. Never derived from the role, so a promotion is an in-place update. */
export function databaseIdentifier(namePrefix: string, site: SiteName, generation: number): string {
  return generation === 1 ? `${namePrefix}-${site}-db` : `${namePrefix}-${site}-db-g${generation}`;
}

/** The ARN of a site's database instance, derived so the primary never reads the secondary's stack. */
export function databaseArn(region: string, accountId: string, identifier: string): string {
  return `arn:aws:rds:${region}:${accountId}:db:${identifier}`;
}

export function cacheReplicationGroupId(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-cache`;
}

/**
 * The DB parameter group of one database instance (site and generation). Each
 * instance has its own, so its `default_transaction_read_only` can follow the
 * instance's mode (writer or not) without ever re-associating a group, which
 * RDS applies only after a reboot.
 */
export function databaseParameterGroupName(namePrefix: string, site: SiteName, generation: number): string {
  return `${databaseIdentifier(namePrefix, site, generation)}-params`;
}

/**
 * SSM parameters of the fencing protocol, in each site's own region: the
 * claim its stack writes, and the fence marker its guard writes (and nothing
 * else does) when it has fenced the site.
 */
export function writerClaimParameterName(namePrefix: string, site: SiteName): string {
  return `/${namePrefix}/${site}/fencing/claim`;
}

export function fenceMarkerParameterName(namePrefix: string, site: SiteName): string {
  return `/${namePrefix}/${site}/fencing/fence`;
}

/**
 * The ARN of an SSM parameter. A name that starts with `/` is not given a
 * second one: `/a/b` is `parameter/a/b`
 * (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html).
 */
export function ssmParameterArn(region: string, accountId: string, name: string): string {
  return `arn:aws:ssm:${region}:${accountId}:parameter/${name.replace(/^\//, "")}`;
}

/** The guard has a fixed name so the backup functions can invoke it without depending on it (no cycle). */
export function guardFunctionName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-fencing-guard`;
}

export function lambdaFunctionArn(region: string, accountId: string, functionName: string): string {
  return `arn:aws:lambda:${region}:${accountId}:function:${functionName}`;
}

export function ecrRepositoryArn(region: string, accountId: string, repositoryName: string): string {
  return `arn:aws:ecr:${region}:${accountId}:repository/${repositoryName}`;
}
