import { parseConfig } from "../../infra/config";
import { DATA_STORE_TYPES, FAILOVER_ALLOW_LIST, failoverMayChange, failoverMayRemoveOrAdd, REPLACING_INPUTS } from "../../infra/failoverAllowList";
import { SiteName } from "../../infra/roles";
import { diffGraphs, forbiddenFailoverChanges, GraphChange, isDataStore } from "../../offline/graphDiff";
import { declaredDefaults } from "../unit/configHelpers";
import { CHEAP_EXAMPLE, evaluate, evaluateIn, MAIN_EXAMPLE } from "../unit/evaluations";

// Each case evaluates two stacks with the mock runtime; allow for a slow machine.
jest.setTimeout(60_000);

/**
 * The failover diff: each stack evaluated with activeSite=primary and with
 * activeSite=secondary (the secondary then with its primary unreachable, as in
 * a real regional loss) may differ only by the allow-list.
 */

/** Each DNS mode from the stack files that use it: Cloudflare the cheaper example (examples/cheap), Route 53 the example stacks. */
const DNS_MODES: Array<[string, string, Record<string, string>]> = [
  ["Cloudflare record", CHEAP_EXAMPLE, {}],
  ["Cloudflare load balancer", CHEAP_EXAMPLE, { cloudflareLoadBalancer: "true", cloudflareAccountId: "f037e56e89293a057740de681ac9abbe" }],
  ["Route 53 failover records", MAIN_EXAMPLE, { dnsProvider: "route53", route53ZoneId: "Z04517273EXAMPLE1XYZ" }],
];

