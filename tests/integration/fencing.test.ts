/**
 * Fencing against the real servers: per-site pointers and two buckets that
 * replicate into each other on MinIO, backups refused on PostgreSQL (a real
 * hot standby, and a standby's claim or a fence marker in moto's SSM), the
 * guard's decision and actions against moto's SSM, RDS, Scheduler, SNS and
 * CloudWatch in two regions, and the backup handler asking the guard through
 * the Lambda Invoke API.
 */
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { chownSync, mkdirSync } from "node:fs";
import { createServer, Server } from "node:http";
import { AddressInfo, createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { Client } from "pg";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { CreateDBInstanceCommand, CreateDBInstanceReadReplicaCommand, DescribeDBInstancesCommand, RDSClient } from "@aws-sdk/client-rds";
import { CreateScheduleCommand, GetScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_WRITER, runBackup } from "../../lambdas/core/backup";
import { NotWriterError } from "../../lambdas/core/errors";
import { FENCE_MARKER_FORMAT, WRITER_CLAIM_FORMAT, WriterClaim } from "../../lambdas/core/fencing";
import { claimWriterCheck } from "../../lambdas/core/fencingState";
import { GuardOptions, guardOptionsFromEnv, runGuard } from "../../lambdas/core/guard";
import { latestKey, legacyLatestKey } from "../../lambdas/core/layout";
import { BackupManifest, getJson, LatestPointer, resolveLatest } from "../../lambdas/core/manifest";
import { runRestore } from "../../lambdas/core/restore";
import { RunLockRecord } from "../../lambdas/core/runLock";
import { BucketLocation, s3Client } from "../../lambdas/core/s3";
import { runVerify } from "../../lambdas/core/verify";
import { handler as backupHandler } from "../../lambdas/handlers/backup";
import { alarmTopic, createDatabase, listKeys, runCli, services, siteA, siteAFlags, superuserUrl } from "./helpers";

jest.setTimeout(180_000);

const pgBinDir = services.pgBinDir;
const source = (database: string) => ({ url: superuserUrl(database), label: "DATABASE_URL" });
const moto = services.moto.endpoint;
const PRIMARY_REGION = "us-west-2";
const SECONDARY_REGION = "us-east-1";

function minioLocation(endpoint: string, bucket: string): BucketLocation {
  return { ...siteA(), endpoint, bucket };
}

function mc(...args: string[]): string {
  const res = spawnSync(services.mcBin, ["--quiet", ...args], { env: { ...process.env, MC_CONFIG_DIR: services.mcConfigDir }, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`mc ${args.join(" ")}: ${res.stderr || res.stdout}`);
  return res.stdout;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function etag(loc: BucketLocation, key: string): Promise<string | undefined> {
  return (await s3Client(loc).send(new HeadObjectCommand({ Bucket: loc.bucket, Key: key }))).ETag;
}

describe("per-site pointers", () => {
  it("readers take the newest by writer epoch, then slot; a site's pointer never moves back; a legacy latest.json counts as epoch 0", async () => {
    await createDatabase("pointers", 50);
    const target = { tier: "standard" as const, dataClass: "db" as const };
    const at = (iso: string) => new Date(iso);
    // A legacy pointer, as written before fencing, names a real manifest.
    const legacy = await runBackup({ source: source("pointers"), target, bucket: siteA(), slot: at("2026-11-01T00:00:00Z"), pgBinDir, writer: { site: "legacy", epoch: 0 } });
    const legacyPointer = { ...(await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, latestKey({ database: "pointers", dataClass: "db" }, "legacy")))!.value } as Partial<LatestPointer>;
    delete legacyPointer.site;
    delete legacyPointer.epoch;
    await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: legacyLatestKey({ database: "pointers", dataClass: "db" }), Body: JSON.stringify(legacyPointer) }));
    expect((await resolveLatest(s3Client(siteA()), siteA().bucket, { database: "pointers", dataClass: "db" }))?.pointer).toMatchObject({ site: "legacy", epoch: 0, manifestKey: legacy.manifest.manifestKey });

    const secondary = await runBackup({ source: source("pointers"), target, bucket: siteA(), slot: at("2026-11-02T00:00:00Z"), pgBinDir, writer: { site: "secondary", epoch: 3 } });
    // The stale primary backs up later by slot, under its older epoch.
    const stalePrimary = await runBackup({ source: source("pointers"), target, bucket: siteA(), slot: at("2026-11-03T00:00:00Z"), pgBinDir, writer: { site: "primary", epoch: 2 } });
    expect([secondary.published, stalePrimary.published]).toEqual(["published", "published"]);
    expect(stalePrimary.manifest.dumpKey).toMatch(/20261103T000000Z-primary-[0-9a-f]{12}\.dump$/);
    expect(secondary.manifest).toMatchObject({ site: "secondary", epoch: 3 });

    const resolved = await resolveLatest(s3Client(siteA()), siteA().bucket, { database: "pointers", dataClass: "db" });
    expect(resolved).toMatchObject({ key: "db/pointers/latest-secondary.json", pointer: { site: "secondary", epoch: 3, manifestKey: secondary.manifest.manifestKey } });
    const report = await runVerify({ targets: [{ database: "pointers", ...target }], bucket: siteA(), now: new Date(Date.parse(secondary.manifest.endedAt) + 1000) });
    expect(report.targets[0]).toMatchObject({ ok: true, site: "secondary", epoch: 3, dumpKey: secondary.manifest.dumpKey });
    await createDatabase("pointers_restore");
    const restored = await runRestore({ bucket: siteA(), source: { database: "pointers", dataClass: "db" }, destination: source("pointers_restore"), pgBinDir });
    expect(restored).toMatchObject({ ok: true, manifestKey: secondary.manifest.manifestKey });

    // A late run of an earlier epoch never moves the site's pointer back, even with a later slot.
    const older = await runBackup({ source: source("pointers"), target, bucket: siteA(), slot: at("2026-11-04T00:00:00Z"), pgBinDir, writer: { site: "secondary", epoch: 1 } });
    expect(older.published).toBe("newer-exists");
    expect((await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, "db/pointers/latest-secondary.json"))?.value.manifestKey).toBe(secondary.manifest.manifestKey);
  });

  it("two sites replicating into each other: each site's pointer is written only by that site, replication adds the other's beside it", async () => {
    // Two fresh buckets, one per MinIO site, replicating both ways (like the two stacks' CrossRegionReplication).
    const [a, b] = ["drstack-fencing-a", "drstack-fencing-b"];
    const portOf = (endpoint: string) => new URL(endpoint).port;
    mc("mb", "--ignore-existing", "--with-versioning", `sitea/${a}`);
    mc("mb", "--ignore-existing", "--with-versioning", `siteb/${b}`);
    const remote = (port: string, bucket: string) => `http://${services.minio.accessKey}:${services.minio.secretKey}@127.0.0.1:${port}/${bucket}`;
    mc("replicate", "add", `sitea/${a}`, "--remote-bucket", remote(portOf(services.minio.siteB.endpoint), b), "--priority", "1");
    mc("replicate", "add", `siteb/${b}`, "--remote-bucket", remote(portOf(services.minio.siteA.endpoint), a), "--priority", "1");
    const bucketA = minioLocation(services.minio.siteA.endpoint, a);
    const bucketB = minioLocation(services.minio.siteB.endpoint, b);
    await createDatabase("twoway", 200);
    const target = { tier: "high" as const, dataClass: "db" as const };
    const slot = new Date("2026-11-23T02:00:00Z");
    const key = (site: string) => latestKey({ database: "twoway", dataClass: "db" }, site);

    // Both sites back up the very same slot: their keys differ by site, so neither replica lands on the other's.
    const fromA = await runBackup({ source: source("twoway"), target, bucket: bucketA, slot, pgBinDir, writer: { site: "primary", epoch: 2 } });
    const fromB = await runBackup({ source: source("twoway"), target, bucket: bucketB, slot, pgBinDir, writer: { site: "secondary", epoch: 3 } });
    expect(fromA.manifest.dumpKey).not.toBe(fromB.manifest.dumpKey);
    const ownB = await etag(bucketB, key("secondary"));
    await until("A's pointer in B", async () => ((await listKeys(bucketB, "db/twoway/")).includes(key("primary")) ? true : undefined));
    await until("B's pointer in A", async () => ((await listKeys(bucketA, "db/twoway/")).includes(key("secondary")) ? true : undefined));
    await until("both dumps in both buckets", async () => {
      const [inA, inB] = [await listKeys(bucketA, "db/twoway/"), await listKeys(bucketB, "db/twoway/")];
      return [fromA, fromB].every((r) => inA.includes(r.manifest.dumpKey) && inB.includes(r.manifest.dumpKey)) ? true : undefined;
    });

    // The stale site keeps backing up with later slots; its pointer replicates, B's own stays B's.
    const later = await runBackup({ source: source("twoway"), target, bucket: bucketA, slot: new Date("2026-11-23T03:00:00Z"), pgBinDir, writer: { site: "primary", epoch: 2 } });
    await until("A's newer pointer in B", async () => {
      const p = await getJson<LatestPointer>(s3Client(bucketB), b, key("primary"));
      return p?.value.manifestKey === later.manifest.manifestKey ? true : undefined;
    });
    expect(await etag(bucketB, key("secondary"))).toBe(ownB);
    const inB = (await getJson<LatestPointer>(s3Client(bucketB), b, key("secondary")))!.value;
    expect(inB).toMatchObject({ site: "secondary", epoch: 3, manifestKey: fromB.manifest.manifestKey });
    for (const bucket of [bucketA, bucketB]) {
      expect((await resolveLatest(s3Client(bucket), bucket.bucket, { database: "twoway", dataClass: "db" }))?.pointer).toMatchObject({ site: "secondary", epoch: 3 });
    }
    const manifestInA = (await getJson<BackupManifest>(s3Client(bucketA), a, fromB.manifest.manifestKey))?.value;
    expect(manifestInA).toMatchObject({ site: "secondary", epoch: 3, sha256: fromB.manifest.sha256 });
  });
});

