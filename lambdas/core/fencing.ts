/**
 * Fencing at run time: the decisions, as pure functions, that keep a site
 * which is not the writer from taking writes or publishing backups even when
 * nobody has run `pulumi up` on it (a region that comes back by itself runs
 * its last deployed state).
 *
 * The protocol, per site and in the site's own region:
 * - the claim (SSM parameter, written by the site's stack after its database
 *   change succeeded): site, activeSite, role, database mode and identifier,
 *   and the writer epoch, which grows at every change of writer;
 * - the fence marker (SSM parameter, written only by the site's guard): the
 *   site was superseded by the peer's writer at a higher epoch. It is sticky:
 *   it holds until the site's own claim reaches a higher epoch than the one
 *   that fenced it (a failback), whatever the peer looks like later;
 * - the guard (a function outside the VPC, on a schedule) reads both sites'
 *   claims and markers and the peer's database, and `decide()`s; the backup
 *   job asks it before it dumps and before it completes the dump.
 *
 * The failover model in tests/unit/failoverModel.test.ts drives these same
 * functions.
 */
import type { GetScheduleCommandOutput, UpdateScheduleCommandInput } from "@aws-sdk/client-scheduler";

export const WRITER_CLAIM_FORMAT = "drstack.writer-claim/v1";
export const FENCE_MARKER_FORMAT = "drstack.fence-marker/v1";

export type DatabaseMode = "writer" | "replica" | "fenced";

/** What a stack declares about its site; `infra/sitePlan.ts` (`writerClaim`) writes the same shape. */
export interface WriterClaim {
  format: typeof WRITER_CLAIM_FORMAT;
  site: string;
  activeSite: string;
  role: "active" | "standby";
  databaseMode: DatabaseMode;
  databaseIdentifier: string;
  epoch: number;
}

/** Written by a site's guard when the peer's writer superseded this site's. */
export interface FenceMarker {
  format: typeof FENCE_MARKER_FORMAT;
  site: string;
  /** This site's claimed epoch when it was fenced. */
  fencedEpoch: number;
  peerSite: string;
  /** The peer's epoch that superseded it; the marker holds while this site's claim is below it. */
  peerEpoch: number;
  fencedAt: string;
  reason: string;
}

/** A read that may have failed; `value` undefined means it succeeded and found nothing. */
export type Lookup<T> = { ok: true; value?: T } | { ok: false; problem: string };

/** An RDS DB instance as DescribeDBInstances reports it, reduced to what fencing needs. */
export interface DatabaseState {
  identifier: string;
  /** DBInstanceStatus: available, stopped, stopping, starting, modifying, backing-up, ... */
  status: string;
  /** ReadReplicaSourceDBInstanceIdentifier: set when the instance is a read replica. */
  replicaOf?: string;
  /** ReadReplicaDBInstanceIdentifiers: its own read replicas. */
  readReplicas: string[];
}

export interface SiteObservation {
  claim: Lookup<WriterClaim>;
  marker: Lookup<FenceMarker>;
  /** The database its claim names. */
  database: Lookup<DatabaseState>;
}

export interface GuardObservation {
  own: SiteObservation;
  /** Read in the peer's region; a failed claim read means the peer is unreachable. */
  peer: SiteObservation;
}

/**
 * - `writer`: this site claims the writer and nothing shows a newer one;
 * - `fenced`: this site claimed the writer but was superseded (now or earlier: the marker);
 * - `standby`: this site's stack says it is not the writer;
 * - `unknown`: the guard cannot tell (its own claim unreadable, or claims that contradict each other).
 */
export type Verdict = "writer" | "fenced" | "standby" | "unknown";

