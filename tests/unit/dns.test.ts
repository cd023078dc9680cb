import { Evaluation, RecordedResource, secretsWritten } from "../../offline/evaluate";
import { CHEAP_EXAMPLE, evaluate, evaluateIn, MAIN_EXAMPLE, PRIMARY_STACK_NAME, resourcesOfType, single, within } from "./evaluations";

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

/**
 * The three DNS modes, the stack files that show each and the resource that
 * answers for appHostname: the example stacks use Route 53, the cheaper
 * example a plain Cloudflare record (with LOAD_BALANCER on top, the
 * Cloudflare load balancer).
 */
const DNS_MODES: Array<[mode: string, stackDir: string, overrides: Record<string, string>, answeredBy: string]> = [
  ["cloudflare", CHEAP_EXAMPLE, {}, T.cfRecord],
  ["cloudflare load balancer", CHEAP_EXAMPLE, LOAD_BALANCER, T.cfLoadBalancer],
  ["route53", MAIN_EXAMPLE, ROUTE53, T.r53Record],
];

/**
 * An active secondary in other regions than the stack files', its primary
 * lost: the copy of the credentials its standby past left is taken from the
 * example secondary (a primary moved to another region would need its own
 * zone IDs, which one set of overrides cannot give both stacks).
 */
async function activeSecondaryElsewhere(overrides: Record<string, string>, stackDir: string = MAIN_EXAMPLE): Promise<Evaluation> {
  const copy = secretsWritten(await evaluateIn(stackDir, "secondary", { activeSite: "primary" }));
  return evaluateIn(stackDir, "secondary", { ...overrides, activeSite: "secondary" }, LOST_PRIMARY, copy);
}
const FAILOVER_DNS = "drstack:dns:FailoverDns";

/** The failover DNS itself, without the certificate's validation records. */
function failoverDns(evaluation: Evaluation): Evaluation {
  return within(evaluation, FAILOVER_DNS);
}

describe("DNS is owned by the secondary stack alone", () => {
  test.each(DNS_MODES)("the primary declares no DNS in %s mode, whatever activeSite says", async (_mode, stackDir, dns) => {
    for (const activeSite of ["primary", "secondary"]) {
      const { resources, outputs } = await evaluateIn(stackDir, "primary", { ...dns, activeSite });
      expect(resources.filter((resource) => resource.type.startsWith("cloudflare:") || resource.type.startsWith("aws:route53/"))).toEqual([]);
      expect(resources.filter((resource) => resource.type === "pulumi:providers:cloudflare")).toEqual([]);
      expect(outputs.dnsTarget).toBeUndefined();
    }
  });
});

describe("Cloudflare record (the default dnsProvider; the cheaper example)", () => {
  test("points at the primary's endpoint while the primary is active, with a TTL of at most 60 s", async () => {
    const record = single(failoverDns(await evaluateIn(CHEAP_EXAMPLE, "secondary")), T.cfRecord).inputs;
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
    const evaluation = await evaluateIn(CHEAP_EXAMPLE, "secondary", { activeSite: "secondary" }, LOST_PRIMARY);
    expect(evaluation.stackReferencesRead).toEqual([]);
    expect(single(failoverDns(evaluation), T.cfRecord).inputs.content).toBe("secondary.shop.example.com");
    expect(evaluation.outputs.dnsTarget).toBe("secondary.shop.example.com");
  });

  test("uses the API token from the secret cloudflare:apiToken", async () => {
    const evaluation = await evaluateIn(CHEAP_EXAMPLE, "secondary");
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
    const evaluation = await evaluateIn(CHEAP_EXAMPLE, "secondary", { ...LOAD_BALANCER, activeSite }, references);
    expect(resourcesOfType(failoverDns(evaluation), T.cfRecord)).toEqual([]);
    const pools = Object.fromEntries(resourcesOfType(evaluation, T.cfPool).map((pool) => [pool.inputs.name, `${pool.name}-id`]));
    const balancer = single(evaluation, T.cfLoadBalancer).inputs;
    const second = first === "primary" ? "secondary" : "primary";
    expect(balancer.defaultPools).toEqual([pools[`drstack-${first}`], pools[`drstack-${second}`]]);
    expect(balancer.fallbackPool).toBe(pools[`drstack-${first}`]);
    expect(balancer).toMatchObject({ name: "shop.example.com", steeringPolicy: "off", ttl: 60 });
  });

  test("monitors each site's health endpoint over HTTPS with the configured interval and threshold", async () => {
    const evaluation = await evaluateIn(CHEAP_EXAMPLE, "secondary", { ...LOAD_BALANCER, healthCheckIntervalSeconds: "60", healthCheckFailureThreshold: "2" });
    const monitor = single(evaluation, T.cfMonitor);
    expect(monitor.inputs).toMatchObject({ type: "https", path: "/api/health/deep", interval: 60, consecutiveDown: 2, expectedCodes: "200" });
    for (const pool of resourcesOfType(evaluation, T.cfPool)) {
      expect(pool.inputs.monitor).toBe(`${monitor.name}-id`);
      const endpoint = `${String(pool.inputs.name).replace("drstack-", "")}.shop.example.com`;
      expect(pool.inputs.origins).toEqual([expect.objectContaining({ address: endpoint, header: { hosts: [endpoint] } })]);
    }
  });
});

