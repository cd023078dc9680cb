import { spawnSync } from "child_process";
import { readFileSync } from "node:fs";
import * as path from "path";
import { parameterGroupName } from "../../infra/database";
import type { DrPosture } from "../../infra/objectives";
import {
  checkEngineVersion,
  DATABASE_ENGINES,
  DatabaseEngine,
  ENGINE_PROFILES,
  engineParameters,
  MYSQL_FAMILY_MAJORS,
  MYSQL_PORT,
  parameterGroupFamily,
  POSTGRES_PORT,
} from "../../infra/engines";
import { BACKUP_ENGINES } from "../../lambdas/core/engine";
import { Evaluation, primaryReference, RecordedResource, revealSecrets } from "../../offline/evaluate";
import { diffFromPairs, pairsFromEvaluations } from "../../offline/diff";
import { evaluate, resourcesOfType, STACK_CASES } from "./evaluations";

jest.setTimeout(240_000);

/**
 * The database engines side by side (infra/engines.ts): each rule the
 * program relies on for MySQL and MariaDB on RDS, with where it comes from,
 * checked against what the program declares for every stack and role.
 */

const INSTANCE = "aws:rds/instance:Instance";
const PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup";
const SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup";

// Where each rule comes from.
const CREATE_INSTANCE_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html";
const CREATE_REPLICA_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html";
const CREATE_PARAMETER_GROUP_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html";
const MYSQL_REPLICAS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_MySQL.Replication.ReadReplicas.html";
const MARIADB_REPLICAS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_MariaDB.Replication.ReadReplicas.html";
const MYSQL_LOGS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html";
const PULUMI_ARGS = "@pulumi/aws 7.48.0 rds.InstanceArgs";

/** RDS's valid EnableCloudwatchLogsExports values per engine (CreateDBInstance). */
const VALID_LOG_EXPORTS: Record<DatabaseEngine, string[]> = {
  postgres: ["postgresql", "upgrade", "iam-db-auth-error"],
  mysql: ["audit", "error", "general", "slowquery", "iam-db-auth-error"],
  mariadb: ["audit", "error", "general", "slowquery", "iam-db-auth-error"],
};

const MYSQL_ENGINES = ["mysql", "mariadb"] as const;

interface World {
  label: string;
  engine: DatabaseEngine;
  evaluation: Evaluation;
}

/** Every stack in both roles, for each engine; plus the failback generations for MySQL. */
async function worlds(engines: readonly DatabaseEngine[] = DATABASE_ENGINES): Promise<World[]> {
  const found: World[] = [];
  for (const engine of engines) {
    for (const generations of [{}, { primaryDatabaseGeneration: "2" }] as Array<Record<string, string>>) {
      for (const { stack, activeSite } of STACK_CASES) {
        const overrides: Record<string, string> = { databaseEngine: engine, activeSite, ...generations };
        const lost = stack === "secondary" && activeSite === "secondary";
        found.push({ label: `${stack} ${JSON.stringify(overrides)}`, engine, evaluation: await evaluate(stack, overrides, lost ? { kind: "unreachable" } : undefined) });
      }
    }
  }
  return found;
}

function instances({ evaluation }: World): RecordedResource[] {
  return resourcesOfType(evaluation, INSTANCE);
}

