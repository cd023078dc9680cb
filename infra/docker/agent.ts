import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { classObjectLock, complianceClasses, verifyTargets } from "../backupContract";
import { backupAgeLimitSeconds } from "../backups";
import { BackupSettings } from "../config";
import { DataClassPolicy } from "../dataClasses";
import { TierObjectives } from "../tiers";
import { SiteName } from "../roles";
import { goDuration } from "./durations";
import { siteContainerName, MINIO_BACKUP_USER, MINIO_PEER_READER_USER } from "./naming";

/** The agent's script in the backup image (dist/lambdas/backup/ is copied to /var/task). */
export const AGENT_SCRIPT = "/var/task/site/agent.js";
/** Its status file, on a volume: the jobs' last runs survive a replacement of the container (every flip replaces it). */
export const AGENT_STATE_DIR = "/var/lib/drstack-agent";
const CA_FILE = "/drstack/tls/ca.crt";

/** A backup job as the agent takes it in DRSTACK_BACKUP_JOBS (lambdas/site/agent.ts). */
export interface AgentBackupJob {
  name: string;
  tier: string;
  dataClass: string;
  schedule: string;
  objectLockMode?: "GOVERNANCE" | "COMPLIANCE";
  objectLockDays?: number;
}

export interface AgentDrillJob {
  name: string;
  dataClass: string;
  schedule: string;
  smokeQuery?: string;
}

export function agentBackupJobs(backups: BackupSettings, dataClasses: readonly DataClassPolicy[]): AgentBackupJob[] {
  return backups.databases.map((database) => {
    const lock = classObjectLock(database, dataClasses);
    return {
      name: database.name,
      tier: database.tier,
      dataClass: database.dataClass,
      schedule: backups.schedules[database.tier],
      ...(lock ? { objectLockMode: lock.mode, objectLockDays: lock.days } : {}),
    };
  });
}

export function agentDrillJobs(backups: BackupSettings): AgentDrillJob[] {
  return backups.databases.map((database) => ({
    name: database.name,
    dataClass: database.dataClass,
    schedule: backups.drills.schedules[database.tier],
    ...(backups.drills.smokeQueries[database.name] !== undefined ? { smokeQuery: backups.drills.smokeQueries[database.name] } : {}),
  }));
}

export interface SiteAgentArgs {
  site: SiteName;
  peer: SiteName;
  namePrefix: string;
  imageId: pulumi.Input<string>;
  networkName: pulumi.Input<string>;
  storageEndpoint: string;
  peerStorageEndpoint: string;
  backupBucket: string;
  peerBackupBucket: string;
  fencingBucket: string;
  peerFencingBucket: string;
  databaseHost: string;
  appRole: string;
  superuserPassword: pulumi.Input<string>;
  storageBackupSecret: pulumi.Input<string>;
  peerReaderSecret: pulumi.Input<string>;
  caCertificate: string;
  guardIntervalSeconds: number;
  timeZone: string;
  backupsScheduled: boolean;
  backups: BackupSettings;
  dataClasses: DataClassPolicy[];
  tiers: TierObjectives;
  /** Check the peer's copies only once the peer exists. */
  checkPeer: boolean;
  /** The writer claim's epoch, once the claim container exited 0 (SiteStorage.writtenClaimEpoch). */
  writtenClaimEpoch: pulumi.Input<string>;
}

/**
 * The site agent: the backup image running lambdas/site/agent.ts, on both
 * sites. It reads both sites' writer claims every guard interval and acts
 * on them: promotes this site's standby when its claim makes it the writer,
 * fences a former writer the peer superseded (its application role loses
 * LOGIN), and runs the scheduled backups, verification and drills only while
 * it is the writer. The role reaches it only as DRSTACK_BACKUPS_SCHEDULED and
 * the claim; it gates every run on its own decision.
 */
export class SiteAgent extends pulumi.ComponentResource {
  readonly containerName: string;

