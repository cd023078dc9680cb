import { PROTECTED_BUCKET_ACTIONS, PROTECTED_KEY_ACTIONS, storageTransitions } from "../../infra/backupStorage";
import { HANDLER_ENV } from "../../infra/backupContract";
import { parseConfig } from "../../infra/config";
import { backupOptions, Settings, SETTINGS, verifyOptions } from "../../lambdas/settings";
import { DATA_CLASSES } from "../../infra/dataClasses";
import { Evaluation } from "../../offline/evaluate";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { evaluate as evaluateStack, parsePolicy, ParsedStatement, resourcesOfType, single, STACK_CASES, within } from "./evaluations";
import { decide, denyingStatements, PolicyRequest } from "./policyEvaluation";

jest.setTimeout(60_000);

const ACCOUNT = "123456789012";
const BREAK_GLASS = `arn:aws:iam::${ACCOUNT}:role/drstack-break-glass`;

// Each test evaluates the program with the mock runtime, up to four stacks (the active secondary beside its standby past); allow for a slow machine.
jest.setTimeout(60_000);

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
  fn: "aws:lambda/function:Function",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
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

  test("the bucket, its key and the key alias are protected against deletion and retained on delete", async () => {
    const evaluation = await run();
    for (const type of [T.bucket, T.key, T.alias]) {
      const { protect, retainOnDelete } = single(evaluation, type);
      expect({ type, protect, retainOnDelete }).toEqual({ type, protect: true, retainOnDelete: true });
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

describe("the test policy evaluator follows IAM's condition rules", () => {
  const deny = (Condition: ParsedStatement["Condition"]): ParsedStatement[] => [{ Sid: "d", Effect: "Deny", Principal: "*", Action: "s3:PutObject", Resource: "*", Condition }];
  const put = (context: Record<string, string | string[]>): PolicyRequest => ({ principal: BREAK_GLASS, action: "s3:PutObject", resource: "arn:aws:s3:::b/k", context });

  test("a negated operator holds when the key is absent, a positive one does not; Null tests presence", () => {
    expect(decide(deny({ StringNotEquals: { "s3:x-amz-server-side-encryption": "aws:kms" } }), put({}))).toBe("explicit-deny");
    expect(decide(deny({ StringEquals: { "s3:x-amz-server-side-encryption": "AES256" } }), put({}))).toBe("implicit-deny");
    expect(decide(deny({ Null: { "s3:x-amz-server-side-encryption": "false" } }), put({}))).toBe("implicit-deny");
    expect(decide(deny({ Null: { "s3:x-amz-server-side-encryption": "true" } }), put({}))).toBe("explicit-deny");
  });

  test("ForAnyValue needs one matching value, any listed value matches, and every operator must hold", () => {
    expect(decide(deny({ "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/a" } }), put({ "kms:ResourceAliases": ["alias/b", "alias/a"] }))).toBe("explicit-deny");
    expect(decide(deny({ "ForAnyValue:StringEquals": { "kms:ResourceAliases": "alias/a" } }), put({}))).toBe("implicit-deny");
    expect(decide(deny({ StringLike: { k: ["x", "y/*"] } }), put({ k: "y/z" }))).toBe("explicit-deny");
    expect(decide(deny({ StringLike: { k: "y/*" }, StringEquals: { j: "1" } }), put({ k: "y/z", j: "2" }))).toBe("implicit-deny");
    expect(decide(deny({ ArnNotEquals: { "aws:PrincipalArn": [BREAK_GLASS, "arn:aws:iam::1:role/x"] } }), put({}))).toBe("implicit-deny");
    expect(() => decide(deny({ DateGreaterThan: { k: "1" } }), put({ k: "2" }))).toThrow(/does not know condition operator DateGreaterThan/);
  });
});

/** The principals the protection tests ask about; the mock runtime names a role after its resource unless it sets a name. */
function principals(stack: string) {
  const peer = stack === "primary" ? "secondary" : "primary";
  return {
    breakGlass: BREAK_GLASS,
    backupRole: `arn:aws:iam::${ACCOUNT}:role/${stack}-backup-jobs-backup-role`,
    verifyRole: `arn:aws:iam::${ACCOUNT}:role/${stack}-backup-jobs-verify-role`,
    peerReplicationRole: `arn:aws:iam::${ACCOUNT}:role/acme-shop-dr-replicate-${peer}-to-${stack}`,
    others: [`arn:aws:iam::${ACCOUNT}:role/drstack-deploy`, `arn:aws:iam::${ACCOUNT}:user/admin`, `arn:aws:iam::${ACCOUNT}:root`],
  };
}

describe.each(STACK_CASES)("protection of $stack's backups with activeSite=$activeSite", ({ stack, activeSite }) => {
  const who = principals(stack);
  const run = () => evaluateStack(stack, { activeSite });

  async function bucketPolicy() {
    const evaluation = await run();
    const bucketArn = evaluation.outputs.backupBucketArn as string;
    const keyArn = evaluation.outputs.backupKeyArn as string;
    const policy = parsePolicy(single(within(evaluation, "drstack:storage:BackupProtection"), T.policy).inputs.policy);
    const object = `${bucketArn}/financial/ledger/2026/11/23/20261123T020000Z-${stack}-0123456789ab.dump`;
    const tls = { "aws:SecureTransport": "true", "s3:TlsVersion": "1.3" };
    const request = (principal: string, action: string, resource = object, context: Record<string, string | string[]> = {}): PolicyRequest => ({
      principal,
      action,
      resource,
      context: { ...tls, ...context },
    });
    return { evaluation, bucketArn, keyArn, policy, object, request };
  }

  test("the bucket policy is declared after the bucket's configuration and its replication, which it locks", async () => {
    const evaluation = await run();
    expect(resourcesOfType(within(evaluation, "drstack:storage:BackupStorage"), T.policy)).toEqual([]);
    const protection = single(evaluation, "drstack:storage:BackupProtection");
    expect(protection.dependsOn).toEqual(
      expect.arrayContaining([`drstack:storage:BackupStorage::${stack}-backups`, `drstack:replication:CrossRegionReplication::${stack}-to-${stack === "primary" ? "secondary" : "primary"}`]),
    );
    expect(single(evaluation, T.policy).inputs.bucket).toBe(evaluation.outputs.backupBucketName);
  });

  test("every principal but the break-glass role is denied every change to the protection, the root user included", async () => {
    const { bucketArn, policy, request } = await bucketPolicy();
    for (const action of [...PROTECTED_BUCKET_ACTIONS, "s3:PutObjectRetention"]) {
      const resource = ["s3:BypassGovernanceRetention", "s3:PutObjectLegalHold", "s3:PutObjectRetention"].includes(action) ? `${bucketArn}/db/shop/latest.json` : bucketArn;
      for (const principal of who.others) {
        expect({ principal, action, decision: decide(policy, request(principal, action, resource)) }).toEqual({ principal, action, decision: "explicit-deny" });
      }
      expect({ action, denied: denyingStatements(policy, request(who.breakGlass, action, resource)) }).toEqual({ action, denied: [] });
    }
  });

  test("the backup functions still upload, lock what they upload and clean up; the verifier still reads", async () => {
    const { evaluation, bucketArn, policy, object, request } = await bucketPolicy();
    const lockHeaders = { "s3:object-lock-mode": "COMPLIANCE", "s3:object-lock-retain-until-date": "2033-11-23T02:00:00Z" };
    const backupRequests = [
      request(who.backupRole, "s3:PutObject", object, lockHeaders),
      request(who.backupRole, "s3:PutObjectRetention", object, lockHeaders),
      request(who.backupRole, "s3:AbortMultipartUpload"),
      request(who.backupRole, "s3:ListMultipartUploadParts"),
      request(who.backupRole, "s3:GetObject"),
      request(who.backupRole, "s3:DeleteObject"),
      request(who.backupRole, "s3:ListBucketMultipartUploads", bucketArn),
      request(who.verifyRole, "s3:GetObject"),
      request(who.verifyRole, "s3:GetObjectRetention"),
    ];
    for (const r of backupRequests) {
      expect({ action: r.action, denied: denyingStatements(policy, r) }).toEqual({ action: r.action, denied: [] });
    }
    // ...and the role's own IAM policy allows the lock headers where the class asks for them (ledger is financial/).
    const identity = parsePolicy(resourcesOfType(evaluation, T.rolePolicy).find((p) => p.name === `${stack}-backup-jobs-backup-permissions`)?.inputs.policy);
    expect(decide(identity, request(who.backupRole, "s3:PutObjectRetention", object))).toBe("allow");
    expect(decide(identity, request(who.backupRole, "s3:PutObject", object))).toBe("allow");
    expect(decide(identity, request(who.backupRole, "s3:PutObjectRetention", `${bucketArn}/db/shop/2026/11/23/x.dump`))).toBe("implicit-deny");
  });

  test("the peer's replication still writes replicas and tags into this bucket", async () => {
    const { keyArn, policy, object, request } = await bucketPolicy();
    const replica = { "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn };
    for (const action of ["s3:ReplicateObject", "s3:ReplicateTags"]) {
      expect({ action, denied: denyingStatements(policy, request(who.peerReplicationRole, action, object, replica)) }).toEqual({ action, denied: [] });
    }
  });

  // S3 User Guide, "Protecting data with server-side encryption" and the s3:x-amz-server-side-encryption* condition
  // keys: an upload without headers gets the bucket default (SSE-KMS with this key); SSE-KMS without a key id means
  // the AWS managed key aws/s3.
  test("uploads asking for any encryption but SSE-KMS with this bucket's key are refused", async () => {
    const { keyArn, policy, request } = await bucketPolicy();
    const upload = (context: Record<string, string>) => decide(policy, request(who.backupRole, "s3:PutObject", undefined, context));
    expect(upload({})).toBe("implicit-deny");
    expect(upload({ "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn })).toBe("implicit-deny");
    expect(upload({ "s3:x-amz-server-side-encryption": "AES256" })).toBe("explicit-deny");
    expect(upload({ "s3:x-amz-server-side-encryption": "aws:kms:dsse", "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn })).toBe("explicit-deny");
    expect(upload({ "s3:x-amz-server-side-encryption": "aws:kms" })).toBe("explicit-deny");
    expect(upload({ "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": keyArn.replace(/key\/.*$/, "key/another") })).toBe(
      "explicit-deny",
    );
    expect(upload({ "s3:x-amz-server-side-encryption-customer-algorithm": "AES256" })).toBe("explicit-deny");
  });

  // S3 User Guide, "Amazon S3 condition key examples", Example 8: s3:TlsVersion with NumericLessThan 1.2.
  test("requests over TLS older than 1.2, or without TLS, are refused to everyone", async () => {
    const { policy, request } = await bucketPolicy();
    for (const principal of [who.breakGlass, who.backupRole]) {
      expect(decide(policy, request(principal, "s3:GetObject", undefined, { "s3:TlsVersion": "1.1" }))).toBe("explicit-deny");
      expect(decide(policy, request(principal, "s3:GetObject", undefined, { "aws:SecureTransport": "false" }))).toBe("explicit-deny");
      expect(decide(policy, request(principal, "s3:GetObject", undefined, { "s3:TlsVersion": "1.2" }))).toBe("implicit-deny");
    }
  });

  describe.each([
    ["backup key", "drstack:storage:BackupStorage"],
    ["data key", "drstack:keys:SiteDataKey"],
  ])("the %s", (_, component) => {
    async function key() {
      const evaluation = await run();
      const keys = within(evaluation, component);
      const resource = single(keys, T.key);
      return { keys, resource, policy: parsePolicy(resource.inputs.policy), arn: `arn:aws:kms:${evaluation.config[`drstack:${stack}Region`]}:${ACCOUNT}:key/${resource.name}-key-id` };
    }

    test("is protected, retained on delete, and so is its alias", async () => {
      const { keys } = await key();
      for (const type of [T.key, T.alias]) {
        const { protect, retainOnDelete } = single(keys, type);
        expect({ type, protect, retainOnDelete }).toEqual({ type, protect: true, retainOnDelete: true });
      }
    });

    test("no one but the break-glass role can delete, disable or re-police it, stop its rotation or move its alias", async () => {
      const { policy, arn } = await key();
      for (const action of PROTECTED_KEY_ACTIONS) {
        for (const principal of who.others) {
          expect({ principal, action, decision: decide(policy, { principal, action, resource: arn }) }).toEqual({ principal, action, decision: "explicit-deny" });
        }
        expect({ action, decision: decide(policy, { principal: who.breakGlass, action, resource: arn }) }).toEqual({ action, decision: "allow" });
      }
    });

    test("the account's IAM policies still govern its use; other accounts get nothing", async () => {
      const { policy, arn } = await key();
      for (const action of ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:CreateGrant", "kms:DescribeKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy"]) {
        expect({ action, decision: decide(policy, { principal: who.backupRole, action, resource: arn }) }).toEqual({ action, decision: "allow" });
      }
      expect(decide(policy, { principal: "arn:aws:iam::210987654321:root", action: "kms:Decrypt", resource: arn })).toBe("implicit-deny");
    });

    // AWS KMS API Reference, CreateKey/PutKeyPolicy BypassPolicyLockoutSafetyCheck: KMS refuses a policy that would
    // deny the calling principal a later PutKeyPolicy unless the check is bypassed, which AWS documents for exactly
    // the intent of denying the caller PutKeyPolicy. The deploy role is denied it, so the bypass is on; it is safe only
    // because the break-glass role keeps PutKeyPolicy through the key policy itself, whatever IAM grants it.
    test("is created past KMS's lockout check, and stays manageable: the key policy alone lets the break-glass role re-police it", async () => {
      const { resource, policy, arn } = await key();
      expect(resource.inputs.bypassPolicyLockoutSafetyCheck).toBe(true);
      const withoutIamDelegation = policy.filter((statement) => JSON.stringify(statement.Principal) !== JSON.stringify({ AWS: `arn:aws:iam::${ACCOUNT}:root` }));
      for (const action of ["kms:PutKeyPolicy", "kms:CancelKeyDeletion", "kms:EnableKey"]) {
        expect({ action, decision: decide(withoutIamDelegation, { principal: who.breakGlass, action, resource: arn }) }).toEqual({ action, decision: "allow" });
      }
      expect(decide(policy, { principal: who.others[0], action: "kms:PutKeyPolicy", resource: arn })).toBe("explicit-deny");
    });
  });
});

describe("COMPLIANCE per data class", () => {
  test("financial/ is COMPLIANCE-locked by default, every other class keeps the bucket default", () => {
    const classes = parseConfig(declaredDefaults(), "primary").dataClasses;
    expect(Object.fromEntries(classes.map((c) => [c.name, c.objectLockMode ?? "bucket default"]))).toEqual({
      db: "bucket default",
      critical: "bucket default",
      archive: "bucket default",
      financial: "COMPLIANCE",
    });
  });

  test("the backup job of a locked class is told its mode and retention; the verifier which classes must be COMPLIANCE", async () => {
    const evaluation = await evaluateStack("primary");
    const envOf = (name: string) => (resourcesOfType(evaluation, T.fn).find((f) => f.name === name)?.inputs.environment as { variables: Record<string, string> }).variables;
    expect(envOf("primary-backup-jobs-backup-ledger")).toMatchObject({ BACKUP_DATA_CLASS: "financial", BACKUP_OBJECT_LOCK_MODE: "COMPLIANCE", BACKUP_OBJECT_LOCK_DAYS: "2557" });
    expect(envOf("primary-backup-jobs-backup-shop")).not.toHaveProperty("BACKUP_OBJECT_LOCK_MODE");
    expect(envOf("primary-backup-jobs-verify")).toMatchObject({ COMPLIANCE_CLASSES: "financial:2557" });
  });

  test("a class's mode and retention follow config", async () => {
    const evaluation = await evaluateStack("primary", { dbObjectLockMode: "GOVERNANCE", dbRetentionDays: "45", financialObjectLockMode: "" });
    const envOf = (name: string) => (resourcesOfType(evaluation, T.fn).find((f) => f.name === name)?.inputs.environment as { variables: Record<string, string> }).variables;
    expect(envOf("primary-backup-jobs-backup-shop")).toMatchObject({ BACKUP_OBJECT_LOCK_MODE: "GOVERNANCE", BACKUP_OBJECT_LOCK_DAYS: "45" });
    expect(envOf("primary-backup-jobs-backup-ledger")).not.toHaveProperty("BACKUP_OBJECT_LOCK_MODE");
    expect(envOf("primary-backup-jobs-verify")).not.toHaveProperty("COMPLIANCE_CLASSES");
  });

  test("the handlers read the lock settings under the names the infrastructure sets", async () => {
    const env = new Set(Object.values(SETTINGS).map((setting) => setting.env));
    for (const name of [HANDLER_ENV.objectLockMode, HANDLER_ENV.objectLockDays, HANDLER_ENV.complianceClasses]) {
      expect({ name, read: env.has(name) }).toEqual({ name, read: true });
    }
    const base = { BACKUP_BUCKET: "b", DATABASE_URL: "postgres://u:p@db:5432/ledger", BACKUP_TIER: "standard", BACKUP_DATA_CLASS: "financial" };
    expect((await backupOptions(new Settings({}, { ...base, [HANDLER_ENV.objectLockMode]: "COMPLIANCE", [HANDLER_ENV.objectLockDays]: "2557" }))).objectLock).toEqual({ mode: "COMPLIANCE", days: 2557 });
    expect((await backupOptions(new Settings({}, base))).objectLock).toBeUndefined();
    await expect(backupOptions(new Settings({}, { ...base, [HANDLER_ENV.objectLockMode]: "COMPLIANCE" }))).rejects.toThrow(/--object-lock-mode \/ BACKUP_OBJECT_LOCK_MODE and --object-lock-days \/ BACKUP_OBJECT_LOCK_DAYS go together/);
    await expect(backupOptions(new Settings({}, { ...base, [HANDLER_ENV.objectLockMode]: "LEGAL", [HANDLER_ENV.objectLockDays]: "1" }))).rejects.toThrow(/must be GOVERNANCE or COMPLIANCE/);
    const verify = { BACKUP_BUCKET: "b", BACKUP_TARGETS: "ledger:standard:financial" };
    expect(verifyOptions(new Settings({}, { ...verify, [HANDLER_ENV.complianceClasses]: "financial:2557" })).complianceClasses).toEqual({ financial: 2557 });
    expect(() => verifyOptions(new Settings({}, { ...verify, [HANDLER_ENV.complianceClasses]: "financial" }))).toThrow(/"financial" is not class:retentionDays/);
  });

  test.each([
    ["financialObjectLockMode", { financialObjectLockMode: "STRICT" }, /financialObjectLockMode = "STRICT": must be GOVERNANCE, COMPLIANCE or empty/],
    [
      "a class weakening a COMPLIANCE bucket",
      { objectLockMode: "COMPLIANCE", dbObjectLockMode: "GOVERNANCE" },
      /dbObjectLockMode = "GOVERNANCE": is GOVERNANCE while objectLockMode is COMPLIANCE.*Fix: pulumi -s primary config set dbObjectLockMode COMPLIANCE/,
    ],
  ])("%s is rejected with the fix", (_, overrides, message) => {
    expect(problemsOf({ ...declaredDefaults(), ...overrides })).toMatch(message);
  });
});

describe("breakGlassRoleArn", () => {
  test.each([
    ["", /breakGlassRoleArn = "": is not set; it names the one IAM role.*Fix: create the role first .*pulumi -s primary config set breakGlassRoleArn arn:aws:iam::123456789012:role\/drstack-break-glass/],
    ["drstack-break-glass", /breakGlassRoleArn = "drstack-break-glass": is not an IAM role ARN/],
    ["arn:aws:iam::123456789012:user/admin", /is not an IAM role ARN/],
    ["arn:aws:sts::123456789012:assumed-role/drstack-break-glass/alice", /is a role session \(sts assumed-role\), not the role/],
  ])("%j is rejected, naming the key and the fix", (value, message) => {
    expect(problemsOf({ ...declaredDefaults(), breakGlassRoleArn: value })).toMatch(message);
  });

  test("a role ARN with a path is accepted as it is, because aws:PrincipalArn carries the path", () => {
    const arn = "arn:aws:iam::123456789012:role/security/drstack-break-glass";
    expect(parseConfig({ ...declaredDefaults(), breakGlassRoleArn: arn }, "primary").breakGlassRoleArn).toBe(arn);
  });

  test("both example stack files name one", async () => {
    for (const stack of ["primary", "secondary"]) {
      expect((await evaluateStack(stack)).config["drstack:breakGlassRoleArn"]).toMatch(/^arn:aws:iam::\d{12}:role\//);
    }
  });
});
