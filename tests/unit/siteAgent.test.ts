/** The Docker site agent's core (lambdas/site/agent.ts) with in-memory dependencies and a set clock: promotion, fencing, scheduling. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseState, decide, FENCE_MARKER_FORMAT, FenceMarker, Lookup, WRITER_CLAIM_FORMAT, WriterClaim } from "../../lambdas/core/fencing";
import { FencingState } from "../../lambdas/core/fencingState";
import {
  AgentDeps,
  AgentJob,
  AgentStatus,
  dockerFenceTarget,
  dueSlot,
  health,
  initialState,
  liftPlan,
  parseAgentConfig,
  peerDatabaseFromClaim,
  promotionPlan,
  SiteDatabaseState,
  STATUS_FORMAT,
  ReceiverHistory,
  SwitchoverEvidence,
  tick,
} from "../../lambdas/site/agent";
import { FENCED_WAL_FORMAT, FencedWal, parseFencedWal } from "../../lambdas/site/claims";
import { parseSchedule } from "../../lambdas/site/schedule";

function claim(site: "primary" | "secondary", activeSite: "primary" | "secondary", databaseMode: WriterClaim["databaseMode"], epoch: number): WriterClaim {
  return { format: WRITER_CLAIM_FORMAT, site, activeSite, role: site === activeSite ? "active" : "standby", databaseMode, databaseIdentifier: `drstack-${site}-db-g1`, epoch };
}

/** The cluster both sites' servers are copies of. */
const SYSTEM_ID = "7300000000000000001";
const found = <T>(value: T): Lookup<T> => ({ ok: true, value });
const nothing = { ok: true } as const;
const unreachable = { ok: false, problem: "Cannot reach the S3 endpoint" } as const;
const replica: DatabaseState = { identifier: "drstack-primary-db-g1", status: "available", replicaOf: "db.secondary.example.ch", readReplicas: [] };
const writer: DatabaseState = { identifier: "drstack-primary-db-g1", status: "available", readReplicas: [] };

function job(key: string, schedule: string, kind: AgentJob["kind"] = "backup"): AgentJob {
  const parsed = parseSchedule(schedule);
  if (!parsed.ok) throw new Error(parsed.problem);
  return { key, kind, schedule: parsed.schedule, database: "shop", tier: "critical", dataClass: "db" };
}

/** An agent whose world is a few variables: the claims, the marker, the database, and the jobs it ran. */
function world(opts: { own: FencingState; peer: FencingState; database: SiteDatabaseState; jobs?: AgentJob[]; now?: Date; failJob?: boolean; peerFencedWal?: Lookup<FencedWal> }) {
  const w = {
    now: opts.now ?? new Date("2026-12-04T10:07:00Z"),
    own: opts.own,
    peer: opts.peer,
    database: opts.database,
    markers: [] as FenceMarker[],
    promotions: 0,
    fences: 0,
    unfences: 0,
    /** Sessions of the application the next fence ends. */
    sessions: 0,
    /** The server's pg_current_wal_lsn(). */
    wal: "0/3000148",
    /** This standby's replay towards a position: bytes behind. */
    behind: 0 as number | null,
    replayAsked: [] as string[],
    /** The server's system identifier and (received) timeline. */
    identity: { systemIdentifier: SYSTEM_ID, timeline: 1 as number | null },
    ownFencedWal: undefined as FencedWal | undefined,
    fencedWalWrites: [] as FencedWal[],
    peerFencedWal: opts.peerFencedWal ?? ({ ok: true } as Lookup<FencedWal>),
    ran: [] as { key: string; slot: string; epoch: number }[],
    statuses: [] as AgentStatus[],
  };
  const deps: AgentDeps = {
    config: { site: "primary", peerSite: "secondary", intervalSeconds: 30, timeZone: "Europe/Zurich", backupsScheduled: true, jobs: opts.jobs ?? [job("backup:db/shop", "rate(15 minutes)"), job("verify", "rate(1 hour)", "verify")] },
    now: () => w.now,
    readOwn: async () => w.own,
    readPeer: async () => w.peer,
    writeMarker: async (marker) => {
      w.markers.push(marker);
      w.own = { ...w.own, marker: found(marker) };
    },
    database: {
      inspect: async () => found(w.database),
      promote: async () => {
        w.promotions++;
        const promoted = { ...w.database };
        delete promoted.replicaOf;
        w.database = promoted;
        return true;
      },
      fence: async () => {
        w.fences++;
        const alreadyFenced = w.database.fenced === true;
        w.database = { ...w.database, fenced: true };
        const terminated = w.sessions;
        w.sessions = 0;
        return { alreadyFenced, terminated, walPosition: w.wal };
      },
      unfence: async () => {
        w.unfences++;
        const was = w.database.fenced === true;
        w.database = { ...w.database, fenced: false };
        return { readWriteRestored: was, loginRestored: false };
      },
      replayProgress: async (walPosition) => {
        w.replayAsked.push(walPosition);
        return { replayLsn: "0/3000000", behindBytes: w.behind };
      },
      identity: async () => w.identity,
    },
    readOwnFencedWal: async () => ({ ok: true, value: w.ownFencedWal }),
    readPeerFencedWal: async () => w.peerFencedWal,
    writeFencedWal: async (record) => {
      w.fencedWalWrites.push(record);
      w.ownFencedWal = record;
    },
    runJob: async (j, slot, epoch) => {
      w.ran.push({ key: j.key, slot: slot.toISOString(), epoch });
      if (opts.failJob) throw new Error("pg_dump: connection refused");
      return "created";
    },
    writeStatus: async (status) => {
      w.statuses.push(status);
    },
    log: () => undefined,
  };
  return { w, deps };
}