export interface GuardDecision {
  site?: string;
  verdict: Verdict;
  /** Whether this site's backups may dump and publish now: only as the writer. */
  backupsMayRun: boolean;
  /** A new fence: write this marker (before anything else, so backups see it first). */
  writeMarker?: FenceMarker;
  /** Disable this site's backup schedules (fenced sites only; on a standby its stack already did). */
  disableSchedules: boolean;
  /** Stop this DB instance: a fenced writer, or a standby's former writer, that is still running. */
  stopDatabase?: string;
  /** Why a stop the guard wants cannot be made now; the next run retries. */
  stopDeferred?: string;
  peerUnreachable: boolean;
  /** The claims contradict each other, or say nobody is the writer: a person should look. */
  inconsistent: boolean;
  reasons: string[];
}

export function parseWriterClaim(text: string): WriterClaim {
  const value = parseObject(text, "writer claim");
  const claim = value as Partial<WriterClaim>;
  const problems: string[] = [];
  if (claim.format !== WRITER_CLAIM_FORMAT) problems.push(`format is ${JSON.stringify(claim.format)}, expected "${WRITER_CLAIM_FORMAT}"`);
  for (const field of ["site", "activeSite", "databaseIdentifier"] as const) {
    if (typeof claim[field] !== "string" || claim[field] === "") problems.push(`${field} is missing`);
  }
  if (claim.role !== "active" && claim.role !== "standby") problems.push(`role ${JSON.stringify(claim.role)} is neither active nor standby`);
  if (!["writer", "replica", "fenced"].includes(String(claim.databaseMode))) problems.push(`databaseMode ${JSON.stringify(claim.databaseMode)} is not writer, replica or fenced`);
  if (!Number.isInteger(claim.epoch) || (claim.epoch as number) < 0) problems.push(`epoch ${JSON.stringify(claim.epoch)} is not a whole number`);
  if (problems.length > 0) throw new Error(`malformed writer claim: ${problems.join("; ")}`);
  return claim as WriterClaim;
}

export function parseFenceMarker(text: string): FenceMarker {
  const marker = parseObject(text, "fence marker") as Partial<FenceMarker>;
  if (marker.format !== FENCE_MARKER_FORMAT || !Number.isInteger(marker.peerEpoch) || !Number.isInteger(marker.fencedEpoch) || typeof marker.site !== "string") {
    throw new Error(`malformed fence marker (format ${JSON.stringify(marker.format)}, peerEpoch ${JSON.stringify(marker.peerEpoch)})`);
  }
  return marker as FenceMarker;
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`malformed ${what}: not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`malformed ${what}: not a JSON object`);
  return value as Record<string, unknown>;
}

/** A site claims the writer when its stack made it active and its database a writer (a promotion succeeded). */
export function claimsWriter(claim: WriterClaim): boolean {
  return claim.role === "active" && claim.databaseMode === "writer";
}

/** The marker fences the site until its own claim reaches an epoch above the one that superseded it. */
export function markerHolds(marker: FenceMarker | undefined, claim: WriterClaim): boolean {
  return marker !== undefined && marker.peerEpoch > claim.epoch;
}

/**
 * Whether, and why not, the guard can stop a database now. RDS stops only an
 * `available` instance, never a read replica, and never an instance that has
 * read replicas; a stopped instance starts again by itself after seven days,
 * which the next run sees as `available` and stops again
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html,
 * Limitations). Multi-AZ PostgreSQL instances can be stopped (only SQL
 * Server's cannot).
 */
export function stopPlan(identifier: string, database: Lookup<DatabaseState>): { stop?: string; deferred?: string } {
  if (!database.ok) return { deferred: `could not describe ${identifier}: ${database.problem}` };
  const db = database.value;
  if (db === undefined) return { deferred: `${identifier} was not found` };
  if (db.replicaOf !== undefined) return {};
  if (db.status === "stopped" || db.status === "stopping") return {};
  if (db.readReplicas.length > 0) {
    return { deferred: `${identifier} has read replicas (${db.readReplicas.join(", ")}), and RDS stops no instance that has; it stays writable until they are promoted or deleted` };
  }
  if (db.status !== "available") return { deferred: `${identifier} is ${db.status}; RDS stops only available instances, the next run retries` };
  return { stop: identifier };
}

function stopFields(identifier: string, database: Lookup<DatabaseState>): Pick<GuardDecision, "stopDatabase" | "stopDeferred"> {
  const plan = stopPlan(identifier, database);
  return { ...(plan.stop ? { stopDatabase: plan.stop } : {}), ...(plan.deferred ? { stopDeferred: plan.deferred } : {}) };
}

/**
 * The site's database contradicts its own claim when a failover `up` stopped
 * halfway: RDS promoted the replica (it is standalone and takes writes) but
 * the modification after it failed, so the claim, written only after the
 * database change, still says replica. Nothing fences a standalone instance
 * its claim calls a replica, so the guard alarms instead of staying silent.
 * The reverse (a writer claim on a database that is still a replica) cannot
 * take writes but cannot back up either.
 */
export function ownDatabaseContradiction(claim: WriterClaim, database: Lookup<DatabaseState>): string | undefined {
  if (!database.ok || database.value === undefined) return undefined;
  const db = database.value;
  if (claim.databaseMode === "replica" && db.replicaOf === undefined) {
    return (
      `this site's database ${db.identifier} is a standalone instance while its claim says replica: a promotion ran but the \`up\` that records it did not finish ` +
      `(a partial failover), so it may take writes beside the writer; finish the failover \`up\` (README, Failover) or, if the failover was not meant, rebuild this site's replica (README, Failback, step 1)`
    );
  }
  if (claim.databaseMode === "writer" && db.replicaOf !== undefined) {
    return `this site claims the writer but its database ${db.identifier} is still a replica of ${db.replicaOf}: the promotion has not happened; no backups until it has`;
  }
  return undefined;
}

