import { freePort } from "./services/services";
/**
 * A Docker site pair's backup storage: site A's bucket (on the suite's MinIO)
 * replicating into the peer's bucket on a second MinIO server this test
 * starts, configured with mc as a site pair is, and what drstack relies on
 * from it: a backup arrives in the peer with the same bytes, version id and
 * Object Lock retention; verify's replication check sees it (and sees it
 * missing); a locked version cannot be deleted on either side.
 *
 * What MinIO documents and this configuration follows:
 * - both buckets versioned ("Requirements to Set Up Bucket Replication",
 *   https://min.io/docs/minio/linux/administration/bucket-replication/bucket-replication-requirements.html;
 *   minio/minio docs/bucket/replication/README.md: "Ensure that versioning is
 *   enabled on the source and target buckets with `mc version` command. If
 *   object locking is required, the buckets should have been created with
 *   `mc mb --with-lock`");
 * - Object Lock on both when the source has it: MinIO refuses the replication
 *   configuration of a locked bucket into a target bucket without it
 *   (minio/minio#10200, "Validate object lock when setting replication
 *   config"; checked below), and Object Lock is only set when a bucket is
 *   created (mc mb --with-lock);
 * - a replica has the source's data, metadata, modification time and version
 *   id (minio/minio docs/bucket/replication/DESIGN.md, Overview), and MinIO
 *   replicates Object Lock retention with the object;
 * - `mc replicate add --remote-bucket <url with credentials> --replicate
 *   "delete,delete-marker,existing-objects"` creates the remote target and
 *   the rule in one step (mc replicate add, RELEASE.2022-12-24 and later,
 *   https://min.io/docs/minio/linux/reference/minio-mc/mc-replicate-add.html);
 *   the remote must run the same MinIO version (the same binary here).
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, HeadObjectCommandOutput } from "@aws-sdk/client-s3";
import { runBackup } from "../../lambdas/core/backup";
import { BucketLocation, isNotFound, s3Client } from "../../lambdas/core/s3";
import { runVerify } from "../../lambdas/core/verify";
import { Settings, verifyOptions } from "../../lambdas/settings";
import { createDatabase, services, siteA, superuserUrl } from "./helpers";

jest.setTimeout(240_000);

const run = Math.random().toString(36).slice(2, 8);
const workDir = mkdtempSync(join(tmpdir(), "drstack-replication-test-"));
const mcEnv = { ...process.env, MC_CONFIG_DIR: join(workDir, "mc") };
const PEER_USER = "peeradmin";
const PEER_SECRET = `peer-secret-${run}`;
const SOURCE_BUCKET = `site-a-backups-${run}`;
const PEER_BUCKET = `site-b-backups-${run}`;
const database = `replicated_${run}`;

let peerServer: ChildProcess | undefined;
let peerPort = 0;

function mc(...args: string[]): { status: number | null; out: string } {
  const res = spawnSync(services.mcBin, ["--quiet", "--no-color", ...args], { env: mcEnv, encoding: "utf8", timeout: 60_000 });
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

function mcOk(...args: string[]): string {
  const res = mc(...args);
  if (res.status !== 0) throw new Error(`mc ${args.join(" ")} failed: ${res.out}`);
  return res.out;
}


async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The minio server binary, found as the suite's services.ts finds it (MINIO_BIN, ~/go/bin, PATH). */
function minioBinary(): string {
  if (process.env.MINIO_BIN) return process.env.MINIO_BIN;
  for (const dir of [join(homedir(), "go", "bin"), ...(process.env.PATH ?? "").split(":")]) {
    if (dir && existsSync(join(dir, "minio"))) return join(dir, "minio");
  }
  throw new Error("minio not found in ~/go/bin or on PATH. Run scripts/install-services.sh, or set MINIO_BIN.");
}

function sourceLocation(): BucketLocation {
  return { ...siteA(), bucket: SOURCE_BUCKET };
}

function peerLocation(): BucketLocation {
  return {
    bucket: PEER_BUCKET,
    region: services.minio.region,
    endpoint: `http://127.0.0.1:${peerPort}`,
    credentials: { accessKeyId: PEER_USER, secretAccessKey: PEER_SECRET },
    label: { bucket: "--peer-bucket / PEER_BUCKET", endpoint: "--peer-s3-endpoint / PEER_S3_ENDPOINT", credentials: "--peer-access-key-id / PEER_S3_ACCESS_KEY_ID" },
  };
}

