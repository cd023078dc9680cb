/**
 * The site agent of a Docker site (`node /var/task/site/agent.js`): on a
 * Docker site it is the fencing guard, the promoter and the scheduler, all in
 * one long-running loop. Each tick (DRSTACK_GUARD_INTERVAL_SECONDS):
 *
 * 1. observe: this site's claim and fence marker (its own fencing bucket),
 *    the peer's (the peer's MinIO; a failure is "peer unreachable", never
 *    fatal), and this site's database (lambdas/site/database.ts);
 * 2. promote: the stack rewrote writer-claim.json to make this site the writer
 *    (a failover `pulumi up`), the database is still a replica, and the peer
 *    cannot be the writer at an equal or higher epoch: promote it, once the
 *    peer's agent has fenced its database under the peer's current claim and
 *    this standby (a copy of the same cluster, on the same timeline) replayed
 *    the WAL position it recorded (fenced-wal.json), so no write the
 *    application made on the peer is lost; without that record (the peer is
 *    lost or unreadable) only while its WAL receiver has been away from
 *    streaming for two guard intervals, never while it streams (promotionPlan).
 *    Then lift any fence the promoted database carries (unfenceDatabase),
 *    unless liftPlan withholds it;
 * 3. decide (lambdas/core/fencing.ts decide()), then act: write the fence
 *    marker first, then fence the database (every transaction read-only, the
 *    application's sessions ended; lambdas/site/database.ts says what that
 *    does and does not stop) and record its WAL position in fenced-wal.json;
 *    a site whose verdict is writer and whose database is fenced is unfenced
 *    only beside a readable peer, with no holding marker, under a claim newer
 *    than its own latest fenced-wal.json (liftPlan);
 * 4. start the job that is due, if any, when the stack schedules backups here
 *    (DRSTACK_BACKUPS_SCHEDULED) and the decision lets backups run. One job at
 *    a time, in the background, so a long backup never delays the guard. A
 *    schedule's missed fire times (the agent was down) run once, at the
 *    latest one, not once per missed slot; a backup's slot is its fire time,
 *    so a rerun of the same slot lands on the same keys (a backup already
 *    taken for it is only checked and re-published). A drill, which restores
 *    a whole database, catches up only on fire times an agent with the same
 *    status file was watching for: a new agent container runs its first
 *    drill at the next fire time, as a new EventBridge schedule would;
 * 5. write the status file `--health` reads.
 *
 * Exit status: 2 at start for settings it cannot use (nothing done); the loop
 * itself never exits on a failure, it logs it (JSON lines on stdout).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { runBackup, WriterCheck } from "../core/backup";
import { engineToDrill, runDrill } from "../core/drill";
import { errorMessage, NotWriterError, UsageError, WriterCheckError } from "../core/errors";
import { backupGate, claimsWriter, DatabaseState, decide, FenceMarker, GuardDecision, Lookup, markerHolds, SiteObservation, Verdict, WriterClaim } from "../core/fencing";
import { FencingState } from "../core/fencingState";
import { checkDatabaseName, DataClass, DEFAULT_DATA_CLASS, parseDataClass, parseTier, Tier } from "../core/layout";
import { scratchServers } from "../core/scratchServers";
import { runVerify } from "../core/verify";
import { backupOptions, drillOptions, Settings, verifyOptions } from "../settings";
import { FENCED_WAL_FORMAT, FencedWal, fencingBucket, FencingBucket, readFencedWal, readFencingObjects, writeFencedWalObject, writeFenceMarkerObject } from "./claims";
import {
  connectSiteDatabase,
  databaseState,
  FenceResult,
  fenceDatabase,
  inspectDatabase,
  promoteDatabase,
  ReplayProgress,
  replayProgress,
  ServerIdentity,
  serverIdentity,
  SlotInspection,
  NOT_RUNNING,
  unfenceDatabase,
  UnfenceResult,
  WalReceiverInspection,
} from "./database";
import { isTimeZone, latestRun, nextRun, ParsedSchedule, parseSchedule } from "./schedule";

export const DEFAULT_GUARD_INTERVAL_SECONDS = 30;
export const DEFAULT_STATUS_FILE = "/tmp/drstack-agent/status.json";
export const STATUS_FORMAT = "drstack.site-agent-status/v1";
/** The status file is stale after this many guard intervals. */
export const HEALTH_INTERVALS = 3;
/** `--health` fails once a promotion has been withheld for more than this many guard intervals. */
export const PROMOTION_WITHHELD_INTERVALS = 10;
/** Promotions and fences kept in the status file. */
const HISTORY_LENGTH = 20;

/** The settings the agent reads beside the drstack-backup ones its jobs use (lambdas/settings.ts). */
export const AGENT_ENV = {
  site: "DRSTACK_SITE",
  peerSite: "DRSTACK_PEER_SITE",
  storageEndpoint: "DRSTACK_STORAGE_ENDPOINT",
  storageAccessKeyId: "DRSTACK_STORAGE_ACCESS_KEY_ID",
  storageSecretAccessKey: "DRSTACK_STORAGE_SECRET_ACCESS_KEY",
  fencingBucket: "DRSTACK_FENCING_BUCKET",
  peerStorageEndpoint: "DRSTACK_PEER_STORAGE_ENDPOINT",
  peerStorageAccessKeyId: "DRSTACK_PEER_STORAGE_ACCESS_KEY_ID",
  peerStorageSecretAccessKey: "DRSTACK_PEER_STORAGE_SECRET_ACCESS_KEY",
  peerFencingBucket: "DRSTACK_PEER_FENCING_BUCKET",
  databaseAdminUrl: "DRSTACK_DATABASE_ADMIN_URL",
  appRole: "DRSTACK_APP_ROLE",
  guardIntervalSeconds: "DRSTACK_GUARD_INTERVAL_SECONDS",
  timeZone: "DRSTACK_TIME_ZONE",
  backupsScheduled: "DRSTACK_BACKUPS_SCHEDULED",
  backupJobs: "DRSTACK_BACKUP_JOBS",
  verifySchedule: "DRSTACK_VERIFY_SCHEDULE",
  drillJobs: "DRSTACK_DRILL_JOBS",
  /** Optional: where the status file goes (a volume keeps the jobs' last runs across a container replacement). */
  statusFile: "DRSTACK_AGENT_STATUS_FILE",
} as const;

export type JobKind = "backup" | "verify" | "drill";

export interface AgentJob {
  /** Unique among the site's jobs: backup:<class>/<database>, verify, drill:<class>/<database>. */
  key: string;
  kind: JobKind;
  schedule: ParsedSchedule;
  /** Database name (the backup layout's) of a backup or drill. */
  database?: string;
  tier?: Tier;
  dataClass?: DataClass;
  objectLock?: { mode: "GOVERNANCE" | "COMPLIANCE"; days: number };
  smokeQuery?: string;
}

export interface AgentConfig {
  site: string;
  peerSite: string;
  own: FencingLocation;
  peer: FencingLocation;
  databaseAdminUrl: string;
  appRole: string;
  intervalSeconds: number;
  timeZone: string;
  backupsScheduled: boolean;
  /** Backups first, then verify, then drills: the order a tick picks due jobs in. */
  jobs: AgentJob[];
  statusFile: string;
}

export interface FencingLocation {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

// ---------------------------------------------------------------- settings

function requireEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name]?.trim();
  if (!value) throw new UsageError(`Missing ${name}: ${what}. The stack sets it on the agent container; set it, or run \`pulumi up\` again.`);
  return value;
}

function endpointEnv(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = requireEnv(env, name, what);
  if (!/^https?:\/\/[^/\s]+\/?$/.test(value)) throw new UsageError(`${name} must be a URL like https://storage.dc1.example.ch:9000 (got "${value}").`);
  return value;
}

function parseSite(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = requireEnv(env, name, what);
  if (!/^[a-z][a-z0-9]{0,31}$/.test(value)) throw new UsageError(`${name} must be a site name such as primary or secondary (got "${value}").`);
  return value;
}

function scheduleOf(expression: unknown, where: string): ParsedSchedule {
  if (typeof expression !== "string" || expression.trim() === "") {
    throw new UsageError(`${where}: the schedule is missing; give an EventBridge Scheduler expression such as "rate(15 minutes)" or "cron(0 2 * * ? *)".`);
  }
  const parsed = parseSchedule(expression.trim());
  if (!parsed.ok) throw new UsageError(`${where}: the schedule "${expression}" ${parsed.problem}; use rate(value unit) or cron(minutes hours day-of-month month day-of-week year), e.g. "cron(0 2 * * ? *)".`);
  return parsed.schedule;
}

