import { parseConfig } from "../../infra/config";
import { automatedBackupsCopyName } from "../../infra/automatedBackupsCopy";
import { checkRecoveryPoint, PITR_LOG_UPLOAD_MINUTES, pointInTimeRecovery } from "../../infra/pointInTimeRecovery";
import { peerOf, SiteName } from "../../infra/roles";
import { replicatedBackupsSource } from "../../infra/sitePlan";
import { Evaluation, RecordedResource } from "../../offline/evaluate";
import { diffGraphs, forbiddenFailoverChanges } from "../../offline/graphDiff";
import { drProperties } from "../../offline/plan";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { evaluate, FAILBACK_CYCLE, resourcesOfType, STACK_CASES } from "./evaluations";

jest.setTimeout(180_000);

const COPY = "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication";
const INSTANCE = "aws:rds/instance:Instance";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";
const RECOVERY_COMPONENT = "drstack:database:RecoveryDatabase";
const LOST_PRIMARY = { kind: "unreachable" } as const;

// Where each rule comes from.
const PROVIDER_COPY = "terraform-provider-aws internal/service/rds/instance_automated_backups_replication.go";
const PROVIDER_INSTANCE = "terraform-provider-aws internal/service/rds/instance.go";
const PULUMI_COPY = "Pulumi registry, aws.rds.InstanceAutomatedBackupsReplication";
const PULUMI_INSTANCE = "@pulumi/aws 7.48.0 rds.InstanceArgs";
const START_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartDBInstanceAutomatedBackupsReplication.html";
const STOP_GUIDE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/AutomatedBackups.StopReplicating.html";
const PITR_GUIDE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html";
const PG_REPLICA_GUIDE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.html";

/** The world a stack is evaluated in; the active secondary has lost its primary. */
function run(stack: SiteName, overrides: Record<string, string> = {}): Promise<Evaluation> {
  const lost = stack === "secondary" && overrides.activeSite === "secondary";
  return evaluate(stack, overrides, lost ? LOST_PRIMARY : undefined);
}

