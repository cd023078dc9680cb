/**
 * Backups chosen by time: the newest backup before an instant, found from
 * the key layout alone, whatever the history holds.
 *
 * Keys under `<class>/<database>/` are `<yyyy>/<mm>/<dd>/<yyyymmddThhmmssZ>-...`,
 * so their lexical order is their time order. The lookup walks that tree from
 * the instant backwards with delimiter listings (the years, the months of a
 * year, the days of a month: one short page each), then lists only the day
 * that holds the candidates, so it costs a handful of requests at 100,000
 * backups as at 10. A full listing of the prefix costs one request per 1,000
 * keys. Each candidate's manifest is read to confirm it: a backup counts as
 * "before" the instant only when it ended before it (its snapshot was then
 * certainly taken before), and the higher writer epoch wins a tie of slots.
 */
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { BackupTarget, compactTimestamp, databasePrefix, newestByWriterOrder } from "./layout";
import { BackupManifest, getJson } from "./manifest";

const MANIFEST_KEY = /\/(\d{8}T\d{6}Z)-[a-z][a-z0-9]*-[a-z0-9-]+\.manifest\.json$/;

/** The compact slot timestamp of a manifest key, or undefined for any other key. */
export function manifestKeyTime(key: string): string | undefined {
  return MANIFEST_KEY.exec(key)?.[1];
}

async function listAll(s3: S3Client, bucket: string, prefix: string, delimiter?: string): Promise<{ prefixes: string[]; keys: string[] }> {
  const prefixes: string[] = [];
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: token }));
    for (const p of res.CommonPrefixes ?? []) if (p.Prefix) prefixes.push(p.Prefix);
    for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return { prefixes, keys };
}

/** Child folders named by `width` digits, newest first, none later than `limit` (same width). */
async function datedFolders(s3: S3Client, bucket: string, prefix: string, width: number, limit: string): Promise<string[]> {
  const pattern = new RegExp(`^\\d{${width}}/$`);
  const { prefixes } = await listAll(s3, bucket, prefix, "/");
  return prefixes
    .map((p) => p.slice(prefix.length))
    .filter((name) => pattern.test(name) && name.slice(0, width) <= limit)
    .sort()
    .reverse()
    .map((name) => prefix + name);
}

/**
 * Manifests of one database's backups, newest first by slot, starting with
 * the last slot before `before`; each manifest is fetched as it is reached,
 * so a caller that stops after the first pays for one.
 */
export async function* manifestsBefore(
  s3: S3Client,
  bucket: string,
  target: Pick<BackupTarget, "database" | "dataClass">,
  before: Date,
): AsyncGenerator<BackupManifest> {
  const limit = compactTimestamp(before); // yyyymmddThhmmssZ
  const root = databasePrefix(target);
  for (const year of await datedFolders(s3, bucket, root, 4, limit.slice(0, 4))) {
    const y = year.slice(root.length, root.length + 4);
    for (const month of await datedFolders(s3, bucket, year, 2, y < limit.slice(0, 4) ? "99" : limit.slice(4, 6))) {
      const m = month.slice(year.length, year.length + 2);
      const lastDay = `${y}${m}` < limit.slice(0, 6) ? "99" : limit.slice(6, 8);
      for (const day of await datedFolders(s3, bucket, month, 2, lastDay)) {
        const { keys } = await listAll(s3, bucket, day);
        const bySlot = new Map<string, string[]>();
        for (const key of keys) {
          const t = manifestKeyTime(key);
          if (t === undefined || t >= limit) continue;
          bySlot.set(t, [...(bySlot.get(t) ?? []), key]);
        }
        for (const slot of [...bySlot.keys()].sort().reverse()) {
          const manifests = (await Promise.all(bySlot.get(slot)!.map((key) => getJson<BackupManifest>(s3, bucket, key))))
            .map((stored) => stored?.value)
            .filter((m): m is BackupManifest => m !== undefined && Date.parse(m.endedAt) < before.getTime());
          // Several sites' backups of one slot: the later writer's first.
          const ordered: BackupManifest[] = [];
          let rest = manifests;
          while (rest.length > 0) {
            const newest = newestByWriterOrder(rest)!;
            ordered.push(newest);
            rest = rest.filter((x) => x !== newest);
          }
          yield* ordered;
        }
      }
    }
  }
}

/** The newest backup that ended before `before`, or undefined when there is none. */
export async function newestBackupBefore(
  s3: S3Client,
  bucket: string,
  target: Pick<BackupTarget, "database" | "dataClass">,
  before: Date,
): Promise<BackupManifest | undefined> {
  for await (const m of manifestsBefore(s3, bucket, target, before)) return m;
  return undefined;
}
