/**
 * Two runs of the same backup at once, and runs killed mid-upload, against
 * real PostgreSQL taking writes and MinIO: the run lock (S3 conditional
 * writes) keeps them apart, a loser reports success only for a stored dump
 * that matches the winner's manifest, and no run aborts another's live upload.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { runBackup, runIdForSlot } from "../../lambdas/core/backup";
import { CheckFailedError } from "../../lambdas/core/errors";
import { backupKeys, latestKey } from "../../lambdas/core/layout";
import { BackupManifest, LatestPointer, getJson } from "../../lambdas/core/manifest";
import { LockHeldError, RunLockRecord, runLockKey } from "../../lambdas/core/runLock";
import { s3Client } from "../../lambdas/core/s3";
import { runVerify } from "../../lambdas/core/verify";
import { CliRun, createDatabase, listKeys, openUploads, runCli, services, siteA, siteAFlags, superuserUrl, withClient } from "./helpers";

jest.setTimeout(180_000);

const pgBinDir = services.pgBinDir;

/** Inserts rows until stopped, so two dumps of the same database never have the same bytes. */
function keepWriting(database: string): () => Promise<void> {
  let stop = false;
  const loop = withClient(database, async (c) => {
    while (!stop) await c.query(`INSERT INTO public.events SELECT g, md5(random()::text) FROM generate_series((SELECT coalesce(max(id), 0) + 1 FROM public.events), (SELECT coalesce(max(id), 0) + 200 FROM public.events)) g`);
  });
  return async () => {
    stop = true;
    await loop;
  };
}

describe("two runs of the same backup", () => {
  it("two CLI runs of the same --slot while the database takes writes: one creates, the other is told the slot is owned (exit 3) or finds it done; the pointer's dump matches its manifest", async () => {
    await createDatabase("sameslot", 150_000);
    const stopWriting = keepWriting("sameslot");
    const slot = "2026-11-24T05:00:00Z";
    const args = ["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", pgBinDir, "--slot", slot, "--part-size-mb", "5", "--concurrency", "1"];
    let runs: CliRun[];
    try {
      runs = await Promise.all([runCli(args, { DATABASE_URL: superuserUrl("sameslot") }), runCli(args, { DATABASE_URL: superuserUrl("sameslot") })]);
    } finally {
      await stopWriting();
    }
    for (const r of runs) expect(r.stderr).not.toMatch(/NoSuchUpload|\n\s+at /);
    const created = runs.filter((r) => r.code === 0 && JSON.parse(r.stdout).outcome === "created");
    expect(created).toHaveLength(1);
    const other = runs.find((r) => r !== created[0])!;
    if (other.code === 3) {
      expect(other.stderr).toMatch(/another run owns this slot: run [0-9a-f]{12} \(slot 2026-11-24T05:00:00\.000Z, .*This run did nothing; the holder publishes the slot/);
    } else {
      expect(other.code).toBe(0);
      expect(JSON.parse(other.stdout).outcome).toBe("already-done");
    }

    const winner = (JSON.parse(created[0].stdout) as { manifest: BackupManifest }).manifest;
    const s3 = s3Client(siteA());
    expect((await getJson<LatestPointer>(s3, siteA().bucket, latestKey(winner, "primary")))?.value.manifestKey).toBe(winner.manifestKey);
    // Deep: the stored bytes hash to the manifest's SHA-256, so restore will accept them.
    const report = await runVerify({ targets: [{ database: "sameslot", tier: "standard", dataClass: "db" }], bucket: siteA() });
    expect(report.targets[0].failures).toEqual([]);
    expect(await openUploads(siteA(), winner.dumpKey)).toEqual([]);

    // A third delivery of the slot, after the fact: checked against the manifest, then only re-published.
    const third = await runCli(args, { DATABASE_URL: superuserUrl("sameslot") });
    expect(third.code).toBe(0);
    expect(JSON.parse(third.stdout).outcome).toBe("already-done");
    expect(third.stderr).toMatch(/already backed up at .* \(checked against its manifest\)/);
  });

  it("a same-slot run does not report success for a stored dump that no longer matches the winner's manifest", async () => {
    await createDatabase("sameslotreplaced", 500);
    const slot = new Date("2026-11-24T06:00:00Z");
    const opts = { source: { url: superuserUrl("sameslotreplaced"), label: "DATABASE_URL" }, target: { tier: "standard" as const, dataClass: "db" as const }, bucket: siteA(), slot, pgBinDir };
    const first = await runBackup(opts);
    await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: first.manifest.dumpKey, Body: Buffer.alloc(first.manifest.size, 0x43) }));
    await expect(runBackup(opts)).rejects.toThrow(CheckFailedError);
    await expect(runBackup(opts)).rejects.toThrow(/stored dump .* does not match its manifest .*ETag .*; not reporting the slot as backed up/);
  });

  it("runs of different slots never overlap either: a second one while the first dumps is refused, and does not touch the first one's upload", async () => {
    await createDatabase("overlap", 300_000);
    const target = { tier: "standard" as const, dataClass: "db" as const };
    const source = { url: superuserUrl("overlap"), label: "DATABASE_URL" };
    const slotA = new Date("2026-11-24T07:00:00Z");
    const { dumpKey } = backupKeys({ database: "overlap", dataClass: "db" }, slotA, runIdForSlot("overlap", slotA), "primary");
    let second: Promise<unknown> | undefined;
    const first = runBackup({
      source, target, bucket: siteA(), slot: slotA, pgBinDir, partSize: 5 * 1024 * 1024, concurrency: 1, compressLevel: 9,
      onDumpStarted: () => {
        // Start the second run once the first has an upload open with parts in it.
        second = (async () => {
          for (;;) {
            const [upload] = await openUploads(siteA(), dumpKey);
            if (upload && upload.parts > 0) break;
            await new Promise((r) => setTimeout(r, 20));
          }
          return runBackup({ source, target, bucket: siteA(), slot: new Date("2026-11-24T07:05:00Z"), pgBinDir });
        })();
        second.catch(() => undefined);
      },
    });
    const done = await first;
    expect(done.outcome).toBe("created");
    await expect(second).rejects.toThrow(LockHeldError);
    await expect(second).rejects.toThrow(/another backup of this database is running: run [0-9a-f]{12} \(slot 2026-11-24T07:00:00\.000Z/);
    expect((await listKeys(siteA(), "db/overlap/")).filter((k) => k.includes("20261124T0705"))).toEqual([]);
    const lock = await getJson<RunLockRecord>(s3Client(siteA()), siteA().bucket, runLockKey({ database: "overlap", dataClass: "db" }, "primary"));
    expect(lock?.value.released).toBe(true);
  });
});