async function head(loc: BucketLocation, key: string, versionId?: string): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await s3Client(loc).send(new HeadObjectCommand({ Bucket: loc.bucket, Key: key, VersionId: versionId }));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function sha256(loc: BucketLocation, key: string): Promise<string> {
  const res = await s3Client(loc).send(new GetObjectCommand({ Bucket: loc.bucket, Key: key }));
  return createHash("sha256").update(await res.Body!.transformToByteArray()).digest("hex");
}

/** What the verify job of site A reads: its settings from the environment, PEER_* naming the peer's bucket. */
function verifyEnv(graceSeconds: number): NodeJS.ProcessEnv {
  const a = sourceLocation();
  const b = peerLocation();
  return {
    BACKUP_BUCKET: a.bucket,
    S3_ENDPOINT: a.endpoint,
    S3_ACCESS_KEY_ID: a.credentials!.accessKeyId,
    S3_SECRET_ACCESS_KEY: a.credentials!.secretAccessKey,
    AWS_REGION: a.region,
    BACKUP_TARGETS: `${database}:critical`,
    PEER_BUCKET: b.bucket,
    PEER_S3_ENDPOINT: b.endpoint,
    PEER_S3_ACCESS_KEY_ID: b.credentials!.accessKeyId,
    PEER_S3_SECRET_ACCESS_KEY: b.credentials!.secretAccessKey,
    REPLICATION_GRACE_SECONDS: String(graceSeconds),
    SITE: "primary",
  };
}

async function backup(slot: Date) {
  return runBackup({
    source: { url: superuserUrl(database), label: "DATABASE_URL" },
    target: { database, tier: "critical", dataClass: "db" },
    bucket: sourceLocation(),
    writer: { site: "primary", epoch: 1 },
    slot,
    pgBinDir: services.pgBinDir,
    objectLock: { mode: "GOVERNANCE", days: 1 },
  });
}

