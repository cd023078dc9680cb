import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SiteAlarms } from "./alarms";
import { BackupJobs, verifyFunctionArchive } from "./backups";
import { RestoreDrills } from "./drills";
import { BackupProtection, BackupStorage } from "./backupStorage";
import { certificateNames, certificateValidation, SiteCertificate } from "./certificates";
import { ImageRegistry, lookUpSiteImages } from "./images";
import { refuseEngineSwitch } from "./engineGuard";
import { DatabaseEngine } from "./engines";
import { DrConfig, loadConfig } from "./config";

export { loadConfig } from "./config";
export { loadSiteConfig } from "./siteConfig";
import { loadSiteConfig, SiteConfig } from "./siteConfig";
import { assessDockerSitePosture } from "./docker/objectives";
import { deployDockerSite, DockerSiteOutputs } from "./docker/site";
import { SiteCache } from "./cache";
import { declarePeerAutomatedBackupsCopy } from "./automatedBackupsCopy";
import { RecoveryDatabase, recoveryDatabaseName, recoverySource } from "./recoveryDatabase";
import { masterPasswordOrigin, MasterPasswordSource, SiteDatabase } from "./database";
import { SiteDataKey } from "./dataKey";
import { cloudflareProvider, FailoverDns } from "./dns";
import { fencingNames, guardFunctionArchive, SiteFencing } from "./fencing";
import { requireLambdaBundles } from "./lambdaBundles";
import { backupBucketName, backupImageRepositoryName, backupKeyAliasName, databaseArn, databaseIdentifier, ecrRepositoryArn } from "./naming";
import { SiteNetwork } from "./network";
import { ServiceEndpoints } from "./serviceEndpoints";
import { assessSitePosture, DrPosture, enforceObjectives } from "./objectives";
import { CrossRegionReplication, InboundReplicationAlarms } from "./replication";
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
  writerClaim,
} from "./sitePlan";
import { TierReplicas } from "./workloadReplicas";
import { databasePort } from "./siteConnections";
import { Workloads } from "./workloads";

/** The primary's secret stack output the standby secondary copies. */
export const MASTER_PASSWORD_OUTPUT = "databaseMasterPassword";

/** The stack outputs; docs/design.md's contract names the first six. */
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
  /** `databaseEngine`: what every instance of the pair runs. */
  databaseEngine: DatabaseEngine;
  databaseIdentifier: string;
  /** The secondary reads this output of the primary, while standby, as its replica source. */
  databaseArn: pulumi.Output<string>;
  /** The primary only (secret): the pair's one master password, which the standby secondary copies into its own region. */
  databaseMasterPassword?: pulumi.Output<string>;
  /** Secrets Manager secret (RDS JSON) with the credentials valid for this site's database in every mode. */
  databaseCredentialsSecretArn: pulumi.Output<string>;
  databaseEndpoint: pulumi.Output<string>;
  /** Set while `recoveryPointInTime` is: the point-in-time copy beside the writer (README, "Recovering from corruption"). */
  recoveryDatabaseIdentifier?: string;
  recoveryDatabaseEndpoint?: pulumi.Output<string>;
  cacheEndpoint: pulumi.Output<string>;
  /** The cluster's VPC, where the data tier lives. */
  vpcId: pulumi.Output<string>;
  /** The data subnets drstack created in it (database, cache, backup functions). */
  dataSubnetIds: pulumi.Output<string[]>;
  /** For the workloads: full size when active, the warm minimum when standby. */
  workloadScale: WorkloadScale;
  /** For the backup schedules: they run only where the writer is. */
  backupsScheduled: boolean;
  /** Set on the DNS owner (the secondary): the hostname DNS answers with while both sites are healthy. */
  dnsTarget?: string;
  /** Pods of each application tier this site runs in its role. */
  workloadReplicas: TierReplicas;
  appImageRepositoryUrl: pulumi.Output<string>;
  /** The web tier's load balancer; this site's endpoint should resolve to it. Absent until the site's web Service exists (its certificate issued). */
  webLoadBalancerHostname?: pulumi.Output<string | undefined>;
  /** The site's ACM certificate (appHostname and both endpoints), in its own region. */
  certificateArn: pulumi.Output<string>;
  /** The site's alarm topic: every alarm drstack declares in this site notifies it. */
  alarmTopicArn: pulumi.Output<string>;
  /** The backup functions' security group; the database admits it beside the cluster's groups. */
  backupSecurityGroupId: pulumi.Output<string>;
  /** What each recovery tier asks and what this site's mechanisms achieve (infra/objectives.ts). */
  drPosture: DrPosture;
  /** The writer epoch this stack's claim carries (sitePlan.ts `writerEpoch`); the guards prefer the higher. */
  writerEpoch: number;
  /** Its SSM parameter, and the guard that fences this site at run time. */
  writerClaimParameterName: pulumi.Output<string>;
  fencingGuardArn: pulumi.Output<string>;
}

