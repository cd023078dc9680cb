import { freePort } from "./services/services";
/**
 * The Docker site agent against the real servers: claims and markers in
 * fencing buckets on the two MinIO servers, this site's database on the
 * shared PostgreSQL, the backup job's real pg_dump into site A's bucket, and
 * the bundled agent's `--health` and start-up checks as subprocesses.
 */
import { execFile, spawn } from "node:child_process";
import { Client } from "pg";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, HeadObjectCommand, PutBucketVersioningCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { FENCE_MARKER_FORMAT, FenceMarker, WRITER_CLAIM_FORMAT, WriterClaim } from "../../lambdas/core/fencing";
import { latestKey } from "../../lambdas/core/layout";
import { getJson, LatestPointer } from "../../lambdas/core/manifest";
import { BucketLocation, s3Client } from "../../lambdas/core/s3";
import { AgentStatus, agentDeps, initialState, LogEntry, parseAgentConfig, tick } from "../../lambdas/site/agent";
import { FENCE_MARKER_KEY, FENCED_WAL_FORMAT, fencingBucket, readFencedWal, readFencingObjects, writeFenceMarkerObject, writeWriterClaimObject } from "../../lambdas/site/claims";
import { fenceDatabase, inspectDatabase, unfenceDatabase } from "../../lambdas/site/database";
import { EntrypointRun, initdbAndServe, runEntrypoint, runInitScript, serverCommand, serverDir, ServerLayout, stopServer, tlsUrl, uploadTlsFiles, waitFor, waitUntilAccepting, withUrl } from "./siteDatabases";
import { createDatabase, services, siteA, siteB, superuserUrl, withClient } from "./helpers";

jest.setTimeout(180_000);

const AGENT_BUNDLE = join(__dirname, "..", "..", "dist", "lambdas", "backup", "site", "agent.js");
const run = Math.random().toString(36).slice(2, 8);
const workDir = mkdtempSync(join(tmpdir(), "drstack-agent-test-"));

afterAll(() => rmSync(workDir, { recursive: true, force: true }));


function fencingLocation(site: BucketLocation, bucket: string): BucketLocation {
  return { ...site, bucket, label: { bucket: "DRSTACK_FENCING_BUCKET", endpoint: "DRSTACK_STORAGE_ENDPOINT", credentials: "DRSTACK_STORAGE_ACCESS_KEY_ID" } };
}

/** A versioned, unreplicated bucket, as a Docker site's fencing bucket is. */
async function createFencingBucket(loc: BucketLocation): Promise<void> {
  const s3 = s3Client(loc);
  await s3.send(new CreateBucketCommand({ Bucket: loc.bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: loc.bucket, VersioningConfiguration: { Status: "Enabled" } }));
}

function claim(site: "primary" | "secondary", activeSite: "primary" | "secondary", databaseMode: WriterClaim["databaseMode"], epoch: number): WriterClaim {
  return { format: WRITER_CLAIM_FORMAT, site, activeSite, role: site === activeSite ? "active" : "standby", databaseMode, databaseIdentifier: `drstack-${site}-db-g1`, epoch };
}

interface Scenario {
  name: string;
  own: BucketLocation;
  peer: BucketLocation;
  database: string;
  appRole: string;
  env: NodeJS.ProcessEnv;
  logs: LogEntry[];
}