describe("promotion", () => {
  const own = { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing };
  const now = new Date("2026-12-04T10:07:00Z");
  /** The receiver has been down for this many seconds (guard interval 30 s), or streams. */
  const down = (seconds: number): ReceiverHistory => ({ now, intervalSeconds: 30, notStreamingSince: new Date(now.getTime() - seconds * 1000) });
  const streams: ReceiverHistory = { now, intervalSeconds: 30 };
  const streamingReplica: SiteDatabaseState = { ...replica, walReceiver: { status: "streaming", lastMsgReceiptTime: "2026-12-04T10:06:59.000Z" } };
  const waitingReplica: SiteDatabaseState = { ...replica, walReceiver: { status: "waiting", lastMsgReceiptTime: null } };
  const lossPeers = [
    ["the peer is unreachable", { claim: unreachable, marker: unreachable }],
    ["the peer has no claim", { claim: nothing, marker: nothing }],
    ["the peer's claim says replica", { claim: found(claim("secondary", "primary", "replica", 3)), marker: nothing }],
    ["the peer claims the writer at a lower epoch", { claim: found(claim("secondary", "secondary", "writer", 3)), marker: nothing }],
  ] as const;
  test.each(lossPeers)("when %s, a standby whose receiver has been down for two guard intervals promotes", (_what, peer) => {
    const plan = promotionPlan(own, peer, found(waitingReplica), down(60));
    expect(plan.promote).toBe(true);
    expect(plan.reason).toMatch(/WAL receiver \(waiting\) has not been streaming since 2026-12-04T10:06:00\.000Z \(60s\)/);
    // A standby without a receiver row counts as not streaming.
    expect(promotionPlan(own, peer, found(replica), down(61)).promote).toBe(true);
  });
  test.each(lossPeers)("when %s, a receiver down for less than two guard intervals (a blip) waits", (_what, peer) => {
    for (const history of [down(59), down(0), { now, intervalSeconds: 30 }]) {
      const plan = promotionPlan(own, peer, found(waitingReplica), history);
      expect(plan.promote).toBe(false);
      expect(plan.reason).toMatch(/promotion waits until it has been for 2 guard intervals \(60s\), so a blip does not promote/);
    }
  });
  test.each(lossPeers)("when %s, a streaming receiver (its upstream is alive) waits however long", (_what, peer) => {
    const plan = promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: nothing });
    expect(plan.promote).toBe(false);
    expect(plan.reason).toMatch(/but this standby's WAL receiver is streaming: its upstream is alive and may take writes; promotion waits until/);
  });
  test("an unreadable peer beside a streaming receiver: the reason says the claim must be read", () => {
    expect(promotionPlan(own, { claim: unreachable, marker: unreachable }, found(streamingReplica), streams).reason).toMatch(/waits until the peer's claim can be read and its agent has fenced its database/);
  });
  describe("a streaming receiver promotes only on the peer's fence record for its current claim, replayed", () => {
    const record: FencedWal = { format: FENCED_WAL_FORMAT, site: "secondary", epoch: 3, walPosition: "0/5000060", fencedAt: "2026-12-04T10:05:00Z", systemIdentifier: SYSTEM_ID, timeline: 1 };
    const caughtUp = found({ replayLsn: "0/5000060", behindBytes: 0 });
    const sameCluster = found({ systemIdentifier: SYSTEM_ID, timeline: 1 as number | null });
    test.each([
      ["the peer's claim says replica", claim("secondary", "primary", "replica", 3)],
      ["the peer claims the writer at a lower epoch", claim("secondary", "secondary", "writer", 3)],
    ] as const)("%s", (_what, peerClaim) => {
      const peer = { claim: found(peerClaim), marker: nothing };
      expect(promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: found(record), identity: sameCluster, replay: caughtUp })).toMatchObject({ promote: true, reason: expect.stringMatching(/the peer fenced its database at epoch 3 and this standby replayed its WAL up to 0\/5000060$/) });
      expect(promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: found(record), identity: sameCluster, replay: found({ replayLsn: "0/5000000", behindBytes: 96 }) })).toMatchObject({ promote: false, reason: expect.stringMatching(/96 bytes behind\), or this standby's WAL receiver stops streaming$/) });
      expect(promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: found({ ...record, epoch: 2 }), identity: sameCluster, replay: caughtUp })).toMatchObject({ promote: false, reason: expect.stringMatching(/fenced-wal\.json is of epoch 2/) });
      expect(promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: unreachable }).promote).toBe(false);
    });
  });
  test.each([
    ["the same epoch", 4],
    ["a higher epoch", 5],
  ] as const)("never beside a peer that claims the writer at %s, however long the receiver is down", (_what, epoch) => {
    const plan = promotionPlan(own, { claim: found(claim("secondary", "secondary", "writer", epoch)), marker: nothing }, found(waitingReplica), down(3600));
    expect(plan).toMatchObject({ promote: false, reason: expect.stringMatching(/promoting would make two writers/) });
  });

  test("a tick does not promote on a blip: it waits two guard intervals of a receiver away from streaming, then the survivor promotes", async () => {
    const { w, deps } = world({ own, peer: { claim: unreachable, marker: unreachable }, database: waitingReplica });
    const state = initialState();
    const first = await tick(deps, state);
    expect(w.promotions).toBe(0);
    expect(first.status.reasons.join("\n")).toMatch(/no promotion: .*peer is unreachable.*away from streaming for 0s only/);
    w.now = new Date(w.now.getTime() + 30_000);
    await tick(deps, state);
    expect(w.promotions).toBe(0);
    // The receiver streams again: the count starts over.
    w.database = streamingReplica;
    w.now = new Date(w.now.getTime() + 30_000);
    const streamingTick = await tick(deps, state);
    expect(w.promotions).toBe(0);
    expect(streamingTick.status.reasons.join("\n")).toMatch(/WAL receiver is streaming/);
    w.database = waitingReplica;
    for (const seconds of [30, 30, 30]) {
      w.now = new Date(w.now.getTime() + seconds * 1000);
      await tick(deps, state);
    }
    expect(w.promotions).toBe(1);
  });

  describe("a planned switch-over: the reachable peer's claim says its database is fenced", () => {
    const peer = { claim: found(claim("secondary", "primary", "fenced", 3)), marker: nothing };
    const record: FencedWal = { format: FENCED_WAL_FORMAT, site: "secondary", epoch: 3, walPosition: "0/5000060", fencedAt: "2026-12-04T10:05:00Z", systemIdentifier: SYSTEM_ID, timeline: 1 };
    const caughtUp = { ok: true as const, value: { replayLsn: "0/5000060", behindBytes: 0 } };
    const sameCluster = found({ systemIdentifier: SYSTEM_ID, timeline: 1 as number | null });
    test.each([
      ["no evidence was gathered", undefined, /waits until the peer's fenced-wal\.json is read/],
      ["the record cannot be read", { fencedWal: unreachable }, /can be read \(Cannot reach the S3 endpoint\)/],
      ["the peer's agent has not fenced yet (no record)", { fencedWal: nothing }, /the peer's agent has fenced its database and written fenced-wal\.json/],
      ["the record is another site's", { fencedWal: found({ ...record, site: "primary" }), identity: sameCluster, replay: caughtUp }, /names site primary, not secondary/],
      ["the record is of an earlier claim", { fencedWal: found({ ...record, epoch: 2 }), identity: sameCluster, replay: caughtUp }, /under its claim's epoch 3 \(fenced-wal\.json is of epoch 2\)/],
      ["the replay was not compared", { fencedWal: found(record), identity: sameCluster }, /replay is compared with 0\/5000060/],
      ["the record is an older agent's, without the server's identity", { fencedWal: found({ ...record, systemIdentifier: undefined, timeline: undefined }), identity: sameCluster, replay: caughtUp }, /names its server's system identifier and timeline/],
      ["this standby's identity was not read", { fencedWal: found(record), replay: caughtUp }, /upstream is compared with the fenced server \(system identifier 7300000000000000001, timeline 1\)/],
      ["this standby's identity cannot be read", { fencedWal: found(record), identity: { ok: false as const, problem: "Cannot reach PostgreSQL" }, replay: caughtUp }, /upstream can be compared with the fenced server \(Cannot reach PostgreSQL\)/],
      ["this standby is a copy of another cluster", { fencedWal: found(record), identity: found({ systemIdentifier: "7300000000000000999", timeline: 1 }), replay: caughtUp }, /its system identifier is 7300000000000000999, the fenced server's 7300000000000000001/],
      ["this standby receives another timeline", { fencedWal: found(record), identity: found({ systemIdentifier: SYSTEM_ID, timeline: 2 }), replay: caughtUp }, /receives the fenced server's timeline 1 \(it receives 2\)/],
      ["this standby's receiver is not running", { fencedWal: found(record), identity: found({ systemIdentifier: SYSTEM_ID, timeline: null }), replay: caughtUp }, /it receives nothing: its WAL receiver is not running/],
      ["the replay cannot be compared", { fencedWal: found(record), identity: sameCluster, replay: { ok: false as const, problem: "Cannot reach PostgreSQL" } }, /can be compared with 0\/5000060 \(Cannot reach PostgreSQL\)/],
      ["the standby is behind", { fencedWal: found(record), identity: sameCluster, replay: found({ replayLsn: "0/5000000", behindBytes: 96 }) }, /replayed the fenced writer's WAL up to 0\/5000060 \(replayed 0\/5000000, 96 bytes behind\)/],
      ["the standby replayed nothing", { fencedWal: found(record), identity: sameCluster, replay: found({ replayLsn: null, behindBytes: null }) }, /replayed nothing/],
    ] as [string, SwitchoverEvidence | undefined, RegExp][])("waits when %s", (_what, evidence, reason) => {
      const plan = promotionPlan(own, peer, found(replica), down(600), evidence);
      expect(plan.promote).toBe(false);
      expect(plan.reason).toMatch(/^planned switch-over: the peer's claim \(epoch 3\) says its database is fenced; promotion waits until /);
      expect(plan.reason).toMatch(reason);
    });

    test("promotes once the record is the peer's claim's and this standby replayed up to it (or past it)", () => {
      expect(promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: found(record), identity: sameCluster, replay: caughtUp })).toEqual({
        promote: true,
        reason: "the claim says writer at epoch 4, the peer fenced its database at epoch 3 and this standby replayed its WAL up to 0/5000060 (planned switch-over)",
      });
      expect(promotionPlan(own, peer, found(streamingReplica), streams, { fencedWal: found(record), identity: sameCluster, replay: found({ replayLsn: "0/6000000", behindBytes: -16777120 }) }).promote).toBe(true);
    });

    test("an unreachable peer is still a failover: the survivor whose receiver is down promotes without any record", () => {
      expect(promotionPlan(own, { claim: unreachable, marker: unreachable }, found(waitingReplica), down(60), { fencedWal: unreachable }).promote).toBe(true);
    });

    test("a tick waits while the standby is behind the fenced writer's position, promotes once it caught up, and lifts a fence the copy carried", async () => {
      const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer, database: { ...replica, fenced: true }, peerFencedWal: nothing });
      const state = initialState();
      const first = await tick(deps, state);
      expect(w.promotions).toBe(0);
      expect(first.status.reasons.join("\n")).toMatch(/no promotion: planned switch-over: .*written fenced-wal\.json/);
      expect(w.replayAsked).toEqual([]);

      w.peerFencedWal = found(record);
      w.behind = 96;
      const second = await tick(deps, state);
      expect(w.promotions).toBe(0);
      expect(w.replayAsked).toEqual(["0/5000060"]);
      expect(second.status.reasons.join("\n")).toMatch(/96 bytes behind/);
      expect(second.status.backupsMayRun).toBe(false);

      w.behind = 0;
      const third = await tick(deps, state);
      expect(w.promotions).toBe(1);
      expect(w.unfences).toBe(1);
      expect(third.status.actions).toEqual([
        expect.stringMatching(/^promoted the database drstack-primary-db-g1 \(.*planned switch-over\)/),
        "lifted the fence on the database drstack-primary-db-g1 (it was just promoted): transactions are read-write again",
      ]);
      expect(third.status).toMatchObject({ verdict: "writer", database: { fenced: false } });
    });
  });

  test("never of a fenced site, a standby, a database that already writes, or one that cannot be inspected", () => {
    const peer = { claim: unreachable, marker: unreachable };
    const marker: FenceMarker = { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 4, peerSite: "secondary", peerEpoch: 5, fencedAt: "2026-12-04T00:00:00Z", reason: "x" };
    expect(promotionPlan({ ...own, marker: found(marker) }, peer, found(replica), down(600))).toMatchObject({ promote: false, reason: expect.stringContaining("fenced") });
    expect(promotionPlan({ ...own, marker: unreachable }, peer, found(replica), down(600)).promote).toBe(false);
    expect(promotionPlan({ claim: found(claim("primary", "secondary", "replica", 4)), marker: nothing }, peer, found(replica), down(600)).promote).toBe(false);
    expect(promotionPlan(own, peer, found(writer), down(600))).toMatchObject({ promote: false, reason: "the database already takes writes" });
    expect(promotionPlan(own, peer, { ok: false, problem: "Cannot reach PostgreSQL" }, down(600)).promote).toBe(false);
  });

  test("a tick promotes the survivor whose receiver is down, decides on the promoted database and runs the due backup under the claim's epoch", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: unreachable, marker: unreachable }, database: replica });
    // The receiver has been down for two intervals already (the survivor of a lost primary).
    const result = await tick(deps, { ...initialState(), walReceiverNotStreamingSince: new Date("2026-12-04T10:06:00Z") });
    expect(w.promotions).toBe(1);
    expect(result.status).toMatchObject({ verdict: "writer", backupsMayRun: true, peerUnreachable: true, database: { identifier: "drstack-primary-db-g1" } });
    expect(result.status.database!.replicaOf).toBeUndefined();
    expect(result.status.actions).toEqual([expect.stringMatching(/^promoted the database drstack-primary-db-g1 \(the claim says writer at epoch 4 and the peer is unreachable/)]);
    await result.job;
    expect(w.ran).toEqual([{ key: "backup:db/shop", slot: "2026-12-04T10:00:00.000Z", epoch: 4 }]);
  });

  test("a failed promotion is an action failure, and the writer claim on a database that still follows runs no backup", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: nothing, marker: nothing }, database: replica });
    deps.database.promote = async () => {
      throw new Error("The database did not finish promoting within 60 s");
    };
    const result = await tick(deps, { ...initialState(), walReceiverNotStreamingSince: new Date("2026-12-04T10:06:00Z") });
    expect(result.status.actionFailures).toEqual(["promote the database drstack-primary-db-g1: The database did not finish promoting within 60 s"]);
    expect(result.status).toMatchObject({ verdict: "unknown", backupsMayRun: false });
    expect(result.job).toBeUndefined();
    expect(w.ran).toEqual([]);
  });

  test("a tick does not promote beside a peer that claims the writer at the same epoch, and backs up nothing", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 4)), marker: nothing }, database: replica });
    const result = await tick(deps, initialState());
    expect(w.promotions).toBe(0);
    expect(result.status.backupsMayRun).toBe(false);
    expect(result.job).toBeUndefined();
    expect(result.status.reasons.join("\n")).toMatch(/no promotion: the peer claims the writer at epoch 4, not below this site's 4/);
  });
});