/** The database generations before and after failback step 1 (README, Failback). */
const GENERATIONS: Array<[string, Record<string, string>]> = [
  ["first generation", {}],
  ["after the primary was rebuilt", { primaryDatabaseGeneration: "2" }],
  ["after both were rebuilt", { primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" }],
];

/** MySQL and MariaDB beside the stack files' PostgreSQL: their replicas keep backups and every instance names a parameter group, and a flip still changes roles only. */
const OTHER_ENGINES: Array<[string, string, Record<string, string>]> = [
  ["Route 53, databaseEngine=mysql", MAIN_EXAMPLE, { databaseEngine: "mysql" }],
  ["Route 53, databaseEngine=mariadb", MAIN_EXAMPLE, { databaseEngine: "mariadb" }],
];

const CASES = (["primary", "secondary"] as const).flatMap((stack) =>
  [...DNS_MODES, ...OTHER_ENGINES].flatMap(([dnsMode, stackDir, dns]) =>
    GENERATIONS.map(([generation, generations]) => ({ stack, dnsMode, stackDir, generation, overrides: { ...dns, ...generations } })),
  ),
);

/**
 * The flip the generations are waiting for: with equal generations the pair
 * runs on the primary and the next flip is a failover to the secondary; with
 * the primary one ahead (rebuilt) the next flip is the switchover back.
 */
function flipFrom(overrides: Record<string, string>): { from: SiteName; to: SiteName } {
  const generations = parseConfig({ ...declaredDefaults("secondary"), ...overrides, cloudflareZoneId: "0".repeat(32) }, "secondary").database.generations;
  return generations.primary === generations.secondary ? { from: "primary", to: "secondary" } : { from: "secondary", to: "primary" };
}

/** A lost site's stack reference is unreachable; the secondary on the way out of standby reads nothing anyway. */
async function failoverDiff(stack: string, overrides: Record<string, string>, stackDir: string = MAIN_EXAMPLE): Promise<GraphChange[]> {
  const { from, to } = flipFrom(overrides);
  const references = (activeSite: SiteName) => (stack === "secondary" && activeSite === "secondary" ? LOST_PRIMARY : undefined);
  const before = await evaluateIn(stackDir, stack, { ...overrides, activeSite: from }, references(from));
  const after = await evaluateIn(stackDir, stack, { ...overrides, activeSite: to }, references(to));
  return diffGraphs(before.resources, after.resources);
}

const LOST_PRIMARY = { kind: "unreachable" } as const;

describe.each(CASES)("the next flip of activeSite on the $stack stack ($dnsMode, $generation)", ({ stack, stackDir, overrides }) => {
  test("changes nothing outside the failover allow-list", async () => {
    expect(forbiddenFailoverChanges(await failoverDiff(stack, overrides, stackDir))).toEqual([]);
  });

  test("keeps every data store, protected, under the same name", async () => {
    for (const activeSite of ["primary", "secondary"] as const) {
      const lost = stack === "secondary" && activeSite === "secondary";
      const { resources } = await evaluateIn(stackDir, stack, { ...overrides, activeSite }, lost ? LOST_PRIMARY : undefined);
      const stores = resources.filter(isDataStore);
      expect(stores.length).toBeGreaterThanOrEqual(5);
      for (const store of stores) {
        expect({ store: store.name, protect: store.protect }).toEqual({ store: store.name, protect: true });
      }
    }
  });
});

describe("the failover diff is the role change, not nothing", () => {
  test("the secondary's replica is promoted in place and DNS moves to the secondary", async () => {
    const changes = await failoverDiff("secondary", {}, CHEAP_EXAMPLE);
    expect(changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "changed", type: "aws:rds/instance:Instance", name: "secondary-database-instance", path: "replicateSourceDb", after: undefined }),
        expect.objectContaining({ kind: "changed", type: "cloudflare:index/dnsRecord:DnsRecord", path: "content", after: "secondary.shop.example.com" }),
      ]),
    );
  });

  // Records keyed by role (infra/dns.ts): the flip moves values and health checks, never a failover type.
  test("Route 53's PRIMARY record moves to the secondary and its SECONDARY to the primary, types untouched", async () => {
    const changes = (await failoverDiff("secondary", DNS_MODES[2][2], DNS_MODES[2][1])).filter((change) => change.type === "aws:route53/record:Record");
    expect(changes.map((change) => [change.name, change.kind === "changed" && change.after]).sort()).toEqual([
      ["secondary-failover-dns-record-PRIMARY", "secondary-failover-dns-secondary-health-id"],
      ["secondary-failover-dns-record-PRIMARY", "secondary.shop.example.com"],
      ["secondary-failover-dns-record-SECONDARY", "primary.shop.example.com"],
      ["secondary-failover-dns-record-SECONDARY", "secondary-failover-dns-primary-health-id"],
    ]);
  });

  test("the primary stack's first-generation writer is left untouched (fenced, not converted)", async () => {
    const changes = await failoverDiff("primary", {});
    expect(changes.filter((change) => change.type === "aws:rds/instance:Instance")).toEqual([]);
  });

  test("fencing the primary changes only its database security group's rules, in place: they are emptied", async () => {
    const groups = (await failoverDiff("primary", {})).filter((change) => change.type === "aws:ec2/securityGroup:SecurityGroup");
    expect(groups.length).toBeGreaterThan(0);
    for (const change of groups) {
      expect(change).toMatchObject({ kind: "changed", name: "primary-database-sg" });
      expect(change.kind === "changed" && change.path.startsWith("ingress")).toBe(true);
    }
    expect(groups).toContainEqual(expect.objectContaining({ path: "ingress", before: undefined, after: [] }));
  });

  test("promotion changes no password: the promoted secondary declares the password its replica inherited from the primary's writer", async () => {
    const primaryWriter = (await evaluate("primary", { activeSite: "primary" })).resources.find(
      (resource) => resource.type === "aws:rds/instance:Instance" && resource.name === "primary-database-instance",
    );
    const inherited = JSON.stringify(primaryWriter?.inputs.password);
    expect(inherited).toContain("offline-random-primary-database-master-password");
    const changes = await failoverDiff("secondary", {});
    const passwords = changes.filter((change) => change.kind === "changed" && change.path === "password");
    expect(passwords).toHaveLength(1);
    expect(passwords.map((change) => change.kind === "changed" && [change.before, JSON.stringify(change.after)])).toEqual([[undefined, inherited]]);
    // The credentials the site's clients read are the same before and after.
    expect(changes.filter((change) => change.type.startsWith("aws:secretsmanager/"))).toEqual([]);
  });

  test("promotion removes the replica-lag alarm, the one resource that exists only beside a replica", async () => {
    const changes = await failoverDiff("secondary", {});
    expect(changes.filter((change) => change.kind !== "changed")).toEqual([
      { kind: "removed", type: "aws:cloudwatch/metricAlarm:MetricAlarm", name: "secondary-database-replica-lag" },
    ]);
  });

  test("a planned switchover back promotes the rebuilt primary in place", async () => {
    const changes = await failoverDiff("primary", { primaryDatabaseGeneration: "2" });
    expect(changes.filter((change) => change.type === "aws:rds/instance:Instance").map((change) => change.kind === "changed" && change.path)).toEqual(
      expect.arrayContaining(["replicateSourceDb", "password", "backupRetentionPeriod", "skipFinalSnapshot", "finalSnapshotIdentifier"]),
    );
  });

  test("a writer is never turned back into a replica by a flip", () => {
    expect(failoverMayChange("aws:rds/instance:Instance", "replicateSourceDb", "arn:source", undefined)).toBe(true);
    expect(failoverMayChange("aws:rds/instance:Instance", "replicateSourceDb", undefined, "arn:source")).toBe(false);
    expect(failoverMayChange("aws:rds/instance:Instance", "replicateSourceDb", "arn:one", "arn:other")).toBe(false);
    expect(failoverMayChange("aws:rds/instance:Instance", "password", "secret", undefined)).toBe(false);
  });

  test("a change outside the allow-list would be caught", () => {
    const before = [{ type: "aws:rds/instance:Instance", name: "db", inputs: { instanceClass: "db.r6g.large" }, custom: true, protect: true }];
    const after = [{ ...before[0], inputs: { instanceClass: "db.t4g.micro" } }];
    expect(forbiddenFailoverChanges(diffGraphs(before, after))).toHaveLength(1);
    expect(forbiddenFailoverChanges(diffGraphs(before, []))).toEqual([{ kind: "removed", type: "aws:rds/instance:Instance", name: "db" }]);
    expect(forbiddenFailoverChanges(diffGraphs(before, [{ ...before[0], protect: false }]))).toEqual([
      { kind: "unprotected", type: "aws:rds/instance:Instance", name: "db" },
    ]);
  });
});

