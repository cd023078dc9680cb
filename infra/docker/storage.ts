import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DataClassPolicy } from "../dataClasses";
import { ObjectLockMode } from "../config";
import { SiteName } from "../roles";
import { WriterClaim } from "../sitePlan";
import { SiteAddresses } from "./config";
import { dockerBackupBucketName, fencingBucketName, MINIO_ROOT_USER, siteContainerName, storageVolumeName } from "./naming";
import { oneShotContainer } from "./oneShot";
import { siteScript } from "./siteScripts";

export const MINIO_CERTS_DIR = "/drstack/certs";
const SETUP_SCRIPT = "/drstack/storage-setup.sh";
const CLIENT_CA_FILE = "/drstack/tls/ca.crt";

export interface SiteStorageArgs {
  site: SiteName;
  peer: SiteName;
  namePrefix: string;
  imageId: pulumi.Input<string>;
  clientImageId: pulumi.Input<string>;
  networkName: pulumi.Input<string>;
  addresses: Record<SiteName, SiteAddresses>;
  port: number;
  publishAddress: string;
  tls: { ca: string; cert: string; key: pulumi.Input<string> };
  rootPassword: pulumi.Input<string>;
  backupSecret: pulumi.Input<string>;
  peerReaderSecret: pulumi.Input<string>;
  replicationSecret: pulumi.Input<string>;
  objectLock: { mode: ObjectLockMode; days: number };
  dataClasses: DataClassPolicy[];
  noncurrentVersionDays: number;
  /** Replicate into the peer's bucket: only once the peer exists (peerProvisioned). */
  replicateToPeer: boolean;
  claim: WriterClaim;
}

/** `prefix=days` per data class, as lambdas/site/storage-setup.sh takes DRSTACK_RETENTION. */
export function retentionRules(dataClasses: readonly DataClassPolicy[]): string {
  return dataClasses.map((dataClass) => `${dataClass.prefix}=${dataClass.retentionDays}`).join(" ");
}

/**
 * The site's MinIO: its server on a protected volume, then MinIO's own client
 * configuring it (lambdas/site/storage-setup.sh, tested against real MinIO):
 * the backup bucket with object lock, versioning, default retention and a
 * lifecycle rule per data class; the fencing bucket; the users the agent, the
 * peer's agent and the peer's replication use; and replication of the backup
 * bucket into the peer's. Then the writer claim, which changes at every flip
 * and is the only thing that tells the site agent its role.
 */
export class SiteStorage extends pulumi.ComponentResource {
  readonly backupBucketName: string;
  readonly fencingBucketName: string;
  readonly endpoint: string;
  readonly server: docker.Container;
  readonly setup: docker.Container;
  readonly claimWriter: docker.Container;
  /** The claim this site's `up` wrote, once its writer exited 0: the agent takes it as an input, so it changes only then. */
  readonly writtenClaimEpoch: pulumi.Output<string>;

