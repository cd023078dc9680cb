import * as fs from "fs";
import { parse } from "yaml";
import { DATABASE_ENGINES } from "../../infra/engines";
import { roleOf } from "../../infra/roles";
import { describeDisagreements, sharedKeyDisagreements, stackFilePath } from "../../offline/stackFiles";
import { evaluate, STACK_CASES } from "./evaluations";

/** Every stack and role, for each engine: switching the example stacks to MySQL or MariaDB is one setting (`databaseEngine`). */
const ENGINE_CASES = DATABASE_ENGINES.flatMap((databaseEngine) => STACK_CASES.map((world) => ({ ...world, databaseEngine })));

describe.each(ENGINE_CASES)("stack $stack with activeSite=$activeSite, databaseEngine=$databaseEngine", ({ stack, activeSite, databaseEngine }) => {
  // PostgreSQL is the stack files' own setting: the same evaluation the other tests share.
  const run = () => evaluate(stack, databaseEngine === "postgres" ? { activeSite } : { activeSite, databaseEngine });

  test("runs the engine the one setting names, and exports it", async () => {
    const { outputs, resources } = await run();
    expect(outputs.databaseEngine).toBe(databaseEngine);
    const instances = resources.filter((resource) => resource.type === "aws:rds/instance:Instance");
    expect(instances.length).toBeGreaterThan(0);
    expect(instances.map((instance) => instance.inputs.engine)).toEqual(instances.map(() => databaseEngine));
  });

  test("exports the contract outputs with the role derived from site and activeSite", async () => {
    const { outputs, config } = await run();
    expect(outputs).toMatchObject({
      site: stack,
      role: roleOf(stack, activeSite),
      region: config[`drstack:${stack}Region`],
      endpoint: `${stack}.shop.example.com`,
    });
    expect(outputs.backupBucketName).toBe(`acme-shop-dr-backups-${stack}-${outputs.region}`);
    expect(outputs.backupBucketArn).toBe(`arn:aws:s3:::${outputs.backupBucketName}`);
  });

  test("deploys into its own region through an explicit provider", async () => {
    const { resources, outputs } = await run();
    const providers = resources.filter((resource) => resource.type === "pulumi:providers:aws");
    expect(providers.map((provider) => provider.inputs.region)).toEqual([outputs.region]);
    for (const resource of resources.filter((r) => r.custom && r.type.startsWith("aws:"))) {
      expect(resource.provider).toContain(`::${stack}-aws::`);
    }
  });

  test("declares each resource name once", async () => {
    const { resources } = await run();
    const keys = resources.map((resource) => `${resource.type}::${resource.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe("the stacks stand alone", () => {
  test("the primary evaluates without any stack reference", async () => {
    for (const activeSite of ["primary", "secondary"]) {
      const evaluation = await evaluate("primary", { activeSite }, { kind: "unreachable" });
      expect(evaluation.stackReferencesRead).toEqual([]);
    }
  });

  test("the secondary fails over while the primary's stack reference is unreachable", async () => {
    const evaluation = await evaluate("secondary", { activeSite: "secondary" }, { kind: "unreachable" });
    expect(evaluation.outputs.role).toBe("active");
    expect(evaluation.stackReferencesRead).toEqual([]);
  });

  test("each stack deploys before its peer exists when peerProvisioned is false, and says what is left", async () => {
    const evaluation = await evaluate("primary", { peerProvisioned: "false" });
    expect(evaluation.resources.some((resource) => resource.type === "aws:s3/bucketReplicationConfig:BucketReplicationConfig")).toBe(false);
    expect(evaluation.outputs.replicatesToPeer).toBe(false);
    expect(evaluation.warnings.join("\n")).toMatch(/NOT replicated to secondary.*config rm peerProvisioned/);
  });
});

describe("the example stack files", () => {
  test("agree on the keys both stacks derive names from and the database generations", () => {
    expect(sharedKeyDisagreements("primary")).toEqual([]);
    expect(sharedKeyDisagreements("secondary")).toEqual([]);
  });

  test("an override of a shared key on one stack is a disagreement, named with both values", () => {
    expect(sharedKeyDisagreements("secondary", { namePrefix: "other", activeSite: "secondary" })).toEqual([
      { key: "namePrefix", values: { secondary: "other", primary: "acme-shop-dr" } },
    ]);
    expect(describeDisagreements(sharedKeyDisagreements("primary", { primaryDatabaseGeneration: "2" }))).toMatch(
      /primaryDatabaseGeneration: primary "2", secondary "1". Fix: set it to the same value in Pulumi.primary.yaml and Pulumi.secondary.yaml/,
    );
    expect(sharedKeyDisagreements("staging")).toEqual([]);
  });

  test("the failover DNS both stacks' objectives count is a shared key too", () => {
    expect(sharedKeyDisagreements("primary", { dnsProvider: "cloudflare", healthCheckIntervalSeconds: "10" })).toEqual([
      { key: "dnsProvider", values: { primary: "cloudflare", secondary: "route53" } },
      { key: "healthCheckIntervalSeconds", values: { primary: "10", secondary: "30" } },
    ]);
  });

  test("set aws:region to the site's own region", () => {
    for (const stack of ["primary", "secondary"]) {
      const file = parse(fs.readFileSync(stackFilePath(stack), "utf8")) as { config: Record<string, string> };
      expect(file.config["aws:region"]).toBe(file.config[`drstack:${stack}Region`]);
    }
  });
});

describe("naming rule round trip", () => {
  test("each stack's derived peer bucket is the bucket its peer actually creates", async () => {
    const primary = await evaluate("primary");
    const secondary = await evaluate("secondary");
    expect(primary.outputs.peerBackupBucketName).toBe(secondary.outputs.backupBucketName);
    expect(secondary.outputs.peerBackupBucketName).toBe(primary.outputs.backupBucketName);
  });
});