/**
 * Objectives as code: what each tier asks against what the site's mechanisms
 * achieve. A tier they cannot meet stops the preview before anything is
 * declared, or only warns when the stack sets `objectivesEnforcement: warn`
 * or when the pair is only part-way through its first deployment or a
 * failback (`interimGaps`).
 */
export function checkObjectives(config: SiteConfig): DrPosture {
  const posture = config.siteKind === "docker" ? assessDockerSitePosture(config) : assessSitePosture(config);
  enforceObjectives(posture, config.stack, (message) => pulumi.log.warn(message));
  return posture;
}

/** The stack's site, of the kind `siteKind` names: an AWS region or a Docker host. */
export async function deployStack(config: SiteConfig = loadSiteConfig(), drPosture: DrPosture = checkObjectives(config)): Promise<SiteOutputs | DockerSiteOutputs> {
  return config.siteKind === "docker" ? deployDockerSite(config, drPosture) : deploySite(config, drPosture);
}

/**
 * One site of the DR pair, in the order an operator reads it. What must exist
 * before anything changes (the Lambda bundles, the images in this region, a
 * database of the configured engine if any) is checked first, before any
 * resource but the site's provider is declared.
 */
export async function deploySite(config: DrConfig = loadConfig(), drPosture: DrPosture = checkObjectives(config)): Promise<SiteOutputs> {
  const { site, peer, region, peerRegion, namePrefix } = config;
  requireLambdaBundles();
  const provider = new aws.Provider(`${site}-aws`, {
    region,
    defaultTags: { tags: { "drstack:site": site, "drstack:managed-by": "pulumi" } },
  });
  const siteImages = await lookUpSiteImages(
    { namePrefix, region, appImageDigest: config.workloads.appImageDigest, backupImageDigest: config.backups.imageDigest, databaseEngine: config.database.engine },
    provider,
    config.stack,
  );
  // A database of another engine is never replaced: the preview stops here instead.
  await refuseEngineSwitch(
    { site, namePrefix, generation: config.database.generations[site], engine: config.database.engine, stack: config.stack },
    provider,
  );
  const accountId = aws.getCallerIdentityOutput({}, { provider }).accountId;
  const alarms = new SiteAlarms(`${site}-alarms`, { site, accountId, emails: config.backups.alarmEmails }, { provider });

  const storage = new BackupStorage(
    `${site}-backups`,
    {
      site,
      region,
      namePrefix,
      accountId,
      breakGlassRoleArn: config.breakGlassRoleArn,
      dataClasses: config.dataClasses,
      objectLock: config.objectLock,
      noncurrentVersionDays: config.noncurrentVersionDays,
      abortIncompleteUploadDays: config.abortIncompleteUploadDays,
    },
    { provider },
  );

  const peerBucketName = backupBucketName(namePrefix, peer, peerRegion);
  let replication: CrossRegionReplication | undefined;
  if (config.peerProvisioned) {
    replication = new CrossRegionReplication(
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
        alarmTopicArn: alarms.topicArn,
      },
      { provider },
    );
    new InboundReplicationAlarms(
      `${site}-from-${peer}`,
      { site, peer, namePrefix, bucketName: storage.bucketName, peerRegion, dataClasses: config.dataClasses, tiers: config.tiers, alarmTopicArn: alarms.topicArn },
      { provider },
    );
  } else {
    pulumi.log.warn(
      `peerProvisioned is false: backups in ${site} are NOT replicated to ${peer}. ` +
        `Once the ${peer} stack is up, run \`pulumi -s ${config.stack} config rm peerProvisioned\` and \`pulumi -s ${config.stack} up\`.`,
    );
  }

  const network = new SiteNetwork(
    `${site}-network`,
    { site, region, network: config.network, backupBucketArn: storage.bucketArn, engine: config.database.engine },
    { provider },
  );
  const dataKey = new SiteDataKey(`${site}-data`, { site, namePrefix, accountId, breakGlassRoleArn: config.breakGlassRoleArn }, { provider });
  const mode = databaseMode(site, config.activeSite, config.database.generations);
  const primaryStack = readsPrimaryStack(site, config.activeSite) ? referencePrimaryStack(config) : undefined;
  if (primaryStack) await refuseMixedPair(config, primaryStack);
  const database = new SiteDatabase(
    `${site}-database`,
    {
      site,
      namePrefix,
      mode,
      generation: config.database.generations[site],
      replicationSourceArn: mode === "replica" ? writerArnToReplicate(config, accountId, primaryStack) : undefined,
      database: config.database,
      databaseName: config.workloads.databaseName,
      vpcId: network.vpcId,
      privateSubnetIds: network.dataSubnetIds,
      clientSecurityGroupIds: [...network.clusterSecurityGroupIds, network.backupFunctionsSecurityGroupId],
      kmsKeyArn: dataKey.arn,
      masterPassword: masterPasswordSource(site, config.activeSite, primaryStack),
      alarmTopicArn: alarms.topicArn,
    },
    { provider },
  );
  // Point-in-time recovery in this region even with the peer's gone: a copy of the peer writer's automated backups.
  const automatedBackupsCopy = declarePeerAutomatedBackupsCopy(
    {
      site,
      generations: config.database.generations,
      namePrefix,
      regions: config.regions,
      accountId,
      kmsKeyArn: dataKey.arn,
      retentionDays: config.database.backupRetentionDays,
    },
    { provider },
  );
  const recoveryPoint = config.database.recoveryPoint;
  const recovery =
    recoveryPoint === undefined
      ? undefined
      : new RecoveryDatabase(
          recoveryDatabaseName(site, recoveryPoint),
          {
            site,
            namePrefix,
            point: recoveryPoint,
            source: recoverySource(database.mode, database.identifier, automatedBackupsCopy?.id),
            database: config.database,
            vpcId: network.vpcId,
            dbSubnetGroupName: database.subnetGroupName,
            parameterGroupName: database.parameterGroupName,
            clientSecurityGroupIds: [...network.clusterSecurityGroupIds, network.backupFunctionsSecurityGroupId],
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
      privateSubnetIds: network.dataSubnetIds,
      clientSecurityGroupIds: network.clusterSecurityGroupIds,
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

  const cloudflare = ownsDns(site) && config.dns.provider === "cloudflare" ? cloudflareProvider(`${site}-cloudflare`) : undefined;
  const dns = ownsDns(site)
    ? new FailoverDns(
        `${site}-failover-dns`,
        {
          appHostname: config.appHostname,
          activeSite: config.activeSite,
          endpoints: config.endpoints,
          dns: config.dns,
          awsProvider: provider,
          regions: config.regions,
          alarmTopicArn: alarms.topicArn,
          alarmEmails: config.backups.alarmEmails,
          cloudflareProvider: cloudflare,
        },
        // Traffic moves only once the database change succeeded: if the
        // promotion fails, the engine does not update DNS after it.
        { dependsOn: [database] },
      )
    : undefined;

  const certificate = new SiteCertificate(
    `${site}-tls`,
    {
      site,
      names: certificateNames(config.appHostname, config.endpoints),
      validation: certificateValidation(site, config.peerProvisioned),
      dns: ownsDns(site) ? { dns: config.dns, awsProvider: provider, cloudflareProvider: cloudflare } : undefined,
    },
    { provider },
  );
  if (certificate.issuedArn === undefined) {
    pulumi.log.warn(
      `The TLS certificate of ${site} is requested but not waited for, and the web Service is not declared yet: ` +
        `its validation records come with the ${peer} stack (README, Deploy). After that stack's first up, run \`pulumi -s ${config.stack} up\` again.`,
    );
  }

  const images = new ImageRegistry(`${site}-images`, { namePrefix, peerRegion, accountId, images: siteImages }, { provider });

  const workloads = new Workloads(`${site}-workloads`, {
    site,
    role: config.role,
    kubeconfig: config.workloads.kubeconfig,
    namespace: config.workloads.namespace,
    image: images.appImageUri,
    tlsCertificateArn: certificate.issuedArn,
    replicas: config.workloads.replicas,
    containerPort: config.workloads.containerPort,
    healthPath: config.workloads.healthPath,
    resources: config.workloads.resources,
    runAsUser: config.workloads.runAsUser,
    readOnlyRootFilesystem: config.workloads.readOnlyRootFilesystem,
    connections: {
      databaseEngine: config.database.engine,
      databaseHost: database.endpoint,
      databasePort: databasePort(config.database.engine),
      databaseName: config.workloads.databaseName,
      databaseCredentials: database.credentials,
      cacheHost: cache.primaryEndpoint,
      cachePort: cache.port,
      cacheAuthToken: cache.authToken,
    },
  });

  const fencing = fencingNames(namePrefix, site, region, accountId);
  // Everything the backup functions call from the data subnets besides S3 (gateway endpoint).
  const endpoints = new ServiceEndpoints(
    `${site}-endpoints`,
    {
      site,
      region,
      vpcId: network.vpcId,
      subnetIds: network.dataSubnetIds,
      securityGroupId: network.endpointsSecurityGroupId,
      access: [
        { service: "secretsmanager", actions: ["secretsmanager:GetSecretValue"], resources: [database.credentialsSecretArn] },
        // The fencing checks of every backup run: its site's claim and marker, and its guard.
        { service: "ssm", actions: ["ssm:GetParameters"], resources: [fencing.claimParameterArn, fencing.fenceMarkerParameterArn] },
        { service: "lambda", actions: ["lambda:InvokeFunction"], resources: [fencing.guardFunctionArn] },
      ],
    },
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
      dataClasses: config.dataClasses,
      tiers: config.tiers,
      schedules: config.backups.schedules,
      verifySchedule: config.backups.verifySchedule,
      alarmTopicArn: alarms.topicArn,
      backupImageUri: images.backupImageUri,
      verifyCode: verifyFunctionArchive(),
      database: { engine: config.database.engine, host: database.endpoint, port: databasePort(config.database.engine), secretArn: database.credentialsSecretArn, secretKeyArn: dataKey.arn },
      network: {
        privateSubnetIds: network.dataSubnetIds,
        securityGroupId: network.backupFunctionsSecurityGroupId,
        endpointEnvironment: endpoints.environment,
      },
      fencing,
    },
    { provider },
  );

  new RestoreDrills(
    `${site}-restore-drills`,
    {
      site,
      region,
      accountId,
      bucketName: storage.bucketName,
      bucketArn: storage.bucketArn,
      keyArn: storage.keyArn,
      namePrefix,
      databases: config.backups.databases,
      ...config.backups.drills,
      zoneId: config.network.dataSubnets[0].zoneId,
      alarmTopicArn: alarms.topicArn,
      backupImageUri: images.backupImageUri,
      backupRepositoryArn: accountId.apply((account) => ecrRepositoryArn(region, account, backupImageRepositoryName(namePrefix))),
    },
    { provider },
  );

  // Run-time fencing: the claim follows the database; the guard stops this
  // site if the peer's writer supersedes it, even when nobody runs an `up` here.
  const claim = writerClaim(site, config.activeSite, config.database.generations, database.identifier);
  const siteFencing = new SiteFencing(
    `${site}-fencing`,
    {
      site,
      peer,
      region,
      peerRegion,
      namePrefix,
      accountId,
      claim,
      claimAfter: [database],
      backupSchedules: backups.backupSchedules,
      backupSchedulerRoleArn: backups.schedulerRoleArn,
      alarmTopicArn: alarms.topicArn,
      guardSchedule: config.fencing.guardSchedule,
      guardIntervalMinutes: config.fencing.guardIntervalMinutes,
      guardCode: guardFunctionArchive(),
    },
    { provider },
  );

  // Last: from here on only the break-glass role can change what it locks.
  new BackupProtection(
    `${site}-backups-protection`,
    {
      bucketName: storage.bucketName,
      bucketArn: storage.bucketArn,
      keyArn: storage.keyArn,
      breakGlassRoleArn: config.breakGlassRoleArn,
      retentionWriterRoleArns: [backups.backupRoleArn],
    },
    { provider, dependsOn: replication ? [storage, replication] : [storage] },
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
    databaseEngine: config.database.engine,
    databaseIdentifier: database.identifier,
    databaseArn: database.arn,
    ...(site === "primary" ? { [MASTER_PASSWORD_OUTPUT]: database.masterPassword } : {}),
    databaseCredentialsSecretArn: database.credentialsSecretArn,
    databaseEndpoint: database.endpoint,
    ...(recovery ? { recoveryDatabaseIdentifier: recovery.identifier, recoveryDatabaseEndpoint: recovery.endpoint } : {}),
    cacheEndpoint: cache.primaryEndpoint,
    vpcId: network.vpcId,
    dataSubnetIds: network.dataSubnetIds,
    workloadScale: workloadScale(config.role),
    backupsScheduled: backupsScheduled(config.role),
    ...(dns ? { dnsTarget: dns.target } : {}),
    workloadReplicas: workloads.replicas,
    appImageRepositoryUrl: images.appRepositoryUrl,
    ...(workloads.webHostname ? { webLoadBalancerHostname: workloads.webHostname } : {}),
    certificateArn: certificate.arn,
    alarmTopicArn: alarms.topicArn,
    backupSecurityGroupId: network.backupFunctionsSecurityGroupId,
    drPosture,
    writerEpoch: claim.epoch,
    writerClaimParameterName: siteFencing.claimParameterName,
    fencingGuardArn: siteFencing.guardFunctionArn,
  };
}