function jsonList(env: NodeJS.ProcessEnv, name: string, example: string): Record<string, unknown>[] {
  const text = env[name];
  if (text === undefined) throw new UsageError(`Missing ${name}: a JSON list of jobs (an empty list [] for none), e.g. ${example}.`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${name} is not JSON (${errorMessage(err)}); give a JSON list, e.g. ${example}.`);
  }
  if (!Array.isArray(value)) throw new UsageError(`${name} must be a JSON list of objects, e.g. ${example}.`);
  return value.map((entry, i) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw new UsageError(`${name}[${i}] must be an object, e.g. ${example}.`);
    return entry as Record<string, unknown>;
  });
}

function stringField(entry: Record<string, unknown>, field: string, where: string, optional = false): string | undefined {
  const value = entry[field];
  if (value === undefined && optional) return undefined;
  if (typeof value !== "string" || value.trim() === "") throw new UsageError(`${where}: "${field}" must be a non-empty string (got ${JSON.stringify(value)}).`);
  return value;
}

const BACKUP_JOBS_EXAMPLE = `[{"name":"shop","tier":"critical","dataClass":"db","schedule":"rate(15 minutes)"}]`;
const DRILL_JOBS_EXAMPLE = `[{"name":"shop","dataClass":"db","schedule":"cron(0 4 1 * ? *)","smokeQuery":"SELECT count(*) > 0 FROM orders"}]`;

function backupJobs(env: NodeJS.ProcessEnv): AgentJob[] {
  const name = AGENT_ENV.backupJobs;
  return jsonList(env, name, BACKUP_JOBS_EXAMPLE).map((entry, i) => {
    const where = `${name}[${i}]`;
    const database = checkDatabaseName(stringField(entry, "name", where)!, `${where} name`);
    const tier = parseTier(stringField(entry, "tier", where)!, `${where} tier`);
    const classText = stringField(entry, "dataClass", where, true);
    const dataClass = classText === undefined ? DEFAULT_DATA_CLASS : parseDataClass(classText, `${where} dataClass`);
    const mode = entry.objectLockMode;
    const days = entry.objectLockDays;
    let objectLock: AgentJob["objectLock"];
    if (mode !== undefined || days !== undefined) {
      if (mode !== "GOVERNANCE" && mode !== "COMPLIANCE") throw new UsageError(`${where}: objectLockMode must be GOVERNANCE or COMPLIANCE (got ${JSON.stringify(mode)}); leave out objectLockMode and objectLockDays for the bucket's default retention.`);
      if (typeof days !== "number" || !Number.isInteger(days) || days < 1 || days > 36_500) throw new UsageError(`${where}: objectLockDays must be a whole number of days from 1 to 36500 with objectLockMode (got ${JSON.stringify(days)}).`);
      objectLock = { mode, days };
    }
    return { key: `backup:${dataClass}/${database}`, kind: "backup" as const, schedule: scheduleOf(entry.schedule, where), database, tier, dataClass, ...(objectLock ? { objectLock } : {}) };
  });
}

function drillJobs(env: NodeJS.ProcessEnv): AgentJob[] {
  const name = AGENT_ENV.drillJobs;
  return jsonList(env, name, DRILL_JOBS_EXAMPLE).map((entry, i) => {
    const where = `${name}[${i}]`;
    const database = checkDatabaseName(stringField(entry, "name", where)!, `${where} name`);
    const classText = stringField(entry, "dataClass", where, true);
    const dataClass = classText === undefined ? DEFAULT_DATA_CLASS : parseDataClass(classText, `${where} dataClass`);
    const smokeQuery = stringField(entry, "smokeQuery", where, true);
    return { key: `drill:${dataClass}/${database}`, kind: "drill" as const, schedule: scheduleOf(entry.schedule, where), database, dataClass, ...(smokeQuery ? { smokeQuery } : {}) };
  });
}

