/**
 * The site agent's view of and hold on its own PostgreSQL container: what the
 * database is (writer or standby, of which upstream, with which replicas),
 * the promotion of a standby, and the run-time fence of a former writer (its
 * application role can no longer log in, its sessions are ended; the
 * superuser and the replication role still can).
 *
 * `databaseState` maps an inspection onto the RDS-shaped `DatabaseState`
 * that `decide()` in lambdas/core/fencing.ts takes, so one decision serves
 * both kinds of site.
 */
import { escapeIdentifier, type Client, type ClientBase } from "pg";
import type { DatabaseState } from "../core/fencing";
import { UsageError } from "../core/errors";
import { connect } from "../core/postgres";

/** The agent's superuser URL (postgres://...?sslmode=verify-full&sslrootcert=/drstack/tls/ca.crt). */
export const ADMIN_URL_VARIABLE = "DRSTACK_DATABASE_ADMIN_URL";

export interface ReplicaInspection {
  /** application_name of the walsender's client: the standby's application_name in its primary_conninfo. */
  applicationName: string;
  /** startup, catchup, streaming, backup, stopping. */
  state: string;
  /** Bytes of WAL the replica has not replayed yet; null before it reported any. */
  replayLagBytes: number | null;
}

export interface DatabaseInspection {
  inRecovery: boolean;
  /** The host a standby streams from (or, while it is not connected, the one its primary_conninfo names). */
  upstreamHost?: string;
  replicas: ReplicaInspection[];
  /** Whether the application role may log in; only when a role was asked about. */
  appLoginAllowed?: boolean;
}

/** Opens the agent's superuser connection, with the setting's name in every error. */
export function connectSiteDatabase(url: string, timeouts: { queryMs?: number } = {}): Promise<Client> {
  return connect({ url, label: ADMIN_URL_VARIABLE }, timeouts);
}

/**
 * The host in a libpq key=value conninfo (primary_conninfo), or undefined.
 * Values may be single-quoted with backslash escapes, as pg_basebackup -R writes them.
 */