describe("the failover allow-list", () => {
  test("never allows an input whose change replaces a data store", () => {
    for (const type of DATA_STORE_TYPES) {
      for (const input of REPLACING_INPUTS[type] ?? []) {
        expect({ type, input, allowed: failoverMayChange(type, input) }).toEqual({ type, input, allowed: false });
      }
    }
  });

  test("matches list elements and nested fields, and nothing else", () => {
    expect(failoverMayChange("cloudflare:index/loadBalancer:LoadBalancer", "defaultPools[1]")).toBe(true);
    expect(failoverMayChange("aws:route53/record:Record", "records[0]")).toBe(true);
    // A changed failover type or set identifier is what Route 53 rejects half-way (infra/dns.ts).
    expect(failoverMayChange("aws:route53/record:Record", "failoverRoutingPolicies[0].type")).toBe(false);
    expect(failoverMayChange("aws:route53/record:Record", "setIdentifier")).toBe(false);
    expect(failoverMayChange("aws:rds/instance:Instance", "replicateSourceDbX")).toBe(false);
    expect(failoverMayChange("aws:s3/bucket:Bucket", "replicateSourceDb")).toBe(false);
  });

  test("explains every entry", () => {
    for (const allowance of FAILOVER_ALLOW_LIST) {
      expect(allowance.why.length).toBeGreaterThan(20);
      expect(allowance.paths.length > 0 || allowance.presence !== undefined).toBe(true);
    }
  });

  test("lets a flip remove only a resource that exists in one role, never a data store", () => {
    expect(failoverMayRemoveOrAdd("removal", "aws:cloudwatch/metricAlarm:MetricAlarm", "secondary-database-replica-lag")).toBe(true);
    expect(failoverMayRemoveOrAdd("addition", "aws:cloudwatch/metricAlarm:MetricAlarm", "secondary-database-replica-lag")).toBe(false);
    expect(failoverMayRemoveOrAdd("removal", "aws:cloudwatch/metricAlarm:MetricAlarm", "secondary-backup-jobs-age")).toBe(false);
    for (const type of DATA_STORE_TYPES) {
      expect(failoverMayRemoveOrAdd("removal", type, "secondary-database-replica-lag")).toBe(false);
    }
  });

  test("lets a flip only empty the database security group's rules, and no other group's", () => {
    const sg = "aws:ec2/securityGroup:SecurityGroup";
    expect(failoverMayChange(sg, "ingress[0].fromPort", 5432, undefined, "primary-database-sg")).toBe(true);
    expect(failoverMayChange(sg, "ingress", undefined, [], "primary-database-sg")).toBe(true);
    expect(failoverMayChange(sg, "ingress[0].fromPort", undefined, 5432, "primary-database-sg")).toBe(false);
    expect(failoverMayChange(sg, "ingress[0].fromPort", 5432, undefined, "primary-cache-sg")).toBe(false);
    expect(failoverMayChange(sg, "ingress[0].fromPort", 5432, undefined)).toBe(false);
  });
});
