import { SiteName } from "../roles";

/**
 * Names of a Docker site's containers, volumes and buckets, derived from
 * namePrefix and the site alone, so the peer's stack can compute them
 * without reading this one (docs/design.md, rule 2).
 */
export function siteNetworkName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}`;
}

/** One volume per database generation: a rebuild gets a fresh one and the former writer's is kept. */
export function databaseVolumeName(namePrefix: string, site: SiteName, generation: number): string {
  return `${namePrefix}-${site}-pgdata-g${generation}`;
}

/** The database container of a generation; the writer claim names it, like an AWS site's claim names its instance. */
export function databaseContainerName(namePrefix: string, site: SiteName, generation: number): string {
  return `${namePrefix}-${site}-db-g${generation}`;
}

export function storageVolumeName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-storage`;
}

export function cacheVolumeName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-cache`;
}

export function siteContainerName(namePrefix: string, site: SiteName, role: "storage" | "storage-setup" | "writer-claim" | "cache" | "agent"): string {
  return `${namePrefix}-${site}-${role}`;
}

export function appContainerName(namePrefix: string, site: SiteName, tier: "web" | "worker", index: number): string {
  return `${namePrefix}-${site}-${tier}-${index}`;
}

/** The site's backup bucket in its own MinIO; the peer replicates into its own. */
export function dockerBackupBucketName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-backups`;
}

/** Claims and fence markers: versioned, never replicated (each site's claim is read where it was written). */
export function fencingBucketName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-fencing`;
}

/** The physical replication slot a generation's standby holds on its upstream. */
export function replicationSlotName(site: SiteName, generation: number): string {
  return `drstack_${site}_g${generation}`;
}

/** MinIO's ARN form for a bucket (MinIO accepts and reports S3's). */
export function minioBucketArn(bucket: string): string {
  return `arn:aws:s3:::${bucket}`;
}

export const MINIO_ROOT_USER = "drstack-root";
export const MINIO_BACKUP_USER = "drstack-backup";
export const MINIO_PEER_READER_USER = "drstack-peer-reader";
export const REPLICATION_ROLE = "drstack_replication";