export function conninfoHost(conninfo: string): string | undefined {
  const re = /(?:^|\s)(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']+)/g;
  let host: string | undefined;
  let hostaddr: string | undefined;
  for (const m of conninfo.matchAll(re)) {
    const raw = m[2];
    const value = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
    if (m[1] === "host") host = value;
    else if (m[1] === "hostaddr") hostaddr = value;
  }
  return host || hostaddr || undefined;
}

export async function inspectDatabase(client: ClientBase, opts: { appRole?: string } = {}): Promise<DatabaseInspection> {
  const recovery = await client.query<{ in_recovery: boolean }>("SELECT pg_is_in_recovery() AS in_recovery");
  const inRecovery = recovery.rows[0].in_recovery;
  let upstreamHost: string | undefined;
  if (inRecovery) {
    const receiver = await client.query<{ sender_host: string | null }>("SELECT sender_host FROM pg_stat_wal_receiver");
    upstreamHost = receiver.rows[0]?.sender_host ?? undefined;
    if (!upstreamHost) {
      // Not streaming right now (the upstream is down: the moment a failover is decided); the configured upstream still says what it follows.
      const setting = await client.query<{ conninfo: string }>("SELECT current_setting('primary_conninfo') AS conninfo");
      upstreamHost = conninfoHost(setting.rows[0].conninfo);
    }
  }
  // A cascading standby has walsenders too; in recovery its own position is the WAL it received.
  const replicas = await client.query<{ application_name: string; state: string; lag: string | null }>(`
    SELECT application_name, state,
           pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, replay_lsn)::text AS lag
      FROM pg_stat_replication
     ORDER BY application_name, pid`);
  const inspection: DatabaseInspection = {
    inRecovery,
    replicas: replicas.rows.map((r) => ({ applicationName: r.application_name, state: r.state, replayLagBytes: r.lag === null ? null : Number(r.lag) })),
  };
  if (upstreamHost !== undefined) inspection.upstreamHost = upstreamHost;
  if (opts.appRole !== undefined) {
    const role = await client.query<{ rolcanlogin: boolean }>("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [checkRoleName(opts.appRole)]);
    if (role.rows.length === 0) throw new UsageError(`The application role "${opts.appRole}" does not exist on this database; check DRSTACK_APP_ROLE.`);
    inspection.appLoginAllowed = role.rows[0].rolcanlogin;
  }
  return inspection;
}

/** Why a database that is in recovery without a known upstream still counts as a replica in `databaseState`. */
export const UNKNOWN_UPSTREAM = "(in recovery, no upstream configured)";

/**
 * A docker site's database as `decide()` sees it: a container that answers
 * is available; one in recovery is a replica of its upstream, whether or not
 * it is connected to it right now.
 */
export function databaseState(identifier: string, inspection: DatabaseInspection): DatabaseState {
  const state: DatabaseState = { identifier, status: "available", readReplicas: inspection.replicas.map((r) => r.applicationName) };
  if (inspection.inRecovery) state.replicaOf = inspection.upstreamHost ?? UNKNOWN_UPSTREAM;
  return state;
}

export const MAX_PROMOTE_WAIT_SECONDS = 3600;

export function checkWaitSeconds(waitSeconds: number): number {
  if (!Number.isInteger(waitSeconds) || waitSeconds < 1 || waitSeconds > MAX_PROMOTE_WAIT_SECONDS) {
    throw new UsageError(`promoteDatabase: waitSeconds is ${waitSeconds}; give a whole number of seconds from 1 to ${MAX_PROMOTE_WAIT_SECONDS}.`);
  }
  return waitSeconds;
}

/** PostgreSQL's identifier limit (NAMEDATALEN - 1); a longer name would be silently truncated and name another role. */
const MAX_ROLE_NAME_BYTES = 63;

export function checkRoleName(role: string): string {
  if (role.length === 0) throw new UsageError("The application role name is empty; set DRSTACK_APP_ROLE to the application's login role.");
  if (Buffer.byteLength(role, "utf8") > MAX_ROLE_NAME_BYTES) {
    throw new UsageError(`The application role "${role}" is longer than PostgreSQL's ${MAX_ROLE_NAME_BYTES} bytes; check DRSTACK_APP_ROLE.`);
  }
  return role;
}

/**
 * Ends recovery: the standby becomes a writer on its own timeline. Safe to
 * repeat: a writer (promoted earlier, or by another promoter between the
 * check and the call) is reported as such.
 */
export async function promoteDatabase(client: ClientBase, opts: { waitSeconds: number }): Promise<"promoted" | "already-writer"> {
  const wait = checkWaitSeconds(opts.waitSeconds);
  const recovery = await client.query<{ in_recovery: boolean }>("SELECT pg_is_in_recovery() AS in_recovery");
  if (!recovery.rows[0].in_recovery) return "already-writer";
  let promoted: boolean;
  try {
    const r = await client.query<{ promoted: boolean }>("SELECT pg_promote(true, $1) AS promoted", [wait]);
    promoted = r.rows[0].promoted;
  } catch (err) {
    // 55000: "recovery is not in progress", another promotion finished first.
    if ((err as { code?: string }).code === "55000") return "already-writer";
    throw err;
  }
  if (!promoted) {
    throw new Error(`The database did not finish promoting within ${wait} s (pg_promote returned false); it may still be promoting. Check its log; promoting again is safe.`);
  }
  return "promoted";
}

export interface FenceResult {
  /** Sessions of the role that were ended by this call. */
  terminated: number;
  /** The role had no LOGIN already (an earlier fence). */
  alreadyFenced: boolean;
}

/**
 * The run-time fence of a former writer that came back: its application role
 * loses LOGIN (first, so no new session can replace an ended one) and every
 * session of it is ended. Repeating it ends sessions that slipped in and
 * changes nothing else. A superuser role is refused: the agent would lock
 * itself out.
 */
export async function fenceDatabase(client: ClientBase, appRole: string): Promise<FenceResult> {
  checkRoleName(appRole);
  const role = await client.query<{ rolcanlogin: boolean; rolsuper: boolean; in_recovery: boolean }>(
    "SELECT rolcanlogin, rolsuper, pg_is_in_recovery() AS in_recovery FROM pg_roles WHERE rolname = $1",
    [appRole],
  );
  if (role.rows.length === 0) throw new UsageError(`Cannot fence: the application role "${appRole}" does not exist on this database; check DRSTACK_APP_ROLE.`);
  const { rolcanlogin, rolsuper, in_recovery } = role.rows[0];
  if (rolsuper) throw new UsageError(`Cannot fence with role "${appRole}": it is a superuser, and the agent would lock itself out; set DRSTACK_APP_ROLE to the application's own role.`);
  if (in_recovery) {
    throw new UsageError(`Cannot fence role "${appRole}" on a standby (the database is in recovery): it takes no writes, and its roles follow its upstream's. Fence the writer.`);
  }
  if (rolcanlogin) await client.query(`ALTER ROLE ${escapeIdentifier(appRole)} NOLOGIN`);
  const ended = await client.query<{ terminated: string }>(
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text AS terminated FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
    [appRole],
  );
  return { terminated: Number(ended.rows[0].terminated), alreadyFenced: !rolcanlogin };
}
