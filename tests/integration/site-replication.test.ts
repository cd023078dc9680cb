/**
 * A docker site's PostgreSQL, outside Pulumi, against real servers on
 * loopback: the writer's init script, the standby copied by the entrypoint
 * with pg_basebackup over TLS into a slot, its refusals, promotion, and the
 * fence of the former writer when it comes back.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import {
  ENTRYPOINT,
  EntrypointRun,
  PG_BIN,
  ServerLayout,
  freePort,
  initdb,
  initdbAndServe,
  runEntrypoint,
  runEntrypointToEnd,
  runInitScript,
  serverCommand,
  serverDir,
  serverUserIds,
  TEST_GATEWAY,
  ROUTE_FILE,
  stopServer,
  tlsUrl,
  uploadTlsFiles,
  waitFor,
  waitUntilAccepting,
  withUrl,
} from "./siteDatabases";
import { connectSiteDatabase, databaseState, fenceDatabase, inspectDatabase, promoteDatabase, replayProgress, unfenceDatabase } from "../../lambdas/site/database";
import { decide, WRITER_CLAIM_FORMAT, WriterClaim } from "../../lambdas/core/fencing";

const SUPERUSER_PASSWORD = "super-pw-" + Math.random().toString(36).slice(2, 10);
const REPLICATION_PASSWORD = "repl pw 'quoted' " + Math.random().toString(36).slice(2, 8);
const APP_ROLE = "Shop App";
const APP_PASSWORD = "app-pw-" + Math.random().toString(36).slice(2, 10);
const APP_DB = "shop";
const SLOT = "drstack_dc2_g1";
const APPLICATION_NAME = "standby_g1";

let work: string;
let tls: { dir: string; caFile: string };
let writerLayout: ServerLayout;
let standbyLayout: ServerLayout;
let writerData: string;
let standbyData: string;
let writer: EntrypointRun | undefined;
let standby: EntrypointRun | undefined;
const runs: EntrypointRun[] = [];

const superuser = (port: number) => tlsUrl("postgres", SUPERUSER_PASSWORD, port, tls.caFile);
const app = (port: number) => tlsUrl(APP_ROLE, APP_PASSWORD, port, tls.caFile, APP_DB);

function upstreamConninfo(port: number): string {
  return `host=127.0.0.1 port=${port} user=drstack_replication sslmode=verify-full sslrootcert=${tls.dir}/ca.crt application_name=${APPLICATION_NAME}`;
}

function standbyEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PGDATA: standbyData,
    DRSTACK_TLS_DIR: tls.dir,
    DRSTACK_TLS_TARGET: standbyLayout.tlsTarget,
    DRSTACK_DATABASE_INIT: "basebackup",
    DRSTACK_UPSTREAM_CONNINFO: upstreamConninfo(writerLayout.port),
    DRSTACK_REPLICATION_PASSWORD: REPLICATION_PASSWORD,
    DRSTACK_REPLICATION_SLOT: SLOT,
    ...overrides,
  };
}

/**
 * The writer's container. Its first start finds PGDATA empty and hands it to
 * the command, which initialises it (initdb, as the official image's
 * entrypoint does; postgres-init.sh then runs against the server) and starts
 * the server; later starts find it initialised.
 */
function startWriter(first = false): EntrypointRun {
  const command = first ? initdbAndServe(writerData, writerLayout, SUPERUSER_PASSWORD, join(work, "writer-superuser-password")) : serverCommand(writerData, writerLayout);
  const run = runEntrypoint({ PGDATA: writerData, DRSTACK_TLS_DIR: tls.dir, DRSTACK_TLS_TARGET: writerLayout.tlsTarget, DRSTACK_DATABASE_INIT: "initdb" }, command);
  runs.push(run);
  return run;
}

function startStandby(env: Record<string, string> = standbyEnv()): EntrypointRun {
  const run = runEntrypoint(env, serverCommand(standbyData, standbyLayout));
  runs.push(run);
  return run;
}

