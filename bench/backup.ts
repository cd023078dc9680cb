/**
 * `npm run bench:backup`: how much does streaming into S3 with checksums,
 * TOC verification and snapshot row counts cost compared with a bare
 * `pg_dump -Fc > /dev/null`, and how much memory does it take?
 *
 * Starts the same loopback services as the integration tests, seeds a
 * database of at least BENCH_DB_BYTES (default 1 GiB) with poorly
 * compressible rows, then measures
 *   (a) pg_dump -Fc to /dev/null, and
 *   (b) `drstack-backup backup` into MinIO as a child process, sampling its
 *       peak resident memory (VmHWM) from /proc,
 * alternating BENCH_ROUNDS times (default 3) and reporting best and median.
 * Prints figures; asserts nothing about timing.
 */
import { spawn } from "node:child_process";
import { readFileSync, openSync, closeSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg } from "node:os";
import { Client } from "pg";
import { startServices, stopServices, ServiceCoordinates } from "../tests/integration/services/services";

const TARGET_BYTES = Number(process.env.BENCH_DB_BYTES ?? 1024 ** 3);
const PART_SIZE_MB = process.env.BENCH_PART_SIZE_MB ?? "16";
const CONCURRENCY = process.env.BENCH_CONCURRENCY ?? "4";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MB = 1024 * 1024;

export function dbUrl(c: ServiceCoordinates, db: string): string {
  return `postgres://postgres:${encodeURIComponent(c.postgres.password)}@127.0.0.1:${c.postgres.port}/${db}`;
}

export async function seed(c: ServiceCoordinates): Promise<number> {
  const admin = new Client({ connectionString: dbUrl(c, "postgres") });
  await admin.connect();
  await admin.query("CREATE DATABASE bench");
  await admin.end();
  const db = new Client({ connectionString: dbUrl(c, "bench") });
  await db.connect();
  await db.query(`CREATE TABLE orders (
      id bigint PRIMARY KEY, customer int NOT NULL, placed_at timestamptz NOT NULL,
      amount numeric(12,2) NOT NULL, note text NOT NULL)`);
  await db.query("CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL)");
  await db.query(`INSERT INTO customers SELECT g, 'customer ' || md5(g::text), md5(random()::text) || '@example.com' FROM generate_series(1, 100000) g`);
  let size = 0;
  let next = 1;
  const batch = 1_000_000;
  const t0 = Date.now();
  while (size < TARGET_BYTES) {
    // Random hex and words: compresses roughly 2:1, like real text columns, not 100:1 like repeated strings.
    await db.query(
      `INSERT INTO orders
         SELECT g, (random() * 100000)::int, now() - random() * interval '900 days', round((random() * 1000)::numeric, 2),
                md5(random()::text) || ' ' || md5(random()::text) || ' ' || substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod', 1 + (random() * 40)::int) || ' ' || md5(random()::text)
           FROM generate_series($1::bigint, $1::bigint + $2 - 1) g`,
      [next, batch],
    );
    next += batch;
    size = Number((await db.query<{ s: string }>("SELECT pg_database_size('bench') AS s")).rows[0].s);
    process.stderr.write(`seeded ${next - 1} rows, ${(size / MB).toFixed(0)} MiB (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
  await db.query("VACUUM ANALYZE");
  await db.end();
  return size;
}

interface Measured {
  seconds: number;
  peakRssBytes?: number;
  stdout: string;
}

/** Runs a command, sampling VmHWM of the process itself while it lives. */
export function measure(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdoutFile?: string; sampleRss?: boolean }): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const out = opts.stdoutFile ? openSync(opts.stdoutFile, "w") : "pipe";
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["ignore", out, "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-4000)));
    let peak = 0;
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        // exited between samples
      }
    };
    const timer = opts.sampleRss ? setInterval(sample, 50) : undefined;
    child.on("close", (code) => {
      if (timer) clearInterval(timer);
      if (typeof out === "number") closeSync(out);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${stderr}`));
      else resolve({ seconds, peakRssBytes: opts.sampleRss ? peak : undefined, stdout });
    });
  });
}