describe("fenced-wal.json", () => {
  const record = { format: FENCED_WAL_FORMAT, site: "secondary", epoch: 3, walPosition: "0/5000060", fencedAt: "2026-12-04T10:05:00Z", systemIdentifier: SYSTEM_ID, timeline: 1 };
  test("parses the record the fencing agent writes", () => {
    expect(parseFencedWal(JSON.stringify(record))).toEqual(record);
    const identified = { ...record, systemIdentifier: SYSTEM_ID, timeline: 3 };
    expect(parseFencedWal(JSON.stringify(identified))).toEqual(identified);
  });
  test.each([
    ["not JSON", "{", /not JSON/],
    ["a list", "[]", /not a JSON object/],
    ["another format", JSON.stringify({ ...record, format: "drstack.fence-marker/v1" }), /malformed fenced WAL record \(format "drstack\.fence-marker\/v1"/],
    ["a fractional epoch", JSON.stringify({ ...record, epoch: 3.5 }), /epoch 3\.5/],
    ["a WAL position that is not one", JSON.stringify({ ...record, walPosition: "0/5000060; DROP" }), /walPosition "0\/5000060; DROP"/],
    ["no site", JSON.stringify({ ...record, site: undefined }), /malformed fenced WAL record/],
    ["a system identifier that is not one", JSON.stringify({ ...record, systemIdentifier: 7300000000000000001 }), /systemIdentifier 7300000000000000000: not a system identifier/],
    ["a timeline that is not one", JSON.stringify({ ...record, timeline: 0 }), /timeline 0: not a timeline/],
  ])("refuses %s", (_what, text, message) => {
    expect(() => parseFencedWal(text)).toThrow(message);
  });
});

describe("the peer's database, which this site cannot inspect", () => {
  test("is what its claim says: a newer writer claim fences this site, a replica claim raises no partial-failover alarm", () => {
    const own = { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing, database: found(writer) };
    const newer = found(claim("secondary", "secondary", "writer", 5));
    const fenced = decide({ own, peer: { claim: newer, marker: nothing, database: peerDatabaseFromClaim(newer) } }, new Date());
    expect(fenced).toMatchObject({ verdict: "fenced", backupsMayRun: false, writeMarker: { peerEpoch: 5, fencedEpoch: 4 }, stopDatabase: "drstack-primary-db-g1" });

    const follower = found(claim("secondary", "primary", "replica", 4));
    const normal = decide({ own, peer: { claim: follower, marker: nothing, database: peerDatabaseFromClaim(follower) } }, new Date());
    expect(normal).toMatchObject({ verdict: "writer", backupsMayRun: true, inconsistent: false });
  });

  test("is unknown when the peer's claim is, so an unreachable peer never fences", () => {
    expect(peerDatabaseFromClaim(unreachable).ok).toBe(false);
    expect(peerDatabaseFromClaim(nothing)).toEqual({ ok: true });
  });
});

describe("fencing in a tick", () => {
  test("the marker is written before the database is fenced, once; the fence repeats while the site stays fenced, recorded only when it changed something", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 5)), marker: nothing }, database: writer });
    const state = initialState();
    const first = await tick(deps, state);
    expect(first.status.actions).toEqual([
      expect.stringMatching(/^wrote fence-marker\.json/),
      "fenced the database drstack-primary-db-g1: every transaction is read-only (WAL position 0/3000148)",
      "wrote fenced-wal.json (epoch 4, WAL position 0/3000148)",
    ]);
    expect(w.markers).toHaveLength(1);
    // The status shows the database as the fence left it.
    expect(first.status.database).toMatchObject({ fenced: true });
    expect(w.fencedWalWrites).toEqual([{ format: FENCED_WAL_FORMAT, site: "primary", epoch: 4, walPosition: "0/3000148", fencedAt: "2026-12-04T10:07:00.000Z", systemIdentifier: SYSTEM_ID, timeline: 1 }]);
    const second = await tick(deps, state);
    expect(second.status).toMatchObject({ verdict: "fenced", actions: [], actionFailures: [] });
    expect(w.markers).toHaveLength(1);
    expect(w.fences).toBe(2);
    expect(w.fencedWalWrites).toHaveLength(1);
    expect(w.ran).toEqual([]);

    // Sessions that slipped in may have written: the record moves to the position after they ended.
    w.sessions = 2;
    w.wal = "0/3000200";
    const third = await tick(deps, state);
    expect(third.status.actions).toEqual(["ended 2 client session(s) on the fenced database drstack-primary-db-g1", "wrote fenced-wal.json (epoch 4, WAL position 0/3000200)"]);
    // An older agent's record of this epoch, without the server's identity, is replaced.
    w.ownFencedWal = { format: FENCED_WAL_FORMAT, site: "primary", epoch: 4, walPosition: "0/3000200", fencedAt: "2026-12-04T10:00:00Z" };
    await tick(deps, state);
    expect(w.fencedWalWrites.at(-1)).toMatchObject({ epoch: 4, systemIdentifier: SYSTEM_ID, timeline: 1 });
    w.fencedWalWrites.pop();
    // A record of another epoch (an earlier fence) is replaced.
    w.ownFencedWal = { ...w.ownFencedWal!, epoch: 2 };
    await tick(deps, state);
    expect(w.fencedWalWrites.map((r) => [r.epoch, r.walPosition])).toEqual([[4, "0/3000148"], [4, "0/3000200"], [4, "0/3000200"]]);
  });

  test("a site whose verdict is writer lifts a fence its database carries, once", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 6)), marker: nothing }, peer: { claim: found(claim("secondary", "primary", "replica", 6)), marker: nothing }, database: { ...writer, fenced: true } });
    const state = initialState();
    const first = await tick(deps, state);
    expect(first.status).toMatchObject({ verdict: "writer", actions: ["lifted the fence on the database drstack-primary-db-g1 (this site is the writer): transactions are read-write again"], database: { fenced: false } });
    await tick(deps, state);
    expect(w.unfences).toBe(1);
    expect(w.fences).toBe(0);
  });

  describe("the fence is lifted only under a newer claim of this site's own, read beside a readable peer", () => {
    const own = { claim: found(claim("primary", "primary", "writer", 5)), marker: nothing };
    const peer = { claim: found(claim("secondary", "primary", "replica", 5)), marker: nothing };
    const fencedAt = (epoch: number): Lookup<FencedWal> => found({ format: FENCED_WAL_FORMAT, site: "primary", epoch, walPosition: "0/3000148", fencedAt: "2026-12-04T10:00:00Z" });
    const holding: FenceMarker = { format: FENCE_MARKER_FORMAT, site: "primary", fencedEpoch: 5, peerSite: "secondary", peerEpoch: 6, fencedAt: "2026-12-04T00:00:00Z", reason: "x" };
    test.each([
      ["no fence record, a readable peer", own, peer, nothing, true, true],
      ["a fence record of an older epoch", own, peer, fencedAt(4), true, true],
      ["a fence record of the claim's own epoch", own, peer, fencedAt(5), true, false],
      ["a fence record of a newer epoch", own, peer, fencedAt(6), true, false],
      ["an unreadable fence record", own, peer, unreachable, true, false],
      ["an unreadable peer (decide() says writer beside it)", own, { claim: unreachable, marker: unreachable }, nothing, true, false],
      ["an unreadable peer, just after a promotion", own, { claim: unreachable, marker: unreachable }, fencedAt(4), false, true],
      ["a holding fence marker, even after a promotion", { ...own, marker: found(holding) }, peer, nothing, false, false],
      ["an unreadable fence marker", { ...own, marker: unreachable }, peer, nothing, true, false],
    ] as [string, FencingState, FencingState, Lookup<FencedWal>, boolean, boolean][])("%s", (_what, ownState, peerState, record, requirePeer, lift) => {
      expect(liftPlan(ownState, peerState, record, { requirePeer }).lift).toBe(lift);
    });

    test("a site fenced at epoch 4 whose marker write failed stays fenced while the peer is unreadable, and once the peer's claim no longer supersedes it; a newer claim of its own lifts it", async () => {
      const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 5)), marker: nothing }, database: writer });
      deps.writeMarker = async () => {
        throw new Error("Cannot reach the S3 endpoint");
      };
      const state = initialState();
      const first = await tick(deps, state);
      expect(w.fences).toBe(1);
      expect(first.status.actionFailures).toEqual([expect.stringMatching(/^wrote fence-marker\.json .*Cannot reach the S3 endpoint/)]);
      expect(w.ownFencedWal?.epoch).toBe(4);
      // The marker is retried at the next tick; the peer's MinIO blips: decide() says writer, the fence stays.
      w.peer = { claim: unreachable, marker: unreachable };
      const second = await tick(deps, state);
      expect(second.status.verdict).toBe("writer");
      expect(w.unfences).toBe(0);
      expect(w.database.fenced).toBe(true);
      expect(second.status.reasons.join("\n")).toMatch(/fence kept \(this site is the writer\): the peer's claim could not be read/);
      // The peer reads again with a replica claim at the same epoch: still this site's fence epoch, still fenced.
      w.peer = { claim: found(claim("secondary", "primary", "replica", 4)), marker: nothing };
      const third = await tick(deps, state);
      expect(w.unfences).toBe(0);
      expect(third.status.reasons.join("\n")).toMatch(/fenced its database at epoch 4 \(fenced-wal\.json\) and its claim's epoch 4 is not newer/);
      // A failback: the stack gives this site a newer claim.
      w.own = { claim: found(claim("primary", "primary", "writer", 6)), marker: nothing };
      w.peer = { claim: found(claim("secondary", "primary", "replica", 6)), marker: nothing };
      const fourth = await tick(deps, state);
      expect(w.unfences).toBe(1);
      expect(fourth.status).toMatchObject({ verdict: "writer", database: { fenced: false } });
    });
  });

  test("a failed unfence is an action failure, and --health reports it", async () => {
    const { deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 6)), marker: nothing }, peer: { claim: nothing, marker: nothing }, database: { ...writer, fenced: true } });
    deps.database.unfence = async () => {
      throw new Error("permission denied");
    };
    const result = await tick(deps, initialState());
    expect(result.status.actionFailures).toEqual(["lift the fence on the database drstack-primary-db-g1: permission denied"]);
  });

  test("the status says since when a standby's WAL receiver has not been streaming, and forgets it once it streams", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "secondary", "replica", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 4)), marker: nothing }, database: { ...replica, walReceiver: { status: "waiting", lastMsgReceiptTime: null } } });
    const state = initialState();
    const first = await tick(deps, state);
    expect(first.status.walReceiverNotStreamingSince).toBe("2026-12-04T10:07:00.000Z");
    w.now = new Date("2026-12-04T10:07:30Z");
    expect((await tick(deps, state)).status.walReceiverNotStreamingSince).toBe("2026-12-04T10:07:00.000Z");
    // Kept across a restart of the agent (the status file).
    expect(initialState(first.status).walReceiverNotStreamingSince?.toISOString()).toBe("2026-12-04T10:07:00.000Z");
    w.database = { ...replica, walReceiver: { status: "streaming", lastMsgReceiptTime: "2026-12-04T10:07:29.000Z" } };
    expect((await tick(deps, state)).status.walReceiverNotStreamingSince).toBeUndefined();
  });

  test("a former writer is fenced at once though a standby still streams from it: a Docker fence ends logins, not the server (failback's switch-over, README)", async () => {
    const streaming: DatabaseState = { ...writer, readReplicas: ["primary_g2"] };
    const { w, deps } = world({
      own: { claim: found(claim("primary", "secondary", "fenced", 5)), marker: nothing },
      peer: { claim: found(claim("secondary", "primary", "replica", 6)), marker: nothing },
      database: streaming,
    });
    const result = await tick(deps, initialState());
    expect(w.fences).toBe(1);
    expect(w.database.fenced).toBe(true);
    expect(result.status.reasons.join(" ")).not.toContain("fence deferred");
    expect(result.status.actions).toEqual([expect.stringMatching(/^fenced the database drstack-primary-db-g1/), "wrote fenced-wal.json (epoch 5, WAL position 0/3000148)"]);
    expect(dockerFenceTarget({ stopDeferred: "could not describe it" }, unreachable)).toBeUndefined();
  });

  test("a fenced database whose fence an application's database setting overrode is fenced again: the settings are reset, the action says which, fenced-wal.json is rewritten", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 5)), marker: nothing }, database: writer });
    const state = initialState();
    await tick(deps, state);
    const override = 'ALTER DATABASE "shop" SET default_transaction_read_only = off';
    w.database = { ...w.database, fenced: false, readOnlyOverrides: [override] };
    deps.database.fence = async () => {
      w.database = { ...w.database, fenced: true };
      delete w.database.readOnlyOverrides;
      return { alreadyFenced: false, terminated: 1, overridesRemoved: [override], walPosition: "0/3000300" };
    };
    const result = await tick(deps, state);
    expect(result.status.actions).toEqual([
      `fenced the database drstack-primary-db-g1: every transaction is read-only; reset the settings that overrode it: ${override}; ended 1 of the application's sessions (WAL position 0/3000300)`,
      "wrote fenced-wal.json (epoch 4, WAL position 0/3000300)",
    ]);
    expect(result.status.database).toMatchObject({ fenced: true });
    expect(result.status.database?.readOnlyOverrides).toBeUndefined();
  });

  test("a failed fence is recorded as an action failure", async () => {
    const { deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 5)), marker: nothing }, database: writer });
    deps.database.fence = async () => {
      throw new Error("Cannot reach PostgreSQL at db:5432");
    };
    const result = await tick(deps, initialState());
    expect(result.status.actionFailures).toEqual([expect.stringMatching(/^fence the database drstack-primary-db-g1: Cannot reach PostgreSQL/)]);
  });
});

