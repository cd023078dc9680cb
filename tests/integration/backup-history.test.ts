/**
 * Issue 9, item 4: choosing a backup by time from the key layout, against
 * MinIO, with 200 synthetic backups of two sites over 14 months (gaps of days,
 * runs longer than the interval, a slot both sites took, dumps without a
 * manifest). Every lookup is compared with the answer worked out from the
 * full list in memory, and costs a bounded number of requests (counted, not
 * timed), where a full listing would grow with the history.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { manifestsBefore, newestBackupBefore } from "../../lambdas/core/catalog";
import { backupKeys, compactTimestamp } from "../../lambdas/core/layout";
import { BackupManifest, MANIFEST_FORMAT } from "../../lambdas/core/manifest";
import { BucketLocation, s3Client } from "../../lambdas/core/s3";
import { siteA } from "./helpers";

jest.setTimeout(120_000);

const target = { database: "history", dataClass: "archive" as const };

/** A deterministic pseudo-random sequence, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function manifest(slot: Date, site: string, epoch: number, endedAt: Date): BackupManifest {
  const runId = `run${slot.getTime().toString(36)}${site[0]}`;
  const keys = backupKeys(target, slot, runId, site);
  return {
    format: MANIFEST_FORMAT, database: target.database, tier: "low", dataClass: target.dataClass, runId, site, epoch,
    slot: slot.toISOString(), startedAt: slot.toISOString(), endedAt: endedAt.toISOString(), dumpKey: keys.dumpKey, manifestKey: keys.manifestKey,
    size: 1, sha256: "0".repeat(64), etag: '"x"', partSize: 1, partCount: 1, serverVersion: "15", pgDumpVersion: "15", tables: [],
    verification: { method: "pg_restore --list on the uploaded stream", tocEntries: 0, tableDataEntries: 0 },
  };
}

function counting(loc: BucketLocation): { s3: S3Client; requests: () => number; reset: () => void } {
  const s3 = s3Client(loc);
  let n = 0;
  s3.middlewareStack.add((next) => async (args) => {
    n++;
    return next(args);
  }, { step: "initialize", name: "countRequests" });
  return { s3, requests: () => n, reset: () => (n = 0) };
}

/** The newest by (slot, epoch) among the backups whose slot second and end are before the instant. */
function expected(all: BackupManifest[], before: Date): BackupManifest | undefined {
  const limit = compactTimestamp(before);
  return all
    .filter((m) => compactTimestamp(new Date(m.slot)) < limit && Date.parse(m.endedAt) < before.getTime())
    .sort((a, b) => Date.parse(a.slot) - Date.parse(b.slot) || a.epoch - b.epoch)
    .at(-1);
}

describe("backups chosen by time", () => {
  const loc: BucketLocation = { ...siteA(), bucket: "history-lookup" };
  const all: BackupManifest[] = [];

  beforeAll(async () => {
    const s3 = s3Client(loc);
    await s3.send(new CreateBucketCommand({ Bucket: loc.bucket }));
    const next = rng(9);
    let t = Date.parse("2025-11-28T22:00:00Z");
    while (all.length < 198) {
      // Mostly a few hours apart, sometimes days (an outage), sometimes a run longer than the gap to the next one.
      t += next() < 0.1 ? Math.floor(next() * 9 * 86400_000) : Math.floor((1 + next() * 6) * 3600_000);
      const slot = new Date(Math.floor(t / 1000) * 1000);
      const duration = next() < 0.1 ? 8 * 3600_000 : 60_000 + Math.floor(next() * 600_000);
      all.push(manifest(slot, next() < 0.3 ? "secondary" : "primary", all.length < 120 ? 1 : 2, new Date(slot.getTime() + duration)));
    }
    // One slot taken by both sites: the later writer's epoch wins it.
    const shared = new Date(all[150].slot);
    all.push(manifest(shared, all[150].site === "primary" ? "secondary" : "primary", all[150].epoch + 1, new Date(shared.getTime() + 120_000)));
    // A dump whose manifest was never written is no backup.
    const orphan = backupKeys(target, new Date(Date.parse(all[60].slot) + 1000), "orphan", "primary");
    const bodies: [string, string][] = all.flatMap((m) => [[m.manifestKey, JSON.stringify(m)], [m.dumpKey, "PGDMP"]] as [string, string][]);
    // Keys beside the dated folders are not backups either.
    bodies.push([orphan.dumpKey, "PGDMP"], [`${target.dataClass}/${target.database}/latest-primary.json`, "{}"], [`${target.dataClass}/${target.database}/drills/20260101T000000Z-primary.json`, "{}"]);
    for (let i = 0; i < bodies.length; i += 32) {
      await Promise.all(bodies.slice(i, i + 32).map(([Key, Body]) => s3.send(new PutObjectCommand({ Bucket: loc.bucket, Key, Body }))));
    }
    expect(all).toHaveLength(199);
  });

  it("finds the newest backup that ended before each instant, as a full listing would", async () => {
    const { s3, requests, reset } = counting(loc);
    const next = rng(4);
    const first = Date.parse(all[0].slot);
    const last = Date.parse(all[all.length - 1].endedAt);
    const instants = [
      new Date(first - 1000), // before any backup
      new Date(Date.parse(all[0].endedAt) + 1), // just after the first ended
      new Date(Date.parse(all[10].endedAt)), // exactly at an end: not before it
      new Date(Date.parse(all[150].slot) + 200_000), // after the shared slot
      new Date(last + 86400_000),
      ...Array.from({ length: 60 }, () => new Date(first + Math.floor(next() * (last - first)))),
    ];
    let most = 0;
    for (const before of instants) {
      reset();
      const found = await newestBackupBefore(s3, loc.bucket, target, before);
      expect([before.toISOString(), found?.manifestKey]).toEqual([before.toISOString(), expected(all, before)?.manifestKey]);
      most = Math.max(most, requests());
    }
    // Three delimiter listings and the day's listing, a manifest GET or two, more only when it must step back
    // over an empty or too-late day; a full listing of these 400 keys is already 1 page, of 100,000 backups 200.
    expect(most).toBeLessThanOrEqual(12);
  });

  it("the later writer's backup wins a slot both sites took", async () => {
    const shared = all.filter((m) => m.slot === all[150].slot);
    expect(shared).toHaveLength(2);
    const found = await newestBackupBefore(s3Client(loc), loc.bucket, target, new Date(Date.parse(all[150].slot) + 200_000));
    expect(found?.epoch).toBe(Math.max(...shared.map((m) => m.epoch)));
  });

  it("lists the history newest first from any instant", async () => {
    const from = new Date(Date.parse(all[100].endedAt) + 1);
    const seen: string[] = [];
    for await (const m of manifestsBefore(s3Client(loc), loc.bucket, target, from)) {
      seen.push(m.manifestKey);
      if (seen.length === 25) break;
    }
    const want = all
      .filter((m) => compactTimestamp(new Date(m.slot)) < compactTimestamp(from) && Date.parse(m.endedAt) < from.getTime())
      .sort((a, b) => Date.parse(b.slot) - Date.parse(a.slot) || b.epoch - a.epoch)
      .slice(0, 25)
      .map((m) => m.manifestKey);
    expect(seen).toEqual(want);
  });
});
