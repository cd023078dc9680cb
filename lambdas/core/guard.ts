/**
 * One run of a site's fencing guard: observe both sites (claims and fence
 * markers in SSM, databases in RDS: this site's region and the peer's),
 * `decide()` (fencing.ts), act on the decision, and report it as metrics, as
 * a notification when this run fenced the site, and as the return value the
 * backup job reads.
 *
 * Calls, all over the public AWS endpoints (the guard runs outside any VPC):
 * - own region: SSM GetParameters (claim, marker) and PutParameter (marker),
 *   RDS DescribeDBInstances and StopDBInstance, Scheduler GetSchedule and
 *   UpdateSchedule (with iam:PassRole of the schedules' role), SNS Publish,
 *   CloudWatch PutMetricData;
 * - peer region: SSM GetParameters (claim, marker), RDS DescribeDBInstances.
 * Every client has short timeouts: with the peer region gone the run still
 * ends in seconds, as `peerUnreachable`.
 */
import { DescribeDBInstancesCommand, RDSClient, StopDBInstanceCommand } from "@aws-sdk/client-rds";
import { GetScheduleCommand, SchedulerClient, UpdateScheduleCommand } from "@aws-sdk/client-scheduler";
import { SNSClient, PublishCommand } from "@aws-sdk/client-sns";
import { CloudWatchClient, MetricDatum, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { SSMClient } from "@aws-sdk/client-ssm";
import { errorMessage, UsageError } from "./errors";
import { DatabaseState, decide, disabledScheduleUpdate, GuardDecision, GuardObservation, Lookup, SiteObservation } from "./fencing";
import { CLIENT_TIMEOUTS, errorName, readFencingState, ssmClient, writeFenceMarker } from "./fencingState";

export const FENCING_METRIC_NAMESPACE = "drstack/fencing";

/** Metric names the infra alarms refer to (dimension `Site`). */
export const FENCING_METRICS = {
  peerUnreachable: "PeerUnreachable",
  inconsistent: "ClaimsInconsistent",
  fenced: "Fenced",
  actionFailed: "FenceActionFailed",
} as const;

export interface GuardOptions {
  site: string;
  region: string;
  peerRegion: string;
  claimParameter: string;
  fenceMarkerParameter: string;
  peerClaimParameter: string;
  peerFenceMarkerParameter: string;
  /** This site's backup schedules (the default group), disabled when the site is fenced. */
  backupSchedules: string[];
  scheduleGroup?: string;
  alarmTopicArn?: string;
  metricNamespace?: string;
  /** Endpoints instead of AWS (tests: moto); `peer` also lets a test make the peer unreachable. */
  endpoints?: { own?: string; peer?: string };
  now?: Date;
  log?: (message: string) => void;
}

export interface GuardReport {
  site: string;
  checkedAt: string;
  decision: GuardDecision;
  /** What this run changed. */
  actions: string[];
  /** Actions that failed; each alarms through FenceActionFailed. */
  actionFailures: string[];
  notified: boolean;
}

interface Clients {
  ssm: SSMClient;
  peerSsm: SSMClient;
  rds: RDSClient;
  peerRds: RDSClient;
  scheduler: SchedulerClient;
  sns: SNSClient;
  cloudwatch: CloudWatchClient;
}

function clients(opts: GuardOptions): Clients {
  const own = opts.endpoints?.own;
  const peer = opts.endpoints?.peer;
  return {
    ssm: ssmClient(opts.region, own),
    peerSsm: ssmClient(opts.peerRegion, peer),
    rds: new RDSClient({ region: opts.region, endpoint: own, ...CLIENT_TIMEOUTS }),
    peerRds: new RDSClient({ region: opts.peerRegion, endpoint: peer, ...CLIENT_TIMEOUTS }),
    scheduler: new SchedulerClient({ region: opts.region, endpoint: own, ...CLIENT_TIMEOUTS }),
    sns: new SNSClient({ region: opts.region, endpoint: own, ...CLIENT_TIMEOUTS }),
    cloudwatch: new CloudWatchClient({ region: opts.region, endpoint: own, ...CLIENT_TIMEOUTS }),
  };
}

export async function describeDatabase(rds: RDSClient, identifier: string): Promise<Lookup<DatabaseState>> {
  try {
    const res = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }));
    const db = res.DBInstances?.[0];
    if (!db) return { ok: true };
    return {
      ok: true,
      value: {
        identifier: db.DBInstanceIdentifier ?? identifier,
        status: db.DBInstanceStatus ?? "unknown",
        ...(db.ReadReplicaSourceDBInstanceIdentifier ? { replicaOf: db.ReadReplicaSourceDBInstanceIdentifier } : {}),
        readReplicas: db.ReadReplicaDBInstanceIdentifiers ?? [],
      },
    };
  } catch (err) {
    if (errorName(err) === "DBInstanceNotFoundFault" || errorName(err) === "DBInstanceNotFound") return { ok: true };
    return { ok: false, problem: `${errorName(err)}: ${errorMessage(err)}` };
  }
}