describe("scheduling", () => {
  const rate = job("backup:db/shop", "rate(15 minutes)");

  test("missed fire times while the agent was down run once, at the latest one", () => {
    const last = { slot: "2026-12-04T06:00:00.000Z", startedAt: "2026-12-04T06:00:01.000Z", outcome: "succeeded" as const };
    expect(dueSlot(rate, "UTC", new Date("2026-12-04T10:07:00Z"), last)?.toISOString()).toBe("2026-12-04T10:00:00.000Z");
    expect(dueSlot(rate, "UTC", new Date("2026-12-04T10:07:00Z"), { ...last, slot: "2026-12-04T10:00:00.000Z" })).toBeUndefined();
    expect(dueSlot(rate, "UTC", new Date("2026-12-04T10:07:00Z"), undefined)?.toISOString()).toBe("2026-12-04T10:00:00.000Z");
  });

  test("one job at a time: a tick while a job runs starts none; the next due job follows once it ended", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "primary", "replica", 4)), marker: nothing }, database: writer });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runJob = deps.runJob;
    deps.runJob = async (j, slot, epoch) => {
      if (j.key === "backup:db/shop") await gate;
      return runJob(j, slot, epoch);
    };
    const state = initialState();
    const first = await tick(deps, state);
    expect(first.status.running).toBe("backup:db/shop");
    const during = await tick(deps, state);
    expect(during.job).toBeUndefined();
    expect(during.status.running).toBe("backup:db/shop");
    release();
    await first.job;
    expect(w.statuses[w.statuses.length - 1].running).toBeUndefined();
    const after = await tick(deps, state);
    expect(after.status.running).toBe("verify");
    await after.job;
    expect(w.ran.map((r) => r.key)).toEqual(["backup:db/shop", "verify"]);
  });

  test("a failing job is recorded and does not stop the next ticks; its slot is not retried before the next fire time", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "primary", "replica", 4)), marker: nothing }, database: writer, jobs: [rate], failJob: true });
    const state = initialState();
    await (await tick(deps, state)).job;
    expect(state.jobs["backup:db/shop"]).toMatchObject({ outcome: "failed", detail: "pg_dump: connection refused", slot: "2026-12-04T10:00:00.000Z" });
    expect((await tick(deps, state)).job).toBeUndefined();
    w.now = new Date("2026-12-04T10:15:30Z");
    await (await tick(deps, state)).job;
    expect(w.ran.map((r) => r.slot)).toEqual(["2026-12-04T10:00:00.000Z", "2026-12-04T10:15:00.000Z"]);
  });

  test("a drill catches up only on a fire time an agent was watching for: a new agent waits for the next one", async () => {
    const drill = { ...job("drill:db/shop", "cron(0 4 1 * ? *)", "drill"), tier: undefined };
    const started = new Date("2026-12-04T10:00:00Z");
    // The monthly drill fired on 1 December, before this agent (and its status file) existed.
    expect(dueSlot(drill, "Europe/Zurich", new Date("2026-12-04T10:07:00Z"), undefined, started)).toBeUndefined();
    expect(dueSlot(drill, "Europe/Zurich", new Date("2027-01-01T03:00:30Z"), undefined, started)?.toISOString()).toBe("2027-01-01T03:00:00.000Z");
    // An agent that was watching since November and was down on 1 December runs it once when it is back.
    const previous = { watchingSince: "2026-11-20T00:00:00.000Z", jobs: {}, history: [] } as unknown as AgentStatus;
    const state = initialState(previous, started);
    expect(state.watchingSince.toISOString()).toBe("2026-11-20T00:00:00.000Z");
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: nothing, marker: nothing }, database: writer, jobs: [drill] });
    await (await tick(deps, state)).job;
    expect(w.ran).toEqual([{ key: "drill:db/shop", slot: "2026-12-01T03:00:00.000Z", epoch: 4 }]);
    const fresh = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: nothing, marker: nothing }, database: writer, jobs: [drill] });
    expect((await tick(fresh.deps, initialState(undefined, started))).job).toBeUndefined();
  });

  test("a job the previous agent left running counts as failed for its slot, not as due again", () => {
    const previous = { jobs: { "backup:db/shop": { schedule: "rate(15 minutes)", last: { slot: "2026-12-04T10:00:00.000Z", startedAt: "2026-12-04T10:00:01.000Z", outcome: "running" as const } } }, history: [] } as unknown as AgentStatus;
    const state = initialState(previous);
    expect(state.jobs["backup:db/shop"]).toMatchObject({ outcome: "failed", detail: "the agent stopped while it ran" });
    expect(dueSlot(rate, "UTC", new Date("2026-12-04T10:07:00Z"), state.jobs["backup:db/shop"])).toBeUndefined();
  });

  test("no job runs on a standby, nor on a writer whose stack does not schedule backups here", async () => {
    const standby = world({ own: { claim: found(claim("primary", "secondary", "replica", 4)), marker: nothing }, peer: { claim: found(claim("secondary", "secondary", "writer", 4)), marker: nothing }, database: replica });
    expect((await tick(standby.deps, initialState())).job).toBeUndefined();
    const unscheduled = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer: { claim: nothing, marker: nothing }, database: writer });
    unscheduled.deps.config = { ...unscheduled.deps.config, backupsScheduled: false };
    expect((await tick(unscheduled.deps, initialState())).job).toBeUndefined();
  });
});