/** Everything the agent needs, validated before anything is called: a UsageError names the variable and the fix. */
export async function parseAgentConfig(env: NodeJS.ProcessEnv): Promise<AgentConfig> {
  const site = parseSite(env, AGENT_ENV.site, "this site's name (primary or secondary)");
  const peerSite = parseSite(env, AGENT_ENV.peerSite, "the peer site's name");
  if (site === peerSite) throw new UsageError(`${AGENT_ENV.site} and ${AGENT_ENV.peerSite} are both "${site}"; the peer is the other site.`);
  const own: FencingLocation = {
    endpoint: endpointEnv(env, AGENT_ENV.storageEndpoint, "this site's MinIO endpoint"),
    accessKeyId: requireEnv(env, AGENT_ENV.storageAccessKeyId, "the access key of this site's MinIO"),
    secretAccessKey: requireEnv(env, AGENT_ENV.storageSecretAccessKey, "the secret key of this site's MinIO"),
    bucket: requireEnv(env, AGENT_ENV.fencingBucket, "this site's fencing bucket (writer-claim.json, fence-marker.json)"),
  };
  const peer: FencingLocation = {
    endpoint: endpointEnv(env, AGENT_ENV.peerStorageEndpoint, "the peer site's MinIO endpoint"),
    accessKeyId: requireEnv(env, AGENT_ENV.peerStorageAccessKeyId, "the access key for the peer's MinIO (read-only on its fencing bucket)"),
    secretAccessKey: requireEnv(env, AGENT_ENV.peerStorageSecretAccessKey, "the secret key for the peer's MinIO"),
    bucket: requireEnv(env, AGENT_ENV.peerFencingBucket, "the peer site's fencing bucket"),
  };
  const databaseAdminUrl = requireEnv(env, AGENT_ENV.databaseAdminUrl, "the superuser URL of this site's database, postgres://postgres:<password>@db.<site>:5432/postgres?sslmode=verify-full&sslrootcert=/drstack/tls/ca.crt");
  if (!/^postgres(ql)?:\/\//.test(databaseAdminUrl)) throw new UsageError(`${AGENT_ENV.databaseAdminUrl} must be a postgres:// URL (got a URL of another scheme).`);
  const appRole = requireEnv(env, AGENT_ENV.appRole, "the application's login role (the fence ends every non-superuser client session; they reconnect read-only)");

  const intervalText = env[AGENT_ENV.guardIntervalSeconds]?.trim();
  const intervalSeconds = intervalText ? Number(intervalText) : DEFAULT_GUARD_INTERVAL_SECONDS;
  if (!Number.isInteger(intervalSeconds) || intervalSeconds < 1 || intervalSeconds > 3600) {
    throw new UsageError(`${AGENT_ENV.guardIntervalSeconds} must be a whole number of seconds from 1 to 3600 (got "${intervalText}"); unset it for ${DEFAULT_GUARD_INTERVAL_SECONDS}.`);
  }
  const timeZone = requireEnv(env, AGENT_ENV.timeZone, "the IANA time zone the schedules are in, e.g. Europe/Zurich or UTC");
  if (!isTimeZone(timeZone)) throw new UsageError(`${AGENT_ENV.timeZone} "${timeZone}" is not an IANA time zone; use e.g. Europe/Zurich or UTC.`);
  const scheduledText = requireEnv(env, AGENT_ENV.backupsScheduled, "true when the stack schedules backups on this site, else false");
  if (scheduledText !== "true" && scheduledText !== "false") throw new UsageError(`${AGENT_ENV.backupsScheduled} must be true or false (got "${scheduledText}").`);

  const jobs = [...backupJobs(env)];
  const verifyText = requireEnv(env, AGENT_ENV.verifySchedule, 'the verification schedule, e.g. "rate(15 minutes)"');
  jobs.push({ key: "verify", kind: "verify", schedule: scheduleOf(verifyText, AGENT_ENV.verifySchedule) });
  jobs.push(...drillJobs(env));
  const seen = new Set<string>();
  for (const job of jobs) {
    if (seen.has(job.key)) throw new UsageError(`${job.kind === "drill" ? AGENT_ENV.drillJobs : AGENT_ENV.backupJobs} lists ${job.database} (class ${job.dataClass}) twice; give each database and class one entry.`);
    seen.add(job.key);
  }
  // The jobs' own settings (BACKUP_BUCKET, DATABASE_URL, BACKUP_TARGETS, ...) fail here, not at the first run.
  const probe = new Date(0);
  for (const job of jobs) {
    if (job.kind === "backup") await backupOptions(backupSettings(env, site, job, probe, 0));
    else if (job.kind === "verify") verifyOptions(verifySettings(env, site));
    else drillOptions(drillSettings(env, site, job));
  }
  return {
    site,
    peerSite,
    own,
    peer,
    databaseAdminUrl,
    appRole,
    intervalSeconds,
    timeZone,
    backupsScheduled: scheduledText === "true",
    jobs,
    statusFile: env[AGENT_ENV.statusFile]?.trim() || DEFAULT_STATUS_FILE,
  };
}

/**
 * The database to fence, if any. decide() holds back a stop while the former
 * writer still has a standby streaming from it (stopPlan: RDS stops no
 * instance with read replicas). A Docker site's fence stops no server: it
 * makes the application's transactions read-only with a setting that does
 * not replicate (ALTER SYSTEM), ends its sessions and leaves replication running, so a standby
 * catching up before its promotion (failback, README) is no reason to leave
 * the application writing beside it. Every other deferral (the database
 * cannot be described or was not found) still waits for the next tick.
 */
export function dockerFenceTarget(decision: Pick<GuardDecision, "stopDatabase" | "stopDeferred">, database: Lookup<DatabaseState>): string | undefined {
  if (decision.stopDatabase !== undefined) return decision.stopDatabase;
  if (decision.stopDeferred === undefined || !database.ok || database.value === undefined) return undefined;
  const own = database.value;
  return own.replicaOf === undefined && own.readReplicas.length > 0 ? own.identifier : undefined;
}

/** DATABASE_URL is the backup role's URL without a database; each job names its own. */
export function jobDatabaseUrl(base: string, database: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new UsageError(`DATABASE_URL is not a URL; give the backup role's URL, e.g. postgres://drstack_backup:<password>@db.primary.example.ch:5432/?sslmode=verify-full&sslrootcert=/drstack/tls/ca.crt (the agent adds each job's database).`);
  }
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** A backup job's settings, exactly as `drstack-backup backup` would read them with these flags. */
export function backupSettings(env: NodeJS.ProcessEnv, site: string, job: AgentJob, slot: Date, epoch: number): Settings {
  const base = env.DATABASE_URL?.trim();
  const flags: Record<string, string> = {
    name: job.database!,
    tier: job.tier!,
    "data-class": job.dataClass!,
    slot: slot.toISOString(),
    site,
    epoch: String(epoch),
    ...(base ? { "database-url": jobDatabaseUrl(base, job.database!) } : {}),
    ...(job.objectLock ? { "object-lock-mode": job.objectLock.mode, "object-lock-days": String(job.objectLock.days) } : {}),
  };
  return new Settings(flags, env);
}

export function verifySettings(env: NodeJS.ProcessEnv, site: string): Settings {
  return new Settings({ site, "drill-site": site }, env);
}

export function drillSettings(env: NodeJS.ProcessEnv, site: string, job: AgentJob): Settings {
  return new Settings({ name: job.database!, "data-class": job.dataClass!, site, ...(job.smokeQuery ? { "smoke-query": job.smokeQuery } : {}) }, env);
}

// ---------------------------------------------------------------- decisions (pure)

/** A claim read from the wrong bucket (the peer's, or another stack's) is a misconfiguration, not evidence. */
export function checkClaimSite(claim: Lookup<WriterClaim>, site: string, variable: string): Lookup<WriterClaim> {
  if (!claim.ok || claim.value === undefined || claim.value.site === site) return claim;
  return { ok: false, problem: `writer-claim.json in ${variable} is the claim of site ${claim.value.site}, not of ${site}; check ${variable}` };
}

/**
 * What decide() is given for the peer's database, which this site cannot
 * inspect (it is in the other data centre, behind its own firewall). On a
 * Docker site the peer's claim is what its agent acts on within one interval
 * (a writer claim: it promotes; a replica claim: it follows), so the database
 * is taken to be what the claim says: a writer claim is a standalone
 * database, so a newer writer fences this site; a replica claim is a replica,
 * so decide() sees no partial failover. No claim (or no readable claim): no
 * database either.
 */
export function peerDatabaseFromClaim(claim: Lookup<WriterClaim>): Lookup<DatabaseState> {
  if (!claim.ok) return { ok: false, problem: `the peer's claim could not be read (${claim.problem})` };
  const c = claim.value;
  if (c === undefined) return { ok: true };
  return { ok: true, value: { identifier: c.databaseIdentifier, status: "available", readReplicas: [], ...(c.databaseMode === "replica" ? { replicaOf: "the peer's upstream (as its claim says)" } : {}) } };
}

export interface PromotionPlan {
  promote: boolean;
  reason: string;
}

/** What a planned switch-over waits for: the peer's fenced WAL position, and how far this standby replayed towards it. */
export interface SwitchoverEvidence {
  fencedWal: Lookup<FencedWal>;
  /** This standby's replay against fencedWal's walPosition; absent when there is no record to compare with. */
  replay?: Lookup<ReplayProgress>;
  /** This standby's upstream system identifier and received timeline, compared with the record's. */
  identity?: Lookup<ServerIdentity>;
}

/** A reachable peer whose claim says its database is fenced: it was demoted first (README, "Failback on Docker" step 2), a planned switch-over. */
export function plannedSwitchover(peer: FencingState): WriterClaim | undefined {
  const c = peer.claim.ok ? peer.claim.value : undefined;
  return c !== undefined && !claimsWriter(c) && c.databaseMode === "fenced" ? c : undefined;
}

/** A standby whose WAL receiver is not streaming promotes on a failover only after it has been down this many guard intervals: a blip does not promote. */
export const PROMOTE_AFTER_DOWN_INTERVALS = 2;

/** What promotionPlan knows of this standby's WAL receiver over time (AgentState.walReceiverNotStreamingSince). */
export interface ReceiverHistory {
  now: Date;
  intervalSeconds: number;
  /** Since when the WAL receiver has not been streaming; undefined while it streams (or before any tick saw it down). */
  notStreamingSince?: Date;
}

/**
 * Whether the peer's agent fenced its database under the peer's current
 * claim (fenced-wal.json of that claim's site and epoch) and this standby
 * replayed up to the WAL position it recorded.
 */
export function peerFenceReached(peerClaim: WriterClaim, switchover?: SwitchoverEvidence): { reached: true; record: FencedWal } | { reached: false; why: string } {
  const wait = (why: string) => ({ reached: false as const, why });
  const fenced = switchover?.fencedWal;
  if (fenced === undefined) return wait("the peer's fenced-wal.json is read");
  if (!fenced.ok) return wait(`the peer's fenced-wal.json can be read (${fenced.problem})`);
  const record = fenced.value;
  if (record === undefined) return wait("the peer's agent has fenced its database and written fenced-wal.json");
  if (record.site !== peerClaim.site) return wait(`the peer's fenced-wal.json is its own (it names site ${record.site}, not ${peerClaim.site})`);
  if (record.epoch !== peerClaim.epoch) return wait(`the peer's agent has fenced its database under its claim's epoch ${peerClaim.epoch} (fenced-wal.json is of epoch ${record.epoch})`);
  if (record.systemIdentifier === undefined || record.timeline === undefined) return wait("the peer's fenced-wal.json names its server's system identifier and timeline (an older agent wrote it; the peer's agent rewrites it)");
  const identity = switchover?.identity;
  if (identity === undefined) return wait(`this standby's upstream is compared with the fenced server (system identifier ${record.systemIdentifier}, timeline ${record.timeline})`);
  if (!identity.ok) return wait(`this standby's upstream can be compared with the fenced server (${identity.problem})`);
  const own = identity.value;
  if (own === undefined || own.systemIdentifier !== record.systemIdentifier) {
    return wait(`this standby follows the fenced server (its system identifier is ${own?.systemIdentifier ?? "unknown"}, the fenced server's ${record.systemIdentifier}: it is a copy of another cluster)`);
  }
  if (own.timeline !== record.timeline) return wait(`this standby receives the fenced server's timeline ${record.timeline} (it receives ${own.timeline ?? "nothing: its WAL receiver is not running"})`);
  const replay = switchover?.replay;
  if (replay === undefined) return wait(`this standby's replay is compared with ${record.walPosition}`);
  if (!replay.ok) return wait(`this standby's replay can be compared with ${record.walPosition} (${replay.problem})`);
  const progress = replay.value;
  if (progress === undefined || progress.behindBytes === null || progress.behindBytes > 0) {
    return wait(`this standby has replayed the fenced writer's WAL up to ${record.walPosition} (replayed ${progress?.replayLsn ?? "nothing"}${progress?.behindBytes ? `, ${progress.behindBytes} bytes behind` : ""})`);
  }
  return { reached: true, record };
}

/**
 * Whether this site's database is to be promoted now: the claim says writer,
 * the site is not fenced, the database is still a replica, and the peer
 * cannot be the writer at an equal or higher epoch.
 *
 * When the reachable peer's claim says its database is fenced (a planned
 * switch-over), only once its agent has fenced it at that claim's epoch
 * (fenced-wal.json) and this standby has replayed up to the WAL position it
 * recorded: promoting earlier would lose the writes in between.
 *
 * When the peer is unreadable, has no claim, is not a writer or claims the
 * writer at a lower epoch, the peer's claim says nothing about its database
 * (a MinIO blip, a claim the stack rewrote before its agent acted), so this
 * standby's WAL receiver decides: while it streams, its upstream is alive and
 * may take writes, and it promotes only on the same evidence as a planned
 * switch-over (the peer's fenced-wal.json for the peer's current claim's
 * epoch, replayed); while it does not, only once it has been down for
 * PROMOTE_AFTER_DOWN_INTERVALS guard intervals, so a blip does not promote
 * and the survivor of a real loss promotes on its own.
 */
export function promotionPlan(own: FencingState, peer: FencingState, database: Lookup<SiteDatabaseState>, receiverHistory: ReceiverHistory, switchover?: SwitchoverEvidence): PromotionPlan {
  const no = (reason: string): PromotionPlan => ({ promote: false, reason });
  if (!own.claim.ok || own.claim.value === undefined) return no("this site's claim is unreadable or missing");
  const claim = own.claim.value;
  if (!claimsWriter(claim)) return no(`this site's claim says ${claim.role} with a ${claim.databaseMode} database`);
  if (!own.marker.ok) return no(`this site's fence marker could not be read (${own.marker.problem})`);
  if (markerHolds(own.marker.value, claim)) return no(`this site is fenced (epoch ${own.marker.value!.peerEpoch} of ${own.marker.value!.peerSite} superseded its ${claim.epoch})`);
  if (!database.ok) return no(`this site's database could not be inspected (${database.problem})`);
  if (database.value === undefined) return no(`this site's database ${claim.databaseIdentifier} was not found`);
  if (database.value.replicaOf === undefined) return no("the database already takes writes");
  const peerClaim = peer.claim.ok ? peer.claim.value : undefined;
  if (peerClaim !== undefined && plannedSwitchover(peer) !== undefined) {
    const fence = peerFenceReached(peerClaim, switchover);
    if (!fence.reached) return no(`planned switch-over: the peer's claim (epoch ${peerClaim.epoch}) says its database is fenced; promotion waits until ${fence.why}`);
    return { promote: true, reason: `the claim says writer at epoch ${claim.epoch}, the peer fenced its database at epoch ${fence.record.epoch} and this standby replayed its WAL up to ${fence.record.walPosition} (planned switch-over)` };
  }
  if (peerClaim !== undefined && claimsWriter(peerClaim) && peerClaim.epoch >= claim.epoch) {
    return no(`the peer claims the writer at epoch ${peerClaim.epoch}, not below this site's ${claim.epoch}: promoting would make two writers`);
  }
  const peerSays = !peer.claim.ok
    ? `the peer is unreachable (${peer.claim.problem})`
    : peerClaim === undefined
      ? "the peer has no claim"
      : claimsWriter(peerClaim)
        ? `the peer's writer claim is at epoch ${peerClaim.epoch}, below this site's`
        : `the peer is ${peerClaim.role} with a ${peerClaim.databaseMode} database`;
  const base = `the claim says writer at epoch ${claim.epoch} and ${peerSays}`;
  const fence = peerClaim !== undefined ? peerFenceReached(peerClaim, switchover) : undefined;
  if (fence?.reached) return { promote: true, reason: `${base}; the peer fenced its database at epoch ${fence.record.epoch} and this standby replayed its WAL up to ${fence.record.walPosition}` };
  const receiver = database.value.walReceiver;
  if (receiver?.status === "streaming") {
    const until = peerClaim === undefined
      ? !peer.claim.ok
        ? "the peer's claim can be read and its agent has fenced its database, or this standby's WAL receiver stops streaming"
        : "the peer's agent fences its database under a claim (it has none), or this standby's WAL receiver stops streaming"
      : `${fence!.why}, or this standby's WAL receiver stops streaming`;
    return no(`${base}, but this standby's WAL receiver is streaming: its upstream is alive and may take writes; promotion waits until ${until}`);
  }
  const since = receiverHistory.notStreamingSince;
  const needed = PROMOTE_AFTER_DOWN_INTERVALS * receiverHistory.intervalSeconds;
  const down = since === undefined ? 0 : Math.floor((receiverHistory.now.getTime() - since.getTime()) / 1000);
  const state = receiver?.status ?? NOT_RUNNING;
  if (since === undefined || down < needed) {
    return no(`${base}, but this standby's WAL receiver (${state}) has been away from streaming for ${down}s only; promotion waits until it has been for ${PROMOTE_AFTER_DOWN_INTERVALS} guard intervals (${needed}s), so a blip does not promote`);
  }
  return { promote: true, reason: `${base}, and this standby's WAL receiver (${state}) has not been streaming since ${since.toISOString()} (${down}s)` };
}

/**
 * Whether the fence on this site's database may be lifted. Never while this
 * site's fence marker holds (or cannot be read), nor, with `requirePeer` (a
 * verdict of writer, which decide() also gives beside an unreadable peer),
 * unless the peer's claim was read; and only under a claim newer than the
 * fence: this site's own claim's epoch above the epoch of its own latest
 * fenced-wal.json, so a site fenced at epoch E is lifted only by a newer
 * claim of its own (a promotion, a failback), never by a claim that merely
 * looks unchallenged for a moment.
 */
export function liftPlan(own: FencingState, peer: FencingState, ownFencedWal: Lookup<FencedWal>, opts: { requirePeer: boolean }): { lift: true } | { lift: false; reason: string } {
  const no = (reason: string) => ({ lift: false as const, reason });
  if (!own.claim.ok || own.claim.value === undefined) return no("this site's claim is unreadable or missing");
  const claim = own.claim.value;
  if (!own.marker.ok) return no(`this site's fence marker could not be read (${own.marker.problem})`);
  if (markerHolds(own.marker.value, claim)) return no(`this site's fence marker holds (epoch ${own.marker.value!.peerEpoch} of ${own.marker.value!.peerSite} superseded its ${claim.epoch})`);
  if (opts.requirePeer && !peer.claim.ok) return no(`the peer's claim could not be read (${peer.claim.problem}): an unreadable peer may be the writer`);
  if (!ownFencedWal.ok) return no(`this site's fenced-wal.json could not be read (${ownFencedWal.problem})`);
  const record = ownFencedWal.value;
  if (record !== undefined && !(claim.epoch > record.epoch)) return no(`this site fenced its database at epoch ${record.epoch} (fenced-wal.json) and its claim's epoch ${claim.epoch} is not newer: only a newer claim of its own (a promotion, a failback) lifts the fence`);
  return { lift: true };
}

export interface JobRecord {
  /** The fire time this run was for. */
  slot: string;
  startedAt: string;
  endedAt?: string;
  outcome: "running" | "succeeded" | "failed";
  detail?: string;
}

/**
 * The fire time a job is due for now, or undefined: its latest fire time,
 * unless that one has run (or is running) already, or, with `watchingSince`,
 * the job never ran and that fire time passed before anyone watched for it.
 */
export function dueSlot(job: AgentJob, timeZone: string, now: Date, last: JobRecord | undefined, watchingSince?: Date): Date | undefined {
  const latest = latestRun(job.schedule, timeZone, now);
  if (latest === undefined) return undefined;
  if (last !== undefined) return new Date(last.slot).getTime() >= latest.getTime() ? undefined : latest;
  if (watchingSince !== undefined && latest.getTime() < watchingSince.getTime()) return undefined;
  return latest;
}

// ---------------------------------------------------------------- the tick

export interface AgentStatus {
  format: typeof STATUS_FORMAT;
  site: string;
  /** The last tick's time; `--health` judges freshness by it. */
  checkedAt: string;
  intervalSeconds: number;
  /** Since when agents writing this status file have been watching the schedules (kept across restarts). */
  watchingSince: string;
  /** "error": the tick itself failed before it could decide. */
  verdict: Verdict | "error";
  backupsMayRun: boolean;
  backupsScheduled: boolean;
  peerUnreachable: boolean;
  inconsistent: boolean;
  reasons: string[];
  database?: SiteDatabaseState;
  databaseProblem?: string;
  /** Since when this standby's WAL receiver has not been streaming (`--health` fails after HEALTH_INTERVALS guard intervals). */
  walReceiverNotStreamingSince?: string;
  /** Since when a promotion has been in question (the claim says writer, the database follows) and withheld; `--health` fails after PROMOTION_WITHHELD_INTERVALS. */
  promotionWithheldSince?: string;
  /** Why the promotion is withheld, while it is. */
  promotionWithheldReason?: string;
  /** The verdict is writer, this tick tried to lift the fence, and the database is still fenced. */
  fenceLiftFailed?: string;
  /** What this tick changed, and what it tried and could not. */
  actions: string[];
  actionFailures: string[];
  /** The last promotions, fence markers and fences, newest last. */
  history: { at: string; action: string }[];
  /** Each job's schedule, its next fire time and its last run. */
  jobs: Record<string, { schedule: string; nextRun?: string; last?: JobRecord }>;
  running?: string;
  error?: string;
}

export interface LogEntry {
  event: string;
  [field: string]: unknown;
}

/** The database as fencing sees it, with what the status file and `--health` report beside it. */
export interface SiteDatabaseState extends DatabaseState {
  /** Every transaction is read-only (the fence), or the application role has no LOGIN (an older drstack's fence). */
  fenced?: boolean;
  /** A standby's WAL receiver. */
  walReceiver?: WalReceiverInspection;
  /** Its physical replication slots, with wal_status. */
  slots?: SlotInspection[];
  /** Database or role settings of default_transaction_read_only that override the fence for new sessions (the fence resets them). */
  readOnlyOverrides?: string[];
}

export interface SiteDatabase {
  /** The database as fencing sees it (a replica has replicaOf). */
  inspect(identifier: string): Promise<Lookup<SiteDatabaseState>>;
  /** False when it already took writes (promoted by someone else in between). */
  promote(): Promise<boolean>;
  /** Makes every transaction read-only and ends the application's sessions; says whether it was fenced already, how many sessions it ended and the WAL position after. */
  fence(): Promise<FenceResult>;
  /** Lifts the fence (and an older drstack's NOLOGIN). */
  unfence(): Promise<UnfenceResult>;
  /** How far this standby replayed towards a WAL position. */
  replayProgress(walPosition: string): Promise<ReplayProgress>;
  /** The server's system identifier and its (a writer's) or its received (a standby's) timeline. */
  identity(): Promise<ServerIdentity>;
}

export interface AgentDeps {
  config: Pick<AgentConfig, "site" | "peerSite" | "intervalSeconds" | "timeZone" | "backupsScheduled" | "jobs">;
  now(): Date;
  readOwn(): Promise<FencingState>;
  readPeer(): Promise<FencingState>;
  writeMarker(marker: FenceMarker): Promise<void>;
  /** fenced-wal.json in this site's fencing bucket, and in the peer's. */
  readOwnFencedWal(): Promise<Lookup<FencedWal>>;
  readPeerFencedWal(): Promise<Lookup<FencedWal>>;
  writeFencedWal(record: FencedWal): Promise<void>;
  database: SiteDatabase;
  /** Runs one job to its end; resolves with a one-line result, rejects when it failed. */
  runJob(job: AgentJob, slot: Date, epoch: number): Promise<string>;
  writeStatus(status: AgentStatus): Promise<void>;
  log(entry: LogEntry): void;
}

/** What the agent keeps between ticks. */
export interface AgentState {
  jobs: Record<string, JobRecord>;
  watchingSince: Date;
  history: { at: string; action: string }[];
  running?: { key: string; done: Promise<void> };
  lastStatus?: AgentStatus;
  /** Since when the standby's WAL receiver has not been streaming. */
  walReceiverNotStreamingSince?: Date;
  /** This tick tried to lift the fence (reset at each tick). */
  unfenceAttempted?: boolean;
  /** Since when a promotion in question has been withheld. */
  promotionWithheldSince?: Date;
}

export function initialState(previous?: AgentStatus, startedAt: Date = new Date()): AgentState {
  const jobs: Record<string, JobRecord> = {};
  // A job the previous process left running died with it: record it as failed, so its slot is not rerun at once.
  for (const [key, { last }] of Object.entries(previous?.jobs ?? {})) {
    if (last === undefined) continue;
    jobs[key] = last.outcome === "running" ? { ...last, outcome: "failed", detail: "the agent stopped while it ran" } : last;
  }
  const since = previous?.watchingSince ? new Date(previous.watchingSince) : undefined;
  const notStreaming = previous?.walReceiverNotStreamingSince ? new Date(previous.walReceiverNotStreamingSince) : undefined;
  const withheld = previous?.promotionWithheldSince ? new Date(previous.promotionWithheldSince) : undefined;
  return {
    jobs,
    history: [...(previous?.history ?? [])],
    watchingSince: since && !Number.isNaN(since.getTime()) && since < startedAt ? since : startedAt,
    ...(notStreaming && !Number.isNaN(notStreaming.getTime()) ? { walReceiverNotStreamingSince: notStreaming } : {}),
    ...(withheld && !Number.isNaN(withheld.getTime()) ? { promotionWithheldSince: withheld } : {}),
  };
}

export interface TickResult {
  status: AgentStatus;
  decision?: GuardDecision;
  /** The job this tick started, settled when it ends (never rejects). */
  job?: Promise<void>;
}

export interface Observation {
  own: SiteObservation & { database: Lookup<SiteDatabaseState> };
  peer: SiteObservation;
  ownFencing: FencingState;
  peerFencing: FencingState;
}

export async function observe(deps: AgentDeps): Promise<Observation> {
  const [ownRead, peerRead] = await Promise.all([deps.readOwn(), deps.readPeer()]);
  const ownFencing: FencingState = { ...ownRead, claim: checkClaimSite(ownRead.claim, deps.config.site, AGENT_ENV.fencingBucket) };
  const peerFencing: FencingState = { ...peerRead, claim: checkClaimSite(peerRead.claim, deps.config.peerSite, AGENT_ENV.peerFencingBucket) };
  const identifier = ownFencing.claim.ok ? ownFencing.claim.value?.databaseIdentifier : undefined;
  const database: Lookup<SiteDatabaseState> = identifier ? await deps.database.inspect(identifier) : { ok: false, problem: "no claim names this site's database" };
  return {
    own: { ...ownFencing, database },
    peer: { ...peerFencing, database: peerDatabaseFromClaim(peerFencing.claim) },
    ownFencing,
    peerFencing,
  };
}

/**
 * The backup's writer check, asked before the dump and before it is
 * completed: a fresh observation and decision, so a site fenced (or whose
 * peer took over) during a run publishes nothing.
 */
export function agentWriterCheck(deps: AgentDeps): WriterCheck {
  return async () => {
    const obs = await observe(deps);
    const decision = decide({ own: obs.own, peer: obs.peer }, deps.now());
    const gate = backupGate({ claim: obs.ownFencing.claim, marker: obs.ownFencing.marker, guard: { ok: true, decision } });
    if (gate.ok) return { site: gate.site, epoch: gate.epoch };
    if (gate.refused) throw new NotWriterError(gate.reason);
    throw new WriterCheckError(`cannot confirm that this site is the writer, so it backs up nothing: ${gate.reason}`);
  };
}

function jobsStatus(deps: AgentDeps, state: AgentState, now: Date): AgentStatus["jobs"] {
  const out: AgentStatus["jobs"] = {};
  for (const job of deps.config.jobs) {
    const next = nextRun(job.schedule, deps.config.timeZone, now);
    const last = state.jobs[job.key];
    out[job.key] = { schedule: job.schedule.expression, ...(next ? { nextRun: next.toISOString() } : {}), ...(last ? { last } : {}) };
  }
  return out;
}

async function writeStatusSafely(deps: AgentDeps, status: AgentStatus): Promise<void> {
  try {
    await deps.writeStatus(status);
  } catch (err) {
    deps.log({ event: "status-write-failed", error: errorMessage(err) });
  }
}

function remember(state: AgentState, at: Date, action: string): void {
  state.history.push({ at: at.toISOString(), action });
  if (state.history.length > HISTORY_LENGTH) state.history.splice(0, state.history.length - HISTORY_LENGTH);
}

/**
 * The peer's fenced-wal.json and this standby's replay towards it, read only
 * when a promotion is in question (this site's claim says writer, its
 * database follows, the peer's claim could be read).
 */
export async function switchoverEvidence(deps: Pick<AgentDeps, "readPeerFencedWal" | "database">, obs: Observation): Promise<SwitchoverEvidence | undefined> {
  const own = obs.ownFencing.claim.ok ? obs.ownFencing.claim.value : undefined;
  const database = obs.own.database;
  const peerClaim = obs.peerFencing.claim.ok ? obs.peerFencing.claim.value : undefined;
  if (own === undefined || !claimsWriter(own) || !database.ok || database.value?.replicaOf === undefined || peerClaim === undefined) return undefined;
  const fencedWal = await deps.readPeerFencedWal();
  if (!fencedWal.ok || fencedWal.value === undefined) return { fencedWal };
  const walPosition = fencedWal.value.walPosition;
  const lookup = async <T>(fn: () => Promise<T>): Promise<Lookup<T>> => {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      return { ok: false, problem: errorMessage(err) };
    }
  };
  return { fencedWal, identity: await lookup(() => deps.database.identity()), replay: await lookup(() => deps.database.replayProgress(walPosition)) };
}

