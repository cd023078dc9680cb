import { freePort } from "./services/services";
/**
 * lambdas/site/storage-setup.sh against two real MinIO servers of its own
 * (site A replicates into site B), with the tools the minio/mc image has:
 * the script runs with a PATH of mc and the coreutils it names, nothing else.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketReplicationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { services } from "./helpers";

jest.setTimeout(180_000);

const SCRIPT = join(__dirname, "..", "..", "lambdas", "site", "storage-setup.sh");
const ROOT_USER = "siteroot";
const ROOT_PASSWORD = "site-root-" + Math.random().toString(36).slice(2, 10);
// What the script may use besides bash builtins; the minio/mc image (ubi-micro) has these and no grep/sed/jq.
const TOOLS = ["mktemp", "rm", "mkdir", "cp", "timeout", "sort", "sha256sum"];

interface Site {
  endpoint: string;
  port: number;
  pid: number;
}

let workDir: string;
let binDir: string;
const sites: Site[] = [];
let a: Site;
let b: Site;

function which(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} not found on PATH`);
}

function minioBin(): string {
  if (process.env.MINIO_BIN) return process.env.MINIO_BIN;
  const goBin = join(homedir(), "go", "bin", "minio");
  return existsSync(goBin) ? goBin : which("minio");
}


async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    sock.once("connect", () => { sock.destroy(); resolve(true); });
    sock.once("error", () => resolve(false));
  });
}

async function startMinio(name: string, certsDir?: string): Promise<Site> {
  const port = await freePort();
  const consolePort = await freePort();
  const dir = join(workDir, name);
  mkdirSync(dir);
  const log = openSync(join(workDir, `${name}.log`), "a");
  const tls = certsDir ? ["--certs-dir", certsDir] : [];
  const child = spawn(minioBin(), ["server", dir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet", ...tls], {
    env: { ...process.env, MINIO_ROOT_USER: ROOT_USER, MINIO_ROOT_PASSWORD: ROOT_PASSWORD, MINIO_BROWSER: "off" },
    stdio: ["ignore", log, log],
    detached: true,
  });
  child.unref();
  const site = { endpoint: `${certsDir ? "https" : "http"}://127.0.0.1:${port}`, port, pid: child.pid! };
  sites.push(site);
  const deadline = Date.now() + 60_000;
  while (!(await listening(port))) {
    if (Date.now() > deadline) throw new Error(`MinIO ${name} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return site;
}

function s3(site: Site, accessKeyId = ROOT_USER, secretAccessKey = ROOT_PASSWORD): S3Client {
  return new S3Client({ endpoint: site.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(command: string, env: Record<string, string | undefined>): Promise<Run> {
  const clean: Record<string, string> = { PATH: binDir, HOME: workDir, LANG: "C.UTF-8" };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return new Promise((resolve) => {
    execFile("/bin/bash", [SCRIPT, command], { env: clean, timeout: 150_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const SECRETS = { backup: "backup-secret-1", reader: "reader-secret-1", replicationA: "repl-a-secret-1", replicationB: "repl-b-secret-1" };

function setupEnv(site: Site, backupBucket: string, extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    DRSTACK_STORAGE_ENDPOINT: site.endpoint,
    DRSTACK_STORAGE_ROOT_USER: ROOT_USER,
    DRSTACK_STORAGE_ROOT_PASSWORD: ROOT_PASSWORD,
    DRSTACK_BACKUP_BUCKET: backupBucket,
    DRSTACK_FENCING_BUCKET: `${backupBucket}-fencing`,
    DRSTACK_OBJECT_LOCK_MODE: "GOVERNANCE",
    DRSTACK_OBJECT_LOCK_DAYS: "3",
    DRSTACK_RETENTION: "db/=35 critical/=90 archive/=400 financial/=2557",
    DRSTACK_NONCURRENT_VERSION_DAYS: "7",
    DRSTACK_BACKUP_USER_SECRET: SECRETS.backup,
    DRSTACK_PEER_READER_SECRET: SECRETS.reader,
    DRSTACK_REPLICATION_SECRET: site === a ? SECRETS.replicationA : SECRETS.replicationB,
    ...extra,
  };
}

const peerB = (secret = SECRETS.replicationB) => ({
  DRSTACK_PEER_STORAGE_ENDPOINT: b.endpoint,
  DRSTACK_PEER_BACKUP_BUCKET: "drstack-dc2-backups",
  DRSTACK_PEER_REPLICATION_SECRET: secret,
});
const envA = (extra: Record<string, string | undefined> = {}) => setupEnv(a, "drstack-dc1-backups", { ...peerB(), ...extra });
const envB = (extra: Record<string, string | undefined> = {}) => setupEnv(b, "drstack-dc2-backups", extra);

function changes(run: Run): number {
  const m = /setup done: (\d+) change\(s\)|claim done: (\d+) change\(s\)/.exec(run.stdout);
  if (!m) throw new Error(`no summary line (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  return Number(m[1] ?? m[2]);
}

function expectOk(run: Run): void {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
}

async function bucketNames(site: Site): Promise<string[]> {
  const res = await s3(site).send(new ListBucketsCommand({}));
  return (res.Buckets ?? []).map((x) => x.Name!).sort();
}

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "succeeded";
  } catch (err) {
    return (err as { name?: string }).name ?? String(err);
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "drstack-storage-setup-"));
  binDir = join(workDir, "bin");
  mkdirSync(binDir);
  symlinkSync(services.mcBin, join(binDir, "mc"));
  for (const tool of TOOLS) symlinkSync(which(tool), join(binDir, tool));
  [a, b] = await Promise.all([startMinio("site-a"), startMinio("site-b")]);
});

/** A private CA and a MinIO certs dir with a certificate for 127.0.0.1 signed by it. */
function privateCa(dir: string): { caFile: string; certsDir: string } {
  mkdirSync(dir);
  const certsDir = join(dir, "certs");
  mkdirSync(certsDir);
  const caFile = join(dir, "ca.pem");
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "ca.key"), "-out", caFile, "-days", "2", "-subj", "/CN=drstack storage test CA");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", join(certsDir, "private.key"), "-out", join(dir, "server.csr"), "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "server.ext"), "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n");
  openssl("x509", "-req", "-in", join(dir, "server.csr"), "-CA", caFile, "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-out", join(certsDir, "public.crt"), "-days", "2", "-extfile", join(dir, "server.ext"));
  return { caFile, certsDir };
}

