/** MariaDB databases for the MySQL-family restore and drill tests, on the server globalSetup started. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { createConnection, Connection, RowDataPacket } from "mysql2/promise";
import { BackupManifest } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { runCli, services, siteA, siteAFlags } from "./helpers";

/** A URL of the test server for `database`, verified TLS unless told otherwise. */
export function mariadbUrl(database: string, opts: { scheme?: "mariadb" | "mysql"; password?: string } = {}): string {
  const m = services.mariadb;
  const password = encodeURIComponent(opts.password ?? m.password);
  return `${opts.scheme ?? "mariadb"}://${m.superuser}:${password}@127.0.0.1:${m.port}/${database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(m.caFile)}`;
}

export async function withMariadb<T>(database: string | undefined, fn: (c: Connection) => Promise<T>): Promise<T> {
  const m = services.mariadb;
  const c = await createConnection({
    host: "127.0.0.1",
    port: m.port,
    user: m.superuser,
    password: m.password,
    ...(database ? { database } : {}),
    ssl: { ca: readFileSync(m.caFile, "utf8") },
    charset: "utf8mb4",
    multipleStatements: true,
    dateStrings: true,
  });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function dropMariadbDatabase(name: string): Promise<void> {
  await withMariadb(undefined, (c) => c.query(`DROP DATABASE IF EXISTS \`${name}\``));
}

export async function databaseExists(name: string): Promise<boolean> {
  return withMariadb(undefined, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [name]);
    return rows.length > 0;
  });
}

/**
 * A shop: customers (non-ASCII names, an emoji, quotes and backslashes),
 * orders referencing them with a trigger keeping an audit table, a binary
 * column, a MyISAM table, a view, a procedure, a function and an event.
 */
