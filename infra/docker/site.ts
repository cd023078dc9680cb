import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { SiteAlarms } from "../alarms";
import { cloudflareProvider, FailoverDns, ROUTE53_METRICS_REGION } from "../dns";
import { DatabaseEngine } from "../engines";
import { DrPosture } from "../objectives";
import { SiteName, SiteRole } from "../roles";
import { backupsScheduled, DatabaseMode, databaseMode, ownsDns, WorkloadScale, workloadScale, writerClaim } from "../sitePlan";
import { TierReplicas, workloadReplicas } from "../workloadReplicas";
import { SiteAgent } from "./agent";
import { CACHE_PORT, SiteCache } from "./cache";
import { DockerDrConfig } from "./config";
import { CA_FILE, SiteDatabase } from "./database";
import { dockerProvider } from "./host";
import { SiteImages } from "./images";
import { dockerBackupBucketName, fencingBucketName, minioBucketArn, siteNetworkName } from "./naming";
import { SiteStorage } from "./storage";
import { SiteWorkloads } from "./workloads";

/** A Docker site's stack outputs; the first six are the contract every site exports (docs/design.md). */
export interface DockerSiteOutputs {
  site: SiteName;
  role: SiteRole;
  /** The data centre (`primaryLocation` / `secondaryLocation`). */
  region: string;
  backupBucketName: string;
  backupBucketArn: string;
  endpoint: string;
  siteKind: "docker";
  activeSite: SiteName;
  peerBackupBucketName: string;
  replicatesToPeer: boolean;
  databaseMode: DatabaseMode;
  databaseEngine: DatabaseEngine;
  /** The current generation's database container, which the writer claim names. */
  databaseIdentifier: string;
  databaseVolumeName: string;
  /** host:port the peer data centre connects to. */
  databaseEndpoint: string;
  storageEndpoint: string;
  fencingBucketName: string;
  workloadScale: WorkloadScale;
  workloadReplicas: TierReplicas;
  backupsScheduled: boolean;
  dnsTarget?: string;
  drPosture: DrPosture;
  writerEpoch: number;
  /** The site agent's container: fencing, promotion and the scheduled backups. */
  agentContainerName: string;
}

/**
 * One Docker site of the pair, on its own engine: the images, the site's
 * network, PostgreSQL (writer or streaming standby by generation), MinIO and
 * its buckets, Redis, the application, the writer claim and the site agent,
 * and on the DNS owner the failover record. `activeSite` changes only the
 * claim, the application's container count, the agent's schedule switch and
 * DNS; never a volume or the database container (tests/failover).
 */
