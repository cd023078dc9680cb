import { subnetCidr, zoneAt } from "../../infra/network";
import { evaluate, resourcesOfType, single, STACK_CASES } from "./evaluations";

jest.setTimeout(60_000);

const T = {
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  redis: "aws:elasticache/replicationGroup:ReplicationGroup",
};

describe.each(STACK_CASES)("network and cache of $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite }, stack === "secondary" && activeSite === "secondary" ? { kind: "unreachable" } : undefined);

  test("a VPC of the site's own range with private subnets in distinct availability zones", async () => {
    const evaluation = await run();
    const range = stack === "primary" ? "10.10" : "10.20";
    expect(single(evaluation, T.vpc).inputs.cidrBlock).toBe(`${range}.0.0/16`);
    const subnets = resourcesOfType(evaluation, T.subnet);
    expect(subnets.length).toBeGreaterThanOrEqual(2);
    expect(new Set(subnets.map((subnet) => subnet.inputs.availabilityZone)).size).toBe(subnets.length);
    for (const subnet of subnets) {
      expect(String(subnet.inputs.availabilityZone)).toMatch(new RegExp(`^${String(evaluation.outputs.region)}[a-z]$`));
      expect(subnet.inputs.mapPublicIpOnLaunch).toBe(false);
      expect(String(subnet.inputs.cidrBlock)).toMatch(new RegExp(`^${range}\\.`));
    }
    expect(evaluation.invokes).toContain("aws:index/getAvailabilityZones:getAvailabilityZones");
  });

  test("Redis encrypted in transit and at rest with the site's data key, never replicated across regions", async () => {
    const evaluation = await run();
    const redis = single(evaluation, T.redis);
    expect(redis.inputs).toMatchObject({
      replicationGroupId: `acme-shop-dr-${stack}-cache`,
      engine: "redis",
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
    });
    expect(redis.inputs.globalReplicationGroupId).toBeUndefined();
    expect(String(redis.inputs.kmsKeyId)).toContain(`:kms:${String(evaluation.outputs.region)}:`);
    expect(JSON.stringify(redis.inputs.authToken)).toContain("offline-random");
    expect(redis.protect).toBe(false);
  });
});

describe("network options", () => {
  test("an existing VPC and subnets replace the VPC drstack would create", async () => {
    const evaluation = await evaluate("primary", {
      existingVpcId: "vpc-0a1b2c3d4e5f60718",
      existingPrivateSubnetIds: JSON.stringify(["subnet-0a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60718"]),
    });
    expect(resourcesOfType(evaluation, T.vpc)).toEqual([]);
    expect(resourcesOfType(evaluation, T.subnet)).toEqual([]);
    expect(single(evaluation, "aws:rds/subnetGroup:SubnetGroup").inputs.subnetIds).toEqual(["subnet-0a1b2c3d4e5f60718", "subnet-1a1b2c3d4e5f60718"]);
    expect(evaluation.outputs.vpcId).toBe("vpc-0a1b2c3d4e5f60718");
  });

  test("availabilityZoneCount subnets, and no automatic failover of Redis without a replica", async () => {
    const evaluation = await evaluate("primary", { availabilityZoneCount: "3", cacheReplicaCount: "0" });
    expect(resourcesOfType(evaluation, T.subnet)).toHaveLength(3);
    expect(single(evaluation, T.redis).inputs).toMatchObject({ numCacheClusters: 1, automaticFailoverEnabled: false, multiAzEnabled: false });
  });

  test("subnet ranges are cut from the VPC range without overlap", () => {
    expect([0, 1, 2, 3].map((index) => subnetCidr("10.10.0.0/16", 2, index))).toEqual([
      "10.10.0.0/18",
      "10.10.64.0/18",
      "10.10.128.0/18",
      "10.10.192.0/18",
    ]);
    expect(subnetCidr("192.168.4.0/24", 2, 3)).toBe("192.168.4.192/26");
    expect(() => subnetCidr("10.0.0.0/16", 2, 4)).toThrow(/cannot cut subnet 4/);
  });

  test("a region with fewer zones than configured fails loudly", () => {
    expect(() => zoneAt(["us-west-2a", "us-west-2b"], 2, 3)).toThrow(/availabilityZoneCount is 3 but the region offers 2/);
  });
});