afterAll(async () => {
  for (const site of sites) {
    try { process.kill(-site.pid, "SIGTERM"); } catch { /* already gone */ }
  }
  await new Promise((r) => setTimeout(r, 500));
  rmSync(workDir, { recursive: true, force: true });
});

describe("storage-setup.sh setup", () => {
  it("configures site B, then site A replicating into B; a second run of each changes nothing", async () => {
    const first = [await runScript("setup", envB()), await runScript("setup", envA())];
    for (const run of first) {
      expectOk(run);
      expect(changes(run)).toBeGreaterThan(0);
    }
    expect(first[1].stdout).toContain("changed: added replication rule drstack-replication from drstack-dc1-backups into drstack-dc2-backups");
    for (const run of [await runScript("setup", envB()), await runScript("setup", envA())]) {
      expectOk(run);
      expect(run.stdout).not.toMatch(/^storage-setup: changed:/m);
      expect(changes(run)).toBe(0);
    }
  });

  it("leaves the backup bucket with Object Lock, versioning, default retention and one lifecycle rule per prefix", async () => {
    const client = s3(a);
    const Bucket = "drstack-dc1-backups";
    const lock = await client.send(new GetObjectLockConfigurationCommand({ Bucket }));
    expect(lock.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 3 } } });
    expect((await client.send(new GetBucketVersioningCommand({ Bucket }))).Status).toBe("Enabled");
    const lifecycle = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
    const rules = (lifecycle.Rules ?? []).map((r) => ({
      id: r.ID,
      prefix: r.Filter?.Prefix,
      status: r.Status,
      days: r.Expiration?.Days,
      noncurrentDays: r.NoncurrentVersionExpiration?.NoncurrentDays,
    }));
    expect(rules.sort((x, y) => x.id!.localeCompare(y.id!))).toEqual([
      { id: "drstack-retention:archive/", prefix: "archive/", status: "Enabled", days: 400, noncurrentDays: 7 },
      { id: "drstack-retention:critical/", prefix: "critical/", status: "Enabled", days: 90, noncurrentDays: 7 },
      { id: "drstack-retention:db/", prefix: "db/", status: "Enabled", days: 35, noncurrentDays: 7 },
      { id: "drstack-retention:financial/", prefix: "financial/", status: "Enabled", days: 2557, noncurrentDays: 7 },
    ]);
    const replication = await client.send(new GetBucketReplicationCommand({ Bucket }));
    expect(replication.ReplicationConfiguration!.Rules!.map((r) => ({
      id: r.ID,
      status: r.Status,
      deleteMarkers: r.DeleteMarkerReplication?.Status,
      // A version's permanent deletion (a GOVERNANCE bypass) is not replicated: the peer's copy survives it.
      versionDeletes: (r as { DeleteReplication?: { Status?: string } }).DeleteReplication?.Status ?? "Disabled",
      existing: r.ExistingObjectReplication?.Status,
      destination: r.Destination?.Bucket?.replace(/^arn:minio:replication::[^:]*:/, ""),
    }))).toEqual([{ id: "drstack-replication", status: "Enabled", deleteMarkers: "Enabled", versionDeletes: "Disabled", existing: "Enabled", destination: "drstack-dc2-backups" }]);
  });

  it("leaves the fencing bucket versioned, without Object Lock and without replication", async () => {
    const client = s3(a);
    const Bucket = "drstack-dc1-backups-fencing";
    expect((await client.send(new GetBucketVersioningCommand({ Bucket }))).Status).toBe("Enabled");
    expect(await errorName(client.send(new GetObjectLockConfigurationCommand({ Bucket })))).toBe("ObjectLockConfigurationNotFoundError");
    expect(await errorName(client.send(new GetBucketReplicationCommand({ Bucket })))).toBe("ReplicationConfigurationNotFoundError");
  });

  it("replicates an object put into site A's backup bucket to site B with its retention", async () => {
    const key = `db/replicated-${Date.now()}.dump`;
    const backup = s3(a, "drstack-backup", SECRETS.backup);
    await backup.send(new PutObjectCommand({ Bucket: "drstack-dc1-backups", Key: key, Body: "dump bytes" }));
    const source = await s3(a).send(new HeadObjectCommand({ Bucket: "drstack-dc1-backups", Key: key }));
    expect(source.ObjectLockMode).toBe("GOVERNANCE");
    const replica = await waitFor(`${key} replicated to site B`, async () => {
      const head = await s3(b).send(new HeadObjectCommand({ Bucket: "drstack-dc2-backups", Key: key }));
      return head.ReplicationStatus === "REPLICA" ? head : undefined;
    });
    expect(replica.ObjectLockMode).toBe("GOVERNANCE");
    // The replica's retain-until date is the source's, to the second (MinIO sends it in RFC 3339 seconds).
    expect(Math.floor(replica.ObjectLockRetainUntilDate!.getTime() / 1000)).toBe(Math.floor(source.ObjectLockRetainUntilDate!.getTime() / 1000));
    expect(replica.VersionId).toBe(source.VersionId);
    // Site B's peer reader (what site A's agent and verify use) reads the replica and its retention.
    const reader = s3(b, "drstack-peer-reader", SECRETS.reader);
    const body = await reader.send(new GetObjectCommand({ Bucket: "drstack-dc2-backups", Key: key }));
    expect(await body.Body!.transformToString()).toBe("dump bytes");
    const retention = await reader.send(new GetObjectRetentionCommand({ Bucket: "drstack-dc2-backups", Key: key }));
    expect(retention.Retention?.Mode).toBe("GOVERNANCE");

    // A delete on site A (a delete marker: the version itself is locked) replicates too.
    await backup.send(new DeleteObjectCommand({ Bucket: "drstack-dc1-backups", Key: key }));
    const markers = await waitFor(`the delete marker of ${key} replicated to site B`, async () => {
      const res = await s3(b).send(new ListObjectVersionsCommand({ Bucket: "drstack-dc2-backups", Prefix: key }));
      return (res.DeleteMarkers ?? []).length > 0 ? res : undefined;
    });
    expect(markers.Versions!.map((v) => v.VersionId)).toEqual([source.VersionId]);

    // A GOVERNANCE bypass by site A's root (whose password is in its stack) deletes the version there; the peer's copy stays.
    await s3(a).send(new DeleteObjectCommand({ Bucket: "drstack-dc1-backups", Key: key, VersionId: source.VersionId, BypassGovernanceRetention: true }));
    const gone = await s3(a).send(new ListObjectVersionsCommand({ Bucket: "drstack-dc1-backups", Prefix: key }));
    expect((gone.Versions ?? []).map((v) => v.VersionId)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const kept = await s3(b).send(new ListObjectVersionsCommand({ Bucket: "drstack-dc2-backups", Prefix: key }));
    expect((kept.Versions ?? []).map((v) => v.VersionId)).toEqual([source.VersionId]);
  });

  it("lets drstack-backup write, list and lock objects but not change the bucket's retention, lifecycle or policy", async () => {
    const backup = s3(a, "drstack-backup", SECRETS.backup);
    const Bucket = "drstack-dc1-backups";
    const key = `critical/own-${Date.now()}.dump`;
    await backup.send(new PutObjectCommand({ Bucket, Key: key, Body: "x", ObjectLockMode: "GOVERNANCE", ObjectLockRetainUntilDate: new Date(Date.now() + 5 * 86_400_000) }));
    await backup.send(new PutObjectRetentionCommand({ Bucket, Key: key, Retention: { Mode: "GOVERNANCE", RetainUntilDate: new Date(Date.now() + 6 * 86_400_000) } }));
    expect((await backup.send(new GetObjectRetentionCommand({ Bucket, Key: key }))).Retention?.Mode).toBe("GOVERNANCE");
    await backup.send(new PutObjectCommand({ Bucket: `${Bucket}-fencing`, Key: "fence-marker.json", Body: "{}" }));
    // The fenced WAL position, which the peer's standby must replay before a planned switch-over promotes it.
    await backup.send(new PutObjectCommand({ Bucket: `${Bucket}-fencing`, Key: "fenced-wal.json", Body: "{}" }));
    expect(await errorName(backup.send(new PutObjectCommand({ Bucket: `${Bucket}-fencing`, Key: "other.json", Body: "{}" })))).toBe("AccessDenied");
    // The claim is the stack's: an agent that could rewrite it could promote its own database.
    expect(await errorName(backup.send(new PutObjectCommand({ Bucket: `${Bucket}-fencing`, Key: "writer-claim.json", Body: "{}" })))).toBe("AccessDenied");
    expect(await errorName(backup.send(new DeleteObjectCommand({ Bucket: `${Bucket}-fencing`, Key: "fence-marker.json" })))).toBe("AccessDenied");

    expect(await errorName(backup.send(new PutObjectLockConfigurationCommand({ Bucket, ObjectLockConfiguration: { ObjectLockEnabled: "Enabled" } })))).toBe("AccessDenied");
    expect(await errorName(backup.send(new PutBucketLifecycleConfigurationCommand({
      Bucket,
      LifecycleConfiguration: { Rules: [{ ID: "x", Status: "Enabled", Filter: { Prefix: "db/" }, Expiration: { Days: 1 } }] },
    })))).toBe("AccessDenied");
    expect(await errorName(backup.send(new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify({ Version: "2012-10-17", Statement: [] }) })))).toBe("AccessDenied");
    expect(await errorName(backup.send(new CreateBucketCommand({ Bucket: "drstack-not-allowed" })))).toBe("AccessDenied");
  });

  it("lets drstack-peer-reader read but not write, and tells a missing fence marker from a denied one", async () => {
    const reader = s3(a, "drstack-peer-reader", SECRETS.reader);
    expect(await errorName(reader.send(new PutObjectCommand({ Bucket: "drstack-dc1-backups", Key: "db/intruder.dump", Body: "x" })))).toBe("AccessDenied");
    expect(await errorName(reader.send(new PutObjectCommand({ Bucket: "drstack-dc1-backups-fencing", Key: "fence-marker.json", Body: "{}" })))).toBe("AccessDenied");
    expect(await errorName(reader.send(new HeadObjectCommand({ Bucket: "drstack-dc1-backups-fencing", Key: "no-such-marker.json" })))).toBe("NotFound");
  });

  it("keeps lifecycle rules it does not own, updates its own and removes those whose prefix is gone", async () => {
    const Bucket = "drstack-dc2-backups";
    const client = s3(b);
    const current = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
    await client.send(new PutBucketLifecycleConfigurationCommand({
      Bucket,
      LifecycleConfiguration: { Rules: [...current.Rules!, { ID: "operator-tmp", Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 2 } }] },
    }));
    const run = await runScript("setup", envB({ DRSTACK_RETENTION: "db/=40 critical/=90 financial/=2557" }));
    expectOk(run);
    expect(changes(run)).toBe(1);
    const after = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
    expect(after.Rules!.map((r) => `${r.ID}=${r.Expiration?.Days}`).sort()).toEqual([
      "drstack-retention:critical/=90",
      "drstack-retention:db/=40",
      "drstack-retention:financial/=2557",
      "operator-tmp=2",
    ]);
    // Back to the configuration the other tests expect; the operator's rule stays.
    expect(changes(await runScript("setup", envB()))).toBe(1);
    expect(changes(await runScript("setup", envB()))).toBe(0);
  });

  it("re-points replication when the peer's drstack-replication secret changes", async () => {
    const rotated = "repl-b-secret-2";
    expectOk(await runScript("setup", envB({ DRSTACK_REPLICATION_SECRET: rotated })));
    const run = await runScript("setup", envA(peerB(rotated)));
    expectOk(run);
    expect(run.stdout).toContain("changed: updated replication rule drstack-replication");
    const key = `db/after-rotation-${Date.now()}.dump`;
    await s3(a).send(new PutObjectCommand({ Bucket: "drstack-dc1-backups", Key: key, Body: "y" }));
    await waitFor(`${key} replicated with the rotated secret`, async () => (await s3(b).send(new HeadObjectCommand({ Bucket: "drstack-dc2-backups", Key: key }))).ReplicationStatus === "REPLICA" || undefined);
    expect(changes(await runScript("setup", envA(peerB(rotated))))).toBe(0);
  });

  it("replicates both ways once site B is set up with site A as its peer (after a flip, B's backups reach A)", async () => {
    const peerA = { DRSTACK_PEER_STORAGE_ENDPOINT: a.endpoint, DRSTACK_PEER_BACKUP_BUCKET: "drstack-dc1-backups", DRSTACK_PEER_REPLICATION_SECRET: SECRETS.replicationA };
    const rotated = { DRSTACK_REPLICATION_SECRET: "repl-b-secret-2" };
    const run = await runScript("setup", envB({ ...rotated, ...peerA }));
    expectOk(run);
    expect(changes(run)).toBe(1);
    expect(changes(await runScript("setup", envB({ ...rotated, ...peerA })))).toBe(0);
    const key = `db/from-b-${Date.now()}.dump`;
    await s3(b, "drstack-backup", SECRETS.backup).send(new PutObjectCommand({ Bucket: "drstack-dc2-backups", Key: key, Body: "b" }));
    const replica = await waitFor(`${key} replicated to site A`, async () => {
      const head = await s3(a).send(new HeadObjectCommand({ Bucket: "drstack-dc1-backups", Key: key }));
      return head.ReplicationStatus === "REPLICA" ? head : undefined;
    });
    expect(replica.ObjectLockMode).toBe("GOVERNANCE");
    // Site A's own run is still a no-op with B replicating into it.
    expect(changes(await runScript("setup", envA(peerB(rotated.DRSTACK_REPLICATION_SECRET))))).toBe(0);
  });

  it("refuses a backup bucket that exists without Object Lock and changes nothing", async () => {
    await s3(a).send(new CreateBucketCommand({ Bucket: "drstack-unlocked" }));
    const before = await bucketNames(a);
    const run = await runScript("setup", setupEnv(a, "drstack-unlocked"));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("bucket drstack-unlocked exists without Object Lock");
    expect(run.stderr).toContain("can only be enabled when a bucket is created");
    expect(await bucketNames(a)).toEqual(before);
    expect(await errorName(s3(a).send(new GetObjectLockConfigurationCommand({ Bucket: "drstack-unlocked" })))).toBe("ObjectLockConfigurationNotFoundError");
  });

  it("exits 64 naming the variable, before creating anything, when the environment is missing or wrong", async () => {
    const before = await bucketNames(a);
    const cases: [Record<string, string | undefined>, string][] = [
      [{ DRSTACK_BACKUP_USER_SECRET: undefined }, "DRSTACK_BACKUP_USER_SECRET is not set"],
      [{ DRSTACK_OBJECT_LOCK_MODE: "STRICT" }, "DRSTACK_OBJECT_LOCK_MODE='STRICT' is not GOVERNANCE, COMPLIANCE or NONE"],
      [{ DRSTACK_RETENTION: "db/=35 critical=ninety" }, "DRSTACK_RETENTION entry 'critical=ninety' is not prefix=days"],
      [{ DRSTACK_PEER_STORAGE_ENDPOINT: b.endpoint }, "go together"],
      [{ DRSTACK_STORAGE_ENDPOINT: "127.0.0.1:9000" }, "DRSTACK_STORAGE_ENDPOINT='127.0.0.1:9000' is not an http(s)://host[:port] URL"],
      [{ DRSTACK_REPLICATION_SECRET: "short" }, "DRSTACK_REPLICATION_SECRET has 5 characters; MinIO accepts 8-40"],
      [{ DRSTACK_STORAGE_WAIT_SECONDS: "soon" }, "DRSTACK_STORAGE_WAIT_SECONDS='soon' is not a whole number of seconds"],
    ];
    for (const [extra, message] of cases) {
      const run = await runScript("setup", setupEnv(a, "drstack-never-created", extra));
      expect({ code: run.code, message: run.stderr.includes(message), stderr: run.stderr }).toEqual({ code: 64, message: true, stderr: expect.stringContaining("nothing was changed") });
    }
    expect((await runScript("bogus", {})).code).toBe(64);
    expect(await bucketNames(a)).toEqual(before);
  });

  it("fails saying replication is not set up when the peer cannot be reached", async () => {
    const closed = await freePort();
    const run = await runScript("setup", setupEnv(a, "drstack-lonely", { ...peerB(), DRSTACK_PEER_STORAGE_ENDPOINT: `http://127.0.0.1:${closed}` }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`replication from drstack-lonely into drstack-dc2-backups at http://127.0.0.1:${closed} is NOT set up`);
    expect(run.stderr).toContain("connection refused");
    expect(await errorName(s3(a).send(new GetBucketReplicationCommand({ Bucket: "drstack-lonely" })))).toBe("ReplicationConfigurationNotFoundError");
  });
});

