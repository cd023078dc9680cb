import { dataStoreTypes, isDataStore, registerDataStore } from "../../offline/dataStores";
import {
  failsPolicy,
  Finding,
  findingsFor,
  POSTURE_TYPE,
  ResourcePair,
  ResourceSnapshot,
  UNKNOWN,
} from "../../offline/findings";

/** Pure rules over (old, new) pairs: no evaluation, no preview document. */

const BUCKET: ResourceSnapshot = {
  type: "aws:s3/bucket:Bucket",
  name: "primary-backups-bucket",
  inputs: { bucket: "acme-backups-primary-us-west-2", objectLockEnabled: true, forceDestroy: false },
  protect: true,
};

function withInputs(resource: ResourceSnapshot, inputs: Record<string, unknown>, extra: Partial<ResourceSnapshot> = {}): ResourceSnapshot {
  return { ...resource, inputs: { ...resource.inputs, ...inputs }, ...extra };
}

function rulesOf(pair: ResourcePair): string[] {
  return findingsFor([pair]).map((f) => f.rule);
}

function only(pair: ResourcePair): Finding {
  const found = findingsFor([pair]);
  expect(found).toHaveLength(1);
  return found[0];
}

describe("data stores", () => {
  test("the list covers buckets, keys, databases, caches, secrets and backups, and others can extend it", () => {
    for (const type of [
      "aws:s3/bucket:Bucket",
      "aws:kms/key:Key",
      "aws:rds/instance:Instance",
      "aws:rds/cluster:Cluster",
      "aws:elasticache/replicationGroup:ReplicationGroup",
      "aws:secretsmanager/secret:Secret",
      "aws:backup/vault:Vault",
    ]) {
      expect(dataStoreTypes()).toContain(type);
    }
    expect(isDataStore("acme:index:Ledger")).toBe(false);
    registerDataStore({ type: "acme:index:Ledger", label: "ledger", replacedBy: ["name"] });
    expect(isDataStore("acme:index:Ledger")).toBe(true);
    expect(only({ old: { type: "acme:index:Ledger", name: "l", inputs: {} } }).message).toMatch(/^ledger `l` would be DELETED/);
  });

  test("deleting a data store is blocking, and says whether protect will stop it", () => {
    const protectedDelete = only({ old: BUCKET });
    expect(protectedDelete).toMatchObject({ severity: "blocking", rule: "data-store-deleted" });
    expect(protectedDelete.message).toMatch(/DELETED. It is `protect`ed/);
    expect(only({ old: { ...BUCKET, protect: false } }).message).toMatch(/data would be lost/);
  });

  test("deleting something that holds no data is not a finding", () => {
    expect(rulesOf({ old: { type: "aws:iam/role:Role", name: "r", inputs: {} } })).toEqual([]);
  });

  test("a change to a replacing input is a blocking replacement, offline", () => {
    const found = only({ old: BUCKET, new: withInputs(BUCKET, { bucket: "renamed" }) });
    expect(found).toMatchObject({ severity: "blocking", rule: "data-store-replaced" });
    expect(found.message).toMatch(/REPLACED .* because `bucket` changed/);
  });

  test("the engine's verdict wins over the offline inference", () => {
    expect(rulesOf({ old: BUCKET, new: withInputs(BUCKET, { tags: { a: "b" } }), replaced: true })).toEqual(["data-store-replaced"]);
    expect(rulesOf({ old: BUCKET, new: withInputs(BUCKET, { bucket: "renamed" }), replaced: false })).toEqual([]);
  });

  test("an input not known until the update runs is not a replacement", () => {
    expect(rulesOf({ old: BUCKET, new: withInputs(BUCKET, { bucket: UNKNOWN }) })).toEqual([]);
  });

  test("dropping protect, deletion protection, or turning on forceDestroy weakens the guard", () => {
    expect(rulesOf({ old: BUCKET, new: { ...BUCKET, protect: false } })).toEqual(["protection-removed"]);
    expect(rulesOf({ old: BUCKET, new: withInputs(BUCKET, { forceDestroy: true }) })).toEqual(["protection-removed"]);
    const db = { type: "aws:rds/instance:Instance", name: "db", inputs: { deletionProtection: true } };
    expect(rulesOf({ old: db, new: withInputs(db, { deletionProtection: false }) })).toEqual(["protection-removed"]);
  });
});

