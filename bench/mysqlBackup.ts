/**
 * `npm run bench:mysql-backup`: what does a MariaDB backup (gzip, the SQL
 * reader's rows and checksums, multipart upload with checksums) cost
 * compared with a bare `mariadb-dump > /dev/null` of the same database, and
 * how much memory does it take?
 *
 * Starts the same loopback services as the integration tests, seeds a
 * MariaDB database of at least BENCH_DB_BYTES (default 1 GiB, InnoDB data and
 * indexes) with poorly compressible rows, measures once how many bytes of SQL
 * the dump is, then alternates BENCH_ROUNDS times (default 3)
 *   (a) mariadb-dump with the backup's own options to /dev/null, and
 *   (b) `drstack-backup backup` into MinIO as a child process, sampling its
 *       peak resident memory (VmHWM) from /proc,
 * and reports best and median in MiB/s of SQL. BENCH_COMPRESS sets (b)'s
 * gzip level (0 shows what compression costs). Prints figures; asserts
 * nothing about timing.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg } from "node:os";
import { createConnection, RowDataPacket } from "mysql2/promise";
import { mysqlDumpArgs } from "../lambdas/core/mysqlBackup";
import { startServices, stopServices, ServiceCoordinates } from "../tests/integration/services/services";
import { measure } from "./backup";

const TARGET_BYTES = Number(process.env.BENCH_DB_BYTES ?? 1024 ** 3);
const PART_SIZE_MB = process.env.BENCH_PART_SIZE_MB ?? "16";
const CONCURRENCY = process.env.BENCH_CONCURRENCY ?? "4";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** --compress for (b): the gzip level; the backup's default when unset. */
const COMPRESS = process.env.BENCH_COMPRESS;
const MB = 1024 * 1024;
const DB = "bench";

function connection(c: ServiceCoordinates, database?: string) {
  return createConnection({ host: "127.0.0.1", port: c.mariadb.port, user: c.mariadb.superuser, password: c.mariadb.password, database, ssl: { ca: readFileSync(c.mariadb.caFile, "utf8") }, multipleStatements: true });
}