describe("storage-setup.sh claim", () => {
  const claimEnv = (claim: string | undefined) => ({
    DRSTACK_STORAGE_ENDPOINT: a.endpoint,
    DRSTACK_STORAGE_ROOT_USER: ROOT_USER,
    DRSTACK_STORAGE_ROOT_PASSWORD: ROOT_PASSWORD,
    DRSTACK_FENCING_BUCKET: "drstack-dc1-backups-fencing",
    DRSTACK_WRITER_CLAIM: claim,
  });
  const claim = JSON.stringify({
    format: "drstack.writer-claim/v1",
    site: "dc1",
    activeSite: "dc1",
    role: "active",
    databaseMode: "writer",
    databaseIdentifier: "shop-dc1-db-g1",
    epoch: 3,
  }, null, 2);

  async function stored(): Promise<{ body: string; contentType?: string; versionId?: string }> {
    const res = await s3(a).send(new GetObjectCommand({ Bucket: "drstack-dc1-backups-fencing", Key: "writer-claim.json" }));
    return { body: await res.Body!.transformToString(), contentType: res.ContentType, versionId: res.VersionId };
  }

  it("writes writer-claim.json as application/json, reads it back, and rewrites nothing the second time", async () => {
    const run = await runScript("claim", claimEnv(claim));
    expectOk(run);
    expect(changes(run)).toBe(1);
    const first = await stored();
    expect(first).toEqual({ body: claim, contentType: "application/json", versionId: expect.any(String) });
    const again = await runScript("claim", claimEnv(claim));
    expectOk(again);
    expect(changes(again)).toBe(0);
    expect((await stored()).versionId).toBe(first.versionId);

    const next = claim.replace('"epoch": 3', '"epoch": 4');
    expect(changes(await runScript("claim", claimEnv(next)))).toBe(1);
    expect((await stored()).body).toBe(next);
  });

  it("refuses malformed JSON, a claim of another format and a missing claim with exit 64, leaving the stored claim", async () => {
    const before = await stored();
    const bad: [string | undefined, string][] = [
      [claim.slice(0, -1), "not a single well-formed JSON object"],
      ['{"format": "drstack.writer-claim/v1", "site": "dc1}', "not a single well-formed JSON object"],
      ['{"format": "drstack.writer-claim/v1"} {}', "not a single well-formed JSON object"],
      ['{"format": "drstack.fence-marker/v1", "site": "dc1"}', 'no top-level "format": "drstack.writer-claim/v1"'],
      ['{"nested": {"format": "drstack.writer-claim/v1"}}', 'no top-level "format": "drstack.writer-claim/v1"'],
      [undefined, "DRSTACK_WRITER_CLAIM is not set"],
    ];
    for (const [text, message] of bad) {
      const run = await runScript("claim", claimEnv(text));
      expect({ text, code: run.code, message: run.stderr.includes(message) }).toEqual({ text, code: 64, message: true });
    }
    expect(await stored()).toEqual(before);
  });
});