export async function deployDockerSite(config: DockerDrConfig, drPosture: DrPosture): Promise<DockerSiteOutputs> {
  const { site, peer, namePrefix } = config;
  const settings = config.docker;
  const provider = dockerProvider(site, settings.host);
  const opts = { provider };
  const images = new SiteImages(`${site}-images`, settings.images, opts);
  const network = new docker.Network(
    `${site}-network`,
    { name: siteNetworkName(namePrefix, site), driver: "bridge", labels: [{ label: "drstack.site", value: site }] },
    opts,
  );
  const generation = config.database.generations[site];
  const mode = databaseMode(site, config.activeSite, config.database.generations);
  const database = new SiteDatabase(
    `${site}-database`,
    {
      site,
      peer,
      namePrefix,
      generation,
      imageId: images.ids.database,
      networkName: network.name,
      addresses: settings.addresses,
      port: settings.databasePort,
      publishAddress: settings.publishAddress,
      databaseName: settings.databaseName,
      appRole: settings.databaseName,
      superuserPassword: settings.secrets.databaseSuperuser,
      replicationPassword: settings.secrets.replication,
      appPassword: settings.secrets.appDatabase,
      tls: settings.tls,
      maxSlotWalKeepSizeMb: settings.maxSlotWalKeepSizeMb,
    },
    opts,
  );

  const claim = writerClaim(site, config.activeSite, config.database.generations, database.containerName);
  const storage = new SiteStorage(
    `${site}-storage`,
    {
      site,
      peer,
      namePrefix,
      imageId: images.ids.storage,
      clientImageId: images.ids.storageClient,
      networkName: network.name,
      addresses: settings.addresses,
      port: settings.storagePort,
      publishAddress: settings.publishAddress,
      tls: settings.tls,
      rootPassword: settings.secrets.storageRoot,
      backupSecret: settings.secrets.storageBackup,
      peerReaderSecret: settings.secrets.storagePeerReader,
      replicationSecret: settings.secrets.storageReplication,
      objectLock: config.objectLock,
      dataClasses: config.dataClasses,
      noncurrentVersionDays: config.noncurrentVersionDays,
      replicateToPeer: config.peerProvisioned,
      claim,
    },
    // The claim follows the database: it is written once the database container exists.
    { ...opts, dependsOn: [database] },
  );

  const cache = new SiteCache(
    `${site}-cache`,
    { site, namePrefix, imageId: images.ids.cache, networkName: network.name, password: settings.secrets.cache },
    opts,
  );

  const replicas = workloadReplicas(config.role, settings.replicas);
  const databaseHost = settings.addresses[site].databaseHost;
  const environment = pulumi
    .all([settings.secrets.appDatabase, settings.secrets.cache])
    .apply(([appPassword, cachePassword]) => [
      `DATABASE_URL=postgres://${settings.databaseName}:${encodeURIComponent(appPassword)}@${databaseHost}:5432/${settings.databaseName}?sslmode=verify-full&sslrootcert=${CA_FILE}`,
      `REDIS_URL=redis://:${encodeURIComponent(cachePassword)}@${cache.containerName}:${CACHE_PORT}/0`,
      `DRSTACK_SITE=${site}`,
    ]);
  new SiteWorkloads(
    `${site}-app`,
    {
      site,
      namePrefix,
      imageId: images.ids.app,
      networkName: network.name,
      replicas,
      containerPort: settings.containerPort,
      webBindAddress: settings.webBindAddress,
      webHostPort: settings.webHostPort,
      webCommand: settings.webCommand,
      workerCommand: settings.workerCommand,
      healthCommand: settings.appHealthCommand,
      environment,
      caCertificate: settings.tls.ca,
    },
    { ...opts, dependsOn: [database, cache] },
  );

  const peerStorageEndpoint = `https://${settings.addresses[peer].storageHost}:${settings.storagePort}`;
  const agent = new SiteAgent(
    `${site}-agent`,
    {
      site,
      peer,
      namePrefix,
      imageId: images.ids.backup,
      networkName: network.name,
      storageEndpoint: storage.endpoint,
      peerStorageEndpoint,
      backupBucket: storage.backupBucketName,
      peerBackupBucket: dockerBackupBucketName(namePrefix, peer),
      fencingBucket: storage.fencingBucketName,
      peerFencingBucket: fencingBucketName(namePrefix, peer),
      databaseHost,
      appRole: settings.databaseName,
      superuserPassword: settings.secrets.databaseSuperuser,
      storageBackupSecret: settings.secrets.storageBackup,
      peerReaderSecret: settings.secrets.storagePeerReader,
      caCertificate: settings.tls.ca,
      guardIntervalSeconds: settings.guardIntervalSeconds,
      timeZone: settings.timeZone,
      backupsScheduled: backupsScheduled(config.role),
      backups: config.backups,
      dataClasses: config.dataClasses,
      tiers: config.tiers,
      checkPeer: config.peerProvisioned,
      writtenClaimEpoch: storage.writtenClaimEpoch,
    },
    { ...opts, dependsOn: [storage] },
  );

  const dns = ownsDns(site) ? declareFailoverDns(config, [storage]) : undefined;

  return {
    site,
    role: config.role,
    region: config.region,
    backupBucketName: storage.backupBucketName,
    backupBucketArn: minioBucketArn(storage.backupBucketName),
    endpoint: config.endpoints[site],
    siteKind: "docker",
    activeSite: config.activeSite,
    peerBackupBucketName: dockerBackupBucketName(namePrefix, peer),
    replicatesToPeer: config.peerProvisioned,
    databaseMode: mode,
    databaseEngine: config.database.engine,
    databaseIdentifier: database.containerName,
    databaseVolumeName: database.volumeName,
    databaseEndpoint: `${databaseHost}:${settings.databasePort}`,
    storageEndpoint: `https://${settings.addresses[site].storageHost}:${settings.storagePort}`,
    fencingBucketName: storage.fencingBucketName,
    workloadScale: workloadScale(config.role),
    workloadReplicas: replicas,
    backupsScheduled: backupsScheduled(config.role),
    ...(dns ? { dnsTarget: dns.target } : {}),
    drPosture,
    writerEpoch: claim.epoch,
    agentContainerName: agent.containerName,
  };
}

/**
 * The failover DNS on the DNS owner. With Cloudflare it needs only the
 * Cloudflare provider. With Route 53 the secondary stack also needs an AWS
 * account (for DNS only: no data leaves the data centres): its health checks'
 * metrics exist only in ROUTE53_METRICS_REGION, so the alarms on them and
 * their topic live there, under the stack's own AWS provider.
 */
function declareFailoverDns(config: DockerDrConfig, after: pulumi.Resource[]): FailoverDns {
  const { site } = config;
  const common = {
    appHostname: config.appHostname,
    activeSite: config.activeSite,
    endpoints: config.endpoints,
    dns: config.dns,
    alarmEmails: config.backups.alarmEmails,
  };
  // Traffic moves once the claim that promotes this site's database is written.
  const opts = { dependsOn: after };
  if (config.dns.provider === "cloudflare") {
    return new FailoverDns(`${site}-failover-dns`, { ...common, regions: config.regions, cloudflareProvider: cloudflareProvider(`${site}-cloudflare`) }, opts);
  }
  const awsProvider = new aws.Provider(`${site}-aws`, {
    region: ROUTE53_METRICS_REGION,
    defaultTags: { tags: { "drstack:site": site, "drstack:managed-by": "pulumi" } },
  });
  const accountId = aws.getCallerIdentityOutput({}, { provider: awsProvider }).accountId;
  const alarms = new SiteAlarms(`${site}-dns-alarms`, { site, accountId, emails: config.backups.alarmEmails }, { provider: awsProvider });
  return new FailoverDns(
    `${site}-failover-dns`,
    // The owner's alarms are where its AWS provider is, Route 53's metrics region.
    { ...common, regions: { ...config.regions, [site]: ROUTE53_METRICS_REGION }, awsProvider, alarmTopicArn: alarms.topicArn },
    opts,
  );
}
