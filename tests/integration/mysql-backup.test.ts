/**
 * MariaDB backups end to end against the real MariaDB server and MinIO the
 * suite starts: the dump over verified TLS, gzip, multipart upload, the
 * manifest's tables, rows, checksums, binary log coordinates and objects, the
 * verifier reading the stored SQL back, and the refusals shared with
 * PostgreSQL (a replica, a wrong scheme, a site fenced mid-dump, a same-slot
 * retry).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync, gzipSync } from "node:zlib";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { createConnection, Connection, RowDataPacket } from "mysql2/promise";
import { runBackup, WriterIdentity } from "../../lambdas/core/backup";
import { NotWriterError, UsageError } from "../../lambdas/core/errors";
import { BackupManifest, getJson, isMysqlManifest, LatestPointer, MysqlManifest } from "../../lambdas/core/manifest";
import { mysqlDumpArgs } from "../../lambdas/core/mysqlBackup";
import { s3Client } from "../../lambdas/core/s3";
import { EMPTY_CHECKSUM, MYSQL_TABLE_CHECKSUM_METHOD, SqlDumpReader } from "../../lambdas/core/sqlDump";
import { runVerify } from "../../lambdas/core/verify";
import { listKeys, openUploads, services, siteA } from "./helpers";

const maria = services.mariadb;
const binDir = maria.binDir;

function url(database: string, scheme = "mariadb"): string {
  return `${scheme}://${encodeURIComponent(maria.superuser)}:${encodeURIComponent(maria.password)}@127.0.0.1:${maria.port}/${database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(maria.caFile)}`;
}

async function admin(database?: string): Promise<Connection> {
  return createConnection({ host: "127.0.0.1", port: maria.port, user: maria.superuser, password: maria.password, database, ssl: { ca: readFileSync(maria.caFile, "utf8") }, multipleStatements: true, charset: "utf8mb4" }).then(async (c) => {
    // Rows are generated with a recursive CTE; the server allows 1000 iterations by default.
    await c.query("SET SESSION max_recursive_iterations = 10000000");
    return c;
  });
}

/** Several tables (non-ASCII text, binary values, many rows, none), a view, a procedure, a function, a trigger and an event. */
async function seed(database: string): Promise<void> {
  const c = await admin();
  try {
    await c.query(`DROP DATABASE IF EXISTS \`${database}\`; CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE \`${database}\``);
    await c.query(`CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) NOT NULL, city VARCHAR(100), note TEXT, created DATETIME(6) NOT NULL)`);
    await c.query(`INSERT INTO customers (name, city, note, created) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)`, [
      "Zoë 😀", "東京", "line one\nline two\ttab 'quote' \"double\" \\ back", "2026-01-02 03:04:05.123456",
      "山田 太郎", "서울", null, "2026-02-03 04:05:06.000001",
      "O'Brien; DROP TABLE x; --", "Ürümqi", "); INSERT INTO `customers` VALUES (99", "2026-03-04 05:06:07",
      "🦄🧪", null, "", "2026-04-05 06:07:08",
    ]);
    await c.query(`CREATE TABLE blobs (id INT PRIMARY KEY, data LONGBLOB, fixed BINARY(4), bits BIT(8))`);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await c.query(`INSERT INTO blobs VALUES (1, ?, ?, b'10100101'), (2, ?, ?, NULL), (3, NULL, NULL, b'0')`, [all, Buffer.from([0, 39, 92, 255]), Buffer.alloc(0), Buffer.from("abcd")]);
    await c.query(`CREATE TABLE events_log (id BIGINT PRIMARY KEY, payload VARCHAR(200) NOT NULL, amount DECIMAL(12,2))`);
    await c.query(`INSERT INTO events_log WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 30000) SELECT n, CONCAT(MD5(n), '-', MD5(n + 1)), n * 1.25 FROM seq`);
    await c.query(`CREATE TABLE empty_one (x INT)`);
    await c.query(`CREATE VIEW recent_customers AS SELECT id, name FROM customers WHERE created > '2026-01-01'`);
    await c.query(`CREATE PROCEDURE count_customers(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM customers; END`);
    await c.query(`CREATE FUNCTION add_tax(a DECIMAL(12,2)) RETURNS DECIMAL(12,2) DETERMINISTIC RETURN a * 1.2`);
    await c.query(`CREATE TRIGGER customers_note BEFORE INSERT ON customers FOR EACH ROW BEGIN IF NEW.note IS NULL THEN SET NEW.note = 'none;'; END IF; END`);
    await c.query(`CREATE EVENT purge_empty ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM empty_one WHERE x < 0`);
  } finally {
    await c.end();
  }
}

async function counts(database: string): Promise<{ table: string; rows: number }[]> {
  const c = await admin(database);
  try {
    const [tables] = await c.query<RowDataPacket[]>(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`, [database]);
    const out: { table: string; rows: number }[] = [];
    for (const { t } of tables) {
      const [[row]] = await c.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${t}\``);
      out.push({ table: String(t), rows: Number(row.n) });
    }
    return out;
  } finally {
    await c.end();
  }
}

