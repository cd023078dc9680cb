/**
 * The scheduled drill as Lambda runs it: its own throwaway PostgreSQL on a
 * unix socket (PostgreSQL 15 binaries here, 16 in the image), every setting
 * from the environment, reports in MinIO, metrics in moto; and the drill age
 * the verifier publishes from those reports.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { CloudWatchClient, GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { Client } from "pg";
import { runBackup } from "../../lambdas/core/backup";
import { DrillResult, runDrill } from "../../lambdas/core/drill";
import { BackupTarget } from "../../lambdas/core/layout";
import { BackupManifest, getJson } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { startScratchPostgres } from "../../lambdas/core/scratchPostgres";
import { runVerify } from "../../lambdas/core/verify";
import { DrillsFailedError, DrillSummary, runScheduledDrills } from "../../lambdas/core/scheduledDrills";
import { EXIT_BAD_SETTINGS, EXIT_FAILED, runDrillTask } from "../../lambdas/tasks/drill";
import { drillHandlerOptions } from "../../lambdas/settings";
import { createDatabase, services, siteA, superuserUrl } from "./helpers";

jest.setTimeout(240_000);

const NAMESPACE = "drstack/drilltest";

async function backUp(database: string, dataClass: BackupTarget["dataClass"] = "db"): Promise<BackupManifest> {
  return (await runBackup({ source: { url: superuserUrl(database), label: "DATABASE_URL" }, target: { tier: "critical", dataClass }, bucket: siteA(), pgBinDir: services.pgBinDir })).manifest;
}

/** Every value published for one database (dimension Database only, as the alarms watch it). */
async function metric(name: string, database: string): Promise<number[]> {
  const cw = new CloudWatchClient({ region: "us-east-1", endpoint: services.moto.endpoint });
  const res = await cw.send(
    new GetMetricStatisticsCommand({
      Namespace: NAMESPACE,
      MetricName: name,
      Dimensions: [{ Name: "Database", Value: database }],
      StartTime: new Date(Date.now() - 3600_000),
      EndTime: new Date(Date.now() + 3600_000),
      Period: 60,
      Statistics: ["Maximum"],
    }),
  );
  return (res.Datapoints ?? []).map((d) => d.Maximum!);
}

const scratchDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith("drstack-scratch-")).sort();

const taskEnv = (targets: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  BACKUP_BUCKET: services.minio.siteA.bucket,
  S3_ENDPOINT: services.minio.siteA.endpoint,
  S3_ACCESS_KEY_ID: services.minio.accessKey,
  S3_SECRET_ACCESS_KEY: services.minio.secretKey,
  AWS_REGION: "us-east-1",
  SITE: "secondary",
  PG_BIN_DIR: services.pgBinDir,
  METRIC_NAMESPACE: NAMESPACE,
  MONITORING_ENDPOINT: services.moto.endpoint,
  DRILL_TARGETS: targets,
  ...extra,
});