async function observeSite(ssm: SSMClient, rds: RDSClient, claimName: string, markerName: string): Promise<SiteObservation> {
  const state = await readFencingState(ssm, claimName, markerName);
  const identifier = state.claim.ok ? state.claim.value?.databaseIdentifier : undefined;
  const database: Lookup<DatabaseState> = identifier ? await describeDatabase(rds, identifier) : { ok: false, problem: "no claim names a database" };
  return { ...state, database };
}

export async function observe(opts: GuardOptions, c: Clients = clients(opts)): Promise<GuardObservation> {
  const [own, peer] = await Promise.all([
    observeSite(c.ssm, c.rds, opts.claimParameter, opts.fenceMarkerParameter),
    observeSite(c.peerSsm, c.peerRds, opts.peerClaimParameter, opts.peerFenceMarkerParameter),
  ]);
  return { own, peer };
}

export async function runGuard(opts: GuardOptions): Promise<GuardReport> {
  const log = opts.log ?? (() => undefined);
  const now = opts.now ?? new Date();
  const c = clients(opts);
  const decision = decide(await observe(opts, c), now);
  const actions: string[] = [];
  const actionFailures: string[] = [];
  const attempt = async (what: string, action: () => Promise<boolean>) => {
    try {
      if (await action()) actions.push(what);
    } catch (err) {
      actionFailures.push(`${what}: ${errorName(err)}: ${errorMessage(err)}`);
    }
  };

  // The marker first: from then on the site's backups refuse, whatever happens to the other actions.
  if (decision.writeMarker) {
    const marker = decision.writeMarker;
    await attempt(`wrote the fence marker ${opts.fenceMarkerParameter}`, async () => (await writeFenceMarker(c.ssm, opts.fenceMarkerParameter, marker), true));
  }
  if (decision.disableSchedules) {
    for (const name of opts.backupSchedules) {
      await attempt(`disabled the backup schedule ${name}`, () => disableSchedule(c.scheduler, name, opts.scheduleGroup ?? "default"));
    }
  }
  if (decision.stopDatabase) {
    const identifier = decision.stopDatabase;
    await attempt(`stopped the database ${identifier}`, () => stopDatabase(c.rds, identifier));
  }

  let notified = false;
  const newlyFenced = decision.writeMarker !== undefined && actions.some((a) => a.startsWith("wrote the fence marker"));
  if (opts.alarmTopicArn && (newlyFenced || actionFailures.length > 0)) {
    try {
      await c.sns.send(new PublishCommand({ TopicArn: opts.alarmTopicArn, ...notificationFor(opts.site, decision, actions, actionFailures) }));
      notified = true;
    } catch (err) {
      actionFailures.push(`notify ${opts.alarmTopicArn}: ${errorMessage(err)}`);
    }
  }
  const report: GuardReport = { site: opts.site, checkedAt: now.toISOString(), decision, actions, actionFailures, notified };
  if (opts.metricNamespace) {
    try {
      await c.cloudwatch.send(new PutMetricDataCommand({ Namespace: opts.metricNamespace, MetricData: guardMetrics(report, now) }));
    } catch (err) {
      report.actionFailures.push(`metrics: ${errorMessage(err)}`);
    }
  }
  log(`${opts.site}: ${decision.verdict}${decision.backupsMayRun ? "" : " (backups refused)"}; ${decision.reasons.join("; ")}${decision.stopDeferred ? `; stop deferred: ${decision.stopDeferred}` : ""}`);
  for (const a of actions) log(`${opts.site}: ${a}`);
  for (const f of report.actionFailures) log(`${opts.site}: FAILED ${f}`);
  return report;
}