beforeAll(async () => {
  // The peer data centre's MinIO: its own directory, port and root credentials.
  peerPort = await freePort();
  const dataDir = join(workDir, "minio-peer");
  mkdirSync(dataDir);
  const log = openSync(join(workDir, "minio-peer.log"), "a");
  peerServer = spawn(minioBinary(), ["server", dataDir, "--address", `127.0.0.1:${peerPort}`, "--console-address", `127.0.0.1:${await freePort()}`, "--quiet"], {
    env: { ...process.env, MINIO_ROOT_USER: PEER_USER, MINIO_ROOT_PASSWORD: PEER_SECRET, MINIO_BROWSER: "off" },
    stdio: ["ignore", log, log],
  });
  await until("the peer MinIO to listen", async () => ((await listening(peerPort)) ? true : undefined), 60_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${readFileSync(join(workDir, "minio-peer.log"), "utf8").slice(-2000)}`);
  });

  mcOk("alias", "set", "sitea", services.minio.siteA.endpoint, services.minio.accessKey, services.minio.secretKey);
  mcOk("alias", "set", "peer", `http://127.0.0.1:${peerPort}`, PEER_USER, PEER_SECRET);
  await until("the peer MinIO to be ready", async () => (mc("ready", "peer").status === 0 ? true : undefined));

  // Object Lock only at creation; versioning is what replication needs on both sides (and --with-lock turns it on).
  mcOk("mb", "--with-lock", `sitea/${SOURCE_BUCKET}`);
  mcOk("mb", "--with-lock", `peer/${PEER_BUCKET}`);
  mcOk("version", "enable", `sitea/${SOURCE_BUCKET}`);
  mcOk("version", "enable", `peer/${PEER_BUCKET}`);
  mcOk(
    "replicate", "add", `sitea/${SOURCE_BUCKET}`,
    "--remote-bucket", `http://${PEER_USER}:${PEER_SECRET}@127.0.0.1:${peerPort}/${PEER_BUCKET}`,
    "--replicate", "delete,delete-marker,existing-objects",
    "--priority", "1",
  );
  await createDatabase(database, 300);
});

afterAll(async () => {
  if (peerServer?.pid !== undefined && peerServer.exitCode === null) {
    const exited = new Promise((resolve) => peerServer!.once("exit", resolve));
    peerServer.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    if (peerServer.exitCode === null) peerServer.kill("SIGKILL");
  }
  rmSync(workDir, { recursive: true, force: true });
});

test("MinIO refuses to replicate a locked bucket into a bucket without Object Lock", () => {
  const locked = `site-a-locked-${run}`;
  const unlocked = `site-b-unlocked-${run}`;
  mcOk("mb", "--with-lock", `sitea/${locked}`);
  mcOk("mb", "--with-versioning", `peer/${unlocked}`);
  const refused = mc("replicate", "add", `sitea/${locked}`, "--remote-bucket", `http://${PEER_USER}:${PEER_SECRET}@127.0.0.1:${peerPort}/${unlocked}`, "--priority", "1");
  expect(refused.status).not.toBe(0);
  expect(refused.out).toMatch(/replication destination bucket does not have object locking enabled/);
});

describe("a backup in site A's bucket", () => {
  let first: Awaited<ReturnType<typeof backup>>;

  beforeAll(async () => {
    first = await backup(new Date(Date.now() - 60_000));
  });

  test("appears in the peer's bucket with the same content, version id and Object Lock retention", async () => {
    const { dumpKey, manifestKey } = first.manifest;
    for (const key of [dumpKey, manifestKey]) {
      const replica = await until(`${key} in the peer's bucket`, () => head(peerLocation(), key));
      const original = (await head(sourceLocation(), key))!;
      expect(replica.VersionId).toBeDefined();
      expect(replica.VersionId).toBe(original.VersionId);
      expect(replica.ETag).toBe(original.ETag);
      expect(replica.ContentLength).toBe(original.ContentLength);
      expect(original.ObjectLockMode).toBe("GOVERNANCE");
      expect(replica.ObjectLockMode).toBe("GOVERNANCE");
      // The replica keeps the retention to the second (MinIO stores the replicated retain-until without the milliseconds the source has).
      expect(Math.floor(replica.ObjectLockRetainUntilDate!.getTime() / 1000)).toBe(Math.floor(original.ObjectLockRetainUntilDate!.getTime() / 1000));
      expect(replica.ObjectLockRetainUntilDate!.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
      expect(replica.ReplicationStatus).toBe("REPLICA");
      expect(await sha256(peerLocation(), key)).toBe(await sha256(sourceLocation(), key));
    }
    const original = await until("the source's replication status to be COMPLETED", async () => {
      const h = await head(sourceLocation(), dumpKey);
      return h?.ReplicationStatus === "COMPLETED" ? h : undefined;
    });
    expect(original.ContentLength).toBe(first.manifest.size);
    // The version the manifest recorded is the one in the peer, byte for byte.
    expect((await head(peerLocation(), dumpKey))!.VersionId).toBe(first.manifest.versionId);
    expect(await sha256(peerLocation(), dumpKey)).toBe(first.manifest.sha256);
  });

  test("verify's replication check (PEER_* settings) finds the replica", async () => {
    const report = await runVerify(verifyOptions(new Settings({}, verifyEnv(0))));
    expect(report.targets).toEqual([expect.objectContaining({ database, replica: "present", dumpKey: first.manifest.dumpKey, failures: [] })]);
    expect(report.ok).toBe(true);
  });

  test("a locked version cannot be deleted in either bucket", async () => {
    const key = first.manifest.dumpKey;
    for (const loc of [sourceLocation(), peerLocation()]) {
      const version = (await head(loc, key))!.VersionId!;
      const refused = await s3Client(loc).send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: key, VersionId: version })).then(() => undefined, (err: Error) => err);
      expect(refused).toBeDefined();
      expect(`${refused!.name}: ${refused!.message}`).toMatch(/^InvalidRequest: Object is WORM protected/);
      expect((await head(loc, key, version))?.VersionId).toBe(version);
    }
  });

  test("with replication broken, verify reports the newest backup missing from the peer", async () => {
    mcOk("replicate", "rm", "--all", "--force", `sitea/${SOURCE_BUCKET}`);
    const second = await backup(new Date());
    expect(second.manifest.dumpKey).not.toBe(first.manifest.dumpKey);
    // Give replication every chance to (wrongly) happen before asserting it did not.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await head(peerLocation(), second.manifest.dumpKey)).toBeUndefined();

    const report = await runVerify(verifyOptions(new Settings({}, verifyEnv(0))));
    expect(report.ok).toBe(false);
    expect(report.targets[0]).toMatchObject({ database, replica: "missing", dumpKey: second.manifest.dumpKey });
    expect(report.targets[0].failures).toEqual([expect.stringContaining(`replica missing: ${second.manifest.dumpKey} is not in peer bucket ${PEER_BUCKET}`)]);

    // Within its grace period a missing replica is only lag, not a failure.
    const patient = await runVerify(verifyOptions(new Settings({}, verifyEnv(3600))));
    expect(patient.targets[0]).toMatchObject({ replica: "missing", failures: [] });
  });
});