async function layout(name: string): Promise<ServerLayout> {
  return { port: await freePort(), socketDir: serverDir(join(work, `${name}-sock`)), tlsTarget: join(work, `${name}-tls`) };
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await connectSiteDatabase(url);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function connectError(url: string): Promise<string> {
  try {
    await withUrl(url, (c) => c.query("SELECT 1"));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`a connection as ${url.replace(/:[^:@/]*@/, ":***@")} was admitted`);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "drsite-"));
  // The server's user traverses to its own directories inside.
  chmodSync(work, 0o711);
  tls = uploadTlsFiles(join(work, "upload"));
  writerLayout = await layout("writer");
  standbyLayout = await layout("standby");
  writerData = join(serverDir(join(work, "writer-volume")), "pgdata");
  // Like the generation's volume: the mount point exists, PGDATA inside it does not.
  standbyData = join(work, "standby-volume", "pgdata");
  writer = startWriter(true);
  await waitUntilAccepting(writer, superuser(writerLayout.port));
  const init = runInitScript(writerLayout.socketDir, writerLayout.port, {
    POSTGRES_DB: APP_DB,
    DRSTACK_REPLICATION_PASSWORD: REPLICATION_PASSWORD,
    DRSTACK_APP_ROLE: APP_ROLE,
    DRSTACK_APP_PASSWORD: APP_PASSWORD,
  });
  if (init.status !== 0) throw new Error(`postgres-init.sh failed (${init.status}):\n${init.output}`);
});

afterAll(async () => {
  for (const run of runs) await stopServer(run).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the gateway rule (postgres-entrypoint.sh --reject-gateway)", () => {
  test("puts the gateway's reject ahead of samenet once, and replaces it when the network's gateway changes (a copy from the peer)", () => {
    const dir = mkdtempSync(join(tmpdir(), "drstack-hba-"));
    const hba = join(dir, "pg_hba.conf");
    writeFileSync(hba, "local all postgres peer\nhostssl replication drstack_replication all scram-sha-256\nhostssl all all samenet scram-sha-256\nhost all all all reject\n", { mode: 0o600 });
    const run = (routeFile: string) => spawnSync(ENTRYPOINT, ["--reject-gateway", hba], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DRSTACK_ROUTE_FILE: routeFile }, encoding: "utf8" });
    expect(run(ROUTE_FILE).status).toBe(0);
    expect(run(ROUTE_FILE).status).toBe(0);
    const once = readFileSync(hba, "utf8").split("\n");
    expect(once.filter((line) => line.includes("drstack-gateway"))).toEqual([`hostssl   all          all                   ${TEST_GATEWAY}/32  reject  # drstack-gateway`]);
    expect(once.findIndex((line) => line.includes("drstack-gateway"))).toBe(once.findIndex((line) => line.includes("samenet")) - 1);
    expect(statSync(hba).mode & 0o777).toBe(0o600);
    const other = join(dir, "route");
    writeFileSync(other, "Iface\tDestination\tGateway\tFlags\neth0\t00000000\t010014AC\t0003\n");
    expect(run(other).status).toBe(0);
    expect(readFileSync(hba, "utf8")).toContain("172.20.0.1/32  reject  # drstack-gateway");
    expect(readFileSync(hba, "utf8")).not.toContain(TEST_GATEWAY);
  });
});