/** Fencing buckets on site A (this site) and site B (the peer), a database with rows, an application role, and the agent's environment. */
async function scenario(name: string, overrides: NodeJS.ProcessEnv = {}): Promise<Scenario> {
  const own = fencingLocation(siteA(), `fencing-${name}-${run}-primary`);
  const peer = fencingLocation(siteB(), `fencing-${name}-${run}-secondary`);
  await createFencingBucket(own);
  await createFencingBucket(peer);
  const database = `agent_${name}_${run}`;
  await createDatabase(database, 200);
  const appRole = `agent_app_${name}_${run}`;
  await withClient("postgres", (c) => c.query(`CREATE ROLE "${appRole}" LOGIN PASSWORD 'app-secret'`));
  const base = new URL(superuserUrl("postgres"));
  base.pathname = "/";
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    // drstack runs on Node 20 on purpose; the SDK's notice about it is noise on stderr.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    AWS_REGION: services.minio.region,
    DRSTACK_SITE: "primary",
    DRSTACK_PEER_SITE: "secondary",
    DRSTACK_STORAGE_ENDPOINT: own.endpoint,
    DRSTACK_STORAGE_ACCESS_KEY_ID: services.minio.accessKey,
    DRSTACK_STORAGE_SECRET_ACCESS_KEY: services.minio.secretKey,
    DRSTACK_FENCING_BUCKET: own.bucket,
    DRSTACK_PEER_STORAGE_ENDPOINT: peer.endpoint,
    DRSTACK_PEER_STORAGE_ACCESS_KEY_ID: services.minio.accessKey,
    DRSTACK_PEER_STORAGE_SECRET_ACCESS_KEY: services.minio.secretKey,
    DRSTACK_PEER_FENCING_BUCKET: peer.bucket,
    DRSTACK_DATABASE_ADMIN_URL: superuserUrl("postgres"),
    DRSTACK_APP_ROLE: appRole,
    DRSTACK_GUARD_INTERVAL_SECONDS: "30",
    DRSTACK_TIME_ZONE: "Europe/Zurich",
    DRSTACK_BACKUPS_SCHEDULED: "true",
    DRSTACK_BACKUP_JOBS: JSON.stringify([{ name: database, tier: "critical", dataClass: "db", schedule: "rate(15 minutes)" }]),
    DRSTACK_VERIFY_SCHEDULE: "rate(15 minutes)",
    DRSTACK_DRILL_JOBS: "[]",
    DRSTACK_AGENT_STATUS_FILE: join(workDir, `${name}-status.json`),
    BACKUP_BUCKET: siteA().bucket,
    S3_ENDPOINT: siteA().endpoint,
    S3_ACCESS_KEY_ID: services.minio.accessKey,
    S3_SECRET_ACCESS_KEY: services.minio.secretKey,
    DATABASE_URL: base.toString(),
    BACKUP_TARGETS: `${database}:critical`,
    PG_BIN_DIR: services.pgBinDir,
    ...overrides,
  };
  return { name, own, peer, database, appRole, env, logs: [] };
}

async function agent(s: Scenario) {
  const config = await parseAgentConfig(s.env);
  const deps = agentDeps(config, s.env, (entry) => s.logs.push(entry));
  return { config, deps, state: initialState() };
}

async function pointer(database: string): Promise<LatestPointer | undefined> {
  return (await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, latestKey({ database, dataClass: "db" }, "primary")))?.value;
}