/** The drill task as ECS runs it: the bundled entry point in its own process, settings in its environment (moto takes any credentials, as the task role's would be). */
const DRILL_TASK_BUNDLE = join(__dirname, "..", "..", "dist", "lambdas", "backup", "tasks", "drill.js");
async function runTaskProcess(env: NodeJS.ProcessEnv): Promise<{ code: number | null; summary: DrillSummary; stderr: string }> {
  const child = spawn(process.execPath, [DRILL_TASK_BUNDLE], { env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { code, summary: JSON.parse(stdout) as DrillSummary, stderr };
}

describe("the drill's scratch PostgreSQL", () => {
  it("runs on a socket in its own directory, with fsync on, and removes it all on stop", async () => {
    const scratch = await startScratchPostgres({ pgBinDir: services.pgBinDir });
    const socket = join(scratch.dir, ".s.PGSQL.5432");
    try {
      expect(existsSync(socket)).toBe(true);
      const c = new Client({ connectionString: scratch.url });
      await c.connect();
      const r = await c.query<{ fsync: string; dsm: string; listen: string; addr: string | null }>(
        "SELECT current_setting('fsync') AS fsync, current_setting('dynamic_shared_memory_type') AS dsm, current_setting('listen_addresses') AS listen, inet_server_addr()::text AS addr",
      );
      await c.end();
      expect(r.rows[0]).toEqual({ fsync: "on", dsm: "mmap", listen: "", addr: null });
    } finally {
      await scratch.stop();
    }
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(scratch.dir)).toBe(false);
    await scratch.stop(); // a second stop is harmless
  });

  it("starts from a data directory initialised ahead of time (the image's template) without running initdb", async () => {
    const template = mkdtempSync(join(tmpdir(), "drstack-template-"));
    try {
      chmodSync(template, 0o755);
      spawnSync("chown", ["postgres:postgres", template]);
      // As the image does at build: initdb once as an unprivileged user, readable by all.
      const made = spawnSync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", join(services.pgBinDir!, "initdb"), "-D", join(template, "data"), "-U", "drstack", "--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C", "--no-sync"], { encoding: "utf8", cwd: "/" });
      if (made.status !== 0) throw new Error(`initdb for the template failed: ${made.stderr}`);
      spawnSync("chmod", ["-R", "a+rX", template]);
      const scratch = await startScratchPostgres({ pgBinDir: services.pgBinDir, templateDataDir: join(template, "data") });
      try {
        const c = new Client({ connectionString: scratch.url });
        await c.connect();
        expect((await c.query<{ user: string }>("SELECT current_user AS user")).rows[0].user).toBe("drstack");
        await c.end();
      } finally {
        await scratch.stop();
      }
      expect(existsSync(scratch.dir)).toBe(false);
      // The template is copied, never used in place.
      expect(existsSync(join(template, "data", "postmaster.pid"))).toBe(false);
      expect(existsSync(join(template, "data", "PG_VERSION"))).toBe(true);
    } finally {
      rmSync(template, { recursive: true, force: true });
    }
  });

  it("is stopped and removed when the drill on it throws", async () => {
    const parent = mkdtempSync(join(tmpdir(), "drstack-parent-"));
    try {
      chmodSync(parent, 0o711); // the postgres user must pass through it to its own directory
      const scratch = await startScratchPostgres({ pgBinDir: services.pgBinDir, parentDir: parent });
      try {
        await expect(
          runDrill({ bucket: { ...siteA(), bucket: "no-such-drill-bucket" }, source: { database: "x", dataClass: "db" }, scratchServer: { url: scratch.url, label: "scratch" }, site: "primary", pgBinDir: services.pgBinDir }),
        ).rejects.toThrow(/no-such-drill-bucket/);
      } finally {
        await scratch.stop();
      }
      expect(readdirSync(parent)).toEqual([]);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it("says why it did not start, and leaves nothing behind", async () => {
    const before = scratchDirs();
    await expect(startScratchPostgres({ pgBinDir: "/nonexistent" })).rejects.toThrow(/initdb not found in \/nonexistent/);
    await expect(startScratchPostgres({ pgBinDir: services.pgBinDir, parentDir: "/nonexistent/tmp" })).rejects.toThrow(/^Could not make the drill's scratch cluster directory under \/nonexistent\/tmp \((Error: )?ENOENT/);
    const long = mkdtempSync(join(tmpdir(), `drstack-${"x".repeat(90)}-`));
    try {
      await expect(startScratchPostgres({ pgBinDir: services.pgBinDir, parentDir: long })).rejects.toThrow(/is too long a path for a unix socket .* use a shorter parent directory \(TMPDIR\)/);
      expect(readdirSync(long)).toEqual([]);
    } finally {
      rmSync(long, { recursive: true, force: true });
    }
    expect(scratchDirs()).toEqual(before);
  });

  it("shows initdb's own words when it fails (here: the postgres user may not enter the parent directory)", async () => {
    expect(process.getuid?.()).toBe(0); // the test machine runs as root; the server then runs as postgres
    const parent = mkdtempSync(join(tmpdir(), "drstack-closed-")); // 0700, root's
    try {
      await expect(startScratchPostgres({ pgBinDir: services.pgBinDir, parentDir: parent })).rejects.toThrow(/^initdb of the drill's scratch cluster in .*\/data failed \(exit 1\):\n[\s\S]*Permission denied/);
      expect(readdirSync(parent)).toEqual([]);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("the drill task", () => {
  let good: BackupManifest;
  let corrupt: BackupManifest;

  beforeAll(async () => {
    await createDatabase("drillfn", 5_000);
    await createDatabase("drillbad", 1_000);
    good = await backUp("drillfn", "critical");
    corrupt = await backUp("drillbad");
    // Same size, other bytes: only hashing the dump while it is restored can tell.
    await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: corrupt.dumpKey, Body: Buffer.alloc(corrupt.size, 0x41) }));
  });
  it("drills each target into its own server, reports, publishes, and cleans up", async () => {
    const before = scratchDirs();
    const run = await runTaskProcess({ ...taskEnv("drillfn:critical:critical", { DRILL_SMOKE_QUERIES: JSON.stringify({ drillfn: "SELECT count(*) = 37 FROM billing.invoices" }) }), DRILL_DEADLINE_SECONDS: "900" });
    expect(run.stderr).not.toMatch(/^drill: /m);
    expect([run.code, run.stderr]).toEqual([0, expect.stringMatching(/drillfn: drill passed, restore took/)]);
    const summary = run.summary;
    expect(summary).toMatchObject({ ok: true, site: "secondary", databases: [{ database: "drillfn", dataClass: "critical", ok: true, failures: [] }] });
    const [drill] = summary.databases;
    expect(drill.reportKey).toMatch(/^critical\/drillfn\/drills\/\d{8}T\d{6}Z-secondary\.json$/);
    const report = (await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, drill.reportKey!))!.value;
    expect(report).toMatchObject({ ok: true, database: "drillfn", site: "secondary", manifestKey: good.manifestKey });
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([["backup", true], ["restore", true], ["row counts", true], ["checksums", true], ["smoke query", true]]);
    expect(await metric("DrillFailed", "drillfn")).toEqual([0]);
    expect(await metric("DrillRestoreSeconds", "drillfn")).toEqual([report.durationSeconds]);
    expect(scratchDirs()).toEqual(before);
  });

  it("throws after publishing when a drill fails, and still drills and publishes the others", async () => {
    const before = scratchDirs();
    const run = await runTaskProcess({ ...taskEnv("drillbad:critical:db,drillfn:critical:critical"), DRILL_DEADLINE_SECONDS: "900" });
    expect(run.code).toBe(EXIT_FAILED);
    expect(run.stderr).toMatch(/drill: restore drill failed for drillbad \(restore: checksum mismatch: db\/drillbad\/.*nothing was restored\)\n/);
    const [bad, ok] = run.summary.databases;
    expect([bad.database, bad.ok, ok.database, ok.ok]).toEqual(["drillbad", false, "drillfn", true]);
    expect((await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, bad.reportKey!))!.value.ok).toBe(false);
    expect(await metric("DrillFailed", "drillbad")).toEqual([1]);
    expect(await metric("DrillRestoreSeconds", "drillbad")).toEqual([]);
    expect(scratchDirs()).toEqual(before);
  });

  it("drills nothing once told to stop (the task's SIGTERM), and says so in DrillFailed and the error", async () => {
    const stop = new AbortController();
    stop.abort();
    const result = await runDrillTask(taskEnv("drilllate:critical:db"), stop.signal, () => undefined);
    expect(result.exitCode).toBe(EXIT_FAILED);
    expect(result.error).toMatch(/drilllate \(not drilled: a stop request \(.*\) came first; raise the drill's time limit \(drillTimeoutMinutes\)/);
    expect(await metric("DrillFailed", "drilllate")).toEqual([1]);
  });

  it("refuses a deadline it cannot use before it starts anything, exit 2", async () => {
    const before = scratchDirs();
    const run = await runTaskProcess({ ...taskEnv("drillfn:critical:critical"), DRILL_DEADLINE_SECONDS: "15m" });
    expect(run.code).toBe(EXIT_BAD_SETTINGS);
    expect(run.stderr).toMatch(/DRILL_DEADLINE_SECONDS must be a whole number of seconds, at least 60 \(got "15m"\)/);
    expect(scratchDirs()).toEqual(before);
  });

  it("stops a drill still running at the deadline, with its report written", async () => {
    const before = scratchDirs();
    const opts = drillHandlerOptions(taskEnv("drillfn:critical:critical,drillbad:critical:db", { DRILL_SMOKE_QUERIES: JSON.stringify({ drillfn: "SELECT pg_sleep(120) IS NOT NULL" }) }));
    const started = Date.now();
    const err = (await runScheduledDrills({ ...opts, deadline: new Date(Date.now() + 8_000) }).then(
      () => undefined,
      (e: unknown) => e,
    )) as DrillsFailedError;
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(err).toBeInstanceOf(DrillsFailedError);
    const [sleeping, rest] = err.summary.databases as DrillSummary["databases"];
    expect(sleeping).toMatchObject({ database: "drillfn", ok: false });
    expect(sleeping.failures.join("\n")).toMatch(/smoke query: SELECT pg_sleep\(120\) IS NOT NULL failed[\s\S]*stopped by the run's deadline/);
    expect((await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, sleeping.reportKey!))!.value.ok).toBe(false);
    expect(rest).toMatchObject({ database: "drillbad", ok: false, failures: [expect.stringMatching(/^not drilled: the run's deadline/)] });
    expect(scratchDirs()).toEqual(before);
  });
});

describe("verify's drill age", () => {
  it("counts from the newest passed drill, skipping an unreadable report and a newer failed one", async () => {
    await createDatabase("agepassed", 100);
    await backUp("agepassed");
    // The low tier's day-long RPO keeps the backup fresh at `now`: the check passes, whatever the drill age.
    const target: BackupTarget = { database: "agepassed", tier: "low", dataClass: "db" };
    const passed = await runDrill({ bucket: siteA(), source: target, scratchServer: { url: superuserUrl("postgres"), label: "scratch" }, site: "primary", pgBinDir: services.pgBinDir });
    expect(passed.ok).toBe(true);
    const s3 = s3Client(siteA());
    const later = (ts: string) => `db/agepassed/drills/${ts}-primary.json`;
    await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: later("29990101T000000Z"), Body: "{not json" }));
    await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: later("29980101T000000Z"), Body: JSON.stringify({ ...passed, ok: false, startedAt: "2998-01-01T00:00:00.000Z" }) }));
    const now = new Date(Date.parse(passed.startedAt) + 3_600_000);
    const logged: string[] = [];
    const report = await runVerify({ targets: [target], bucket: siteA(), now, log: (m) => logged.push(m) });
    expect(report.ok).toBe(true);
    expect(report.targets[0]).toMatchObject({ drillAgeSeconds: 3600, lastDrill: { ok: false, startedAt: "2998-01-01T00:00:00.000Z", reportKey: later("29980101T000000Z") } });
    expect(logged).toEqual([expect.stringMatching(/^agepassed: drill report db\/agepassed\/drills\/29990101T000000Z-primary\.json skipped, unreadable/)]);
  });

  it("with only failed drills counts from the first one, and publishes it without failing the check", async () => {
    await createDatabase("agefailed", 100);
    await backUp("agefailed");
    const target: BackupTarget = { database: "agefailed", tier: "low", dataClass: "db" };
    const failed = await runDrill({ bucket: siteA(), source: target, scratchServer: { url: superuserUrl("postgres"), label: "scratch" }, smokeQuery: "SELECT false", site: "primary", pgBinDir: services.pgBinDir });
    expect(failed.ok).toBe(false);
    const s3 = s3Client(siteA());
    const later = `db/agefailed/drills/29980101T000000Z-primary.json`;
    await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: later, Body: JSON.stringify({ ...failed, startedAt: "2998-01-01T00:00:00.000Z" }) }));
    await new Promise((r) => setTimeout(r, 2000));
    const now = new Date();
    const report = await runVerify({ targets: [target], bucket: siteA(), now, drillSite: "primary", monitoring: { region: "us-east-1", endpoint: services.moto.endpoint, namespace: NAMESPACE } });
    expect(report.ok).toBe(true);
    // From the first failed drill, not the later one: the database has gone that long without a pass.
    expect(report.targets[0]).toMatchObject({ drillAgeSeconds: Math.round((now.getTime() - Date.parse(failed.startedAt)) / 1000), lastDrill: { ok: false, reportKey: later } });
    expect(report.targets[0].drillAgeSeconds).toBeGreaterThanOrEqual(2);
    expect(await metric("DrillAgeSeconds", "agefailed")).toEqual([report.targets[0].drillAgeSeconds]);
  });

  it("counts only its own site's drills, and before a site's first drill publishes no age", async () => {
    await createDatabase("agesite", 100);
    await backUp("agesite");
    const target: BackupTarget = { database: "agesite", tier: "low", dataClass: "db" };
    // The peer's passed drill, replicated into this bucket, must not vouch for this site.
    const peer = await runDrill({ bucket: siteA(), source: target, scratchServer: { url: superuserUrl("postgres"), label: "scratch" }, site: "secondary", pgBinDir: services.pgBinDir });
    expect(peer.ok).toBe(true);
    const here = await runVerify({ targets: [target], bucket: siteA(), drillSite: "primary" });
    expect(here.ok).toBe(true);
    expect(here.targets[0].drillAgeSeconds).toBeUndefined();
    expect(here.targets[0].lastDrill).toBeUndefined();
    const there = await runVerify({ targets: [target], bucket: siteA(), drillSite: "secondary", now: new Date(Date.parse(peer.startedAt) + 60_000) });
    expect(there.targets[0]).toMatchObject({ drillAgeSeconds: 60, lastDrill: { ok: true } });
  });
});
