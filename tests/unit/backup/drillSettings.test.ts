/** The drill function's settings and the names it shares with infra/backupContract.ts. */
import { BACKUP_METRICS, DRILL_HANDLER, HANDLER_ENV, drillTargets } from "../../../infra/backupContract";
import { DRILL_METRICS } from "../../../lambdas/core/drill";
import { METRICS } from "../../../lambdas/core/verify";
import { DRILL_HANDLER_ENV, drillHandlerOptions, parseSmokeQueries } from "../../../lambdas/settings";
import * as fs from "fs";
import * as path from "path";

const env = { BACKUP_BUCKET: "drstack-backups-primary", SITE: "secondary", DRILL_TARGETS: "app:critical:db,ledger:critical:financial" };

describe("infra/backupContract.ts and the drill's side agree", () => {
  test("the drill metrics and the verifier's drill age are the names the alarms watch", () => {
    expect([DRILL_METRICS.failed, DRILL_METRICS.restoreSeconds, METRICS.drillAge]).toEqual([BACKUP_METRICS.drillFailed, BACKUP_METRICS.drillRestoreSeconds, BACKUP_METRICS.drillAge]);
  });

  test("the drill function reads the variables the infra sets, and the targets the infra writes", () => {
    expect([DRILL_HANDLER_ENV.targets, DRILL_HANDLER_ENV.smokeQueries]).toEqual([HANDLER_ENV.drillTargets, HANDLER_ENV.drillSmokeQueries]);
    const spec = drillTargets([
      { name: "app", tier: "critical", dataClass: "db" },
      { name: "ledger", tier: "standard", dataClass: "financial" },
    ] as Parameters<typeof drillTargets>[0]);
    expect(drillHandlerOptions({ ...env, [HANDLER_ENV.drillTargets]: spec }).targets).toEqual([
      { database: "app", tier: "critical", dataClass: "db" },
      { database: "ledger", tier: "standard", dataClass: "financial" },
    ]);
  });

  test("the entry point is a file build:lambdas writes into the directory the image copies", () => {
    const script = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "..", "package.json"), "utf8")).scripts["build:lambdas"] as string;
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "..", "lambdas", "backup-image", "Dockerfile"), "utf8");
    expect(DRILL_HANDLER).toBe("handlers/drill.handler");
    expect(script).toContain("esbuild lambdas/handlers/drill.ts --bundle");
    expect(script).toContain("--outfile=dist/lambdas/backup/handlers/drill.js");
    expect(dockerfile).toContain("COPY dist/lambdas/backup/ ${LAMBDA_TASK_ROOT}/");
    expect(dockerfile).toMatch(/dnf install -y [^\n]*\bpostgresql16-server\b/);
    expect(dockerfile).toMatch(/&& initdb --version/);
  });
});

describe("drill function settings", () => {
  test("reads the targets, bucket, site and metrics settings from the environment", () => {
    expect(drillHandlerOptions({ ...env, METRIC_NAMESPACE: "drstack/backups", MONITORING_ENDPOINT: "http://127.0.0.1:5000", AWS_REGION: "eu-west-1" })).toMatchObject({
      targets: [{ database: "app" }, { database: "ledger", dataClass: "financial" }],
      smokeQueries: {},
      bucket: { bucket: "drstack-backups-primary", region: "eu-west-1" },
      site: "secondary",
      sites: ["secondary"],
      monitoring: { region: "eu-west-1", endpoint: "http://127.0.0.1:5000", namespace: "drstack/backups" },
    });
    expect(drillHandlerOptions(env).monitoring).toBeUndefined();
    expect(drillHandlerOptions({ BACKUP_BUCKET: "b", DRILL_TARGETS: "app:low" }).site).toBe("primary");
  });

  test("refuses missing or malformed targets, naming DRILL_TARGETS", () => {
    expect(() => drillHandlerOptions({ BACKUP_BUCKET: "b" })).toThrow(/^Missing DRILL_TARGETS: the databases this function drills, as name:tier:class/);
    expect(() => drillHandlerOptions({ BACKUP_BUCKET: "b", DRILL_TARGETS: "app" })).toThrow(/DRILL_TARGETS: "app" is not name:tier/);
  });

  test("takes smoke queries as a JSON object of database name to SQL", () => {
    expect(drillHandlerOptions({ ...env, DRILL_SMOKE_QUERIES: '{"app": "SELECT true"}' }).smokeQueries).toEqual({ app: "SELECT true" });
    expect(parseSmokeQueries(undefined, ["app"])).toEqual({});
    expect(parseSmokeQueries("  ", ["app"])).toEqual({});
  });

  test.each([
    ["not JSON", "{app: SELECT 1}", /^DRILL_SMOKE_QUERIES is not JSON \(.*\); give an object of database name to SQL, e\.g\. \{"app": /],
    ["an array", '["SELECT 1"]', /^DRILL_SMOKE_QUERIES must be a JSON object of database name to SQL, .* \(got an array\)/],
    ["a string", '"SELECT 1"', /^DRILL_SMOKE_QUERIES must be a JSON object .* \(got string\)/],
    ["null", "null", /\(got null\)/],
    ["a number as a query", '{"app": 1}', /^DRILL_SMOKE_QUERIES: the smoke query of "app" must be a non-empty SQL string \(got 1\)/],
    ["an empty query", '{"app": " "}', /the smoke query of "app" must be a non-empty SQL string/],
    ["a database that is not drilled", '{"shop": "SELECT 1"}', /^DRILL_SMOKE_QUERIES names "shop", which is not one of the drilled databases in DRILL_TARGETS \(app, ledger\)/],
  ])("refuses %s, naming DRILL_SMOKE_QUERIES", (_what, value, message) => {
    expect(() => drillHandlerOptions({ ...env, DRILL_SMOKE_QUERIES: value })).toThrow(message);
  });
});
