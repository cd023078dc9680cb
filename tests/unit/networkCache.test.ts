import { BACKUP_HANDLER } from "../../infra/backupContract";
import { Evaluation, RecordedResource } from "../../offline/evaluate";
import { handlerCalls } from "../../offline/handlerCalls";
import { reachabilityProblems } from "../../offline/reachability";
import { cidrRange, zoneIdPrefix } from "../../infra/config";
import { endpointUrlVariable } from "../../infra/serviceEndpoints";
import { evaluate, parsePolicy, resourcesOfType, single, STACK_CASES } from "./evaluations";

jest.setTimeout(60_000);

const T = {
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  routeTable: "aws:ec2/routeTable:RouteTable",
  route: "aws:ec2/route:Route",
  association: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  group: "aws:ec2/securityGroup:SecurityGroup",
  redis: "aws:elasticache/replicationGroup:ReplicationGroup",
  rdsSubnets: "aws:rds/subnetGroup:SubnetGroup",
};

const calls = handlerCalls();

describe.each(STACK_CASES)("network and cache of $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite }, stack === "secondary" && activeSite === "secondary" ? { kind: "unreachable" } : undefined);
  // The restore drills' VPC is their own (tests/unit/drills.test.ts); these are the site's data tier in the cluster's VPC.
  const inSiteNetwork = (evaluation: Evaluation, type: string) => resourcesOfType(evaluation, type).filter((resource) => !resource.name.startsWith(`${stack}-restore-drills-`));

  test("the data subnets are created in the cluster's VPC, in the zones config pins by ID, with no zone lookup", async () => {
    const evaluation = await run();
    const vpc = evaluation.config["drstack:clusterVpcId"];
    expect(inSiteNetwork(evaluation, T.vpc)).toEqual([]);
    const subnets = inSiteNetwork(evaluation, T.subnet);
    expect(subnets.map((subnet) => subnet.inputs.availabilityZoneId)).toEqual(JSON.parse(evaluation.config["drstack:dataSubnetZoneIds"]));
    expect(subnets.map((subnet) => subnet.inputs.cidrBlock)).toEqual(JSON.parse(evaluation.config["drstack:dataSubnetCidrs"]));
    for (const subnet of subnets) {
      expect(subnet.inputs).toMatchObject({ vpcId: vpc, mapPublicIpOnLaunch: false });
      // A zone name (us-west-2a) maps to a different zone in each account, and a
      // lookup would re-read the list at every up (an impaired zone drops out).
      expect(subnet.inputs.availabilityZone).toBeUndefined();
    }
    expect(evaluation.invokes).not.toContain("aws:index/getAvailabilityZones:getAvailabilityZones");
    // RDS: "a DB subnet group must have subnets in at least two Availability
    // Zones" (RDS User Guide, "Working with a DB instance in a VPC").
    const zones = new Set(subnets.map((subnet) => subnet.inputs.availabilityZoneId));
    expect(zones.size).toBeGreaterThanOrEqual(2);
    expect(single(evaluation, T.rdsSubnets).inputs.subnetIds).toEqual(subnets.map((subnet) => `${subnet.name}-id`));
  });

  test("the data subnets' own route table leads nowhere but S3's gateway endpoint, whose policy allows only the site's bucket", async () => {
    const evaluation = await run();
    const [table, ...others] = inSiteNetwork(evaluation, T.routeTable);
    expect(others).toEqual([]);
    expect(table.inputs.routes ?? []).toEqual([]);
    expect(inSiteNetwork(evaluation, T.route)).toEqual([]);
    const associations = inSiteNetwork(evaluation, T.association);
    expect(associations.map((association) => association.inputs.subnetId).sort()).toEqual(inSiteNetwork(evaluation, T.subnet).map((subnet) => `${subnet.name}-id`).sort());
    for (const association of associations) {
      expect(association.inputs.routeTableId).toBe(`${table.name}-id`);
    }
    const gateway = inSiteNetwork(evaluation, T.endpoint).find((endpoint) => endpoint.inputs.vpcEndpointType === "Gateway")!;
    expect(gateway.inputs).toMatchObject({ serviceName: `com.amazonaws.${String(evaluation.outputs.region)}.s3`, routeTableIds: [`${table.name}-id`] });
    const bucketArn = `arn:aws:s3:::${String(evaluation.outputs.backupBucketName)}`;
    expect(parsePolicy(gateway.inputs.policy)).toEqual([expect.objectContaining({ Effect: "Allow", Action: "s3:*", Resource: [bucketArn, `${bucketArn}/*`] })]);
  });

  test("interface endpoints have no private DNS (it would capture the whole cluster VPC's calls) and the functions are pointed at them", async () => {
    const evaluation = await run();
    const interfaces = inSiteNetwork(evaluation, T.endpoint).filter((endpoint) => endpoint.inputs.vpcEndpointType === "Interface");
    expect(interfaces.length).toBeGreaterThan(0);
    for (const endpoint of interfaces) {
      expect(endpoint.inputs.privateDnsEnabled).toBe(false);
      expect(endpoint.inputs.subnetIds).toEqual(inSiteNetwork(evaluation, T.subnet).map((subnet) => `${subnet.name}-id`));
      for (const statement of parsePolicy(endpoint.inputs.policy)) {
        expect(statement.Action).not.toContain("*");
        expect(statement.Resource).not.toContain("*");
      }
    }
    const backup = resourcesOfType(evaluation, "aws:lambda/function:Function").find((fn) => (fn.inputs.imageConfig as { commands?: string[] } | undefined)?.commands?.[0] === BACKUP_HANDLER)!;
    const variables = (backup.inputs.environment as { variables: Record<string, string> }).variables;
    expect(variables[endpointUrlVariable("secretsmanager")]).toMatch(/^https:\/\/vpce-[0-9a-f]+-abcdefgh\.secretsmanager\.[a-z0-9-]+\.vpce\.amazonaws\.com$/);
  });

  test("every function reaches every AWS API its bundle calls and the database, and the cluster's pods reach the database and cache", async () => {
    const evaluation = await run();
    expect(reachabilityProblems(evaluation, calls)).toEqual([]);
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

  test("security group names and every description, the group's and each rule's, use only the characters EC2 accepts", async () => {
    // EC2 CreateSecurityGroup / IpPermission: "Constraints: Up to 255 characters in length. Valid
    // characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*"; a group name "Can't start with sg-".
    // An apostrophe ("the cluster's pods") fails the create on a real account, never under the mocks.
    const evaluation = await run();
    const valid = /^[a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]{0,255}$/;
    const texts: Array<[string, unknown]> = [];
    for (const group of resourcesOfType(evaluation, T.group)) {
      texts.push([`${group.name} description`, group.inputs.description]);
      if (group.inputs.name !== undefined) texts.push([`${group.name} name`, group.inputs.name]);
      for (const direction of ["ingress", "egress"] as const) {
        for (const [index, rule] of ((group.inputs[direction] ?? []) as Array<{ description?: string }>).entries()) {
          texts.push([`${group.name} ${direction}[${index}] description`, rule.description ?? ""]);
        }
      }
    }
    expect(texts.length).toBeGreaterThan(0);
    const invalid = texts.filter(([, text]) => typeof text !== "string" || !valid.test(text));
    expect(invalid).toEqual([]);
    for (const group of resourcesOfType(evaluation, T.group)) {
      expect(String(group.inputs.name ?? group.name)).not.toMatch(/^sg-/);
    }
  });
});

/** The evaluation with one resource's inputs changed, to prove the check sees the break. */
function withInputs(evaluation: Evaluation, match: (resource: RecordedResource) => boolean, change: (inputs: Record<string, unknown>) => Record<string, unknown>): Evaluation {
  let changed = 0;
  const resources = evaluation.resources.map((resource) => {
    if (!match(resource)) {
      return resource;
    }
    changed += 1;
    return { ...resource, inputs: change(resource.inputs) };
  });
  expect(changed).toBeGreaterThan(0);
  return { ...evaluation, resources };
}

describe("the reachability graph follows the engine's port", () => {
  test.each(STACK_CASES)("with databaseEngine=mysql the $stack stack (activeSite=$activeSite) reaches its database on 3306 and nothing else", async ({ stack, activeSite }) => {
    const evaluation = await evaluate(stack, { activeSite, databaseEngine: "mysql" }, stack === "secondary" && activeSite === "secondary" ? { kind: "unreachable" } : undefined);
    expect(reachabilityProblems(evaluation, calls)).toEqual([]);
  });

  test("a MySQL database admitting its clients on PostgreSQL's port is caught, for the pods and the backup functions", async () => {
    const evaluation = await evaluate("primary", { databaseEngine: "mysql" });
    const broken = withInputs(
      evaluation,
      (resource) => resource.type === T.group && resource.name === "primary-database-sg",
      (inputs) => ({ ...inputs, ingress: ((inputs.ingress ?? []) as Array<Record<string, unknown>>).map((rule) => ({ ...rule, fromPort: 5432, toPort: 5432 })) }),
    );
    const problems = reachabilityProblems(broken, calls).map((problem) => `${problem.from} -> ${problem.to}`);
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^backup function .* -> database acme-shop-dr-primary-db$/), expect.stringMatching(/-> database acme-shop-dr-primary-db$/)]));
    expect(problems.some((problem) => problem.startsWith("the cluster"))).toBe(true);
  });

  test("a backup function whose DATABASE_URL names another port than the database's is caught", async () => {
    const evaluation = await evaluate("primary", { databaseEngine: "mariadb" });
    const broken = withInputs(
      evaluation,
      (resource) => resource.type === "aws:lambda/function:Function" && resource.inputs.packageType === "Image",
      (inputs) => {
        const environment = inputs.environment as { variables: Record<string, string> };
        return { ...inputs, environment: { variables: { ...environment.variables, DATABASE_URL: environment.variables.DATABASE_URL.replace(":3306/", ":5432/") } } };
      },
    );
    expect(reachabilityProblems(broken, calls).map((problem) => problem.problem)).toContain("DATABASE_URL names port 5432, but the database listens on 3306");
  });
});

