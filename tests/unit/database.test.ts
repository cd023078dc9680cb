import { readFileSync } from "node:fs";
import { spawnSync } from "child_process";
import * as path from "path";
import { DATABASE_REPLICA_LAG_MINUTES } from "../../infra/assumptions";
import { createdAsReplica, FROZEN_INSTANCE_INPUTS, masterPasswordOrigin, parseDatabaseSecret } from "../../infra/database";
import { SiteName } from "../../infra/roles";
import { Evaluation, RecordedResource, revealSecrets } from "../../offline/evaluate";
import { evaluate, FAILBACK_CYCLE, resourcesOfType, single, STACK_CASES } from "./evaluations";

jest.setTimeout(120_000);

const INSTANCE = "aws:rds/instance:Instance";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";
const LOST_PRIMARY = { kind: "unreachable" } as const;

// Where each rule comes from.
const PROVIDER = "terraform-provider-aws internal/service/rds/instance.go";
const PULUMI_ARGS = "@pulumi/aws 7.48.0 rds.InstanceArgs";
const CREATE_REPLICA_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html";
const PG_REPLICA_GUIDE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.Configuration.html";

function instance(evaluation: Evaluation, identifier: string): RecordedResource {
  const found = resourcesOfType(evaluation, INSTANCE).find((resource) => resource.inputs.identifier === identifier);
  if (!found) {
    throw new Error(`no database ${identifier} in ${evaluation.stack}`);
  }
  return found;
}

function dataKeyArn(evaluation: Evaluation): string {
  const key = resourcesOfType(evaluation, "aws:kms/key:Key").find((resource) => resource.name.endsWith("-data-key"));
  return `arn:aws:kms:${String(evaluation.outputs.region)}:123456789012:key/${key?.name}-key-id`;
}

/** The world a stack is evaluated in; the active secondary has lost its primary. */
function run(stack: SiteName, overrides: Record<string, string> = {}): Promise<Evaluation> {
  const lost = stack === "secondary" && overrides.activeSite === "secondary";
  return evaluate(stack, overrides, lost ? LOST_PRIMARY : undefined);
}