describe("settings", () => {
  const env: NodeJS.ProcessEnv = {
    DRSTACK_SITE: "primary",
    DRSTACK_PEER_SITE: "secondary",
    DRSTACK_STORAGE_ENDPOINT: "https://storage.primary.example.ch:9000",
    DRSTACK_STORAGE_ACCESS_KEY_ID: "agent",
    DRSTACK_STORAGE_SECRET_ACCESS_KEY: "agent-secret",
    DRSTACK_FENCING_BUCKET: "shop-primary-fencing",
    DRSTACK_PEER_STORAGE_ENDPOINT: "https://storage.secondary.example.ch:9000",
    DRSTACK_PEER_STORAGE_ACCESS_KEY_ID: "reader",
    DRSTACK_PEER_STORAGE_SECRET_ACCESS_KEY: "reader-secret",
    DRSTACK_PEER_FENCING_BUCKET: "shop-secondary-fencing",
    DRSTACK_DATABASE_ADMIN_URL: "postgres://postgres:pw@db.primary.example.ch:5432/postgres?sslmode=verify-full&sslrootcert=/drstack/tls/ca.crt",
    DRSTACK_APP_ROLE: "shop",
    DRSTACK_TIME_ZONE: "Europe/Zurich",
    DRSTACK_BACKUPS_SCHEDULED: "true",
    DRSTACK_BACKUP_JOBS: JSON.stringify([{ name: "shop", tier: "critical", dataClass: "db", schedule: "rate(15 minutes)", objectLockMode: "COMPLIANCE", objectLockDays: 35 }]),
    DRSTACK_VERIFY_SCHEDULE: "rate(15 minutes)",
    DRSTACK_DRILL_JOBS: JSON.stringify([{ name: "shop", dataClass: "db", schedule: "cron(0 4 1 * ? *)" }]),
    BACKUP_BUCKET: "shop-primary-backups",
    S3_ENDPOINT: "https://storage.primary.example.ch:9000",
    S3_ACCESS_KEY_ID: "backup",
    S3_SECRET_ACCESS_KEY: "backup-secret",
    DATABASE_URL: "postgres://drstack_backup:pw@db.primary.example.ch:5432/?sslmode=verify-full&sslrootcert=/drstack/tls/ca.crt",
    BACKUP_TARGETS: "shop:critical",
  };

  test("the contract's environment parses into jobs in order: backups, verify, drills", async () => {
    const config = await parseAgentConfig(env);
    expect(config.jobs.map((j) => [j.key, j.schedule.expression])).toEqual([["backup:db/shop", "rate(15 minutes)"], ["verify", "rate(15 minutes)"], ["drill:db/shop", "cron(0 4 1 * ? *)"]]);
    expect(config).toMatchObject({ intervalSeconds: 30, backupsScheduled: true, statusFile: "/tmp/drstack-agent/status.json" });
    expect(config.jobs[0].objectLock).toEqual({ mode: "COMPLIANCE", days: 35 });
  });

  test.each([
    [{ DRSTACK_FENCING_BUCKET: undefined }, /^Missing DRSTACK_FENCING_BUCKET/],
    [{ DRSTACK_BACKUP_JOBS: "{" }, /^DRSTACK_BACKUP_JOBS is not JSON/],
    [{ DRSTACK_BACKUP_JOBS: "{}" }, /^DRSTACK_BACKUP_JOBS must be a JSON list/],
    [{ DRSTACK_BACKUP_JOBS: JSON.stringify([{ name: "shop", tier: "urgent", schedule: "rate(1 hour)" }]) }, /DRSTACK_BACKUP_JOBS\[0\] tier must be one of critical/],
    [{ DRSTACK_BACKUP_JOBS: JSON.stringify([{ name: "shop", tier: "critical", schedule: "rate(1 hour)", objectLockMode: "COMPLIANCE" }]) }, /DRSTACK_BACKUP_JOBS\[0\]: objectLockDays must be/],
    [{ DRSTACK_DRILL_JOBS: JSON.stringify([{ name: "shop", schedule: "cron(0 4 32 * ? *)" }]) }, /DRSTACK_DRILL_JOBS\[0\]: the schedule "cron\(0 4 32 \* \? \*\)" the day-of-month field "32" has 32, outside 1-31/],
    [{ DRSTACK_GUARD_INTERVAL_SECONDS: "0" }, /^DRSTACK_GUARD_INTERVAL_SECONDS must be a whole number/],
    [{ DRSTACK_BACKUPS_SCHEDULED: "yes" }, /^DRSTACK_BACKUPS_SCHEDULED must be true or false/],
    [{ DRSTACK_PEER_SITE: "primary" }, /are both "primary"/],
    [{ DATABASE_URL: "not a url" }, /^DATABASE_URL is not a URL/],
    [{ BACKUP_TARGETS: undefined }, /^Missing --targets \/ BACKUP_TARGETS/],
  ] as [Record<string, string | undefined>, RegExp][])("%j is refused: %s", async (overrides, message) => {
    const bad: NodeJS.ProcessEnv = { ...env, ...overrides };
    for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete bad[k];
    await expect(parseAgentConfig(bad)).rejects.toMatchObject({ name: "UsageError", message: expect.stringMatching(message) });
  });
});