export async function createShop(name: string, customers = 300): Promise<void> {
  await dropMariadbDatabase(name);
  await withMariadb(undefined, (c) => c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
  await withMariadb(name, async (c) => {
    await c.query(`
      CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, city VARCHAR(100), note TEXT, created_at TIMESTAMP NOT NULL DEFAULT '2026-01-01 00:00:00') ENGINE=InnoDB;
      CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL, placed_at DATETIME(3) NOT NULL, receipt VARBINARY(64),
        CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES customers (id)) ENGINE=InnoDB;
      CREATE TABLE order_audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id BIGINT NOT NULL, action VARCHAR(10) NOT NULL) ENGINE=InnoDB;
      CREATE TABLE settings (k VARCHAR(50) PRIMARY KEY, v JSON) ENGINE=InnoDB;
      CREATE TABLE legacy_log (id INT PRIMARY KEY, line VARCHAR(100)) ENGINE=MyISAM;
      CREATE TABLE empty_table (x INT) ENGINE=InnoDB;
      CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO order_audit (order_id, action) VALUES (NEW.id, 'insert');
      CREATE VIEW big_orders AS SELECT id, customer_id, amount FROM orders WHERE amount > 100;
      CREATE PROCEDURE customer_count(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM customers; END;
      CREATE FUNCTION vat(amount DECIMAL(12,2)) RETURNS DECIMAL(12,2) DETERMINISTIC RETURN amount * 1.2;
      CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM order_audit WHERE id < 0;
    `);
    const names = ["Zoë Ångström", "Łukasz Żółć", "Ἀριστοτέλης", "山田太郎", "O'Brien \\ \"quoted\"", "emoji 🎉 party", "tab\there", "line\nbreak"];
    const rows = Array.from({ length: customers }, (_, i) => [names[i % names.length] + ` #${i + 1}`, i % 3 === 0 ? null : `Città ${i % 17}`, i % 5 === 0 ? "(x, y); 'not a tuple'" : `note ${i}`]);
    await c.query("INSERT INTO customers (name, city, note) VALUES ?", [rows]);
    const orders = Array.from({ length: customers * 2 }, (_, i) => [(i % customers) + 1, ((i * 37) % 50000) / 100, `2026-0${(i % 9) + 1}-1${i % 10} 12:34:56.${String(i % 1000).padStart(3, "0")}`, Buffer.from([i % 256, 0, 0x27, 0x5c, 0xff])]);
    await c.query("INSERT INTO orders (customer_id, amount, placed_at, receipt) VALUES ?", [orders]);
    await c.query(`INSERT INTO settings VALUES ('theme', '{"dark": true, "name": "Nuit étoilée"}'), ('limits', '[1, 2, 3]')`);
    await c.query(`INSERT INTO legacy_log VALUES (1, 'first'), (2, 'second')`);
  });
}

/** Every table's rows in primary-key order as JSON: equal exactly when the rows are. */
export async function shopFingerprint(name: string, tables = ["customers", "orders", "order_audit", "settings", "legacy_log", "empty_table"]): Promise<Record<string, string>> {
  return withMariadb(name, async (c) => {
    const out: Record<string, string> = {};
    for (const t of tables) {
      const [rows] = await c.query<RowDataPacket[]>(`SELECT * FROM \`${t}\` ORDER BY 1`);
      out[t] = JSON.stringify(rows, (_k, v: unknown) => (v && typeof v === "object" && (v as { type?: string }).type === "Buffer" ? Buffer.from((v as { data: number[] }).data).toString("hex") : v));
    }
    return out;
  });
}

/** Names of the routines, triggers, views and events of a database. */
export async function shopObjects(name: string): Promise<string[]> {
  return withMariadb(name, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>(
      `SELECT CONCAT('routine ', ROUTINE_NAME) AS o FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
       UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
       UNION ALL SELECT CONCAT('view ', TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
       UNION ALL SELECT CONCAT('event ', EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
      [name, name, name, name],
    );
    return rows.map((r) => String(r.o)).sort();
  });
}

/** A backup of `database` taken by drstack itself (`drstack-backup backup`), into site A; its manifest. */
export async function backupMariadb(database: string): Promise<BackupManifest> {
  const res = await runCli(["backup", ...siteAFlags(), "--tier", "standard", "--mysql-bin-dir", services.mariadb.binDir], { DATABASE_URL: mariadbUrl(database) });
  if (res.code !== 0) throw new Error(`backup of ${database} failed (exit ${res.code}): ${res.stderr}`);
  return (JSON.parse(res.stdout) as { manifest: BackupManifest }).manifest;
}

/**
 * A copy of the backup at other keys with its dump changed by `edit` (the
 * decompressed SQL) but its manifest's SHA-256 kept: what a restore must
 * refuse. With `rehash` the copy's manifest has the changed dump's digest
 * and size, so only what the SQL does can fail. Returns the copy's manifest key.
 */
export async function tamperedCopy(m: BackupManifest, name: string, edit: (sql: string) => string, opts: { rehash?: boolean } = {}): Promise<string> {
  const s3 = s3Client(siteA());
  const original = await s3.send(new GetObjectCommand({ Bucket: siteA().bucket, Key: m.dumpKey }));
  const sql = gunzipSync(Buffer.from(await original.Body!.transformToByteArray())).toString("utf8");
  const changed = edit(sql);
  if (changed === sql) throw new Error("tamperedCopy: the edit changed nothing");
  // Outside the dated folders, so no listing of the backups takes it for one.
  const prefix = `${m.dumpKey.split("/").slice(0, 2).join("/")}/`;
  const dumpKey = `${prefix}${name}.sql.gz`;
  const manifestKey = `${prefix}${name}.manifest.json`;
  const body = gzipSync(Buffer.from(changed, "utf8"));
  await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: dumpKey, Body: body }));
  const digest = opts.rehash ? { sha256: createHash("sha256").update(body).digest("hex"), size: body.length } : {};
  await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: manifestKey, Body: JSON.stringify({ ...m, dumpKey, manifestKey, ...digest }) }));
  return manifestKey;
}
