import type { GetScheduleCommandOutput } from "@aws-sdk/client-scheduler";
import {
  backupGate,
  DatabaseState,
  decide,
  disabledScheduleUpdate,
  FENCE_MARKER_FORMAT,
  FenceMarker,
  GuardObservation,
  Lookup,
  parseFenceMarker,
  parseWriterClaim,
  stopPlan,
  WRITER_CLAIM_FORMAT,
  WriterClaim,
} from "../../../lambdas/core/fencing";
import { FENCING_METRIC_NAMESPACE, FENCING_METRICS, guardMetrics, guardOptionsFromEnv } from "../../../lambdas/core/guard";
import * as infra from "../../../infra/fencing";
import { writerClaim } from "../../../infra/sitePlan";
import { SITES } from "../../../infra/roles";

const NOW = new Date("2026-11-24T10:00:00Z");

function claim(site: string, overrides: Partial<WriterClaim> = {}): WriterClaim {
  const active = overrides.activeSite ?? site;
  const isActive = active === site;
  return {
    format: WRITER_CLAIM_FORMAT,
    site,
    activeSite: active,
    role: isActive ? "active" : "standby",
    databaseMode: isActive ? "writer" : "replica",
    databaseIdentifier: `acme-${site}-db`,
    epoch: 2,
    ...overrides,
  };
}

const running = (identifier: string, more: Partial<DatabaseState> = {}): Lookup<DatabaseState> => ({ ok: true, value: { identifier, status: "available", readReplicas: [], ...more } });
const none = <T>(): Lookup<T> => ({ ok: true });
const found = <T>(value: T): Lookup<T> => ({ ok: true, value });
const unreachable = { ok: false as const, problem: "TimeoutError: connect ETIMEDOUT" };

/** The returning primary: its stack last made it the writer at epoch 2; the secondary was promoted at epoch 3. */
function staleWriterReturns(peerDb: Lookup<DatabaseState> = running("acme-secondary-db")): GuardObservation {
  return {
    own: { claim: found(claim("primary", { epoch: 2 })), marker: none(), database: running("acme-primary-db") },
    peer: { claim: found(claim("secondary", { epoch: 3 })), marker: none(), database: peerDb },
  };
}

