import { storageTransitions } from "../../infra/backupStorage";
import { DATA_CLASSES } from "../../infra/dataClasses";
import { Evaluation } from "../../offline/evaluate";
import { asArray, evaluate as evaluateStack, parsePolicy, resourcesOfType, single, STACK_CASES, within } from "./evaluations";

/** The site's backup storage only: the site has other keys (its data key) that these tests are not about. */
async function evaluate(stack: string, overrides: Record<string, string> = {}): Promise<Evaluation> {
  return within(await evaluateStack(stack, overrides), "drstack:storage:BackupStorage");
}

const T = {
  bucket: "aws:s3/bucket:Bucket",
  key: "aws:kms/key:Key",
  alias: "aws:kms/alias:Alias",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  policy: "aws:s3/bucketPolicy:BucketPolicy",
  objectLock: "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
  lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
};

interface LifecycleRule {
  id: string;
  status: string;
  filter: { prefix: string };
  expiration?: { days?: number; expiredObjectDeleteMarker?: boolean };
  transitions?: Array<{ days: number; storageClass: string }>;
  noncurrentVersionExpiration?: { noncurrentDays: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
}

describe.each(STACK_CASES)("backup storage of $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });

  test("the bucket, its key and the key alias are protected against deletion", async () => {
    const evaluation = await run();
    for (const type of [T.bucket, T.key, T.alias]) {
      expect({ type, protect: single(evaluation, type).protect }).toEqual({ type, protect: true });
    }
    expect(single(evaluation, T.bucket).inputs.forceDestroy).toBe(false);
  });

  test("the bucket is versioned and Object Lock-capable", async () => {
    const evaluation = await run();
    expect(single(evaluation, T.bucket).inputs.objectLockEnabled).toBe(true);
    expect(single(evaluation, T.versioning).inputs.versioningConfiguration).toEqual({ status: "Enabled" });
  });

  test("new versions are locked in governance mode for 30 days by default", async () => {
    const lock = single(await run(), T.objectLock).inputs;
    expect(lock.objectLockEnabled).toBe("Enabled");
    expect(lock.rule).toEqual({ defaultRetention: { mode: "GOVERNANCE", days: 30 } });
  });

  test("every object is encrypted with the site's customer-managed key, which rotates", async () => {
    const evaluation = await run();
    const key = single(evaluation, T.key);
    expect(key.inputs.enableKeyRotation).toBe(true);
    expect(key.inputs.deletionWindowInDays).toBe(30);
    const [rule] = single(evaluation, T.encryption).inputs.rules as Array<{
      applyServerSideEncryptionByDefault: { sseAlgorithm: string; kmsMasterKeyId: string };
      bucketKeyEnabled: boolean;
    }>;
    expect(rule.applyServerSideEncryptionByDefault.sseAlgorithm).toBe("aws:kms");
    expect(rule.applyServerSideEncryptionByDefault.kmsMasterKeyId).toBe(evaluation.outputs.backupKeyArn);
    expect(rule.bucketKeyEnabled).toBe(true);
    expect(single(evaluation, T.alias).inputs.name).toBe(`alias/acme-shop-dr-backups-${stack}`);
  });

  test("the key policy names only this account", async () => {
    const statements = parsePolicy(single(await run(), T.key).inputs.policy);
    expect(statements.map((s) => s.Principal)).toEqual([{ AWS: "arn:aws:iam::123456789012:root" }]);
  });

  test("the bucket is private: owner-enforced ownership and all four public access blocks", async () => {
    const evaluation = await run();
    expect(single(evaluation, T.ownership).inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
    expect(single(evaluation, T.publicAccess).inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
  });

  test("the bucket policy denies every request not made over TLS, on the bucket and its objects", async () => {
    const evaluation = await run();
    const bucketArn = evaluation.outputs.backupBucketArn as string;
    const deny = parsePolicy(single(evaluation, T.policy).inputs.policy).find((s) => s.Sid === "DenyInsecureTransport");
    expect(deny).toMatchObject({ Effect: "Deny", Principal: "*", Action: "s3:*", Condition: { Bool: { "aws:SecureTransport": "false" } } });
    expect(asArray(deny?.Resource).sort()).toEqual([bucketArn, `${bucketArn}/*`].sort());
  });

  test("lifecycle keeps each data class for its retention, then expires it", async () => {
    const rules = single(await run(), T.lifecycle).inputs.rules as LifecycleRule[];
    for (const dataClass of Object.values(DATA_CLASSES)) {
      const rule = rules.find((r) => r.filter.prefix === dataClass.prefix);
      expect(rule).toBeDefined();
      expect(rule?.status).toBe("Enabled");
      expect(rule?.noncurrentVersionExpiration).toEqual({ noncurrentDays: 30 });
    }
    const retention = Object.fromEntries(rules.filter((r) => r.filter.prefix).map((r) => [r.filter.prefix, r.expiration?.days]));
    expect(retention).toEqual({ "db/": 30, "critical/": 90, "archive/": 365, "financial/": 2557 });
  });

  test("lifecycle moves long-lived classes to cheaper storage only where it pays", async () => {
    const rules = single(await run(), T.lifecycle).inputs.rules as LifecycleRule[];
    const classesOf = (prefix: string) => (rules.find((r) => r.filter.prefix === prefix)?.transitions ?? []).map((t) => t.storageClass);
    expect(classesOf("db/")).toEqual([]);
    expect(classesOf("critical/")).toEqual(["STANDARD_IA"]);
    expect(classesOf("archive/")).toEqual(["STANDARD_IA", "GLACIER_IR"]);
    expect(classesOf("financial/")).toEqual(["STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"]);
  });

  test("lifecycle removes expired delete markers and aborts abandoned multipart uploads bucket-wide", async () => {
    const rules = single(await run(), T.lifecycle).inputs.rules as LifecycleRule[];
    const cleanUp = rules.find((r) => r.expiration?.expiredObjectDeleteMarker === true);
    expect(cleanUp?.filter.prefix).toBe("");
    expect(cleanUp?.abortIncompleteMultipartUpload).toEqual({ daysAfterInitiation: 2 });
    expect(cleanUp?.expiration?.days).toBeUndefined();
  });
});

describe("storage settings follow config", () => {
  test("retention, lock and clean-up periods come from config", async () => {
    const evaluation = await evaluate("primary", {
      dbRetentionDays: "45",
      objectLockMode: "COMPLIANCE",
      objectLockDays: "14",
      noncurrentVersionDays: "10",
      abortIncompleteUploadDays: "1",
    });
    const rules = single(evaluation, T.lifecycle).inputs.rules as LifecycleRule[];
    const db = rules.find((r) => r.filter.prefix === "db/");
    expect(db?.expiration?.days).toBe(45);
    expect(db?.noncurrentVersionExpiration).toEqual({ noncurrentDays: 10 });
    expect(rules.find((r) => r.abortIncompleteMultipartUpload)?.abortIncompleteMultipartUpload).toEqual({ daysAfterInitiation: 1 });
    expect(single(evaluation, T.objectLock).inputs.rule).toEqual({ defaultRetention: { mode: "COMPLIANCE", days: 14 } });
  });

  test("objectLockMode NONE drops the default retention but keeps the bucket lock-capable", async () => {
    const evaluation = await evaluate("primary", { objectLockMode: "NONE" });
    expect(resourcesOfType(evaluation, T.objectLock)).toEqual([]);
    expect(single(evaluation, T.bucket).inputs.objectLockEnabled).toBe(true);
  });
});

describe("storage transitions", () => {
  test.each([
    [59, []],
    [60, ["STANDARD_IA@30"]],
    [179, ["STANDARD_IA@30"]],
    [180, ["STANDARD_IA@30", "GLACIER_IR@90"]],
    [544, ["STANDARD_IA@30", "GLACIER_IR@90"]],
    [545, ["STANDARD_IA@30", "GLACIER_IR@90", "DEEP_ARCHIVE@365"]],
  ])("retention of %i days gives %j", (retention, expected) => {
    expect(storageTransitions(retention).map((t) => `${t.storageClass}@${t.days}`)).toEqual(expected);
  });
});
