import { evaluate, PRIMARY_STACK_NAME, resourcesOfType, single } from "./evaluations";

jest.setTimeout(60_000);

const T = {
  cfRecord: "cloudflare:index/dnsRecord:DnsRecord",
  cfLoadBalancer: "cloudflare:index/loadBalancer:LoadBalancer",
  cfPool: "cloudflare:index/loadBalancerPool:LoadBalancerPool",
  cfMonitor: "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor",
  r53Record: "aws:route53/record:Record",
  r53Check: "aws:route53/healthCheck:HealthCheck",
};

const LOAD_BALANCER = { cloudflareLoadBalancer: "true", cloudflareAccountId: "f037e56e89293a057740de681ac9abbe" };
const ROUTE53 = { dnsProvider: "route53", route53ZoneId: "Z04517273EXAMPLE1XYZ" };
const LOST_PRIMARY = { kind: "unreachable" } as const;

describe("DNS is owned by the secondary stack alone", () => {
  test.each([
    ["cloudflare", {}],
    ["cloudflare load balancer", LOAD_BALANCER],
    ["route53", ROUTE53],
  ])("the primary declares no DNS in %s mode, whatever activeSite says", async (_mode, dns) => {
    for (const activeSite of ["primary", "secondary"]) {
      const { resources, outputs } = await evaluate("primary", { ...dns, activeSite });
      expect(resources.filter((resource) => resource.type.startsWith("cloudflare:") || resource.type.startsWith("aws:route53/"))).toEqual([]);
      expect(resources.filter((resource) => resource.type === "pulumi:providers:cloudflare")).toEqual([]);
      expect(outputs.dnsTarget).toBeUndefined();
    }
  });
});

describe("Cloudflare record (the default)", () => {
  test("points at the primary's endpoint while the primary is active, with a TTL of at most 60 s", async () => {
    const record = single(await evaluate("secondary"), T.cfRecord).inputs;
    expect(record).toMatchObject({
      zoneId: "023e105f4ecef8ad9ca31a8372d0c353",
      name: "shop.example.com",
      type: "CNAME",
      content: "primary.shop.example.com",
      proxied: false,
    });
    expect(record.ttl).toBeLessThanOrEqual(60);
  });

  test("after the flip the secondary points DNS at itself while the primary's stack reference throws", async () => {
    const evaluation = await evaluate("secondary", { activeSite: "secondary" }, LOST_PRIMARY);
    expect(evaluation.stackReferencesRead).toEqual([]);
    expect(single(evaluation, T.cfRecord).inputs.content).toBe("secondary.shop.example.com");
    expect(evaluation.outputs.dnsTarget).toBe("secondary.shop.example.com");
  });

  test("uses the API token from the secret cloudflare:apiToken", async () => {
    const evaluation = await evaluate("secondary");
    expect(evaluation.config["cloudflare:apiToken"]).toBe("offline-placeholder-for-cloudflare:apiToken");
    const provider = single(evaluation, "pulumi:providers:cloudflare");
    expect(JSON.stringify(provider.inputs.apiToken)).toContain("offline-placeholder-for-cloudflare:apiToken");
  });
});

describe("Cloudflare load balancer", () => {
  test.each([
    ["primary", undefined, "primary"],
    ["secondary", LOST_PRIMARY, "secondary"],
  ] as const)("with activeSite=%s the active site's pool is first and the fallback", async (activeSite, references, first) => {
    const evaluation = await evaluate("secondary", { ...LOAD_BALANCER, activeSite }, references);
    expect(resourcesOfType(evaluation, T.cfRecord)).toEqual([]);
    const pools = Object.fromEntries(resourcesOfType(evaluation, T.cfPool).map((pool) => [pool.inputs.name, `${pool.name}-id`]));
    const balancer = single(evaluation, T.cfLoadBalancer).inputs;
    const second = first === "primary" ? "secondary" : "primary";
    expect(balancer.defaultPools).toEqual([pools[`drstack-${first}`], pools[`drstack-${second}`]]);
    expect(balancer.fallbackPool).toBe(pools[`drstack-${first}`]);
    expect(balancer).toMatchObject({ name: "shop.example.com", steeringPolicy: "off", ttl: 60 });
  });

  test("monitors each site's health endpoint over HTTPS with the configured interval and threshold", async () => {
    const evaluation = await evaluate("secondary", { ...LOAD_BALANCER, healthCheckIntervalSeconds: "60", healthCheckFailureThreshold: "2" });
    const monitor = single(evaluation, T.cfMonitor);
    expect(monitor.inputs).toMatchObject({ type: "https", path: "/api/health/deep", interval: 60, consecutiveDown: 2, expectedCodes: "200" });
    for (const pool of resourcesOfType(evaluation, T.cfPool)) {
      expect(pool.inputs.monitor).toBe(`${monitor.name}-id`);
      expect(pool.inputs.origins).toEqual([expect.objectContaining({ address: `${String(pool.inputs.name).replace("drstack-", "")}.shop.example.com` })]);
    }
  });
});