describe("retention", () => {
  const lifecycle = (days: number, noncurrent = 30): ResourceSnapshot => ({
    type: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    name: "lc",
    inputs: {
      rules: [{ id: `retain-db-${days}d`, status: "Enabled", filter: { prefix: "db/" }, expiration: { days }, noncurrentVersionExpiration: { noncurrentDays: noncurrent } }],
    },
  });

  test("a shorter expiration for the same prefix is found even when the rule id changes", () => {
    expect(only({ old: lifecycle(30), new: lifecycle(14) }).message).toMatch(/prefix "db\/": retention shortened from 30 to 14 days/);
  });

  test("a longer one is not", () => {
    expect(rulesOf({ old: lifecycle(30), new: lifecycle(60) })).toEqual([]);
  });

  test("shorter noncurrent-version expiry is found", () => {
    expect(only({ old: lifecycle(30, 30), new: lifecycle(30, 7) }).message).toMatch(/versions now kept 7 days instead of 30/);
  });

  test("expiring a prefix that was kept is found", () => {
    const kept = { ...lifecycle(30), inputs: { rules: [] } };
    expect(only({ old: kept, new: lifecycle(30) }).message).toMatch(/now expire after 30 days \(they were kept\)/);
  });

  test("database backup retention and key deletion windows count too", () => {
    const db = { type: "aws:rds/instance:Instance", name: "db", inputs: { backupRetentionPeriod: 7 } };
    expect(only({ old: db, new: withInputs(db, { backupRetentionPeriod: 1 }) }).message).toMatch(/automated backups kept shortened from 7 to 1/);
    const key = { type: "aws:kms/key:Key", name: "k", inputs: { deletionWindowInDays: 30 } };
    expect(rulesOf({ old: key, new: withInputs(key, { deletionWindowInDays: 7 }) })).toEqual(["retention-shortened"]);
  });

  test("an AWS Backup plan rule deleting recovery points sooner is found", () => {
    const plan = (deleteAfter: number) => ({ type: "aws:backup/plan:Plan", name: "p", inputs: { rules: [{ ruleName: "daily", lifecycle: { deleteAfter } }] } });
    expect(rulesOf({ old: plan(35), new: plan(7) })).toEqual(["retention-shortened"]);
  });
});

describe("replication", () => {
  const rule = (prefix: string, extra: Record<string, unknown> = {}) => ({
    id: `replicate-${prefix}`,
    status: "Enabled",
    filter: { prefix },
    deleteMarkerReplication: { status: "Disabled" },
    sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } },
    destination: {
      bucket: "arn:aws:s3:::peer",
      encryptionConfiguration: { replicaKmsKeyId: "alias" },
      replicationTime: { status: "Enabled", time: { minutes: 15 } },
      metrics: { status: "Enabled" },
    },
    ...extra,
  });
  const config = (...rules: unknown[]): ResourceSnapshot => ({ type: "aws:s3/bucketReplicationConfig:BucketReplicationConfig", name: "rules", inputs: { rules } });

  test("removing the configuration is found", () => {
    expect(rulesOf({ old: config(rule("db/")) })).toEqual(["replication-removed"]);
  });

  test("removing or disabling a rule is found", () => {
    expect(only({ old: config(rule("db/"), rule("financial/")), new: config(rule("db/")) }).message).toMatch(/prefix "financial\/" removed/);
    expect(only({ old: config(rule("db/")), new: config(rule("db/", { status: "Disabled" })) }).message).toMatch(/disabled/);
  });

  test("dropping RTC is found (and metrics separately)", () => {
    const withoutRtc = rule("db/");
    withoutRtc.destination = { bucket: "arn:aws:s3:::peer", encryptionConfiguration: { replicaKmsKeyId: "alias" }, metrics: { status: "Enabled" } } as typeof withoutRtc.destination;
    expect(rulesOf({ old: config(rule("db/")), new: config(withoutRtc) })).toEqual(["replication-rtc-dropped"]);
  });

  test("replicating delete markers and losing the replica key are found", () => {
    expect(rulesOf({ old: config(rule("db/")), new: config(rule("db/", { deleteMarkerReplication: { status: "Enabled" } })) })).toEqual([
      "replication-weakened",
    ]);
    const noKey = rule("db/");
    noKey.destination = { ...noKey.destination, encryptionConfiguration: undefined } as unknown as typeof noKey.destination;
    expect(rulesOf({ old: config(rule("db/")), new: config(noKey) })).toEqual(["encryption-weakened"]);
  });

  test("an unchanged configuration raises nothing", () => {
    expect(rulesOf({ old: config(rule("db/")), new: config(rule("db/")) })).toEqual([]);
  });
});

