import { parseConfig, RawConfig } from "../../infra/config";
import { readConfigSchema } from "../../infra/configSchema";
import { readStackConfig } from "../../offline/stackFiles";
import { declaredDefaults, problemsOf as problemsOfStack } from "./configHelpers";

/** Validation of the failover keys: every error names the key, the bad value and the fix. */

const defaults = declaredDefaults;

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
    expect(parseConfig(defaults(), "primary").dns.cloudflare.zoneId).toBe("");
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
    ["vpcCidr", "10.0.0.0/8", {}, /vpcCidr = "10.0.0.0\/8": must be an IPv4 CIDR from \/16 to \/24/],
    ["vpcCidr", "10.300.0.0/16", {}, /vpcCidr = "10.300.0.0\/16": must be an IPv4 CIDR/],
    ["availabilityZoneCount", "1", {}, /availabilityZoneCount = "1": must be at least 2/],
    ["existingVpcId", "vpc-0a1b2c3d4e5f60718", {}, /existingPrivateSubnetIds = "\[\]": must list at least two subnet ids/],
    ["existingPrivateSubnetIds", "subnet-1", {}, /existingPrivateSubnetIds = "subnet-1": must be a JSON list of strings/],
    ["existingPrivateSubnetIds", '["subnet-0a1b2c3d4e5f60718","subnet-1a1b2c3d4e5f60718"]', {}, /existingVpcId = "": must be a VPC id/],
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
    ["namePrefix", "a".repeat(30), {}, /namePrefix = "a{30}": is too long for the ElastiCache replication group id/],
    ["primaryStackName", "primary", {}, /primaryStackName = "primary": is not a fully qualified stack name/],
  ])("%s = %j is rejected with the key, the value and the fix", (key, value, context, message) => {
    expect(problemsOf({ ...defaults(), ...SECONDARY, ...context, [key]: value })).toMatch(message);
  });
});

describe("Pulumi.yaml array keys", () => {
  test("an array key without an item type is rejected, as the Pulumi CLI would", () => {
    const fs = jest.requireActual<typeof import("fs")>("fs");
    const os = jest.requireActual<typeof import("os")>("os");
    const path = jest.requireActual<typeof import("path")>("path");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "drstack-schema-")), "Pulumi.yaml");
    fs.writeFileSync(file, "name: drstack\nconfig:\n  ids:\n    type: array\n    default: []\n    description: some ids\n");
    expect(() => readConfigSchema(file)).toThrow(/config key "ids" is an array and needs items with a type/);
  });
});
