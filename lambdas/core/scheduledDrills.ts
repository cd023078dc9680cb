/**
 * Lambda entry point `handlers/drill.handler`: the scheduled restore drill
 * (backup image, outside any VPC: it calls S3 and CloudWatch only). There is
 * no database server for it, so it starts one throwaway PostgreSQL in the
 * function's ephemeral storage (lambdas/core/scratchPostgres.ts), drills each
 * database of DRILL_TARGETS into it in turn (runDrill: newest backup,
 * restored, checked, timed, reported under `<prefix>drills/`), stops it, and
 * publishes per database (dimension Database) DrillFailed, 1 or 0, and for a
 * passed drill DrillRestoreSeconds.
 *
 * If any drill failed, could not run, or was cut off by the deadline, the
 * handler throws once everything is published: the function's Errors alarm
 * then fires beside the per-database DrillFailed alarm, and the function's
 * log says which check failed. (The infra sets no retries: drilling again at
 * once measures nothing new.) Under Lambda the deadline is the function's
 * remaining time less DRILL_DEADLINE_MARGIN_SECONDS: no drill starts after
 * it, and one still running then is stopped by stopping its server, so the
 * run ends with its report and metrics written rather than killed mid-way
 * by the timeout. Databases not drilled by then are failures that say so.
 */
import { CloudWatchClient, MetricDatum, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { DRILL_METRICS, DrillResult, runDrill } from "../core/drill";
import { CheckFailedError, errorMessage } from "../core/errors";
import { BackupTarget } from "../core/layout";
import { SCRATCH_CLUSTER_LABEL, ScratchPostgres, startScratchPostgres } from "../core/scratchPostgres";
import { DrillHandlerOptions, drillHandlerOptions } from "../settings";

/** Kept of the function's time for stopping the scratch server, writing the report in flight and publishing. */
export const DRILL_DEADLINE_MARGIN_SECONDS = 60;

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
  log?: (message: string) => void;
}

/** The part of the Lambda context the drill reads, as in handlers/backup.ts. */
export interface DrillContext {
  getRemainingTimeInMillis(): number;
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
  let deadlineHit = false;
  const timer = opts.deadline
    ? setTimeout(() => {
        deadlineHit = true;
        log(`deadline ${opts.deadline!.toISOString()} reached: stopping the scratch server and the drill in flight`);
        server.stop().catch((err: unknown) => log(`could not stop the scratch server: ${errorMessage(err)}`));
      }, Math.max(0, opts.deadline.getTime() - Date.now()))
    : undefined;
  try {
    for (const target of opts.targets) {
      if (deadlineHit || (opts.deadline && Date.now() >= opts.deadline.getTime())) {
        deadlineHit = true;
        await record(notDrilled(target, `the run's deadline (${opts.deadline!.toISOString()}, the function's timeout less ${DRILL_DEADLINE_MARGIN_SECONDS}s) came first; raise the function's timeout or drill fewer databases per function`));
        continue;
      }
      const smokeQuery = opts.smokeQueries[target.database];
      try {
        const result = await runDrill({
          bucket: opts.bucket,
          source: target,
          sites: opts.sites,
          scratchServer: { url: server.url, label: SCRATCH_CLUSTER_LABEL },
          site: opts.site,
          pgBinDir: opts.pgBinDir,
          ...(smokeQuery !== undefined ? { smokeQuery } : {}),
          log: (m) => log(`${target.database}: ${m}`),
        });
        const failures = failuresOf(result);
        if (deadlineHit) failures.push(`stopped at the run's deadline (${opts.deadline!.toISOString()})`);
        await record({ database: target.database, dataClass: target.dataClass, ok: result.ok && !deadlineHit, durationSeconds: result.durationSeconds, reportKey: result.reportKey, failures });
      } catch (err) {
        const why = deadlineHit ? `stopped at the run's deadline (${opts.deadline!.toISOString()}): ${errorMessage(err)}` : `the drill could not run: ${errorMessage(err)}`;
        await record({ database: target.database, dataClass: target.dataClass, ok: false, failures: [why] });
      }
    }
  } finally {
    if (timer) clearTimeout(timer);
    await server.stop();
  }
  const summary: DrillSummary = { ok: databases.every((d) => d.ok) && problems.length === 0, site: opts.site, startedAt: startedAt.toISOString(), endedAt: new Date().toISOString(), databases };
  if (!summary.ok) {
    if (databases.every((d) => d.ok)) throw new CheckFailedError(`every drill passed, but ${problems.join("; ")}`);
    throw new DrillsFailedError(summary);
  }
  return summary;
}

export async function handler(_event: unknown = {}, context?: DrillContext): Promise<DrillSummary> {
  const opts = drillHandlerOptions(process.env);
  const remainingMs = context?.getRemainingTimeInMillis();
  const deadline = remainingMs === undefined ? undefined : new Date(Date.now() + remainingMs - DRILL_DEADLINE_MARGIN_SECONDS * 1000);
  return runScheduledDrills({ ...opts, ...(deadline ? { deadline } : {}), log: (m) => console.log(m) });
}