/**
 * The writer a standby's replica follows. The secondary reads it from the
 * primary's stack outputs while standby; the primary (standby only after a
 * failover) derives the secondary writer's ARN by the naming rule, because
 * stack references point one way.
 */
function writerArnToReplicate(config: DrConfig, accountId: pulumi.Output<string>, primaryStack: pulumi.StackReference | undefined): pulumi.Output<string> {
  if (primaryStack) {
    // A replica copies its source's engine whatever this stack declares; an engine the two stacks
    // disagree on would surface later as a replacement the preview refuses. Stop before the replica.
    return pulumi.all([primaryStack.requireOutput("databaseArn"), primaryStack.getOutput("databaseEngine")]).apply(([arn, engine]) => {
      if (engine !== undefined && engine !== config.database.engine) {
        throw new Error(
          `databaseEngine is ${config.database.engine} in this stack, but the primary's database runs ${String(engine)}: a replica runs its source's engine. ` +
            `Fix: pulumi -s ${config.stack} config set databaseEngine ${String(engine)} (both stacks name the same engine, README, "Database engines").`,
        );
      }
      return String(arn);
    });
  }
  const source = replicationSourceSite(config.activeSite);
  const identifier = databaseIdentifier(config.namePrefix, source, config.database.generations[source]);
  return accountId.apply((account) => databaseArn(config.regions[source], account, identifier));
}