async function getObject(key: string): Promise<Buffer> {
  const res = await s3Client(siteA()).send(new GetObjectCommand({ Bucket: siteA().bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

function parse(sql: Buffer) {
  const reader = new SqlDumpReader();
  reader.write(sql);
  return reader.end();
}

const target = { tier: "critical" as const, dataClass: "db" as const };

describe("MariaDB backups", () => {
  const db = "shop";
  let manifest: MysqlManifest;

  beforeAll(async () => {
    await seed(db);
    const result = await runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir, partSize: 5 * 1024 * 1024 });
    expect(result).toMatchObject({ outcome: "created", published: "published" });
    if (!isMysqlManifest(result.manifest)) throw new Error(`not a MySQL-family manifest: ${JSON.stringify(result.manifest)}`);
    manifest = result.manifest;
  }, 120_000);

  it("records the engine, the tool, a .sql.gz key and every base table with the rows the database holds", async () => {
    expect(manifest).toMatchObject({ engine: "mariadb", dumpFormat: "mysqldump-sql-gzip", tableChecksumMethod: MYSQL_TABLE_CHECKSUM_METHOD, database: db, site: "primary", epoch: 0 });
    expect(manifest.dumpKey).toMatch(/^db\/shop\/\d{4}\/\d{2}\/\d{2}\/\d{8}T\d{6}Z-primary-[0-9a-f]+\.sql\.gz$/);
    expect(manifest.dumpToolVersion).toMatch(/^mariadb-dump \d+\.\d+\.\d+-MariaDB$/);
    expect(manifest.serverVersion).toMatch(/MariaDB/);
    expect(manifest.tables.map(({ schema, table, rows }) => ({ schema, table, rows }))).toEqual((await counts(db)).map((t) => ({ schema: db, ...t })));
    expect(manifest.tables.find((t) => t.table === "events_log")!.rows).toBe(30_000);
    expect(manifest.tables.find((t) => t.table === "empty_one")!.checksum).toBe(EMPTY_CHECKSUM);
    for (const t of manifest.tables) expect(t.checksum).toMatch(/^[0-9a-f]{16}$/);
    expect(manifest.objects).toEqual({ views: ["recent_customers"], routines: ["add_tax", "count_customers"], triggers: ["customers_note"], events: ["purge_empty"] });
    expect(manifest.verification).toMatchObject({ method: "mysqldump stream parsed; upload decompressed to it", tables: 4 });
    // The view is not a table of the manifest.
    expect(manifest.tables.map((t) => t.table)).not.toContain("recent_customers");
    const pointer = await getJson<LatestPointer>(s3Client(siteA()), siteA().bucket, "db/shop/latest-primary.json");
    expect(pointer?.value).toMatchObject({ manifestKey: manifest.manifestKey, dumpKey: manifest.dumpKey, sha256: manifest.sha256 });
  });

  it("records the binary log position and GTIDs before and after the dump (log_bin is on)", () => {
    const { before, after } = manifest.binlog ?? {};
    expect(before).toEqual({ file: expect.stringMatching(/\S/), position: expect.any(Number), gtid: expect.stringMatching(/^\d+-\d+-\d+/) });
    expect(after).toEqual({ file: expect.stringMatching(/\S/), position: expect.any(Number), gtid: expect.stringMatching(/^\d+-\d+-\d+/) });
    expect(after!.file >= before!.file).toBe(true);
  });

  it("stores gzipped SQL whose bytes hash to the manifest, whose tables are the manifest's, and which another dump of the same data reads the same", async () => {
    const stored = await getObject(manifest.dumpKey);
    expect(stored.length).toBe(manifest.size);
    expect(createHash("sha256").update(stored).digest("hex")).toBe(manifest.sha256);
    const sql = gunzipSync(stored);
    expect(sql.toString("utf8")).toContain("Zoë 😀");
    expect(sql.toString("utf8")).toContain("東京");
    expect(sql.toString("utf8")).not.toMatch(/CREATE DATABASE/);
    const summary = parse(sql);
    for (const t of manifest.tables) expect(summary.tables.get(t.table)).toEqual({ rows: t.rows, checksum: t.checksum });
    // The checksums describe the data, not this one run: a dump of our own with the same flags sums the same.
    const own = spawnSync(
      `${binDir}/mariadb-dump`,
      ["--no-defaults", "--host=127.0.0.1", `--port=${maria.port}`, "--protocol=TCP", `--user=${maria.superuser}`, `--password=${maria.password}`, "--skip-ssl", ...mysqlDumpArgs("mariadb", db)],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    expect(own.status).toBe(0);
    const again = parse(own.stdout);
    for (const t of manifest.tables) expect(again.tables.get(t.table)).toEqual({ rows: t.rows, checksum: t.checksum });
  });

  it("verifies: the stored SQL is read back and matches the manifest", async () => {
    const report = await runVerify({ targets: [{ database: db, ...target }], bucket: siteA(), deep: true });
    expect(report.targets[0]).toMatchObject({ ok: true, failures: [], dumpKey: manifest.dumpKey });
  });

  it("a same-slot retry reports the stored backup instead of dumping again", async () => {
    const slot = new Date(Date.now() - 60_000);
    const first = await runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir, slot });
    const retry = await runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir, slot });
    expect(first.outcome).toBe("created");
    expect(retry.outcome).toBe("already-done");
    expect(retry.manifest.manifestKey).toBe(first.manifest.manifestKey);
  }, 120_000);
});

