import * as pulumi from "@pulumi/pulumi";
import { parseBackupDatabases } from "../../infra/backupTargets";
import { parseConfig } from "../../infra/config";
import { checkScheduleExpression } from "../../infra/scheduleExpression";
import { EvaluationError } from "../../offline/evaluate";
import { declaredDefaults, problemsOf } from "./configHelpers";
import { evaluate } from "./evaluations";

// Each evaluation of the program takes seconds; several in one test outgrow jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

describe("workload and backup config validation", () => {
  test("the declared defaults with the required settings are valid", () => {
    const config = parseConfig(declaredDefaults(), "primary");
    expect(config.workloads.replicas).toEqual({ full: { web: 3, worker: 2 }, warmMinimum: { web: 1, worker: 0 }, pilotLight: false });
    expect(config.workloads.healthPath).toBe("/healthz");
    expect(config.backups.databases).toEqual([{ name: "app", tier: "critical", dataClass: "db" }]);
    expect(config.backups.alarmEmails).toEqual([]);
  });

  test.each([
    ["kubeconfig", "", /kubeconfig = "": is not set; drstack deploys the application to the site's own Kubernetes cluster.*Fix: pulumi -s primary config set --secret kubeconfig < kubeconfig-primary.yaml/],
    ["workloadNamespace", "Shop_NS", /workloadNamespace = "Shop_NS": is not a Kubernetes namespace name. Fix: pulumi -s primary config set workloadNamespace shop/],
    ["appImageDigest", "", /appImageDigest = "": is not set; it names the application release by the digest CI pushed. Fix: pulumi -s primary config set appImageDigest sha256:<digest>/],
    ["appImageDigest", "2026.11.1", /appImageDigest = "2026.11.1": is not an image digest \(sha256: and 64 lowercase hex digits\)/],
    ["appImageDigest", `sha256:${"A".repeat(64)}`, /appImageDigest = "sha256:A+": is not an image digest/],
    ["webReplicas", "0", /webReplicas = "0": must be at least 1. Fix: pulumi -s primary config set webReplicas 1/],
    ["workerReplicas", "-1", /workerReplicas = "-1": must be at least 0/],
    ["standbyWebReplicas", "-2", /standbyWebReplicas = "-2": must be at least 0/],
    ["standbyWorkerReplicas", "two", /standbyWorkerReplicas = "two": must be a whole number/],
    ["standbyWebReplicas", "4", /standbyWebReplicas = "4": is more than the full size webReplicas \(3\); a standby never runs more than the active site. Fix: pulumi -s primary config set standbyWebReplicas 3/],
    ["standbyWorkerReplicas", "3", /standbyWorkerReplicas = "3": is more than the full size workerReplicas \(2\)/],
    ["pilotLight", "yes", /pilotLight = "yes": must be true or false/],
    ["webContainerPort", "70000", /webContainerPort = "70000": must be a TCP port, 1-65535/],
    ["workloadHealthPath", "healthz", /workloadHealthPath = "healthz": must be an absolute URL path starting with \/ and without spaces. Fix: pulumi -s primary config set workloadHealthPath \/healthz/],
    ["workloadHealthPath", "/health check", /workloadHealthPath = "\/health check": must be an absolute URL path/],
    ["appDatabaseName", "Shop-DB", /appDatabaseName = "Shop-DB": is not a database name/],
    ["appCpuRequest", "a lot", /appCpuRequest = "a lot": is not a Kubernetes CPU quantity such as 250m. Fix: pulumi -s primary config set appCpuRequest 250m/],
    ["appMemoryRequest", "512m", /appMemoryRequest = "512m": is not a Kubernetes memory quantity such as 512Mi/],
    ["appCpuLimit", "100m", /appCpuLimit = "100m": is below appCpuRequest \(250m\); Kubernetes rejects a limit under the request. Fix: pulumi -s primary config set appCpuLimit 250m/],
    ["appMemoryLimit", "256Mi", /appMemoryLimit = "256Mi": is below appMemoryRequest \(512Mi\)/],
    ["appRunAsUser", "0", /appRunAsUser = "0": must be at least 1/],
    ["appReadOnlyRootFilesystem", "sometimes", /appReadOnlyRootFilesystem = "sometimes": must be true or false/],
    ["backupDatabases", "", /backupDatabases = "": lists no database; every site must back up at least one/],
    ["backupDatabases", "app:gold", /backupDatabases = "app:gold": entry "app:gold" names tier "gold"; known tiers are critical, high, standard, low/],
    ["backupDatabases", "app:low:weekly", /names data class "weekly"; known classes are db, critical, archive, financial/],
    ["backupDatabases", "app", /entry "app" is not name:tier\[:dataClass\]/],
    ["backupDatabases", "a/b:low", /database name "a\/b" cannot be a backup key segment/],
    ["backupDatabases", "app:low,app:high", /database "app" is listed twice/],
    ["backupImageDigest", "", /backupImageDigest = "": is not set; it names the backup job image by the digest scripts\/publish-backup-image.sh pushed to both regions. Fix: run scripts\/publish-backup-image.sh, then pulumi -s primary config set backupImageDigest <the digest it prints>/],
    ["backupImageDigest", "latest", /backupImageDigest = "latest": is not an image digest/],
    ["tierHighBackupSchedule", "every 30 minutes", /tierHighBackupSchedule = "every 30 minutes": is not an EventBridge Scheduler expression: is neither rate\(value unit\) nor cron/],
    ["tierLowBackupSchedule", "cron(0 3 * * *)", /tierLowBackupSchedule = "cron\(0 3 \* \* \*\)": is not an EventBridge Scheduler expression: a cron expression has six fields/],
    ["tierLowBackupSchedule", "cron(0 3 * * * *)", /exactly one of day-of-month and day-of-week must be \?/],
    ["tierLowBackupSchedule", "cron(61 3 * * ? *)", /the minutes field "61" is not valid/],
    ["tierHighBackupSchedule", "rate(1 minutes)", /the unit must be singular for 1 and plural otherwise/],
    ["backupVerifySchedule", "rate(0 minutes)", /backupVerifySchedule = "rate\(0 minutes\)": is not an EventBridge Scheduler expression: a rate must be at least 1/],
    ["alarmEmails", '["oncall@example.com", "not-an-address"]', /alarmEmails = .*: entry "not-an-address" is not an email address/],
    ["alarmEmails", "oncall@example.com", /alarmEmails = "oncall@example.com": must be a JSON list of strings. Fix: pulumi -s primary config set --path 'alarmEmails\[0\]' oncall@example.com/],
  ])("%s = %j is rejected with the key, the value and the fix", (key, value, message) => {
    expect(problemsOf({ ...declaredDefaults(), [key]: value })).toMatch(message);
  });

  // With point-in-time recovery (transaction logs every 5 minutes, infra/pointInTimeRecovery.ts) and the
  // replica holding the database's RPO, the logical dumps need not: only an RPO under PITR's must be met by them.
  test("a dump schedule longer than the tier's RPO is accepted where PITR meets the RPO, and rejected below PITR's 5 minutes", () => {
    expect(() => parseConfig({ ...declaredDefaults(), tierCriticalBackupSchedule: "rate(1 hour)", tierHighBackupSchedule: "cron(0 3 * * ? *)" }, "primary")).not.toThrow();
    expect(problemsOf({ ...declaredDefaults(), tierCriticalRpoMinutes: "2", tierCriticalBackupSchedule: "rate(5 minutes)" })).toMatch(
      /tierCriticalBackupSchedule = "rate\(5 minutes\)": leaves up to 5 minutes between backups, longer than the critical tier's RPO of 2 minutes, which point-in-time recovery \(transaction logs every 5 minutes\) cannot meet either.*Fix: pulumi -s primary config set tierCriticalBackupSchedule 'rate\(2 minutes\)'/,
    );
  });

  test("an unset kubeconfig is rejected, never replaced by the ambient one", () => {
    const raw: Record<string, string> = declaredDefaults();
    delete raw.kubeconfig;
    expect(problemsOf(raw)).toMatch(/kubeconfig: is not set/);
  });

  test("the kubeconfig is a secret Output from the moment it is read", async () => {
    await expect(pulumi.isSecret(parseConfig(declaredDefaults(), "primary").workloads.kubeconfig)).resolves.toBe(true);
  });

  test("a pilot-light standby may keep warm minimums configured; they apply when pilot light is off again", () => {
    const config = parseConfig({ ...declaredDefaults(), pilotLight: "true" }, "primary");
    expect(config.workloads.replicas.pilotLight).toBe(true);
    expect(config.workloads.replicas.warmMinimum).toEqual({ web: 1, worker: 0 });
  });

  test("a bad workload key stops the program before any resource exists", async () => {
    let failure: unknown;
    try {
      await evaluate("secondary", { workloadHealthPath: "health" });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(EvaluationError);
    expect((failure as EvaluationError).message).toMatch(/workloadHealthPath = "health": must be an absolute URL path/);
    expect((failure as EvaluationError).resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});

describe("schedule expressions", () => {
  test.each([
    ["rate(1 minute)", 1],
    ["rate(5 minutes)", 5],
    ["rate(1 hour)", 60],
    ["rate(2 hours)", 120],
    ["rate(1 day)", 1440],
  ])("%s is a rate of %i minutes", (expression, minutes) => {
    expect(checkScheduleExpression(expression)).toEqual({ ok: true, intervalMinutes: minutes });
  });

  test.each([
    ["cron(0 3 * * ? *)", 1440],
    ["cron(*/15 * * * ? *)", 15],
    ["cron(0,30 * * * ? *)", 30],
    ["cron(0 */2 * * ? *)", 120],
    ["cron(0 1,13 * * ? *)", 720],
    ["cron(0 8-20 * * ? *)", 720],
    ["cron(5/20 * ? * * *)", 20],
    ["cron(50/20 * ? * * *)", 60],
  ])("%s, firing every day, leaves at most %i minutes between runs", (expression, gap) => {
    expect(checkScheduleExpression(expression)).toEqual({ ok: true, intervalMinutes: gap });
  });

  test.each(["cron(0 2 ? * MON-FRI *)", "cron(30 1 1,15 * ? 2026-2030)", "cron(0 4 ? * 6#1 *)"])("%s is valid; its gaps depend on the calendar", (expression) => {
    expect(checkScheduleExpression(expression)).toEqual({ ok: true });
  });

  test.each(["at(2026-11-23T03:00:00)", "rate(5 weeks)", "rate(-1 minutes)", "cron(0 24 * * ? *)", "cron(0 3 ? * ? *)", ""])("%j is rejected", (expression) => {
    expect(checkScheduleExpression(expression).ok).toBe(false);
  });
});

describe("backup database lists", () => {
  test("the data class defaults to db and may be named", () => {
    expect(parseBackupDatabases(" app:critical , ledger:standard:financial ")).toEqual({
      ok: true,
      databases: [
        { name: "app", tier: "critical", dataClass: "db" },
        { name: "ledger", tier: "standard", dataClass: "financial" },
      ],
    });
  });
});
