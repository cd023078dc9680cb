/**
 * Issue 12: one corrupted table of a live MariaDB database restored from
 * drstack's backup, through the CLI against real MariaDB and MinIO. The
 * comparison is the test's own (every row in key order); the tables not
 * restored, rows written after the backup included, are shown untouched, and
 * every refusal or failed check leaves the database exactly as it was.
 */
import { BackupManifest } from "../../lambdas/core/manifest";
import { RestoreReport } from "../../lambdas/core/restore";
import { runCli, siteAFlags, services } from "./helpers";
import { backupMariadb, createShop, mariadbUrl, shopFingerprint, tamperedCopy, withMariadb } from "./mariadbFixtures";

jest.setTimeout(240_000);

const DB = "shop_live";

function restore(...args: string[]) {
  return runCli(["restore", ...siteAFlags(), "--name", DB, "--mysql-bin-dir", services.mariadb.binDir, "--target-database-url", mariadbUrl(DB), ...args]);
}

async function corruptCustomers(): Promise<void> {
  await withMariadb(DB, (c) => c.query("UPDATE customers SET name = 'corrupted', city = NULL WHERE id % 7 = 0; DELETE FROM customers WHERE id > 280 AND id NOT IN (SELECT customer_id FROM orders)"));
}

describe("restoring one corrupted MariaDB table from the backup", () => {
  let manifest: BackupManifest;
  let atBackup: Record<string, string>;

  beforeAll(async () => {
    // 280 of the customers have orders; the last 20 have none, and can be deleted despite the foreign key.
    await createShop(DB, 300);
    await withMariadb(DB, (c) => c.query("DELETE FROM orders WHERE customer_id > 280"));
    manifest = await backupMariadb(DB);
    atBackup = await shopFingerprint(DB);
  });

  it("replaces the table's rows with the backup's in one transaction, and leaves the other tables alone", async () => {
    await corruptCustomers();
    // Written after the backup: must survive the restore of customers.
    await withMariadb(DB, (c) => c.query("INSERT INTO orders (customer_id, amount, placed_at) VALUES (1, 1.00, '2026-12-01 00:00:00.000')"));
    const after = await shopFingerprint(DB);
    expect(after.customers).not.toEqual(atBackup.customers);

    const res = await restore("--table", `${DB}.customers`, "--clean");
    expect(res.stderr).not.toMatch(/Error/);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as RestoreReport;
    expect(report).toMatchObject({ ok: true, mode: "tables", failures: [] });
    const customers = manifest.tables.find((t) => t.table === "customers")!;
    expect(report.tables).toEqual([{ ...customers, restoredRows: 300, restoredChecksum: customers.checksum }]);

    const now = await shopFingerprint(DB);
    expect(now.customers).toEqual(atBackup.customers);
    expect(now.orders).toEqual(after.orders);
    expect(now.order_audit).toEqual(after.order_audit);
  });

  it("refuses, changing nothing: a table with rows without --clean, an unknown table, MyISAM, a table with triggers, --schema", async () => {
    await corruptCustomers();
    const before = await shopFingerprint(DB);
    const cases: [string[], RegExp][] = [
      [["--table", `${DB}.customers`], /Table shop_live\.customers has rows; add --clean to replace them \(DELETE, in the restore's transaction\) with the backup's\. Nothing was changed\./],
      [["--table", `${DB}.nope`, "--clean"], /--table shop_live\.nope: not in this backup, which holds shop_live\.customers, .*shop_live\.settings\. Check the name; nothing was changed\./],
      [["--table", "otherdb.customers", "--clean"], /--table otherdb\.customers: this backup is of database "shop_live"; name its tables as shop_live\.<table>/],
      [["--table", `${DB}.legacy_log`, "--clean"], /Table shop_live\.legacy_log uses the MyISAM storage engine: .*only InnoDB can roll back/],
      [["--table", `${DB}.orders`, "--clean"], /Table shop_live\.orders has trigger\(s\) orders_audit, which would fire for every row/],
      [["--schema", DB], /--schema restores PostgreSQL schemas; a MySQL\/MariaDB backup holds one database/],
      [["--table", `${DB}.customers`, "--into-schema", "copy"], /--into-schema is not available for MySQL\/MariaDB backups/],
    ];
    for (const [args, message] of cases) {
      const res = await restore(...args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
    }
    expect(await shopFingerprint(DB)).toEqual(before);
  });

  it("rolls back when the dump does not hash to its manifest", async () => {
    await corruptCustomers();
    const before = await shopFingerprint(DB);
    const key = await tamperedCopy(manifest, "tampered-table", (sql) => sql.replace("Zoë Ångström #1'", "Zoe Angstrom #1'"));
    const res = await restore("--table", `${DB}.customers`, "--clean", "--manifest-key", key);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/checksum mismatch: .*tampered-table\.sql\.gz .*; nothing was changed/);
    expect(await shopFingerprint(DB)).toEqual(before);
  });

  it("rolls back when the dump's rows are not the ones its manifest recorded", async () => {
    await corruptCustomers();
    const before = await shopFingerprint(DB);
    const key = await tamperedCopy(manifest, "rewritten-table", (sql) => sql.replace("Zoë Ångström #1'", "Zoe Angstrom #1'"), { rehash: true });
    const res = await restore("--table", `${DB}.customers`, "--clean", "--manifest-key", key);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/the dump's rows of customers \(300, checksum [0-9a-f]{16}\) are not the ones its manifest recorded \(300, checksum [0-9a-f]{16}\); the restore was rolled back, nothing changed/);
    expect(await shopFingerprint(DB)).toEqual(before);
  });

  it("refuses a table whose definition changed since the backup (a column narrowed), before changing anything", async () => {
    await corruptCustomers();
    // Narrowed without strict mode, as a live schema change might be: the backup's cities would no longer fit.
    await withMariadb(DB, (c) => c.query("SET SESSION sql_mode = ''; ALTER TABLE customers MODIFY city VARCHAR(5)"));
    const before = await shopFingerprint(DB);
    const definition = await withMariadb(DB, (c) => c.query("SHOW CREATE TABLE customers"));
    const res = await restore("--table", `${DB}.customers`, "--clean");
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(
      /Table shop_live\.customers is not defined as it was in the backup \(line \d+ of SHOW CREATE TABLE: now "`city` varchar\(5\) DEFAULT NULL,", in the backup "`city` varchar\(100\) DEFAULT NULL,"\): .*Make the table's definition the backup's again .* Nothing was changed\./,
    );
    expect(await shopFingerprint(DB)).toEqual(before);
    expect(await withMariadb(DB, (c) => c.query("SHOW CREATE TABLE customers"))).toEqual(definition);
  });
});
