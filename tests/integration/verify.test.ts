/** The monitor against real MinIO (two sites, replicating) and moto (CloudWatch, SNS read back through SQS). */
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { CloudWatchClient, GetMetricStatisticsCommand } from "@aws-sdk/client-cloudwatch";
import { runBackup } from "../../lambdas/core/backup";
import { BackupTarget, TIER_RPO_SECONDS } from "../../lambdas/core/layout";
import { BackupManifest } from "../../lambdas/core/manifest";
import { runRestore } from "../../lambdas/core/restore";
import { runVerify } from "../../lambdas/core/verify";
import { s3Client } from "../../lambdas/core/s3";
import { alarmTopic, createDatabase, deleteAllVersions, runCli, services, siteA, siteAFlags, siteB, superuserUrl, waitForReplica, withClient } from "./helpers";

jest.setTimeout(120_000);

async function backedUp(database: string, tier: BackupTarget["tier"] = "critical"): Promise<{ target: BackupTarget; manifest: BackupManifest }> {
  await createDatabase(database, 2_000);
  const target: BackupTarget = { database, tier, dataClass: tier === "critical" ? "critical" : "db" };
  const { manifest } = await runBackup({ source: { url: superuserUrl(database), label: "DATABASE_URL" }, target, bucket: siteA(), pgBinDir: services.pgBinDir });
  await waitForReplica([manifest.dumpKey, manifest.manifestKey]);
  return { target, manifest };
}

async function metric(name: string, database: string, site: string): Promise<number[]> {
  const cw = new CloudWatchClient({ region: "us-east-1", endpoint: services.moto.endpoint });
  const res = await cw.send(
    new GetMetricStatisticsCommand({
      Namespace: "drstack/backups",
      MetricName: name,
      Dimensions: [{ Name: "Database", Value: database }, { Name: "Site", Value: site }],
      StartTime: new Date(Date.now() - 3600_000),
      EndTime: new Date(Date.now() + 3600_000),
      Period: 60,
      Statistics: ["Maximum"],
    }),
  );
  return (res.Datapoints ?? []).map((d) => d.Maximum!);
}