/** Since when a standby's WAL receiver has not been streaming (one without a receiver row counts as not streaming); cleared once it streams or the database writes. */
function trackReceiver(state: AgentState, database: Lookup<SiteDatabaseState>, now: Date): void {
  if (!database.ok) return;
  const db = database.value;
  if (db !== undefined && db.replicaOf !== undefined && db.walReceiver?.status !== "streaming") state.walReceiverNotStreamingSince ??= now;
  else state.walReceiverNotStreamingSince = undefined;
}

/** One pass of the guard: observe, promote, decide, act, start a due job, report. */
export async function tick(deps: AgentDeps, state: AgentState): Promise<TickResult> {
  const now = deps.now();
  const actions: string[] = [];
  const actionFailures: string[] = [];
  /**
   * Runs one action, `what` naming it in a failure. It resolves with what it
   * did, or false when it found nothing to change (a repeated fence), which
   * is not recorded.
   */
  const attempt = async (what: string, action: () => Promise<string | false>): Promise<boolean> => {
    try {
      const done = await action();
      if (done === false) return true;
      actions.push(done);
      remember(state, deps.now(), done);
      deps.log({ event: "action", site: deps.config.site, action: done });
      return true;
    } catch (err) {
      const failure = `${what}: ${errorMessage(err)}`;
      actionFailures.push(failure);
      deps.log({ event: "action-failed", site: deps.config.site, action: what, error: errorMessage(err) });
      return false;
    }
  };

  state.unfenceAttempted = false;
  let obs = await observe(deps);
  const claim = obs.ownFencing.claim.ok ? obs.ownFencing.claim.value : undefined;
  const identifier = claim?.databaseIdentifier ?? "";
  const reinspect = async () => {
    obs = { ...obs, own: { ...obs.own, database: await deps.database.inspect(identifier) } };
  };
  const fenceKept: string[] = [];
  const lift = async (why: string, requirePeer: boolean): Promise<boolean> => {
    const plan = liftPlan(obs.ownFencing, obs.peerFencing, await deps.readOwnFencedWal().catch((err: unknown) => ({ ok: false as const, problem: errorMessage(err) })), { requirePeer });
    if (!plan.lift) {
      fenceKept.push(`fence kept (${why}): ${plan.reason}`);
      return false;
    }
    state.unfenceAttempted = true;
    return attempt(`lift the fence on the database ${identifier}`, async () => {
      const r = await deps.database.unfence();
      if (!r.readWriteRestored && !r.loginRestored) return false;
      return `lifted the fence on the database ${identifier} (${why}): ${[r.readWriteRestored ? "transactions are read-write again" : "", r.loginRestored ? "the application role may log in again (an older drstack's NOLOGIN)" : ""].filter(Boolean).join("; ")}`;
    });
  };

  trackReceiver(state, obs.own.database, now);
  const switchover = await switchoverEvidence(deps, obs);
  const plan = promotionPlan(obs.ownFencing, obs.peerFencing, obs.own.database, { now, intervalSeconds: deps.config.intervalSeconds, notStreamingSince: state.walReceiverNotStreamingSince }, switchover);
  if (plan.promote) {
    const promoted = await attempt(`promote the database ${identifier}`, async () =>
      (await deps.database.promote()) ? `promoted the database ${identifier} (${plan.reason})` : `the database ${identifier} already took writes when it was to be promoted`,
    );
    if (promoted) {
      // A copy made from a fenced writer carries its postgresql.auto.conf; an older drstack's NOLOGIN replicated.
      await lift("it was just promoted", false);
      await reinspect();
    }
  }

  const decision = decide({ own: obs.own, peer: obs.peer }, now);
  if (decision.verdict === "writer" && obs.own.database.ok && obs.own.database.value?.fenced === true && obs.own.database.value.replicaOf === undefined) {
    if (await lift("this site is the writer", true)) await reinspect();
  }
  // The marker first: from then on this site's backups refuse, whatever happens to the fence.
  if (decision.writeMarker) {
    const marker = decision.writeMarker;
    const what = `wrote fence-marker.json (${marker.reason})`;
    await attempt(what, async () => (await deps.writeMarker(marker), what));
  }
  const fenceTarget = dockerFenceTarget(decision, obs.own.database);
  if (fenceTarget !== undefined) {
    // Every tick while fenced: sessions that slipped in (someone turned the setting off) are ended again.
    const target = fenceTarget;
    const fenced: { result?: FenceResult } = {};
    await attempt(`fence the database ${target}`, async () => {
      const result = await deps.database.fence();
      fenced.result = result;
      const removed = result.overridesRemoved?.length ? `; reset the settings that overrode it: ${result.overridesRemoved.join("; ")}` : "";
      if (!result.alreadyFenced) return `fenced the database ${target}: every transaction is read-only${removed}${result.terminated > 0 ? `; ended ${result.terminated} of the application's sessions` : ""} (WAL position ${result.walPosition})`;
      return result.terminated > 0 ? `ended ${result.terminated} client session(s) on the fenced database ${target}` : false;
    });
    const result = fenced.result;
    // The status reports the database as the fence left it.
    if (result !== undefined && !result.alreadyFenced) await reinspect();
    if (result !== undefined && claim !== undefined) {
      await attempt("write fenced-wal.json", async () => {
        // Written at the fence, again when sessions were ended (they may have written), and when the record is not this claim's.
        if (result.alreadyFenced && result.terminated === 0) {
          const existing = await deps.readOwnFencedWal();
          if (existing.ok && existing.value !== undefined && existing.value.site === deps.config.site && existing.value.epoch === claim.epoch && existing.value.systemIdentifier !== undefined && existing.value.timeline !== undefined) return false;
        }
        const identity = await deps.database.identity();
        if (identity.timeline === null) throw new Error("the fenced server reports no timeline");
        const record: FencedWal = {
          format: FENCED_WAL_FORMAT,
          site: deps.config.site,
          epoch: claim.epoch,
          walPosition: result.walPosition,
          fencedAt: deps.now().toISOString(),
          systemIdentifier: identity.systemIdentifier,
          timeline: identity.timeline,
        };
        await deps.writeFencedWal(record);
        return `wrote fenced-wal.json (epoch ${record.epoch}, WAL position ${record.walPosition})`;
      });
    }
  }

  trackReceiver(state, obs.own.database, now);

  let job: Promise<void> | undefined;
  if (deps.config.backupsScheduled && decision.backupsMayRun && claim !== undefined && state.running === undefined) {
    for (const candidate of deps.config.jobs) {
      const slot = dueSlot(candidate, deps.config.timeZone, now, state.jobs[candidate.key], candidate.kind === "drill" ? state.watchingSince : undefined);
      if (slot === undefined) continue;
      job = startJob(deps, state, candidate, slot, claim.epoch);
      break;
    }
  }

  // Said only where a promotion was in question: the claim makes this site the writer and its database still follows.
  const promotionWithheld = !plan.promote && claim !== undefined && claimsWriter(claim) && obs.own.database.ok && obs.own.database.value?.replicaOf !== undefined;
  if (promotionWithheld) state.promotionWithheldSince ??= now;
  else if (obs.own.database.ok) state.promotionWithheldSince = undefined;
  const finalDatabase = obs.own.database.ok ? obs.own.database.value : undefined;
  const fenceLiftFailed =
    state.unfenceAttempted && decision.verdict === "writer" && finalDatabase?.fenced === true && finalDatabase.replicaOf === undefined
      ? `the verdict is writer and the database ${identifier} is still fenced after an attempt to lift the fence${actionFailures.length > 0 ? ` (${actionFailures.join("; ")})` : ""}`
      : undefined;
  const status: AgentStatus = {
    format: STATUS_FORMAT,
    site: deps.config.site,
    checkedAt: now.toISOString(),
    watchingSince: state.watchingSince.toISOString(),
    intervalSeconds: deps.config.intervalSeconds,
    verdict: decision.verdict,
    backupsMayRun: decision.backupsMayRun,
    backupsScheduled: deps.config.backupsScheduled,
    peerUnreachable: decision.peerUnreachable,
    inconsistent: decision.inconsistent,
    reasons: [...decision.reasons, ...(decision.stopDeferred && fenceTarget === undefined ? [`fence deferred: ${decision.stopDeferred}`] : []), ...(promotionWithheld ? [`no promotion: ${plan.reason}`] : []), ...fenceKept],
    ...(obs.own.database.ok ? (obs.own.database.value ? { database: obs.own.database.value } : {}) : { databaseProblem: obs.own.database.problem }),
    ...(state.walReceiverNotStreamingSince ? { walReceiverNotStreamingSince: state.walReceiverNotStreamingSince.toISOString() } : {}),
    ...(state.promotionWithheldSince && promotionWithheld ? { promotionWithheldSince: state.promotionWithheldSince.toISOString(), promotionWithheldReason: plan.reason } : {}),
    ...(fenceLiftFailed ? { fenceLiftFailed } : {}),
    actions,
    actionFailures,
    history: [...state.history],
    jobs: jobsStatus(deps, state, now),
    ...(state.running ? { running: state.running.key } : {}),
  };
  state.lastStatus = status;
  deps.log({ event: "tick", site: status.site, verdict: status.verdict, backupsMayRun: status.backupsMayRun, peerUnreachable: status.peerUnreachable, inconsistent: status.inconsistent, reasons: status.reasons, running: status.running });
  await writeStatusSafely(deps, status);
  return { status, decision, ...(job ? { job } : {}) };
}