describe("Route 53 failover routing", () => {
  test.each([
    ["primary", "primary", undefined],
    ["secondary", "secondary", LOST_PRIMARY],
  ] as const)("with activeSite=%s the PRIMARY record answers with the %s site", async (activeSite, active, references) => {
    const evaluation = await evaluate("secondary", { ...ROUTE53, activeSite }, references);
    const records = resourcesOfType(failoverDns(evaluation), T.r53Record);
    const other = active === "primary" ? "secondary" : "primary";
    expect(records.map((record) => record.name).sort()).toEqual(["secondary-failover-dns-record-PRIMARY", "secondary-failover-dns-record-SECONDARY"]);
    for (const [role, site] of [["PRIMARY", active], ["SECONDARY", other]] as const) {
      const record = records.find((candidate) => candidate.name.endsWith(`-record-${role}`))!;
      expect(record.inputs).toMatchObject({
        zoneId: "Z04517273EXAMPLE1XYZ",
        name: "shop.example.com",
        type: "CNAME",
        records: [`${site}.shop.example.com`],
        setIdentifier: `drstack-${role}`,
        failoverRoutingPolicies: [{ type: role }],
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

interface FailoverRecordState {
  key: string;
  name: string;
  type: string;
  setIdentifier: string;
  failover: string;
  answer: string;
}

function failoverRecordStates(resources: RecordedResource[]): FailoverRecordState[] {
  return resources
    .filter((resource) => resource.type === T.r53Record && resource.inputs.failoverRoutingPolicies !== undefined)
    .map((resource) => ({
      key: resource.name,
      name: String(resource.inputs.name),
      type: String(resource.inputs.type),
      setIdentifier: String(resource.inputs.setIdentifier),
      failover: (resource.inputs.failoverRoutingPolicies as Array<{ type: string }>)[0].type,
      answer: (resource.inputs.records as string[])[0],
    }));
}

/**
 * Route 53 keeps, per record name and type, exactly one PRIMARY and one
 * SECONDARY failover record, and set identifiers unique
 * (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-types.html;
 * swapping two records' types one UPSERT at a time is rejected:
 * https://github.com/boto/boto3/issues/1347).
 */
function route53FailoverViolations(records: FailoverRecordState[]): string[] {
  const problems: string[] = [];
  const groups = new Map<string, FailoverRecordState[]>();
  for (const record of records) {
    groups.set(`${record.name} ${record.type}`, [...(groups.get(`${record.name} ${record.type}`) ?? []), record]);
  }
  for (const [group, members] of groups) {
    const types = members.map((member) => member.failover).sort();
    if (JSON.stringify(types) !== JSON.stringify(["PRIMARY", "SECONDARY"])) {
      problems.push(`${group}: ${types.join(", ")}`);
    }
    if (new Set(members.map((member) => member.setIdentifier)).size !== members.length) {
      problems.push(`${group}: duplicate set identifiers`);
    }
  }
  return problems;
}

/** Every state an update of `before` into `after` passes through when each record is one Route 53 change of its own. */
function intermediateStates(before: FailoverRecordState[], after: FailoverRecordState[]): FailoverRecordState[][] {
  const updated = after.map((record) => record.key);
  const states: FailoverRecordState[][] = [];
  for (let mask = 0; mask < 1 << updated.length; mask++) {
    const done = new Set(updated.filter((_, index) => mask & (1 << index)));
    states.push([...before.filter((record) => !done.has(record.key)), ...after.filter((record) => done.has(record.key))]);
  }
  return states;
}

describe("the Route 53 flip is valid at every step", () => {
  const flip = async () => {
    const before = await evaluate("secondary", { ...ROUTE53, activeSite: "primary" });
    const after = await evaluate("secondary", { ...ROUTE53, activeSite: "secondary" }, LOST_PRIMARY);
    return { before, after, from: failoverRecordStates(before.resources), to: failoverRecordStates(after.resources) };
  };

  test("every intermediate state of the failover and of the failback keeps exactly one PRIMARY and one SECONDARY", async () => {
    const { from, to } = await flip();
    expect(from.map((record) => record.key).sort()).toEqual(to.map((record) => record.key).sort());
    for (const [start, end] of [[from, to], [to, from]]) {
      const states = intermediateStates(start, end);
      expect(states).toHaveLength(4);
      for (const state of states) {
        expect({ state: state.map((record) => `${record.key}=${record.failover}:${record.answer}`), violations: route53FailoverViolations(state) }).toEqual({
          state: expect.any(Array),
          violations: [],
        });
      }
    }
  });

  test("the check catches the old layout: records keyed by site whose types swap pass through two PRIMARY records", () => {
    const bySite = (primaryType: string, secondaryType: string): FailoverRecordState[] => [
      { key: "primary-record", name: "shop.example.com", type: "CNAME", setIdentifier: "drstack-primary", failover: primaryType, answer: "primary.shop.example.com" },
      { key: "secondary-record", name: "shop.example.com", type: "CNAME", setIdentifier: "drstack-secondary", failover: secondaryType, answer: "secondary.shop.example.com" },
    ];
    const violations = intermediateStates(bySite("PRIMARY", "SECONDARY"), bySite("SECONDARY", "PRIMARY")).map(route53FailoverViolations);
    expect(violations.filter((found) => found.length > 0)).toHaveLength(2);
  });

  // A changed type or set identifier makes the provider send DELETE and CREATE in one batch, and a
  // changed name or zone replaces the record (hashicorp/terraform-provider-aws
  // internal/service/route53/record.go: resourceRecordUpdate, `name`/`zone_id` ForceNew). A flip
  // must change neither, so each record is one UPSERT of its value and health check.
  test("the flip changes only each record's value and health check, never its name, type, zone or set identifier", async () => {
    const { before, after } = await flip();
    for (const record of resourcesOfType(failoverDns(before), T.r53Record)) {
      const next = resourcesOfType(failoverDns(after), T.r53Record).find((candidate) => candidate.name === record.name)!;
      for (const input of ["name", "type", "zoneId", "setIdentifier", "failoverRoutingPolicies", "ttl"]) {
        expect({ record: record.name, input, value: next.inputs[input] }).toEqual({ record: record.name, input, value: record.inputs[input] });
      }
      expect(next.inputs.records).not.toEqual(record.inputs.records);
      expect(next.inputs.healthCheckId).not.toEqual(record.inputs.healthCheckId);
    }
  });

  test("the PRIMARY record is updated first, so in between both records answer with the newly active site", async () => {
    const { after, from, to } = await flip();
    const secondary = resourcesOfType(failoverDns(after), T.r53Record).find((record) => record.name.endsWith("-record-SECONDARY"))!;
    expect(secondary.dependsOn).toContain(`${T.r53Record}::secondary-failover-dns-record-PRIMARY`);
    const halfway = [...to.filter((record) => record.failover === "PRIMARY"), ...from.filter((record) => record.failover === "SECONDARY")];
    expect(halfway.map((record) => record.answer)).toEqual(["secondary.shop.example.com", "secondary.shop.example.com"]);
  });
});

describe("traffic moves only after the database change succeeded", () => {
  test.each(DNS_MODES)("in %s mode every DNS resource depends on the site's database", async (_mode, stackDir, dns, type) => {
    const evaluation = await evaluateIn(stackDir, "secondary", { ...dns, activeSite: "secondary" }, LOST_PRIMARY);
    const dnsResources = evaluation.resources.filter((resource) => resource.custom && resource.parent === "drstack:dns:FailoverDns::secondary-failover-dns" && resource.type !== "pulumi:providers:cloudflare");
    expect(dnsResources.map((resource) => resource.type)).toContain(type);
    for (const resource of dnsResources.filter((candidate) => candidate.type !== "pulumi:providers:aws")) {
      expect({ name: resource.name, dependsOn: resource.dependsOn }).toEqual({ name: resource.name, dependsOn: expect.arrayContaining(["drstack:database:SiteDatabase::secondary-database"]) });
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

describe("Route 53 health-check alarms", () => {
  const alarms = (evaluation: Evaluation) => resourcesOfType(evaluation, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((alarm) => alarm.inputs.namespace === "AWS/Route53");
  const awsProviders = (evaluation: Evaluation) => resourcesOfType(evaluation, "pulumi:providers:aws");
  const regionOf = (evaluation: Evaluation, resource: RecordedResource) =>
    awsProviders(evaluation).find((provider) => resource.provider?.includes(`::${provider.name}::`))?.inputs.region;

  test("the example secondary (us-east-1, where Route 53 publishes health-check metrics) alarms on each site's check to its own alarm topic", async () => {
    const evaluation = await evaluate("secondary", ROUTE53);
    const found = alarms(evaluation);
    expect(found.map((alarm) => (alarm.inputs.dimensions as Record<string, string>).HealthCheckId).sort()).toEqual([
      "secondary-failover-dns-primary-health-id",
      "secondary-failover-dns-secondary-health-id",
    ]);
    const topic = String(evaluation.outputs.alarmTopicArn);
    for (const alarm of found) {
      expect(alarm.inputs).toMatchObject({
        metricName: "HealthCheckStatus",
        statistic: "Minimum",
        comparisonOperator: "LessThanThreshold",
        threshold: 1,
        treatMissingData: "breaching",
        alarmActions: [topic],
        okActions: [topic],
      });
      expect(regionOf(evaluation, alarm)).toBe("us-east-1");
    }
  });

  // Route 53 health-check metrics exist only in us-east-1, and an alarm notifies only a topic of its own region
  // (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-monitor-view-status.html;
  // https://github.com/hashicorp/terraform/issues/7371).
  test("a secondary outside us-east-1 alarms from us-east-1, with a topic of its own there, while neither site is in us-east-1", async () => {
    const regions = { primaryRegion: "us-west-2", secondaryRegion: "eu-west-1", "aws:region": "eu-west-1", dataSubnetZoneIds: '["euw1-az1","euw1-az2"]' };
    const evaluation = await activeSecondaryElsewhere({ ...ROUTE53, ...regions });
    const found = alarms(evaluation);
    expect(found).toHaveLength(2);
    const topics = resourcesOfType(evaluation, "aws:sns/topic:Topic");
    expect(topics.map((topic) => regionOf(evaluation, topic)).sort()).toEqual(["eu-west-1", "us-east-1"]);
    const metricsTopic = topics.find((topic) => regionOf(evaluation, topic) === "us-east-1")!;
    for (const alarm of found) {
      expect(regionOf(evaluation, alarm)).toBe("us-east-1");
      const [action] = alarm.inputs.alarmActions as string[];
      expect(action.endsWith(`:${metricsTopic.name}-topic`)).toBe(true);
      expect(action).not.toBe(evaluation.outputs.alarmTopicArn);
    }
    const subscriptions = resourcesOfType(evaluation, "aws:sns/topicSubscription:TopicSubscription").filter((subscription) => regionOf(evaluation, subscription) === "us-east-1");
    expect(subscriptions.map((subscription) => subscription.inputs.endpoint).sort()).toEqual(["dba@shop.example.com", "oncall@shop.example.com"]);
  });

  // Without the alarm nobody is paged, so the objectives count a person's detection (infra/objectives.ts);
  // the example's 35-minute critical RTO then cannot be met, and this test is about the alarms: warn.
  test("with the primary in us-east-1 the secondary declares nothing there and says the checks are not alarmed, and the objectives count manual detection", async () => {
    const regions = { primaryRegion: "us-east-1", secondaryRegion: "us-west-2", "aws:region": "us-west-2", dataSubnetZoneIds: '["usw2-az1","usw2-az2"]' };
    const evaluation = await activeSecondaryElsewhere({ ...ROUTE53, ...regions, objectivesEnforcement: "warn" });
    expect(alarms(evaluation)).toEqual([]);
    expect(awsProviders(evaluation).map((provider) => provider.inputs.region)).not.toContain("us-east-1");
    expect(evaluation.warnings.join("\n")).toMatch(/Route 53 health checks of shop.example.com are NOT alarmed/);
    const posture = evaluation.outputs.drPosture as { whenComplete: { recoveryTime: { steps: Array<{ step: string; minutes: number; basis: string }> } } };
    expect(posture.whenComplete.recoveryTime.steps.find((step) => step.step === "detection")).toMatchObject({
      minutes: 15,
      basis: expect.stringMatching(/no alarm pages anyone \(Route 53 health-check metrics live only in us-east-1, the primary's region/),
    });
    // Route 53's control plane is in us-east-1 too: the flip of the records may fail while failover routing still works.
    expect(evaluation.warnings.join("\n")).toMatch(/control plane runs in us-east-1, the primary's region.*answers with the SECONDARY record/);
    const elsewhere = await activeSecondaryElsewhere({ ...ROUTE53, primaryRegion: "us-west-2", secondaryRegion: "eu-west-1", "aws:region": "eu-west-1", dataSubnetZoneIds: '["euw1-az1","euw1-az2"]', objectivesEnforcement: "warn" });
    expect(elsewhere.warnings.join("\n")).not.toMatch(/control plane/);
  });

  test.each([
    ["the example regions", {}],
    ["a secondary outside us-east-1", { primaryRegion: "us-west-2", secondaryRegion: "eu-west-1", "aws:region": "eu-west-1", dataSubnetZoneIds: '["euw1-az1","euw1-az2"]' }],
    ["a primary in us-east-1", { primaryRegion: "us-east-1", secondaryRegion: "us-west-2", "aws:region": "us-west-2", dataSubnetZoneIds: '["usw2-az1","usw2-az2"]' }],
  ])("with %s, nothing on the secondary's failover path uses a provider in the primary's region", async (_case, regions) => {
    // Outside the example regions a mode may miss the example's objectives; this test is about regions: warn.
    for (const [, stackDir, dns] of DNS_MODES) {
      const evaluation = await activeSecondaryElsewhere({ ...dns, ...regions, objectivesEnforcement: "warn" }, stackDir);
      const primaryRegion = String(evaluation.config["drstack:primaryRegion"]);
      expect(awsProviders(evaluation).map((provider) => provider.inputs.region)).not.toContain(primaryRegion);
      for (const resource of evaluation.resources.filter((candidate) => candidate.custom && candidate.type.startsWith("aws:"))) {
        expect({ resource: resource.name, region: regionOf(evaluation, resource) }).not.toEqual({ resource: resource.name, region: primaryRegion });
        expect({ resource: resource.name, hasProvider: regionOf(evaluation, resource) !== undefined }).toEqual({ resource: resource.name, hasProvider: true });
      }
    }
  });
});