describe("engine profiles", () => {
  test("the program's engines are the backup code's (lambdas/core/engine.ts), which it never imports", () => {
    expect([...DATABASE_ENGINES]).toEqual([...BACKUP_ENGINES]);
  });

  test(`ports are RDS's defaults: 5432 for PostgreSQL, 3306 for MySQL and MariaDB (${CREATE_INSTANCE_API}, Port)`, () => {
    expect(ENGINE_PROFILES.postgres.port).toBe(POSTGRES_PORT);
    expect(POSTGRES_PORT).toBe(5432);
    expect(ENGINE_PROFILES.mysql.port).toBe(MYSQL_PORT);
    expect(ENGINE_PROFILES.mariadb.port).toBe(MYSQL_PORT);
    expect(MYSQL_PORT).toBe(3306);
  });

  test(`each engine exports only logs RDS offers for it (${CREATE_INSTANCE_API}, EnableCloudwatchLogsExports)`, () => {
    for (const engine of DATABASE_ENGINES) {
      expect(ENGINE_PROFILES[engine].logExports.filter((log) => !VALID_LOG_EXPORTS[engine].includes(log))).toEqual([]);
    }
  });

  test(`parameter group families are the engine and its major version, as RDS names them (DescribeDBEngineVersions DBParameterGroupFamily: mysql8.0, mysql8.4, mariadb10.11)`, () => {
    expect(parameterGroupFamily("mysql", "8.0")).toBe("mysql8.0");
    expect(parameterGroupFamily("mysql", "8.4")).toBe("mysql8.4");
    expect(parameterGroupFamily("mariadb", "10.11")).toBe("mariadb10.11");
    expect(parameterGroupFamily("postgres", "16")).toBe("postgres16");
  });

  test(`parameter group names are letters, digits and hyphens, start with a letter, with no double or trailing hyphen (${CREATE_PARAMETER_GROUP_API}, DBParameterGroupName)`, () => {
    for (const family of ["mysql8.0", "mysql8.4", "mariadb10.6", "mariadb10.11", "mariadb11.4"]) {
      const name = parameterGroupName("acme-shop-dr", "secondary", family);
      expect(name).toMatch(/^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}$/);
      expect(name).not.toMatch(/-$/);
    }
  });

  test("versions: each engine's default passes; a version of another engine names databaseEngine", () => {
    for (const engine of DATABASE_ENGINES) {
      expect(checkEngineVersion(engine, ENGINE_PROFILES[engine].defaultVersion)).toMatchObject({ ok: true });
    }
    expect(checkEngineVersion("mysql", "8.4.3")).toEqual({ ok: true, major: "8.4" });
    expect(checkEngineVersion("mariadb", "10.11.9")).toEqual({ ok: true, major: "10.11" });
    expect(checkEngineVersion("mysql", "16")).toMatchObject({ ok: false, problem: expect.stringContaining("databaseEngine is mysql") });
    expect(checkEngineVersion("mysql", "5.7")).toMatchObject({ ok: false });
    // RDS has no IAM database authentication for MariaDB 10.6 (Amazon RDS User Guide, "Supported Regions and DB engines for IAM database authentication").
    expect(MYSQL_FAMILY_MAJORS.mariadb).not.toContain("10.6");
    expect(checkEngineVersion("mariadb", "10.6.19")).toMatchObject({ ok: false, problem: expect.stringContaining("10.11, 11.4 or 11.8") });
    expect(checkEngineVersion("postgres", "8.4")).toMatchObject({ ok: false, problem: expect.stringContaining("databaseEngine is postgres") });
  });

  test(`the slow query log is on and written to a file, which the slowquery export needs: "slow_query_log = 1" and "log_output = FILE" in a custom parameter group (${MYSQL_LOGS})`, () => {
    for (const engine of MYSQL_ENGINES) {
      for (const major of MYSQL_FAMILY_MAJORS[engine]) {
        const settings = Object.fromEntries(engineParameters(engine, major).map(({ name, value }) => [name, value]));
        expect(settings.log_output).toBe("FILE");
        // MariaDB 11.x: the new names, together; MySQL and MariaDB 10.11: the old (MariaDB Server docs, log_slow_query, log_slow_query_time).
        const names = engine === "mariadb" && major.startsWith("11.") ? ["log_slow_query", "log_slow_query_time"] : ["slow_query_log", "long_query_time"];
        const others = names[0] === "log_slow_query" ? ["slow_query_log", "long_query_time"] : ["log_slow_query", "log_slow_query_time"];
        expect([settings[names[0]], settings[names[1]]]).toEqual(["1", "2"]);
        for (const other of others) {
          expect(settings).not.toHaveProperty(other);
        }
        expect(settings.binlog_format).toBe("ROW");
        expect(settings.require_secure_transport).toBe("1");
      }
    }
    expect(engineParameters("postgres", "16")).toEqual([]);
  });

  test("the RDS master user can create functions and triggers while binary logging is on: log_bin_trust_function_creators=1 for MySQL and MariaDB, else ERROR 1419 (AWS Knowledge Center, rds-mysql-functions, https://repost.aws/knowledge-center/rds-mysql-functions)", () => {
    for (const engine of MYSQL_ENGINES) {
      for (const major of MYSQL_FAMILY_MAJORS[engine]) {
        const settings = Object.fromEntries(engineParameters(engine, major).map(({ name, value }) => [name, value]));
        expect(settings.log_bin_trust_function_creators).toBe("1");
        // Safe only because the binary log carries rows, not the function calls.
        expect(settings.binlog_format).toBe("ROW");
      }
    }
  });
});