function startJob(deps: AgentDeps, state: AgentState, job: AgentJob, slot: Date, epoch: number): Promise<void> {
  const startedAt = deps.now();
  state.jobs[job.key] = { slot: slot.toISOString(), startedAt: startedAt.toISOString(), outcome: "running" };
  deps.log({ event: "job-started", job: job.key, slot: slot.toISOString(), epoch });
  const done = (async () => {
    let record: JobRecord;
    try {
      const detail = await deps.runJob(job, slot, epoch);
      record = { slot: slot.toISOString(), startedAt: startedAt.toISOString(), endedAt: deps.now().toISOString(), outcome: "succeeded", detail };
      deps.log({ event: "job-succeeded", job: job.key, slot: slot.toISOString(), detail });
    } catch (err) {
      record = { slot: slot.toISOString(), startedAt: startedAt.toISOString(), endedAt: deps.now().toISOString(), outcome: "failed", detail: errorMessage(err) };
      deps.log({ event: "job-failed", job: job.key, slot: slot.toISOString(), error: errorMessage(err) });
    }
    state.jobs[job.key] = record;
    state.running = undefined;
    if (state.lastStatus) {
      const ended: AgentStatus = { ...state.lastStatus, jobs: jobsStatus(deps, state, deps.now()) };
      delete ended.running;
      state.lastStatus = ended;
      await writeStatusSafely(deps, state.lastStatus);
    }
  })();
  state.running = { key: job.key, done };
  return done;
}

