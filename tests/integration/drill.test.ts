/**
 * Issue 9, item 5 (local half): `drstack-backup drill` against real
 * PostgreSQL and MinIO. It restores the newest backup into a scratch
 * database it creates and removes, checks row counts, checksums and a smoke
 * query, times the restore and leaves a report in the bucket; a drill that
 * finds a difference exits 1 and still leaves its report.
 */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { runBackup } from "../../lambdas/core/backup";
import { DrillResult, runDrill } from "../../lambdas/core/drill";
import { BackupManifest, getJson } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { createDatabase, runCli, services, siteA, siteAFlags, superuserUrl, withClient } from "./helpers";

jest.setTimeout(240_000);

const DB = "drilled";
const drill = (...args: string[]) =>
  runCli(["drill", ...siteAFlags(), "--name", DB, "--pg-bin-dir", services.pgBinDir, "--scratch-server-url", superuserUrl("postgres"), ...args]);

async function scratchDatabases(): Promise<string[]> {
  return withClient("postgres", async (c) => (await c.query<{ d: string }>("SELECT datname AS d FROM pg_database WHERE datname LIKE 'drstack_drill_%'")).rows.map((r) => r.d));
}

/** A copy of the backup's manifest at another key (outside the dated folders), changed by `edit`. */
async function doctored(m: BackupManifest, name: string, edit: (m: BackupManifest) => BackupManifest): Promise<string> {
  const key = `db/${DB}/${name}.manifest.json`;
  await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: key, Body: JSON.stringify({ ...edit(m), manifestKey: key }) }));
  return key;
}

describe("restore drill", () => {
  let manifest: BackupManifest;

  beforeAll(async () => {
    await createDatabase(DB, 200_000);
    manifest = (await runBackup({ source: { url: superuserUrl(DB), label: "DATABASE_URL" }, target: { tier: "high", dataClass: "db" }, bucket: siteA(), pgBinDir: services.pgBinDir })).manifest;
  });

  it("restores the newest backup into a scratch database, checks it, times it, reports it and removes the scratch database", async () => {
    const res = await drill("--smoke-query", "SELECT count(*) = 37 FROM billing.invoices", "--site", "onprem");
    expect(res.stderr).not.toMatch(/FAILED|Error/);
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result).toMatchObject({ format: "drstack.drill/v1", ok: true, database: DB, site: "onprem", manifestKey: manifest.manifestKey });
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([["backup", true], ["restore", true], ["row counts", true], ["checksums", true], ["smoke query", true]]);
    expect(result.durationSeconds).toBeGreaterThan(0);
    process.stdout.write(`drill: measured restore time ${result.durationSeconds!.toFixed(2)} s for ${manifest.size} bytes (${manifest.tables.reduce((n, t) => n + t.rows, 0)} rows)\n`);

    expect(result.reportKey).toMatch(new RegExp(`^db/${DB}/drills/\\d{8}T\\d{6}Z-onprem\\.json$`));
    const stored = await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, result.reportKey);
    expect(stored?.value).toEqual(result);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("without --scratch-server-url drills into a throwaway server of its own, and removes it", async () => {
    const { readdirSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const scratchDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith("drstack-scratch-")).sort();
    const before = scratchDirs();
    const res = await runCli(["drill", ...siteAFlags(), "--name", DB, "--pg-bin-dir", services.pgBinDir, "--smoke-query", "SELECT count(*) = 37 FROM billing.invoices"]);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/scratch PostgreSQL started in \S+drstack-scratch-\S+ \(socket only\)/);
    expect(res.stderr).toMatch(/scratch PostgreSQL stopped, \S+ removed/);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result).toMatchObject({ ok: true, manifestKey: manifest.manifestKey });
    expect(result.checks.map((c) => c.ok)).toEqual([true, true, true, true, true]);
    expect(scratchDirs()).toEqual(before);
  });

  it("fails (exit 1) when the smoke query's first column is not truthy, and still reports", async () => {
    const res = await drill("--smoke-query", "SELECT count(*) FROM billing.invoices WHERE amount < 0");
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/smoke query: SELECT count\(\*\).* -> "0"/);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result.ok).toBe(false);
    expect((await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, result.reportKey))?.value.ok).toBe(false);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("fails when the restored rows differ from what the manifest recorded", async () => {
    const key = await doctored(manifest, "miscounted", (m) => ({ ...m, tables: m.tables.map((t) => (t.table === "invoices" ? { ...t, rows: t.rows + 1 } : t)) }));
    const result = await runDrill({ bucket: siteA(), source: { database: DB, dataClass: "db" }, manifestKey: key, scratchServer: { url: superuserUrl("postgres"), label: "--scratch-server-url" }, site: "primary", pgBinDir: services.pgBinDir });
    expect(result.ok).toBe(false);
    expect(result.checks.find((c) => c.name === "row counts")).toEqual({ name: "row counts", ok: false, detail: "billing.invoices: 37 rows, backup recorded 38" });
    expect(await scratchDatabases()).toEqual([]);
  });

  it("reads a manifest written before checksums: row counts only, said so", async () => {
    const key = await doctored(manifest, "before-checksums", ({ tableChecksumMethod: _dropped, ...m }) => ({ ...m, tables: m.tables.map(({ checksum: _c, ...t }) => t) }));
    const res = await drill("--manifest-key", key);
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result.checks.find((c) => c.name === "checksums")).toMatchObject({ ok: true, detail: expect.stringMatching(/^not recorded/) });
  });

  it("fails, with a report, when no backup ended before --before", async () => {
    const res = await drill("--before", "2020-01-01T00:00:00Z");
    expect(res.code).toBe(1);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result.checks).toEqual([{ name: "backup", ok: false, detail: expect.stringMatching(/No backup of "drilled" .* ended before 2020-01-01T00:00:00.000Z/) }]);
    expect((await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, result.reportKey))?.value.ok).toBe(false);
  });
});