describe("what the program declares for each engine, in every stack, role and failback generation", () => {
  let all: World[] = [];
  beforeAll(async () => {
    all = await worlds();
  });

  test("the worlds hold writers and replicas of every engine, so no rule passes on nothing", () => {
    for (const engine of DATABASE_ENGINES) {
      const declared = all.filter((world) => world.engine === engine).flatMap(instances);
      expect(declared.some((db) => db.inputs.replicateSourceDb !== undefined)).toBe(true);
      expect(declared.some((db) => db.inputs.replicateSourceDb === undefined)).toBe(true);
    }
  });

  test(`every instance runs the configured engine on its port and exports its logs (${PULUMI_ARGS}.engine, .port, .enabledCloudwatchLogsExports)`, () => {
    for (const world of all) {
      for (const db of instances(world)) {
        const profile = ENGINE_PROFILES[world.engine];
        expect({ world: world.label, engine: db.inputs.engine, port: db.inputs.port, logs: db.inputs.enabledCloudwatchLogsExports }).toEqual({
          world: world.label,
          engine: profile.rdsEngine,
          port: profile.port,
          logs: [...profile.logExports],
        });
      }
    }
  });

  test(`every MySQL and MariaDB instance keeps automated backups, replicas too: a replica's source needs a backup retention other than 0 (${MYSQL_REPLICAS}; ${MARIADB_REPLICAS}), a replica becomes the failback replica's source once promoted, and "Automatic backups are supported for read replicas running any version of MySQL" (${MYSQL_REPLICAS})`, () => {
    for (const world of all.filter(({ engine }) => engine !== "postgres")) {
      for (const db of instances(world)) {
        expect({ world: world.label, id: db.inputs.identifier, retention: db.inputs.backupRetentionPeriod }).toEqual({ world: world.label, id: db.inputs.identifier, retention: 14 });
      }
    }
  });

  test(`PostgreSQL replicas declare no automated backups (a replica's backup settings become a ModifyDBInstance after create, which RDS for PostgreSQL refuses); promotion turns them on`, () => {
    for (const world of all.filter(({ engine }) => engine === "postgres")) {
      for (const db of instances(world).filter((instance) => instance.inputs.replicateSourceDb !== undefined)) {
        expect({ world: world.label, retention: db.inputs.backupRetentionPeriod }).toEqual({ world: world.label, retention: undefined });
      }
    }
  });

  test(`every MySQL and MariaDB instance names its own region's parameter group: a cross-Region replica otherwise gets "the default DBParameterGroup for the specified DB engine" (${CREATE_REPLICA_API}, DBParameterGroupName)`, () => {
    for (const world of all.filter(({ engine }) => engine !== "postgres")) {
      const groups = resourcesOfType(world.evaluation, PARAMETER_GROUP);
      expect(groups).toHaveLength(1);
      const [group] = groups;
      expect(group.inputs.family).toBe(parameterGroupFamily(world.engine, ENGINE_PROFILES[world.engine].defaultVersion));
      for (const db of instances(world)) {
        expect({ world: world.label, group: db.inputs.parameterGroupName }).toEqual({ world: world.label, group: group.inputs.name });
      }
      const settings = Object.fromEntries((group.inputs.parameters as Array<{ name: string; value: string }>).map(({ name, value }) => [name, value]));
      expect(settings).toMatchObject({ binlog_format: "ROW", require_secure_transport: "1", log_output: "FILE" });
    }
  });

  test(`MySQL and MariaDB replicas replicate from the other region's writer by ARN, encrypted with a key of their own region: "If replicating an Instance in a different region, use the arn of the source DB ... you will also need to specify a kmsKeyId" (${PULUMI_ARGS}.replicateSourceDb)`, () => {
    for (const world of all.filter(({ engine }) => engine !== "postgres")) {
      const region = String(world.evaluation.outputs.region);
      for (const db of instances(world).filter((instance) => instance.inputs.replicateSourceDb !== undefined)) {
        const source = String(db.inputs.replicateSourceDb);
        expect({ world: world.label, source }).toEqual({ world: world.label, source: expect.stringMatching(/^arn:aws:rds:[a-z0-9-]+:\d{12}:db:[a-z0-9-]+$/) });
        expect(source.split(":")[3]).not.toBe(region);
        expect(String(db.inputs.kmsKeyId)).toContain(`:kms:${region}:`);
      }
    }
  });

  test("PostgreSQL keeps RDS's default parameter group (rds.force_ssl=1 from PostgreSQL 15): no group is declared and no instance names one", () => {
    for (const world of all.filter(({ engine }) => engine === "postgres")) {
      expect(resourcesOfType(world.evaluation, PARAMETER_GROUP)).toEqual([]);
      for (const db of instances(world)) {
        expect(db.inputs.parameterGroupName).toBeUndefined();
      }
    }
  });

  test(`a replica runs the writer's engine version: "A read replica of a MySQL DB instance can't use a lower DB engine version than its source" (${MYSQL_REPLICAS}); both stacks read the one dbEngineVersion`, () => {
    for (const world of all) {
      const versions = new Set(instances(world).map((db) => db.inputs.engineVersion));
      expect({ world: world.label, versions: [...versions] }).toEqual({ world: world.label, versions: [ENGINE_PROFILES[world.engine].defaultVersion] });
    }
  });

  test("the database admits its clients, and the backup functions reach it, on the engine's port only", () => {
    for (const world of all) {
      const port = ENGINE_PROFILES[world.engine].port;
      const groups = resourcesOfType(world.evaluation, SECURITY_GROUP);
      for (const group of groups.filter((candidate) => /-database-sg(-g\d+)?$/.test(candidate.name))) {
        for (const rule of (group.inputs.ingress ?? []) as Array<{ fromPort: number; toPort: number }>) {
          expect({ world: world.label, group: group.name, from: rule.fromPort, to: rule.toPort }).toEqual({ world: world.label, group: group.name, from: port, to: port });
        }
      }
      const backup = groups.find((candidate) => candidate.name.endsWith("-network-backup-functions"));
      const egressPorts = ((backup?.inputs.egress ?? []) as Array<{ fromPort: number }>).map((rule) => rule.fromPort);
      expect({ world: world.label, egressPorts }).toEqual({ world: world.label, egressPorts: [port, 443, 443] });
    }
  });

  test("the credentials secret is RDS JSON with the engine and its port, and the backup job's URL has the engine's scheme and port", () => {
    for (const world of all) {
      const profile = ENGINE_PROFILES[world.engine];
      const version = resourcesOfType(world.evaluation, "aws:secretsmanager/secretVersion:SecretVersion").find((resource) => resource.name.endsWith("-database-credentials-value"));
      const secret = JSON.parse(String(revealSecrets(version?.inputs.secretString))) as { engine: string; port: number };
      expect({ world: world.label, engine: secret.engine, port: secret.port }).toEqual({ world: world.label, engine: profile.rdsEngine, port: profile.port });
      for (const fn of resourcesOfType(world.evaluation, "aws:lambda/function:Function")) {
        const url = (fn.inputs.environment as { variables?: Record<string, string> } | undefined)?.variables?.DATABASE_URL;
        if (url !== undefined) {
          expect(url).toMatch(new RegExp(`^${profile.backupUrlScheme}://[^/]+:${profile.port}/[a-z_]+\\?sslmode=verify-full&sslrootcert=`));
        }
      }
    }
  });

  test("the stack's outputs and its DR posture (the plan's and the rehearsal's) show the engine", () => {
    for (const world of all) {
      expect({ world: world.label, engine: world.evaluation.outputs.databaseEngine }).toEqual({ world: world.label, engine: world.engine });
      const posture = world.evaluation.outputs.drPosture as DrPosture;
      expect(posture.mechanisms.databaseEngine).toBe(world.engine);
      const step = posture.recoveryTime.steps.find((candidate) => candidate.step === "database");
      if (posture.mechanisms.databaseReplica) {
        expect({ world: world.label, basis: step?.basis }).toEqual({ world: world.label, basis: `promote the standby's cross-region ${ENGINE_PROFILES[world.engine].label} replica` });
      }
    }
  });
});