/** The status of a tick that failed before it could decide: recorded, so `--health` says why. */
export function errorStatus(deps: AgentDeps, state: AgentState, err: unknown): AgentStatus {
  return {
    format: STATUS_FORMAT,
    site: deps.config.site,
    checkedAt: deps.now().toISOString(),
    watchingSince: state.watchingSince.toISOString(),
    intervalSeconds: deps.config.intervalSeconds,
    verdict: "error",
    backupsMayRun: false,
    backupsScheduled: deps.config.backupsScheduled,
    peerUnreachable: false,
    inconsistent: false,
    reasons: [],
    actions: [],
    actionFailures: [],
    history: [...state.history],
    jobs: jobsStatus(deps, state, deps.now()),
    ...(state.running ? { running: state.running.key } : {}),
    error: errorMessage(err),
  };
}

// ---------------------------------------------------------------- health

export function readStatusFile(file: string): { ok: true; status: AgentStatus } | { ok: false; problem: string } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { ok: false, problem: `no status file at ${file} (${errorMessage(err)}): the agent has not finished a tick yet, or ${AGENT_ENV.statusFile} differs between the agent and this check` };
  }
  try {
    const status = JSON.parse(text) as Partial<AgentStatus>;
    if (status.format !== STATUS_FORMAT || typeof status.checkedAt !== "string") return { ok: false, problem: `${file} is not a status file of the site agent (format ${JSON.stringify(status.format)})` };
    return { ok: true, status: status as AgentStatus };
  } catch {
    return { ok: false, problem: `${file} is not JSON` };
  }
}

