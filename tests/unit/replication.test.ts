import { needsReplicationTimeControl } from "../../infra/replication";
import { asArray, evaluate, parsePolicy, resourcesOfType, single, STACK_CASES, within } from "./evaluations";
import { decide, PolicyRequest } from "./policyEvaluation";

jest.setTimeout(60_000);

// Each evaluation of the program takes seconds; several in one test outgrow jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

// Each test evaluates the program with the mock runtime, up to four stacks (the active secondary beside its standby past); allow for a slow machine.
jest.setTimeout(60_000);

const REPLICATION = "drstack:replication:CrossRegionReplication";
const INBOUND = "drstack:replication:InboundReplicationAlarms";
const ACCOUNT = "123456789012";

const T = {
  rules: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  role: "aws:iam/role:Role",
  policy: "aws:iam/rolePolicy:RolePolicy",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  bucket: "aws:s3/bucket:Bucket",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
};

interface ReplicationRule {
  id: string;
  priority: number;
  status: string;
  filter: { prefix: string };
  deleteMarkerReplication: { status: string };
  sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: string }; replicaModifications: { status: string } };
  destination: {
    bucket: string;
    encryptionConfiguration: { replicaKmsKeyId: string };
    replicationTime?: { status: string; time: { minutes: number } };
    metrics?: { status: string; eventThreshold?: { minutes: number } };
  };
}

const ALLOWED_REPLICATION_ACTIONS = new Set([
  "s3:GetReplicationConfiguration",
  "s3:ListBucket",
  "s3:GetObjectVersionForReplication",
  "s3:GetObjectVersionAcl",
  "s3:GetObjectVersionTagging",
  "s3:GetObjectRetention",
  "s3:GetObjectLegalHold",
  "s3:ReplicateObject",
  "s3:ReplicateTags",
  "kms:Decrypt",
  "kms:Encrypt",
  "kms:GenerateDataKey",
]);

const peerOf = (stack: string) => (stack === "primary" ? "secondary" : "primary");

