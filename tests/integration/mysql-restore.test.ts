/**
 * Issue 12: whole-database restore of a MariaDB backup taken by drstack,
 * against the real MariaDB and MinIO, through the CLI. The comparison is the
 * test's own (every row in key order, and the routines, triggers, views and
 * events by name), independent of the manifest's checksums the restore
 * checks itself; and every refusal leaves the target as it was.
 */
import { BackupManifest } from "../../lambdas/core/manifest";
import { RestoreReport } from "../../lambdas/core/restore";
import { createDatabase, runCli, siteAFlags, services, superuserUrl } from "./helpers";
import { backupMariadb, createShop, databaseExists, dropMariadbDatabase, mariadbUrl, shopFingerprint, shopObjects, tamperedCopy, withMariadb } from "./mariadbFixtures";

jest.setTimeout(240_000);

const DB = "shop_restore_src";

function restore(target: string, ...args: string[]) {
  return runCli(["restore", ...siteAFlags(), "--name", DB, "--mysql-bin-dir", services.mariadb.binDir, "--target-database-url", target, ...args]);
}

describe("restoring a MariaDB backup into a fresh database", () => {
  let manifest: BackupManifest;
  let original: Record<string, string>;
  let objects: string[];

  beforeAll(async () => {
    await createShop(DB);
    manifest = await backupMariadb(DB);
    original = await shopFingerprint(DB);
    objects = await shopObjects(DB);
  });

  it("records the engine and every table in the manifest", () => {
    expect(manifest.engine).toBe("mariadb");
    expect(manifest.dumpKey).toMatch(/\.sql\.gz$/);
    expect(manifest.tables.map((t) => t.table).sort()).toEqual(["customers", "empty_table", "legacy_log", "order_audit", "orders", "settings"]);
    // --single-transaction does not snapshot a MyISAM table: the manifest says which rows may be from another moment.
    expect(manifest.engine === "mariadb" && manifest.nonTransactionalTables).toEqual([{ table: "legacy_log", storageEngine: "MyISAM" }]);
  });

  it("creates the database, restores tables, routines, triggers, views and events, and proves the rows", async () => {
    await dropMariadbDatabase("shop_copy");
    const res = await restore(mariadbUrl("shop_copy"));
    expect(res.stderr).not.toMatch(/Error/);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as RestoreReport;
    expect(report).toMatchObject({ ok: true, mode: "database", manifestKey: manifest.manifestKey, failures: [] });
    for (const t of report.tables) {
      expect(t.restoredRows).toBe(t.rows);
      expect(t.restoredChecksum).toBe(t.checksum);
    }
    expect(await shopFingerprint("shop_copy")).toEqual(original);
    expect(await shopObjects("shop_copy")).toEqual(objects);
    // Restored events keep their status; the restore says whether the server's scheduler would run them.
    expect(res.stderr).toMatch(/1 event\(s\) restored into shop_copy \(nightly\) with the backup's status; the server's event_scheduler is OFF, so none runs until it is turned ON/);
    // The restored routines work, with the restored data.
    await withMariadb("shop_copy", async (c) => {
      const [rows] = await c.query("CALL customer_count(@n); SELECT @n AS n, vat(10.00) AS v");
      expect((rows as unknown[])[1]).toEqual([{ n: 300, v: "12.00" }]);
    });
  });

  it("restores into an existing empty database", async () => {
    await dropMariadbDatabase("shop_empty");
    await withMariadb(undefined, (c) => c.query("CREATE DATABASE shop_empty"));
    const res = await restore(mariadbUrl("shop_empty"));
    expect(res.code).toBe(0);
    expect(await shopFingerprint("shop_empty")).toEqual(original);
  });

  it("refuses a database that is not empty, and leaves it alone", async () => {
    await dropMariadbDatabase("shop_busy");
    await withMariadb(undefined, (c) => c.query("CREATE DATABASE shop_busy; CREATE TABLE shop_busy.keep (x INT); INSERT INTO shop_busy.keep VALUES (42)"));
    const res = await restore(mariadbUrl("shop_busy"));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/Database "shop_busy" named by --target-database-url \/ RESTORE_DATABASE_URL already has 1 table\(s\) or view\(s\); restore into a new, empty database/);
    await withMariadb("shop_busy", async (c) => {
      const [rows] = await c.query("SELECT x FROM keep");
      expect(rows).toEqual([{ x: 42 }]);
    });
  });

  it("refuses a target of another engine than the backup's before touching it", async () => {
    await createDatabase("shop_pg_target");
    const pg = await restore(superuserUrl("shop_pg_target"));
    expect(pg.code).toBe(2);
    expect(pg.stderr).toMatch(/is a MariaDB backup \(its manifest says engine mariadb\), but --target-database-url \/ RESTORE_DATABASE_URL is a PostgreSQL URL \(postgres:\/\/\)/);

    await dropMariadbDatabase("shop_wrong_scheme");
    const mysql = await restore(mariadbUrl("shop_wrong_scheme", { scheme: "mysql" }));
    expect(mysql.code).toBe(2);
    expect(mysql.stderr).toMatch(/is a MariaDB backup \(its manifest says engine mariadb\), but --target-database-url \/ RESTORE_DATABASE_URL is a MySQL URL \(mysql:\/\/\)/);
    expect(await databaseExists("shop_wrong_scheme")).toBe(false);
  });

  it("refuses a tampered dump before creating the database", async () => {
    const key = await tamperedCopy(manifest, "tampered-restore", (sql) => sql.replace("Zoë Ångström #1'", "Zoe Angstrom #1'"));
    await dropMariadbDatabase("shop_tampered");
    const res = await restore(mariadbUrl("shop_tampered"), "--manifest-key", key);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/checksum mismatch: .*tampered-restore\.sql\.gz .* hashes to sha256 [0-9a-f]{64}, the manifest recorded [0-9a-f]{64} .*; nothing was changed/);
    expect(await databaseExists("shop_tampered")).toBe(false);
  });

  describe("a dump with statements planted that act outside the target", () => {
    // Valid SQL that mysqldump of one database never writes: a database created, a table planted in another.
    const plant = (sql: string) => sql.replace(/\nCREATE TABLE /, "\nCREATE DATABASE shop_planted_db;\nCREATE TABLE shop_bystander.planted (x INT);\nCREATE TABLE ");
    beforeEach(async () => {
      await dropMariadbDatabase("shop_planted_db");
      await dropMariadbDatabase("shop_planted");
      await dropMariadbDatabase("shop_bystander");
      await withMariadb(undefined, (c) => c.query("CREATE DATABASE shop_bystander; CREATE TABLE shop_bystander.keep (x INT); INSERT INTO shop_bystander.keep VALUES (7)"));
    });
    const nothingChanged = async () => {
      expect(await databaseExists("shop_planted")).toBe(false);
      expect(await databaseExists("shop_planted_db")).toBe(false);
      await withMariadb("shop_bystander", async (c) => {
        const [tables] = await c.query("SHOW TABLES");
        expect(tables).toEqual([{ Tables_in_shop_bystander: "keep" }]);
        const [rows] = await c.query("SELECT x FROM keep");
        expect(rows).toEqual([{ x: 7 }]);
      });
    };

    it("is refused by its digest before any statement runs", async () => {
      const key = await tamperedCopy(manifest, "planted-restore", plant);
      const res = await restore(mariadbUrl("shop_planted"), "--manifest-key", key);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/checksum mismatch: .*planted-restore\.sql\.gz .*; nothing was changed/);
      await nothingChanged();
    });

    it("is refused, with its manifest's digest rewritten to match, because it is not the manifest's dump", async () => {
      const key = await tamperedCopy(manifest, "planted-rehashed", plant, { rehash: true });
      const res = await restore(mariadbUrl("shop_planted"), "--manifest-key", key);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/planted-rehashed\.sql\.gz is not the dump its manifest describes: it holds \d+ statements, the manifest recorded \d+\. Nothing was changed/);
      await nothingChanged();
    });
  });

  it("empties again the existing database it was given when the dump does not load", async () => {
    // The dump reads as the manifest's (same statements, tables and rows), but the server refuses its INSERT into settings.
    const key = await tamperedCopy(manifest, "broken-restore", (sql) => sql.replace("LOCK TABLES `settings` WRITE", "LOCK TABLES `empty_table` WRITE"), { rehash: true });
    await dropMariadbDatabase("shop_given");
    await withMariadb(undefined, (c) => c.query("CREATE DATABASE shop_given CHARACTER SET latin1 COLLATE latin1_swedish_ci"));
    const res = await restore(mariadbUrl("shop_given"), "--manifest-key", key);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/mariadb failed \(exit 1\); what it created in shop_given was dropped: ERROR 1100 \(HY000\) at line \d+: Table 'settings' was not locked with LOCK TABLES\n/);
    expect(res.stderr).not.toMatch(/Nuit étoilée/);
    await withMariadb(undefined, async (c) => {
      const [tables] = await c.query("SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop_given'");
      expect(tables).toEqual([{ n: 0 }]);
      const [schema] = await c.query("SELECT DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop_given'");
      expect(schema).toEqual([{ co: "latin1_swedish_ci" }]);
    });
  });
});
