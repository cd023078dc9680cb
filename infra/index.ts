import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BackupJobs, verifyFunctionArchive } from "./backups";
import { BackupStorage } from "./backupStorage";
import { BackupJobImage, ImageRegistry } from "./images";
import { DrConfig, loadConfig } from "./config";

export { loadConfig } from "./config";
import { backupBucketName, backupKeyAliasName } from "./naming";
import { CrossRegionReplication } from "./replication";
import { SiteName, SiteRole } from "./roles";
import { placeholderDatabase, placeholderNetwork } from "./sitePlaceholders";
import { TierReplicas } from "./workloadReplicas";
import { Workloads } from "./workloads";

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
  /** Pods of each application tier this site runs in its role. */
  workloadReplicas: TierReplicas;
  appImageRepositoryUrl: pulumi.Output<string>;
  /** The web tier's load balancer; this site's endpoint should resolve to it. */
  webLoadBalancerHostname: pulumi.Output<string | undefined>;
  backupAlarmTopicArn: pulumi.Output<string>;
  /** The backup functions' security group: the database's security group must admit it on 5432. */
  backupSecurityGroupId: pulumi.Output<string>;
}

/** One site of the DR pair, in the order an operator reads it. */
export function deploySite(config: DrConfig = loadConfig()): SiteOutputs {
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

  // Until the database and network components are wired in, their outputs
  // are stood in for by names and lookups in this site's own region.
  const database = placeholderDatabase(namePrefix, site, provider);
  const network = placeholderNetwork(namePrefix, site, provider);

  const images = new ImageRegistry(
    `${site}-images`,
    { namePrefix, peerRegion, accountId, peerProvisioned: config.peerProvisioned },
    { provider },
  );

  const workloads = new Workloads(`${site}-workloads`, {
    site,
    role: config.role,
    kubeconfig: config.workloads.kubeconfig,
    namespace: config.workloads.namespace,
    imageRepositoryUrl: images.appRepositoryUrl,
    imageTag: config.workloads.appImageTag,
    replicas: config.workloads.replicas,
    containerPort: config.workloads.containerPort,
    healthPath: config.workloads.healthPath,
    databaseHost: database.host,
    databasePort: database.port,
    databaseName: config.workloads.databaseName,
  });

  const backupImage = new BackupJobImage(
    `${site}-backup-image`,
    { repository: images.backupRepository, tag: config.backups.imageTag },
    { provider },
  );
  const backups = new BackupJobs(
    `${site}-backup-jobs`,
    {
      site,
      role: config.role,
      region,
      peerRegion,
      accountId,
      bucketName: storage.bucketName,
      bucketArn: storage.bucketArn,
      keyArn: storage.keyArn,
      peerBucketName,
      databases: config.backups.databases,
      tiers: config.tiers,
      schedules: config.backups.schedules,
      verifySchedule: config.backups.verifySchedule,
      alarmEmails: config.backups.alarmEmails,
      backupImageUri: backupImage.imageUri,
      verifyCode: verifyFunctionArchive(),
      database,
      network,
    },
    { provider },
  );

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
    workloadReplicas: workloads.replicas,
    appImageRepositoryUrl: images.appRepositoryUrl,
    webLoadBalancerHostname: workloads.webHostname,
    backupAlarmTopicArn: backups.alarmTopicArn,
    backupSecurityGroupId: backups.securityGroupId,
  };
}
