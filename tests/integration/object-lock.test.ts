/**
 * Object Lock on upload, against real MinIO: a bucket created with Object Lock
 * and no default retention, so every lock seen here is one the backup job set.
 */
import { DeleteObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { runBackup } from "../../lambdas/core/backup";
import { BackupTarget } from "../../lambdas/core/layout";
import { runVerify } from "../../lambdas/core/verify";
import { s3Client } from "../../lambdas/core/s3";
import { backupOptions, Settings, verifyOptions } from "../../lambdas/settings";
import { createDatabase, lockedBucket, services, superuserUrl } from "./helpers";

jest.setTimeout(120_000);

const DAY_MS = 86_400_000;
const ledger: BackupTarget = { database: "lockedledger", tier: "standard", dataClass: "financial" };

/** The backup function's environment as infra/backups.ts sets it for a financial/ database, pointed at MinIO. */
function backupEnvironment(database: string, lock: Record<string, string>): NodeJS.ProcessEnv {
  return {
    BACKUP_BUCKET: services.minio.lockedBucket,
    S3_ENDPOINT: services.minio.siteA.endpoint,
    S3_ACCESS_KEY_ID: services.minio.accessKey,
    S3_SECRET_ACCESS_KEY: services.minio.secretKey,
    AWS_REGION: services.minio.region,
    PG_BIN_DIR: services.pgBinDir,
    DATABASE_URL: superuserUrl(database),
    BACKUP_TIER: "standard",
    BACKUP_DATA_CLASS: "financial",
    ...lock,
  };
}

async function head(key: string) {
  return s3Client(lockedBucket()).send(new HeadObjectCommand({ Bucket: services.minio.lockedBucket, Key: key }));
}

describe("Object Lock set by the backup job", () => {
  it("locks the dump and its manifest in COMPLIANCE mode for the class's retention, and verify accepts it", async () => {
    await createDatabase(ledger.database, 300);
    const started = Date.now();
    const options = await backupOptions(new Settings({}, backupEnvironment(ledger.database, { BACKUP_OBJECT_LOCK_MODE: "COMPLIANCE", BACKUP_OBJECT_LOCK_DAYS: "2" })));
    const { manifest } = await runBackup(options);

    for (const key of [manifest.dumpKey, manifest.manifestKey]) {
      const res = await head(key);
      expect({ key, mode: res.ObjectLockMode }).toEqual({ key, mode: "COMPLIANCE" });
      const until = res.ObjectLockRetainUntilDate!.getTime();
      expect(until).toBeGreaterThanOrEqual(started + 2 * DAY_MS - 5_000);
      expect(until).toBeLessThanOrEqual(Date.now() + 2 * DAY_MS + 5_000);
    }
    // COMPLIANCE: not even this server's root credentials delete the locked version.
    const version = (await head(manifest.dumpKey)).VersionId;
    await expect(s3Client(lockedBucket()).send(new DeleteObjectCommand({ Bucket: services.minio.lockedBucket, Key: manifest.dumpKey, VersionId: version }))).rejects.toThrow();

    const report = await runVerify(
      verifyOptions(
        new Settings({}, {
          BACKUP_BUCKET: services.minio.lockedBucket,
          S3_ENDPOINT: services.minio.siteA.endpoint,
          S3_ACCESS_KEY_ID: services.minio.accessKey,
          S3_SECRET_ACCESS_KEY: services.minio.secretKey,
          BACKUP_TARGETS: "lockedledger:standard:financial",
          COMPLIANCE_CLASSES: "financial:2",
        }),
      ),
    );
    expect(report.targets[0].failures).toEqual([]);
  });

  it("verify reports a dump of a COMPLIANCE class that is GOVERNANCE-locked, unlocked, or locked too briefly", async () => {
    const cases: Array<{ database: string; lock: Record<string, string>; days: number; failure: RegExp }> = [
      { database: "govledger", lock: { BACKUP_OBJECT_LOCK_MODE: "GOVERNANCE", BACKUP_OBJECT_LOCK_DAYS: "2" }, days: 2, failure: /of the COMPLIANCE class financial is GOVERNANCE-locked/ },
      { database: "openledger", lock: {}, days: 2, failure: /of the COMPLIANCE class financial is not locked/ },
      { database: "shortledger", lock: { BACKUP_OBJECT_LOCK_MODE: "COMPLIANCE", BACKUP_OBJECT_LOCK_DAYS: "1" }, days: 30, failure: /is locked only until .*, short of the class's 30 days/ },
    ];
    for (const { database, lock, days, failure } of cases) {
      await createDatabase(database, 50);
      await runBackup(await backupOptions(new Settings({}, backupEnvironment(database, lock))));
      const report = await runVerify({
        targets: [{ database, tier: "standard", dataClass: "financial" }],
        bucket: lockedBucket(),
        complianceClasses: { financial: days },
      });
      expect({ database, ok: report.ok }).toEqual({ database, ok: false });
      expect(report.targets[0].failures.join("\n")).toMatch(failure);
    }
  });
});
