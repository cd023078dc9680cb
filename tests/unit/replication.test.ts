import { needsReplicationTimeControl } from "../../infra/replication";
import { asArray, evaluate, parsePolicy, resourcesOfType, single, STACK_CASES, within } from "./evaluations";

const REPLICATION = "drstack:replication:CrossRegionReplication";

const T = {
  rules: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  role: "aws:iam/role:Role",
  policy: "aws:iam/rolePolicy:RolePolicy",
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
    metrics?: { status: string; eventThreshold: { minutes: number } };
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

describe.each(STACK_CASES)("replication from $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const peer = stack === "primary" ? "secondary" : "primary";
  const run = () => evaluate(stack, { activeSite });

  async function rulesAndPeer() {
    const evaluation = await run();
    const peerRegion = evaluation.config[`drstack:${peer}Region`];
    const config = single(evaluation, T.rules).inputs;
    return { evaluation, peerRegion, config, rules: config.rules as ReplicationRule[] };
  }

  test("replicates every data class from this site's bucket into the peer's, by prefix", async () => {
    const { evaluation, config, rules } = await rulesAndPeer();
    expect(config.bucket).toBe(evaluation.outputs.backupBucketName);
    expect(rules.map((r) => r.filter.prefix).sort()).toEqual(["archive/", "critical/", "db/", "financial/"]);
    expect(new Set(rules.map((r) => r.priority)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(rule.status).toBe("Enabled");
      expect(rule.destination.bucket).toBe(`arn:aws:s3:::${evaluation.outputs.peerBackupBucketName}`);
    }
  });

  test("re-encrypts replicas with the peer region's own key, named by its alias", async () => {
    const { rules, peerRegion } = await rulesAndPeer();
    for (const rule of rules) {
      expect(rule.sourceSelectionCriteria.sseKmsEncryptedObjects.status).toBe("Enabled");
      expect(rule.destination.encryptionConfiguration.replicaKmsKeyId).toBe(
        `arn:aws:kms:${peerRegion}:123456789012:alias/acme-shop-dr-backups-${peer}`,
      );
    }
  });

  test("does not replicate delete markers, and syncs replica modifications back", async () => {
    const { rules } = await rulesAndPeer();
    for (const rule of rules) {
      expect(rule.deleteMarkerReplication.status).toBe("Disabled");
      expect(rule.sourceSelectionCriteria.replicaModifications.status).toBe("Enabled");
    }
  });

  test("uses Replication Time Control and metrics exactly for the classes whose tier RPO needs it", async () => {
    const { rules } = await rulesAndPeer();
    const controlled = rules.filter((r) => r.destination.replicationTime).map((r) => r.id).sort();
    expect(controlled).toEqual(["replicate-critical", "replicate-db", "replicate-financial"]);
    for (const rule of rules) {
      if (rule.destination.replicationTime) {
        expect(rule.destination.replicationTime).toEqual({ status: "Enabled", time: { minutes: 15 } });
        expect(rule.destination.metrics).toEqual({ status: "Enabled", eventThreshold: { minutes: 15 } });
      } else {
        expect(rule.destination.metrics).toBeUndefined();
      }
    }
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
        StringEquals: { "aws:SourceAccount": "123456789012" },
        ArnLike: { "aws:SourceArn": evaluation.outputs.backupBucketArn },
      },
    });
    expect(single(evaluation, T.rules).inputs.role).toBe(`arn:aws:iam::123456789012:role/${role.inputs.name}`);
  });

  test("the role's permissions are scoped to the two named buckets and keys, with no wildcard actions", async () => {
    const { evaluation, peerRegion } = await rulesAndPeer();
    const sourceBucket = evaluation.outputs.backupBucketArn as string;
    const peerBucket = `arn:aws:s3:::${evaluation.outputs.peerBackupBucketName}`;
    const peerKeys = `arn:aws:kms:${peerRegion}:123456789012:key/*`;
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
    expect(actions).toEqual(expect.arrayContaining(["s3:ReplicateObject", "s3:GetObjectRetention", "kms:Decrypt", "kms:Encrypt"]));
    const objectWrites = statements.find((s) => asArray(s.Action).includes("s3:ReplicateObject"));
    expect(objectWrites?.Resource).toBe(`${peerBucket}/*`);
  });
});

describe("replication follows the tiers in config", () => {
  test("a tier whose RPO tolerates unbounded replication gets no RTC, a tighter one does", async () => {
    expect(needsReplicationTimeControl(24 * 60)).toBe(false);
    expect(needsReplicationTimeControl(24 * 60 - 1)).toBe(true);
    const evaluation = await evaluate("primary", { archiveTier: "critical", financialTier: "low" });
    const rules = single(evaluation, T.rules).inputs.rules as ReplicationRule[];
    const controlled = rules.filter((r) => r.destination.replicationTime).map((r) => r.id).sort();
    expect(controlled).toEqual(["replicate-archive", "replicate-critical", "replicate-db"]);
  });

  test("no replication resources exist while the peer is not provisioned", async () => {
    const evaluation = await evaluate("secondary", { peerProvisioned: "false" });
    expect(resourcesOfType(evaluation, REPLICATION)).toEqual([]);
    for (const type of Object.values(T)) {
      expect(resourcesOfType(within(evaluation, REPLICATION), type)).toEqual([]);
    }
    expect(resourcesOfType(evaluation, T.rules)).toEqual([]);
  });
});