/**
 * Healthy: the last tick is fresher than three guard intervals, it could
 * decide, the fencing actions it took did not fail (a fenced former writer
 * whose fence failed still takes writes), its database could be inspected, a
 * standby's WAL receiver has not been away from streaming for more than
 * three guard intervals, no slot on it has lost its WAL, no promotion has been
 * withheld for more than PROMOTION_WITHHELD_INTERVALS guard intervals, a
 * writer's fence was lifted when it was to be, and a fenced site's fence
 * holds (no database or role setting overrides it). A failed backup is not the
 * agent's health: it is logged, and the verify job reports it.
 */
export function health(file: string, now: Date, fallbackIntervalSeconds = DEFAULT_GUARD_INTERVAL_SECONDS): { ok: boolean; message: string } {
  const read = readStatusFile(file);
  if (!read.ok) return { ok: false, message: read.problem };
  const status = read.status;
  const interval = Number.isInteger(status.intervalSeconds) && status.intervalSeconds > 0 ? status.intervalSeconds : fallbackIntervalSeconds;
  const age = (now.getTime() - new Date(status.checkedAt).getTime()) / 1000;
  if (!(age < HEALTH_INTERVALS * interval)) {
    return { ok: false, message: `the last tick was at ${status.checkedAt}, ${Math.round(age)}s ago, more than ${HEALTH_INTERVALS} guard intervals (${HEALTH_INTERVALS * interval}s): the agent's loop is stuck or stopped` };
  }
  if (status.verdict === "error") return { ok: false, message: `the last tick failed: ${status.error ?? "no reason recorded"}` };
  if (status.actionFailures.length > 0) return { ok: false, message: `fencing actions failed: ${status.actionFailures.join("; ")}` };
  if (status.databaseProblem !== undefined) return { ok: false, message: `the database cannot be inspected: ${status.databaseProblem}` };
  if (status.walReceiverNotStreamingSince !== undefined) {
    const down = (now.getTime() - new Date(status.walReceiverNotStreamingSince).getTime()) / 1000;
    if (!(down <= HEALTH_INTERVALS * interval)) {
      return { ok: false, message: `the standby's WAL receiver has not been streaming since ${status.walReceiverNotStreamingSince} (now ${status.database?.walReceiver?.status ?? "unknown"}), more than ${HEALTH_INTERVALS} guard intervals (${HEALTH_INTERVALS * interval}s): it does not follow its upstream` };
    }
  }
  if (status.promotionWithheldSince !== undefined) {
    const withheld = (now.getTime() - new Date(status.promotionWithheldSince).getTime()) / 1000;
    if (!(withheld <= PROMOTION_WITHHELD_INTERVALS * interval)) {
      return {
        ok: false,
        message: `this site's claim makes it the writer, but its promotion has been withheld since ${status.promotionWithheldSince}, more than ${PROMOTION_WITHHELD_INTERVALS} guard intervals (${PROMOTION_WITHHELD_INTERVALS * interval}s): ${status.promotionWithheldReason ?? "no reason recorded"}. A switch-over waits for the peer's agent to fence its database and write fenced-wal.json, and for this standby to replay up to it (README, "Failback on Docker", step 2): run \`pulumi up\` on the peer's stack first and check its agent; if the peer's data centre is lost, this standby promotes on its own once its WAL receiver has been down for ${PROMOTE_AFTER_DOWN_INTERVALS} guard intervals`,
      };
    }
  }
  if (status.fenceLiftFailed !== undefined) {
    return { ok: false, message: `${status.fenceLiftFailed}: the application cannot write. Check the agent's log and the database (ALTER SYSTEM RESET default_transaction_read_only needs the superuser); README, "Failback on Docker"` };
  }
  const database = status.database;
  if (status.verdict === "fenced" && database !== undefined && database.replicaOf === undefined && (database.fenced !== true || (database.readOnlyOverrides ?? []).length > 0)) {
    return {
      ok: false,
      message: `this site is fenced but its database's fence does not hold${(database.readOnlyOverrides ?? []).length > 0 ? `: database or role settings override it for new sessions (${database.readOnlyOverrides!.join("; ")})` : ""}; the next tick fences again, and the application may write until it does`,
    };
  }
  const lost = (status.database?.slots ?? []).filter((slot) => slot.walStatus === "lost");
  if (lost.length > 0) {
    return { ok: false, message: `replication slot(s) ${lost.map((slot) => slot.slotName).join(", ")} lost the WAL their standby needs (wal_status lost, max_slot_wal_keep_size): that standby must be rebuilt` };
  }
  return { ok: true, message: `${status.site}: ${status.verdict}${status.backupsMayRun ? "" : " (backups refused)"} at ${status.checkedAt}; ${status.reasons.join("; ")}` };
}