describe("Route 53 failover routing", () => {
  test.each([
    ["primary", undefined, "primary"],
    ["secondary", LOST_PRIMARY, "secondary"],
  ] as const)("with activeSite=%s the %s site's record is PRIMARY", async (activeSite, references, primaryRecordSite) => {
    const evaluation = await evaluate("secondary", { ...ROUTE53, activeSite }, references);
    const records = resourcesOfType(evaluation, T.r53Record);
    expect(records).toHaveLength(2);
    expect(new Set(records.map((record) => record.inputs.setIdentifier)).size).toBe(2);
    for (const record of records) {
      const site = String(record.inputs.setIdentifier).replace("drstack-", "");
      expect(record.inputs).toMatchObject({
        zoneId: "Z04517273EXAMPLE1XYZ",
        name: "shop.example.com",
        type: "CNAME",
        records: [`${site}.shop.example.com`],
        failoverRoutingPolicies: [{ type: site === primaryRecordSite ? "PRIMARY" : "SECONDARY" }],
        healthCheckId: `secondary-failover-dns-${site}-health-id`,
      });
      expect(record.inputs.ttl).toBeLessThanOrEqual(60);
    }
  });

  test("health checks request each site's health path over HTTPS at the configured interval and threshold", async () => {
    const evaluation = await evaluate("secondary", { ...ROUTE53, healthCheckPath: "/healthz", healthCheckIntervalSeconds: "10", healthCheckFailureThreshold: "2" });
    const checks = resourcesOfType(evaluation, T.r53Check);
    expect(checks.map((check) => check.inputs.fqdn).sort()).toEqual(["primary.shop.example.com", "secondary.shop.example.com"]);
    for (const check of checks) {
      expect(check.inputs).toMatchObject({ type: "HTTPS", port: 443, resourcePath: "/healthz", requestInterval: 10, failureThreshold: 2, enableSni: true });
    }
  });
});

describe("traffic moves only after the database change succeeded", () => {
  test.each([
    ["cloudflare", {}, T.cfRecord],
    ["cloudflare load balancer", LOAD_BALANCER, T.cfLoadBalancer],
    ["route53", ROUTE53, T.r53Record],
  ])("in %s mode every DNS resource depends on the site's database", async (_mode, dns, type) => {
    const evaluation = await evaluate("secondary", { ...dns, activeSite: "secondary" }, LOST_PRIMARY);
    const dnsResources = evaluation.resources.filter((resource) => resource.custom && resource.parent === "drstack:dns:FailoverDns::secondary-failover-dns" && resource.type !== "pulumi:providers:cloudflare");
    expect(dnsResources.map((resource) => resource.type)).toContain(type);
    for (const resource of dnsResources) {
      expect({ name: resource.name, dependsOn: resource.dependsOn }).toEqual({ name: resource.name, dependsOn: ["drstack:database:SiteDatabase::secondary-database"] });
    }
  });
});

describe("the secondary reads the primary only while standby", () => {
  test("standby: one reference to the primary stack, for the writer to replicate", async () => {
    const evaluation = await evaluate("secondary");
    expect(evaluation.stackReferencesRead).toEqual([PRIMARY_STACK_NAME]);
  });

  test("primaryStackName names another organization's stack", async () => {
    const name = "acme/drstack/primary";
    const primary = await evaluate("primary");
    const evaluation = await evaluate("secondary", { primaryStackName: name }, { kind: "available", outputs: { [name]: primary.outputs } });
    expect(evaluation.stackReferencesRead).toEqual([name]);
  });
});
