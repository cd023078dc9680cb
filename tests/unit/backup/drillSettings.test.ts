/** The drill task's settings and the names it shares with infra/backupContract.ts. */
import { BACKUP_METRICS, DRILL_TASK_COMMAND, DRILL_TASK_EXIT, HANDLER_ENV, drillTargets } from "../../../infra/backupContract";
import { EXIT_BAD_SETTINGS, EXIT_FAILED, EXIT_PASSED } from "../../../lambdas/tasks/drill";
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
    expect([DRILL_HANDLER_ENV.targets, DRILL_HANDLER_ENV.smokeQueries, DRILL_HANDLER_ENV.deadlineSeconds]).toEqual([HANDLER_ENV.drillTargets, HANDLER_ENV.drillSmokeQueries, HANDLER_ENV.drillDeadlineSeconds]);
    expect({ passed: EXIT_PASSED, failed: EXIT_FAILED, badSettings: EXIT_BAD_SETTINGS }).toEqual(DRILL_TASK_EXIT);
    const spec = drillTargets([
      { name: "app", tier: "critical", dataClass: "db" },
      { name: "ledger", tier: "standard", dataClass: "financial" },
    ] as Parameters<typeof drillTargets>[0]);
    expect(drillHandlerOptions({ ...env, [HANDLER_ENV.drillTargets]: spec }).targets).toEqual([
      { database: "app", tier: "critical", dataClass: "db" },
      { database: "ledger", tier: "standard", dataClass: "financial" },
    ]);
  });

  test("the task's command runs a file build:lambdas writes into the directory the image copies, with the server it starts", () => {
    const script = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "..", "package.json"), "utf8")).scripts["build:lambdas"] as string;
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "..", "lambdas", "backup-image", "Dockerfile"), "utf8");
    expect(DRILL_TASK_COMMAND).toEqual(["node", "/var/task/tasks/drill.js"]);
    expect(script).toContain("esbuild lambdas/tasks/drill.ts --bundle");
    expect(script).toContain("--outfile=dist/lambdas/backup/tasks/drill.js");
    // The Lambda base image's LAMBDA_TASK_ROOT is /var/task; the build fails unless node is on its PATH.
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/lambda\/nodejs:20$/m);
    expect(dockerfile).toContain("COPY dist/lambdas/backup/ ${LAMBDA_TASK_ROOT}/");
    expect(dockerfile).toMatch(/&& command -v node\b/);
    expect(dockerfile).toMatch(/dnf install -y [^\n]*\bpostgresql16-server\b/);
    expect(dockerfile).toMatch(/&& initdb --version/);
  });
});

describe("drill task settings", () => {
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
    expect(() => drillHandlerOptions({ BACKUP_BUCKET: "b" })).toThrow(/^Missing DRILL_TARGETS: the databases this drill task drills, as name:tier:class/);
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

  test("takes the run's deadline in whole seconds, at least a minute, and refuses anything else naming DRILL_DEADLINE_SECONDS", () => {
    expect(drillHandlerOptions({ ...env, DRILL_DEADLINE_SECONDS: "10800" }).deadlineSeconds).toBe(10800);
    expect(drillHandlerOptions({ ...env, DRILL_DEADLINE_SECONDS: "" }).deadlineSeconds).toBeUndefined();
    expect(drillHandlerOptions(env).deadlineSeconds).toBeUndefined();
    for (const bad of ["15m", "-60", "59", "1.5"]) {
      expect(() => drillHandlerOptions({ ...env, DRILL_DEADLINE_SECONDS: bad })).toThrow(new RegExp(`^DRILL_DEADLINE_SECONDS must be a whole number of seconds, at least 60 \\(got "${bad.replace(".", "\\.")}"\\); unset it for no limit\\.$`));
    }
  });
});