describe("uploads left by a killed run", () => {
  it("a killed ad-hoc run's upload (its own random run id) is aborted by the next run once the lock's lease has run out", async () => {
    await createDatabase("killedadhoc", 400_000);
    const lease = 5;
    const bin = join(__dirname, "..", "..", "bin", "drstack-backup");
    // An ad-hoc run (no --slot) through the real CLI, killed with SIGKILL once S3 holds a part of its upload.
    const child = spawn(process.execPath, [bin, "backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", pgBinDir, "--part-size-mb", "5", "--concurrency", "1", "--compress", "9", "--lock-lease-seconds", String(lease)], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: superuserUrl("killedadhoc"), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      stdio: "ignore",
    });
    const s3 = s3Client(siteA());
    const lockKey = runLockKey({ database: "killedadhoc", dataClass: "db" }, "primary");
    let left: { key: string; uploadId: string } | undefined;
    for (const started = Date.now(); Date.now() - started < 60_000 && !left; await new Promise((r) => setTimeout(r, 50))) {
      const upload = (await getJson<RunLockRecord>(s3, siteA().bucket, lockKey))?.value.upload;
      if (upload && (await openUploads(siteA(), upload.key)).some((u) => u.uploadId === upload.uploadId && u.parts > 0)) left = upload;
    }
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(left).toBeDefined();
    expect((await openUploads(siteA(), left!.key)).map((u) => u.uploadId)).toEqual([left!.uploadId]);

    // Within the lease the dead run still holds the lock: the next run does nothing, and leaves its upload alone.
    const early = await runCli(["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", pgBinDir], { DATABASE_URL: superuserUrl("killedadhoc") });
    expect(early.code).toBe(3);
    expect((await openUploads(siteA(), left!.key)).map((u) => u.uploadId)).toEqual([left!.uploadId]);

    await new Promise((r) => setTimeout(r, lease * 1000 + 500));
    const next = await runCli(["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", pgBinDir], { DATABASE_URL: superuserUrl("killedadhoc") });
    expect(next.code).toBe(0);
    expect(next.stderr).toMatch(/took over the run lock .* whose lease ran out/);
    expect(next.stderr).toContain(`aborting stale upload ${left!.uploadId} of ${left!.key}`);
    expect(await openUploads(siteA(), left!.key)).toEqual([]);
    expect(JSON.parse(next.stdout).manifest.dumpKey).not.toBe(left!.key);
  });
});