describe("MariaDB backups refuse, and publish nothing", () => {
  const db = "refusals";
  beforeAll(() => seed(db), 60_000);

  it("a read-only server (an RDS read replica): refused as not the writer", async () => {
    const c = await admin();
    try {
      await c.query("SET GLOBAL read_only = 1");
      await expect(runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir })).rejects.toThrow(NotWriterError);
      await expect(runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir })).rejects.toThrow(/its database is read-only \(@@read_only is on, as on an RDS read replica\)/);
    } finally {
      await c.query("SET GLOBAL read_only = 0");
      await c.end();
    }
    expect(await listKeys(siteA(), `db/${db}/`)).toEqual([]);
  });

  it("a mysql:// URL for a MariaDB server: the scheme must say the engine", async () => {
    const run = runBackup({ source: { url: url(db, "mysql"), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir });
    await expect(run).rejects.toThrow(UsageError);
    await expect(runBackup({ source: { url: url(db, "mysql"), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir })).rejects.toThrow(/DATABASE_URL says mysql:\/\/ but the server is MariaDB/);
    expect(await listKeys(siteA(), `db/${db}/`)).toEqual([]);
  });

  it("a site fenced during the dump: the upload is aborted, no manifest, no pointer", async () => {
    let calls = 0;
    const writer = async (): Promise<WriterIdentity> => (++calls === 1 ? { site: "primary", epoch: 3 } : { site: "primary", epoch: 4 });
    const slot = new Date(Date.now() - 120_000);
    await expect(runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir, writer, slot })).rejects.toThrow(/its writer identity changed during the dump \(primary epoch 3 -> primary epoch 4\)/);
    const published = (await listKeys(siteA(), `db/${db}/`)).filter((k) => k.endsWith(".sql.gz") || k.endsWith(".manifest.json") || k.includes("/latest"));
    expect(published).toEqual([]);
  });

  it("a dump killed part-way: the upload is aborted and nothing is published", async () => {
    const c = await admin(db);
    try {
      // Enough rows that the dump is still running when it is killed.
      await c.query(`CREATE TABLE big (id BIGINT PRIMARY KEY, pad VARCHAR(255))`);
      await c.query(`INSERT INTO big WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 200000) SELECT n, REPEAT(MD5(n), 7) FROM seq`);
    } finally {
      await c.end();
    }
    const slot = new Date(Date.now() - 180_000);
    let key = "";
    const run = runBackup({
      source: { url: url(db), label: "DATABASE_URL" },
      target,
      bucket: siteA(),
      mysqlBinDir: binDir,
      slot,
      partSize: 5 * 1024 * 1024,
      onDumpStarted: (pid) => setTimeout(() => process.kill(pid, "SIGKILL"), 300),
      log: (m) => {
        const k = /-> s3:\/\/[^/]+\/(\S+)/.exec(m);
        if (k) key = k[1];
      },
    });
    await expect(run).rejects.toThrow(/mariadb-dump failed \(killed by SIGKILL\)/);
    expect(key).toMatch(/\.sql\.gz$/);
    expect(await openUploads(siteA(), key)).toEqual([]);
    expect((await listKeys(siteA(), `db/${db}/`)).filter((k) => k.endsWith(".sql.gz") || k.endsWith(".manifest.json") || k.includes("/latest"))).toEqual([]);
  }, 120_000);
});

describe("verify reads a MariaDB dump back", () => {
  const db = "tampered";

  it("reports a stored dump whose SQL is not the manifest's: checksum mismatch and the changed table", async () => {
    await seed(db);
    const { manifest } = await runBackup({ source: { url: url(db), label: "DATABASE_URL" }, target, bucket: siteA(), mysqlBinDir: binDir });
    const m = manifest as BackupManifest;
    const sql = gunzipSync(await getObject(m.dumpKey)).toString("utf8");
    const changed = sql.replace("山田 太郎", "山田 花子");
    expect(changed).not.toBe(sql);
    await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: m.dumpKey, Body: gzipSync(Buffer.from(changed, "utf8")) }));
    const report = await runVerify({ targets: [{ database: db, ...target }], bucket: siteA(), deep: true });
    expect(report.targets[0].ok).toBe(false);
    expect(report.targets[0].failures).toEqual(
      expect.arrayContaining([expect.stringMatching(/^checksum mismatch: .*\.sql\.gz hashes to sha256/), expect.stringMatching(/^tampered\.customers: checksum [0-9a-f]{16} in the dump, the manifest recorded [0-9a-f]{16}$/)]),
    );
  }, 120_000);
});
