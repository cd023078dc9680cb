import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { databaseArn, databaseIdentifier } from "./naming";
import { peerOf, SiteName } from "./roles";
import { replicatedBackupsSource } from "./sitePlan";

export interface PeerAutomatedBackupsCopyArgs {
  site: SiteName;
  generations: Readonly<Record<SiteName, number>>;
  namePrefix: string;
  regions: Readonly<Record<SiteName, string>>;
  accountId: pulumi.Input<string>;
  /** The site's own data key: the copy is encrypted with a key of its destination region. */
  kmsKeyArn: pulumi.Input<string>;
  /** Days the copy keeps, the writer's own retention (dbBackupRetentionDays). */
  retentionDays: number;
}

/** The resource name of a site's copy of the peer's automated backups: one per source generation, so a new source is a new copy. */
export function automatedBackupsCopyName(site: SiteName, sourceGeneration: number): string {
  return `${site}-automated-backups-from-${peerOf(site)}-g${sourceGeneration}`;
}

/**
 * A replicated copy, in this site's own region, of the automated backups
 * (snapshots and transaction logs) of the peer's writer, so a point in time
 * can be restored here with the peer's region gone. Declared by the site
 * that holds the copy, with its own provider: "This resource has to be
 * created in the destination region" (Pulumi registry,
 * aws.rds.InstanceAutomatedBackupsReplication). The source is derived by
 * the naming rule (never read from the peer's stack) and chosen by
 * `replicatedBackupsSource` (sitePlan.ts), which never changes it on a
 * flip of `activeSite`. Undefined when the peer has no instance that has been a writer.
 *
 * Deleting the resource stops the replication; "Replicated backups are
 * retained, subject to the backup retention period set when they were
 * created" (Amazon RDS User Guide, "Stopping automated backup replication",
 * AutomatedBackups.StopReplicating.html).
 */
export function declarePeerAutomatedBackupsCopy(
  args: PeerAutomatedBackupsCopyArgs,
  opts: pulumi.CustomResourceOptions,
): aws.rds.InstanceAutomatedBackupsReplication | undefined {
  const source = replicatedBackupsSource(args.site, args.generations);
  if (source === undefined) {
    return undefined;
  }
  const identifier = databaseIdentifier(args.namePrefix, source.site, source.generation);
  return new aws.rds.InstanceAutomatedBackupsReplication(
    automatedBackupsCopyName(args.site, source.generation),
    {
      sourceDbInstanceArn: pulumi.output(args.accountId).apply((account) => databaseArn(args.regions[source.site], account, identifier)),
      // An encrypted source needs a key of the destination region (StartDBInstanceAutomatedBackupsReplication, KmsKeyId).
      kmsKeyId: args.kmsKeyArn,
      retentionPeriod: args.retentionDays,
    },
    {
      ...opts,
      // Every input forces a new replication (provider schema: ForceNew). Stop the old one
      // before starting the new, so one source never replicates into this region twice.
      deleteBeforeReplace: true,
    },
  );
}