  constructor(name: string, args: SiteAgentArgs, opts: pulumi.ComponentResourceOptions) {
    super("drstack:docker:SiteAgent", name, {}, opts);
    this.containerName = siteContainerName(args.namePrefix, args.site, "agent");
    const adminUrl = (password: string) =>
      `postgres://postgres:${encodeURIComponent(password)}@${args.databaseHost}:5432/postgres?sslmode=verify-full&sslrootcert=${CA_FILE}`;
    const targets = verifyTargets(args.backups.databases, (tier) => backupAgeLimitSeconds(tier, args.tiers, args.backups.schedules));
    const compliance = complianceClasses(args.dataClasses);
    const envs = pulumi.all([args.superuserPassword, args.storageBackupSecret, args.peerReaderSecret]).apply(([superuser, backupSecret, peerReader]) => [
      `DRSTACK_SITE=${args.site}`,
      `DRSTACK_PEER_SITE=${args.peer}`,
      `DRSTACK_STORAGE_ENDPOINT=${args.storageEndpoint}`,
      `DRSTACK_STORAGE_ACCESS_KEY_ID=${MINIO_BACKUP_USER}`,
      `DRSTACK_STORAGE_SECRET_ACCESS_KEY=${backupSecret}`,
      `DRSTACK_FENCING_BUCKET=${args.fencingBucket}`,
      `DRSTACK_PEER_STORAGE_ENDPOINT=${args.peerStorageEndpoint}`,
      `DRSTACK_PEER_STORAGE_ACCESS_KEY_ID=${MINIO_PEER_READER_USER}`,
      `DRSTACK_PEER_STORAGE_SECRET_ACCESS_KEY=${peerReader}`,
      `DRSTACK_PEER_FENCING_BUCKET=${args.peerFencingBucket}`,
      `DRSTACK_DATABASE_ADMIN_URL=${adminUrl(superuser)}`,
      `DRSTACK_APP_ROLE=${args.appRole}`,
      `DRSTACK_GUARD_INTERVAL_SECONDS=${args.guardIntervalSeconds}`,
      `DRSTACK_TIME_ZONE=${args.timeZone}`,
      `DRSTACK_BACKUPS_SCHEDULED=${args.backupsScheduled}`,
      `DRSTACK_BACKUP_JOBS=${JSON.stringify(agentBackupJobs(args.backups, args.dataClasses))}`,
      `DRSTACK_VERIFY_SCHEDULE=${args.backups.verifySchedule}`,
      `DRSTACK_DRILL_JOBS=${JSON.stringify(agentDrillJobs(args.backups))}`,
      `BACKUP_BUCKET=${args.backupBucket}`,
      `S3_ENDPOINT=${args.storageEndpoint}`,
      `S3_ACCESS_KEY_ID=${MINIO_BACKUP_USER}`,
      `S3_SECRET_ACCESS_KEY=${backupSecret}`,
      // MinIO's default region; the SDK signs with it.
      "AWS_REGION=us-east-1",
      `DATABASE_URL=postgres://postgres:${encodeURIComponent(superuser)}@${args.databaseHost}:5432/?sslmode=verify-full&sslrootcert=${CA_FILE}`,
      `BACKUP_TARGETS=${targets}`,
      ...(compliance ? [`COMPLIANCE_CLASSES=${compliance}`] : []),
      ...(args.checkPeer
        ? [
            `PEER_BUCKET=${args.peerBackupBucket}`,
            `PEER_S3_ENDPOINT=${args.peerStorageEndpoint}`,
            `PEER_S3_ACCESS_KEY_ID=${MINIO_PEER_READER_USER}`,
            `PEER_S3_SECRET_ACCESS_KEY=${peerReader}`,
          ]
        : []),
      `NODE_EXTRA_CA_CERTS=${CA_FILE}`,
      `DRSTACK_AGENT_STATUS_FILE=${AGENT_STATE_DIR}/status.json`,
      // The image's Node.js 20 is the Lambda runtime's; the SDK's notice about it would fill the logs.
      "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true",
      `SITE=${args.site}`,
    ]);
    const state = new docker.Volume(`${name}-state`, { name: `${this.containerName}-state` }, { parent: this, retainOnDelete: true });
    new docker.Container(
      `${name}-container`,
      {
        name: this.containerName,
        image: args.imageId,
        restart: "unless-stopped",
        // Both set: the image's own entrypoint is Lambda's runtime interface, and its command the backup handler.
        entrypoints: ["node"],
        command: [AGENT_SCRIPT],
        envs,
        uploads: [{ file: CA_FILE, content: args.caCertificate }],
        volumes: [{ volumeName: state.name, containerPath: AGENT_STATE_DIR }],
        networksAdvanced: [{ name: args.networkName }],
        healthcheck: { tests: ["CMD", "node", AGENT_SCRIPT, "--health"], interval: goDuration(args.guardIntervalSeconds), timeout: goDuration(10), retries: 3 },
        // The claim this agent acts on was written: a failed claim writer leaves the agent as it was.
        labels: [{ label: "drstack.site", value: args.site }, { label: "drstack.writer-epoch", value: args.writtenClaimEpoch }],
      },
      { parent: this, deleteBeforeReplace: true },
    );
    this.registerOutputs({ containerName: this.containerName });
  }
}