/** The database generations of the failover/failback cycle (README, Failback). */
const GENERATIONS: Record<string, string>[] = [{}, { primaryDatabaseGeneration: "2" }, { primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" }];

/** Every stack in every role at every generation: each instance the program ever declares. */
const WORLDS = GENERATIONS.flatMap((generations) =>
  STACK_CASES.map(({ stack, activeSite }) => ({ stack, overrides: { ...generations, activeSite } })),
);

interface Declared {
  world: string;
  evaluation: Evaluation;
  instance: RecordedResource;
}

async function everyInstance(): Promise<Declared[]> {
  const declared: Declared[] = [];
  for (const { stack, overrides } of WORLDS) {
    const evaluation = await run(stack, overrides);
    for (const resource of resourcesOfType(evaluation, INSTANCE)) {
      declared.push({ world: `${stack} ${JSON.stringify(overrides)}`, evaluation, instance: resource });
    }
  }
  return declared;
}

async function everyReplica(): Promise<Declared[]> {
  return (await everyInstance()).filter(({ instance: db }) => db.inputs.replicateSourceDb !== undefined);
}

/**
 * An evaluation that fails inside the program, in its own process: there, as
 * under Pulumi's language host, the SDK's rejections stop the run, while jest
 * would report each of them as a failure of the test itself.
 */
function evaluateInSubprocess(options: { stack: string; overrides: Record<string, string>; deployedSecrets: Record<string, string> }): {
  ok: boolean;
  message?: string;
} {
  const script = `
require("tsx/cjs/api").register();
require("./offline/evaluate").evaluateStack(${JSON.stringify(options)}).then(
  () => process.stdout.write(JSON.stringify({ ok: true }), () => process.exit(0)),
  (error) => process.stdout.write(JSON.stringify({ ok: false, message: error.message }), () => process.exit(0)),
);`;
  const result = spawnSync(process.execPath, ["-e", script], { cwd: path.resolve(__dirname, "..", ".."), encoding: "utf8" });
  return JSON.parse(result.stdout) as { ok: boolean; message?: string };
}

/** The pair's one master password, as the primary generates it (offline stand-in). */
const PAIR_PASSWORD = "offline-random-primary-database-master-password";

describe.each(STACK_CASES)("the database of $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const current = () => run(stack, { activeSite });

  test("is guarded the way a careful operator guards a production database", async () => {
    const evaluation = await current();
    const db = single(evaluation, INSTANCE);
    const replica = evaluation.outputs.databaseMode === "replica";
    expect(db.protect).toBe(true);
    expect(db.inputs).toMatchObject({
      identifier: `acme-shop-dr-${stack}-db`,
      engine: "postgres",
      engineVersion: "16",
      deletionProtection: true,
      deleteAutomatedBackups: false,
      storageEncrypted: true,
      publiclyAccessible: false,
      multiAz: true,
      performanceInsightsEnabled: true,
      performanceInsightsRetentionPeriod: 7,
      monitoringInterval: 60,
      copyTagsToSnapshot: true,
      // A replica cannot have a final snapshot; every other instance takes one.
      skipFinalSnapshot: replica,
      ...(replica ? {} : { finalSnapshotIdentifier: `acme-shop-dr-${stack}-db-final` }),
    });
    expect(db.inputs.monitoringRoleArn).toBe(`arn:aws:iam::123456789012:role/acme-shop-dr-rds-monitoring-${stack}`);
  });

  test("keeps automated backups wherever it is not a replica", async () => {
    const evaluation = await current();
    const db = single(evaluation, INSTANCE);
    const replica = evaluation.outputs.databaseMode === "replica";
    expect(db.inputs.backupRetentionPeriod).toBe(replica ? undefined : 14);
    expect(db.inputs.backupWindow).toBe(replica ? undefined : "03:00-04:00");
  });

  test("is encrypted with its own region's data key, which is protected", async () => {
    const evaluation = await current();
    const db = single(evaluation, INSTANCE);
    expect(db.inputs.kmsKeyId).toBe(dataKeyArn(evaluation));
    expect(db.inputs.performanceInsightsKmsKeyId).toBe(dataKeyArn(evaluation));
    expect(String(db.inputs.kmsKeyId)).toContain(`:kms:${String(evaluation.outputs.region)}:`);
  });

  test("admits the client security groups as writer or replica, and nobody as a fenced former writer", async () => {
    const evaluation = await current();
    const group = resourcesOfType(evaluation, SECURITY_GROUP).find((resource) => resource.name === `${stack}-database-sg`);
    if (evaluation.outputs.databaseMode === "fenced") {
      // An explicit empty list: an absent `ingress` leaves the existing rules in place
      // (hashicorp/terraform-provider-aws#644, #20046; pulumi/pulumi#2675).
      expect(group?.inputs.ingress).toEqual([]);
    } else {
      expect(group?.inputs.ingress).toEqual([
        expect.objectContaining({
          protocol: "tcp",
          fromPort: 5432,
          toPort: 5432,
          securityGroups: [...(JSON.parse(evaluation.config["drstack:clusterSecurityGroupIds"]) as string[]), `${stack}-network-backup-functions-id`],
        }),
      ]);
    }
    expect(single(evaluation, INSTANCE).inputs.vpcSecurityGroupIds).toEqual([`${stack}-database-sg-id`]);
  });

  test("alarms on replica lag beyond the RPO budget only where it runs a replica", async () => {
    const evaluation = await current();
    const alarms = resourcesOfType(evaluation, ALARM).filter((alarm) => alarm.inputs.metricName === "ReplicaLag");
    if (evaluation.outputs.databaseMode !== "replica") {
      expect(alarms).toEqual([]);
      return;
    }
    expect(alarms).toHaveLength(1);
    expect(alarms[0].name).toBe(`${stack}-database-replica-lag`);
    expect(alarms[0].inputs).toMatchObject({
      namespace: "AWS/RDS",
      dimensions: { DBInstanceIdentifier: `acme-shop-dr-${stack}-db` },
      comparisonOperator: "GreaterThanThreshold",
      // ReplicaLag is in seconds (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html).
      threshold: DATABASE_REPLICA_LAG_MINUTES * 60,
      treatMissingData: "breaching",
      alarmActions: [evaluation.outputs.alarmTopicArn],
      okActions: [evaluation.outputs.alarmTopicArn],
    });
  });
});

describe("every replica the program declares (standby secondary, failback replica of the primary, every generation)", () => {
  test("the worlds below hold all three kinds of replica, so no rule passes on nothing", async () => {
    const replicas = (await everyReplica()).map(({ instance: db }) => String(db.inputs.identifier));
    expect(new Set(replicas)).toEqual(new Set(["acme-shop-dr-secondary-db", "acme-shop-dr-primary-db-g2", "acme-shop-dr-secondary-db-g2"]));
  });

  test(`declares no username: it conflicts with replicate_source_db (${PROVIDER}, schema "username" ConflictsWith; ${PULUMI_ARGS}.username "Cannot be specified for a replica")`, async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, username: db.inputs.username }).toEqual({ world, username: undefined });
    }
  });

  test(`declares no dbName: it conflicts with replicate_source_db (${PROVIDER}, schema "db_name" ConflictsWith)`, async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, dbName: db.inputs.dbName }).toEqual({ world, dbName: undefined });
    }
  });

  test(`declares no password: on a replica the provider calls ModifyDBInstance(MasterUserPassword) right after CreateDBInstanceReadReplica (${PROVIDER}, resourceInstanceCreate)`, async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, password: db.inputs.password }).toEqual({ world, password: undefined });
    }
  });

  test(`declares no automated backups (a replica's backup settings become a ModifyDBInstance after create, ${PROVIDER}); promotion turns them on`, async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, retention: db.inputs.backupRetentionPeriod, window: db.inputs.backupWindow }).toEqual({ world, retention: undefined, window: undefined });
    }
  });

  test(`skips the final snapshot and names none: "Must not be provided when deleting a read replica" (${PULUMI_ARGS}.finalSnapshotIdentifier; ${PROVIDER} resourceInstanceDelete)`, async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, skip: db.inputs.skipFinalSnapshot, name: db.inputs.finalSnapshotIdentifier }).toEqual({ world, skip: true, name: undefined });
    }
  });

  test(`replicates from the ARN of the other region's writer: "If replicating an Instance in a different region, use the arn of the source DB" (${PULUMI_ARGS}.replicateSourceDb)`, async () => {
    for (const { world, evaluation, instance: db } of await everyReplica()) {
      const source = String(db.inputs.replicateSourceDb);
      expect({ world, source }).toEqual({ world, source: expect.stringMatching(/^arn:aws:rds:[a-z0-9-]+:\d{12}:db:[a-z0-9-]+$/) });
      expect(source.split(":")[3]).not.toBe(evaluation.outputs.region);
    }
  });

  test(`is encrypted and monitored with keys of its own region: "you must specify a KMS key identifier for the destination Region" (${CREATE_REPLICA_API}, KmsKeyId)`, async () => {
    for (const { world, evaluation, instance: db } of await everyReplica()) {
      expect({ world, kms: db.inputs.kmsKeyId, insights: db.inputs.performanceInsightsKmsKeyId }).toEqual({
        world,
        kms: dataKeyArn(evaluation),
        insights: dataKeyArn(evaluation),
      });
    }
  });

  test(`uses a subnet group (and any parameter group) of its own stack, in its own region (${CREATE_REPLICA_API}, DBSubnetGroupName)`, async () => {
    for (const { world, evaluation, instance: db } of await everyReplica()) {
      const subnetGroups = resourcesOfType(evaluation, "aws:rds/subnetGroup:SubnetGroup").map((group) => group.inputs.name);
      const parameterGroups = resourcesOfType(evaluation, "aws:rds/parameterGroup:ParameterGroup").map((group) => group.inputs.name);
      expect({ world, declared: subnetGroups.includes(db.inputs.dbSubnetGroupName) }).toEqual({ world, declared: true });
      if (db.inputs.parameterGroupName !== undefined) {
        expect({ world, declared: parameterGroups.includes(db.inputs.parameterGroupName) }).toEqual({ world, declared: true });
      }
    }
  });

  test(`declares no allocatedStorage: a replica inherits its source's and the value is ignored on create (${PULUMI_ARGS}.allocatedStorage; ${PROVIDER})`, async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, allocatedStorage: db.inputs.allocatedStorage }).toEqual({ world, allocatedStorage: undefined });
    }
  });

  test("declares deletion protection, which a later `up` applies where CreateDBInstanceReadReplica ignored it (hashicorp/terraform-provider-aws#6011, #13666)", async () => {
    for (const { world, instance: db } of await everyReplica()) {
      expect({ world, deletionProtection: db.inputs.deletionProtection }).toEqual({ world, deletionProtection: true });
    }
  });
});

