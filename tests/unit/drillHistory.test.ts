import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DRILL_REPORT_FORMAT } from "../../infra/backupContract";
import { BackupDatabase } from "../../infra/backupTargets";
import { DATABASE_RESTORE_MINUTES } from "../../infra/assumptions";
import { assessPosture, withMeasuredRestore, RecoveryMechanisms } from "../../infra/objectives";
import { parseConfig } from "../../infra/config";
import { declaredDefaults } from "./configHelpers";
import { drillStatuses, measuredRestoreMinutes, readDrillReports } from "../../offline/drillHistory";
import { EXIT } from "../../offline/cli";

const ROOT = path.resolve(__dirname, "..", "..");
const MONTH = 31 * 24 * 60;
const GAPS = { critical: MONTH, high: MONTH, standard: MONTH, low: MONTH };
/** drillTimeoutMinutes' default (Pulumi.yaml). */
const TIMEOUT_MINUTES = 180;
const DATABASES: BackupDatabase[] = [
  { name: "shop", tier: "critical", dataClass: "db" },
  { name: "ledger", tier: "standard", dataClass: "financial" },
];

function reportsDir(reports: Array<Record<string, unknown>>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drills-"));
  for (const [index, report] of reports.entries()) {
    const prefix = report.dataClass === "financial" ? "financial" : "db";
    const at = path.join(dir, prefix, String(report.database), "drills");
    fs.mkdirSync(at, { recursive: true });
    fs.writeFileSync(path.join(at, `${index}-${String(report.site)}.json`), JSON.stringify({ format: DRILL_REPORT_FORMAT, ...report }));
  }
  // A manifest beside them is not a drill report and is skipped.
  fs.writeFileSync(path.join(dir, "latest-primary.json"), JSON.stringify({ format: "drstack.manifest/v1" }));
  return dir;
}

const NOW = new Date("2026-12-02T12:00:00Z");

describe("drill statuses from the reports", () => {
  test("the last drill at the site decides: passed with its measured time, failed, stale past the gap and a day, or none", () => {
    const dir = reportsDir([
      { database: "shop", dataClass: "db", site: "primary", startedAt: "2026-11-01T04:00:00Z", ok: true, durationSeconds: 100 },
      { database: "shop", dataClass: "db", site: "secondary", startedAt: "2026-12-01T04:00:00Z", ok: true, durationSeconds: 130.5 },
      { database: "ledger", dataClass: "financial", site: "primary", startedAt: "2026-10-01T04:00:00Z", ok: true, durationSeconds: 40 },
    ]);
    const primary = drillStatuses(readDrillReports(dir), DATABASES, GAPS, TIMEOUT_MINUTES, NOW, "primary");
    expect(primary.map((s) => [s.database, s.state, s.restoreSeconds])).toEqual([
      ["shop", "passed", 100],
      ["ledger", "stale", 40],
    ]);
    expect(primary[1].detail).toMatch(/last passed 62.3 days ago .*drills at least every 31 days/);
    // A stale drill no longer vouches for its time: nothing is measured.
    expect(measuredRestoreMinutes(primary)).toBeUndefined();
    // The peer's reports, replicated into the same bucket, never vouch for this site.
    const secondary = drillStatuses(readDrillReports(dir), DATABASES, GAPS, TIMEOUT_MINUTES, NOW, "secondary");
    expect(secondary.map((s) => [s.database, s.state, s.restoreSeconds])).toEqual([
      ["shop", "passed", 130.5],
      ["ledger", "none", undefined],
    ]);

    const fresh = reportsDir([
      { database: "shop", dataClass: "db", site: "primary", startedAt: "2026-12-01T04:00:00Z", ok: true, durationSeconds: 130.5 },
      { database: "ledger", dataClass: "financial", site: "primary", startedAt: "2026-11-20T04:00:00Z", ok: true, durationSeconds: 40 },
    ]);
    expect(measuredRestoreMinutes(drillStatuses(readDrillReports(fresh), DATABASES, GAPS, TIMEOUT_MINUTES, NOW, "primary"))).toEqual({
      minutes: 20 + 3,
      basis: expect.stringMatching(/instance to restore into 20 min \(assumed\) \+ pg_restore one database after another.*shop 130.5 s \(2026-12-01\), ledger 40.0 s \(2026-11-20\)/),
    });

    const failed = drillStatuses(
      readDrillReports(reportsDir([
        { database: "shop", site: "primary", startedAt: "2026-11-01T04:00:00Z", ok: true, durationSeconds: 10 },
        { database: "shop", site: "primary", startedAt: "2026-12-01T04:00:00Z", ok: false },
      ])),
      DATABASES,
      GAPS,
      TIMEOUT_MINUTES,
      NOW,
      "primary",
    );
    expect(failed.map((s) => s.state)).toEqual(["failed", "none"]);
    // A failed last drill disproves the older pass's time.
    expect(measuredRestoreMinutes(failed)).toBeUndefined();
  });

  test("a malformed drill report names its file; a missing directory says how to copy the reports", () => {
    const dir = reportsDir([{ database: "shop", site: "primary", startedAt: "not a time", ok: true }]);
    expect(() => readDrillReports(dir)).toThrow(/0-primary.json is a drstack.drill\/v1 report without a database, site, startedAt time and ok/);
    expect(() => readDrillReports(path.join(dir, "nope"))).toThrow(/no such directory.*aws s3 sync/);
  });
});