describe("encryption and Object Lock", () => {
  const sse = (algorithm: string, key?: string): ResourceSnapshot => ({
    type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    name: "enc",
    inputs: { rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: algorithm, kmsMasterKeyId: key } }] },
  });
  const lock = (mode: string, days: number): ResourceSnapshot => ({
    type: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    name: "lock",
    inputs: { rule: { defaultRetention: { mode, days } } },
  });

  test("KMS to AES256, a dropped key and removed default encryption are found", () => {
    expect(rulesOf({ old: sse("aws:kms", "k"), new: sse("AES256") })).toEqual(["encryption-weakened", "encryption-weakened"]);
    expect(rulesOf({ old: sse("aws:kms", "k") })).toEqual(["encryption-weakened"]);
    expect(rulesOf({ old: sse("aws:kms", "k"), new: sse("aws:kms", "k2") })).toEqual([]);
  });

  test("key rotation and storage encryption turned off are found", () => {
    const key = { type: "aws:kms/key:Key", name: "k", inputs: { enableKeyRotation: true } };
    expect(rulesOf({ old: key, new: withInputs(key, { enableKeyRotation: false }) })).toEqual(["encryption-weakened"]);
  });

  test("Object Lock: removed, COMPLIANCE to GOVERNANCE, fewer days", () => {
    expect(rulesOf({ old: lock("GOVERNANCE", 30) })).toEqual(["object-lock-weakened"]);
    expect(rulesOf({ old: lock("COMPLIANCE", 30), new: lock("GOVERNANCE", 30) })).toEqual(["object-lock-weakened"]);
    expect(rulesOf({ old: lock("GOVERNANCE", 30), new: lock("GOVERNANCE", 7) })).toEqual(["object-lock-weakened"]);
    expect(rulesOf({ old: lock("GOVERNANCE", 30), new: lock("COMPLIANCE", 60) })).toEqual([]);
  });

  test("versioning suspended and public access unblocked are found", () => {
    const versioning = { type: "aws:s3/bucketVersioning:BucketVersioning", name: "v", inputs: { versioningConfiguration: { status: "Enabled" } } };
    expect(rulesOf({ old: versioning, new: withInputs(versioning, { versioningConfiguration: { status: "Suspended" } }) })).toEqual(["encryption-weakened"]);
    const pab = { type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name: "p", inputs: { blockPublicAcls: true, blockPublicPolicy: true } };
    expect(rulesOf({ old: pab, new: withInputs(pab, { blockPublicPolicy: false }) })).toEqual(["encryption-weakened"]);
  });
});

