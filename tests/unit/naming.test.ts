import { parseConfig } from "../../infra/config";
import { boundedNames, maxNamePrefixLength } from "../../infra/naming";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { evaluate } from "./evaluations";

jest.setTimeout(120_000);

/**
 * AWS's limits on the names drstack sets itself, by resource type and input,
 * each from the service's own reference (the program's table in
 * infra/naming.ts is checked against this one, not the other way round).
 */
const LIMITS: Record<string, { input: string; limit: number; source: string }> = {
  "aws:s3/bucket:Bucket": { input: "bucket", limit: 63, source: "S3 User Guide, Bucket naming rules: 3-63 characters" },
  "aws:elasticache/replicationGroup:ReplicationGroup": { input: "replicationGroupId", limit: 40, source: "ElastiCache CreateReplicationGroup: ReplicationGroupId 1-40 characters" },
  "aws:elasticache/subnetGroup:SubnetGroup": { input: "name", limit: 255, source: "ElastiCache CreateCacheSubnetGroup: 255 characters" },
  "aws:iam/role:Role": { input: "name", limit: 64, source: "IAM User Guide, IAM and AWS STS quotas: role name 64 characters" },
  "aws:lambda/function:Function": { input: "name", limit: 64, source: "Lambda CreateFunction: FunctionName 64 characters (name only)" },
  "aws:rds/instance:Instance": { input: "identifier", limit: 63, source: "RDS CreateDBInstance: DBInstanceIdentifier 1-63 characters" },
  "aws:rds/subnetGroup:SubnetGroup": { input: "name", limit: 255, source: "RDS CreateDBSubnetGroup: 255 characters" },
  "aws:cloudwatch/metricAlarm:MetricAlarm": { input: "name", limit: 255, source: "CloudWatch PutMetricAlarm: AlarmName 255 characters" },
  "aws:kms/alias:Alias": { input: "name", limit: 256, source: "KMS CreateAlias: AliasName 256 characters" },
  "aws:secretsmanager/secret:Secret": { input: "name", limit: 512, source: "Secrets Manager CreateSecret: Name 512 characters" },
  "aws:scheduler/schedule:Schedule": { input: "name", limit: 64, source: "EventBridge Scheduler CreateSchedule: Name 64 characters" },
};

describe("names derived from namePrefix fit AWS's limits", () => {
  const regions = ["us-west-2", "us-east-1"];
  const longest = maxNamePrefixLength(regions);

  test("the cache's 40-character replication group ID binds first for the example regions", () => {
    expect(longest).toBe(40 - "-secondary-cache".length);
    for (const { name, limit, what } of boundedNames("x".repeat(longest), regions)) {
      expect({ what, name, fits: name.length <= limit }).toEqual({ what, name, fits: true });
    }
  });

  test("config refuses one character more, naming the key and the limit", () => {
    expect(problemsOf({ ...declaredDefaults(), namePrefix: "a".repeat(longest + 1) })).toMatch(new RegExp(`namePrefix = "a{${longest + 1}}": must be 1-${longest} lowercase`));
    expect(() => parseConfig({ ...declaredDefaults(), namePrefix: "a".repeat(longest) }, "primary")).not.toThrow();
  });

  test.each(["primary", "secondary"])("every name the %s stack sets at the longest prefix fits its type's limit", async (stack) => {
    const namePrefix = `p${"a".repeat(longest - 1)}`;
    const evaluation = await evaluate(stack, { namePrefix });
    let checked = 0;
    for (const resource of evaluation.resources) {
      const rule = LIMITS[resource.type];
      const name = rule ? resource.inputs[rule.input] : undefined;
      if (typeof name !== "string" || !name.includes(namePrefix)) continue;
      checked++;
      expect({ type: resource.type, name, source: rule.source, fits: name.length <= rule.limit }).toEqual({ type: resource.type, name, source: rule.source, fits: true });
    }
    expect(checked).toBeGreaterThan(10);
  });
});