describe("the objectives use the measured restore time", () => {
  const mechanisms: RecoveryMechanisms = {
    databaseReplica: false,
    backupIntervalMinutes: { critical: 60 },
    replication: { db: "time-controlled", critical: "time-controlled", archive: "time-controlled", financial: "time-controlled" },
  };
  const input = parseConfig(declaredDefaults(), "primary");

  test("without a replica the failover restores the dump: the measure replaces the assumption and the tiers are judged again", () => {
    const assumed = assessPosture(input, mechanisms);
    expect(assumed.recoveryTime.steps.find((s) => s.step === "database")).toMatchObject({ minutes: DATABASE_RESTORE_MINUTES, basis: expect.stringMatching(/assumed/) });
    const measured = withMeasuredRestore(assumed, { minutes: 4, basis: "measured by the last passed drills: shop 200 s" });
    expect(measured.recoveryTime.steps.find((s) => s.step === "database")).toMatchObject({ minutes: 4, basis: expect.stringMatching(/shop 200 s/) });
    expect(measured.recoveryTime.minutes).toBe(assumed.recoveryTime.minutes - DATABASE_RESTORE_MINUTES + 4);
    expect(measured.tiers.map((t) => t.achievedRtoMinutes)).toEqual(measured.tiers.map(() => measured.recoveryTime.minutes));
    expect(assessPosture(input, { ...mechanisms, measuredRestore: { minutes: 4, basis: "x" } }).recoveryTime.minutes).toBe(measured.recoveryTime.minutes);
  });

  test("with a replica the failover promotes: the measure changes nothing", () => {
    const promoted = assessPosture(input, { ...mechanisms, databaseReplica: true });
    expect(withMeasuredRestore(promoted, { minutes: 400, basis: "slow" }).recoveryTime).toEqual(promoted.recoveryTime);
  });
});

test("drstack plan --drills prints each database's drill and flags the stale and missing ones", () => {
  const dir = reportsDir([{ database: "shop", site: "primary", startedAt: new Date(Date.now() - 86_400_000).toISOString(), ok: true, durationSeconds: 12.3 }]);
  const result = spawnSync(process.execPath, [path.join(ROOT, "bin", "drstack"), "plan", "--stack", "primary", "--drills", dir], { cwd: ROOT, encoding: "utf8" });
  expect(result.stderr).toBe("");
  expect(result.status).toBe(EXIT.ok);
  expect(result.stdout).toMatch(/Restore drills: 1 of 2 database\(s\) FLAGGED\n  shop \(critical\): passed, restore 12.3 s, .* on primary\n  ledger \(standard\): NONE, no drill report from primary/);
}, 60_000);
