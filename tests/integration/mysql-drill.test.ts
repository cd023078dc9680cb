/**
 * Issue 12: `drstack-backup drill` of a MariaDB backup against real MariaDB
 * and MinIO: into a throwaway MariaDB server of its own (no server named),
 * or a scratch database on a named one; both removed afterwards. A dump that
 * does not hash to its manifest fails the drill, with a report.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnection, RowDataPacket } from "mysql2/promise";
import { DrillResult } from "../../lambdas/core/drill";
import { BackupManifest, getJson } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { startScratchMysql } from "../../lambdas/core/scratchMysql";
import { runScheduledDrills } from "../../lambdas/core/scheduledDrills";
import { drillHandlerOptions } from "../../lambdas/settings";
import { runCli, services, siteA, siteAFlags, superuserUrl } from "./helpers";
import { backupMariadb, createShop, mariadbUrl, tamperedCopy, withMariadb } from "./mariadbFixtures";

jest.setTimeout(240_000);

const DB = "shop_drilled";
const drill = (...args: string[]) => runCli(["drill", ...siteAFlags(), "--name", DB, "--mysql-bin-dir", services.mariadb.binDir, ...args]);
const scratchDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith("drstack-scratch-")).sort();

async function scratchDatabases(): Promise<string[]> {
  return withMariadb(undefined, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS d FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'drstack\\_drill\\_%'");
    return rows.map((r) => String(r.d));
  });
}

describe("restore drill of a MariaDB backup", () => {
  let manifest: BackupManifest;

  beforeAll(async () => {
    await createShop(DB);
    manifest = await backupMariadb(DB);
  });

  it("without --scratch-server-url drills into a throwaway MariaDB of its own, checks, times and reports it, and removes the server", async () => {
    const before = scratchDirs();
    const res = await drill("--smoke-query", "SELECT COUNT(*) = 300 FROM customers", "--site", "onprem");
    expect(res.stderr).not.toMatch(/FAILED|Error/);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/scratch mariadb started in \S+drstack-scratch-\S+ \(socket only\)/);
    expect(res.stderr).toMatch(/scratch mariadb stopped, \S+ removed/);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result).toMatchObject({ ok: true, database: DB, site: "onprem", manifestKey: manifest.manifestKey });
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([["backup", true], ["restore", true], ["row counts", true], ["checksums", true], ["objects", true], ["smoke query", true]]);
    expect(result.checks.find((c) => c.name === "checksums")?.detail).toBe("6 table(s) match (mysqldump-tuple-fnv1a64-sum/v1)");
    expect(result.durationSeconds).toBeGreaterThan(0);
    expect((await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, result.reportKey))?.value).toEqual(result);
    expect(scratchDirs()).toEqual(before);
  });

  it("drills into a scratch database on a named MariaDB server, and drops it", async () => {
    const res = await drill("--scratch-server-url", mariadbUrl("mysql"));
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result.ok).toBe(true);
    expect(result.scratchDatabase).toMatch(/^drstack_drill_shop_drilled_/);
    expect(await scratchDatabases()).toEqual([]);
  });

  it("refuses a smoke query that is not a SELECT, before sending it: DDL would commit past READ ONLY", async () => {
    await withMariadb(DB, (c) => c.query("DROP TABLE IF EXISTS planted_by_smoke"));
    for (const sql of [`CREATE TABLE ${DB}.planted_by_smoke (x INT)`, `/*!CREATE TABLE ${DB}.planted_by_smoke (x INT)*/`, `SELECT 1; CREATE TABLE ${DB}.planted_by_smoke (x INT)`]) {
      const res = await drill("--scratch-server-url", mariadbUrl("mysql"), "--smoke-query", sql);
      expect(res.code).toBe(1);
      const result = JSON.parse(res.stdout) as DrillResult;
      expect(result.checks.find((c) => c.name === "smoke query")).toMatchObject({ ok: false, detail: expect.stringMatching(/refused, not sent: .*Give --smoke-query \/ DRILL_SMOKE_QUERIES one SELECT/) });
    }
    await withMariadb(DB, async (c) => {
      const [rows] = await c.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'planted_by_smoke'", [DB]);
      expect(rows).toEqual([{ n: 0 }]);
    });
    expect(await scratchDatabases()).toEqual([]);
  });

  it("fails, with a report, when the dump does not hash to its manifest", async () => {
    const key = await tamperedCopy(manifest, "tampered-drill", (sql) => sql.replace("Zoë Ångström #1'", "Zoe Angstrom #1'"));
    const before = scratchDirs();
    const res = await drill("--manifest-key", key);
    expect(res.code).toBe(1);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result.ok).toBe(false);
    expect(result.checks.find((c) => c.name === "restore")).toMatchObject({ ok: false, detail: expect.stringMatching(/^checksum mismatch: .*tampered-drill\.sql\.gz/) });
    expect((await getJson<DrillResult>(s3Client(siteA()), siteA().bucket, result.reportKey))?.value.ok).toBe(false);
    expect(scratchDirs()).toEqual(before);
  });

  it("fails when a view, routine, trigger or event of the backup is not there after the restore", async () => {
    const key = await tamperedCopy(manifest, "renamed-trigger-drill", (sql) => sql.replace(/orders_audit/g, "orders_audit_renamed"), { rehash: true });
    const res = await drill("--manifest-key", key);
    expect(res.code).toBe(1);
    const result = JSON.parse(res.stdout) as DrillResult;
    expect(result.checks.map((c) => [c.name, c.ok])).toEqual([["backup", true], ["restore", true], ["row counts", true], ["checksums", true], ["objects", false]]);
    expect(result.checks.find((c) => c.name === "objects")?.detail).toBe("missing: trigger orders_audit");
  });

  it("the scheduled drill task drills it into a throwaway MariaDB beside its PostgreSQL, and removes both", async () => {
    const before = scratchDirs();
    const opts = drillHandlerOptions({
      BACKUP_BUCKET: services.minio.siteA.bucket,
      S3_ENDPOINT: services.minio.siteA.endpoint,
      S3_ACCESS_KEY_ID: services.minio.accessKey,
      S3_SECRET_ACCESS_KEY: services.minio.secretKey,
      AWS_REGION: "us-east-1",
      SITE: "secondary",
      PG_BIN_DIR: services.pgBinDir,
      MYSQL_BIN_DIR: services.mariadb.binDir,
      DRILL_TARGETS: `${DB}:standard:db`,
      DRILL_SMOKE_QUERIES: JSON.stringify({ [DB]: "SELECT COUNT(*) > 0 FROM orders" }),
    });
    const logs: string[] = [];
    const summary = await runScheduledDrills({ ...opts, log: (m) => logs.push(m) });
    expect(summary).toMatchObject({ ok: true, databases: [{ database: DB, ok: true, failures: [] }] });
    expect(logs.join("\n")).toMatch(/scratch mariadb started in/);
    expect(scratchDirs()).toEqual(before);
  });

  it("refuses a scratch server of another engine than the backup's", async () => {
    const res = await drill("--scratch-server-url", superuserUrl("postgres"));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/The backup to drill is MariaDB's, but --scratch-server-url \/ DRILL_SCRATCH_SERVER_URL names a PostgreSQL server \(postgres:\/\/\)/);
  });
});

describe("the drill's scratch MariaDB", () => {
  it("listens on a socket in its own directory only, and stop() removes it", async () => {
    const scratch = await startScratchMysql({ flavour: "mariadb", binDir: services.mariadb.binDir });
    try {
      expect(scratch.socket.startsWith(scratch.dir)).toBe(true);
      const c = await createConnection({ socketPath: scratch.socket, user: "root" });
      try {
        const [rows] = await c.query<RowDataPacket[]>("SELECT @@skip_networking AS s, VERSION() AS v, @@GLOBAL.event_scheduler AS e");
        expect(rows[0]).toMatchObject({ s: 1, v: expect.stringMatching(/MariaDB/), e: "OFF" });
        // Restored events do not fire: the scheduler is off by the server's own command line, not by MariaDB's default (MySQL's is ON).
        const pid = readFileSync(join(scratch.dir, "server.pid"), "utf8").trim();
        expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain("--event-scheduler=OFF");
      } finally {
        await c.end();
      }
    } finally {
      await scratch.stop();
    }
    expect(existsSync(scratch.dir)).toBe(false);
    await scratch.stop(); // a second stop is harmless
  });

  it("refuses to stand in for the other flavour", async () => {
    const before = scratchDirs();
    await expect(startScratchMysql({ flavour: "mysql", binDir: services.mariadb.binDir })).rejects.toThrow(/is a MariaDB server, and this backup was taken from MySQL: its drill restores into the same flavour/);
    expect(scratchDirs()).toEqual(before);
  });
});