describe("every instance, in every mode and generation", () => {
  test(`an instance created as a replica never declares username or allocatedStorage, not even once promoted: "username" forces replacement (${PROVIDER}, ForceNew)`, async () => {
    for (const { world, instance: db } of await everyInstance()) {
      const identifier = String(db.inputs.identifier);
      const site: SiteName = identifier.startsWith("acme-shop-dr-primary-") ? "primary" : "secondary";
      const asReplica = createdAsReplica(site, Number(/-g(\d+)$/.exec(identifier)?.[1] ?? 1));
      expect({ world, identifier, username: db.inputs.username, storage: db.inputs.allocatedStorage }).toEqual({
        world,
        identifier,
        username: asReplica ? undefined : "drstack",
        storage: asReplica ? undefined : 100,
      });
    }
  });

  test(`no instance declares dbName: it forces replacement (${PROVIDER}, ForceNew), so it could never be added to a running writer`, async () => {
    for (const { world, instance: db } of await everyInstance()) {
      expect({ world, dbName: db.inputs.dbName }).toEqual({ world, dbName: undefined });
    }
  });

  test(`every writer and former writer keeps automated backups: a replica's source needs them (${PG_REPLICA_GUIDE}), and PromoteReadReplica takes backup_retention_period from config (${PROVIDER}, resourceInstanceUpdate)`, async () => {
    for (const { world, instance: db } of await everyInstance()) {
      if (db.inputs.replicateSourceDb === undefined) {
        expect({ world, retention: db.inputs.backupRetentionPeriod }).toEqual({ world, retention: expect.any(Number) });
        expect(db.inputs.backupRetentionPeriod as number).toBeGreaterThan(0);
        expect(db.inputs.skipFinalSnapshot).toBe(false);
        expect(db.inputs.finalSnapshotIdentifier).toBe(`${String(db.inputs.identifier)}-final`);
      }
    }
  });

  test("every writer and former writer declares the pair's one master password, the one its replica inherited", async () => {
    for (const { world, instance: db } of await everyInstance()) {
      if (db.inputs.replicateSourceDb === undefined) {
        expect({ world, password: revealSecrets(db.inputs.password) }).toEqual({ world, password: PAIR_PASSWORD });
      }
    }
  });

  test("each generation has its own security group: a retired one admits nobody, the current one its clients", async () => {
    const primary = await run("primary", { primaryDatabaseGeneration: "2", activeSite: "secondary" });
    const group = (name: string) => resourcesOfType(primary, SECURITY_GROUP).find((candidate) => candidate.name === name);
    expect(group("primary-database-sg")?.inputs.ingress).toEqual([]);
    expect(group("primary-database-sg-g2")?.inputs.ingress).toEqual([expect.objectContaining({ fromPort: 5432, toPort: 5432 })]);
    expect(instance(primary, "acme-shop-dr-primary-db").inputs.vpcSecurityGroupIds).toEqual(["primary-database-sg-id"]);
    expect(instance(primary, "acme-shop-dr-primary-db-g2").inputs.vpcSecurityGroupIds).toEqual(["primary-database-sg-g2-id"]);
  });

  // RDS refuses to modify a stopped instance ("InvalidDBInstanceState: Instance ... is not in available
  // state", ModifyDBInstance, https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html;
  // "You can't modify a stopped DB instance", USER_StopInstance.html). The fencing guard stops a former
  // writer, so any input change to it would fail the very `up` that fences or rebuilds the site.
  test("no step of the failover/failback cycle changes an instance that is no longer its site's live database, and each such instance is frozen", async () => {
    const cycle: Array<Record<string, string>> = [
      ...FAILBACK_CYCLE,
      // An operator who resizes during an outage must not touch the stopped former writer either.
      { ...FAILBACK_CYCLE[FAILBACK_CYCLE.length - 1], dbInstanceClass: "db.r6g.xlarge" },
    ];
    // Live: the active site's current generation (the writer) or a replica. Anything else is a former writer.
    const isLive = (evaluation: Evaluation, db: RecordedResource, activeSite: string) =>
      db.inputs.replicateSourceDb !== undefined || (evaluation.stack === activeSite && db.inputs.identifier === evaluation.outputs.databaseIdentifier);
    let checked = 0;
    for (const stack of ["primary", "secondary"] as const) {
      for (let step = 1; step < cycle.length; step++) {
        const before = await run(stack, cycle[step - 1]);
        const after = await run(stack, cycle[step]);
        for (const next of resourcesOfType(after, INSTANCE)) {
          if (isLive(after, next, cycle[step].activeSite)) {
            expect({ identifier: next.inputs.identifier, frozen: next.ignoreChanges }).toEqual({ identifier: next.inputs.identifier, frozen: undefined });
            continue;
          }
          const previous = resourcesOfType(before, INSTANCE).find((candidate) => candidate.name === next.name);
          const world = `${stack}: ${JSON.stringify(cycle[step - 1])} -> ${JSON.stringify(cycle[step])}: ${String(next.inputs.identifier)}`;
          expect({ world, existedBefore: previous !== undefined }).toEqual({ world, existedBefore: true });
          checked++;
          // Every input the program declares is taken from state, never from the program...
          expect({ world, frozen: [...(next.ignoreChanges ?? [])].sort() }).toEqual({ world, frozen: [...FROZEN_INSTANCE_INPUTS].sort() });
          expect({ world, unfrozen: Object.keys(next.inputs).filter((key) => !(next.ignoreChanges ?? []).includes(key)) }).toEqual({ world, unfrozen: [] });
          // ...it stays in its own security group (fencing empties the group's rules, not the instance's groups)...
          expect({ world, groups: next.inputs.vpcSecurityGroupIds }).toEqual({ world, groups: previous!.inputs.vpcSecurityGroupIds });
          // ...and the step that fences it declares exactly what it had as the writer, so even the first frozen `up` is a no-op.
          if (isLive(before, previous!, cycle[step - 1].activeSite) && cycle[step].dbInstanceClass === cycle[step - 1].dbInstanceClass) {
            expect({ world, inputs: next.inputs }).toEqual({ world, inputs: previous!.inputs });
          }
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  test("the frozen list is every input of aws.rds.Instance in the installed provider, so a provider upgrade cannot add an unfrozen one", () => {
    const declaration = readFileSync(require.resolve("@pulumi/aws/rds/instance.d.ts"), "utf8");
    const body = declaration.slice(declaration.indexOf("export interface InstanceArgs {"));
    const inputs = [...body.slice(0, body.indexOf("\n}")).matchAll(/^ {4}([a-zA-Z]+)\??: /gm)].map((match) => match[1]);
    expect(inputs.length).toBeGreaterThan(50);
    expect([...FROZEN_INSTANCE_INPUTS].sort()).toEqual(inputs.sort());
  });

  test("each generation's security group is kept when the program stops declaring it and is never replaced for its description", async () => {
    const primary = await run("primary", { primaryDatabaseGeneration: "2", activeSite: "secondary" });
    const groups = resourcesOfType(primary, SECURITY_GROUP).filter((group) => /-database-sg(-g\d+)?$/.test(group.name));
    expect(groups.map((group) => group.name).sort()).toEqual(["primary-database-sg", "primary-database-sg-g2"]);
    for (const group of groups) {
      expect({ name: group.name, retainOnDelete: group.retainOnDelete, ignoreChanges: group.ignoreChanges }).toEqual({ name: group.name, retainOnDelete: true, ignoreChanges: ["description"] });
    }
  });

  test("live instances are never frozen: a writer or a replica takes config changes", async () => {
    for (const { world, instance: db } of await everyInstance()) {
      const fenced = db.ignoreChanges !== undefined;
      if (db.inputs.replicateSourceDb !== undefined) {
        expect({ world, fenced }).toEqual({ world, fenced: false });
      }
    }
    const writer = instance(await run("primary"), "acme-shop-dr-primary-db");
    expect(writer.ignoreChanges).toBeUndefined();
  });
});

describe("credentials that survive a failover: one master password for the pair, generated in the primary's state", () => {
  test("the password's origin follows the roles: the primary generates it, the standby secondary copies it, the active secondary reads its copy", () => {
    expect(masterPasswordOrigin("primary", "primary")).toBe("generate");
    expect(masterPasswordOrigin("primary", "secondary")).toBe("generate");
    expect(masterPasswordOrigin("secondary", "primary")).toBe("copy-from-primary");
    expect(masterPasswordOrigin("secondary", "secondary")).toBe("read-own-copy");
  });

  test("the primary generates it once and exports it as a secret output; the secondary exports none", async () => {
    const primary = await run("primary");
    const masterPasswords = (evaluation: Evaluation) =>
      resourcesOfType(evaluation, "random:index/randomPassword:RandomPassword").filter((resource) => resource.name.includes("master-password"));
    expect(masterPasswords(primary).map((resource) => resource.name)).toEqual(["primary-database-master-password"]);
    expect(primary.outputs.databaseMasterPassword).toBe(PAIR_PASSWORD);
    expect(primary.secretOutputs).toContain("databaseMasterPassword");
    for (const activeSite of ["primary", "secondary"]) {
      const secondary = await run("secondary", { activeSite });
      expect(masterPasswords(secondary)).toEqual([]);
      expect(secondary.outputs.databaseMasterPassword).toBeUndefined();
    }
  });

  test("every credentials secret, in every world, is RDS JSON valid for that site's current database, encrypted with its own region's key", async () => {
    for (const { stack, overrides } of WORLDS) {
      const evaluation = await run(stack, overrides);
      const secret = single(evaluation, "aws:secretsmanager/secret:Secret");
      expect(secret.inputs).toMatchObject({ name: `acme-shop-dr/${stack}/db`, kmsKeyId: dataKeyArn(evaluation) });
      const value = JSON.parse(String(revealSecrets(single(evaluation, "aws:secretsmanager/secretVersion:SecretVersion").inputs.secretString))) as unknown;
      expect({ world: `${stack} ${JSON.stringify(overrides)}`, value }).toEqual({
        world: `${stack} ${JSON.stringify(overrides)}`,
        value: { engine: "postgres", username: "drstack", password: PAIR_PASSWORD, host: evaluation.outputs.databaseEndpoint, port: 5432, dbname: "shop" },
      });
      expect(evaluation.outputs.databaseCredentialsSecretArn).toBe(`arn:aws:secretsmanager:${String(evaluation.outputs.region)}:123456789012:secret:acme-shop-dr/${stack}/db-AbCdEf`);
    }
  });

  test("the standby secondary copies it from the primary's stack (the only time it reads it) into its own secret", async () => {
    const secondary = await run("secondary");
    expect(secondary.stackReferencesRead).toEqual(["organization/drstack/primary"]);
    expect(secondary.invokes).not.toContain("aws:secretsmanager/getSecretVersion:getSecretVersion");
  });

  test("the promoted secondary reads its own copy back in its own region with the primary unreachable, and declares the password its replica inherited", async () => {
    const promoted = await run("secondary", { activeSite: "secondary" });
    expect(promoted.stackReferencesRead).toEqual([]);
    expect(promoted.invokes).toEqual(
      expect.arrayContaining(["aws:secretsmanager/getSecrets:getSecrets", "aws:secretsmanager/getSecretVersion:getSecretVersion"]),
    );
    const primaryWriter = instance(await run("primary"), "acme-shop-dr-primary-db");
    expect(revealSecrets(single(promoted, INSTANCE).inputs.password)).toBe(revealSecrets(primaryWriter.inputs.password));
  });

  test("a secondary never `up`ed as standby cannot take the writer: the missing copy stops the `up` with a clear error", () => {
    const result = evaluateInSubprocess({ stack: "secondary", overrides: { activeSite: "secondary" }, deployedSecrets: {} });
    expect(result).toEqual({
      ok: false,
      message: expect.stringMatching(
        /copy of the database master password \(Secrets Manager secret acme-shop-dr\/secondary\/db in this region\) does not exist.*pulumi -s secondary up.*while the secondary is standby/,
      ),
    });
  });

  test("a secret whose name only starts with the copy's (ListSecrets filters names by prefix) is not taken for it", () => {
    const result = evaluateInSubprocess({
      stack: "secondary",
      overrides: { activeSite: "secondary" },
      deployedSecrets: { "acme-shop-dr/secondary/db-old": JSON.stringify({ username: "drstack", password: "stale" }) },
    });
    expect(result).toEqual({ ok: false, message: expect.stringMatching(/acme-shop-dr\/secondary\/db in this region\) does not exist/) });
  });

  test("a copy that is not RDS JSON is named in the error", () => {
    expect(() => parseDatabaseSecret("not json", "acme-shop-dr/secondary/db")).toThrow(/acme-shop-dr\/secondary\/db is not JSON/);
    expect(() => parseDatabaseSecret("{}", "acme-shop-dr/secondary/db")).toThrow(/has no username and password/);
    expect(parseDatabaseSecret(JSON.stringify({ username: "drstack", password: "p" }), "x")).toEqual({ username: "drstack", password: "p" });
  });
});

describe("writer, replica and promotion", () => {
  test("the active primary runs the writer with no source", async () => {
    const evaluation = await run("primary");
    const db = single(evaluation, INSTANCE);
    expect(db.inputs.replicateSourceDb).toBeUndefined();
    expect(revealSecrets(db.inputs.password)).toBe(PAIR_PASSWORD);
    expect(evaluation.outputs.databaseMode).toBe("writer");
  });

  test("the standby secondary replicates the writer whose ARN it reads from the primary's stack", async () => {
    const primary = await run("primary");
    const secondary = await run("secondary");
    const db = single(secondary, INSTANCE);
    expect(db.inputs.replicateSourceDb).toBe(primary.outputs.databaseArn);
    expect(secondary.outputs.databaseMode).toBe("replica");
  });

  test("failover promotes the secondary's replica under the same name and identifier", async () => {
    const evaluation = await run("secondary", { activeSite: "secondary" });
    const db = single(evaluation, INSTANCE);
    expect(db.name).toBe("secondary-database-instance");
    expect(db.inputs.identifier).toBe("acme-shop-dr-secondary-db");
    expect(db.inputs.replicateSourceDb).toBeUndefined();
    expect(evaluation.outputs.databaseMode).toBe("writer");
  });

  test("the returning primary fences its first-generation writer and says how to rebuild it", async () => {
    const evaluation = await run("primary", { activeSite: "secondary" });
    expect(evaluation.outputs.databaseMode).toBe("fenced");
    expect(single(evaluation, INSTANCE).inputs.replicateSourceDb).toBeUndefined();
    expect(evaluation.warnings.join("\n")).toMatch(/former writer.*raise primaryDatabaseGeneration to 2 in both stacks/);
    expect(evaluation.outputs).toMatchObject({ workloadScale: "warm", backupsScheduled: false });
  });
});

describe("failback (README, Failback)", () => {
  const rebuilt = { primaryDatabaseGeneration: "2" };

  test("step 1: the primary keeps its old writer, protected, and builds a replica of the secondary's writer derived by naming rule", async () => {
    const primary = await run("primary", { ...rebuilt, activeSite: "secondary" });
    const secondary = await run("secondary", { ...rebuilt, activeSite: "secondary" });
    const old = instance(primary, "acme-shop-dr-primary-db");
    const fresh = instance(primary, "acme-shop-dr-primary-db-g2");
    expect(old.protect).toBe(true);
    expect(old.inputs.replicateSourceDb).toBeUndefined();
    expect(fresh.protect).toBe(true);
    expect(fresh.inputs.replicateSourceDb).toBe(secondary.outputs.databaseArn);
    expect(fresh.inputs.kmsKeyId).toBe(dataKeyArn(primary));
    expect(primary.stackReferencesRead).toEqual([]);
  });

  test("step 2: the switchover promotes the rebuilt primary in place", async () => {
    const primary = await run("primary", { ...rebuilt, activeSite: "primary" });
    const fresh = instance(primary, "acme-shop-dr-primary-db-g2");
    expect(fresh.name).toBe("primary-database-instance-g2");
    expect(fresh.inputs.replicateSourceDb).toBeUndefined();
    expect(primary.outputs.databaseArn).toBe("arn:aws:rds:us-west-2:123456789012:db:acme-shop-dr-primary-db-g2");
  });

  test("step 3: the secondary rebuilds as a replica of the rebuilt primary, read from the primary's stack", async () => {
    const generations = { primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" };
    const primary = await run("primary", generations);
    const secondary = await run("secondary", generations);
    expect(instance(secondary, "acme-shop-dr-secondary-db").inputs.replicateSourceDb).toBeUndefined();
    expect(instance(secondary, "acme-shop-dr-secondary-db-g2").inputs.replicateSourceDb).toBe(primary.outputs.databaseArn);
    expect(primary.outputs.databaseArn).toBe("arn:aws:rds:us-west-2:123456789012:db:acme-shop-dr-primary-db-g2");
  });
});

describe("a writer beyond the first generation is never created from nothing", () => {
  test("generation 1 writers are declared directly; a later writer is looked up in its own region first", async () => {
    // The existence lookups; the engine check (infra/engineGuard.ts) asks by engine as well, on every run.
    const existenceLookups = (evaluation: Evaluation) =>
      evaluation.invokeCalls.filter(
        (call) => call.token === "aws:rds/getInstances:getInstances" && !((call.inputs.filters ?? []) as Array<{ name: string }>).some((filter) => filter.name === "engine"),
      );
    const first = await run("primary");
    expect(existenceLookups(first)).toEqual([]);
    const switchedBack = await run("primary", { primaryDatabaseGeneration: "2" });
    expect(switchedBack.outputs.databaseMode).toBe("writer");
    expect(existenceLookups(switchedBack)).not.toEqual([]);
  });
});
