import { Evaluation, RecordedResource } from "../../offline/evaluate";
import { evaluate, resourcesOfType, single, STACK_CASES } from "./evaluations";

jest.setTimeout(60_000);

const INSTANCE = "aws:rds/instance:Instance";
const LOST_PRIMARY = { kind: "unreachable" } as const;

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

describe.each(STACK_CASES)("the database of $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite }, stack === "secondary" && activeSite === "secondary" ? LOST_PRIMARY : undefined);

  test("is guarded the way a careful operator guards a production database", async () => {
    const evaluation = await run();
    const db = single(evaluation, INSTANCE);
    expect(db.protect).toBe(true);
    expect(db.inputs).toMatchObject({
      identifier: `acme-shop-dr-${stack}-db`,
      engine: "postgres",
      engineVersion: "16",
      deletionProtection: true,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: `acme-shop-dr-${stack}-db-final`,
      deleteAutomatedBackups: false,
      storageEncrypted: true,
      publiclyAccessible: false,
      multiAz: true,
      performanceInsightsEnabled: true,
      performanceInsightsRetentionPeriod: 7,
      monitoringInterval: 60,
      copyTagsToSnapshot: true,
    });
    expect(db.inputs.monitoringRoleArn).toBe(`arn:aws:iam::123456789012:role/acme-shop-dr-rds-monitoring-${stack}`);
  });

  test("keeps automated backups wherever it is not a replica (PostgreSQL replicas cannot)", async () => {
    const evaluation = await run();
    const db = single(evaluation, INSTANCE);
    const replica = evaluation.outputs.databaseMode === "replica";
    expect(db.inputs.backupRetentionPeriod).toBe(replica ? undefined : 14);
    expect(db.inputs.backupWindow).toBe(replica ? undefined : "03:00-04:00");
  });

  test("is encrypted with its own region's data key, which is protected", async () => {
    const evaluation = await run();
    const db = single(evaluation, INSTANCE);
    expect(db.inputs.kmsKeyId).toBe(dataKeyArn(evaluation));
    expect(db.inputs.performanceInsightsKmsKeyId).toBe(dataKeyArn(evaluation));
    expect(String(db.inputs.kmsKeyId)).toContain(`:kms:${String(evaluation.outputs.region)}:`);
  });

  test("admits only the application security group", async () => {
    const evaluation = await run();
    const group = resourcesOfType(evaluation, "aws:ec2/securityGroup:SecurityGroup").find((resource) => resource.name === `${stack}-database-sg`);
    expect(group?.inputs.ingress).toEqual([expect.objectContaining({ fromPort: 5432, toPort: 5432, securityGroups: [`${stack}-network-app-id`] })]);
    expect(single(evaluation, INSTANCE).inputs.vpcSecurityGroupIds).toEqual([`${stack}-database-sg-id`]);
  });
});

describe("writer, replica and promotion", () => {
  test("the active primary runs the writer with its own master password and no source", async () => {
    const evaluation = await evaluate("primary");
    const db = single(evaluation, INSTANCE);
    expect(db.inputs.replicateSourceDb).toBeUndefined();
    expect(JSON.stringify(db.inputs.password)).toContain("offline-random-primary-database-master-password");
    expect(evaluation.outputs.databaseMode).toBe("writer");
  });

  test("the standby secondary replicates the writer whose ARN it reads from the primary's stack", async () => {
    const primary = await evaluate("primary");
    const secondary = await evaluate("secondary");
    const db = single(secondary, INSTANCE);
    expect(db.inputs.replicateSourceDb).toBe(primary.outputs.databaseArn);
    expect(db.inputs.password).toBeUndefined();
    expect(secondary.outputs.databaseMode).toBe("replica");
  });

  test("failover promotes the secondary's replica under the same name and identifier", async () => {
    const evaluation = await evaluate("secondary", { activeSite: "secondary" }, LOST_PRIMARY);
    const db = single(evaluation, INSTANCE);
    expect(db.name).toBe("secondary-database-instance");
    expect(db.inputs.identifier).toBe("acme-shop-dr-secondary-db");
    expect(db.inputs.replicateSourceDb).toBeUndefined();
    expect(evaluation.outputs.databaseMode).toBe("writer");
  });

  test("the returning primary fences its first-generation writer and says how to rebuild it", async () => {
    const evaluation = await evaluate("primary", { activeSite: "secondary" });
    expect(evaluation.outputs.databaseMode).toBe("fenced");
    expect(single(evaluation, INSTANCE).inputs.replicateSourceDb).toBeUndefined();
    expect(evaluation.warnings.join("\n")).toMatch(/former writer.*raise primaryDatabaseGeneration to 2 in both stacks/);
    expect(evaluation.outputs).toMatchObject({ workloadScale: "warm", backupsScheduled: false });
  });
});

describe("failback (README, Failback)", () => {
  const rebuilt = { primaryDatabaseGeneration: "2" };

  test("step 1: the primary keeps its old writer, protected, and builds a replica of the secondary's writer derived by naming rule", async () => {
    const primary = await evaluate("primary", { ...rebuilt, activeSite: "secondary" });
    const secondary = await evaluate("secondary", { ...rebuilt, activeSite: "secondary" }, LOST_PRIMARY);
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
    const primary = await evaluate("primary", { ...rebuilt, activeSite: "primary" });
    const fresh = instance(primary, "acme-shop-dr-primary-db-g2");
    expect(fresh.name).toBe("primary-database-instance-g2");
    expect(fresh.inputs.replicateSourceDb).toBeUndefined();
    expect(primary.outputs.databaseArn).toBe("arn:aws:rds:us-west-2:123456789012:db:acme-shop-dr-primary-db-g2");
  });

  test("step 3: the secondary rebuilds as a replica of the rebuilt primary, read from the primary's stack", async () => {
    const generations = { primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" };
    const primary = await evaluate("primary", generations);
    const secondary = await evaluate("secondary", generations);
    expect(instance(secondary, "acme-shop-dr-secondary-db").inputs.replicateSourceDb).toBeUndefined();
    expect(instance(secondary, "acme-shop-dr-secondary-db-g2").inputs.replicateSourceDb).toBe(primary.outputs.databaseArn);
    expect(primary.outputs.databaseArn).toBe("arn:aws:rds:us-west-2:123456789012:db:acme-shop-dr-primary-db-g2");
  });
});

describe("a writer beyond the first generation is never created from nothing", () => {
  test("generation 1 writers are declared directly; a later writer is looked up in its own region first", async () => {
    const first = await evaluate("primary");
    expect(first.invokes).not.toContain("aws:rds/getInstances:getInstances");
    const switchedBack = await evaluate("primary", { primaryDatabaseGeneration: "2" });
    expect(switchedBack.outputs.databaseMode).toBe("writer");
    expect(switchedBack.invokes).toContain("aws:rds/getInstances:getInstances");
  });
});