describe.each(STACK_CASES)("replication from $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const peer = peerOf(stack);
  const run = () => evaluate(stack, { activeSite });

  async function rulesAndPeer() {
    const evaluation = await run();
    const region = evaluation.config[`drstack:${stack}Region`];
    const peerRegion = evaluation.config[`drstack:${peer}Region`];
    const config = single(evaluation, T.rules).inputs;
    return { evaluation, region, peerRegion, config, rules: config.rules as ReplicationRule[] };
  }

  test("replicates every data class from this site's bucket into the peer's, by prefix", async () => {
    const { evaluation, config, rules } = await rulesAndPeer();
    expect(config.bucket).toBe(evaluation.outputs.backupBucketName);
    expect(rules.map((r) => r.filter.prefix).sort()).toEqual(["archive/", "critical/", "db/", "financial/"]);
    for (const rule of rules) {
      expect(rule.status).toBe("Enabled");
      expect(rule.destination.bucket).toBe(`arn:aws:s3:::${evaluation.outputs.peerBackupBucketName}`);
    }
  });

  // Provider reference (website/docs/r/s3_bucket_replication_configuration.html.markdown): delete_marker_replication is
  // valid only in V2 configurations, i.e. rules with `filter`; priority must be unique between rules.
  test("every rule is a V2 rule (filter beside deleteMarkerReplication) with its own priority", async () => {
    const { rules } = await rulesAndPeer();
    for (const rule of rules) {
      expect(rule.filter).toEqual({ prefix: expect.any(String) });
      expect(rule.deleteMarkerReplication).toEqual({ status: expect.any(String) });
    }
    expect(new Set(rules.map((r) => r.priority)).size).toBe(rules.length);
  });

  // Provider reference: sse_kms_encrypted_objects requires destination.encryption_configuration.replica_kms_key_id;
  // S3 User Guide "Replicating encrypted objects": SSE-KMS objects replicate only when SseKmsEncryptedObjects is Enabled.
  // CloudFormation EncryptionConfiguration reference: an alias ARN is resolved in the requester's account, which is
  // this account (both buckets and the replication role live in it).
  test("re-encrypts replicas with the peer region's own key, named by its alias ARN in this account", async () => {
    const { rules, peerRegion } = await rulesAndPeer();
    for (const rule of rules) {
      expect(rule.sourceSelectionCriteria.sseKmsEncryptedObjects.status).toBe("Enabled");
      expect(rule.destination.encryptionConfiguration.replicaKmsKeyId).toBe(`arn:aws:kms:${peerRegion}:${ACCOUNT}:alias/acme-shop-dr-backups-${peer}`);
    }
  });

  test("does not replicate delete markers, and syncs replica modifications back", async () => {
    const { rules } = await rulesAndPeer();
    for (const rule of rules) {
      expect(rule.deleteMarkerReplication.status).toBe("Disabled");
      expect(rule.sourceSelectionCriteria.replicaModifications.status).toBe("Enabled");
    }
  });

  // Provider reference: replication_time "must be used in conjunction with metrics"; event_threshold and time take 15.
  // S3 User Guide "Using S3 Replication metrics": metrics can be enabled independently of RTC; S3 rejects an event
  // threshold without RTC ("Metrics cannot contain an event threshold when ReplicationTime is not specified or Disabled",
  // pulumi/pulumi-aws#5806, crossplane-contrib/provider-aws#1117).
  test("uses RTC exactly for the classes whose tier RPO needs it; every rule has metrics, a threshold only with RTC", async () => {
    const { rules } = await rulesAndPeer();
    const controlled = rules.filter((r) => r.destination.replicationTime).map((r) => r.id).sort();
    expect(controlled).toEqual(["replicate-critical", "replicate-db", "replicate-financial"]);
    for (const rule of rules) {
      if (rule.destination.replicationTime) {
        expect(rule.destination.replicationTime).toEqual({ status: "Enabled", time: { minutes: 15 } });
        expect(rule.destination.metrics).toEqual({ status: "Enabled", eventThreshold: { minutes: 15 } });
      } else {
        expect(rule.destination.metrics).toEqual({ status: "Enabled" });
      }
    }
  });

  // S3 User Guide "Replicating objects": versioning must be enabled on source and destination; the provider retries
  // PutBucketReplication on "Versioning must be 'Enabled' on the bucket" only for the source, so it is ordered after it.
  test("is declared after the source's versioning and the role's permissions", async () => {
    const { evaluation } = await rulesAndPeer();
    expect(single(evaluation, T.rules).dependsOn).toEqual(
      expect.arrayContaining([`${T.versioning}::${stack}-backups-versioning`, `${T.policy}::${stack}-to-${peer}-permissions`]),
    );
  });

  test("the replication role can be assumed only by S3 for this account and this bucket", async () => {
    const { evaluation } = await rulesAndPeer();
    const role = single(within(evaluation, REPLICATION), T.role);
    expect(role.inputs.name).toBe(`acme-shop-dr-replicate-${stack}-to-${peer}`);
    const [trust] = parsePolicy(role.inputs.assumeRolePolicy);
    expect(trust).toMatchObject({
      Effect: "Allow",
      Principal: { Service: "s3.amazonaws.com" },
      Action: "sts:AssumeRole",
      Condition: {
        StringEquals: { "aws:SourceAccount": ACCOUNT },
        ArnLike: { "aws:SourceArn": evaluation.outputs.backupBucketArn },
      },
    });
    expect(single(evaluation, T.rules).inputs.role).toBe(`arn:aws:iam::${ACCOUNT}:role/${role.inputs.name}`);
  });

  test("the role's permissions are scoped to the two named buckets and keys, with no wildcard actions", async () => {
    const { evaluation, peerRegion } = await rulesAndPeer();
    const sourceBucket = evaluation.outputs.backupBucketArn as string;
    const peerBucket = `arn:aws:s3:::${evaluation.outputs.peerBackupBucketName}`;
    const peerKeys = `arn:aws:kms:${peerRegion}:${ACCOUNT}:key/*`;
    const statements = parsePolicy(single(within(evaluation, REPLICATION), T.policy).inputs.policy);
    const allowedResources = new Set([sourceBucket, `${sourceBucket}/*`, `${peerBucket}/*`, evaluation.outputs.backupKeyArn, peerKeys]);

    for (const statement of statements) {
      expect(statement.Effect).toBe("Allow");
      for (const action of asArray(statement.Action)) {
        expect(action).not.toContain("*");
        expect(ALLOWED_REPLICATION_ACTIONS.has(action)).toBe(true);
      }
      for (const resource of asArray(statement.Resource)) {
        expect(allowedResources.has(resource)).toBe(true);
      }
      if (asArray(statement.Resource).includes(peerKeys)) {
        expect(statement.Condition?.["ForAnyValue:StringEquals"]).toEqual({ "kms:ResourceAliases": `alias/acme-shop-dr-backups-${peer}` });
      }
    }
    const actions = statements.flatMap((s) => asArray(s.Action));
    expect(actions).not.toContain("s3:ReplicateDelete");
    const objectWrites = statements.find((s) => asArray(s.Action).includes("s3:ReplicateObject"));
    expect(objectWrites?.Resource).toBe(`${peerBucket}/*`);
  });

  // S3 User Guide "Using Object Lock with replication": the role needs s3:GetObjectRetention and
  // s3:GetObjectLegalHold on the source; replicating from a lock-enabled bucket needs a lock-enabled destination
  // (replication failure reason DstBucketObjectLockConfigMissing); lock enabled at bucket creation needs no token.
  test("Object Lock replicates: retention permissions on the source, lock-enabled buckets on both sides, no token", async () => {
    const { evaluation } = await rulesAndPeer();
    const policy = parsePolicy(single(within(evaluation, REPLICATION), T.policy).inputs.policy);
    const sourceObject = `${evaluation.outputs.backupBucketArn as string}/financial/ledger/latest.json`;
    const role = `arn:aws:iam::${ACCOUNT}:role/acme-shop-dr-replicate-${stack}-to-${peer}`;
    for (const action of ["s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:GetObjectVersionForReplication"]) {
      expect({ action, decision: decide(policy, { principal: role, action, resource: sourceObject }) }).toEqual({ action, decision: "allow" });
    }
    expect(single(evaluation, T.rules).inputs.token).toBeUndefined();
    const peerEvaluation = await evaluate(peer, { activeSite });
    for (const site of [evaluation, peerEvaluation]) {
      expect(single(site, T.bucket).inputs.objectLockEnabled).toBe(true);
      expect(single(site, T.versioning).inputs.versioningConfiguration).toEqual({ status: "Enabled" });
    }
    expect(single(peerEvaluation, T.bucket).inputs.bucket).toBe(evaluation.outputs.peerBackupBucketName);
  });

  // S3 User Guide "Replicating metadata changes with Amazon S3 replica modification sync": the bucket holding the
  // replicas needs its own rule back to the source, and replica modification sync must be enabled on both buckets.
  test("replica modification sync has its other direction: the peer replicates the same prefixes back, synced too", async () => {
    const { evaluation, rules } = await rulesAndPeer();
    const back = (single(await evaluate(peer, { activeSite }), T.rules).inputs.rules as ReplicationRule[]).filter(
      (r) => r.status === "Enabled" && r.destination.bucket === evaluation.outputs.backupBucketArn && r.sourceSelectionCriteria.replicaModifications.status === "Enabled",
    );
    for (const rule of rules.filter((r) => r.sourceSelectionCriteria.replicaModifications.status === "Enabled")) {
      expect({ prefix: rule.filter.prefix, back: back.some((b) => b.filter.prefix === rule.filter.prefix) }).toEqual({ prefix: rule.filter.prefix, back: true });
    }
  });

  /**
   * The KMS requests S3 makes while replicating, as the S3 User Guide ("Replicating encrypted objects", Amazon S3
   * Bucket Keys and replication) describes them: with a Bucket Key the encryption context `aws:s3:arn` is the bucket
   * ARN, otherwise the object ARN; at a destination with a Bucket Key S3 also calls Decrypt to verify it.
   */
  describe("the role's KMS permissions match the encryption context S3 sends", () => {
    async function kmsCases() {
      const { evaluation, region, peerRegion } = await rulesAndPeer();
      const policy = parsePolicy(single(within(evaluation, REPLICATION), T.policy).inputs.policy);
      const role = `arn:aws:iam::${ACCOUNT}:role/acme-shop-dr-replicate-${stack}-to-${peer}`;
      const sourceBucket = evaluation.outputs.backupBucketArn as string;
      const peerBucket = `arn:aws:s3:::${evaluation.outputs.peerBackupBucketName}`;
      const object = "financial/ledger/2026/11/23/20261123T020000Z-0123456789ab.dump";
      const peerKey = `arn:aws:kms:${peerRegion}:${ACCOUNT}:key/${peer}-backups-key-key-id`;
      const source = (context: string, action = "kms:Decrypt"): PolicyRequest => ({
        principal: role,
        action,
        resource: evaluation.outputs.backupKeyArn as string,
        context: { "kms:ViaService": `s3.${region}.amazonaws.com`, "kms:EncryptionContext:aws:s3:arn": context },
      });
      const destination = (action: string, context: string, overrides: Record<string, string | string[]> = {}): PolicyRequest => ({
        principal: role,
        action,
        resource: peerKey,
        context: {
          "kms:ViaService": `s3.${peerRegion}.amazonaws.com`,
          "kms:ResourceAliases": [`alias/acme-shop-dr-backups-${peer}`],
          "kms:EncryptionContext:aws:s3:arn": context,
          ...overrides,
        },
      });
      return { policy, source, destination, sourceBucket, peerBucket, object, peerRegion };
    }

    test("decrypting source objects with a Bucket Key (context: the bucket ARN) and without one (the object ARN)", async () => {
      const { policy, source, sourceBucket, object } = await kmsCases();
      expect(decide(policy, source(sourceBucket))).toBe("allow");
      expect(decide(policy, source(`${sourceBucket}/${object}`))).toBe("allow");
    });

    test("encrypting replicas in the peer bucket, with and without a Bucket Key, and verifying the Bucket Key", async () => {
      const { policy, destination, peerBucket, object } = await kmsCases();
      for (const action of ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]) {
        for (const context of [peerBucket, `${peerBucket}/${object}`]) {
          expect({ action, context, decision: decide(policy, destination(action, context)) }).toEqual({ action, context, decision: "allow" });
        }
      }
    });

    test("nothing else: another bucket's context, another key, another region's S3, or a direct call", async () => {
      const { policy, source, destination, peerBucket, sourceBucket, peerRegion } = await kmsCases();
      expect(decide(policy, source("arn:aws:s3:::someone-elses-bucket"))).toBe("implicit-deny");
      expect(decide(policy, source(sourceBucket, "kms:Encrypt"))).toBe("implicit-deny");
      expect(decide(policy, destination("kms:Encrypt", "arn:aws:s3:::someone-elses-bucket"))).toBe("implicit-deny");
      expect(decide(policy, destination("kms:Encrypt", peerBucket, { "kms:ResourceAliases": ["alias/another-key"] }))).toBe("implicit-deny");
      expect(decide(policy, destination("kms:Encrypt", peerBucket, { "kms:ViaService": `s3.${peerRegion === "us-east-1" ? "eu-west-1" : "us-east-1"}.amazonaws.com` }))).toBe(
        "implicit-deny",
      );
      const direct = destination("kms:Decrypt", peerBucket);
      delete direct.context?.["kms:ViaService"];
      expect(decide(policy, direct)).toBe("implicit-deny");
    });
  });

  // S3 User Guide "Using S3 Replication metrics": OperationsFailedReplication is published in the source bucket's
  // Region, ReplicationLatency in the destination bucket's. "Metrics and dimensions": namespace AWS/S3, dimensions
  // SourceBucket, DestinationBucket (bucket names) and RuleId; AWS recommends treating missing data as ignore.
  describe("replication alarms notify the site's topic, each in the region S3 publishes the metric in", () => {
    test("failed replication of every rule alarms in the source's region, on this direction's rules", async () => {
      const { evaluation, rules } = await rulesAndPeer();
      const alarms = resourcesOfType(within(evaluation, REPLICATION), T.alarm);
      expect(alarms.map((a) => (a.inputs.dimensions as Record<string, string>).RuleId).sort()).toEqual(rules.map((r) => r.id).sort());
      const bucketProvider = single(evaluation, T.bucket).provider;
      for (const alarm of alarms) {
        expect(alarm.provider).toBe(bucketProvider);
        expect(alarm.inputs).toMatchObject({
          namespace: "AWS/S3",
          metricName: "OperationsFailedReplication",
          dimensions: { SourceBucket: evaluation.outputs.backupBucketName, DestinationBucket: evaluation.outputs.peerBackupBucketName },
          statistic: "Sum",
          comparisonOperator: "GreaterThanOrEqualToThreshold",
          threshold: 1,
          treatMissingData: "ignore",
          alarmActions: [evaluation.outputs.alarmTopicArn],
          okActions: [evaluation.outputs.alarmTopicArn],
        });
      }
    });

    test("replication latency past RTC's 15 minutes alarms in the destination's region, for each RTC rule of the peer's direction", async () => {
      const { evaluation } = await rulesAndPeer();
      const peerEvaluation = await evaluate(peer, { activeSite });
      const peerRtcRules = (single(peerEvaluation, T.rules).inputs.rules as ReplicationRule[]).filter((r) => r.destination.replicationTime).map((r) => r.id);
      const alarms = resourcesOfType(within(evaluation, INBOUND), T.alarm);
      expect(alarms.map((a) => (a.inputs.dimensions as Record<string, string>).RuleId).sort()).toEqual(peerRtcRules.sort());
      const bucketProvider = single(evaluation, T.bucket).provider;
      for (const alarm of alarms) {
        expect(alarm.provider).toBe(bucketProvider);
        expect(alarm.inputs).toMatchObject({
          namespace: "AWS/S3",
          metricName: "ReplicationLatency",
          dimensions: { SourceBucket: peerEvaluation.outputs.backupBucketName, DestinationBucket: evaluation.outputs.backupBucketName },
          statistic: "Maximum",
          comparisonOperator: "GreaterThanThreshold",
          threshold: 15 * 60,
          treatMissingData: "ignore",
          alarmActions: [evaluation.outputs.alarmTopicArn],
          okActions: [evaluation.outputs.alarmTopicArn],
        });
      }
    });
  });
});

