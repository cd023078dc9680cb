import { diffEvaluations, EvaluatedStack } from "../../offline/diff";
import { buildPlan, concernOf, drProperties, hasDrProperties, renderPlanText } from "../../offline/plan";
import { renderDiffMarkdown } from "../../offline/summary";
import { CHEAP_EXAMPLE, evaluate, evaluateIn, MAIN_EXAMPLE } from "./evaluations";
import { failoverMayRemoveOrAdd } from "../../infra/failoverAllowList";
import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";

/** The Docker pair (siteKind docker, infra/docker). */
const DOCKER_EXAMPLE = path.join(PROJECT_ROOT, "examples", "docker");

// Each test evaluates the program with the mock runtime, up to four stacks (the active secondary beside its standby past); allow for a slow machine.
jest.setTimeout(60_000);

/** The offline plan and the DR diff on the project's own stacks. */

describe.each(["primary", "secondary"])("plan of stack %s", (stack) => {
  const plan = async () => buildPlan(await evaluate(stack));

  test("groups the backup bucket, key and their settings under storage, the replication under replication", async () => {
    const { concerns } = await plan();
    expect(concerns.storage.map((r) => r.type)).toEqual(
      expect.arrayContaining(["aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"]),
    );
    expect(concerns.replication.map((r) => r.type).sort()).toEqual([
      // Failed replication of the 4 rules out, latency of the peer's 3 RTC rules in.
      ...Array<string>(4 + 3).fill("aws:cloudwatch/metricAlarm:MetricAlarm"),
      "aws:iam/role:Role",
      "aws:iam/rolePolicy:RolePolicy",
      "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    ]);
    expect(concerns.other.map((r) => r.type)).toEqual(["pulumi:providers:aws"]);
  });

  test("marks data stores and protection, and shows the DR properties", async () => {
    const bucket = (await plan()).concerns.storage.find((r) => r.type === "aws:s3/bucket:Bucket")!;
    expect(bucket).toMatchObject({ dataStore: true, protect: true });
    expect(bucket.properties).toContain("Object Lock enabled: true");
    const text = renderPlanText(await plan());
    expect(text).toMatch(/db\/: expire 30d, noncurrent 30d/);
    expect(text).toMatch(/db\/ -> arn:aws:s3:::acme-shop-dr-backups-\w+-[a-z0-9-]+: RTC 15 min, delete markers not replicated/);
    expect(text).toMatch(/archive\/ -> .*: no RTC/);
    expect(text).toMatch(/Object Lock: GOVERNANCE 30 days/);
  });

  test.each(["postgres", "mysql", "mariadb"])("shows the engine (databaseEngine=%s) in its header, on every instance and its parameter group", async (engine) => {
    for (const [site, activeSite] of [["primary", "primary"], ["primary", "secondary"], ["secondary", "primary"], ["secondary", "secondary"]]) {
      const lost = site === "secondary" && activeSite === "secondary";
      const text = renderPlanText(buildPlan(await evaluate(site, { databaseEngine: engine, activeSite }, lost ? { kind: "unreachable" } : undefined)));
      expect(text).toContain(`activeSite=${activeSite}, databaseEngine=${engine})`);
      expect(text).toMatch(new RegExp(`engine: ${engine} \\d`));
      expect(text).toContain(`port: ${engine === "postgres" ? 5432 : 3306}`);
      if (engine !== "postgres") {
        expect(text).toMatch(new RegExp(`family: ${engine}\\d`));
        expect(text).toMatch(/settings: binlog_format=ROW, require_secure_transport=1/);
      }
    }
  });

  test("says none for the concerns this program does not provision yet", async () => {
    const text = renderPlanText(await plan());
    for (const concern of ["DNS", "Database", "Workloads", "Backups"]) {
      const resources = (await plan()).concerns[concern.toLowerCase() as "dns"];
      expect(text).toContain(resources.length === 0 ? `${concern}: none` : `${concern} (${resources.length})`);
    }
  });

  test("prints the DR posture per tier with the failover time", async () => {
    const text = renderPlanText(await plan());
    expect(text).toMatch(/DR posture \(objectivesEnforcement: error\): every used tier met/);
    expect(text).toMatch(/failover time 32\.5 min = max\(health check 1\.5 \+ DNS switch 2, detection 2\.5 \+ decision 10 \+ database 10 \+ scale-up 10\)/);
    expect(text).toMatch(/critical +35 min +32\.5 min +5 min +5 min +db\/ +met/);
    expect(text).toMatch(/high +60 min +32\.5 min +30 min +30 min +critical\/ +met/);
    expect(text).not.toMatch(/for now:/);
  });

  test("while the pair is part-way through failback, says what is missing for now, how to close it, and the posture once closed", async () => {
    const text = renderPlanText(buildPlan(await evaluate(stack, { activeSite: "secondary" }, stack === "secondary" ? { kind: "unreachable" } : undefined)));
    expect(text).toMatch(/DR posture \(objectivesEnforcement: error\): NOT every tier met/);
    expect(text).toMatch(/for now: the standby primary's database is a former writer, not a replica.*To close the gap: set primaryDatabaseGeneration to 2 in both stack files/);
    expect(text).toMatch(/once closed: failover time 32\.5 min, every used tier met/);
  });
});

describe("DR properties of every resource type the program declares", () => {
  // Every stack, role, DNS mode and failback phase: the types the program can declare. The example
  // stacks use Route 53, the cheaper example the Cloudflare record (and, with an override, load balancer).
  const worlds: Array<[string, string, Record<string, string>]> = [
    [MAIN_EXAMPLE, "primary", {}],
    [MAIN_EXAMPLE, "primary", { activeSite: "secondary" }],
    [MAIN_EXAMPLE, "primary", { activeSite: "secondary", primaryDatabaseGeneration: "2" }],
    [MAIN_EXAMPLE, "secondary", {}],
    [CHEAP_EXAMPLE, "secondary", {}],
    [CHEAP_EXAMPLE, "secondary", { cloudflareLoadBalancer: "true", cloudflareAccountId: "0".repeat(32) }],
    // MySQL and MariaDB add their parameter group.
    [MAIN_EXAMPLE, "secondary", { databaseEngine: "mysql" }],
    [MAIN_EXAMPLE, "primary", { databaseEngine: "mariadb", activeSite: "secondary" }],
    // Docker sites (infra/docker): each stack in each role, and a rebuilt generation beside its retired volume.
    [DOCKER_EXAMPLE, "primary", {}],
    [DOCKER_EXAMPLE, "primary", { activeSite: "secondary", primaryDatabaseGeneration: "2" }],
    [DOCKER_EXAMPLE, "secondary", {}],
    [DOCKER_EXAMPLE, "secondary", { activeSite: "secondary" }],
  ];

  test("each has an entry in the plan and shows at least one property (the line a DR reviewer looks for)", async () => {
    const missing = new Set<string>();
    const seen = new Set<string>();
    for (const [stackDir, stack, overrides] of worlds) {
      for (const resource of (await evaluateIn(stackDir, stack, overrides)).resources.filter((r) => r.custom && !r.type.startsWith("pulumi:pulumi:"))) {
        seen.add(resource.type);
        if (!hasDrProperties(resource.type) || drProperties(resource).length === 0) {
          missing.add(resource.type);
        }
      }
    }
    expect([...missing].sort()).toEqual([]);
    // every DNS mode and every Docker type is among the worlds
    for (const type of [
      "aws:route53/record:Record",
      "cloudflare:index/dnsRecord:DnsRecord",
      "cloudflare:index/loadBalancer:LoadBalancer",
      "docker:index/container:Container",
      "docker:index/volume:Volume",
      "docker:index/network:Network",
      "docker:index/remoteImage:RemoteImage",
      "pulumi:providers:docker",
    ]) {
      expect({ type, seen: seen.has(type) }).toEqual({ type, seen: true });
    }
  });

  test("the default DNS record (the cheaper example's) shows its target and TTL", async () => {
    const record = (await evaluateIn(CHEAP_EXAMPLE, "secondary")).resources.find((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord" && r.inputs.name === "shop.example.com")!;
    expect(drProperties(record)).toEqual(["record: shop.example.com CNAME -> primary.shop.example.com", "TTL (s): 60", "proxied: false"]);
  });

  test("a type without an entry shows nothing, which the test above catches", () => {
    expect(hasDrProperties("aws:ec2/natGateway:NatGateway")).toBe(false);
    expect(drProperties({ type: "aws:ec2/natGateway:NatGateway", inputs: { subnetId: "x" } })).toEqual([]);
  });
});

describe("concerns", () => {
  const all = [
    { type: "drstack:dns:FailoverDns", name: "dns" },
    { type: "aws:iam/role:Role", name: "hc-role", parent: "drstack:dns:FailoverDns::dns" },
    { type: "drstack:backups:BackupJobs", name: "jobs" },
    { type: "aws:iam/role:Role", name: "job-role", parent: "drstack:backups:BackupJobs::jobs" },
  ];

  test("a resource belongs to its nearest drstack component's concern", () => {
    expect(concernOf(all[1], all)).toBe("dns");
    expect(concernOf(all[3], all)).toBe("backups");
  });

  test("outside a component, the resource type decides", () => {
    expect(concernOf({ type: "aws:rds/instance:Instance", name: "db" }, all)).toBe("database");
    expect(concernOf({ type: "aws:route53/record:Record", name: "r" }, all)).toBe("dns");
    expect(concernOf({ type: "kubernetes:apps/v1:Deployment", name: "web" }, all)).toBe("workloads");
    expect(concernOf({ type: "aws:lambda/function:Function", name: "dump" }, all)).toBe("backups");
    expect(concernOf({ type: "aws:iam/role:Role", name: "r" }, all)).toBe("other");
  });
});

describe("failover rehearsal of the example stacks", () => {
  test.each(["primary", "secondary"])("on %s changes roles and never deletes or replaces a data store", async (stack) => {
    const diff = diffEvaluations(await evaluate(stack), await evaluate(stack, { activeSite: "secondary" }), `${stack}: failover rehearsal`);
    expect(diff.findings.filter((f) => f.severity === "blocking")).toEqual([]);
    // Only what exists in one role may go (the replica-lag alarm); never a data store.
    const removed = diff.changes.filter((c) => c.kind === "removed" || c.kind === "replaced");
    expect(removed.filter((c) => c.kind === "replaced" || !failoverMayRemoveOrAdd("removal", c.type, c.name))).toEqual([]);
    expect(diff.outputChanges).toContainEqual({ name: "activeSite", before: "primary", after: "secondary" });
    expect(diff.outputChanges.find((o) => o.name === "role")).toEqual(
      stack === "secondary" ? { name: "role", before: "standby", after: "active" } : { name: "role", before: "active", after: "standby" },
    );
    expect(renderDiffMarkdown(diff)).toMatch(/Stack outputs: .*`role`/);
  });
});

describe("diff of two evaluations", () => {
  const diff = async (overrides: Record<string, string>) => diffEvaluations(await evaluate("primary"), await evaluate("primary", overrides), "t");

  test("a shorter retention in config is a retention finding on the lifecycle", async () => {
    const result = await diff({ dbRetentionDays: "30", criticalRetentionDays: "60" });
    expect(result.findings.map((f) => [f.rule, f.name])).toEqual([["retention-shortened", "primary-backups-lifecycle"]]);
    expect(result.changes.map((c) => [c.kind, c.name])).toEqual([["changed", "primary-backups-lifecycle"]]);
  });

  test("a new namePrefix replaces the bucket: blocking", async () => {
    const result = await diff({ namePrefix: "acme-shop-dr2" });
    expect(result.findings.filter((f) => f.severity === "blocking").map((f) => f.name)).toContain("primary-backups-bucket");
    expect(result.changes.find((c) => c.name === "primary-backups-bucket")?.kind).toBe("replaced");
  });

  test("replication dropped before the peer exists is a replication finding", async () => {
    const result = await diff({ peerProvisioned: "false" });
    expect(result.findings.map((f) => f.rule)).toContain("replication-removed");
    expect(result.changes.filter((c) => c.kind === "removed").map((c) => c.type)).toContain("aws:s3/bucketReplicationConfig:BucketReplicationConfig");
  });

  test("a looser critical RPO drops RTC for its classes (in the example, db/; critical/ is in the high tier)", async () => {
    const result = await diff({ tierCriticalRpoMinutes: "1440" });
    expect(result.findings.filter((f) => f.rule === "replication-rtc-dropped").map((f) => f.message)).toEqual([expect.stringMatching(/prefix "db\/"/)]);
  });

  test("a renamed data store (delete + create) is blocking even without any input change", () => {
    const base: EvaluatedStack = {
      stack: "primary",
      resources: [{ type: "aws:kms/key:Key", name: "old-key", inputs: { enableKeyRotation: true }, protect: true }],
      outputs: {},
    };
    const head: EvaluatedStack = { ...base, resources: [{ ...base.resources[0], name: "new-key" }] };
    const result = diffEvaluations(base, head, "rename");
    expect(result.findings.map((f) => [f.severity, f.rule, f.name])).toEqual([["blocking", "data-store-deleted", "old-key"]]);
    expect(result.changes.map((c) => [c.kind, c.name])).toEqual([
      ["removed", "old-key"],
      ["added", "new-key"],
    ]);
  });
});