  constructor(name: string, args: SiteStorageArgs, opts: pulumi.ComponentResourceOptions) {
    super("drstack:docker:SiteStorage", name, {}, opts);
    const child = { parent: this };
    this.backupBucketName = dockerBackupBucketName(args.namePrefix, args.site);
    this.fencingBucketName = fencingBucketName(args.namePrefix, args.site);
    const ownHost = args.addresses[args.site].storageHost;
    this.endpoint = `https://${ownHost}:9000`;
    const peerEndpoint = `https://${args.addresses[args.peer].storageHost}:${args.port}`;

    const volume = new docker.Volume(
      `${name}-data`,
      { name: storageVolumeName(args.namePrefix, args.site), labels: [{ label: "drstack.data", value: "backups" }] },
      { ...child, protect: true, retainOnDelete: true },
    );
    this.server = new docker.Container(
      `${name}-server`,
      {
        name: siteContainerName(args.namePrefix, args.site, "storage"),
        image: args.imageId,
        restart: "unless-stopped",
        command: ["server", "/data", "--address", ":9000", "--console-address", "127.0.0.1:9001", "--certs-dir", MINIO_CERTS_DIR],
        envs: pulumi.output(args.rootPassword).apply((password) => [`MINIO_ROOT_USER=${MINIO_ROOT_USER}`, `MINIO_ROOT_PASSWORD=${password}`, "MINIO_BROWSER=off"]),
        // MinIO serves TLS when public.crt and private.key are in its certs dir, and trusts the peer's CA from CAs/.
        uploads: [
          { file: `${MINIO_CERTS_DIR}/public.crt`, content: args.tls.cert },
          { file: `${MINIO_CERTS_DIR}/private.key`, content: args.tls.key },
          { file: `${MINIO_CERTS_DIR}/CAs/ca.crt`, content: args.tls.ca },
        ],
        volumes: [{ volumeName: volume.name, containerPath: "/data" }],
        networksAdvanced: [{ name: args.networkName, aliases: [ownHost] }],
        ports: [{ internal: 9000, external: args.port, ip: args.publishAddress }],
        labels: [{ label: "drstack.site", value: args.site }],
      },
      { ...child, deleteBeforeReplace: true },
    );

    const clientUploads = [
      { file: SETUP_SCRIPT, content: siteScript("storageSetup"), executable: true, permissions: "0755" },
      { file: CLIENT_CA_FILE, content: args.tls.ca },
    ];
    const connection = (password: string) => [
      `DRSTACK_STORAGE_ENDPOINT=${this.endpoint}`,
      `DRSTACK_STORAGE_ROOT_USER=${MINIO_ROOT_USER}`,
      `DRSTACK_STORAGE_ROOT_PASSWORD=${password}`,
      `DRSTACK_CA_FILE=${CLIENT_CA_FILE}`,
      `DRSTACK_FENCING_BUCKET=${this.fencingBucketName}`,
    ];
    const setup = oneShotContainer(
      `${name}-setup`,
      {
        name: siteContainerName(args.namePrefix, args.site, "storage-setup"),
        image: args.clientImageId,
        entrypoints: [SETUP_SCRIPT],
        command: ["setup"],
        envs: pulumi
          .all([args.rootPassword, args.backupSecret, args.peerReaderSecret, args.replicationSecret])
          .apply(([root, backup, peerReader, replication]) => [
            ...connection(root),
            `DRSTACK_BACKUP_BUCKET=${this.backupBucketName}`,
            `DRSTACK_OBJECT_LOCK_MODE=${args.objectLock.mode}`,
            `DRSTACK_OBJECT_LOCK_DAYS=${args.objectLock.days}`,
            `DRSTACK_RETENTION=${retentionRules(args.dataClasses)}`,
            `DRSTACK_NONCURRENT_VERSION_DAYS=${args.noncurrentVersionDays}`,
            `DRSTACK_BACKUP_USER_SECRET=${backup}`,
            `DRSTACK_PEER_READER_SECRET=${peerReader}`,
            `DRSTACK_REPLICATION_SECRET=${replication}`,
            ...(args.replicateToPeer
              ? [
                  `DRSTACK_PEER_STORAGE_ENDPOINT=${peerEndpoint}`,
                  `DRSTACK_PEER_BACKUP_BUCKET=${dockerBackupBucketName(args.namePrefix, args.peer)}`,
                  // Both sites' drstack-replication users share the pair's secret.
                  `DRSTACK_PEER_REPLICATION_SECRET=${replication}`,
                ]
              : []),
          ]),
        uploads: clientUploads,
        networksAdvanced: [{ name: args.networkName }],
      },
      { ...child, dependsOn: [this.server] },
    );
    this.setup = setup.container;
    const claimWriter = oneShotContainer(
      `${name}-claim`,
      {
        name: siteContainerName(args.namePrefix, args.site, "writer-claim"),
        image: args.clientImageId,
        entrypoints: [SETUP_SCRIPT],
        command: ["claim"],
        envs: pulumi.output(args.rootPassword).apply((root) => [...connection(root), `DRSTACK_WRITER_CLAIM=${JSON.stringify(args.claim)}`]),
        uploads: clientUploads,
        networksAdvanced: [{ name: args.networkName }],
      },
      { ...child, dependsOn: [this.setup] },
    );
    this.claimWriter = claimWriter.container;
    this.writtenClaimEpoch = pulumi.all([setup.succeeded, claimWriter.succeeded]).apply(() => String(args.claim.epoch));
    this.registerOutputs({ backupBucketName: this.backupBucketName, fencingBucketName: this.fencingBucketName });
  }
}
