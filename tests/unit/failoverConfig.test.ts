import { parseConfig, RawConfig } from "../../infra/config";
import { readStackConfig } from "../../offline/stackFiles";
import { declaredDefaults, problemsOf as problemsOfStack, schemaFrom } from "./configHelpers";

/** Validation of the failover keys: every error names the key, the bad value and the fix. */

const defaults = () => declaredDefaults("secondary");

/** A valid secondary: the DNS owner needs its zone. */
const SECONDARY = { cloudflareZoneId: "023e105f4ecef8ad9ca31a8372d0c353" };
const ROUTE53 = { dnsProvider: "route53", route53ZoneId: "Z04517273EXAMPLE1XYZ" };

function problemsOf(raw: RawConfig): string {
  return problemsOfStack(raw, "secondary");
}

describe("failover config", () => {
  test("the defaults plus a zone are a valid secondary, and the example stack files are valid", () => {
    const config = parseConfig({ ...defaults(), ...SECONDARY }, "secondary");
    expect(config.dns).toMatchObject({ provider: "cloudflare", ttlSeconds: 60, healthCheck: { path: "/api/health/deep", intervalSeconds: 30, failureThreshold: 3 } });
    expect(config.database.generations).toEqual({ primary: 1, secondary: 1 });
    for (const stack of ["primary", "secondary"]) {
      const values = readStackConfig(stack).values;
      const raw = Object.fromEntries(
        Object.entries(values)
          .filter(([key]) => key.startsWith("drstack:"))
          .map(([key, value]) => [key.slice("drstack:".length), value]),
      );
      expect(parseConfig(raw, stack).site).toBe(stack);
    }
  });

  test("the primary needs no DNS settings: it never declares DNS", () => {
    expect(parseConfig(declaredDefaults("primary"), "primary").dns.cloudflare.zoneId).toBe("");
  });

  test.each([
    ["dnsProvider", "bind", {}, /dnsProvider = "bind": must be one of "cloudflare", "route53". Fix: pulumi -s secondary config set dnsProvider cloudflare/],
    ["dnsTtlSeconds", "300", {}, /dnsTtlSeconds = "300": must be at most 60. Fix: pulumi -s secondary config set dnsTtlSeconds 60; resolvers keep an answer for its TTL/],
    ["dnsTtlSeconds", "0", ROUTE53, /dnsTtlSeconds = "0": must be at least 1/],
    ["dnsTtlSeconds", "20", {}, /dnsTtlSeconds = "20": is below 30, the lowest TTL Cloudflare accepts/],
    ["cloudflareZoneId", "example.com", {}, /cloudflareZoneId = "example.com": must be the 32-hex-character id of the zone/],
    ["route53ZoneId", "example.com", { dnsProvider: "route53" }, /route53ZoneId = "example.com": must be the id of the Route 53 hosted zone/],
    ["cloudflareAccountId", "", { cloudflareLoadBalancer: "true" }, /cloudflareAccountId = "": must be the 32-hex-character Cloudflare account id/],
    ["cloudflareLoadBalancer", "maybe", {}, /cloudflareLoadBalancer = "maybe": must be true or false/],
    ["healthCheckPath", "api/health", {}, /healthCheckPath = "api\/health": must be a URL path that starts with `\/`.*Fix: pulumi -s secondary config set healthCheckPath \/api\/health\/deep/],
    ["healthCheckPath", "/api health", {}, /healthCheckPath = "\/api health": must be a URL path/],
    ["healthCheckIntervalSeconds", "20", ROUTE53, /healthCheckIntervalSeconds = "20": must be one of 10, 30 \(the intervals Route 53 health checks offer\)/],
    ["healthCheckIntervalSeconds", "5", {}, /healthCheckIntervalSeconds = "5": must be at least 10/],
    ["healthCheckFailureThreshold", "0", {}, /healthCheckFailureThreshold = "0": must be at least 1/],
    ["healthCheckFailureThreshold", "11", {}, /healthCheckFailureThreshold = "11": must be at most 10/],
    ["clusterVpcId", "", {}, /clusterVpcId = "": is not set; drstack places the database, cache and backup functions in the VPC of the site's Kubernetes cluster.*Fix: pulumi -s secondary config set clusterVpcId vpc-/],
    ["clusterVpcId", "vpc-12", {}, /clusterVpcId = "vpc-12": is not a VPC id/],
    ["clusterSecurityGroupIds", "[]", {}, /clusterSecurityGroupIds = "\[\]": must list the security groups \(sg-...\) the cluster's pods carry, at least one/],
    ["clusterSecurityGroupIds", '["default"]', {}, /clusterSecurityGroupIds = "\[\\"default\\"\]": must list the security groups/],
    ["dataSubnetCidrs", '["10.0.240.0/24"]', { dataSubnetZoneIds: '["use1-az1"]' }, /dataSubnetCidrs = .*: must list at least two unused IPv4 ranges of clusterVpcId/],
    ["dataSubnetCidrs", '["10.0.240.0/24","10.0.240.128/25"]', {}, /dataSubnetCidrs = .*: entries 0 and 1 overlap/],
    ["dataSubnetCidrs", '["10.0.240.0/29","10.0.241.0/24"]', {}, /dataSubnetCidrs = .*: entry 0 \("10.0.240.0\/29"\) is not an IPv4 CIDR from \/16 to \/28/],
    ["dataSubnetCidrs", '["10.0.240.7/24","10.0.241.0/24"]', {}, /entry 0 \("10.0.240.7\/24"\) is not an IPv4 CIDR from \/16 to \/28 \(AWS's subnet sizes\) on its own boundary/],
    ["dataSubnetZoneIds", '["use1-az1"]', {}, /dataSubnetZoneIds = .*: lists 1 zone IDs for 2 dataSubnetCidrs/],
    ["dataSubnetZoneIds", '["us-east-1a","us-east-1b"]', {}, /entry 0 \("us-east-1a"\) is not an availability zone ID such as use1-az1 \(zone IDs, not names/],
    ["dataSubnetZoneIds", '["usw2-az1","usw2-az2"]', {}, /entry 0 \(usw2-az1\) is not a zone of this site's region us-east-1 \(its zone IDs start with use1-\)/],
    ["dataSubnetZoneIds", '["use1-az1","use1-az1"]', {}, /dataSubnetZoneIds = .*: names a zone twice/],
    ["dbInstanceClass", "r6g.large", {}, /dbInstanceClass = "r6g.large": is not an RDS instance class/],
    ["dbEngineVersion", "latest", {}, /dbEngineVersion = "latest": is not a PostgreSQL version/],
    ["dbAllocatedStorageGb", "10", {}, /dbAllocatedStorageGb = "10": must be at least 20/],
    ["dbMaxAllocatedStorageGb", "50", {}, /dbMaxAllocatedStorageGb = "50": is below dbAllocatedStorageGb \(100\)/],
    ["dbBackupRetentionDays", "0", {}, /dbBackupRetentionDays = "0": must be at least 1. Fix: .*0 would turn off automated backups/],
    ["dbBackupRetentionDays", "36", {}, /dbBackupRetentionDays = "36": must be at most 35/],
    ["dbMultiAz", "yes", {}, /dbMultiAz = "yes": must be true or false/],
    ["dbMonitoringIntervalSeconds", "0", {}, /dbMonitoringIntervalSeconds = "0": must be one of 1, 5, 10, 15, 30, 60/],
    ["dbPerformanceInsightsRetentionDays", "30", {}, /dbPerformanceInsightsRetentionDays = "30": must be 7 or a multiple of 31 up to 731/],
    ["primaryDatabaseGeneration", "0", {}, /primaryDatabaseGeneration = "0": must be at least 1/],
    ["secondaryDatabaseGeneration", "two", {}, /secondaryDatabaseGeneration = "two": must be a whole number/],
    ["primaryDatabaseGeneration", "3", {}, /primaryDatabaseGeneration = "3": \(3\) must equal secondaryDatabaseGeneration \(1\) or be one more/],
    ["secondaryDatabaseGeneration", "2", {}, /primaryDatabaseGeneration = "1": \(1\) must equal secondaryDatabaseGeneration \(2\) or be one more/],
    ["cacheNodeType", "r7g.large", {}, /cacheNodeType = "r7g.large": is not an ElastiCache node type/],
    ["cacheReplicaCount", "-1", {}, /cacheReplicaCount = "-1": must be at least 0/],
    ["cacheReplicaCount", "6", {}, /cacheReplicaCount = "6": must be at most 5/],
    ["namePrefix", "1shop", {}, /namePrefix = "1shop": must start with a letter, because RDS instance/],
    ["namePrefix", "a".repeat(30), {}, /namePrefix = "a{30}": must be 1-24 lowercase letters.*the ElastiCache replication group ID allows 40 characters/],
    ["primaryStackName", "primary", {}, /primaryStackName = "primary": is not a fully qualified stack name/],
  ])("%s = %j is rejected with the key, the value and the fix", (key, value, context, message) => {
    expect(problemsOf({ ...defaults(), ...SECONDARY, ...context, [key]: value })).toMatch(message);
  });
});

describe("Pulumi.yaml array keys", () => {
  test("an array key without an item type is rejected, as the Pulumi CLI would", () => {
    expect(schemaFrom("name: drstack\nconfig:\n  ids:\n    type: array\n    default: []\n    description: some ids\n")).toThrow(
      /config key "ids" is an array and needs items with a type/,
    );
  });
});
