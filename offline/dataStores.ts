/**
 * The resource types that hold data: deleting or replacing one loses data, so
 * the DR diff blocks on it (docs/design.md, rule 3). One list, here; a branch
 * that adds a kind of data store adds its type to it (or calls
 * `registerDataStore` from its own module).
 *
 * `replacedBy` names the inputs whose change makes the AWS provider delete and
 * re-create the resource. It is how an offline evaluation, which has no
 * engine, recognises a replacement; `pulumi preview --json` says so itself, so
 * a diff `--from-preview` does not depend on this list being complete.
 */

export interface DataStoreKind {
  /** Pulumi type token, e.g. `aws:s3/bucket:Bucket`. */
  type: string;
  /** What a reviewer calls it. */
  label: string;
  /** Inputs whose change replaces the resource (the provider's ForceNew properties that matter in practice). */
  replacedBy: readonly string[];
}

const KINDS: DataStoreKind[] = [
  { type: "aws:s3/bucket:Bucket", label: "S3 bucket", replacedBy: ["bucket", "bucketPrefix", "objectLockEnabled"] },
  { type: "aws:s3/bucketV2:BucketV2", label: "S3 bucket", replacedBy: ["bucket", "bucketPrefix", "objectLockEnabled"] },
  { type: "aws:kms/key:Key", label: "KMS key", replacedBy: ["customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId"] },
  { type: "aws:kms/replicaKey:ReplicaKey", label: "KMS replica key", replacedBy: ["primaryKeyArn"] },
  {
    type: "aws:rds/instance:Instance",
    label: "RDS instance",
    replacedBy: ["availabilityZone", "characterSetName", "dbName", "engine", "kmsKeyId", "storageEncrypted", "username", "snapshotIdentifier", "timezone"],
  },
  {
    type: "aws:rds/cluster:Cluster",
    label: "RDS cluster",
    replacedBy: ["clusterIdentifier", "engine", "databaseName", "masterUsername", "storageEncrypted", "kmsKeyId", "snapshotIdentifier"],
  },
  { type: "aws:rds/clusterInstance:ClusterInstance", label: "RDS cluster instance", replacedBy: ["identifier", "clusterIdentifier", "engine"] },
  { type: "aws:rds/globalCluster:GlobalCluster", label: "RDS global cluster", replacedBy: ["globalClusterIdentifier", "engine", "storageEncrypted", "databaseName"] },
  {
    type: "aws:elasticache/replicationGroup:ReplicationGroup",
    label: "ElastiCache replication group",
    replacedBy: ["replicationGroupId", "atRestEncryptionEnabled", "kmsKeyId", "subnetGroupName"],
  },
  { type: "aws:elasticache/cluster:Cluster", label: "ElastiCache cluster", replacedBy: ["clusterId", "engine", "subnetGroupName"] },
  { type: "aws:elasticache/serverlessCache:ServerlessCache", label: "ElastiCache serverless cache", replacedBy: ["name", "engine"] },
  { type: "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup", label: "ElastiCache global datastore", replacedBy: ["globalReplicationGroupIdSuffix"] },
  { type: "aws:secretsmanager/secret:Secret", label: "Secrets Manager secret", replacedBy: ["name", "namePrefix"] },
  { type: "aws:backup/vault:Vault", label: "AWS Backup vault", replacedBy: ["name", "kmsKeyArn"] },
  { type: "aws:rds/snapshot:Snapshot", label: "RDS snapshot", replacedBy: ["dbInstanceIdentifier", "dbSnapshotIdentifier"] },
  { type: "aws:rds/clusterSnapshot:ClusterSnapshot", label: "RDS cluster snapshot", replacedBy: ["dbClusterIdentifier", "dbClusterSnapshotIdentifier"] },
  { type: "aws:dynamodb/table:Table", label: "DynamoDB table", replacedBy: ["name"] },
  { type: "kubernetes:core/v1:PersistentVolumeClaim", label: "persistent volume claim", replacedBy: ["spec"] },
  // A Docker site's database generations, MinIO and Redis (infra/docker): the provider has no update for a volume, every input replaces it.
  { type: "docker:index/volume:Volume", label: "Docker volume", replacedBy: ["name", "driver", "driverOpts", "labels"] },
];

const DATA_STORES = new Map<string, DataStoreKind>(KINDS.map((kind) => [kind.type, kind]));

/** Adds (or overrides) a data store type; for components a branch adds outside this list. */
export function registerDataStore(kind: DataStoreKind): void {
  DATA_STORES.set(kind.type, kind);
}

export function dataStoreKind(type: string): DataStoreKind | undefined {
  return DATA_STORES.get(type);
}

export function isDataStore(type: string): boolean {
  return DATA_STORES.has(type);
}

export function dataStoreTypes(): string[] {
  return [...DATA_STORES.keys()];
}
