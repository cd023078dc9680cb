/**
 * The site agent's view of and hold on its own PostgreSQL container: what the
 * database is (writer or standby, of which upstream, with which replicas,
 * its WAL receiver and slots, whether it is fenced), the promotion of a
 * standby, and the run-time fence of a former writer and its lifting.
 *
 * The fence is `ALTER SYSTEM SET default_transaction_read_only = on` and a
 * reload (postgresql.auto.conf is a file, never WAL-logged, so it does not
 * stream to a standby and a promoted standby takes writes), the reset of any
 * database or role setting of default_transaction_read_only (ALTER DATABASE
 * or ROLE ... SET, which the application's role may make and which would
 * override the fence for every new session), then the end of every client
 * session that is not a superuser's (they reconnect read-only). What it
 * stops is the application, which opens ordinary transactions: every one is
 * read-only. It does not stop a client that explicitly asks for a read-write
 * transaction (`SET default_transaction_read_only = off`, `BEGIN READ
 * WRITE`, `SET SESSION CHARACTERISTICS`): that is a setting, not a
 * permission. The superuser (the agent) and the replication role keep
 * working.
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

export interface WalReceiverInspection {
  /** pg_stat_wal_receiver.status (streaming, starting, waiting, restarting, stopping), or "not running" when it has no row. */
  status: string;
  /** The last message from the upstream (ISO time), or null. */
  lastMsgReceiptTime: string | null;
}

export interface SlotInspection {
  slotName: string;
  active: boolean;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved, lost (null for a slot that never reserved WAL). */
  walStatus: string | null;
}

export interface DatabaseInspection {
  inRecovery: boolean;
  /** The host a standby streams from (or, while it is not connected, the one its primary_conninfo names). */
  upstreamHost?: string;
  replicas: ReplicaInspection[];
  /** Whether the application role may log in; only when a role was asked about. */
  appLoginAllowed?: boolean;
  /**
   * default_transaction_read_only is on (the fence) and no database or role
   * setting overrides it for new sessions, or the application role has no
   * LOGIN (an older drstack's fence).
   */
  fenced: boolean;
  /** Only when there are any: pg_db_role_setting entries that set default_transaction_read_only to anything but on (ALTER DATABASE/ROLE ... SET): they override the fence for every new session. */
  readOnlyOverrides?: string[];
  /** A standby's WAL receiver; only in recovery. */
  walReceiver?: WalReceiverInspection;
  /** The physical replication slots on this server (a writer's standbys' slots). */
  slots: SlotInspection[];
}

/** The standby's WAL receiver, as the agent's status file and `--health` use it. */
export const NOT_RUNNING = "not running";

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

export interface ReadOnlyOverride {
  /** ALTER DATABASE "shop" SET default_transaction_read_only = off, as it would be written. */
  description: string;
  /** The statement that removes it. */
  reset: string;
}

/**
 * The database and role settings (pg_db_role_setting: ALTER DATABASE ...
 * SET, ALTER ROLE ... SET, ALTER ROLE ... IN DATABASE ... SET) of
 * default_transaction_read_only to anything but on: a session takes them
 * over the server's setting (the fence), and the application's role, which
 * owns its database, may set them.
 */
export async function readOnlyOverrides(client: ClientBase): Promise<ReadOnlyOverride[]> {
  const r = await client.query<{ datname: string | null; rolname: string | null; value: string }>(`
    SELECT d.datname, r.rolname, substr(c.entry, length('default_transaction_read_only=') + 1) AS value
      FROM pg_db_role_setting s
      CROSS JOIN LATERAL unnest(s.setconfig) AS c(entry)
      LEFT JOIN pg_database d ON d.oid = s.setdatabase
      LEFT JOIN pg_roles r ON r.oid = s.setrole
     WHERE lower(c.entry) LIKE 'default\\_transaction\\_read\\_only=%'
       AND lower(substr(c.entry, length('default_transaction_read_only=') + 1)) <> 'on'
     ORDER BY d.datname NULLS FIRST, r.rolname NULLS FIRST`);
  return r.rows.map((row) => {
    const db = row.datname === null ? undefined : escapeIdentifier(row.datname);
    const role = row.rolname === null ? "ALL" : escapeIdentifier(row.rolname);
    const target = db !== undefined && row.rolname === null ? `DATABASE ${db}` : `ROLE ${role}${db !== undefined ? ` IN DATABASE ${db}` : ""}`;
    return { description: `ALTER ${target} SET default_transaction_read_only = ${row.value}`, reset: `ALTER ${target} RESET default_transaction_read_only` };
  });
}