describe("the point-in-time copy of a MySQL or MariaDB site", () => {
  test.each(MYSQL_ENGINES)("%s: restored under the engine, on its port, with the site's parameter group (a restored instance otherwise gets the engine's default group)", async (engine) => {
    const evaluation = await evaluate("primary", { databaseEngine: engine, recoveryPointInTime: "latest" });
    const recovery = resourcesOfType(evaluation, INSTANCE).find((db) => db.inputs.restoreToPointInTime !== undefined);
    const [group] = resourcesOfType(evaluation, PARAMETER_GROUP);
    expect(recovery?.inputs).toMatchObject({ engine, port: 3306, parameterGroupName: group.inputs.name });
    const recoveryGroup = resourcesOfType(evaluation, SECURITY_GROUP).find((candidate) => candidate.name.startsWith("primary-database-recovery-"));
    expect(recoveryGroup?.inputs.ingress).toEqual([expect.objectContaining({ fromPort: 3306, toPort: 3306 })]);
    expect(String(recoveryGroup?.inputs.description)).not.toContain("'");
  });
});

describe("the DR diff of a changed databaseEngine", () => {
  test("an engine change on a deployed stack is a blocking replacement of every instance, naming databaseEngine", async () => {
    const before = await evaluate("primary");
    const after = await evaluate("primary", { databaseEngine: "mysql" });
    const diff = diffFromPairs(pairsFromEvaluations(before, after), "databaseEngine postgres -> mysql", "primary");
    const engineFindings = diff.findings.filter((finding) => finding.rule === "database-engine-changed");
    expect(engineFindings.map((finding) => finding.name)).toEqual(["primary-database-instance"]);
    expect(engineFindings[0]).toMatchObject({ severity: "blocking", message: expect.stringMatching(/engine postgres -> mysql \(databaseEngine changed\)/) });
    expect(diff.findings.some((finding) => finding.rule === "data-store-replaced" && finding.name === "primary-database-instance")).toBe(true);
  });
});