/**
 * RDS cannot stream from a self-hosted PostgreSQL, so a pair is two AWS sites
 * or two Docker sites. Only the standby AWS secondary can see its peer's kind
 * (the stack outputs it reads); it stops before declaring its replica.
 */
async function refuseMixedPair(config: DrConfig, primaryStack: pulumi.StackReference): Promise<void> {
  const kind = (await primaryStack.getOutputDetails("siteKind")).value;
  if (kind !== undefined && kind !== "aws") {
    throw new pulumi.RunError(
      `the primary is a ${String(kind)} site and this stack an AWS site: RDS cannot replicate from a database outside AWS. ` +
        `Fix: pulumi -s ${config.stack} config set siteKind ${String(kind)} (both stacks name the same siteKind, README, "Self-hosted sites on Docker").`,
    );
  }
}

/** The primary's stack outputs, read only by the standby secondary (`readsPrimaryStack`). */
function referencePrimaryStack(config: DrConfig): pulumi.StackReference {
  const name = config.primaryStackName || `${pulumi.getOrganization()}/${pulumi.getProject()}/primary`;
  return new pulumi.StackReference(`${config.site}-reads-primary`, { name });
}

/**
 * The pair's one master password, generated in the primary's state: the
 * standby secondary copies the primary's secret output, the active secondary
 * reads its own copy back (README, Failover).
 */
function masterPasswordSource(site: SiteName, activeSite: SiteName, primaryStack: pulumi.StackReference | undefined): MasterPasswordSource {
  const origin = masterPasswordOrigin(site, activeSite);
  if (origin === "copy-from-primary") {
    if (!primaryStack) {
      throw new Error(`${site} copies the database master password from the primary's stack, but does not read it`);
    }
    return { origin, password: primaryStack.requireOutput(MASTER_PASSWORD_OUTPUT).apply((password) => String(password)) };
  }
  return { origin };
}