async function seed(c: ServiceCoordinates): Promise<number> {
  const admin = await connection(c);
  await admin.query(`DROP DATABASE IF EXISTS ${DB}; CREATE DATABASE ${DB} CHARACTER SET utf8mb4`);
  await admin.end();
  const db = await connection(c, DB);
  await db.query("SET SESSION max_recursive_iterations = 100000000");
  await db.query(`CREATE TABLE orders (id BIGINT PRIMARY KEY, customer INT NOT NULL, placed_at DATETIME NOT NULL, amount DECIMAL(12,2) NOT NULL, note TEXT NOT NULL, blob_ref VARBINARY(16) NOT NULL)`);
  await db.query(`CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200) NOT NULL)`);
  await db.query(`INSERT INTO customers WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 100000) SELECT n, CONCAT('customer ', MD5(n), ' é 漢'), CONCAT(MD5(RAND()), '@example.com') FROM g`);
  let size = 0;
  let next = 1;
  const batch = 500_000;
  const t0 = Date.now();
  while (size < TARGET_BYTES) {
    // Random hex and words: compresses roughly 2:1 like real text columns, plus a binary column dumped as hex.
    await db.query(
      `INSERT INTO orders WITH RECURSIVE g(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM g WHERE n < ?)
         SELECT n, FLOOR(RAND() * 100000), NOW() - INTERVAL FLOOR(RAND() * 900 * 86400) SECOND, ROUND(RAND() * 1000, 2),
                CONCAT(MD5(RAND()), ' ', MD5(RAND()), ' ', SUBSTR('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod', 1 + FLOOR(RAND() * 40)), ' ''q'' \\\\ ', MD5(RAND())),
                UNHEX(MD5(RAND()))
           FROM g`,
      [next, next + batch - 1],
    );
    next += batch;
    await db.query("ANALYZE TABLE orders");
    const [[row]] = await db.query<RowDataPacket[]>("SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS s FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", [DB]);
    size = Number(row.s);
    process.stderr.write(`seeded ${next - 1} rows, ${(size / MB).toFixed(0)} MiB (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  await db.end();
  return size;
}

async function main(): Promise<void> {
  const c = await startServices();
  try {
    process.stderr.write(`services up in ${c.workDir}; seeding at least ${(TARGET_BYTES / MB).toFixed(0)} MiB into MariaDB\n`);
    const dbBytes = await seed(c);
    const dumpTool = join(c.mariadb.binDir, "mariadb-dump");
    const bareArgs = ["--no-defaults", "--host=127.0.0.1", `--port=${c.mariadb.port}`, "--protocol=TCP", `--user=${c.mariadb.superuser}`, `--password=${c.mariadb.password}`, `--ssl-ca=${c.mariadb.caFile}`, "--ssl", ...mysqlDumpArgs("mariadb", DB)];
    const counted = spawnSync("sh", ["-c", `"$0" "$@" | wc -c`, dumpTool, ...bareArgs], { encoding: "utf8" });
    if (counted.status !== 0) throw new Error(`mariadb-dump | wc -c failed: ${counted.stderr}`);
    const sqlBytes = Number(counted.stdout.trim());
    const url = `mariadb://${encodeURIComponent(c.mariadb.superuser)}:${encodeURIComponent(c.mariadb.password)}@127.0.0.1:${c.mariadb.port}/${DB}?sslmode=verify-full&sslrootcert=${encodeURIComponent(c.mariadb.caFile)}`;

    // Rounds alternate (a) and (b) so a noisy neighbour on a shared machine hits both alike.
    const a: { seconds: number }[] = [];
    const b: { seconds: number; peakRssBytes?: number }[] = [];
    let manifest: { size: number; partCount: number; tables: { rows: number }[] } | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`round ${round}/${ROUNDS}: (a) mariadb-dump > /dev/null\n`);
      a.push(await measure(dumpTool, bareArgs, { stdoutFile: "/dev/null" }));
      process.stderr.write(`round ${round}/${ROUNDS}: (b) drstack-backup backup (part size ${PART_SIZE_MB} MiB, concurrency ${CONCURRENCY})\n`);
      const run = await measure(
        process.execPath,
        [
          join(__dirname, "..", "bin", "drstack-backup"), "backup",
          "--tier", "critical", "--mysql-bin-dir", c.mariadb.binDir,
          "--bucket", c.minio.siteA.bucket, "--s3-endpoint", c.minio.siteA.endpoint,
          "--access-key-id", c.minio.accessKey, "--secret-access-key", c.minio.secretKey,
          "--part-size-mb", PART_SIZE_MB, "--concurrency", CONCURRENCY,
          ...(COMPRESS === undefined ? [] : ["--compress", COMPRESS]),
        ],
        { env: { ...process.env, DATABASE_URL: url }, sampleRss: true },
      );
      b.push(run);
      manifest = (JSON.parse(run.stdout) as { manifest: NonNullable<typeof manifest> }).manifest;
      process.stderr.write(`round ${round}: a ${a[round - 1].seconds.toFixed(1)} s, b ${run.seconds.toFixed(1)} s\n`);
    }
    const m = manifest!;
    const thr = (sec: number) => sqlBytes / MB / sec;
    const best = (xs: { seconds: number }[]) => Math.min(...xs.map((x) => x.seconds));
    const median = (xs: { seconds: number }[]) => {
      const v = xs.map((x) => x.seconds).sort((p, q) => p - q);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    const peak = Math.max(...b.map((x) => x.peakRssBytes ?? 0));
    const lines = [
      `database size            ${(dbBytes / MB).toFixed(0)} MiB InnoDB (${m.tables.reduce((n, t) => n + t.rows, 0)} rows), ${ROUNDS} round(s)`,
      `dump size                ${(sqlBytes / MB).toFixed(0)} MiB of SQL, stored gzipped (level ${COMPRESS ?? "default"}) as ${(m.size / MB).toFixed(0)} MiB in ${m.partCount} parts of ${PART_SIZE_MB} MiB, concurrency ${CONCURRENCY}`,
      `(a) mariadb-dump > null  best ${best(a).toFixed(1)} s = ${thr(best(a)).toFixed(1)} MiB/s of SQL; median ${median(a).toFixed(1)} s; all ${a.map((x) => x.seconds.toFixed(1)).join(", ")}`,
      `(b) drstack backup       best ${best(b).toFixed(1)} s = ${thr(best(b)).toFixed(1)} MiB/s of SQL; median ${median(b).toFixed(1)} s; all ${b.map((x) => x.seconds.toFixed(1)).join(", ")}`,
      `ratio b/a (throughput)   best ${(best(a) / best(b)).toFixed(2)}, median ${(median(a) / median(b)).toFixed(2)}`,
      `(b) peak RSS (VmHWM)     ${(peak / MB).toFixed(0)} MiB`,
      `load average at the end  ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${cpus().length} CPUs (other work on the machine skews single rounds)`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    await stopServices(c);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:mysql-backup failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