const GENERATIONS: Record<string, string>[] = [{}, { primaryDatabaseGeneration: "2" }, { primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" }];
const WORLDS = GENERATIONS.flatMap((generations) => STACK_CASES.map(({ stack, activeSite }) => ({ stack, activeSite, overrides: { ...generations, activeSite } })));

function generationsOf(overrides: Record<string, string>): Record<SiteName, number> {
  return { primary: Number(overrides.primaryDatabaseGeneration ?? 1), secondary: Number(overrides.secondaryDatabaseGeneration ?? 1) };
}

function dataKeyArn(evaluation: Evaluation): string {
  const key = resourcesOfType(evaluation, "aws:kms/key:Key").find((resource) => resource.name.endsWith("-data-key"));
  return `arn:aws:kms:${String(evaluation.outputs.region)}:123456789012:key/${key?.name}-key-id`;
}

/** An hour ago, to the second: a recovery point RDS can restore. */
function anHourAgo(): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000 - 60 * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
const RECOVERY_POINT = anHourAgo();
const RECOVERY_LABEL = RECOVERY_POINT.replace(/[-:TZ]/g, "");

describe("the replicated copy of the peer writer's automated backups", () => {
  test("every world holds the copy sitePlan decides, and the secondary always holds one", async () => {
    for (const { stack, overrides } of WORLDS) {
      const evaluation = await run(stack, overrides);
      const source = replicatedBackupsSource(stack, generationsOf(overrides));
      const copies = resourcesOfType(evaluation, COPY).map((copy) => copy.name);
      const world = `${stack} ${JSON.stringify(overrides)}`;
      expect({ world, copies }).toEqual({ world, copies: source ? [automatedBackupsCopyName(stack, source.generation)] : [] });
    }
    expect(replicatedBackupsSource("secondary", { primary: 1, secondary: 1 })).toEqual({ site: "primary", generation: 1 });
    expect(replicatedBackupsSource("primary", { primary: 1, secondary: 1 })).toBeUndefined();
    expect(replicatedBackupsSource("primary", { primary: 2, secondary: 1 })).toEqual({ site: "secondary", generation: 1 });
  });

  test(`copies an encrypted instance of the peer's region that keeps automated backups: a writer or former writer, never a read replica (${PG_REPLICA_GUIDE}: PostgreSQL replicas keep no automated backups; ${START_API})`, async () => {
    let checked = 0;
    for (const { stack, overrides } of WORLDS) {
      for (const copy of resourcesOfType(await run(stack, overrides), COPY)) {
        const arn = String(copy.inputs.sourceDbInstanceArn);
        const [, , , region, , , identifier] = arn.split(":");
        const peer = await run(peerOf(stack), { ...overrides, activeSite: overrides.activeSite });
        const world = `${stack} ${JSON.stringify(overrides)} copies ${arn}`;
        expect({ world, region }).toEqual({ world, region: String(peer.outputs.region) });
        const source = resourcesOfType(peer, INSTANCE).find((instance) => instance.inputs.identifier === identifier);
        expect({ world, declared: source !== undefined }).toEqual({ world, declared: true });
        expect({ world, replica: source?.inputs.replicateSourceDb, encrypted: source?.inputs.storageEncrypted }).toEqual({ world, replica: undefined, encrypted: true });
        expect(source?.inputs.backupRetentionPeriod as number).toBeGreaterThan(0);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(9);
  });

  test(`is declared in its own (destination) region with that region's data key ("This resource has to be created in the destination region", ${PULUMI_COPY}; KmsKeyId "in the destination AWS Region", ${START_API})`, async () => {
    for (const { stack, overrides } of WORLDS) {
      const evaluation = await run(stack, overrides);
      for (const copy of resourcesOfType(evaluation, COPY)) {
        expect(copy.provider).toContain(`::${stack}-aws::`);
        expect(copy.inputs.kmsKeyId).toBe(dataKeyArn(evaluation));
        expect(String(copy.inputs.kmsKeyId).split(":")[3]).toBe(evaluation.outputs.region);
      }
    }
  });

  test(`keeps the writer's retention, dbBackupRetentionDays (the provider's default would be 7, ${PROVIDER_COPY} schema "retention_period")`, async () => {
    expect(resourcesOfType(await run("secondary"), COPY)[0].inputs.retentionPeriod).toBe(14);
    expect(resourcesOfType(await run("secondary", { dbBackupRetentionDays: "21" }), COPY)[0].inputs.retentionPeriod).toBe(21);
  });

  test(`no flip of activeSite, on either stack in any generation, creates or deletes a copy: deleting one waits on the source instance in the source's (possibly lost) region, and starting one needs a writer there (${PROVIDER_COPY}, resourceInstanceAutomatedBackupsReplicationDelete: RDSConnForRegion(source region); ${START_API})`, async () => {
    for (const stack of ["primary", "secondary"] as const) {
      for (const generations of GENERATIONS) {
        const copies = async (activeSite: SiteName) => resourcesOfType(await run(stack, { ...generations, activeSite }), COPY).map((copy) => [copy.name, copy.inputs]);
        expect({ stack, generations, copies: await copies("secondary") }).toEqual({ stack, generations, copies: await copies("primary") });
      }
    }
    // And the failover allow-list would catch one.
    expect(forbiddenFailoverChanges([{ kind: "removed", type: COPY, name: "secondary-automated-backups-from-primary-g1" }])).toHaveLength(1);
    expect(forbiddenFailoverChanges([{ kind: "added", type: COPY, name: "primary-automated-backups-from-secondary-g1" }])).toHaveLength(1);
  });

  test(`changes only at each site's own rebuild, whose up needs the peer's writer anyway, and each new copy's source is then a writer in the peer's evaluation (${START_API}); the old copy's backups stay: "Replicated backups are retained, subject to the backup retention period set when they were created" (${STOP_GUIDE})`, async () => {
    const cycle = FAILBACK_CYCLE.slice(0, 6);
    const changedAt: string[] = [];
    for (const stack of ["primary", "secondary"] as const) {
      for (let step = 1; step < cycle.length; step++) {
        const names = async (overrides: Record<string, string>) => resourcesOfType(await run(stack, overrides), COPY).map((copy) => copy.name);
        const before = await names(cycle[step - 1]);
        const after = await names(cycle[step]);
        if (JSON.stringify(before) === JSON.stringify(after)) {
          continue;
        }
        changedAt.push(`${stack} step ${step}`);
        const peer = await run(peerOf(stack), cycle[step]);
        for (const copy of resourcesOfType(await run(stack, cycle[step]), COPY).filter((candidate) => !before.includes(candidate.name))) {
          const identifier = String(copy.inputs.sourceDbInstanceArn).split(":")[6];
          const source = resourcesOfType(peer, INSTANCE).find((instance) => instance.inputs.identifier === identifier);
          expect({ copy: copy.name, sourceIsWriter: source !== undefined && source.inputs.replicateSourceDb === undefined }).toEqual({ copy: copy.name, sourceIsWriter: true });
        }
      }
    }
    // Failback step 1 (the primary rebuilt) and step 3 (the secondary rebuilt).
    expect(changedAt).toEqual(["primary step 2", "secondary step 4"]);
  });

  test("the plan shows what each copy copies, for how long, with which key", async () => {
    const copy = resourcesOfType(await run("secondary"), COPY)[0];
    expect(drProperties(copy)).toEqual([
      "copies automated backups of: arn:aws:rds:us-west-2:123456789012:db:acme-shop-dr-primary-db",
      "retention (days): 14",
      expect.stringMatching(/^key: arn:aws:kms:us-east-1:/),
    ]);
  });
});

describe("what the objectives may count", () => {
  test(`PITR's recovery point is one transaction-log upload interval, ${PITR_LOG_UPLOAD_MINUTES} minutes (${PITR_GUIDE}), over dbBackupRetentionDays`, () => {
    const config = parseConfig({ ...declaredDefaults(), dbBackupRetentionDays: "21" }, "primary");
    expect(pointInTimeRecovery(config)).toMatchObject({ enabled: true, rpoMinutes: 5, retentionDays: 21, replicatedToStandbyRegion: true });
  });

  test("the standby region's copy is of the current writer in every phase but the failed-over one and the switched-back one", () => {
    const copied = (overrides: Record<string, string>) => pointInTimeRecovery(parseConfig({ ...declaredDefaults(), ...overrides }, "primary")).replicatedToStandbyRegion;
    expect(copied({})).toBe(true);
    expect(copied({ activeSite: "secondary" })).toBe(false);
    expect(copied({ activeSite: "secondary", primaryDatabaseGeneration: "2" })).toBe(true);
    expect(copied({ activeSite: "primary", primaryDatabaseGeneration: "2" })).toBe(false);
    expect(copied({ activeSite: "primary", primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" })).toBe(true);
  });
});

describe("recoveryPointInTime", () => {
  const now = new Date("2026-12-02T15:00:00Z");

  test.each([
    ["", { ok: true, point: undefined }],
    ["latest", { ok: true, point: { kind: "latest" } }],
    ["2026-12-02T14:30:00Z", { ok: true, point: { kind: "time", time: new Date("2026-12-02T14:30:00Z") } }],
  ])("%j is accepted", (value, expected) => {
    expect(checkRecoveryPoint(value, 14, now)).toEqual(expected);
  });

  test.each([
    ["2026-12-02 14:30", /is neither "latest" nor a UTC time such as 2026-12-02T14:00:00Z/],
    ["2026-12-02T14:30:00+01:00", /nor a UTC time/],
    ["2026-02-30T14:30:00Z", /nor a UTC time/],
    ["2026-12-02T15:30:00Z", /is in the future \(now is 2026-12-02T15:00:00Z\)/],
    ["2026-12-02T14:57:00Z", /later than RDS can restore yet: transaction logs reach S3 every 5 minutes/],
    ["2026-11-17T14:59:59Z", /older than the 14 days of automated backups \(dbBackupRetentionDays\)/],
  ])("%j is rejected", (value, problem) => {
    const check = checkRecoveryPoint(value, 14, now);
    expect(check.ok).toBe(false);
    expect(check.ok ? "" : check.problem).toMatch(problem);
  });

  test("a bad value stops the stack before anything is declared, naming the key and the fix", () => {
    expect(problemsOf({ ...declaredDefaults(), recoveryPointInTime: "yesterday" })).toMatch(
      /recoveryPointInTime = "yesterday": is neither "latest" nor a UTC time.*Fix: pulumi -s primary config set recoveryPointInTime \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\) or pulumi -s primary config set recoveryPointInTime latest/,
    );
    expect(problemsOf({ ...declaredDefaults(), recoveryPointInTime: "2020-01-01T00:00:00Z" })).toMatch(/older than the 14 days of automated backups/);
  });
});

/** A resource as the engine compares it, serialized: inputs and every option that changes what the engine does. */
function asDeclared(resource: RecordedResource): string {
  return JSON.stringify({
    inputs: resource.inputs,
    protect: resource.protect,
    retainOnDelete: resource.retainOnDelete,
    ignoreChanges: resource.ignoreChanges,
    parent: resource.parent,
    dependsOn: resource.dependsOn,
    provider: resource.provider,
  });
}

const isRecovery = (resource: RecordedResource) => resource.name.startsWith(`${resource.name.split("-")[0]}-database-recovery-`);

describe("a recovery instance beside the writer", () => {
  test("in every stack, role and generation, adds only its own instance and security group: everything else, the writer, replica and former writers included, is byte-identical with and without it", async () => {
    // A time in every world; `latest` in one world per stack and role (the label is the only difference).
    const cases = [...WORLDS.map((world) => ({ ...world, point: RECOVERY_POINT })), ...STACK_CASES.map(({ stack, activeSite }) => ({ stack, overrides: { activeSite }, point: "latest" }))];
    for (const { stack, overrides, point } of cases) {
      const without = await run(stack, overrides);
      const withRecovery = await run(stack, { ...overrides, recoveryPointInTime: point });
      const world = `${stack} ${JSON.stringify(overrides)} recoveryPointInTime=${point}`;
      const declared = new Map(withRecovery.resources.map((resource) => [`${resource.type}::${resource.name}`, resource]));
      for (const resource of without.resources) {
        const other = declared.get(`${resource.type}::${resource.name}`);
        expect({ world, resource: resource.name, declared: other && asDeclared(other) }).toEqual({ world, resource: resource.name, declared: asDeclared(resource) });
      }
      const added = withRecovery.resources.filter((resource) => !without.resources.some((old) => old.type === resource.type && old.name === resource.name));
      const label = point === "latest" ? "latest" : RECOVERY_LABEL;
      expect({ world, added: added.map((resource) => `${resource.type}::${resource.name}`).sort() }).toEqual({
        world,
        added: [
          `${INSTANCE}::${stack}-database-recovery-${label}-instance`,
          `${SECURITY_GROUP}::${stack}-database-recovery-${label}-sg`,
          `${RECOVERY_COMPONENT}::${stack}-database-recovery-${label}`,
        ].sort(),
      });
      const { recoveryDatabaseIdentifier, recoveryDatabaseEndpoint, ...outputs } = withRecovery.outputs;
      expect({ world, outputs }).toEqual({ world, outputs: without.outputs });
      expect(recoveryDatabaseIdentifier).toBe(`acme-shop-dr-${stack}-db-recovery-${label}`);
      expect(recoveryDatabaseEndpoint).toBe(`acme-shop-dr-${stack}-db-recovery-${label}.mock.${String(without.outputs.region)}.rds.amazonaws.com`);
    }
  });

  test(`restores from the site's own automated backups where it runs a writer or a fenced former writer, and from the copy in its own region where it runs a replica (RestoreDBInstanceToPointInTime; ${PROVIDER_INSTANCE}, restore_to_point_in_time)`, async () => {
    for (const { stack, overrides } of WORLDS) {
      const evaluation = await run(stack, { ...overrides, recoveryPointInTime: RECOVERY_POINT });
      const recovery = resourcesOfType(evaluation, INSTANCE).find(isRecovery)!;
      const world = `${stack} ${JSON.stringify(overrides)}`;
      const copy = resourcesOfType(evaluation, COPY)[0];
      const expected =
        evaluation.outputs.databaseMode !== "replica"
          ? { restoreTime: RECOVERY_POINT, sourceDbInstanceIdentifier: evaluation.outputs.databaseIdentifier }
          : { restoreTime: RECOVERY_POINT, sourceDbInstanceAutomatedBackupsArn: copy.state?.id };
      expect({ world, restore: recovery.inputs.restoreToPointInTime }).toEqual({ world, restore: expected });
      if (evaluation.outputs.databaseMode === "replica") {
        expect(String(copy.state?.id)).toMatch(new RegExp(`^arn:aws:rds:${String(evaluation.outputs.region)}:123456789012:auto-backup:ab-`));
        expect(recovery.provider).toBe(copy.provider);
      }
    }
  });

  test(`names itself and exactly one point: "identifier ... Required if restoreToPointInTime is specified" (${PULUMI_INSTANCE}.identifier); restoreTime and useLatestRestorableTime conflict (${PROVIDER_INSTANCE}, ConflictsWith); no replicateSourceDb or snapshotIdentifier beside it (ConflictsWith)`, async () => {
    for (const point of [RECOVERY_POINT, "latest"]) {
      const recovery = resourcesOfType(await run("primary", { recoveryPointInTime: point }), INSTANCE).find(isRecovery)!;
      const restore = recovery.inputs.restoreToPointInTime as Record<string, unknown>;
      expect(recovery.inputs.identifier).toMatch(/^acme-shop-dr-primary-db-recovery-(\d{14}|latest)$/);
      expect([restore.restoreTime, restore.useLatestRestorableTime].filter((value) => value !== undefined)).toHaveLength(1);
      expect(point === "latest" ? restore.useLatestRestorableTime : restore.restoreTime).toBe(point === "latest" ? true : RECOVERY_POINT);
      expect({ replicateSourceDb: recovery.inputs.replicateSourceDb, snapshotIdentifier: recovery.inputs.snapshotIdentifier }).toEqual({ replicateSourceDb: undefined, snapshotIdentifier: undefined });
    }
  });

  test(`is retired by removing the setting, and only after a final snapshot: deletion protection off, not protected, skipFinalSnapshot false with a named snapshot (${PULUMI_INSTANCE}.finalSnapshotIdentifier)`, async () => {
    const evaluation = await run("secondary", { recoveryPointInTime: RECOVERY_POINT });
    const recovery = resourcesOfType(evaluation, INSTANCE).find(isRecovery)!;
    expect(recovery.protect).toBe(false);
    expect(recovery.inputs).toMatchObject({
      deletionProtection: false,
      skipFinalSnapshot: false,
      finalSnapshotIdentifier: `acme-shop-dr-secondary-db-recovery-${RECOVERY_LABEL}-final`,
      storageEncrypted: true,
      kmsKeyId: dataKeyArn(evaluation),
      publiclyAccessible: false,
    });
    expect(resourcesOfType(await run("secondary"), INSTANCE).filter(isRecovery)).toEqual([]);
  });

  test("admits the writer's clients in a security group of its own, which no fencing empties", async () => {
    const evaluation = await run("primary", { recoveryPointInTime: RECOVERY_POINT });
    const recovery = resourcesOfType(evaluation, INSTANCE).find(isRecovery)!;
    const group = resourcesOfType(evaluation, SECURITY_GROUP).find((candidate) => candidate.name === `primary-database-recovery-${RECOVERY_LABEL}-sg`)!;
    const writerGroup = resourcesOfType(evaluation, SECURITY_GROUP).find((candidate) => candidate.name === "primary-database-sg")!;
    expect(recovery.inputs.vpcSecurityGroupIds).toEqual([`primary-database-recovery-${RECOVERY_LABEL}-sg-id`]);
    expect(group.inputs.ingress).toEqual(writerGroup.inputs.ingress);
  });

  test("a flip while it exists changes nothing the failover allow-list forbids, and neither replaces nor touches it: where it was restored from is taken from state (ignoreChanges)", async () => {
    for (const stack of ["primary", "secondary"] as const) {
      for (const generations of GENERATIONS) {
        const flip = generationsOf(generations).primary === generationsOf(generations).secondary ? (["primary", "secondary"] as const) : (["secondary", "primary"] as const);
        const before = await run(stack, { ...generations, activeSite: flip[0], recoveryPointInTime: RECOVERY_POINT });
        const after = await run(stack, { ...generations, activeSite: flip[1], recoveryPointInTime: RECOVERY_POINT });
        const changes = diffGraphs(before.resources, after.resources);
        expect(forbiddenFailoverChanges(changes)).toEqual([]);
        expect(changes.filter((change) => change.name.includes("-database-recovery-"))).toEqual([]);
        const recovery = resourcesOfType(after, INSTANCE).find(isRecovery)!;
        expect(recovery.ignoreChanges).toEqual(["restoreToPointInTime"]);
      }
    }
  });

  test("the plan shows where it was restored from and to which point", async () => {
    const recovery = resourcesOfType(await run("primary", { recoveryPointInTime: RECOVERY_POINT }), INSTANCE).find(isRecovery)!;
    expect(drProperties(recovery)).toEqual(
      expect.arrayContaining([`restored from: acme-shop-dr-primary-db`, `restored to: ${RECOVERY_POINT}`, "deletion protection: false", `final snapshot: acme-shop-dr-primary-db-recovery-${RECOVERY_LABEL}-final`]),
    );
  });
});