/**
 * Stops the database; false when a concurrent run (the schedule's and a
 * backup's can overlap) already did, which RDS answers with
 * InvalidDBInstanceState once the instance is stopping.
 */
async function stopDatabase(rds: RDSClient, identifier: string): Promise<boolean> {
  try {
    await rds.send(new StopDBInstanceCommand({ DBInstanceIdentifier: identifier }));
    return true;
  } catch (err) {
    if (errorName(err) === "InvalidDBInstanceStateFault" || errorName(err) === "InvalidDBInstanceState") {
      const now = await describeDatabase(rds, identifier);
      if (now.ok && (now.value?.status === "stopping" || now.value?.status === "stopped")) return false;
    }
    throw err;
  }
}

/** Disables one schedule, sending back its full definition; false when it already was. */
async function disableSchedule(scheduler: SchedulerClient, name: string, group: string): Promise<boolean> {
  const current = await scheduler.send(new GetScheduleCommand({ Name: name, GroupName: group }));
  if (current.State === "DISABLED") return false;
  await scheduler.send(new UpdateScheduleCommand(disabledScheduleUpdate(current)));
  return true;
}

export function guardMetrics(report: GuardReport, now: Date): MetricDatum[] {
  const dims = [{ Name: "Site", Value: report.site }];
  const put = (name: string, on: boolean): MetricDatum => ({ MetricName: name, Dimensions: dims, Value: on ? 1 : 0, Unit: "Count", Timestamp: now });
  return [
    put(FENCING_METRICS.peerUnreachable, report.decision.peerUnreachable),
    put(FENCING_METRICS.inconsistent, report.decision.inconsistent),
    put(FENCING_METRICS.fenced, report.decision.verdict === "fenced"),
    put(FENCING_METRICS.actionFailed, report.actionFailures.length > 0),
  ];
}

export function notificationFor(site: string, decision: GuardDecision, actions: string[], failures: string[]): { Subject: string; Message: string } {
  const subject = (failures.length > 0 ? `drstack fencing guard of ${site}: an action failed` : `drstack ${site} fenced itself: not the writer`).slice(0, 100);
  const lines = [
    ...decision.reasons,
    "",
    ...actions.map((a) => `done: ${a}`),
    ...failures.map((f) => `FAILED: ${f}`),
    ...(decision.stopDeferred ? [`deferred: ${decision.stopDeferred}`] : []),
    "",
    "The site stays fenced until its stack's claim reaches a higher writer epoch (README, Failback).",
  ];
  return { Subject: subject, Message: lines.join("\n") };
}

/** The guard's settings, from its function's environment (infra/fencing.ts sets them). */
export function guardOptionsFromEnv(env: NodeJS.ProcessEnv): GuardOptions {
  const required = (name: string): string => {
    const value = env[name];
    if (!value) throw new UsageError(`The fencing guard needs ${name} in its environment (infra/fencing.ts sets it).`);
    return value;
  };
  return {
    site: required("SITE"),
    region: required("AWS_REGION"),
    peerRegion: required("PEER_REGION"),
    claimParameter: required("FENCING_CLAIM_PARAMETER"),
    fenceMarkerParameter: required("FENCE_MARKER_PARAMETER"),
    peerClaimParameter: required("PEER_FENCING_CLAIM_PARAMETER"),
    peerFenceMarkerParameter: required("PEER_FENCE_MARKER_PARAMETER"),
    backupSchedules: (env.BACKUP_SCHEDULES ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    scheduleGroup: env.BACKUP_SCHEDULE_GROUP || "default",
    alarmTopicArn: env.ALARM_TOPIC_ARN || undefined,
    metricNamespace: env.METRIC_NAMESPACE || undefined,
  };
}