describe("DNS and health checks", () => {
  const record = (ttl: number) => ({ type: "aws:route53/record:Record", name: "app", inputs: { ttl } });
  const check = (requestInterval: number, failureThreshold: number) => ({
    type: "aws:route53/healthCheck:HealthCheck",
    name: "hc",
    inputs: { requestInterval, failureThreshold },
  });

  test("a raised TTL is found, a lowered one is not", () => {
    expect(only({ old: record(60), new: record(300) }).message).toMatch(/TTL raised from 60 s to 300 s/);
    expect(rulesOf({ old: record(300), new: record(60) })).toEqual([]);
  });

  test("a slower or removed health check is found", () => {
    expect(rulesOf({ old: check(10, 3), new: check(30, 3) })).toEqual(["health-check-slower"]);
    expect(rulesOf({ old: check(10, 3), new: check(10, 5) })).toEqual(["health-check-slower"]);
    expect(rulesOf({ old: check(10, 3) })).toEqual(["health-check-removed"]);
  });
});

describe("objectives", () => {
  const posture = (status: string, enforcement = "error"): ResourceSnapshot => ({
    type: POSTURE_TYPE,
    name: "primary",
    inputs: {
      enforcement,
      tiers: [{ tier: "critical", status, objectives: { rtoMinutes: 15, rpoMinutes: 5 }, achievedRtoMinutes: 75, achievedRpoMinutes: 1455 }],
    },
  });

  test("a tier that stops being met is found; one that stays unmet is not news", () => {
    expect(only({ old: posture("met"), new: posture("not met") }).message).toMatch(/Tier critical no longer meets.*RTO 15 min \(achieves 75 min\), RPO 5 min \(achieves 1455 min\)/);
    expect(rulesOf({ old: posture("not met"), new: posture("not met") })).toEqual([]);
  });

  test("turning enforcement from error to warn is found", () => {
    expect(rulesOf({ old: posture("met", "error"), new: posture("met", "warn") })).toEqual(["objectives-not-enforced"]);
  });
});

describe("ranking and policy", () => {
  test("blocking findings come first whatever the order of the pairs", () => {
    const record = { type: "aws:route53/record:Record", name: "app", inputs: { ttl: 60 } };
    const found = findingsFor([{ old: record, new: { ...record, inputs: { ttl: 300 } } }, { old: BUCKET }]);
    expect(found.map((f) => f.severity)).toEqual(["blocking", "warning"]);
  });

  test("--fail-on thresholds", () => {
    const warning = [{ severity: "warning" } as Finding];
    const blocking = [{ severity: "blocking" } as Finding];
    expect(failsPolicy(blocking, "blocking")).toBe(true);
    expect(failsPolicy(warning, "blocking")).toBe(false);
    expect(failsPolicy(warning, "warning")).toBe(true);
    expect(failsPolicy(blocking, "never")).toBe(false);
  });
});

describe("the database engine", () => {
  const DB: ResourceSnapshot = { type: "aws:rds/instance:Instance", name: "primary-database-instance", inputs: { identifier: "acme-shop-dr-primary-db", engine: "postgres" }, protect: true };

  test("a changed engine (databaseEngine) is a blocking replacement that names the key and the way back", () => {
    const rules = rulesOf({ old: DB, new: withInputs(DB, { engine: "mysql" }) });
    expect(rules).toEqual(expect.arrayContaining(["data-store-replaced", "database-engine-changed"]));
    const found = findingsFor([{ old: DB, new: withInputs(DB, { engine: "mysql" }) }]).find((f) => f.rule === "database-engine-changed")!;
    expect(found.severity).toBe("blocking");
    expect(found.message).toMatch(/engine postgres -> mysql \(databaseEngine changed\)/);
    expect(found.message).toMatch(/Set databaseEngine back to postgres/);
    expect(findingsFor([{ old: DB, new: withInputs(DB, { engine: "mysql" }) }]).find((f) => f.rule === "data-store-replaced")?.message).toMatch(/because `engine` changed/);
  });

  test("the same engine, or one not known until the update, is no finding", () => {
    expect(rulesOf({ old: DB, new: withInputs(DB, {}) })).toEqual([]);
    expect(rulesOf({ old: DB, new: withInputs(DB, { engine: UNKNOWN }) })).toEqual([]);
  });
});