describe("storage-setup.sh over TLS with a private CA", () => {
  let tlsSite: Site;
  let caFile: string;

  beforeAll(async () => {
    const ca = privateCa(join(workDir, "tls"));
    caFile = ca.caFile;
    tlsSite = await startMinio("site-tls", ca.certsDir);
  });

  const claimText = JSON.stringify({ format: "drstack.writer-claim/v1", site: "dc3", activeSite: "dc3", role: "active", databaseMode: "writer", databaseIdentifier: "shop-dc3-db-g1", epoch: 1 });

  it("trusts DRSTACK_CA_FILE, and fails naming the certificate without it", async () => {
    const env = setupEnv(tlsSite, "drstack-dc3-backups", { DRSTACK_REPLICATION_SECRET: SECRETS.replicationA, DRSTACK_STORAGE_WAIT_SECONDS: "5" });
    const untrusted = await runScript("setup", env);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/did not become ready.*certificate/);

    const trusted = { ...env, DRSTACK_CA_FILE: caFile };
    expectOk(await runScript("setup", trusted));
    expect(changes(await runScript("setup", trusted))).toBe(0);
    const claimEnv = {
      DRSTACK_STORAGE_ENDPOINT: tlsSite.endpoint,
      DRSTACK_STORAGE_ROOT_USER: ROOT_USER,
      DRSTACK_STORAGE_ROOT_PASSWORD: ROOT_PASSWORD,
      DRSTACK_FENCING_BUCKET: "drstack-dc3-backups-fencing",
      DRSTACK_WRITER_CLAIM: claimText,
      DRSTACK_CA_FILE: caFile,
    };
    const claim = await runScript("claim", claimEnv);
    expectOk(claim);
    expect(changes(claim)).toBe(1);
    expect(changes(await runScript("claim", claimEnv))).toBe(0);
  });

  it("clears the default retention when the mode becomes NONE", async () => {
    const env = setupEnv(tlsSite, "drstack-dc3-backups", { DRSTACK_REPLICATION_SECRET: SECRETS.replicationA, DRSTACK_CA_FILE: caFile });
    const run = await runScript("setup", { ...env, DRSTACK_OBJECT_LOCK_MODE: "NONE", DRSTACK_OBJECT_LOCK_DAYS: "0" });
    expectOk(run);
    expect(run.stdout).toContain("changed: cleared the default retention of bucket drstack-dc3-backups (was GOVERNANCE 3DAYS)");
    expect(changes(run)).toBe(1);
    const again = await runScript("setup", { ...env, DRSTACK_OBJECT_LOCK_MODE: "NONE", DRSTACK_OBJECT_LOCK_DAYS: undefined });
    expect(again.stdout).toContain("unchanged: bucket drstack-dc3-backups has no default retention");
    expect(changes(again)).toBe(0);
  });

  it("exits 64 when DRSTACK_CA_FILE names no readable file", async () => {
    const run = await runScript("setup", setupEnv(tlsSite, "drstack-dc3-backups", { DRSTACK_CA_FILE: join(workDir, "missing-ca.pem") }));
    expect(run.code).toBe(64);
    expect(run.stderr).toContain("DRSTACK_CA_FILE=");
    expect(run.stderr).toContain("is not a readable file");
  });
});