export async function inspectDatabase(client: ClientBase, opts: { appRole?: string } = {}): Promise<DatabaseInspection> {
  const recovery = await client.query<{ in_recovery: boolean; read_only: string }>(
    "SELECT pg_is_in_recovery() AS in_recovery, current_setting('default_transaction_read_only') AS read_only",
  );
  const inRecovery = recovery.rows[0].in_recovery;
  let upstreamHost: string | undefined;
  let walReceiver: WalReceiverInspection | undefined;
  if (inRecovery) {
    const receiver = await client.query<{ sender_host: string | null; status: string; last_msg: string | null }>(
      "SELECT sender_host, status, to_char(last_msg_receipt_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS last_msg FROM pg_stat_wal_receiver",
    );
    const row = receiver.rows[0];
    walReceiver = row ? { status: row.status, lastMsgReceiptTime: row.last_msg } : { status: NOT_RUNNING, lastMsgReceiptTime: null };
    upstreamHost = row?.sender_host ?? undefined;
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
  const slots = await client.query<{ slot_name: string; active: boolean; wal_status: string | null }>(
    "SELECT slot_name, active, wal_status FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY slot_name",
  );
  const overrides = await readOnlyOverrides(client);
  const inspection: DatabaseInspection = {
    inRecovery,
    replicas: replicas.rows.map((r) => ({ applicationName: r.application_name, state: r.state, replayLagBytes: r.lag === null ? null : Number(r.lag) })),
    fenced: recovery.rows[0].read_only === "on" && overrides.length === 0,
    slots: slots.rows.map((r) => ({ slotName: r.slot_name, active: r.active, walStatus: r.wal_status })),
  };
  if (overrides.length > 0) inspection.readOnlyOverrides = overrides.map((o) => o.description);
  if (upstreamHost !== undefined) inspection.upstreamHost = upstreamHost;
  if (walReceiver !== undefined) inspection.walReceiver = walReceiver;
  if (opts.appRole !== undefined) {
    const role = await client.query<{ rolcanlogin: boolean }>("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [checkRoleName(opts.appRole)]);
    if (role.rows.length === 0) throw new UsageError(`The application role "${opts.appRole}" does not exist on this database; check DRSTACK_APP_ROLE.`);
    inspection.appLoginAllowed = role.rows[0].rolcanlogin;
    if (!role.rows[0].rolcanlogin) inspection.fenced = true;
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
  /** Client sessions (every role but the superusers; not replication) that were ended by this call. */
  terminated: number;
  /** default_transaction_read_only was on already (an earlier fence) and nothing overrode it. */
  alreadyFenced: boolean;
  /** Only when there were any: the database and role settings that overrode the fence and were reset by this call (ReadOnlyOverride.description). */
  overridesRemoved?: string[];
  /** pg_current_wal_insert_lsn() read after the fence took effect and the ended sessions were gone: everything any client wrote is before it. */
  walPosition: string;
}

/** How long the fence waits for its reload and for the ended sessions to go. */
const FENCE_SETTLE_MS = 10_000;

async function settle(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + FENCE_SETTLE_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`The fence did not take effect within ${FENCE_SETTLE_MS / 1000} s: ${what}. The next tick fences again.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function roleRow(client: ClientBase, appRole: string, action: string): Promise<{ rolcanlogin: boolean; in_recovery: boolean; read_only: string }> {
  checkRoleName(appRole);
  const role = await client.query<{ rolcanlogin: boolean; rolsuper: boolean; in_recovery: boolean; read_only: string }>(
    "SELECT rolcanlogin, rolsuper, pg_is_in_recovery() AS in_recovery, current_setting('default_transaction_read_only') AS read_only FROM pg_roles WHERE rolname = $1",
    [appRole],
  );
  if (role.rows.length === 0) throw new UsageError(`Cannot ${action}: the application role "${appRole}" does not exist on this database; check DRSTACK_APP_ROLE.`);
  if (role.rows[0].rolsuper) throw new UsageError(`Cannot ${action} with role "${appRole}": it is a superuser, and the agent would lock itself out; set DRSTACK_APP_ROLE to the application's own role.`);
  return role.rows[0];
}

/**
 * The run-time fence of a former writer: every transaction read-only by
 * default (ALTER SYSTEM and a reload, which do not replicate; first, so no
 * new session can write), every database or role setting that overrides it
 * reset, then every client session that is not a superuser's ended (the
 * application's and any other role's; replication keeps streaming), and the
 * WAL insert position read once they are gone. Repeating it ends sessions
 * that slipped in and changes nothing else. It stops the application, not a
 * client that explicitly asks for a read-write transaction (see the top of
 * this file). A superuser role is refused: the agent would lock itself out.
 */
export async function fenceDatabase(client: ClientBase, appRole: string): Promise<FenceResult> {
  const { in_recovery, read_only } = await roleRow(client, appRole, "fence");
  if (in_recovery) {
    throw new UsageError(`Cannot fence role "${appRole}" on a standby (the database is in recovery): it takes no writes. Fence the writer.`);
  }
  const setOn = read_only === "on";
  if (!setOn) {
    await client.query("ALTER SYSTEM SET default_transaction_read_only = on");
    await client.query("SELECT pg_reload_conf()");
    // The postmaster re-reads the files before it signals the backends, this one included: once this session sees the setting, every new session gets it.
    await settle("default_transaction_read_only is not on after pg_reload_conf()", async () => (await client.query<{ v: string }>("SELECT current_setting('default_transaction_read_only') AS v")).rows[0].v === "on");
  }
  // A database or role setting overrides the server's for every new session; the application's role, which owns its database, may set one. Reset them (it replicates, and only removes overrides).
  const overrides = await readOnlyOverrides(client);
  if (overrides.length > 0) {
    // This session is read-only by default now too: the catalog changes need an explicitly read-write transaction.
    await client.query("BEGIN READ WRITE");
    try {
      for (const override of overrides) await client.query(override.reset);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  }
  const ended = await client.query<{ terminated: string }>(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid))::text AS terminated FROM pg_stat_activity a ${CLIENT_SESSIONS}`,
  );
  await settle("client sessions are still running after pg_terminate_backend", async () =>
    (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity a ${CLIENT_SESSIONS}`)).rows[0].n === 0,
  );
  // The insert position, not the write position: WAL a session inserted but that was not written out yet is before it too.
  const lsn = await client.query<{ lsn: string }>("SELECT pg_current_wal_insert_lsn()::text AS lsn");
  return {
    terminated: Number(ended.rows[0].terminated),
    alreadyFenced: setOn && overrides.length === 0,
    ...(overrides.length > 0 ? { overridesRemoved: overrides.map((o) => o.description) } : {}),
    walPosition: lsn.rows[0].lsn,
  };
}