describe("the two stacks name one engine", () => {
  test("a standby secondary whose databaseEngine is not the primary's stops before its replica is declared, with the fix", async () => {
    const primary = await evaluate("primary");
    const options = { stack: "secondary", overrides: { databaseEngine: "mysql" }, stackReferences: primaryReference(primary) };
    const script = `
require("tsx/cjs/api").register();
require("./offline/evaluate").evaluateStack(${JSON.stringify(options)}).then(
  () => process.stdout.write(JSON.stringify({ ok: true }), () => process.exit(0)),
  (error) => process.stdout.write(JSON.stringify({ ok: false, message: error.message }), () => process.exit(0)),
);`;
    const result = spawnSync(process.execPath, ["-e", script], { cwd: path.resolve(__dirname, "..", ".."), encoding: "utf8" });
    expect(JSON.parse(result.stdout)).toEqual({
      ok: false,
      message: expect.stringMatching(/databaseEngine is mysql in this stack, but the primary's database runs postgres: a replica runs its source's engine\. Fix: pulumi -s secondary config set databaseEngine postgres/),
    });
  });
});

describe("binary log retention", () => {
  test("drstack calls no mysql.rds_set_configuration: RDS keeps the binary logs its own read replicas still need, and README says what `binlog retention hours` is for", () => {
    const readme = readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
    expect(readme).toMatch(/binlog retention hours/);
  });
});