describe("verify", () => {
  it("passes for a fresh, intact, replicated backup and publishes its metrics", async () => {
    const { target, manifest } = await backedUp("healthy");
    const alarm = await alarmTopic("healthy");
    const report = await runVerify({ targets: [target], bucket: siteA(), peer: siteB(), monitoring: alarm.monitoring });
    expect(report.targets[0].failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.targets[0].replica).toBe("present");
    expect(report.notified).toBe(false);
    expect(await alarm.messages()).toEqual([]);
    expect(await metric("BackupSizeBytes", "healthy", "healthy")).toEqual([manifest.size]);
    expect(await metric("BackupCheckFailed", "healthy", "healthy")).toEqual([0]);
    expect(await metric("ReplicationLagSeconds", "healthy", "healthy")).toEqual([0]);
    expect((await metric("BackupAgeSeconds", "healthy", "healthy"))[0]).toBeLessThan(60);
  });

  it("detects a tampered dump, alarms, and the restore refuses it", async () => {
    const { target, manifest } = await backedUp("tampered");
    // Overwrite the dump with same-sized different bytes: only hashing the content can tell.
    const forged = Buffer.alloc(manifest.size, 0x41);
    await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: manifest.dumpKey, Body: forged }));

    const alarm = await alarmTopic("tampered");
    const report = await runVerify({ targets: [target], bucket: siteA(), monitoring: alarm.monitoring });
    expect(report.ok).toBe(false);
    expect(report.targets[0].failures.join("\n")).toMatch(/checksum mismatch: critical\/tampered\/.*\.dump hashes to sha256 [0-9a-f]{64}, the manifest recorded/);
    const [msg] = await alarm.messages();
    expect(msg.Subject).toBe("drstack backup check failed on tampered: tampered");
    expect(msg.Message).toMatch(/checksum mismatch/);
    expect(await metric("BackupCheckFailed", "tampered", "tampered")).toEqual([1]);

    await createDatabase("tampered_restore");
    await expect(
      runRestore({ bucket: siteA(), source: target, destination: { url: superuserUrl("tampered_restore"), label: "RESTORE_DATABASE_URL" }, pgBinDir: services.pgBinDir }),
    ).rejects.toThrow(/checksum mismatch.*nothing was restored/);
    const tables = await withClient("tampered_restore", (c) => c.query("SELECT 1 FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"));
    expect(tables.rowCount).toBe(0);
  });

  it("a shallow verify catches a dump replaced by a plain upload, which stores no SHA-256 to compare", async () => {
    const { target, manifest } = await backedUp("replacedplain");
    expect((await runVerify({ targets: [target], bucket: siteA(), deep: false })).ok).toBe(true);
    // Same size, no ChecksumAlgorithm: only the ETag and the version id still tell the objects apart.
    await s3Client(siteA()).send(new PutObjectCommand({ Bucket: siteA().bucket, Key: manifest.dumpKey, Body: Buffer.alloc(manifest.size, 0x42) }));

    const report = await runVerify({ targets: [target], bucket: siteA(), deep: false });
    expect(report.ok).toBe(false);
    const failures = report.targets[0].failures.join("\n");
    expect(failures).toMatch(/stored dump has ETag "[0-9a-f]{32}", the manifest recorded "[0-9a-f]{32}-\d+"/);
    expect(failures).toMatch(/stored dump is version \S+, the manifest recorded version \S+/);
  });

  it("alarms when the newest good backup is older than the tier's RPO", async () => {
    const { target, manifest } = await backedUp("stale", "high");
    const alarm = await alarmTopic("stale");
    const later = new Date(Date.parse(manifest.endedAt) + (TIER_RPO_SECONDS.high + 60) * 1000);
    const report = await runVerify({ targets: [target], bucket: siteA(), peer: siteB(), monitoring: alarm.monitoring, now: later });
    expect(report.ok).toBe(false);
    expect(report.targets[0].failures).toEqual([expect.stringMatching(/^newest good backup is 31m old, older than the high tier's RPO of 30m$/)]);
    const [msg] = await alarm.messages();
    expect(msg.Message).toMatch(/older than the high tier's RPO/);

    // Just inside the RPO, the same backup is fine.
    const inside = new Date(Date.parse(manifest.endedAt) + (TIER_RPO_SECONDS.high - 60) * 1000);
    expect((await runVerify({ targets: [target], bucket: siteA(), peer: siteB(), now: inside })).ok).toBe(true);
  });

  it("alarms when the peer bucket lacks the newest backup", async () => {
    const { target, manifest } = await backedUp("unreplicated");
    await deleteAllVersions(siteB(), manifest.dumpKey);
    const alarm = await alarmTopic("unreplicated");
    const later = new Date(Date.parse(manifest.endedAt) + 120_000);
    const report = await runVerify({ targets: [target], bucket: siteA(), peer: siteB(), monitoring: alarm.monitoring, now: later, replicationGraceSeconds: 60 });
    expect(report.ok).toBe(false);
    expect(report.targets[0].replica).toBe("missing");
    expect(report.targets[0].failures).toEqual([expect.stringMatching(/^replica missing: critical\/unreplicated\/.*\.dump is not in peer bucket drstack-backups-siteb 2m after the backup \(grace 60s\)$/)]);
    expect(report.targets[0].replicationLagSeconds).toBe(120);
    expect((await alarm.messages())[0].Message).toMatch(/replica missing/);
    expect(await metric("ReplicationLagSeconds", "unreplicated", "unreplicated")).toEqual([120]);

    // Within the grace period a replica still in flight is not yet a failure.
    const soon = new Date(Date.parse(manifest.endedAt) + 30_000);
    expect((await runVerify({ targets: [target], bucket: siteA(), peer: siteB(), now: soon, replicationGraceSeconds: 60 })).ok).toBe(true);
  });

  it("alarms for a protected database that has never been backed up, through the CLI", async () => {
    const alarm = await alarmTopic("never");
    const res = await runCli([
      "verify", ...siteAFlags(),
      "--targets", "neverbackedup:low",
      "--metric-namespace", "drstack/backups",
      "--alarm-topic-arn", alarm.monitoring.topicArn!,
      "--monitoring-endpoint", services.moto.endpoint,
      "--site", "never",
    ], { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /neverbackedup: no verified backup has been published \(none of s3:\/\/drstack-backups-sitea\/db\/neverbackedup\/latest-never.json, s3:\/\/drstack-backups-sitea\/db\/neverbackedup\/latest-primary.json, .*latest-secondary.json, .*\/latest.json exists\)/,
    );
    expect(JSON.parse(res.stdout).notified).toBe(true);
    expect((await alarm.messages())[0].Subject).toBe("drstack backup check failed on never: neverbackedup");
  });
});