/** The guard's decision from what it observed. */
export function decide(observation: GuardObservation, now: Date): GuardDecision {
  const { own, peer } = observation;
  const peerUnreachable = !peer.claim.ok;
  const base = { disableSchedules: false, peerUnreachable, inconsistent: false };
  const reasons: string[] = [];
  if (!peer.claim.ok) reasons.push(`the peer's claim could not be read (${peer.claim.problem})`);

  if (!own.claim.ok || own.claim.value === undefined) {
    reasons.unshift(own.claim.ok ? "this site has no claim: its stack has not been `up`ed with fencing yet" : `this site's claim could not be read (${own.claim.problem})`);
    return { ...base, verdict: "unknown", backupsMayRun: false, inconsistent: true, reasons };
  }
  const claim = own.claim.value;
  if (!own.marker.ok) {
    reasons.unshift(`this site's fence marker could not be read (${own.marker.problem}), so it cannot tell whether it was fenced`);
    return { ...base, site: claim.site, verdict: "unknown", backupsMayRun: false, inconsistent: true, reasons };
  }
  const marker = own.marker.value;

  if (markerHolds(marker, claim)) {
    reasons.unshift(`fenced since ${marker!.fencedAt}: ${marker!.peerSite}'s writer at epoch ${marker!.peerEpoch} superseded this site's epoch ${claim.epoch}`);
    return { ...base, site: claim.site, verdict: "fenced", backupsMayRun: false, disableSchedules: true, ...stopFields(claim.databaseIdentifier, own.database), reasons };
  }

  const contradiction = ownDatabaseContradiction(claim, own.database);
  if (contradiction !== undefined) reasons.push(contradiction);

  if (!claimsWriter(claim)) {
    // The stack already made this site a standby; a former writer must stop taking writes too.
    reasons.unshift(`this site is ${claim.role} with a ${claim.databaseMode} database (epoch ${claim.epoch})`);
    const stop = claim.databaseMode === "fenced" ? stopFields(claim.databaseIdentifier, own.database) : {};
    let inconsistent = contradiction !== undefined;
    if (peer.claim.ok) {
      const peerClaim = peer.claim.value;
      if (peerClaim === undefined) {
        inconsistent = true;
        reasons.push("the peer has no claim, so no site claims the writer");
      } else if (!claimsWriter(peerClaim)) {
        inconsistent = true;
        reasons.push(`neither site claims the writer (the peer is ${peerClaim.role} with a ${peerClaim.databaseMode} database)`);
      } else if (peerClaim.epoch !== claim.epoch) {
        inconsistent = true;
        reasons.push(`the stacks disagree on the writer epoch (this site's ${claim.epoch}, the peer's ${peerClaim.epoch}): their activeSite or database generations differ`);
      }
    }
    return { ...base, site: claim.site, verdict: "standby", backupsMayRun: false, inconsistent, ...stop, reasons };
  }

  // This site claims the writer.
  if (contradiction !== undefined) {
    return { ...base, site: claim.site, verdict: "unknown", backupsMayRun: false, inconsistent: true, reasons };
  }
  if (!peer.claim.ok) {
    reasons.push(
      `it cannot tell whether the peer was promoted, so it does not fence; backups continue here (the peer may be the lost region), under this site's own pointer at epoch ${claim.epoch}`,
    );
    return { ...base, site: claim.site, verdict: "writer", backupsMayRun: true, reasons };
  }
  const peerClaim = peer.claim.value;
  if (peerClaim === undefined) {
    reasons.push("the peer has no claim: its stack has not been `up`ed with fencing yet");
    return { ...base, site: claim.site, verdict: "writer", backupsMayRun: true, inconsistent: true, reasons };
  }
  const peerFenced = peer.marker.ok && markerHolds(peer.marker.value, peerClaim);
  if (!claimsWriter(peerClaim)) {
    const epochsDiffer = peerClaim.epoch !== claim.epoch && !peerFenced;
    if (epochsDiffer) reasons.push(`the stacks disagree on the writer epoch (this site's ${claim.epoch}, the peer's ${peerClaim.epoch}): their activeSite or database generations differ`);
    // A partial failover on the peer: its promoted database may be taking writes (health-checked DNS
    // may already send users there) while its claim still says replica. This site keeps writing; a person decides.
    const peerContradiction = ownDatabaseContradiction(peerClaim, peer.database);
    if (peerContradiction !== undefined) reasons.push(`the peer: ${peerContradiction.replace(/^this site's/, "its")}`);
    return { ...base, site: claim.site, verdict: "writer", backupsMayRun: true, inconsistent: epochsDiffer || peerContradiction !== undefined, reasons };
  }
  if (peerClaim.epoch < claim.epoch) {
    if (!peerFenced) reasons.push(`the peer still claims the writer at epoch ${peerClaim.epoch}, below this site's ${claim.epoch}: its guard fences it at its next run`);
    return { ...base, site: claim.site, verdict: "writer", backupsMayRun: true, inconsistent: !peerFenced, reasons };
  }
  if (peerClaim.epoch === claim.epoch) {
    reasons.push(`both sites claim the writer at epoch ${claim.epoch}, which consistent stacks never do; nobody fences, nobody backs up`);
    return { ...base, site: claim.site, verdict: "unknown", backupsMayRun: false, inconsistent: true, reasons };
  }
  // The peer claims a newer writer: fence only if its database backs the claim up (a promoted, standalone
  // instance; stopped by someone or not, it holds the newer data) and it has not been fenced itself.
  const peerDb = peer.database;
  const peerDbProblem = !peerDb.ok
    ? `its database ${peerClaim.databaseIdentifier} could not be described (${peerDb.problem})`
    : peerDb.value === undefined
      ? `its database ${peerClaim.databaseIdentifier} does not exist`
      : peerDb.value.replicaOf !== undefined
        ? `its database ${peerClaim.databaseIdentifier} is still a replica of ${peerDb.value.replicaOf}`
        : peerFenced
          ? "it is fenced itself"
          : undefined;
  if (peerDbProblem !== undefined) {
    reasons.push(`the peer claims a newer writer (epoch ${peerClaim.epoch} > ${claim.epoch}) but ${peerDbProblem}; this site neither fences nor backs up until that is resolved`);
    return { ...base, site: claim.site, verdict: "unknown", backupsMayRun: false, inconsistent: true, reasons };
  }
  const reason = `${peerClaim.site}'s writer at epoch ${peerClaim.epoch} (${peerClaim.databaseIdentifier}, a standalone instance) supersedes this site's epoch ${claim.epoch}`;
  reasons.unshift(`fencing: ${reason}`);
  return {
    ...base,
    site: claim.site,
    verdict: "fenced",
    backupsMayRun: false,
    writeMarker: {
      format: FENCE_MARKER_FORMAT,
      site: claim.site,
      fencedEpoch: claim.epoch,
      peerSite: peerClaim.site,
      peerEpoch: peerClaim.epoch,
      fencedAt: now.toISOString(),
      reason,
    },
    disableSchedules: true,
    ...stopFields(claim.databaseIdentifier, own.database),
    reasons,
  };
}