describe("the writer (postgres-init.sh)", () => {
  test("creates the replication role, the application role owning its database, and copies the TLS files for the server's user", async () => {
    await withClient(superuser(writerLayout.port), async (c) => {
      const roles = await c.query<{ rolname: string; rolreplication: boolean; rolcanlogin: boolean; rolsuper: boolean }>(
        "SELECT rolname, rolreplication, rolcanlogin, rolsuper FROM pg_roles WHERE rolname IN ('drstack_replication', $1) ORDER BY rolname",
        [APP_ROLE],
      );
      expect(roles.rows).toEqual([
        { rolname: APP_ROLE, rolreplication: false, rolcanlogin: true, rolsuper: false },
        { rolname: "drstack_replication", rolreplication: true, rolcanlogin: true, rolsuper: false },
      ]);
      const owner = await c.query<{ owner: string }>("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [APP_DB]);
      expect(owner.rows).toEqual([{ owner: APP_ROLE }]);
      const rules = await c.query<{ type: string; database: string[]; user_name: string[]; address: string | null; auth_method: string; error: string | null }>(
        "SELECT type, database, user_name, address, auth_method, error FROM pg_hba_file_rules ORDER BY line_number",
      );
      // Any role only from the site's own network (samenet), but not from its gateway, where docker-proxy's connections come from
      // (moby/moby#1435); from anywhere else (the peer data centre) only replication as drstack_replication.
      expect(rules.rows.map((r) => [r.type, r.database.join(","), r.user_name.join(","), r.address, r.auth_method, r.error])).toEqual([
        ["local", "all", "postgres", null, "peer", null],
        ["hostssl", "replication", "drstack_replication", "all", "scram-sha-256", null],
        ["hostssl", "all", "all", TEST_GATEWAY, "reject", null],
        ["hostssl", "all", "all", "samenet", "scram-sha-256", null],
        ["host", "replication", "all", "all", "reject", null],
        ["host", "all", "all", "all", "reject", null],
      ]);
      const hba = await c.query<{ hba_file: string }>("SHOW hba_file");
      expect(readFileSync(hba.rows[0].hba_file, "utf8")).toMatch(/^hostssl\s+all\s+all\s+samenet\s+scram-sha-256$/m);
    });
    // postgres-init.sh's last step: the completion marker the entrypoint requires of an initdb data directory.
    expect(readFileSync(join(writerData, "drstack-initialised"), "utf8")).toMatch(/^Initialised by drstack/);
    const key = statSync(join(writerLayout.tlsTarget, "server.key"));
    expect(key.mode & 0o777).toBe(0o600);
    expect(key.uid).toBe(serverUserIds().uid);
    // The upload stays as it came: root-owned 0644.
    expect(statSync(join(tls.dir, "server.key")).mode & 0o777).toBe(0o644);
  });

  test("admits the application over TLS with its password, and refuses every connection without TLS", async () => {
    await withUrl(app(writerLayout.port), async (c) => {
      await c.query("CREATE TABLE orders (id int PRIMARY KEY, note text)");
      await c.query("INSERT INTO orders VALUES (1, 'before the standby')");
    });
    const plain = (user: string, password: string, db = "postgres") =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${writerLayout.port}/${db}?sslmode=disable`;
    expect(await connectError(plain("postgres", SUPERUSER_PASSWORD))).toMatch(/pg_hba\.conf rejects connection.*no encryption/);
    expect(await connectError(plain(APP_ROLE, APP_PASSWORD, APP_DB))).toMatch(/pg_hba\.conf rejects connection.*no encryption/);
    expect(await connectError(tlsUrl(APP_ROLE, "wrong", writerLayout.port, tls.caFile, APP_DB))).toMatch(/password authentication failed/);
    // A replication connection without TLS too, with the right password.
    const replication = spawnSync(join(PG_BIN, "psql"), [`host=127.0.0.1 port=${writerLayout.port} user=drstack_replication sslmode=disable replication=true`, "-c", "IDENTIFY_SYSTEM"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, PGPASSWORD: REPLICATION_PASSWORD },
    });
    expect(replication.stderr).toMatch(/pg_hba\.conf rejects replication connection .*user "drstack_replication", no encryption/);
    expect(replication.status).not.toBe(0);
  });

  test("postgres-init.sh refuses a missing setting with exit 64, naming it", () => {
    const r = runInitScript(writerLayout.socketDir, writerLayout.port, { DRSTACK_REPLICATION_PASSWORD: "x", DRSTACK_APP_ROLE: APP_ROLE });
    expect(r.status).toBe(64);
    expect(r.output).toMatch(/DRSTACK_APP_PASSWORD is not set/);
  });
});

describe("the entrypoint's refusals leave nothing behind", () => {
  const nothingCreated = () => {
    expect(existsSync(standbyData)).toBe(false);
    expect(existsSync(join(standbyData, ".."))).toBe(false);
    expect(existsSync(standbyLayout.tlsTarget)).toBe(false);
  };

  test.each([
    ["a missing DRSTACK_REPLICATION_SLOT", { DRSTACK_REPLICATION_SLOT: "" }, /DRSTACK_REPLICATION_SLOT is not set/],
    ["a missing DRSTACK_UPSTREAM_CONNINFO", { DRSTACK_UPSTREAM_CONNINFO: "" }, /DRSTACK_UPSTREAM_CONNINFO is not set/],
    ["a missing DRSTACK_REPLICATION_PASSWORD", { DRSTACK_REPLICATION_PASSWORD: "" }, /DRSTACK_REPLICATION_PASSWORD is not set/],
    ["a missing DRSTACK_DATABASE_INIT", { DRSTACK_DATABASE_INIT: "" }, /DRSTACK_DATABASE_INIT is not set; set it to initdb .* or basebackup/],
    ["an unknown DRSTACK_DATABASE_INIT", { DRSTACK_DATABASE_INIT: "restore" }, /DRSTACK_DATABASE_INIT is "restore"; set it to initdb or basebackup/],
    ["an invalid slot name", { DRSTACK_REPLICATION_SLOT: "Bad-Slot" }, /DRSTACK_REPLICATION_SLOT "Bad-Slot" is not a slot name/],
    ["an sslmode that does not verify the peer", { DRSTACK_UPSTREAM_CONNINFO: `host=127.0.0.1 port=1 sslmode=require` }, /sslmode=require.*use sslmode=verify-full/],
    ["a conninfo without host", { DRSTACK_UPSTREAM_CONNINFO: "port=5432 user=drstack_replication" }, /DRSTACK_UPSTREAM_CONNINFO names no host=/],
  ])("exit 64 on %s", async (_what, overrides, message) => {
    const env = Object.fromEntries(Object.entries(standbyEnv(overrides)).filter(([, v]) => v !== ""));
    const r = await runEntrypointToEnd(env, ["true"]);
    expect(r.output).toMatch(message);
    expect(r.code).toBe(64);
    nothingCreated();
  });

  test("an upstream that does not answer is refused with exit 69, naming its host", async () => {
    const closed = await freePort();
    const r = await runEntrypointToEnd(standbyEnv({ DRSTACK_UPSTREAM_CONNINFO: upstreamConninfo(closed) }), ["true"]);
    expect(r.output).toContain(`the upstream 127.0.0.1:${closed} (host and port in DRSTACK_UPSTREAM_CONNINFO) does not accept connections`);
    expect(r.code).toBe(69);
    expect(existsSync(standbyData)).toBe(false);
  });

  test("a failing pg_basebackup (wrong replication password) exits 70, leaves PGDATA absent and no half copy beside it", async () => {
    const r = await runEntrypointToEnd(standbyEnv({ DRSTACK_REPLICATION_PASSWORD: "not the password" }), ["true"]);
    expect(r.output).toMatch(/password authentication failed for user "drstack_replication"/);
    expect(r.output).toMatch(/pg_basebackup from 127\.0\.0\.1:\d+ failed \(above\); PGDATA was not created/);
    expect(r.code).toBe(70);
    expect(existsSync(standbyData)).toBe(false);
    expect(readdirSync(join(standbyData, ".."))).toEqual([]);
  });

  test("the copy verifies the upstream against the copied CA, whatever sslrootcert DRSTACK_UPSTREAM_CONNINFO names: another CA fails it with exit 70", async () => {
    const otherCa = uploadTlsFiles(join(work, "other-upload"));
    const r = await runEntrypointToEnd(standbyEnv({ DRSTACK_TLS_DIR: otherCa.dir }), ["true"]);
    expect(r.output).toMatch(/certificate verify failed/);
    expect(r.code).toBe(70);
    expect(existsSync(standbyData)).toBe(false);
    rmSync(standbyLayout.tlsTarget, { recursive: true, force: true });
  });

  test("an initdb data directory without postgres-init.sh's marker (a first start that failed half-way) is refused with exit 65, not started", async () => {
    const half = join(serverDir(join(work, "half-volume")), "pgdata");
    initdb(half, SUPERUSER_PASSWORD);
    const ran = join(work, "half-started");
    const r = await runEntrypointToEnd({ PGDATA: half, DRSTACK_TLS_DIR: tls.dir, DRSTACK_TLS_TARGET: join(work, "half-tls"), DRSTACK_DATABASE_INIT: "initdb" }, ["touch", ran]);
    expect(r.output).toContain(`PGDATA ${half} has PG_VERSION but no drstack-initialised: initdb or postgres-init.sh did not finish`);
    expect(r.code).toBe(65);
    expect(existsSync(ran)).toBe(false);
    // With the marker the same directory starts as it is.
    writeFileSync(join(half, "drstack-initialised"), "test\n");
    const ok = await runEntrypointToEnd({ PGDATA: half, DRSTACK_TLS_DIR: tls.dir, DRSTACK_TLS_TARGET: join(work, "half-tls"), DRSTACK_DATABASE_INIT: "initdb" }, ["touch", ran]);
    expect(ok.code).toBe(0);
    expect(existsSync(ran)).toBe(true);
    rmSync(join(work, "half-volume"), { recursive: true, force: true });
  });

  test("initdb leaves an empty PGDATA to the official image's entrypoint and execs the command", async () => {
    const marker = join(work, "initdb-ran");
    const r = await runEntrypointToEnd(standbyEnv({ DRSTACK_DATABASE_INIT: "initdb" }), ["touch", marker]);
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(existsSync(standbyData)).toBe(false);
  });
});

describe("the standby (DRSTACK_DATABASE_INIT=basebackup)", () => {
  test("is copied into its slot and streams from the writer over TLS, verifying it against the copied CA", async () => {
    // What a copy killed half-way leaves beside PGDATA: never started, never resumed.
    const staging = join(standbyData, "..", ".pgdata.drstack-basebackup");
    mkdirSync(staging, { recursive: true });
    writeFileSync(join(staging, "PG_VERSION"), "15\n");
    writeFileSync(join(staging, "half-copy"), "");
    standby = startStandby();
    await waitUntilAccepting(standby, superuser(standbyLayout.port));
    expect(existsSync(join(standbyData, "half-copy"))).toBe(false);
    expect(readdirSync(join(standbyData, ".."))).toEqual(["pgdata"]);
    expect(standby.output()).toContain(`copy complete: ${standbyData} is a standby of 127.0.0.1:${writerLayout.port}`);
    // pg_basebackup copied the writer's completion marker: a promoted copy restarted with initdb would still start.
    expect(readFileSync(join(standbyData, "drstack-initialised"), "utf8")).toMatch(/^Initialised by drstack/);
    expect(statSync(standbyData).mode & 0o777).toBe(0o700);
    expect(statSync(join(standbyData, "PG_VERSION")).uid).toBe(serverUserIds().uid);
    // As root (the container) the entrypoint copied the key for the postgres user; the server would refuse it otherwise.
    const key = statSync(join(standbyLayout.tlsTarget, "server.key"));
    expect([key.mode & 0o777, key.uid]).toEqual([0o600, serverUserIds().uid]);

    await withUrl(app(writerLayout.port), (c) => c.query("INSERT INTO orders VALUES (2, 'streamed')"));
    const rows = await waitFor("the writer's row on the standby", () =>
      withUrl(app(standbyLayout.port), async (c) => {
        const r = await c.query<{ id: number; note: string }>("SELECT id, note FROM orders ORDER BY id");
        return r.rows.length === 2 ? r.rows : undefined;
      }),
    );
    expect(rows).toEqual([{ id: 1, note: "before the standby" }, { id: 2, note: "streamed" }]);

    await withClient(superuser(writerLayout.port), async (c) => {
      const walsender = await waitFor("a streaming walsender in its slot", async () => {
        const r = await c.query<{ application_name: string; state: string; usename: string; slot_name: string; ssl: boolean; version: string }>(`
          SELECT r.application_name, r.state, r.usename, s.slot_name, t.ssl, t.version
            FROM pg_stat_replication r
            JOIN pg_replication_slots s ON s.active_pid = r.pid
            JOIN pg_stat_ssl t ON t.pid = r.pid`);
        return r.rows.length === 1 && r.rows[0].state === "streaming" ? r.rows[0] : undefined;
      });
      expect(walsender).toMatchObject({ application_name: APPLICATION_NAME, state: "streaming", usename: "drstack_replication", slot_name: SLOT, ssl: true });
      const inspection = await inspectDatabase(c, { appRole: APP_ROLE });
      expect(inspection).toMatchObject({ inRecovery: false, appLoginAllowed: true, fenced: false, replicas: [{ applicationName: APPLICATION_NAME, state: "streaming" }] });
      // The writer's slots, with wal_status (a standby that fell too far behind has its slot "lost").
      expect(inspection.slots).toEqual([{ slotName: SLOT, active: true, walStatus: "reserved" }]);
      expect(inspection.walReceiver).toBeUndefined();
      expect(inspection.upstreamHost).toBeUndefined();
      expect(typeof inspection.replicas[0].replayLagBytes).toBe("number");
      expect(databaseState("dc1-db-g1", inspection)).toEqual({ identifier: "dc1-db-g1", status: "available", readReplicas: [APPLICATION_NAME] });
    });

    await withClient(superuser(standbyLayout.port), async (c) => {
      const conninfo = (await c.query<{ v: string }>("SELECT current_setting('primary_conninfo') AS v")).rows[0].v;
      expect(conninfo).toMatch(/sslmode='?verify-full'?/);
      expect(conninfo).toContain(`sslrootcert='${standbyLayout.tlsTarget}/ca.crt'`);
      const inspection = await inspectDatabase(c);
      expect(inspection).toEqual({ inRecovery: true, upstreamHost: "127.0.0.1", replicas: [], fenced: false, slots: [], walReceiver: { status: "streaming", lastMsgReceiptTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) } });
      expect(Math.abs(Date.parse(inspection.walReceiver!.lastMsgReceiptTime!) - Date.now())).toBeLessThan(120_000);
      expect(databaseState("dc2-db-g1", inspection)).toEqual({ identifier: "dc2-db-g1", status: "available", replicaOf: "127.0.0.1", readReplicas: [] });
      await expect(fenceDatabase(c, APP_ROLE)).rejects.toThrow(/on a standby \(the database is in recovery\)/);
      await expect(withUrl(app(standbyLayout.port), (a) => a.query("INSERT INTO orders VALUES (3, 'x')"))).rejects.toThrow(/read-only transaction/);
    });
  });

  test("a slot left on the upstream by an earlier attempt is reused", async () => {
    const slot = "drstack_dc2_g9";
    const data = join(work, "retry-volume", "pgdata");
    await withClient(superuser(writerLayout.port), (c) => c.query("SELECT pg_create_physical_replication_slot($1, true)", [slot]));
    try {
      const r = await runEntrypointToEnd(
        standbyEnv({ PGDATA: data, DRSTACK_REPLICATION_SLOT: slot, DRSTACK_TLS_TARGET: join(work, "retry-tls") }),
        ["test", "-f", join(data, "standby.signal")],
      );
      expect(r.output).toContain(`slot ${slot} already exists on the upstream (an earlier attempt); reusing it`);
      expect(r.code).toBe(0);
      expect(existsSync(join(data, "PG_VERSION"))).toBe(true);
      await withClient(superuser(writerLayout.port), async (c) => {
        const slots = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_replication_slots WHERE slot_name = $1", [slot]);
        expect(slots.rows[0].n).toBe("1");
      });
    } finally {
      await withClient(superuser(writerLayout.port), (c) => c.query("SELECT pg_drop_replication_slot($1)", [slot]));
      rmSync(join(work, "retry-volume"), { recursive: true, force: true });
    }
  });

  test("restarting on an initialised data directory starts it as it is: no new copy, even with an upstream that does not answer", async () => {
    await stopServer(standby!);
    const marker = join(standbyData, "drstack-test-marker");
    writeFileSync(marker, "kept");
    const closed = await freePort();
    standby = startStandby(standbyEnv({ DRSTACK_UPSTREAM_CONNINFO: upstreamConninfo(closed) }));
    await waitUntilAccepting(standby, superuser(standbyLayout.port));
    expect(standby.output()).not.toContain("copying the upstream");
    expect(existsSync(marker)).toBe(true);
    // It still follows the writer its primary_conninfo names.
    await withUrl(app(writerLayout.port), (c) => c.query("INSERT INTO orders VALUES (3, 'after the restart')"));
    await waitFor("the row written after the restart on the standby", () =>
      withUrl(app(standbyLayout.port), async (c) => ((await c.query("SELECT 1 FROM orders WHERE id = 3")).rows.length === 1 ? true : undefined)),
    );
  });
});

describe("failover: promotion of the standby, fence of the former writer when it comes back", () => {
  test("with the writer gone, the standby is still a replica of it; promoteDatabase makes it writable, and again reports already-writer", async () => {
    await stopServer(writer!);
    await withClient(superuser(standbyLayout.port), async (c) => {
      const stillReplica = await waitFor("the standby noticing its upstream is gone", async () => {
        const i = await inspectDatabase(c);
        const receiver = await c.query("SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'");
        return receiver.rows.length === 0 ? i : undefined;
      });
      expect(stillReplica).toMatchObject({ inRecovery: true, upstreamHost: "127.0.0.1", replicas: [], fenced: false });
      // Its receiver no longer streams (`--health` counts how long).
      expect(stillReplica.walReceiver?.status).not.toBe("streaming");
      expect(databaseState("dc2-db-g1", stillReplica).replicaOf).toBe("127.0.0.1");

      expect(await promoteDatabase(c, { waitSeconds: 60 })).toBe("promoted");
      expect(await inspectDatabase(c)).toEqual({ inRecovery: false, replicas: [], fenced: false, slots: [] });
      expect(await promoteDatabase(c, { waitSeconds: 60 })).toBe("already-writer");
    });
    await withUrl(app(standbyLayout.port), async (c) => {
      await c.query("INSERT INTO orders VALUES (4, 'on the promoted writer')");
      expect((await c.query("SELECT count(*)::int AS n FROM orders")).rows[0]).toEqual({ n: 4 });
    });
  });

  test("the former writer comes back as a writer; fenceDatabase ends the application's sessions and logins, keeps the superuser and replication role, and is idempotent", async () => {
    writer = startWriter();
    await waitUntilAccepting(writer, superuser(writerLayout.port));
    expect(writer.output()).not.toContain("copying the upstream");

    const session = new Client({ connectionString: app(writerLayout.port) });
    let sessionError: Error | undefined;
    session.on("error", (err) => (sessionError = err));
    await session.connect();
    await session.query("SELECT 1");
    try {
      await withClient(superuser(writerLayout.port), async (c) => {
        const before = await inspectDatabase(c, { appRole: APP_ROLE });
        expect(before).toMatchObject({ inRecovery: false, appLoginAllowed: true, fenced: false });

        // The former writer's last deployed claim (epoch 1) against the peer's after the failover (epoch 2), with the databases as the agent sees them.
        const staleClaim: WriterClaim = { format: WRITER_CLAIM_FORMAT, site: "dc1", activeSite: "dc1", role: "active", databaseMode: "writer", databaseIdentifier: "dc1-db-g1", epoch: 1 };
        const peerClaim: WriterClaim = { format: WRITER_CLAIM_FORMAT, site: "dc2", activeSite: "dc2", role: "active", databaseMode: "writer", databaseIdentifier: "dc2-db-g1", epoch: 2 };
        const promoted = await withClient(superuser(standbyLayout.port), (s) => inspectDatabase(s));
        const verdict = decide(
          {
            own: { claim: { ok: true, value: staleClaim }, marker: { ok: true }, database: { ok: true, value: databaseState("dc1-db-g1", before) } },
            peer: { claim: { ok: true, value: peerClaim }, marker: { ok: true }, database: { ok: true, value: databaseState("dc2-db-g1", promoted) } },
          },
          new Date(),
        );
        expect(verdict.verdict).toBe("fenced");

        expect(await fenceDatabase(c, APP_ROLE)).toEqual({ terminated: 1, alreadyFenced: false, walPosition: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
        await waitFor("the application's session to be ended", async () => (sessionError ? true : undefined), 10_000);
        await expect(session.query("SELECT 1")).rejects.toThrow();
        // The application reconnects, reads, and cannot write.
        await withUrl(app(writerLayout.port), async (a) => {
          expect((await a.query("SELECT count(*)::int AS n FROM orders")).rows[0]).toEqual({ n: 3 });
          await expect(a.query("INSERT INTO orders VALUES (99, 'on the fenced writer')")).rejects.toThrow(/cannot execute INSERT in a read-only transaction/);
        });
        expect(await inspectDatabase(c, { appRole: APP_ROLE })).toMatchObject({ fenced: true, appLoginAllowed: true });
        expect(await fenceDatabase(c, APP_ROLE)).toMatchObject({ terminated: 0, alreadyFenced: true });
      });
      // The superuser (the agent) and the replication role still get in.
      await withUrl(superuser(writerLayout.port), (c) => c.query("SELECT 1"));
      await withUrl(tlsUrl("drstack_replication", REPLICATION_PASSWORD, writerLayout.port, tls.caFile), (c) => c.query("SELECT 1"));
    } finally {
      await session.end().catch(() => undefined);
    }
  });
});

describe("planned switch-over (failback): the writer is fenced while its rebuilt standby streams from it", () => {
  const REBUILT_SLOT = "drstack_dc1_g2";
  const REBUILT_NAME = "dc1_g2";
  let rebuiltLayout: ServerLayout;
  let rebuiltData: string;

  test("the fence does not replicate: the standby replays everything the fenced writer wrote, is promoted, and the application logs in and writes there", async () => {
    // The promoted dc2 is the writer; dc1 is rebuilt as its standby (a new generation, a new volume).
    const promotedWriter = standbyLayout;
    rebuiltLayout = await layout("rebuilt");
    rebuiltData = join(work, "rebuilt-volume", "pgdata");
    const rebuiltRun = runEntrypoint(
      {
        ...standbyEnv(),
        PGDATA: rebuiltData,
        DRSTACK_TLS_TARGET: rebuiltLayout.tlsTarget,
        DRSTACK_UPSTREAM_CONNINFO: `host=127.0.0.1 port=${promotedWriter.port} user=drstack_replication sslmode=verify-full application_name=${REBUILT_NAME}`,
        DRSTACK_REPLICATION_SLOT: REBUILT_SLOT,
      },
      serverCommand(rebuiltData, rebuiltLayout),
    );
    runs.push(rebuiltRun);
    await waitUntilAccepting(rebuiltRun, superuser(rebuiltLayout.port));

    const session = new Client({ connectionString: app(promotedWriter.port) });
    let sessionError: Error | undefined;
    session.on("error", (err) => (sessionError = err));
    await session.connect();
    await session.query("INSERT INTO orders VALUES (5, 'just before the fence')");
    let walPosition: string;
    try {
      await withClient(superuser(promotedWriter.port), async (c) => {
        await waitFor("the rebuilt standby streaming", async () => ((await inspectDatabase(c)).replicas.some((r) => r.applicationName === REBUILT_NAME && r.state === "streaming") ? true : undefined));
        const fence = await fenceDatabase(c, APP_ROLE);
        expect(fence).toMatchObject({ terminated: 1, alreadyFenced: false });
        walPosition = fence.walPosition;
        const fenced = await inspectDatabase(c, { appRole: APP_ROLE });
        expect(fenced).toMatchObject({ inRecovery: false, fenced: true, appLoginAllowed: true, replicas: [{ applicationName: REBUILT_NAME }] });
        expect(fenced.slots).toContainEqual({ slotName: REBUILT_SLOT, active: true, walStatus: "reserved" });
      });
      await waitFor("the application's old session to be ended", async () => (sessionError ? true : undefined), 10_000);
      await expect(session.query("SELECT 1")).rejects.toThrow();
    } finally {
      await session.end().catch(() => undefined);
    }
    // A new session of the application reads and cannot write.
    await withUrl(app(promotedWriter.port), async (a) => {
      expect((await a.query("SELECT count(*)::int AS n FROM orders")).rows[0]).toEqual({ n: 5 });
      await expect(a.query("INSERT INTO orders VALUES (6, 'after the fence')")).rejects.toThrow(/cannot execute INSERT in a read-only transaction/);
    });

    await withClient(superuser(rebuiltLayout.port), async (c) => {
      const caughtUp = await waitFor("the rebuilt standby replaying the fenced writer's last WAL", async () => {
        const p = await replayProgress(c, walPosition);
        return p.behindBytes !== null && p.behindBytes <= 0 ? p : undefined;
      });
      expect(caughtUp.replayLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      // ALTER SYSTEM is a file on the fenced writer, not WAL: the standby is not fenced.
      const standbyView = await inspectDatabase(c, { appRole: APP_ROLE });
      expect(standbyView).toMatchObject({ inRecovery: true, fenced: false, appLoginAllowed: true, walReceiver: { status: "streaming" } });
      expect(await promoteDatabase(c, { waitSeconds: 60 })).toBe("promoted");
      expect(await unfenceDatabase(c, APP_ROLE)).toEqual({ readWriteRestored: false, loginRestored: false });
    });
    await withUrl(app(rebuiltLayout.port), async (a) => {
      expect((await a.query("SELECT id FROM orders ORDER BY id")).rows.map((r: { id: number }) => r.id)).toEqual([1, 2, 3, 4, 5]);
      await a.query("INSERT INTO orders VALUES (6, 'on the new writer after the switch-over')");
    });
  });

  test("unfenceDatabase lifts the fence and an older drstack's NOLOGIN, and is idempotent", async () => {
    // What a fence of drstack before this change left: NOLOGIN, which replicated. The fence makes the superuser's transactions read-only too, unless it asks.
    await withClient(superuser(standbyLayout.port), async (c) => {
      await expect(c.query(`ALTER ROLE "${APP_ROLE}" NOLOGIN`)).rejects.toThrow(/read-only transaction/);
      await c.query("SET default_transaction_read_only = off");
      await c.query(`ALTER ROLE "${APP_ROLE}" NOLOGIN`);
    });
    await withClient(superuser(standbyLayout.port), async (c) => {
      expect(await inspectDatabase(c, { appRole: APP_ROLE })).toMatchObject({ fenced: true, appLoginAllowed: false });
      expect(await unfenceDatabase(c, APP_ROLE)).toEqual({ readWriteRestored: true, loginRestored: true });
      expect(await inspectDatabase(c, { appRole: APP_ROLE })).toMatchObject({ fenced: false, appLoginAllowed: true });
      expect(await unfenceDatabase(c, APP_ROLE)).toEqual({ readWriteRestored: false, loginRestored: false });
    });
    await withUrl(app(standbyLayout.port), (a) => a.query("INSERT INTO orders VALUES (7, 'unfenced')"));
    await withClient(superuser(writerLayout.port), async (c) => {
      // The former writer dc1 (fenced above) stays fenced: nothing but its agent's unfence lifts it.
      expect((await inspectDatabase(c, { appRole: APP_ROLE })).fenced).toBe(true);
    });
  });
});