async function canLogin(role: string): Promise<boolean> {
  return withClient("postgres", async (c) => (await c.query<{ rolcanlogin: boolean }>("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [role])).rows[0].rolcanlogin);
}

function runAgent(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AGENT_BUNDLE, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("claims in a fencing bucket", () => {
  test("round-trip through MinIO: nothing, a claim, a marker; unreadable JSON, refused credentials and a closed port are failed lookups", async () => {
    const loc = fencingLocation(siteA(), `fencing-claims-${run}`);
    await createFencingBucket(loc);
    const bucket = fencingBucket(loc);
    expect(await readFencingObjects(bucket)).toEqual({ claim: { ok: true }, marker: { ok: true } });

    const written = claim("primary", "primary", "writer", 4);
    await writeWriterClaimObject(bucket, written);
    const marker: FenceMarker = { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 4, peerSite: "secondary", peerEpoch: 5, fencedAt: "2026-12-04T01:00:00.000Z", reason: "test" };
    await writeFenceMarkerObject(bucket, marker);
    expect(await readFencingObjects(bucket)).toEqual({ claim: { ok: true, value: written }, marker: { ok: true, value: marker } });

    await s3Client(loc).send(new PutObjectCommand({ Bucket: loc.bucket, Key: FENCE_MARKER_KEY, Body: "{not json" }));
    const broken = await readFencingObjects(bucket);
    expect(broken.claim).toEqual({ ok: true, value: written });
    expect(broken.marker).toEqual({ ok: false, problem: expect.stringContaining("malformed fence marker: not JSON") });

    const refused = await readFencingObjects(fencingBucket({ ...loc, credentials: { accessKeyId: services.minio.accessKey, secretAccessKey: "wrong-secret" } }));
    expect(refused.claim).toEqual({ ok: false, problem: expect.stringMatching(/rejected the credentials.*DRSTACK_STORAGE_ACCESS_KEY_ID/) });

    const missingBucket = await readFencingObjects(fencingBucket({ ...loc, bucket: `fencing-missing-${run}` }));
    expect(missingBucket.claim).toEqual({ ok: false, problem: expect.stringMatching(/does not exist.*DRSTACK_FENCING_BUCKET/) });

    const started = Date.now();
    const closed = await readFencingObjects(fencingBucket({ ...loc, endpoint: `http://127.0.0.1:${await freePort()}` }));
    expect(closed.claim).toEqual({ ok: false, problem: expect.stringMatching(/Cannot reach the S3 endpoint.*DRSTACK_STORAGE_ENDPOINT/) });
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe("a tick", () => {
  test("on the writer with a fresh claim runs the due backup: a real dump lands in MinIO and the pointer moves; the next tick runs the next due job, not the backup again", async () => {
    const s = await scenario("writer");
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 3));
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "primary", "replica", 3));
    expect(await pointer(s.database)).toBeUndefined();
    const { deps, state } = await agent(s);

    const result = await tick(deps, state);
    expect(result.status).toMatchObject({ verdict: "writer", backupsMayRun: true, peerUnreachable: false, inconsistent: false, running: `backup:db/${s.database}` });
    expect(result.job).toBeDefined();
    await result.job;

    const latest = await pointer(s.database);
    expect(latest).toMatchObject({ site: "primary", epoch: 3 });
    expect(latest!.slot).toBe(state.jobs[`backup:db/${s.database}`].slot);
    const dump = await s3Client(siteA()).send(new HeadObjectCommand({ Bucket: siteA().bucket, Key: latest!.dumpKey }));
    expect(dump.ContentLength).toBeGreaterThan(1000);
    expect(state.jobs[`backup:db/${s.database}`]).toMatchObject({ outcome: "succeeded", detail: expect.stringContaining(latest!.dumpKey) });

    const status = JSON.parse(readFileSync(s.env.DRSTACK_AGENT_STATUS_FILE!, "utf8")) as AgentStatus;
    expect(status.jobs[`backup:db/${s.database}`].last).toMatchObject({ outcome: "succeeded" });
    expect(status.running).toBeUndefined();

    // The backup's slot has run: the next tick starts verify instead, which finds the new backup.
    const second = await tick(deps, state);
    expect(second.status.running).toBe("verify");
    await second.job;
    expect(state.jobs.verify).toMatchObject({ outcome: "succeeded", detail: expect.stringContaining(latest!.dumpKey) });
    const third = await tick(deps, state);
    expect(third.job).toBeUndefined();
    expect(s.logs.filter((l) => l.event === "job-started").map((l) => l.job)).toEqual([`backup:db/${s.database}`, "verify"]);
  });

  test("on a standby runs nothing and fences nothing", async () => {
    const s = await scenario("standby");
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "secondary", "replica", 3));
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "secondary", "writer", 3));
    const { deps, state } = await agent(s);
    const result = await tick(deps, state);
    expect(result.status).toMatchObject({ verdict: "standby", backupsMayRun: false, actions: [], actionFailures: [] });
    expect(result.job).toBeUndefined();
    expect(await pointer(s.database)).toBeUndefined();
    expect(await canLogin(s.appRole)).toBe(true);
  });

  test("with the peer's MinIO unreachable (a closed port) the writer keeps backing up and reports the peer unreachable, within seconds", async () => {
    const s = await scenario("lonely", {});
    s.env.DRSTACK_PEER_STORAGE_ENDPOINT = `http://127.0.0.1:${await freePort()}`;
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 5));
    const { deps, state } = await agent(s);
    const started = Date.now();
    const result = await tick(deps, state);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result.status).toMatchObject({ verdict: "writer", backupsMayRun: true, peerUnreachable: true });
    expect(result.status.reasons.join("\n")).toMatch(/the peer's claim could not be read \(Cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+.*DRSTACK_PEER_STORAGE_ENDPOINT/);
    await result.job;
    expect(await pointer(s.database)).toMatchObject({ site: "primary", epoch: 5 });
    expect(state.jobs[`backup:db/${s.database}`].outcome).toBe("succeeded");
  });

  test("with backups not scheduled on this site (DRSTACK_BACKUPS_SCHEDULED=false) a writer runs no job", async () => {
    const s = await scenario("unscheduled", { DRSTACK_BACKUPS_SCHEDULED: "false" });
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 3));
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "primary", "replica", 3));
    const { deps, state } = await agent(s);
    const result = await tick(deps, state);
    expect(result.status).toMatchObject({ verdict: "writer", backupsMayRun: true, backupsScheduled: false });
    expect(result.job).toBeUndefined();
    expect(await pointer(s.database)).toBeUndefined();
  });
});