// ---------------------------------------------------------------- the process

function writeStatusFile(file: string, status: AgentStatus): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(status, null, 2));
  renameSync(tmp, file);
}

function fencingLocation(loc: FencingLocation, label: { bucket: string; endpoint: string; credentials: string }, region: string): FencingBucket {
  return fencingBucket({ bucket: loc.bucket, region, endpoint: loc.endpoint, credentials: { accessKeyId: loc.accessKeyId, secretAccessKey: loc.secretAccessKey }, label });
}

/** Bounds on the agent's own database calls: a database that stops answering must not stall the guard. */
const DATABASE_QUERY_MS = 10_000;
/** How long a promotion may take before the tick moves on (pg_promote's own default is 60 s); the next tick retries. */
const PROMOTE_WAIT_SECONDS = 60;

/** lambdas/site/database.ts over one short-lived superuser connection per call. */
export function siteDatabase(adminUrl: string, appRole: string): SiteDatabase {
  const withClient = async <T>(queryMs: number, fn: (client: Awaited<ReturnType<typeof connectSiteDatabase>>) => Promise<T>): Promise<T> => {
    const client = await connectSiteDatabase(adminUrl, { queryMs });
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return {
    inspect: async (identifier) => {
      try {
        const inspection = await withClient(DATABASE_QUERY_MS, (c) => inspectDatabase(c, { appRole }));
        const value: SiteDatabaseState = { ...databaseState(identifier, inspection), fenced: inspection.fenced, slots: inspection.slots };
        if (inspection.walReceiver) value.walReceiver = inspection.walReceiver;
        if (inspection.readOnlyOverrides) value.readOnlyOverrides = inspection.readOnlyOverrides;
        return { ok: true, value };
      } catch (err) {
        return { ok: false, problem: errorMessage(err) };
      }
    },
    promote: async () => (await withClient((PROMOTE_WAIT_SECONDS + 10) * 1000, (c) => promoteDatabase(c, { waitSeconds: PROMOTE_WAIT_SECONDS }))) === "promoted",
    fence: async () => withClient(DATABASE_QUERY_MS * 3, (c) => fenceDatabase(c, appRole)),
    unfence: async () => withClient(DATABASE_QUERY_MS * 2, (c) => unfenceDatabase(c, appRole)),
    replayProgress: async (walPosition) => withClient(DATABASE_QUERY_MS, (c) => replayProgress(c, walPosition)),
    identity: async () => withClient(DATABASE_QUERY_MS, (c) => serverIdentity(c)),
  };
}

/** The real dependencies: MinIO for the claims, PostgreSQL for the database, the drstack-backup jobs. */
export function agentDeps(config: AgentConfig, env: NodeJS.ProcessEnv, log: (entry: LogEntry) => void): AgentDeps {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1";
  const own = fencingLocation(config.own, { bucket: AGENT_ENV.fencingBucket, endpoint: AGENT_ENV.storageEndpoint, credentials: `${AGENT_ENV.storageAccessKeyId} and ${AGENT_ENV.storageSecretAccessKey}` }, region);
  const peer = fencingLocation(config.peer, { bucket: AGENT_ENV.peerFencingBucket, endpoint: AGENT_ENV.peerStorageEndpoint, credentials: `${AGENT_ENV.peerStorageAccessKeyId} and ${AGENT_ENV.peerStorageSecretAccessKey}` }, region);
  const deps: AgentDeps = {
    config,
    now: () => new Date(),
    readOwn: () => readFencingObjects(own),
    readPeer: () => readFencingObjects(peer),
    writeMarker: (marker) => writeFenceMarkerObject(own, marker),
    readOwnFencedWal: () => readFencedWal(own),
    readPeerFencedWal: () => readFencedWal(peer),
    writeFencedWal: (record) => writeFencedWalObject(own, record),
    database: siteDatabase(config.databaseAdminUrl, config.appRole),
    runJob: (job, slot, epoch) => runAgentJob(deps, env, job, slot, epoch, log),
    writeStatus: async (status) => writeStatusFile(config.statusFile, status),
    log,
  };
  return deps;
}

/** One job, with its options built from the environment the way the CLI builds them. */
export async function runAgentJob(deps: AgentDeps, env: NodeJS.ProcessEnv, job: AgentJob, slot: Date, epoch: number, log: (entry: LogEntry) => void): Promise<string> {
  const jobLog = (message: string) => log({ event: "job-log", job: job.key, message });
  const site = deps.config.site;
  if (job.kind === "backup") {
    const opts = await backupOptions(backupSettings(env, site, job, slot, epoch), jobLog);
    const result = await runBackup({ ...opts, writer: agentWriterCheck(deps), log: jobLog });
    return `${result.outcome}: ${result.manifest.dumpKey} (epoch ${result.manifest.epoch}, pointer ${result.published})`;
  }
  if (job.kind === "verify") {
    const report = await runVerify({ ...verifyOptions(verifySettings(env, site)), log: jobLog });
    const failures = report.targets.flatMap((t) => t.failures.map((f) => `${t.database}: ${f}`));
    if (!report.ok) throw new Error(`verification failed: ${failures.join("; ")}`);
    return `verified ${report.targets.map((t) => `${t.database} (${t.dumpKey ?? "no dump"}, replica ${t.replica ?? "not-checked"})`).join(", ")}`;
  }
  const opts = drillOptions(drillSettings(env, site, job));
  const scratch = opts.scratchServer ? undefined : scratchServers({ pgBinDir: opts.pgBinDir, mysqlBinDir: opts.mysqlBinDir, log: jobLog });
  try {
    const scratchServer = opts.scratchServer ?? (await scratch!.serverFor(await engineToDrill(opts)));
    const result = await runDrill({ ...opts, scratchServer, log: jobLog });
    if (!result.ok) throw new Error(`drill failed: ${result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join("; ")} (report ${result.reportKey})`);
    return `drill passed in ${result.durationSeconds ?? "?"}s: ${result.reportKey}`;
  } finally {
    await scratch?.stopAll();
  }
}

function jsonLog(entry: LogEntry): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
}

async function runLoop(config: AgentConfig): Promise<void> {
  const deps = agentDeps(config, process.env, jsonLog);
  const previous = readStatusFile(config.statusFile);
  const state = initialState(previous.ok ? previous.status : undefined);
  let stopping = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  jsonLog({ event: "started", site: config.site, peerSite: config.peerSite, intervalSeconds: config.intervalSeconds, timeZone: config.timeZone, backupsScheduled: config.backupsScheduled, jobs: config.jobs.map((j) => `${j.key} ${j.schedule.expression}`) });
  while (!stopping) {
    const started = Date.now();
    try {
      await tick(deps, state);
    } catch (err) {
      jsonLog({ event: "tick-failed", error: errorMessage(err) });
      await writeStatusSafely(deps, errorStatus(deps, state, err));
    }
    const wait = Math.max(0, config.intervalSeconds * 1000 - (Date.now() - started));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  jsonLog({ event: "stopped", site: config.site, running: state.running?.key });
  // A job still running is cut off; its backup's upload stays unfinished and the next run of the same slot cleans it up.
  process.exit(0);
}

export async function main(args: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  if (args[0] === "--health") {
    const intervalText = env[AGENT_ENV.guardIntervalSeconds];
    const fallback = intervalText && Number.isInteger(Number(intervalText)) && Number(intervalText) > 0 ? Number(intervalText) : DEFAULT_GUARD_INTERVAL_SECONDS;
    const result = health(env[AGENT_ENV.statusFile]?.trim() || DEFAULT_STATUS_FILE, new Date(), fallback);
    (result.ok ? process.stdout : process.stderr).write(`drstack site agent: ${result.ok ? "healthy" : "unhealthy"}: ${result.message}\n`);
    return result.ok ? 0 : 1;
  }
  if (args.length > 0) {
    process.stderr.write(`drstack site agent: unknown argument "${args[0]}"; run it without arguments, or with --health.\n`);
    return 2;
  }
  let config: AgentConfig;
  try {
    config = await parseAgentConfig(env);
  } catch (err) {
    process.stderr.write(`drstack site agent: ${errorMessage(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  await runLoop(config);
  return undefined;
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    if (code !== undefined) process.exit(code);
  });
}
