import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SiteAlarms } from "./alarms";
import { BackupJobs, verifyFunctionArchive } from "./backups";
import { BackupStorage } from "./backupStorage";
import { BackupJobImage, ImageRegistry } from "./images";
import { DrConfig, loadConfig } from "./config";

export { loadConfig } from "./config";
import { SiteCache } from "./cache";
import { SiteDatabase } from "./database";
import { SiteDataKey } from "./dataKey";
import { FailoverDns } from "./dns";
import { backupBucketName, backupKeyAliasName, databaseArn, databaseIdentifier } from "./naming";
import { SiteNetwork } from "./network";
import { assessPosture, DrPosture, enforceObjectives, recoveryMechanisms } from "./objectives";
import { CrossRegionReplication } from "./replication";
import { SiteName, SiteRole } from "./roles";
import {
  backupsScheduled,
  DatabaseMode,
  databaseMode,
  ownsDns,
  readsPrimaryStack,
  replicationSourceSite,
  WorkloadScale,
  workloadScale,
} from "./sitePlan";
import { TierReplicas } from "./workloadReplicas";
import { POSTGRES_PORT } from "./siteConnections";
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
  /** How this site's current database runs: writer, replica or fenced former writer. */
  databaseMode: DatabaseMode;
  databaseIdentifier: string;
  /** The secondary reads this output of the primary, while standby, as its replica source. */
  databaseArn: pulumi.Output<string>;
  databaseEndpoint: pulumi.Output<string>;
  cacheEndpoint: pulumi.Output<string>;
  vpcId: pulumi.Output<string>;
  privateSubnetIds: pulumi.Output<string[]>;
  /** Attach to workloads and functions that use the database and cache. */
  appSecurityGroupId: pulumi.Output<string>;
  /** For the workloads: full size when active, the warm minimum when standby. */
  workloadScale: WorkloadScale;
  /** For the backup schedules: they run only where the writer is. */
  backupsScheduled: boolean;
  /** Set on the DNS owner (the secondary): the hostname DNS answers with while both sites are healthy. */
  dnsTarget?: string;
  /** Pods of each application tier this site runs in its role. */
  workloadReplicas: TierReplicas;
  appImageRepositoryUrl: pulumi.Output<string>;
  /** The web tier's load balancer; this site's endpoint should resolve to it. */
  webLoadBalancerHostname: pulumi.Output<string | undefined>;
  /** The site's alarm topic: every alarm drstack declares in this site notifies it. */
  alarmTopicArn: pulumi.Output<string>;
  /** The backup functions' security group: the database's security group must admit it on 5432. */
  backupSecurityGroupId: pulumi.Output<string>;
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
  const alarms = new SiteAlarms(`${site}-alarms`, { site, emails: config.backups.alarmEmails }, { provider });

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

  const network = new SiteNetwork(`${site}-network`, { site, network: config.network }, { provider });
  const dataKey = new SiteDataKey(`${site}-data`, { site, namePrefix, accountId }, { provider });
  const mode = databaseMode(site, config.activeSite, config.database.generations);
  const database = new SiteDatabase(
    `${site}-database`,
    {
      site,
      namePrefix,
      mode,
      generation: config.database.generations[site],
      replicationSourceArn: mode === "replica" ? writerArnToReplicate(config, accountId) : undefined,
      database: config.database,
      vpcId: network.vpcId,
      privateSubnetIds: network.privateSubnetIds,
      appSecurityGroupId: network.appSecurityGroupId,
      kmsKeyArn: dataKey.arn,
    },
    { provider },
  );
  const cache = new SiteCache(
    `${site}-cache`,
    {
      site,
      namePrefix,
      cache: config.cache,
      vpcId: network.vpcId,
      privateSubnetIds: network.privateSubnetIds,
      appSecurityGroupId: network.appSecurityGroupId,
      kmsKeyArn: dataKey.arn,
    },
    { provider },
  );
  if (database.mode === "fenced") {
    pulumi.log.warn(
      `${site} is standby but its database ${database.identifier} is a former writer; it is kept untouched and takes no traffic. ` +
        `To rebuild it as a replica of the ${config.activeSite} writer, raise ${site}DatabaseGeneration ` +
        `to ${config.database.generations[site] + 1} in both stacks and run \`pulumi up\` on this stack (README, Failback).`,
    );
  }

  const dns = ownsDns(site)
    ? new FailoverDns(
        `${site}-failover-dns`,
        { appHostname: config.appHostname, activeSite: config.activeSite, endpoints: config.endpoints, dns: config.dns, awsProvider: provider },
        // Traffic moves only once the database change succeeded: if the
        // promotion fails, the engine does not update DNS after it.
        { dependsOn: [database] },
      )
    : undefined;


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
    databaseHost: database.endpoint,
    databasePort: POSTGRES_PORT,
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
      alarmTopicArn: alarms.topicArn,
      backupImageUri: backupImage.imageUri,
      verifyCode: verifyFunctionArchive(),
      database: { host: database.endpoint, port: POSTGRES_PORT, secretArn: database.credentialsSecretArn },
      network: {
        vpcId: network.vpcId,
        privateSubnetIds: network.privateSubnetIds,
        databaseClientSecurityGroupId: network.appSecurityGroupId,
      },
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
    databaseMode: database.mode,
    databaseIdentifier: database.identifier,
    databaseArn: database.arn,
    databaseEndpoint: database.endpoint,
    cacheEndpoint: cache.primaryEndpoint,
    vpcId: network.vpcId,
    privateSubnetIds: network.privateSubnetIds,
    appSecurityGroupId: network.appSecurityGroupId,
    workloadScale: workloadScale(config.role),
    backupsScheduled: backupsScheduled(config.role),
    ...(dns ? { dnsTarget: dns.target } : {}),
    workloadReplicas: workloads.replicas,
    appImageRepositoryUrl: images.appRepositoryUrl,
    webLoadBalancerHostname: workloads.webHostname,
    alarmTopicArn: alarms.topicArn,
    backupSecurityGroupId: backups.securityGroupId,
    drPosture,
  };
}

/**
 * The writer a standby's replica follows. The secondary reads it from the
 * primary's stack outputs while standby; the primary (standby only after a
 * failover) derives the secondary writer's ARN by the naming rule, because
 * stack references point one way.
 */
function writerArnToReplicate(config: DrConfig, accountId: pulumi.Output<string>): pulumi.Output<string> {
  if (readsPrimaryStack(config.site, config.activeSite)) {
    const name = config.primaryStackName || `${pulumi.getOrganization()}/${pulumi.getProject()}/primary`;
    const primary = new pulumi.StackReference(`${config.site}-reads-primary`, { name });
    return primary.requireOutput("databaseArn").apply((arn) => String(arn));
  }
  const source = replicationSourceSite(config.activeSite);
  const identifier = databaseIdentifier(config.namePrefix, source, config.database.generations[source]);
  return accountId.apply((account) => databaseArn(config.regions[source], account, identifier));
}