describe("the bundled agent", () => {
  let badEnv: Scenario | undefined;

  test("--health: 0 on a fresh status file, 1 on a stale one, on a failed tick and on a missing file", async () => {
    const s = await scenario("health", { DRSTACK_BACKUPS_SCHEDULED: "false" });
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 3));
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "primary", "replica", 3));
    const { deps, state } = await agent(s);
    await tick(deps, state);
    const file = s.env.DRSTACK_AGENT_STATUS_FILE!;
    const env = { PATH: process.env.PATH, DRSTACK_AGENT_STATUS_FILE: file, DRSTACK_GUARD_INTERVAL_SECONDS: "30" };

    const fresh = await runAgent(["--health"], env);
    expect(fresh).toMatchObject({ code: 0, stdout: expect.stringContaining("healthy: primary: writer") });

    const status = JSON.parse(readFileSync(file, "utf8")) as AgentStatus;
    writeFileSync(file, JSON.stringify({ ...status, checkedAt: new Date(Date.now() - 91_000).toISOString() }));
    const stale = await runAgent(["--health"], env);
    expect(stale).toMatchObject({ code: 1, stderr: expect.stringMatching(/unhealthy: the last tick was at .*more than 3 guard intervals \(90s\)/) });

    writeFileSync(file, JSON.stringify({ ...status, checkedAt: new Date().toISOString(), verdict: "error", error: "boom" }));
    expect(await runAgent(["--health"], env)).toMatchObject({ code: 1, stderr: expect.stringContaining("the last tick failed: boom") });

    writeFileSync(file, JSON.stringify({ ...status, checkedAt: new Date().toISOString(), actionFailures: ["fenced the database x: Cannot reach PostgreSQL"] }));
    expect(await runAgent(["--health"], env)).toMatchObject({ code: 1, stderr: expect.stringContaining("fencing actions failed") });

    expect(await runAgent(["--health"], { ...env, DRSTACK_AGENT_STATUS_FILE: join(workDir, "none.json") })).toMatchObject({ code: 1, stderr: expect.stringContaining("no status file") });
  });

  test("runs as a process: its first tick takes the due backup, the status file says so, JSON lines on stdout, and SIGTERM ends it with 0", async () => {
    const s = await scenario("process");
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 7));
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "primary", "replica", 7));
    const child = spawn(process.execPath, [AGENT_BUNDLE], { env: s.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      let status: AgentStatus | undefined;
      while (Date.now() < deadline) {
        try {
          status = JSON.parse(readFileSync(s.env.DRSTACK_AGENT_STATUS_FILE!, "utf8")) as AgentStatus;
        } catch {
          status = undefined;
        }
        if (status?.jobs[`backup:db/${s.database}`]?.last?.outcome !== undefined && status.jobs[`backup:db/${s.database}`].last!.outcome !== "running") break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(stderr).toBe("");
      expect(status?.jobs[`backup:db/${s.database}`].last).toMatchObject({ outcome: "succeeded" });
      expect(await pointer(s.database)).toMatchObject({ site: "primary", epoch: 7 });
      expect(await runAgent(["--health"], s.env)).toMatchObject({ code: 0 });
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    const events = stdout.trim().split("\n").map((line) => (JSON.parse(line) as LogEntry).event);
    expect(events[0]).toBe("started");
    expect(events).toEqual(expect.arrayContaining(["tick", "job-started", "job-succeeded"]));
    expect(events[events.length - 1]).toBe("stopped");
  });

  test.each([
    ["DRSTACK_BACKUP_JOBS", "[{not json", /DRSTACK_BACKUP_JOBS is not JSON/],
    ["DRSTACK_BACKUP_JOBS", JSON.stringify([{ name: "shop", tier: "critical", dataClass: "db", schedule: "every 15 minutes" }]), /DRSTACK_BACKUP_JOBS\[0\]: the schedule "every 15 minutes" is neither rate/],
    ["DRSTACK_VERIFY_SCHEDULE", "cron(0 2 * * * *)", /DRSTACK_VERIFY_SCHEDULE: the schedule .* exactly one of day-of-month and day-of-week must be \?/],
    ["DRSTACK_TIME_ZONE", "Europe/Zurch", /DRSTACK_TIME_ZONE "Europe\/Zurch" is not an IANA time zone/],
    ["DRSTACK_PEER_FENCING_BUCKET", undefined, /Missing DRSTACK_PEER_FENCING_BUCKET/],
    ["BACKUP_BUCKET", undefined, /Missing --bucket \/ BACKUP_BUCKET/],
  ])("exits 2 before any action when %s is %s", async (variable, value, message) => {
    badEnv ??= await scenario("badenv");
    const s = badEnv;
    const env = { ...s.env };
    if (value === undefined) delete env[variable];
    else env[variable] = value;
    const result = await runAgent([], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe("");
    expect(await readFencingObjects(fencingBucket(s.own))).toEqual({ claim: { ok: true }, marker: { ok: true } });
  });
});