describe("replication follows the tiers in config", () => {
  test("a tier whose RPO tolerates unbounded replication gets no RTC, a tighter one does", async () => {
    expect(needsReplicationTimeControl(24 * 60)).toBe(false);
    expect(needsReplicationTimeControl(24 * 60 - 1)).toBe(true);
    // archive/ in the critical tier cannot meet its 5 min RPO (backups + RTC); this test is about RTC, so warn.
    const evaluation = await evaluate("primary", { archiveTier: "critical", financialTier: "low", objectivesEnforcement: "warn" });
    const rules = single(evaluation, T.rules).inputs.rules as ReplicationRule[];
    const controlled = rules.filter((r) => r.destination.replicationTime).map((r) => r.id).sort();
    expect(controlled).toEqual(["replicate-archive", "replicate-critical", "replicate-db"]);
    const latency = resourcesOfType(within(evaluation, INBOUND), T.alarm).map((a) => (a.inputs.dimensions as Record<string, string>).RuleId).sort();
    expect(latency).toEqual(controlled);
  });

  test("no replication resources or replication alarms exist while the peer is not provisioned", async () => {
    const evaluation = await evaluate("secondary", { peerProvisioned: "false" });
    expect(resourcesOfType(evaluation, REPLICATION)).toEqual([]);
    expect(resourcesOfType(evaluation, INBOUND)).toEqual([]);
    expect(resourcesOfType(evaluation, T.rules)).toEqual([]);
    expect(resourcesOfType(evaluation, T.alarm).filter((a) => a.inputs.namespace === "AWS/S3")).toEqual([]);
  });
});