/** A real hot standby of the test server: pg_basebackup, standby.signal, its own port. */
async function startStandby(): Promise<{ port: number; stop: () => Promise<void> }> {
  const dir = join(services.workDir, `standby-${Date.now()}`);
  mkdirSync(dir, { mode: 0o700 });
  const asRoot = process.getuid?.() === 0;
  const pgUser = asRoot ? Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim()) : undefined;
  if (asRoot) chownSync(dir, pgUser!, Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim()));
  const as = (bin: string, args: string[]): [string, string[]] => (asRoot ? ["runuser", ["-u", "postgres", "--", join(pgBinDir, bin), ...args]] : [join(pgBinDir, bin), args]);
  const [cmd, args] = as("pg_basebackup", ["-h", "127.0.0.1", "-p", String(services.postgres.port), "-U", "postgres", "-D", join(dir, "data"), "-R", "-X", "stream", "--checkpoint=fast"]);
  const res = spawnSync(cmd, args, { env: { ...process.env, PGPASSWORD: services.postgres.password }, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`pg_basebackup failed: ${res.stderr}`);
  const port = await new Promise<number>((resolve) => {
    const srv = createNetServer().listen(0, "127.0.0.1", () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const [pgCmd, pgArgs] = as("postgres", ["-D", join(dir, "data"), "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-k", dir, "-c", "fsync=off"]);
  const child: ChildProcess = spawn(pgCmd, pgArgs, { stdio: "ignore", detached: true });
  const url = superuserUrl("postgres").replace(`:${services.postgres.port}/`, `:${port}/`);
  await until("the standby to accept connections", async () => {
    try {
      const c = new Client({ connectionString: url });
      await c.connect();
      await c.end();
      return true;
    } catch {
      return undefined;
    }
  });
  return {
    port,
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        return; // already gone
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // stopped
      }
    },
  };
}

describe("backups refuse unless this site is the writer", () => {
  const ssm = new SSMClient({ region: PRIMARY_REGION, endpoint: moto });
  const put = (name: string, value: object) => ssm.send(new PutParameterCommand({ Name: name, Value: JSON.stringify(value), Type: "String", Overwrite: true }));
  const claim = (overrides: Partial<WriterClaim>): WriterClaim => ({
    format: WRITER_CLAIM_FORMAT,
    site: "primary",
    activeSite: "primary",
    role: "active",
    databaseMode: "writer",
    databaseIdentifier: "acme-primary-db",
    epoch: 2,
    ...overrides,
  });

  it("a hot standby (pg_is_in_recovery) backs up nothing, whatever it is told", async () => {
    await createDatabase("onstandby", 100);
    const standby = await startStandby();
    try {
      const url = superuserUrl("onstandby").replace(`:${services.postgres.port}/`, `:${standby.port}/`);
      const c = new Client({ connectionString: url });
      await c.connect();
      const inRecovery = (await c.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r")).rows[0].r;
      await c.end();
      expect(inRecovery).toBe(true);
      const before = await listKeys(siteA(), "db/onstandby/");
      await expect(runBackup({ source: { url, label: "DATABASE_URL" }, target: { tier: "standard", dataClass: "db" }, bucket: siteA(), pgBinDir })).rejects.toThrow(
        /this site is not the writer, so it backs up nothing: its database is in recovery \(a read replica\)/,
      );
      expect(await listKeys(siteA(), "db/onstandby/")).toEqual(before);
    } finally {
      await standby.stop();
    }
  });

  it("the site's claim and fence marker (SSM) decide, through the CLI: standby refused, writer backs up under its claim's site and epoch, fenced refused", async () => {
    await createDatabase("claimed", 100);
    const stamp = Date.now();
    const names = { claim: `/it-${stamp}/primary/fencing/claim`, marker: `/it-${stamp}/primary/fencing/fence` };
    const cli = (slot: string) =>
      runCli(["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", pgBinDir, "--claim-parameter", names.claim, "--fence-marker-parameter", names.marker, "--slot", slot], {
        DATABASE_URL: superuserUrl("claimed"),
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_ENDPOINT_URL_SSM: moto,
      });
    // The claim lives in the site's region: --region (from siteAFlags) names it for S3 and SSM alike.
    const ssmEast = new SSMClient({ region: services.minio.region, endpoint: moto });
    const putEast = (name: string, value: object) => ssmEast.send(new PutParameterCommand({ Name: name, Value: JSON.stringify(value), Type: "String", Overwrite: true }));

    const none = await cli("2026-11-23T04:00:00Z");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/check failed: this site is not the writer, so it backs up nothing: this site has no writer claim/);

    await putEast(names.claim, claim({ activeSite: "secondary", role: "standby", databaseMode: "fenced", epoch: 3 }));
    const standby = await cli("2026-11-23T04:05:00Z");
    expect(standby.code).toBe(1);
    expect(standby.stderr).toMatch(/its stack made it standby with a fenced database/);
    expect(await listKeys(siteA(), "db/claimed/")).toEqual([]);

    await putEast(names.claim, claim({ epoch: 4 }));
    const writer = await cli("2026-11-23T04:10:00Z");
    expect(writer.stderr).not.toMatch(/check failed/);
    expect(writer.code).toBe(0);
    expect((JSON.parse(writer.stdout) as { manifest: BackupManifest }).manifest).toMatchObject({ site: "primary", epoch: 4 });
    expect(await listKeys(siteA(), "db/claimed/")).toContain("db/claimed/latest-primary.json");

    await putEast(names.marker, { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 4, peerSite: "secondary", peerEpoch: 5, fencedAt: new Date().toISOString(), reason: "secondary's writer at epoch 5" });
    const fenced = await cli("2026-11-23T04:15:00Z");
    expect(fenced.code).toBe(1);
    expect(fenced.stderr).toMatch(/its guard fenced it at .*secondary's writer at epoch 5/);
    expect((await listKeys(siteA(), "db/claimed/")).filter((k) => k.includes("20261123T0415"))).toEqual([]);
  });

  it("a site fenced while it dumps completes nothing: the second check aborts the upload", async () => {
    await createDatabase("midrun", 2000);
    let asked = 0;
    const writer = async () => {
      asked += 1;
      if (asked > 1) throw new NotWriterError("its guard fenced it at the second check");
      return DEFAULT_WRITER;
    };
    await expect(runBackup({ source: source("midrun"), target: { tier: "standard", dataClass: "db" }, bucket: siteA(), pgBinDir, writer })).rejects.toThrow(/fenced it at the second check/);
    expect(asked).toBe(2);
    // Only the run lock remains, released: no dump, manifest or pointer.
    expect(await listKeys(siteA(), "db/midrun/")).toEqual(["db/midrun/lock-primary-backup.json"]);
    expect((await getJson<RunLockRecord>(s3Client(siteA()), siteA().bucket, "db/midrun/lock-primary-backup.json"))?.value.released).toBe(true);
  });

  it("claimWriterCheck reads the claim and marker with one GetParameters from SSM", async () => {
    const stamp = Date.now();
    const names = { claim: `/it-check-${stamp}/claim`, marker: `/it-check-${stamp}/fence` };
    await put(names.claim, claim({ site: "secondary", activeSite: "secondary", epoch: 7 }));
    const check = claimWriterCheck({ region: PRIMARY_REGION, claimParameter: names.claim, fenceMarkerParameter: names.marker, ssm });
    await expect(check()).resolves.toEqual({ site: "secondary", epoch: 7 });
  });
});

describe("the fencing guard against moto (SSM, RDS, Scheduler, SNS, CloudWatch; two regions)", () => {
  const run = `g${Date.now().toString(36)}`;
  const names = (site: string) => ({ claim: `/${run}/${site}/fencing/claim`, marker: `/${run}/${site}/fencing/fence` });
  const ssmIn = (region: string) => new SSMClient({ region, endpoint: moto });
  const rdsIn = (region: string) => new RDSClient({ region, endpoint: moto });
  const scheduler = new SchedulerClient({ region: PRIMARY_REGION, endpoint: moto });
  const writeClaim = (region: string, name: string, value: WriterClaim) => ssmIn(region).send(new PutParameterCommand({ Name: name, Value: JSON.stringify(value), Type: "String", Overwrite: true }));
  const claimOf = (site: "primary" | "secondary", activeSite: "primary" | "secondary", epoch: number, mode: WriterClaim["databaseMode"], id: string): WriterClaim => ({
    format: WRITER_CLAIM_FORMAT,
    site,
    activeSite,
    role: site === activeSite ? "active" : "standby",
    databaseMode: mode,
    databaseIdentifier: id,
    epoch,
  });
  const createDb = (region: string, id: string) =>
    rdsIn(region).send(new CreateDBInstanceCommand({ DBInstanceIdentifier: id, Engine: "postgres", DBInstanceClass: "db.r6g.large", AllocatedStorage: 20, MasterUsername: "drstack", MasterUserPassword: "secret-pw-123", MultiAZ: true }));
  const status = async (region: string, id: string) => (await rdsIn(region).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0]?.DBInstanceStatus;
  let schedules: string[] = [];
  let options: (site: "primary" | "secondary", extra?: Partial<GuardOptions>) => GuardOptions;
  let alarm: Awaited<ReturnType<typeof alarmTopic>>;

  beforeAll(async () => {
    alarm = await alarmTopic(`${run}-guard`, PRIMARY_REGION);
    await createDb(PRIMARY_REGION, `${run}-primary-db`);
    await createDb(SECONDARY_REGION, `${run}-secondary-db`);
    schedules = [`${run}-backup-shop`, `${run}-backup-ledger`];
    for (const name of schedules) {
      await scheduler.send(
        new CreateScheduleCommand({
          Name: name,
          ScheduleExpression: "rate(5 minutes)",
          ScheduleExpressionTimezone: "UTC",
          Description: `backup ${name}`,
          State: "ENABLED",
          FlexibleTimeWindow: { Mode: "OFF" },
          Target: { Arn: `arn:aws:lambda:${PRIMARY_REGION}:123456789012:function:${name}`, RoleArn: "arn:aws:iam::123456789012:role/scheduler", Input: '{"slot":"<aws.scheduler.scheduled-time>"}', RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } },
        }),
      );
    }
    options = (site, extra = {}) => {
      const peer = site === "primary" ? "secondary" : "primary";
      return {
        site,
        region: site === "primary" ? PRIMARY_REGION : SECONDARY_REGION,
        peerRegion: site === "primary" ? SECONDARY_REGION : PRIMARY_REGION,
        claimParameter: names(site).claim,
        fenceMarkerParameter: names(site).marker,
        peerClaimParameter: names(peer).claim,
        peerFenceMarkerParameter: names(peer).marker,
        backupSchedules: site === "primary" ? schedules : [],
        alarmTopicArn: site === "primary" ? alarm.monitoring.topicArn : undefined,
        metricNamespace: "drstack/fencing",
        endpoints: { own: moto, peer: moto },
        ...extra,
      };
    };
  });

  it("the primary, back with its old claim, fences itself: marker, both schedules disabled with nothing else changed, database stopped, one notification", async () => {
    await writeClaim(PRIMARY_REGION, names("primary").claim, claimOf("primary", "primary", 2, "writer", `${run}-primary-db`));
    await writeClaim(SECONDARY_REGION, names("secondary").claim, claimOf("secondary", "secondary", 3, "writer", `${run}-secondary-db`));
    const before = await scheduler.send(new GetScheduleCommand({ Name: schedules[0] }));

    const report = await runGuard(options("primary"));
    expect(report.decision).toMatchObject({ verdict: "fenced", backupsMayRun: false, stopDatabase: `${run}-primary-db` });
    expect(report.actionFailures).toEqual([]);
    expect(report.actions).toEqual([
      `wrote the fence marker ${names("primary").marker}`,
      ...schedules.map((s) => `disabled the backup schedule ${s}`),
      `stopped the database ${run}-primary-db`,
    ]);
    const marker = JSON.parse((await ssmIn(PRIMARY_REGION).send(new GetParameterCommand({ Name: names("primary").marker }))).Parameter!.Value!);
    expect(marker).toMatchObject({ site: "primary", fencedEpoch: 2, peerSite: "secondary", peerEpoch: 3 });
    expect(await status(PRIMARY_REGION, `${run}-primary-db`)).toBe("stopped");
    const after = await scheduler.send(new GetScheduleCommand({ Name: schedules[0] }));
    expect(after.State).toBe("DISABLED");
    const { $metadata: _m1, State: _s1, LastModificationDate: _l1, ...keptBefore } = before;
    const { $metadata: _m2, State: _s2, LastModificationDate: _l2, ...keptAfter } = after;
    expect(keptAfter).toEqual(keptBefore);
    const messages = await alarm.messages();
    expect(messages.map((m) => m.Subject)).toEqual(["drstack primary fenced itself: not the writer"]);

    // The next run finds it all done, and stays fenced.
    const again = await runGuard(options("primary"));
    expect(again.decision.verdict).toBe("fenced");
    expect(again.actions).toEqual([]);
    expect(await alarm.messages()).toEqual([]);
    // The secondary's guard: the writer, whose peer has fenced itself.
    expect((await runGuard(options("secondary"))).decision).toMatchObject({ verdict: "writer", backupsMayRun: true, inconsistent: false });
  });

  it("two guard runs at once (the schedule's and a backup's) stop the database once, and neither reports a failure", async () => {
    const id = `${run}-race-db`;
    await createDb(PRIMARY_REGION, id);
    // The primary's marker from the test above still holds at epoch 2: both runs want the database stopped.
    await writeClaim(PRIMARY_REGION, names("primary").claim, claimOf("primary", "primary", 2, "writer", id));
    const reports = await Promise.all([runGuard(options("primary", { alarmTopicArn: undefined })), runGuard(options("primary", { alarmTopicArn: undefined }))]);
    expect(reports.map((r) => r.actionFailures)).toEqual([[], []]);
    expect(reports.flatMap((r) => r.actions).filter((a) => a === `stopped the database ${id}`).length).toBeGreaterThanOrEqual(1);
    expect(await status(PRIMARY_REGION, id)).toBe("stopped");
    await writeClaim(PRIMARY_REGION, names("primary").claim, claimOf("primary", "primary", 2, "writer", `${run}-primary-db`));
  });

  it("with the peer's region unreachable the writer keeps its backups, alarms, and answers within seconds", async () => {
    const dead = await new Promise<number>((resolve) => {
      const srv = createNetServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const started = Date.now();
    const report = await runGuard(options("secondary", { endpoints: { own: moto, peer: `http://127.0.0.1:${dead}` } }));
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(report.decision).toMatchObject({ verdict: "writer", backupsMayRun: true, peerUnreachable: true });
  });

  it("a standby's former writer that still has a read replica is not stopped (RDS forbids it): the stop is deferred, with why", async () => {
    const id = `${run}-secondary-old`;
    await createDb(SECONDARY_REGION, id);
    await rdsIn(SECONDARY_REGION).send(new CreateDBInstanceReadReplicaCommand({ DBInstanceIdentifier: `${id}-replica`, SourceDBInstanceIdentifier: id }));
    await writeClaim(SECONDARY_REGION, names("secondary").claim, claimOf("secondary", "primary", 4, "fenced", id));
    await writeClaim(PRIMARY_REGION, names("primary").claim, claimOf("primary", "primary", 4, "writer", `${run}-primary-db`));
    const report = await runGuard(options("secondary"));
    expect(report.decision).toMatchObject({ verdict: "standby", backupsMayRun: false });
    expect(report.decision.stopDatabase).toBeUndefined();
    expect(report.decision.stopDeferred).toMatch(/has read replicas \(.*-secondary-old-replica\)/);
    expect(await status(SECONDARY_REGION, id)).toBe("available");
  });

  it("the backup handler asks the guard through Lambda's Invoke API, and is refused while the guard says fenced", async () => {
    // A stand-in for the Lambda service: Invoke runs the guard with the environment infra gives it.
    const guardEnv = {
      SITE: "primary",
      AWS_REGION: PRIMARY_REGION,
      PEER_REGION: SECONDARY_REGION,
      FENCING_CLAIM_PARAMETER: names("primary").claim,
      FENCE_MARKER_PARAMETER: names("primary").marker,
      PEER_FENCING_CLAIM_PARAMETER: names("secondary").claim,
      PEER_FENCE_MARKER_PARAMETER: names("secondary").marker,
      BACKUP_SCHEDULES: schedules.join(","),
    };
    const invoked: string[] = [];
    const lambda: Server = createServer((req, res) => {
      invoked.push(req.url ?? "");
      runGuard({ ...guardOptionsFromEnv(guardEnv), endpoints: { own: moto, peer: moto } })
        .then((report) => {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(report));
        })
        .catch((err: Error) => {
          res.writeHead(200, { "x-amz-function-error": "Unhandled" }).end(JSON.stringify({ errorMessage: err.message }));
        });
    });
    await new Promise<void>((resolve) => lambda.listen(0, "127.0.0.1", resolve));
    const saved = { ...process.env };
    try {
      await createDatabase("guarded", 100);
      process.env = {
        ...saved,
        BACKUP_BUCKET: services.minio.siteA.bucket,
        S3_ENDPOINT: services.minio.siteA.endpoint,
        S3_ACCESS_KEY_ID: services.minio.accessKey,
        S3_SECRET_ACCESS_KEY: services.minio.secretKey,
        AWS_REGION: PRIMARY_REGION,
        PG_BIN_DIR: pgBinDir,
        DATABASE_URL: superuserUrl("guarded"),
        BACKUP_TIER: "standard",
        SITE: "primary",
        FENCING_CLAIM_PARAMETER: names("primary").claim,
        FENCE_MARKER_PARAMETER: names("primary").marker,
        GUARD_FUNCTION: "acme-primary-fencing-guard",
        AWS_ENDPOINT_URL_SSM: moto,
        AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(lambda.address() as AddressInfo).port}`,
      };
      // The primary was fenced by the first test of this block (its marker holds): refused, nothing written.
      await writeClaim(PRIMARY_REGION, names("primary").claim, claimOf("primary", "primary", 2, "writer", `${run}-primary-db`));
      const refused = await backupHandler({ slot: "2026-11-23T05:00:00Z" });
      expect(refused).toMatchObject({ outcome: "refused", reason: expect.stringMatching(/its guard fenced it/) });
      expect(await listKeys(siteA(), "db/guarded/")).toEqual([]);

      // After failback the primary is the writer at epoch 4: the guard is asked twice (before the dump, before completing it).
      await writeClaim(PRIMARY_REGION, names("primary").claim, claimOf("primary", "primary", 4, "writer", `${run}-primary-db`));
      await writeClaim(SECONDARY_REGION, names("secondary").claim, claimOf("secondary", "primary", 4, "replica", `${run}-secondary-db`));
      invoked.length = 0;
      const created = await backupHandler({ slot: "2026-11-23T05:05:00Z" });
      expect(created).toMatchObject({ outcome: "created", published: "published", site: "primary", epoch: 4 });
      expect(invoked).toEqual(["/2015-03-31/functions/acme-primary-fencing-guard/invocations", "/2015-03-31/functions/acme-primary-fencing-guard/invocations"]);
    } finally {
      process.env = saved;
      await new Promise((resolve) => lambda.close(resolve));
    }
  });
});