describe("--health", () => {
  const dir = mkdtempSync(join(tmpdir(), "drstack-agent-health-"));
  const status = (checkedAt: string, extra: Partial<AgentStatus> = {}): string =>
    JSON.stringify({ format: STATUS_FORMAT, site: "primary", checkedAt, intervalSeconds: 30, verdict: "standby", backupsMayRun: false, backupsScheduled: false, peerUnreachable: false, inconsistent: false, reasons: ["this site is standby"], actions: [], actionFailures: [], history: [], jobs: {}, ...extra });
  const now = new Date("2026-12-04T10:00:00Z");

  test.each([
    ["fresh", status("2026-12-04T09:59:00Z"), true],
    ["fenced is healthy: the fencing works", status("2026-12-04T09:59:00Z", { verdict: "fenced" }), true],
    ["stale past three intervals", status("2026-12-04T09:58:30Z"), false],
    ["a failed tick", status("2026-12-04T09:59:00Z", { verdict: "error", error: "boom" }), false],
    ["a failed fence", status("2026-12-04T09:59:00Z", { actionFailures: ["fenced the database: refused"] }), false],
    ["a database that cannot be inspected", status("2026-12-04T09:59:00Z", { databaseProblem: "Cannot reach PostgreSQL" }), false],
    ["a receiver away from streaming for three intervals or less", status("2026-12-04T09:59:00Z", { walReceiverNotStreamingSince: "2026-12-04T09:58:30Z" }), true],
    ["a receiver away from streaming for more than three intervals", status("2026-12-04T09:59:00Z", { walReceiverNotStreamingSince: "2026-12-04T09:58:29Z" }), false],
    ["a slot that kept its WAL", status("2026-12-04T09:59:00Z", { database: { ...writer, slots: [{ slotName: "drstack_secondary_g2", active: false, walStatus: "unreserved" }] } }), true],
    ["a slot whose WAL is lost", status("2026-12-04T09:59:00Z", { database: { ...writer, slots: [{ slotName: "drstack_secondary_g2", active: false, walStatus: "lost" }] } }), false],
    ["a promotion withheld for ten intervals or less", status("2026-12-04T09:59:00Z", { verdict: "unknown", promotionWithheldSince: "2026-12-04T09:55:00Z", promotionWithheldReason: "planned switch-over" }), true],
    ["a promotion withheld for more than ten intervals", status("2026-12-04T09:59:00Z", { verdict: "unknown", promotionWithheldSince: "2026-12-04T09:54:59Z", promotionWithheldReason: "planned switch-over" }), false],
    ["a writer still fenced after an attempt to lift the fence", status("2026-12-04T09:59:00Z", { verdict: "writer", fenceLiftFailed: "the verdict is writer and the database x is still fenced", database: { ...writer, fenced: true } }), false],
    ["a fenced site whose fence holds", status("2026-12-04T09:59:00Z", { verdict: "fenced", database: { ...writer, fenced: true } }), true],
    ["a fenced site whose fence does not hold", status("2026-12-04T09:59:00Z", { verdict: "fenced", database: { ...writer, fenced: false } }), false],
    ["a fenced site whose fence a database setting overrides", status("2026-12-04T09:59:00Z", { verdict: "fenced", database: { ...writer, fenced: false, readOnlyOverrides: ['ALTER DATABASE "shop" SET default_transaction_read_only = off'] } }), false],
    ["a fenced former writer rebuilt as a standby", status("2026-12-04T09:59:00Z", { verdict: "fenced", database: { ...replica, fenced: false } }), true],
    ["not a status file", "{}", false],
  ])("%s", (_what, text, ok) => {
    const file = join(dir, `${Math.random()}.json`);
    writeFileSync(file, text);
    expect(health(file, now).ok).toBe(ok);
  });
});

