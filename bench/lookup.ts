/**
 * `npm run bench:lookup`: what does choosing a backup by time cost as the
 * history grows? Seeds BENCH_BACKUPS (default 100,000) synthetic backups of
 * one database (their manifests, one every 15 minutes, so about three years;
 * BENCH_DUMP_KEYS=1 adds each backup's dump key too, as a real bucket has,
 * which doubles what the baseline lists and the seeding time) into a MinIO
 * bucket, then measures in the same run
 *   (a) the by-time lookup drstack uses (lambdas/core/catalog.ts: delimiter
 *       listings down the time-ordered keys, then the day's keys), and
 *   (b) the baseline: a full listing of the database's prefix, the newest
 *       manifest before the instant picked in memory, then its GET,
 * for the same BENCH_LOOKUPS (default 20) random instants, counting requests
 * and milliseconds. Prints figures and ratios; asserts nothing about timing.
 */
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { loadavg, cpus } from "node:os";
import { newestBackupBefore, manifestKeyTime } from "../lambdas/core/catalog";
import { backupKeys, compactTimestamp, databasePrefix } from "../lambdas/core/layout";
import { BackupManifest, MANIFEST_FORMAT, getJson } from "../lambdas/core/manifest";
import { BucketLocation, s3Client } from "../lambdas/core/s3";
import { startServices, stopServices } from "../tests/integration/services/services";

const BACKUPS = Number(process.env.BENCH_BACKUPS ?? 100_000);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 20);
const SEED_CONCURRENCY = Number(process.env.BENCH_SEED_CONCURRENCY ?? 64);
const DUMP_KEYS = process.env.BENCH_DUMP_KEYS === "1";
const INTERVAL_MS = 15 * 60_000;
const target = { database: "shop", dataClass: "db" as const };
const FIRST_SLOT = Date.parse("2024-01-01T00:00:00Z");

function manifest(i: number): BackupManifest {
  const slot = new Date(FIRST_SLOT + i * INTERVAL_MS);
  const site = i % 10 === 9 ? "secondary" : "primary";
  const runId = `r${i.toString(36)}`;
  const keys = backupKeys(target, slot, runId, site);
  return {
    format: MANIFEST_FORMAT, database: target.database, tier: "standard", dataClass: target.dataClass, runId, site, epoch: 1,
    slot: slot.toISOString(), startedAt: slot.toISOString(), endedAt: new Date(slot.getTime() + 240_000).toISOString(),
    dumpKey: keys.dumpKey, manifestKey: keys.manifestKey, size: 1, sha256: "0".repeat(64), etag: '"x"', partSize: 1, partCount: 1,
    serverVersion: "15", pgDumpVersion: "15", tables: [], verification: { method: "pg_restore --list on the uploaded stream", tocEntries: 0, tableDataEntries: 0 },
  };
}

function counted(loc: BucketLocation): { s3: S3Client; take: () => number } {
  const s3 = s3Client(loc);
  let n = 0;
  s3.middlewareStack.add((next) => async (args) => {
    n++;
    return next(args);
  }, { step: "initialize", name: "countRequests" });
  return { s3, take: () => { const v = n; n = 0; return v; } };
}

async function seed(s3: S3Client, bucket: string): Promise<void> {
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < BACKUPS; i = next++) {
      const m = manifest(i);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: m.manifestKey, Body: JSON.stringify(m) }));
      if (DUMP_KEYS) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: m.dumpKey, Body: "PGDMP" }));
      if (i % 10_000 === 0) process.stderr.write(`seeded ${i} backups (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
  process.stderr.write(`seeded ${BACKUPS} backups (${objects()} objects) in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

/** The baseline: list every key under the database, pick the newest manifest before the instant, read it. */
async function fullListingLookup(s3: S3Client, bucket: string, before: Date): Promise<BackupManifest | undefined> {
  const limit = compactTimestamp(before);
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: databasePrefix(target), ContinuationToken: token }));
    for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  const candidates = keys.filter((k) => (manifestKeyTime(k) ?? "~") < limit).sort().reverse();
  for (const key of candidates) {
    const m = (await getJson<BackupManifest>(s3, bucket, key))?.value;
    if (m && Date.parse(m.endedAt) < before.getTime()) return m;
  }
  return undefined;
}

function objects(): number {
  return DUMP_KEYS ? 2 * BACKUPS : BACKUPS;
}

function stats(xs: number[]): { median: number; max: number } {
  const v = [...xs].sort((a, b) => a - b);
  return { median: v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2, max: v[v.length - 1] };
}

export async function main(): Promise<void> {
  const c = await startServices();
  try {
    const loc: BucketLocation = {
      bucket: "lookup-bench",
      region: c.minio.region,
      endpoint: c.minio.siteA.endpoint,
      credentials: { accessKeyId: c.minio.accessKey, secretAccessKey: c.minio.secretKey },
      label: { bucket: "bucket", endpoint: "endpoint", credentials: "credentials" },
    };
    const admin = s3Client(loc);
    await admin.send(new CreateBucketCommand({ Bucket: loc.bucket }));
    await seed(admin, loc.bucket);

    const span = BACKUPS * INTERVAL_MS;
    let x = 7;
    const instants = Array.from({ length: LOOKUPS }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return new Date(FIRST_SLOT + Math.floor((x / 2147483648) * span));
    });
    const a = counted(loc);
    const b = counted(loc);
    const byTime = { ms: [] as number[], requests: [] as number[] };
    const baseline = { ms: [] as number[], requests: [] as number[] };
    for (const before of instants) {
      // Alternate, so a busy moment on the machine falls on both.
      let t = performance.now();
      const found = await newestBackupBefore(a.s3, loc.bucket, target, before);
      byTime.ms.push(performance.now() - t);
      byTime.requests.push(a.take());
      t = performance.now();
      const want = await fullListingLookup(b.s3, loc.bucket, before);
      baseline.ms.push(performance.now() - t);
      baseline.requests.push(b.take());
      if (found?.manifestKey !== want?.manifestKey) throw new Error(`lookups disagree at ${before.toISOString()}: ${found?.manifestKey} vs ${want?.manifestKey}`);
    }
    const am = stats(byTime.ms);
    const ar = stats(byTime.requests);
    const bm = stats(baseline.ms);
    const br = stats(baseline.requests);
    const lines = [
      `history                  ${BACKUPS} backups of one database (${objects()} objects: ${DUMP_KEYS ? "manifest + dump" : "manifests only; BENCH_DUMP_KEYS=1 doubles the baseline's listing"}), one every 15 min from 2024-01-01; ${LOOKUPS} instants, both lookups agree on each`,
      `(a) by-time lookup       requests median ${ar.median}, max ${ar.max}; ms median ${am.median.toFixed(1)}, max ${am.max.toFixed(1)}`,
      `(b) full listing         requests median ${br.median}, max ${br.max}; ms median ${bm.median.toFixed(1)}, max ${bm.max.toFixed(1)}`,
      `ratio b/a                requests ${(br.median / ar.median).toFixed(0)}x, time ${(bm.median / am.median).toFixed(0)}x (medians)`,
      `load average at the end  ${loadavg().map((l) => l.toFixed(1)).join(" ")} on ${cpus().length} CPUs`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } finally {
    await stopServices(c);
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:lookup failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
