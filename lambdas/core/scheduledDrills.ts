/**
 * The scheduled restore drill of one tier's databases, as the drill task
 * (lambdas/tasks/drill.ts, an ECS task on Fargate from the backup image)
 * runs it. There is no database server for it, so it starts one throwaway
 * PostgreSQL in the task's ephemeral storage (lambdas/core/scratchPostgres.ts),
 * and for MySQL/MariaDB backups, on the first one, a throwaway server of
 * their flavour (scratchMysql.ts), drills each database of DRILL_TARGETS into it in turn (runDrill: newest
 * backup, restored, checked, timed, reported under `<prefix>drills/`), stops
 * it, and publishes per database (dimension Database) DrillFailed, 1 or 0,
 * and for a passed drill DrillRestoreSeconds.
 *
 * If any drill failed, could not run, or was cut off, it throws once
 * everything is published, and the task exits non-zero. The deadline
 * (DRILL_DEADLINE_SECONDS) and a stop request (SIGTERM) cut the run the
 * same way: no drill starts after it, and one still running is stopped by
 * stopping its server, so the run ends with its report and metrics written
 * rather than killed mid-way. Databases not drilled by then are failures
 * that say so.
 */
import { CloudWatchClient, MetricDatum, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { DRILL_METRICS, DrillResult, runDrill } from "./drill";
import { CheckFailedError, errorMessage } from "./errors";
import { BackupTarget } from "./layout";
import { SCRATCH_CLUSTER_LABEL, ScratchPostgres, startScratchPostgres } from "./scratchPostgres";
import { scratchServers } from "./scratchServers";
import { DrillHandlerOptions } from "../settings";

export interface DatabaseDrill {
  database: string;
  dataClass: BackupTarget["dataClass"];
  ok: boolean;
  durationSeconds?: number;
  reportKey?: string;
  /** The failed checks, or why the drill did not run; empty for a passed drill. */
  failures: string[];
}

export interface DrillSummary {
  ok: boolean;
  site: string;
  startedAt: string;
  endedAt: string;
  databases: DatabaseDrill[];
}

export interface ScheduledDrillOptions extends DrillHandlerOptions {
  /** No drill starts after this, and one running then is stopped. */
  deadline?: Date;
  /** Aborted when the run must end now (the container's SIGTERM): handled as the deadline is. */
  stop?: AbortSignal;
  log?: (message: string) => void;
}

export class DrillsFailedError extends CheckFailedError {
  constructor(readonly summary: DrillSummary) {
    const failed = summary.databases.filter((d) => !d.ok);
    super(`restore drill failed for ${failed.map((d) => `${d.database} (${d.failures.join("; ")})`).join(", ")}`);
    this.name = "DrillsFailedError";
  }
}

function metricData(drill: DatabaseDrill, now: Date): MetricDatum[] {
  const dims = [{ Name: "Database", Value: drill.database }];
  const data: MetricDatum[] = [{ MetricName: DRILL_METRICS.failed, Dimensions: dims, Value: drill.ok ? 0 : 1, Unit: "Count", Timestamp: now }];
  if (drill.ok && drill.durationSeconds !== undefined) data.push({ MetricName: DRILL_METRICS.restoreSeconds, Dimensions: dims, Value: drill.durationSeconds, Unit: "Seconds", Timestamp: now });
  return data;
}

function failuresOf(result: DrillResult): string[] {
  return result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
}

export async function runScheduledDrills(opts: ScheduledDrillOptions): Promise<DrillSummary> {
  const log = opts.log ?? (() => undefined);
  const startedAt = new Date();
  const databases: DatabaseDrill[] = [];
  const problems: string[] = [];
  const cw = opts.monitoring ? new CloudWatchClient({ region: opts.monitoring.region, endpoint: opts.monitoring.endpoint, maxAttempts: 3, requestHandler: { connectionTimeout: 10_000, socketTimeout: 30_000 } }) : undefined;
  if (!cw) log("METRIC_NAMESPACE is unset: no drill metrics are published");

  const record = async (drill: DatabaseDrill): Promise<void> => {
    databases.push(drill);
    const detail = drill.ok ? `restore took ${drill.durationSeconds?.toFixed(1)} s` : drill.failures.join("; ");
    log(`${drill.database}: drill ${drill.ok ? "passed" : "FAILED"}, ${detail}${drill.reportKey ? `; report s3://${opts.bucket.bucket}/${drill.reportKey}` : "; no report"}`);
    if (!cw || !opts.monitoring) return;
    try {
      await cw.send(new PutMetricDataCommand({ Namespace: opts.monitoring.namespace, MetricData: metricData(drill, new Date()) }));
    } catch (err) {
      problems.push(`could not publish the metrics of ${drill.database}: ${errorMessage(err)}`);
      log(problems[problems.length - 1]);
    }
  };
  const notDrilled = (target: Pick<BackupTarget, "database" | "dataClass">, why: string): DatabaseDrill => ({ database: target.database, dataClass: target.dataClass, ok: false, failures: [`not drilled: ${why}`] });

  let scratch: ScratchPostgres | undefined;
  try {
    scratch = await startScratchPostgres({ pgBinDir: opts.pgBinDir, log });
  } catch (err) {
    for (const target of opts.targets) await record(notDrilled(target, `the scratch PostgreSQL server did not start: ${errorMessage(err)}`));
    throw err;
  }
  const server = scratch;
  const mysqlServers = scratchServers({ mysqlBinDir: opts.mysqlBinDir, log });
  let deadlineHit = false;
  let cutOffReason = opts.deadline ? `the run's deadline (${opts.deadline.toISOString()})` : "";
  const cutOff = (reason: string) => {
    if (deadlineHit) return;
    deadlineHit = true;
    cutOffReason = reason;
    log(`${reason} reached: stopping the scratch server and the drill in flight`);
    server.stop().catch((err: unknown) => log(`could not stop the scratch server: ${errorMessage(err)}`));
    mysqlServers.stopAll().catch((err: unknown) => log(`could not stop the scratch MySQL/MariaDB server: ${errorMessage(err)}`));
  };
  const timer = opts.deadline ? setTimeout(() => cutOff(`the run's deadline (${opts.deadline!.toISOString()})`), Math.max(0, opts.deadline.getTime() - Date.now())) : undefined;
  const onStop = () => cutOff(`a stop request (${new Date().toISOString()})`);
  if (opts.stop?.aborted) onStop();
  opts.stop?.addEventListener("abort", onStop);
  try {
    for (const target of opts.targets) {
      if (deadlineHit || (opts.deadline && Date.now() >= opts.deadline.getTime())) {
        deadlineHit = true;
        await record(notDrilled(target, `${cutOffReason} came first; raise the drill's time limit (drillTimeoutMinutes) or drill fewer databases per tier`));
        continue;
      }
      const smokeQuery = opts.smokeQueries[target.database];
      try {
        const result = await runDrill({
          bucket: opts.bucket,
          source: target,
          sites: opts.sites,
          scratchServer: (engine) => (engine === "postgres" ? Promise.resolve({ url: server.url, label: SCRATCH_CLUSTER_LABEL }) : mysqlServers.serverFor(engine)),
          site: opts.site,
          pgBinDir: opts.pgBinDir,
          mysqlBinDir: opts.mysqlBinDir,
          ...(smokeQuery !== undefined ? { smokeQuery } : {}),
          log: (m) => log(`${target.database}: ${m}`),
        });
        const failures = failuresOf(result);
        if (deadlineHit) failures.push(`stopped by ${cutOffReason}`);
        await record({ database: target.database, dataClass: target.dataClass, ok: result.ok && !deadlineHit, durationSeconds: result.durationSeconds, reportKey: result.reportKey, failures });
      } catch (err) {
        const why = deadlineHit ? `stopped by ${cutOffReason}: ${errorMessage(err)}` : `the drill could not run: ${errorMessage(err)}`;
        await record({ database: target.database, dataClass: target.dataClass, ok: false, failures: [why] });
      }
    }
  } finally {
    if (timer) clearTimeout(timer);
    opts.stop?.removeEventListener("abort", onStop);
    await server.stop();
    await mysqlServers.stopAll();
  }
  const summary: DrillSummary = { ok: databases.every((d) => d.ok) && problems.length === 0, site: opts.site, startedAt: startedAt.toISOString(), endedAt: new Date().toISOString(), databases };
  if (!summary.ok) {
    if (databases.every((d) => d.ok)) throw new CheckFailedError(`every drill passed, but ${problems.join("; ")}`);
    throw new DrillsFailedError(summary);
  }
  return summary;
}