/** Every client session but the superusers' (the agent, this one included) and replication's (walsenders are not client backends). */
const CLIENT_SESSIONS = `LEFT JOIN pg_roles r ON r.oid = a.usesysid
 WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND NOT coalesce(r.rolsuper, false)`;

export interface UnfenceResult {
  /** default_transaction_read_only was on and is reset. */
  readWriteRestored: boolean;
  /** The application role had no LOGIN (an older drstack's fence, replicated to this server) and has it again. */
  loginRestored: boolean;
}

/**
 * Lifts the fence on a database that is (again) this stack's writer:
 * ALTER SYSTEM RESET default_transaction_read_only and a reload, and LOGIN
 * for the application role when an older drstack's fence (ALTER ROLE ...
 * NOLOGIN, which replicates) left it without. Safe to repeat.
 */
export async function unfenceDatabase(client: ClientBase, appRole: string): Promise<UnfenceResult> {
  const { rolcanlogin, in_recovery, read_only } = await roleRow(client, appRole, "unfence");
  if (in_recovery) throw new UsageError(`Cannot unfence role "${appRole}" on a standby (the database is in recovery); promote it first.`);
  const readWriteRestored = read_only === "on";
  // Reset also when the file says on but the session does not (not reloaded yet): RESET is idempotent.
  await client.query("ALTER SYSTEM RESET default_transaction_read_only");
  await client.query("SELECT pg_reload_conf()");
  await settle("default_transaction_read_only is still on after ALTER SYSTEM RESET and pg_reload_conf()", async () => (await client.query<{ v: string }>("SELECT current_setting('default_transaction_read_only') AS v")).rows[0].v === "off");
  if (!rolcanlogin) await client.query(`ALTER ROLE ${escapeIdentifier(appRole)} LOGIN`);
  return { readWriteRestored, loginRestored: !rolcanlogin };
}

export interface ServerIdentity {
  /** pg_control_system().system_identifier: a physical standby has its upstream's. */
  systemIdentifier: string;
  /** A writer's current timeline; a standby's received one (pg_stat_wal_receiver.received_tli), null while its receiver is not running. */
  timeline: number | null;
}

/** Which cluster this server is (or follows) and on which timeline it writes (or receives). */
export async function serverIdentity(client: ClientBase): Promise<ServerIdentity> {
  const r = await client.query<{ sysid: string; tli: number | null }>(`
    SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid,
           CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)
                ELSE ('x' || substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8))::bit(32)::int END AS tli`);
  const row = r.rows[0];
  return { systemIdentifier: row.sysid, timeline: row.tli === null ? null : Number(row.tli) };
}

export interface ReplayProgress {
  /** pg_last_wal_replay_lsn(), or null when the server is not a standby that replayed anything. */
  replayLsn: string | null;
  /** Bytes of WAL up to `target` this standby has not replayed yet (0 or less: all of it). */
  behindBytes: number | null;
}

/** How far this standby's replay is from a WAL position (the fenced writer's), compared by the server (pg_wal_lsn_diff). */
export async function replayProgress(client: ClientBase, target: string): Promise<ReplayProgress> {
  if (!/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(target)) throw new UsageError(`"${target}" is not a WAL position (like 0/3000148).`);
  const r = await client.query<{ replay: string | null; behind: string | null }>(
    "SELECT pg_last_wal_replay_lsn()::text AS replay, pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text AS behind",
    [target],
  );
  const { replay, behind } = r.rows[0];
  return { replayLsn: replay, behindBytes: behind === null ? null : Number(behind) };
}
