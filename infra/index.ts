import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupStorage } from "./backupStorage";
import { DrConfig, loadConfig } from "./config";

export { loadConfig } from "./config";
import { backupBucketName, backupKeyAliasName } from "./naming";
import { assessPosture, DrPosture, enforceObjectives, recoveryMechanisms } from "./objectives";
import { CrossRegionReplication } from "./replication";
import { SiteName, SiteRole } from "./roles";

/** The stack outputs; DESIGN.md's contract names the first six. */
export interface SiteOutputs {
  site: SiteName;
  role: SiteRole;
  region: string;
  backupBucketName: pulumi.Output<string>;
  backupBucketArn: pulumi.Output<string>;
  /** The hostname DNS should send users to when this site is active. */
  endpoint: string;
  activeSite: SiteName;
  backupKeyArn: pulumi.Output<string>;
  /** The peer bucket this site replicates into, derived by the naming rule. */
  peerBackupBucketName: string;
  replicatesToPeer: boolean;
  /** What each recovery tier asks and what this site's mechanisms achieve (infra/objectives.ts). */
  drPosture: DrPosture;
}

/**
 * Objectives as code: what each tier asks against what the site's mechanisms
 * achieve. A tier they cannot meet stops the preview before anything is
 * declared, or only warns when the stack sets `objectivesEnforcement: warn`.
 */
export function checkObjectives(config: DrConfig): DrPosture {
  const posture = assessPosture(config, recoveryMechanisms(config));
  enforceObjectives(posture, config.stack, (message) => pulumi.log.warn(message));
  return posture;
}

/** One site of the DR pair, in the order an operator reads it. */
export function deploySite(config: DrConfig = loadConfig(), drPosture: DrPosture = checkObjectives(config)): SiteOutputs {
  const { site, peer, region, peerRegion, namePrefix } = config;
  const provider = new aws.Provider(`${site}-aws`, {
    region,
    defaultTags: { tags: { "drstack:site": site, "drstack:managed-by": "pulumi" } },
  });
  const accountId = aws.getCallerIdentityOutput({}, { provider }).accountId;

  const storage = new BackupStorage(
    `${site}-backups`,
    {
      site,
      region,
      namePrefix,
      accountId,
      dataClasses: config.dataClasses,
      objectLock: config.objectLock,
      noncurrentVersionDays: config.noncurrentVersionDays,
      abortIncompleteUploadDays: config.abortIncompleteUploadDays,
    },
    { provider },
  );

  const peerBucketName = backupBucketName(namePrefix, peer, peerRegion);
  if (config.peerProvisioned) {
    new CrossRegionReplication(
      `${site}-to-${peer}`,
      {
        site,
        peer,
        namePrefix,
        accountId,
        sourceRegion: region,
        sourceBucketName: storage.bucketName,
        sourceBucketArn: storage.bucketArn,
        sourceKeyArn: storage.keyArn,
        sourceVersioning: storage.versioning,
        destinationBucketName: peerBucketName,
        destinationRegion: peerRegion,
        destinationKeyAliasName: backupKeyAliasName(namePrefix, peer),
        dataClasses: config.dataClasses,
        tiers: config.tiers,
      },
      { provider },
    );
  } else {
    pulumi.log.warn(
      `peerProvisioned is false: backups in ${site} are NOT replicated to ${peer}. ` +
        `Once the ${peer} stack is up, run \`pulumi -s ${config.stack} config rm peerProvisioned\` and \`pulumi -s ${config.stack} up\`.`,
    );
  }

  return {
    site,
    role: config.role,
    region,
    backupBucketName: storage.bucketName,
    backupBucketArn: storage.bucketArn,
    endpoint: config.endpoints[site],
    activeSite: config.activeSite,
    backupKeyArn: storage.keyArn,
    peerBackupBucketName: peerBucketName,
    replicatesToPeer: config.peerProvisioned,
    drPosture,
  };
}