export type GateResult =
  | { ok: true; site: string; epoch: number }
  /** `refused`: this site is not the writer (the fencing working); otherwise the check itself could not be made. */
  | { ok: false; refused: boolean; reason: string };

/**
 * May this site's backup job dump and publish now? Its own claim must say
 * writer, its fence marker must not hold, and the guard (when it has one)
 * must answer with a fresh decision that lets backups run. A guard that
 * cannot be asked stops the backup (it is in the same region: that is a local
 * failure, and it alarms); a guard that cannot reach the peer lets the writer
 * keep backing up (README, Failover: fencing).
 */
export function backupGate(input: { claim: Lookup<WriterClaim>; marker: Lookup<FenceMarker>; guard?: { ok: true; decision: GuardDecision } | { ok: false; problem: string } }): GateResult {
  if (!input.claim.ok) return { ok: false, refused: false, reason: `the site's claim could not be read: ${input.claim.problem}` };
  const claim = input.claim.value;
  if (claim === undefined) return { ok: false, refused: true, reason: "this site has no writer claim (its stack has not been `up`ed with fencing)" };
  if (!claimsWriter(claim)) return { ok: false, refused: true, reason: `its stack made it ${claim.role} with a ${claim.databaseMode} database` };
  if (!input.marker.ok) return { ok: false, refused: false, reason: `the site's fence marker could not be read: ${input.marker.problem}` };
  if (markerHolds(input.marker.value, claim)) {
    const marker = input.marker.value!;
    return { ok: false, refused: true, reason: `its guard fenced it at ${marker.fencedAt}: ${marker.reason}` };
  }
  if (input.guard !== undefined) {
    if (!input.guard.ok) return { ok: false, refused: false, reason: `the fencing guard could not be asked: ${input.guard.problem}` };
    const decision = input.guard.decision;
    if (!decision.backupsMayRun) return { ok: false, refused: true, reason: `the fencing guard says ${decision.verdict}: ${decision.reasons.join("; ")}` };
  }
  return { ok: true, site: claim.site, epoch: claim.epoch };
}

/**
 * The UpdateSchedule request that disables a schedule and changes nothing
 * else. UpdateSchedule replaces every field, and one left out is reset to its
 * default, so every field GetSchedule returned is sent back as it was
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
 * Sending it needs iam:PassRole on the target's role.
 */
export function disabledScheduleUpdate(current: GetScheduleCommandOutput): UpdateScheduleCommandInput {
  return {
    Name: current.Name,
    GroupName: current.GroupName,
    ScheduleExpression: current.ScheduleExpression,
    ScheduleExpressionTimezone: current.ScheduleExpressionTimezone,
    StartDate: current.StartDate,
    EndDate: current.EndDate,
    Description: current.Description,
    KmsKeyArn: current.KmsKeyArn,
    Target: current.Target,
    FlexibleTimeWindow: current.FlexibleTimeWindow,
    ActionAfterCompletion: current.ActionAfterCompletion,
    State: "DISABLED",
  };
}
