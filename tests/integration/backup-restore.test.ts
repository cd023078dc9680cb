/** Backup and restore against real PostgreSQL and MinIO: round trip, idempotent retry, interrupted dump. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { runBackup, runIdForSlot } from "../../lambdas/core/backup";
import { CheckFailedError } from "../../lambdas/core/errors";
import { backupKeys, latestKey } from "../../lambdas/core/layout";
import { BackupManifest, LatestPointer, getJson } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { createDatabase, listKeys, openUploads, runCli, services, siteA, siteAFlags, superuserUrl, withClient } from "./helpers";

jest.setTimeout(120_000);

const pgBinDir = services.pgBinDir;

describe("backup then restore", () => {
  it("backs up a seeded database through the CLI and restores it into a fresh database with the same row counts", async () => {
    await createDatabase("roundtrip", 20_000);
    await createDatabase("roundtrip_restore");

    const backup = await runCli(["backup", ...siteAFlags(), "--tier", "high", "--pg-bin-dir", pgBinDir], { DATABASE_URL: superuserUrl("roundtrip") });
    expect(backup.stderr).not.toMatch(/check failed/);
    expect(backup.code).toBe(0);
    const result = JSON.parse(backup.stdout) as { outcome: string; published: string; manifest: BackupManifest };
    expect(result.outcome).toBe("created");
    expect(result.published).toBe("published");
    const m = result.manifest;
    expect(m.dumpKey).toMatch(/^db\/roundtrip\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z-primary-[0-9a-f]+\.dump$/);
    expect([m.site, m.epoch]).toEqual(["primary", 0]);
    expect(m.tables.map(({ schema, table, rows }) => ({ schema, table, rows }))).toEqual([
      { schema: "billing", table: "invoices", rows: 37 },
      { schema: "public", table: "empty_table", rows: 0 },
      { schema: "public", table: "events", rows: 20_000 },
    ]);
    // Each table's content checksum, taken in the dump's snapshot; an empty table sums to 0.
    expect(m.tableChecksumMethod).toBeDefined();
    expect(m.tables.map((t) => t.checksum)).toEqual([expect.stringMatching(/^-?\d+$/), "0", expect.stringMatching(/^-?\d+$/)]);
    expect(m.serverVersion).toMatch(/^15\./);
    expect(m.verification.tableDataEntries).toBe(3);

    // The manifest's SHA-256 is the SHA-256 of the stored bytes.
    const obj = await s3Client(siteA()).send(new GetObjectCommand({ Bucket: siteA().bucket, Key: m.dumpKey }));
    const bytes = Buffer.from(await obj.Body!.transformToByteArray());
    expect(bytes.length).toBe(m.size);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(m.sha256);
    expect(bytes.subarray(0, 5).toString()).toBe("PGDMP");

    const pointer = await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, "db/roundtrip/latest-primary.json");
    expect(pointer?.value.manifestKey).toBe(m.manifestKey);

    // Rows change after the backup: the restore must bring back the backup's counts, not today's.
    await withClient("roundtrip", (c) => c.query("INSERT INTO billing.invoices (amount) VALUES (1)"));

    const restore = await runCli(["restore", ...siteAFlags(), "--name", "roundtrip", "--pg-bin-dir", pgBinDir, "--target-database-url", superuserUrl("roundtrip_restore")]);
    expect(restore.stderr).toMatch(/row counts and checksums match/);
    expect(restore.code).toBe(0);
    const report = JSON.parse(restore.stdout) as { ok: boolean; tables: { table: string; rows: number; restoredRows: number }[] };
    expect(report.ok).toBe(true);
    expect(report.tables.map((t) => [t.table, t.restoredRows])).toEqual([["invoices", 37], ["empty_table", 0], ["events", 20_000]]);
    const restored = await withClient("roundtrip_restore", (c) => c.query<{ n: string }>("SELECT count(*) AS n FROM billing.invoices"));
    expect(restored.rows[0].n).toBe("37");
  });

  it("a retried run of the same schedule slot does not write a second backup", async () => {
    await createDatabase("retried", 100);
    const slot = new Date("2026-11-20T03:00:00Z");
    const opts = { source: { url: superuserUrl("retried"), label: "DATABASE_URL" }, target: { tier: "standard" as const, dataClass: "db" as const }, bucket: siteA(), slot, pgBinDir };
    const first = await runBackup(opts);
    const second = await runBackup(opts);
    expect(first.outcome).toBe("created");
    expect(second.outcome).toBe("already-done");
    expect(second.published).toBe("already-latest");
    expect(second.manifest).toEqual(first.manifest);
    expect((await listKeys(siteA(), "db/retried/")).filter((k) => k.endsWith(".dump"))).toEqual([first.manifest.dumpKey]);

    // A late retry of an older slot must not move the site's pointer backwards.
    const older = await runBackup({ ...opts, slot: new Date("2026-11-19T03:00:00Z") });
    expect(older.outcome).toBe("created");
    expect(older.published).toBe("newer-exists");
    const pointer = await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, latestKey({ database: "retried", dataClass: "db" }, "primary"));
    expect(pointer?.value.manifestKey).toBe(first.manifest.manifestKey);
  });

  it("a small database whose pg_dump exits before the upload is open still arrives whole (Node discards an unread child's stdout at exit)", async () => {
    await createDatabase("exitsfirst", 500);
    const result = await runBackup({
      source: { url: superuserUrl("exitsfirst"), label: "DATABASE_URL" },
      target: { tier: "standard", dataClass: "db" },
      bucket: siteA(),
      pgBinDir,
      // Hold the event loop until pg_dump has written everything and exited,
      // as a loaded host does while CreateMultipartUpload is in flight.
      onDumpStarted: (pid) => {
        const until = Date.now() + 10_000;
        while (Date.now() < until && isRunning(pid)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      },
    });
    expect(result.outcome).toBe("created");
    expect(result.manifest.size).toBeGreaterThan(0);
    expect(result.manifest.tables.find((t) => t.table === "events")?.rows).toBe(500);
  });

  it("a pg_dump killed mid-stream leaves no published backup and no open multipart upload", async () => {
    await createDatabase("interrupted", 400_000);
    const target = { database: "interrupted", dataClass: "critical" as const };
    const good = await runBackup({ source: { url: superuserUrl("interrupted"), label: "DATABASE_URL" }, target: { tier: "critical", dataClass: "critical" }, bucket: siteA(), pgBinDir, partSize: 5 * 1024 * 1024 });
    const before = await listKeys(siteA(), "critical/interrupted/");

    // A known slot gives a known key, so the test can watch that exact upload.
    const slot = new Date("2026-11-21T04:00:00Z");
    const { dumpKey, manifestKey } = backupKeys(target, slot, runIdForSlot("interrupted", slot), "primary");
    let partsAtKill = 0;
    let settled = false;
    const run = runBackup({
      source: { url: superuserUrl("interrupted"), label: "DATABASE_URL" },
      target: { tier: "critical", dataClass: "critical" },
      bucket: siteA(),
      slot,
      pgBinDir,
      partSize: 5 * 1024 * 1024,
      concurrency: 1,
      compressLevel: 9,
      onDumpStarted: (pid) => {
        // Kill pg_dump once S3 holds at least one part of its upload: really mid-stream.
        const poll = async () => {
          while (!settled) {
            const [upload] = await openUploads(siteA(), dumpKey);
            if (upload && upload.parts > 0) {
              partsAtKill = upload.parts;
              process.kill(pid, "SIGKILL");
              return;
            }
            await new Promise((r) => setTimeout(r, 20));
          }
        };
        poll().catch(() => undefined);
      },
    });
    run.finally(() => (settled = true)).catch(() => undefined);
    await expect(run).rejects.toThrow(CheckFailedError);
    await expect(run).rejects.toThrow(/pg_dump failed \(killed by SIGKILL\)/);
    expect(partsAtKill).toBeGreaterThan(0);

    expect(await openUploads(siteA(), dumpKey)).toEqual([]);
    expect(await listKeys(siteA(), "critical/interrupted/")).toEqual(before);
    expect(before).not.toContain(manifestKey);
    const pointer = await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, latestKey(target, "primary"));
    expect(pointer?.value.manifestKey).toBe(good.manifest.manifestKey);
  });
});

/** True while the process exists (a zombie still counts: its exit has not been reaped by Node yet). */
function isRunning(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}