/**
 * The fence is server-wide (ALTER SYSTEM default_transaction_read_only), so
 * the agent fences servers of its own here, never the shared one: a writer
 * made like a docker site's first generation (initdb, postgres-init.sh) and a
 * standby copied from it by the entrypoint (pg_basebackup over TLS, a slot).
 */
describe("with this site's own PostgreSQL servers", () => {
  const SUPERUSER_PASSWORD = `agent-super-${run}`;
  const REPLICATION_PASSWORD = `agent-repl-${run}`;
  const APP_ROLE = "shop_app";
  const APP_PASSWORD = `agent-app-${run}`;
  let dir: string;
  let tls: { dir: string; caFile: string };
  let writerLayout: ServerLayout;
  let standbyLayout: ServerLayout;
  let writerData: string;
  let standbyData: string;
  const servers: EntrypointRun[] = [];
  const admin = (l: ServerLayout) => tlsUrl("postgres", SUPERUSER_PASSWORD, l.port, tls.caFile);
  const app = (l: ServerLayout) => tlsUrl(APP_ROLE, APP_PASSWORD, l.port, tls.caFile, "shop");
  const onServer = (l: ServerLayout): NodeJS.ProcessEnv => ({ DRSTACK_DATABASE_ADMIN_URL: admin(l), DRSTACK_APP_ROLE: APP_ROLE });
  const layout = async (name: string): Promise<ServerLayout> => ({ port: await freePort(), socketDir: serverDir(join(dir, `${name}-sock`)), tlsTarget: join(dir, `${name}-tls`) });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "drstack-agent-pg-"));
    chmodSync(dir, 0o711);
    tls = uploadTlsFiles(join(dir, "upload"));
    writerLayout = await layout("writer");
    standbyLayout = await layout("standby");
    writerData = join(serverDir(join(dir, "writer-volume")), "pgdata");
    standbyData = join(dir, "standby-volume", "pgdata");
    const writer = runEntrypoint(
      { PGDATA: writerData, DRSTACK_TLS_DIR: tls.dir, DRSTACK_TLS_TARGET: writerLayout.tlsTarget, DRSTACK_DATABASE_INIT: "initdb" },
      initdbAndServe(writerData, writerLayout, SUPERUSER_PASSWORD, join(dir, "superuser-password")),
    );
    servers.push(writer);
    await waitUntilAccepting(writer, admin(writerLayout));
    const init = runInitScript(writerLayout.socketDir, writerLayout.port, { POSTGRES_DB: "shop", DRSTACK_REPLICATION_PASSWORD: REPLICATION_PASSWORD, DRSTACK_APP_ROLE: APP_ROLE, DRSTACK_APP_PASSWORD: APP_PASSWORD });
    if (init.status !== 0) throw new Error(`postgres-init.sh failed (${init.status}):\n${init.output}`);
    await withUrl(app(writerLayout), (c) => c.query("CREATE TABLE orders (id int PRIMARY KEY, note text)"));
  });

  afterEach(async () => {
    // Each test starts with the writer unfenced (the switch-over leaves it a fenced former writer: the last test).
    await withUrl(admin(writerLayout), (c) => unfenceDatabase(c, APP_ROLE)).catch(() => undefined);
  });

  afterAll(async () => {
    for (const server of servers) await stopServer(server).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const appWriteError = async (l: ServerLayout, id: number): Promise<string | undefined> => {
    try {
      await withUrl(app(l), (c) => c.query("INSERT INTO orders VALUES ($1, 'probe')", [id]));
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };

  test("the fence resets the database and role settings by which the application would override it, and ends every client session but the superusers'", async () => {
    // The application's role owns its database: it can make every new session read-write in spite of ALTER SYSTEM.
    await withUrl(app(writerLayout), async (c) => {
      await c.query("ALTER DATABASE shop SET default_transaction_read_only = off");
      await c.query(`ALTER ROLE ${APP_ROLE} SET default_transaction_read_only = off`);
      await c.query(`ALTER ROLE ${APP_ROLE} IN DATABASE shop SET default_transaction_read_only = false`);
    });
    const otherRole = `other_${run}`;
    const otherPassword = `other-${run}`;
    await withUrl(admin(writerLayout), (c) => c.query(`CREATE ROLE ${otherRole} LOGIN PASSWORD '${otherPassword}'; GRANT CONNECT ON DATABASE shop TO ${otherRole}`));
    const other = new Client({ connectionString: tlsUrl(otherRole, otherPassword, writerLayout.port, tls.caFile, "shop") });
    let otherEnded: Error | undefined;
    other.on("error", (err) => (otherEnded = err));
    await other.connect();
    try {
      await withUrl(admin(writerLayout), async (c) => {
        await c.query("ALTER SYSTEM SET default_transaction_read_only = on");
        await c.query("SELECT pg_reload_conf()");
      });
      // ALTER SYSTEM alone: the overrides win for a new session of the application, and inspection says the fence does not hold.
      await waitFor("the reload", async () => ((await withUrl(admin(writerLayout), (c) => c.query<{ v: string }>("SELECT current_setting('default_transaction_read_only') AS v"))).rows[0].v === "on" ? true : undefined), 10_000);
      expect(await appWriteError(writerLayout, 900)).toBeUndefined();
      const before = await withUrl(admin(writerLayout), (c) => inspectDatabase(c, { appRole: APP_ROLE }));
      expect(before.fenced).toBe(false);
      expect([...(before.readOnlyOverrides ?? [])].sort()).toEqual([
        'ALTER DATABASE "shop" SET default_transaction_read_only = off',
        `ALTER ROLE "${APP_ROLE}" IN DATABASE "shop" SET default_transaction_read_only = false`,
        `ALTER ROLE "${APP_ROLE}" SET default_transaction_read_only = off`,
      ]);
      const result = await withUrl(admin(writerLayout), (c) => fenceDatabase(c, APP_ROLE));
      expect(result).toMatchObject({ alreadyFenced: false, terminated: 1, walPosition: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
      expect(result.overridesRemoved).toHaveLength(3);
      await waitFor("the other role's session to be ended", async () => (otherEnded ? true : undefined), 10_000);
      expect(await appWriteError(writerLayout, 901)).toMatch(/cannot execute INSERT in a read-only transaction/);
      const after = await withUrl(admin(writerLayout), (c) => inspectDatabase(c, { appRole: APP_ROLE }));
      expect(after.fenced).toBe(true);
      expect(after.readOnlyOverrides).toBeUndefined();
      // Everything written before the fence is before the recorded position.
      const behind = await withUrl(admin(writerLayout), (c) => c.query<{ d: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::text AS d", [result.walPosition]));
      expect(Number(behind.rows[0].d)).toBeGreaterThanOrEqual(0);
    } finally {
      await other.end().catch(() => undefined);
      await withUrl(admin(writerLayout), (c) => c.query(`REVOKE CONNECT ON DATABASE shop FROM ${otherRole}; DROP ROLE IF EXISTS ${otherRole}`)).catch(() => undefined);
      // The row the override let through; the fenced server needs an explicitly read-write transaction.
      await withUrl(tlsUrl("postgres", SUPERUSER_PASSWORD, writerLayout.port, tls.caFile, "shop"), (c) => c.query("BEGIN READ WRITE; DELETE FROM orders WHERE id = 900; COMMIT"));
    }
  });

  test("on a site whose fence marker holds runs nothing and fences its database: the application's transactions are read-only, its sessions end, fenced-wal.json says where", async () => {
    const s = await scenario("fenced", onServer(writerLayout));
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 3));
    await writeFenceMarkerObject(fencingBucket(s.own), { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 3, peerSite: "secondary", peerEpoch: 4, fencedAt: "2026-12-04T00:00:00.000Z", reason: "earlier" });
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "secondary", "writer", 4));
    const session = new Client({ connectionString: app(writerLayout) });
    let ended: Error | undefined;
    session.on("error", (err) => (ended = err));
    await session.connect();
    try {
      const { deps, state } = await agent(s);
      const result = await tick(deps, state);
      expect(result.status).toMatchObject({ verdict: "fenced", backupsMayRun: false, actionFailures: [], database: { fenced: true } });
      expect(result.status.actions).toEqual([
        expect.stringMatching(/^fenced the database drstack-primary-db-g1: every transaction is read-only; ended 1 of the application's sessions/),
        expect.stringMatching(/^wrote fenced-wal\.json \(epoch 3, WAL position [0-9A-F]+\/[0-9A-F]+\)$/),
      ]);
      expect(result.job).toBeUndefined();
      expect(await pointer(s.database)).toBeUndefined();
      await waitFor("the application's session to be ended", async () => (ended ? true : undefined), 10_000);
      expect(await appWriteError(writerLayout, 1)).toMatch(/cannot execute INSERT in a read-only transaction/);
      const record = await readFencedWal(fencingBucket(s.own));
      expect(record).toEqual({ ok: true, value: { format: FENCED_WAL_FORMAT, site: "primary", epoch: 3, walPosition: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/), fencedAt: expect.any(String), systemIdentifier: expect.stringMatching(/^[0-9]+$/), timeline: 1 } });
      // The server's own pg_control_system() identifier.
      const sysid = await withUrl(admin(writerLayout), (c) => c.query<{ id: string }>("SELECT system_identifier::text AS id FROM pg_control_system()"));
      expect(record.ok && record.value?.systemIdentifier).toBe(sysid.rows[0].id);
    } finally {
      await session.end().catch(() => undefined);
    }
  });

  test("a peer whose writer claim has a higher epoch makes the agent write fence-marker.json first, fence its database and refuse backups", async () => {
    const s = await scenario("superseded", onServer(writerLayout));
    await writeWriterClaimObject(fencingBucket(s.own), claim("primary", "primary", "writer", 3));
    await writeWriterClaimObject(fencingBucket(s.peer), claim("secondary", "secondary", "writer", 4));
    const { deps, state } = await agent(s);
    const result = await tick(deps, state);
    expect(result.status).toMatchObject({ verdict: "fenced", backupsMayRun: false, actionFailures: [] });
    expect(result.status.actions).toEqual([expect.stringMatching(/^wrote fence-marker\.json/), expect.stringMatching(/^fenced the database/), expect.stringMatching(/^wrote fenced-wal\.json/)]);
    expect(result.job).toBeUndefined();
    const marker = (await readFencingObjects(fencingBucket(s.own))).marker;
    expect(marker).toEqual({ ok: true, value: expect.objectContaining({ site: "primary", fencedEpoch: 3, peerSite: "secondary", peerEpoch: 4 }) });
    expect(await appWriteError(writerLayout, 2)).toMatch(/read-only transaction/);
    expect(await pointer(s.database)).toBeUndefined();

    // The marker is sticky: the next tick is fenced by it, writes no second marker, and still runs no backup.
    const again = await tick(deps, state);
    expect(again.status.verdict).toBe("fenced");
    // Nor fences again: the setting is on, no session of the application is left, and fenced-wal.json is this claim's: nothing changed.
    expect(again.status.actions).toEqual([]);
    expect(again.job).toBeUndefined();
    expect(again.status.history.filter((h) => h.action.startsWith("wrote fence-marker.json"))).toHaveLength(1);
  });

  test("a planned switch-over: the standby waits for the peer's fence and its WAL, then is promoted and the application writes there; nothing written before the fence is lost", async () => {
    // dc "secondary" is the writer's standby, copied by the entrypoint.
    const standby = runEntrypoint(
      {
        PGDATA: standbyData,
        DRSTACK_TLS_DIR: tls.dir,
        DRSTACK_TLS_TARGET: standbyLayout.tlsTarget,
        DRSTACK_DATABASE_INIT: "basebackup",
        DRSTACK_UPSTREAM_CONNINFO: `host=127.0.0.1 port=${writerLayout.port} user=drstack_replication sslmode=verify-full application_name=secondary_g1`,
        DRSTACK_REPLICATION_PASSWORD: REPLICATION_PASSWORD,
        DRSTACK_REPLICATION_SLOT: "drstack_secondary_g1",
      },
      serverCommand(standbyData, standbyLayout),
    );
    servers.push(standby);
    await waitUntilAccepting(standby, admin(standbyLayout));

    // Step 2 of the failback: the stack demoted the writer first (its claim says fenced), then made the standby's site the writer.
    const s = await scenario("switchover", { ...onServer(writerLayout), DRSTACK_BACKUPS_SCHEDULED: "false" });
    const own = fencingBucket(s.own);
    const peer = fencingBucket(s.peer);
    await writeWriterClaimObject(own, claim("primary", "secondary", "fenced", 7));
    await writeWriterClaimObject(peer, claim("secondary", "secondary", "writer", 8));
    const swap = {
      DRSTACK_SITE: "secondary",
      DRSTACK_PEER_SITE: "primary",
      DRSTACK_STORAGE_ENDPOINT: s.env.DRSTACK_PEER_STORAGE_ENDPOINT,
      DRSTACK_FENCING_BUCKET: s.env.DRSTACK_PEER_FENCING_BUCKET,
      DRSTACK_PEER_STORAGE_ENDPOINT: s.env.DRSTACK_STORAGE_ENDPOINT,
      DRSTACK_PEER_FENCING_BUCKET: s.env.DRSTACK_FENCING_BUCKET,
      DRSTACK_AGENT_STATUS_FILE: join(workDir, "switchover-secondary-status.json"),
      ...onServer(standbyLayout),
    };
    const primaryAgent = await agent(s);
    const secondaryAgent = await agent({ ...s, env: { ...s.env, ...swap } });

    // The application still writes on the old writer until its agent fences it; the standby's agent must not promote before.
    const session = new Client({ connectionString: app(writerLayout) });
    session.on("error", () => undefined);
    await session.connect();
    await session.query("INSERT INTO orders VALUES (10, 'before the fence')");
    const waiting = await tick(secondaryAgent.deps, secondaryAgent.state);
    expect(waiting.status.actions).toEqual([]);
    expect(waiting.status.reasons.join("\n")).toMatch(/no promotion: planned switch-over: the peer's claim \(epoch 7\) says its database is fenced; promotion waits until the peer's agent has fenced its database and written fenced-wal\.json/);
    await withUrl(admin(standbyLayout), async (c) => expect((await inspectDatabase(c)).inRecovery).toBe(true));

    const fenced = await tick(primaryAgent.deps, primaryAgent.state);
    // Its claim already says standby with a fenced database: the verdict is standby, and the database is fenced though its new standby streams from it.
    expect(fenced.status).toMatchObject({ verdict: "standby", backupsMayRun: false, actionFailures: [], database: { fenced: true } });
    expect(fenced.status.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^fenced the database drstack-primary-db-g1: every transaction is read-only; ended 1 of the application's sessions/), expect.stringMatching(/^wrote fenced-wal\.json \(epoch 7, /)]));
    await session.end().catch(() => undefined);
    expect(await appWriteError(writerLayout, 11)).toMatch(/read-only transaction/);
    const record = await readFencedWal(own);
    expect(record).toMatchObject({ ok: true, value: { site: "primary", epoch: 7 } });

    const promoted = await waitFor("the standby's agent to promote it", async () => {
      const t = await tick(secondaryAgent.deps, secondaryAgent.state);
      return t.status.actions.some((a) => a.startsWith("promoted")) ? t : undefined;
    }, 60_000);
    expect(promoted.status.actions[0]).toMatch(/^promoted the database drstack-secondary-db-g1 \(the claim says writer at epoch 8, the peer fenced its database at epoch 7 and this standby replayed its WAL up to [0-9A-F]+\/[0-9A-F]+ \(planned switch-over\)\)$/);
    expect(promoted.status).toMatchObject({ verdict: "writer", actionFailures: [], database: { fenced: false } });
    expect(promoted.status.database?.replicaOf).toBeUndefined();
    // The application logs in on the new writer, finds the row written before the fence and writes.
    await withUrl(app(standbyLayout), async (c) => {
      expect((await c.query("SELECT id FROM orders ORDER BY id")).rows).toEqual([{ id: 10 }]);
      await c.query("INSERT INTO orders VALUES (12, 'after the switch-over')");
    });
  });
});