async function main(): Promise<void> {
  const c = await startServices();
  try {
    process.stderr.write(`services up in ${c.workDir}; seeding at least ${(TARGET_BYTES / MB).toFixed(0)} MiB\n`);
    const dbBytes = await seed(c);
    const url = dbUrl(c, "bench");
    const pgEnv = { ...process.env, PGPASSWORD: c.postgres.password };

    // Rounds alternate (a) and (b) so a noisy neighbour on a shared machine hits both alike.
    const a: Measured[] = [];
    const b: Measured[] = [];
    let manifest: { size: number; partCount: number; tables: { rows: number }[] } | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`round ${round}/${ROUNDS}: (a) pg_dump -Fc > /dev/null\n`);
      a.push(await measure(join(c.pgBinDir, "pg_dump"), ["--format=custom", `--dbname=postgres://postgres@127.0.0.1:${c.postgres.port}/bench`], { env: pgEnv, stdoutFile: "/dev/null" }));
      process.stderr.write(`round ${round}/${ROUNDS}: (b) drstack-backup backup (part size ${PART_SIZE_MB} MiB, concurrency ${CONCURRENCY})\n`);
      const run = await measure(
        process.execPath,
        [
          join(__dirname, "..", "bin", "drstack-backup"), "backup",
          "--tier", "critical", "--pg-bin-dir", c.pgBinDir,
          "--bucket", c.minio.siteA.bucket, "--s3-endpoint", c.minio.siteA.endpoint,
          "--access-key-id", c.minio.accessKey, "--secret-access-key", c.minio.secretKey,
          "--part-size-mb", PART_SIZE_MB, "--concurrency", CONCURRENCY,
        ],
        { env: { ...process.env, DATABASE_URL: url }, sampleRss: true },
      );
      b.push(run);
      manifest = (JSON.parse(run.stdout) as { manifest: NonNullable<typeof manifest> }).manifest;
      process.stderr.write(`round ${round}: a ${a[round - 1].seconds.toFixed(1)} s, b ${run.seconds.toFixed(1)} s\n`);
    }
    const m = manifest!;
    const thr = (sec: number) => dbBytes / MB / sec;
    const best = (xs: Measured[]) => Math.min(...xs.map((x) => x.seconds));
    const median = (xs: Measured[]) => {
      const v = xs.map((x) => x.seconds).sort((p, q) => p - q);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    const peak = Math.max(...b.map((x) => x.peakRssBytes ?? 0));
    const lines = [
      `database size            ${(dbBytes / MB).toFixed(0)} MiB (${m.tables.reduce((n, t) => n + t.rows, 0)} rows), ${ROUNDS} round(s)`,
      `dump size                ${(m.size / MB).toFixed(0)} MiB in ${m.partCount} parts of ${PART_SIZE_MB} MiB, concurrency ${CONCURRENCY}`,
      `(a) pg_dump -Fc > null   best ${best(a).toFixed(1)} s = ${thr(best(a)).toFixed(1)} MiB/s; median ${median(a).toFixed(1)} s; all ${a.map((x) => x.seconds.toFixed(1)).join(", ")}`,
      `(b) drstack backup       best ${best(b).toFixed(1)} s = ${thr(best(b)).toFixed(1)} MiB/s; median ${median(b).toFixed(1)} s; all ${b.map((x) => x.seconds.toFixed(1)).join(", ")}`,
      `ratio b/a (throughput)   best ${(best(a) / best(b)).toFixed(2)}, median ${(median(a) / median(b)).toFixed(2)}   (target >= 0.80)`,
      `(b) peak RSS (VmHWM)     ${(peak / MB).toFixed(0)} MiB   (target <= 256 MiB)`,
      `load average at the end  ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${cpus().length} CPUs (other work on the machine skews single rounds)`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    await stopServices(c);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:backup failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