describe("the reachability check fails when a hop breaks", () => {
  // The site network's hops; the drills' own VPC has its breaks tested in tests/unit/drills.test.ts.
  const isGroup = (suffix: string) => (resource: RecordedResource) => resource.type === T.group && resource.name.endsWith(suffix) && !resource.name.includes("-restore-drills-");
  const problemsAfter = async (match: (resource: RecordedResource) => boolean, change: (inputs: Record<string, unknown>) => Record<string, unknown>) =>
    reachabilityProblems(withInputs(await evaluate("primary"), match, change), calls).map((problem) => `${problem.from} -> ${problem.to}: ${problem.problem}`);

  test("without the S3 gateway endpoint's route", async () => {
    const problems = await problemsAfter((r) => r.type === T.endpoint && r.inputs.vpcEndpointType === "Gateway" && !r.name.includes("-restore-drills-"), (inputs) => ({ ...inputs, routeTableIds: [] }));
    // Two backup functions (shop, ledger), each in two data subnets.
    expect(problems).toHaveLength(4);
    for (const problem of problems) {
      expect(problem).toMatch(/^backup function .* -> s3: subnet primary-network-data-\d-id's route table has no route to the S3 gateway endpoint$/);
    }
  });

  test("when the endpoints' group stops admitting the functions", async () => {
    const problems = await problemsAfter(isGroup("-endpoints"), (inputs) => ({ ...inputs, ingress: [] }));
    // Two backup functions, each calling three services through interface endpoints.
    expect(problems).toHaveLength(6);
    for (const problem of problems) {
      expect(problem).toMatch(/^backup function .* -> (secretsmanager|ssm|lambda): no ingress rule of the \1 endpoint's groups .* admits TCP 443/);
    }
  });

  test("when the functions' group loses its way out to PostgreSQL", async () => {
    expect(
      await problemsAfter(isGroup("-backup-functions"), (inputs) => ({
        ...inputs,
        egress: (inputs.egress as Array<{ fromPort: number }>).filter((rule) => rule.fromPort !== 5432),
      })),
    ).toEqual([
      expect.stringMatching(/^backup function primary-backup-jobs-backup-shop -> database acme-shop-dr-primary-db: no egress rule .* lets TCP 5432 out/),
      expect.stringMatching(/^backup function primary-backup-jobs-backup-ledger -> database acme-shop-dr-primary-db: no egress rule .* lets TCP 5432 out/),
    ]);
  });

  test("when the database stops admitting the cluster's pods", async () => {
    expect(await problemsAfter(isGroup("database-sg"), (inputs) => ({ ...inputs, ingress: [] }))).toEqual([
      expect.stringMatching(/^backup function .*shop -> database .*: no ingress rule .* admits TCP 5432/),
      expect.stringMatching(/^backup function .*ledger -> database .*: no ingress rule .* admits TCP 5432/),
      expect.stringMatching(/^the cluster's pods -> database .*: no ingress rule .* admits TCP 5432/),
    ]);
  });

  test("when a function is not pointed at an endpoint without private DNS", async () => {
    const problems = await problemsAfter(
      (r) => r.type === "aws:lambda/function:Function" && r.name.endsWith("-shop"),
      (inputs) => {
        const variables = { ...(inputs.environment as { variables: Record<string, string> }).variables };
        delete variables[endpointUrlVariable("secretsmanager")];
        return { ...inputs, environment: { variables } };
      },
    );
    expect(problems).toEqual([expect.stringMatching(/secretsmanager endpoint has no private DNS and backup function primary-backup-jobs-backup-shop is not pointed at it/)]);
  });

  test("when a connection would not be encrypted", async () => {
    expect(
      await problemsAfter(
        (r) => r.type === "aws:lambda/function:Function" && r.name.endsWith("-shop"),
        (inputs) => ({ ...inputs, environment: { variables: { ...(inputs.environment as { variables: Record<string, string> }).variables, DATABASE_URL: "postgres://db:5432/shop" } } }),
      ),
    ).toEqual([expect.stringMatching(/-shop -> the database: DATABASE_URL "postgres:\/\/db:5432\/shop" does not require TLS with the server verified/)]);
    expect(
      await problemsAfter(
        (r) => r.type === "kubernetes:core/v1:Secret",
        (inputs) => ({ ...inputs, stringData: { DATABASE_URL: "postgres://u:p@db:5432/shop", PGHOST: "db", REDIS_URL: "redis://db:6379" } }),
      ),
    ).toEqual([
      expect.stringMatching(/DATABASE_URL does not require TLS/),
      expect.stringMatching(/PGSSLMODE \(undefined\) does not require TLS/),
      expect.stringMatching(/REDIS_URL is not rediss:\/\/ \(TLS\)/),
    ]);
    expect(await problemsAfter((r) => r.type === T.redis, (inputs) => ({ ...inputs, transitEncryptionEnabled: false }))).toEqual([
      expect.stringMatching(/the cache does not encrypt in transit/),
    ]);
  });

  test("when a fenced former writer would still admit the cluster's pods", async () => {
    const fenced = await evaluate("primary", { activeSite: "secondary" });
    expect(fenced.outputs.databaseMode).toBe("fenced");
    expect(reachabilityProblems(fenced, calls)).toEqual([]);
    const clusterGroups = JSON.parse(fenced.config["drstack:clusterSecurityGroupIds"]) as string[];
    const reopened = withInputs(fenced, isGroup("database-sg"), (inputs) => ({
      ...inputs,
      ingress: [{ protocol: "tcp", fromPort: 5432, toPort: 5432, securityGroups: clusterGroups }],
    }));
    expect(reachabilityProblems(reopened, calls).map((problem) => `${problem.from} -> ${problem.to}: ${problem.problem}`)).toEqual([
      "the cluster's pods -> database acme-shop-dr-primary-db: can still connect to a database that must take no connections (fenced or retired)",
    ]);
  });

  test("when the data subnets are not in the cluster's VPC", async () => {
    const problems = await problemsAfter((r) => r.type === T.subnet, (inputs) => ({ ...inputs, vpcId: "vpc-0000000000000000f" }));
    expect(problems.some((problem) => /the cluster's pods -> database .* no route between them/.test(problem))).toBe(true);
  });
});

describe("the handlers' calls come from their bundles", () => {
  test("the backup handler calls S3, Secrets Manager, SSM and Lambda (its guard) and connects to PostgreSQL; verify never touches the database", () => {
    expect([...calls.backup.aws].sort()).toEqual(["lambda", "s3", "secretsmanager", "ssm"]);
    expect(calls.backup.database).toBe(true);
    expect(calls.verify.database).toBe(false);
    expect(calls.verify.aws).toEqual(expect.arrayContaining(["s3", "monitoring", "sns"]));
  });
});

describe("network config helpers", () => {
  test("CIDRs on their own boundary only", () => {
    expect(cidrRange("10.10.240.0/24")).toEqual({ first: 168488960, last: 168489215, prefix: 24 });
    expect(cidrRange("10.10.240.1/24")).toBeUndefined();
    expect(cidrRange("10.300.0.0/16")).toBeUndefined();
  });

  test("zone-ID prefixes follow AWS's region abbreviations", () => {
    expect(zoneIdPrefix("us-west-2")).toBe("usw2");
    expect(zoneIdPrefix("us-east-1")).toBe("use1");
    expect(zoneIdPrefix("ap-northeast-1")).toBe("apne1");
    expect(zoneIdPrefix("eu-central-1")).toBe("euc1");
    expect(zoneIdPrefix("us-gov-west-1")).toBe("usgw1");
    expect(zoneIdPrefix("xx-odd-1")).toBeUndefined();
  });
});
