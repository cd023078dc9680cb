/** Fixtures over the services globalSetup started: databases, bucket locations, an SNS topic read through SQS. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { Client } from "pg";
import { ListObjectVersionsCommand, DeleteObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand } from "@aws-sdk/client-s3";
import { SNSClient, CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { SQSClient, CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { readCoordinates, ServiceCoordinates } from "./services/services";
import { BucketLocation, isNotFound, s3Client } from "../../lambdas/core/s3";
import { MonitoringTarget } from "../../lambdas/core/verify";

// CloudWatch, SNS and SQS in moto accept any credentials; S3 gets MinIO's explicitly.
process.env.AWS_ACCESS_KEY_ID ??= "testing";
process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
process.env.AWS_REGION ??= "us-east-1";
// drstack runs on Node 20 on purpose (see package.json); the SDK's Node 22 notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const services: ServiceCoordinates = readCoordinates();

export function superuserUrl(database: string, password = services.postgres.password): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${services.postgres.port}/${database}`;
}

export async function withClient<T>(database: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: superuserUrl(database) });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh database; `rows` rows of poorly compressible text in `public.events`, plus a small second table. */
export async function createDatabase(name: string, rows = 0): Promise<void> {
  await withClient("postgres", (c) => c.query(`DROP DATABASE IF EXISTS "${name}"`).then(() => c.query(`CREATE DATABASE "${name}"`)));
  if (rows > 0) {
    await withClient(name, async (c) => {
      await c.query(`CREATE SCHEMA billing`);
      await c.query(`CREATE TABLE public.events (id bigint PRIMARY KEY, payload text NOT NULL)`);
      await c.query(`INSERT INTO public.events SELECT g, md5(random()::text) || md5(random()::text) FROM generate_series(1, ${rows}) g`);
      await c.query(`CREATE TABLE billing.invoices (id serial PRIMARY KEY, amount numeric NOT NULL)`);
      await c.query(`INSERT INTO billing.invoices (amount) SELECT g * 1.5 FROM generate_series(1, 37) g`);
      await c.query(`CREATE TABLE public.empty_table (x int)`);
    });
  }
}

export function siteA(): BucketLocation {
  return location(services.minio.siteA);
}

export function siteB(): BucketLocation {
  return location(services.minio.siteB);
}

/** Site A's Object Lock bucket (no default retention, no replication). */
export function lockedBucket(): BucketLocation {
  return location({ endpoint: services.minio.siteA.endpoint, bucket: services.minio.lockedBucket });
}

function location(site: { endpoint: string; bucket: string }): BucketLocation {
  return {
    bucket: site.bucket,
    region: services.minio.region,
    endpoint: site.endpoint,
    credentials: { accessKeyId: services.minio.accessKey, secretAccessKey: services.minio.secretKey },
    label: { bucket: "--bucket / BACKUP_BUCKET", endpoint: "--s3-endpoint / S3_ENDPOINT", credentials: "--access-key-id / S3_ACCESS_KEY_ID" },
  };
}

export async function exists(loc: BucketLocation, key: string): Promise<boolean> {
  try {
    await s3Client(loc).send(new HeadObjectCommand({ Bucket: loc.bucket, Key: key }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Waits for site A -> site B replication of the given keys. */
export async function waitForReplica(keys: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const key of keys) {
    while (!(await exists(siteB(), key))) {
      if (Date.now() > deadline) throw new Error(`${key} never replicated to site B`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Permanently removes every version of a key (a replica that never arrived, or was lost). */
export async function deleteAllVersions(loc: BucketLocation, key: string): Promise<void> {
  const s3 = s3Client(loc);
  const res = await s3.send(new ListObjectVersionsCommand({ Bucket: loc.bucket, Prefix: key }));
  for (const v of [...(res.Versions ?? []), ...(res.DeleteMarkers ?? [])]) {
    if (v.Key === key) await s3.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: key, VersionId: v.VersionId }));
  }
}

export async function listKeys(loc: BucketLocation, prefix: string): Promise<string[]> {
  const res = await s3Client(loc).send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

/** Open multipart uploads of one key with the parts each has received. MinIO lists uploads only for an exact key. */
export async function openUploads(loc: BucketLocation, key: string): Promise<{ uploadId: string; parts: number }[]> {
  const s3 = s3Client(loc);
  const res = await s3.send(new ListMultipartUploadsCommand({ Bucket: loc.bucket, Prefix: key }));
  const uploads = (res.Uploads ?? []).filter((u) => u.Key === key);
  return Promise.all(
    uploads.map(async (u) => {
      const parts = await s3.send(new ListPartsCommand({ Bucket: loc.bucket, Key: key, UploadId: u.UploadId }));
      return { uploadId: u.UploadId!, parts: (parts.Parts ?? []).length };
    }),
  );
}

export function monitoringClients(region = "us-east-1") {
  const cfg = { region, endpoint: services.moto.endpoint };
  return { sns: new SNSClient(cfg), sqs: new SQSClient(cfg) };
}

/** An SNS topic in moto subscribed to an SQS queue, so tests can read what was published. */
export async function alarmTopic(name: string, region = "us-east-1"): Promise<{ monitoring: MonitoringTarget; messages: () => Promise<{ Subject: string; Message: string }[]> }> {
  const { sns, sqs } = monitoringClients(region);
  const topic = await sns.send(new CreateTopicCommand({ Name: name }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-inbox` }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl, AttributeNames: ["QueueArn"] }));
  await sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn, Protocol: "sqs", Endpoint: attrs.Attributes!.QueueArn }));
  return {
    monitoring: { region, endpoint: services.moto.endpoint, namespace: "drstack/backups", topicArn: topic.TopicArn, site: name },
    messages: async () => {
      const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      return (res.Messages ?? []).map((m) => JSON.parse(m.Body!) as { Subject: string; Message: string });
    },
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/drstack-backup as a real subprocess. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const bin = join(__dirname, "..", "..", "bin", "drstack-backup");
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Flags that point the CLI at site A of the test services. */
export function siteAFlags(): string[] {
  return [
    "--bucket", services.minio.siteA.bucket,
    "--s3-endpoint", services.minio.siteA.endpoint,
    "--access-key-id", services.minio.accessKey,
    "--secret-access-key", services.minio.secretKey,
    "--region", services.minio.region,
  ];
}
