/** Slots ahead of the clock, against real PostgreSQL and MinIO: refused up front, and a future pointer left by an older version does not block later backups. */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { runBackup } from "../../lambdas/core/backup";
import { latestKey } from "../../lambdas/core/layout";
import { LatestPointer, MANIFEST_FORMAT, getJson } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { runVerify } from "../../lambdas/core/verify";
import { createDatabase, listKeys, runCli, services, siteA, siteAFlags, superuserUrl } from "./helpers";

jest.setTimeout(120_000);

describe("backup slots and the clock", () => {
  it("refuses a --slot more than the allowed skew ahead of the clock, naming the flag, and writes nothing", async () => {
    await createDatabase("futureslot", 50);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const res = await runCli(["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", services.pgBinDir, "--slot", tomorrow], { DATABASE_URL: superuserUrl("futureslot") });
    expect(res.stderr).toMatch(/--slot \/ BACKUP_SLOT \(or the event's slot\) is .* more than 5 minutes ahead of this host's clock/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.code).toBe(2);
    expect(await listKeys(siteA(), "db/futureslot/")).toEqual([]);

    // Within the skew (a scheduler whose clock runs a little ahead) the slot is taken as given.
    const soon = new Date(Math.floor((Date.now() + 60_000) / 1000) * 1000);
    const ok = await runBackup({ source: { url: superuserUrl("futureslot"), label: "DATABASE_URL" }, target: { tier: "standard", dataClass: "db" }, bucket: siteA(), slot: soon, pgBinDir: services.pgBinDir });
    expect(ok.published).toBe("published");
  });

  it("a pointer dated in the future is reported by verify and replaced by the next real backup, not left to win forever", async () => {
    await createDatabase("futurepointer", 50);
    const target = { database: "futurepointer", tier: "standard" as const, dataClass: "db" as const };
    const s3 = s3Client(siteA());
    const key = latestKey(target, "primary");
    const first = await runBackup({ source: { url: superuserUrl("futurepointer"), label: "DATABASE_URL" }, target, bucket: siteA(), pgBinDir: services.pgBinDir });
    // What a run with `--slot 2031-01-01` published before slots were checked: a pointer no real slot can pass.
    const bad: LatestPointer = { format: MANIFEST_FORMAT, database: "futurepointer", site: "primary", epoch: 0, slot: "2031-01-01T00:00:00.000Z", endedAt: new Date().toISOString(), manifestKey: first.manifest.manifestKey, dumpKey: first.manifest.dumpKey, sha256: first.manifest.sha256, size: first.manifest.size };
    await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: key, Body: JSON.stringify(bad), ContentType: "application/json" }));

    const report = await runVerify({ targets: [target], bucket: siteA(), deep: false });
    expect(report.ok).toBe(false);
    expect(report.targets[0].failures.join("\n")).toMatch(/latest-primary\.json names slot 2031-01-01T00:00:00\.000Z, ahead of the clock/);

    const logs: string[] = [];
    const next = await runBackup({ source: { url: superuserUrl("futurepointer"), label: "DATABASE_URL" }, target, bucket: siteA(), pgBinDir: services.pgBinDir, log: (m) => logs.push(m) });
    expect(next.outcome).toBe("created");
    expect(next.published).toBe("replaced-future");
    expect(logs.join("\n")).toMatch(/WARNING: .*latest-primary\.json named slot 2031-01-01T00:00:00\.000Z .*ahead of the clock .*replacing it/);
    expect((await getJson<LatestPointer>(s3, siteA().bucket, key))?.value.manifestKey).toBe(next.manifest.manifestKey);
    expect((await runVerify({ targets: [target], bucket: siteA(), deep: false })).ok).toBe(true);
  });
});