describe("--health on what a tick recorded", () => {
  const dir = mkdtempSync(join(tmpdir(), "drstack-agent-health-tick-"));
  const healthOf = (status: AgentStatus, now: Date) => {
    const file = join(dir, `${Math.random()}.json`);
    writeFileSync(file, JSON.stringify(status));
    return health(file, now);
  };

  test("a switch-over waiting for a peer that cannot fence fails after ten guard intervals, saying what to do; the wait is kept across a restart", async () => {
    const peer = { claim: found(claim("secondary", "primary", "fenced", 3)), marker: nothing };
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 4)), marker: nothing }, peer, database: { ...replica, walReceiver: { status: "streaming", lastMsgReceiptTime: null } }, peerFencedWal: nothing });
    const state = initialState();
    const first = await tick(deps, state);
    expect(first.status).toMatchObject({ promotionWithheldSince: "2026-12-04T10:07:00.000Z", promotionWithheldReason: expect.stringMatching(/^planned switch-over/) });
    expect(healthOf(first.status, w.now).ok).toBe(true);
    w.now = new Date("2026-12-04T10:12:01Z");
    const later = await tick(deps, { ...initialState(first.status, w.now), jobs: state.jobs });
    expect(later.status.promotionWithheldSince).toBe("2026-12-04T10:07:00.000Z");
    const verdict = healthOf(later.status, w.now);
    expect(verdict.ok).toBe(false);
    expect(verdict.message).toMatch(/promotion has been withheld since 2026-12-04T10:07:00\.000Z, more than 10 guard intervals \(300s\): planned switch-over.*README, "Failback on Docker"/);
    // Once promoted, nothing is withheld.
    w.peerFencedWal = found({ format: FENCED_WAL_FORMAT, site: "secondary", epoch: 3, walPosition: "0/3000000", fencedAt: "2026-12-04T10:05:00Z", systemIdentifier: SYSTEM_ID, timeline: 1 });
    const promoted = await tick(deps, state);
    expect(w.promotions).toBe(1);
    expect(promoted.status.promotionWithheldSince).toBeUndefined();
  });

  test("a writer whose fence could not be lifted fails, and one whose lift worked does not", async () => {
    const { w, deps } = world({ own: { claim: found(claim("primary", "primary", "writer", 6)), marker: nothing }, peer: { claim: nothing, marker: nothing }, database: { ...writer, fenced: true } });
    // An unfence that reports success but leaves the database fenced (the reload did not take).
    deps.database.unfence = async () => ({ readWriteRestored: true, loginRestored: false });
    const stuck = await tick(deps, initialState());
    expect(stuck.status.fenceLiftFailed).toMatch(/still fenced after an attempt to lift the fence/);
    expect(healthOf(stuck.status, w.now)).toMatchObject({ ok: false, message: expect.stringMatching(/the application cannot write.*Failback on Docker/) });
    deps.database.unfence = async () => {
      w.database = { ...w.database, fenced: false };
      return { readWriteRestored: true, loginRestored: false };
    };
    const lifted = await tick(deps, initialState());
    expect(lifted.status.fenceLiftFailed).toBeUndefined();
    expect(healthOf(lifted.status, w.now).ok).toBe(true);
  });
});

describe("the agent's bundle", () => {
  const root = join(__dirname, "..", "..");

  test("build:lambdas writes it into the directory the backup image copies to /var/task, as site/agent.js", () => {
    const script = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["build:lambdas"];
    expect(script).toContain("esbuild lambdas/site/agent.ts --bundle --platform=node --target=node20 --external:pg-native --log-level=warning --outfile=dist/lambdas/backup/site/agent.js");
    const dockerfile = readFileSync(join(root, "lambdas", "backup-image", "Dockerfile"), "utf8");
    expect(dockerfile).toContain("COPY dist/lambdas/backup/ ${LAMBDA_TASK_ROOT}/");
    expect(readFileSync(join(root, "lambdas", "backup-image", "Dockerfile.dockerignore"), "utf8")).toMatch(/^!dist\/lambdas\/backup\/$/m);
    // The unit project's global setup ran build:lambdas.
    expect(existsSync(join(root, "dist", "lambdas", "backup", "site", "agent.js"))).toBe(true);
  });
});
