/** The Lambda handlers as Lambda runs them: configuration from environment variables only, the password from Secrets Manager (moto). */
import { SecretsManagerClient, CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { handler as backupHandler } from "../../lambdas/handlers/backup";
import { handler as verifyHandler } from "../../lambdas/handlers/verify";
import { handler as restoreHandler } from "../../lambdas/handlers/restore";
import { alarmTopic, createDatabase, services, waitForReplica } from "./helpers";

jest.setTimeout(120_000);

describe("Lambda handlers", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("back up with the password from Secrets Manager, verify both sites, and restore, all from env", async () => {
    await createDatabase("lambdaapp", 500);
    await createDatabase("lambdaapp_restore");
    const secrets = new SecretsManagerClient({ region: "us-east-1", endpoint: services.moto.endpoint });
    const secret = await secrets.send(
      new CreateSecretCommand({ Name: `drstack/lambdaapp-${Date.now()}`, SecretString: JSON.stringify({ username: "postgres", password: services.postgres.password }) }),
    );
    const alarm = await alarmTopic("lambda");
    const s3Env = {
      BACKUP_BUCKET: services.minio.siteA.bucket,
      S3_ENDPOINT: services.minio.siteA.endpoint,
      S3_ACCESS_KEY_ID: services.minio.accessKey,
      S3_SECRET_ACCESS_KEY: services.minio.secretKey,
      AWS_REGION: "us-east-1",
      PG_BIN_DIR: services.pgBinDir,
    };
    process.env = {
      ...saved,
      ...s3Env,
      // No password here: it comes from the secret, the way the infra wires RDS credentials.
      DATABASE_URL: `postgres://127.0.0.1:${services.postgres.port}/lambdaapp`,
      DATABASE_SECRET_ARN: secret.ARN,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: services.moto.endpoint,
      BACKUP_TIER: "standard",
      BACKUP_DATA_CLASS: "financial",
    };
    const slot = "2026-11-23T01:00:00Z";
    const first = await backupHandler({ slot });
    if (first.outcome === "refused" || first.outcome === "locked") throw new Error(first.reason);
    expect(first).toMatchObject({ outcome: "created", published: "published", dumpKey: expect.stringMatching(/^financial\/lambdaapp\/2026\/11\/23\/20261123T010000Z-primary-[0-9a-f]{12}\.dump$/) });
    // Scheduler retries deliver the same slot: same key, nothing new written.
    expect(await backupHandler({ slot })).toMatchObject({ outcome: "already-done", dumpKey: first.dumpKey });
    await waitForReplica([first.dumpKey]);

    process.env = {
      ...saved,
      ...s3Env,
      BACKUP_TARGETS: "lambdaapp:standard:financial,lambdamissing:low",
      PEER_BUCKET: services.minio.siteB.bucket,
      PEER_S3_ENDPOINT: services.minio.siteB.endpoint,
      METRIC_NAMESPACE: "drstack/backups",
      ALARM_TOPIC_ARN: alarm.monitoring.topicArn,
      SITE: "primary",
      AWS_ENDPOINT_URL_CLOUDWATCH: services.moto.endpoint,
      AWS_ENDPOINT_URL_SNS: services.moto.endpoint,
    };
    const report = await verifyHandler();
    // Age counts from when the backup ended, not from its slot: this one is fresh.
    const app = report.targets.find((t) => t.database === "lambdaapp")!;
    expect(app.failures).toEqual([]);
    expect(app.replica).toBe("present");
    const missing = report.targets.find((t) => t.database === "lambdamissing")!;
    expect(missing.failures).toEqual([expect.stringMatching(/no verified backup has been published/)]);
    expect(report.notified).toBe(true);
    expect((await alarm.messages())[0].Subject).toMatch(/^drstack backup check failed on primary: .*lambdamissing/);

    process.env = {
      ...saved,
      ...s3Env,
      BACKUP_NAME: "lambdaapp",
      BACKUP_DATA_CLASS: "financial",
      RESTORE_DATABASE_URL: `postgres://postgres:${encodeURIComponent(services.postgres.password)}@127.0.0.1:${services.postgres.port}/lambdaapp_restore`,
    };
    const restored = await restoreHandler();
    expect(restored.ok).toBe(true);
    expect(restored.tables.find((t) => t.table === "events")).toMatchObject({ rows: 500, restoredRows: 500 });
  });
});
