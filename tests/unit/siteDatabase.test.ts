/** The pure parts of lambdas/site/database.ts; the SQL runs against real servers in tests/integration/site-replication.test.ts. */
import { UNKNOWN_UPSTREAM, checkRoleName, checkWaitSeconds, conninfoHost, databaseState } from "../../lambdas/site/database";
import { ownDatabaseContradiction, WRITER_CLAIM_FORMAT } from "../../lambdas/core/fencing";

describe("databaseState", () => {
  test("a writer is available, a replica of nothing, with its streaming standbys as read replicas", () => {
    const state = databaseState("dc1-db-g1", {
      inRecovery: false,
      replicas: [
        { applicationName: "primary_g2", state: "streaming", replayLagBytes: 0 },
        { applicationName: "primary_g3", state: "catchup", replayLagBytes: null },
      ],
      fenced: false,
      slots: [],
    });
    expect(state).toEqual({ identifier: "dc1-db-g1", status: "available", readReplicas: ["primary_g2", "primary_g3"] });
    expect("replicaOf" in state).toBe(false);
  });

  test("a standby is a replica of its upstream, and still one when it does not know which", () => {
    expect(databaseState("dc2-db-g1", { inRecovery: true, upstreamHost: "db.dc1.shop.example.ch", replicas: [], fenced: false, slots: [] })).toEqual({
      identifier: "dc2-db-g1",
      status: "available",
      replicaOf: "db.dc1.shop.example.ch",
      readReplicas: [],
    });
    expect(databaseState("dc2-db-g1", { inRecovery: true, replicas: [], fenced: false, slots: [] }).replicaOf).toBe(UNKNOWN_UPSTREAM);
  });

  test("drives the fencing checks: a claimed writer whose database is in recovery is a contradiction", () => {
    const claim = { format: WRITER_CLAIM_FORMAT, site: "dc2", activeSite: "dc2", role: "active", databaseMode: "writer", databaseIdentifier: "dc2-db-g1", epoch: 2 } as const;
    const standby = databaseState("dc2-db-g1", { inRecovery: true, replicas: [], fenced: false, slots: [] });
    expect(ownDatabaseContradiction(claim, { ok: true, value: standby })).toMatch(/still a replica of/);
    const promoted = databaseState("dc2-db-g1", { inRecovery: false, replicas: [], fenced: false, slots: [] });
    expect(ownDatabaseContradiction(claim, { ok: true, value: promoted })).toBeUndefined();
  });
});

describe("conninfoHost", () => {
  test.each([
    ["host=db.dc1.example.ch port=5432 user=drstack_replication", "db.dc1.example.ch"],
    // As pg_basebackup -R writes it (after the file's own quoting is undone by the server).
    ["user=drstack_replication password='a b\\'c' host='db.dc1.example.ch' port=5432 sslmode='verify-full'", "db.dc1.example.ch"],
    ["hostaddr=10.0.0.5 port=5432", "10.0.0.5"],
    ["host=db.dc1.example.ch hostaddr=10.0.0.5", "db.dc1.example.ch"],
    ["user=drstack_replication", undefined],
    ["", undefined],
  ])("conninfo %p", (conninfo, host) => {
    expect(conninfoHost(conninfo)).toBe(host);
  });

  test("a quoted value that contains host= is not mistaken for it", () => {
    expect(conninfoHost("password='x host=evil' host=db.dc1.example.ch")).toBe("db.dc1.example.ch");
  });
});

describe("argument checks", () => {
  test.each([0, -1, 1.5, 3601, Number.NaN])("promoteDatabase refuses waitSeconds %p", (n) => {
    expect(() => checkWaitSeconds(n)).toThrow(/waitSeconds is .*; give a whole number of seconds from 1 to 3600/);
  });

  test("promoteDatabase accepts whole seconds in range", () => {
    expect(checkWaitSeconds(1)).toBe(1);
    expect(checkWaitSeconds(3600)).toBe(3600);
  });

  test("the application role must be named, within PostgreSQL's identifier length", () => {
    expect(() => checkRoleName("")).toThrow(/set DRSTACK_APP_ROLE/);
    expect(() => checkRoleName("r".repeat(64))).toThrow(/longer than PostgreSQL's 63 bytes; check DRSTACK_APP_ROLE/);
    // Bytes, not characters: 32 two-byte letters are 64 bytes.
    expect(() => checkRoleName("é".repeat(32))).toThrow(/63 bytes/);
    expect(checkRoleName("Shop App")).toBe("Shop App");
  });
});