describe("the fencing guard's decision", () => {
  test("a stale writer whose peer claims a newer writer on a standalone database fences itself: marker, schedules, database", () => {
    const decision = decide(staleWriterReturns(), NOW);
    expect(decision).toMatchObject({ verdict: "fenced", backupsMayRun: false, disableSchedules: true, stopDatabase: "acme-primary-db", peerUnreachable: false });
    expect(decision.writeMarker).toEqual({
      format: FENCE_MARKER_FORMAT,
      site: "primary",
      fencedEpoch: 2,
      peerSite: "secondary",
      peerEpoch: 3,
      fencedAt: NOW.toISOString(),
      reason: expect.stringMatching(/secondary's writer at epoch 3 .* supersedes this site's epoch 2/),
    });
  });

  test("a peer whose newer writer's database is stopped still supersedes this site", () => {
    expect(decide(staleWriterReturns(running("acme-secondary-db", { status: "stopped" })), NOW)).toMatchObject({ verdict: "fenced", stopDatabase: "acme-primary-db" });
  });

  test("the newer writer keeps writing and backing up, and says the stale one still claims the writer until it is fenced", () => {
    const own = { claim: found(claim("secondary", { epoch: 3 })), marker: none<FenceMarker>(), database: running("acme-secondary-db") };
    const stale = { claim: found(claim("primary", { epoch: 2 })), marker: none<FenceMarker>(), database: running("acme-primary-db") };
    expect(decide({ own, peer: stale }, NOW)).toMatchObject({ verdict: "writer", backupsMayRun: true, inconsistent: true, disableSchedules: false });
    const fencedMarker: FenceMarker = { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 2, peerSite: "secondary", peerEpoch: 3, fencedAt: NOW.toISOString(), reason: "x" };
    expect(decide({ own, peer: { ...stale, marker: found(fencedMarker) } }, NOW)).toMatchObject({ verdict: "writer", backupsMayRun: true, inconsistent: false });
  });

  test("the peer's claim alone does not fence: its database must be a standalone instance (stopped or not: it holds the newer data)", () => {
    for (const [peerDb, why] of [
      [running("acme-secondary-db", { replicaOf: "arn:aws:rds:us-west-2:1:db:acme-primary-db" }), /still a replica/],
      [none<DatabaseState>(), /does not exist/],
      [{ ok: false, problem: "AccessDenied" } as Lookup<DatabaseState>, /could not be described/],
    ] as const) {
      const decision = decide(staleWriterReturns(peerDb), NOW);
      expect(decision).toMatchObject({ verdict: "unknown", backupsMayRun: false, inconsistent: true, disableSchedules: false });
      expect(decision.writeMarker).toBeUndefined();
      expect(decision.stopDatabase).toBeUndefined();
      expect(decision.reasons.join(" ")).toMatch(why);
    }
  });

  test("with the peer unreachable (it may be the lost region) the writer keeps backing up and alarms, and never fences", () => {
    const observation: GuardObservation = {
      own: { claim: found(claim("secondary", { epoch: 3 })), marker: none(), database: running("acme-secondary-db") },
      peer: { claim: unreachable, marker: unreachable, database: { ok: false, problem: "no claim names a database" } },
    };
    const decision = decide(observation, NOW);
    expect(decision).toMatchObject({ verdict: "writer", backupsMayRun: true, peerUnreachable: true, disableSchedules: false });
    expect(decision.reasons.join(" ")).toMatch(/backups continue here \(the peer may be the lost region\), under this site's own pointer at epoch 3/);
  });

  test("a fence marker holds until the site's own claim passes the epoch that fenced it, even with the peer unreachable", () => {
    const marker: FenceMarker = { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 2, peerSite: "secondary", peerEpoch: 3, fencedAt: "2026-11-20T00:00:00Z", reason: "x" };
    const unreachablePeer = { claim: unreachable, marker: unreachable, database: unreachable };
    // RDS started the stopped instance after seven days: the guard stops it again.
    const held = decide({ own: { claim: found(claim("primary", { epoch: 2 })), marker: found(marker), database: running("acme-primary-db") }, peer: unreachablePeer }, NOW);
    expect(held).toMatchObject({ verdict: "fenced", backupsMayRun: false, disableSchedules: true, stopDatabase: "acme-primary-db" });
    expect(held.writeMarker).toBeUndefined();
    // Failback made the primary the writer at epoch 4: the old marker no longer fences it.
    const failedBack = decide({ own: { claim: found(claim("primary", { epoch: 4 })), marker: found(marker), database: running("acme-primary-db-g2") }, peer: unreachablePeer }, NOW);
    expect(failedBack).toMatchObject({ verdict: "writer", backupsMayRun: true });
  });

  test("a standby keeps its former writer stopped, and never backs up", () => {
    const own = { claim: found(claim("primary", { activeSite: "secondary", databaseMode: "fenced", epoch: 3 })), marker: none<FenceMarker>(), database: running("acme-primary-db") };
    const peer = { claim: found(claim("secondary", { epoch: 3 })), marker: none<FenceMarker>(), database: running("acme-secondary-db") };
    expect(decide({ own, peer }, NOW)).toMatchObject({ verdict: "standby", backupsMayRun: false, stopDatabase: "acme-primary-db", inconsistent: false, disableSchedules: false });
    const replica = { ...own, claim: found(claim("primary", { activeSite: "secondary", databaseMode: "replica", epoch: 3 })), database: running("acme-primary-db-g2", { replicaOf: "arn" }) };
    const decision = decide({ own: replica, peer }, NOW);
    expect(decision).toMatchObject({ verdict: "standby", backupsMayRun: false, inconsistent: false });
    expect(decision.stopDatabase).toBeUndefined();
  });

  test("claims that name no writer, or disagree on the epoch, alarm as inconsistent", () => {
    const own = { claim: found(claim("secondary", { activeSite: "primary", databaseMode: "fenced", epoch: 4 })), marker: none<FenceMarker>(), database: running("acme-secondary-db") };
    const peerReplica = { claim: found(claim("primary", { activeSite: "secondary", databaseMode: "replica", epoch: 3 })), marker: none<FenceMarker>(), database: running("acme-primary-db-g2") };
    expect(decide({ own, peer: peerReplica }, NOW)).toMatchObject({ verdict: "standby", inconsistent: true });
    const both = decide({ own: { ...own, claim: found(claim("secondary", { epoch: 4 })) }, peer: { ...peerReplica, claim: found(claim("primary", { epoch: 4 })) } }, NOW);
    expect(both).toMatchObject({ verdict: "unknown", backupsMayRun: false, inconsistent: true });
  });

  test("without its own claim or marker the guard decides nothing and lets no backup run", () => {
    const peer = { claim: found(claim("secondary", { epoch: 3 })), marker: none<FenceMarker>(), database: running("acme-secondary-db") };
    expect(decide({ own: { claim: none(), marker: none(), database: unreachable }, peer }, NOW)).toMatchObject({ verdict: "unknown", backupsMayRun: false });
    expect(decide({ own: { claim: found(claim("primary")), marker: unreachable, database: running("x") }, peer }, NOW)).toMatchObject({ verdict: "unknown", backupsMayRun: false });
  });
});

describe("stopping a database, within RDS's rules (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html)", () => {
  test("only an available, standalone instance without read replicas is stopped", () => {
    expect(stopPlan("db", running("db"))).toEqual({ stop: "db" });
    expect(stopPlan("db", running("db", { status: "stopped" }))).toEqual({});
    expect(stopPlan("db", running("db", { status: "stopping" }))).toEqual({});
    // A replica takes no writes, and RDS cannot stop one.
    expect(stopPlan("db", running("db", { replicaOf: "src" }))).toEqual({});
    expect(stopPlan("db", running("db", { readReplicas: ["replica-1"] })).deferred).toMatch(/has read replicas \(replica-1\), and RDS stops no instance that has/);
    expect(stopPlan("db", running("db", { status: "modifying" })).deferred).toMatch(/is modifying; RDS stops only available instances/);
    expect(stopPlan("db", none()).deferred).toMatch(/not found/);
  });
});

describe("a partial failover: the database and its own claim disagree", () => {
  // PromoteReadReplica succeeded, the ModifyDBInstance after it failed, so the `up` stopped before writing the claim.
  const promotedReplica = running("acme-secondary-db");
  const standbyClaim = found(claim("secondary", { activeSite: "primary" }));
  const primaryWriter = { claim: found(claim("primary")), marker: none<FenceMarker>(), database: running("acme-primary-db") };

  test("a standalone database under a replica claim alarms as inconsistent, takes no backups and is not stopped (it may be the failover half done)", () => {
    const decision = decide({ own: { claim: standbyClaim, marker: none(), database: promotedReplica }, peer: primaryWriter }, NOW);
    expect(decision).toMatchObject({ verdict: "standby", backupsMayRun: false, inconsistent: true });
    expect(decision.stopDatabase).toBeUndefined();
    expect(decision.reasons.join("; ")).toMatch(/standalone instance while its claim says replica.*partial failover.*finish the failover `up`/);
  });

  test("the writer's guard sees the same contradiction on its peer and alarms, but keeps writing and backing up", () => {
    const own = primaryWriter;
    const decision = decide({ own, peer: { claim: standbyClaim, marker: none(), database: promotedReplica } }, NOW);
    expect(decision).toMatchObject({ verdict: "writer", backupsMayRun: true, inconsistent: true });
    expect(decision.reasons.join("; ")).toMatch(/the peer: its database acme-secondary-db is a standalone instance while its claim says replica/);
  });

  test("the same standby with its database still a replica is consistent", () => {
    const replica = running("acme-secondary-db", { replicaOf: "arn:aws:rds:us-west-2:123456789012:db:acme-primary-db" });
    expect(decide({ own: { claim: standbyClaim, marker: none(), database: replica }, peer: primaryWriter }, NOW)).toMatchObject({ verdict: "standby", inconsistent: false });
  });

  test("a writer claim on a database that is still a replica publishes no backups and alarms", () => {
    const own = { claim: found(claim("secondary", { epoch: 3 })), marker: none<FenceMarker>(), database: running("acme-secondary-db", { replicaOf: "acme-primary-db" }) };
    const decision = decide({ own, peer: { claim: unreachable, marker: unreachable, database: unreachable } }, NOW);
    expect(decision).toMatchObject({ verdict: "unknown", backupsMayRun: false, inconsistent: true });
    expect(backupGate({ claim: own.claim, marker: none(), guard: { ok: true, decision } })).toMatchObject({ ok: false, refused: true });
  });
});

describe("the backup job's gate", () => {
  const writer = found(claim("secondary", { epoch: 3 }));
  const decision = decide(
    { own: { claim: writer, marker: none(), database: running("acme-secondary-db") }, peer: { claim: unreachable, marker: unreachable, database: unreachable } },
    NOW,
  );

  test("the writer backs up as its claim's site and epoch, also when its guard cannot reach the peer", () => {
    expect(backupGate({ claim: writer, marker: none(), guard: { ok: true, decision } })).toEqual({ ok: true, site: "secondary", epoch: 3 });
    expect(backupGate({ claim: writer, marker: none() })).toEqual({ ok: true, site: "secondary", epoch: 3 });
  });

  test("a standby, a fenced site or a guard that says no is refused; a claim or guard that cannot be read stops the backup as an error", () => {
    expect(backupGate({ claim: found(claim("primary", { activeSite: "secondary" })), marker: none() })).toMatchObject({ ok: false, refused: true });
    expect(backupGate({ claim: none(), marker: none() })).toMatchObject({ ok: false, refused: true });
    const marker: FenceMarker = { format: FENCE_MARKER_FORMAT, site: "secondary", fencedEpoch: 3, peerSite: "primary", peerEpoch: 4, fencedAt: NOW.toISOString(), reason: "primary at 4" };
    expect(backupGate({ claim: writer, marker: found(marker) })).toMatchObject({ ok: false, refused: true, reason: expect.stringMatching(/fenced it .*primary at 4/) });
    const fenced = decide(staleWriterReturns(), NOW);
    expect(backupGate({ claim: found(claim("primary")), marker: none(), guard: { ok: true, decision: fenced } })).toMatchObject({ ok: false, refused: true });
    expect(backupGate({ claim: unreachable, marker: unreachable })).toMatchObject({ ok: false, refused: false });
    expect(backupGate({ claim: writer, marker: none(), guard: { ok: false, problem: "TooManyRequestsException" } })).toMatchObject({ ok: false, refused: false });
  });
});

describe("the protocol's documents", () => {
  test("the claim each stack writes (infra/sitePlan.ts) is what the guard and the backup parse, in all four worlds", () => {
    for (const site of SITES) {
      for (const activeSite of SITES) {
        const written = writerClaim(site, activeSite, { primary: 2, secondary: 1 }, `acme-${site}-db`);
        expect(parseWriterClaim(JSON.stringify(written))).toEqual(written);
      }
    }
  });

  test("malformed claims and markers are refused with the reason", () => {
    expect(() => parseWriterClaim("nope")).toThrow(/not JSON/);
    expect(() => parseWriterClaim(JSON.stringify({ ...claim("primary"), epoch: -1, role: "boss" }))).toThrow(/role "boss" is neither active nor standby; epoch -1 is not a whole number/);
    expect(() => parseFenceMarker(JSON.stringify({ format: FENCE_MARKER_FORMAT }))).toThrow(/malformed fence marker/);
  });

  test("the guard reads exactly the environment infra/fencing.ts gives it, and publishes the metrics its alarms watch", () => {
    const env = Object.fromEntries(Object.values(infra.GUARD_ENV).map((name) => [name, `value-of-${name}`]));
    const options = guardOptionsFromEnv({ ...env, AWS_REGION: "us-east-1", [infra.GUARD_ENV.backupSchedules]: "a,b" });
    expect(options).toMatchObject({ site: "value-of-SITE", peerRegion: "value-of-PEER_REGION", backupSchedules: ["a", "b"], metricNamespace: "value-of-METRIC_NAMESPACE" });
    expect(() => guardOptionsFromEnv({ AWS_REGION: "us-east-1" })).toThrow(/needs SITE/);
    expect(FENCING_METRIC_NAMESPACE).toBe(infra.FENCING_METRIC_NAMESPACE);
    expect(FENCING_METRICS).toEqual(infra.FENCING_METRICS);
    const decision = decide(staleWriterReturns(), NOW);
    const data = guardMetrics({ site: "primary", checkedAt: NOW.toISOString(), decision, actions: [], actionFailures: [], notified: false }, NOW);
    expect(data.map((d) => [d.MetricName, d.Value, d.Dimensions])).toEqual([
      ["PeerUnreachable", 0, [{ Name: "Site", Value: "primary" }]],
      ["ClaimsInconsistent", 0, [{ Name: "Site", Value: "primary" }]],
      ["Fenced", 1, [{ Name: "Site", Value: "primary" }]],
      ["FenceActionFailed", 0, [{ Name: "Site", Value: "primary" }]],
    ]);
  });
});

describe("disabling a schedule with UpdateSchedule (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html)", () => {
  test("sends back every field GetSchedule returned except the read-only ones, changing only State: an omitted field would be reset", () => {
    const current: GetScheduleCommandOutput = {
      $metadata: {},
      Arn: "arn:aws:scheduler:us-west-2:1:schedule/default/backup-shop",
      CreationDate: new Date("2026-01-01T00:00:00Z"),
      LastModificationDate: new Date("2026-01-02T00:00:00Z"),
      Name: "backup-shop",
      GroupName: "default",
      ScheduleExpression: "rate(5 minutes)",
      ScheduleExpressionTimezone: "UTC",
      StartDate: new Date("2026-01-01T00:00:00Z"),
      EndDate: new Date("2027-01-01T00:00:00Z"),
      Description: "critical-tier backup of shop",
      State: "ENABLED",
      KmsKeyArn: "arn:aws:kms:us-west-2:1:key/k",
      Target: { Arn: "arn:aws:lambda:us-west-2:1:function:f", RoleArn: "arn:aws:iam::1:role/r", Input: '{"slot":"<aws.scheduler.scheduled-time>"}', RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } },
      FlexibleTimeWindow: { Mode: "OFF" },
      ActionAfterCompletion: "NONE",
    };
    const update = disabledScheduleUpdate(current);
    const readOnly = ["$metadata", "Arn", "CreationDate", "LastModificationDate"];
    for (const field of Object.keys(current).filter((key) => !readOnly.includes(key))) {
      expect({ field, sent: field in update }).toEqual({ field, sent: true });
    }
    expect(update).toEqual({ ...Object.fromEntries(Object.entries(current).filter(([key]) => !readOnly.includes(key))), State: "DISABLED" });
  });
});
