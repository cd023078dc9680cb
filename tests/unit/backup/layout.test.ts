import fc from "fast-check";
import { backupKeys, isDumpKey, compactTimestamp, compareWriterOrder, latestKey, legacyLatestKey, newestByWriterOrder, parseTargets, pointerKeys, DATA_CLASS_PREFIX } from "../../../lambdas/core/layout";
import { UsageError } from "../../../lambdas/core/errors";

describe("backup key layout", () => {
  it("puts dump and manifest side by side under the class prefix, by day, named by the writing site", () => {
    const keys = backupKeys({ database: "app", dataClass: "critical" }, new Date("2026-03-04T05:06:07Z"), "abc123", "secondary");
    expect(keys).toEqual({
      dumpKey: "critical/app/2026/03/04/20260304T050607Z-secondary-abc123.dump",
      manifestKey: "critical/app/2026/03/04/20260304T050607Z-secondary-abc123.manifest.json",
    });
    expect(latestKey({ database: "app", dataClass: "db" }, "primary")).toBe("db/app/latest-primary.json");
    expect(legacyLatestKey({ database: "app", dataClass: "db" })).toBe("db/app/latest.json");
  });

  it("names a MySQL or MariaDB dump .sql.gz beside its manifest, and a PostgreSQL dump .dump as before", () => {
    const slot = new Date("2026-03-04T05:06:07Z");
    for (const engine of ["mysql", "mariadb"] as const) {
      expect(backupKeys({ database: "app", dataClass: "financial" }, slot, "abc123", "primary", engine)).toEqual({
        dumpKey: "financial/app/2026/03/04/20260304T050607Z-primary-abc123.sql.gz",
        manifestKey: "financial/app/2026/03/04/20260304T050607Z-primary-abc123.manifest.json",
      });
    }
    expect(backupKeys({ database: "app", dataClass: "db" }, slot, "abc123", "primary", "postgres")).toEqual(backupKeys({ database: "app", dataClass: "db" }, slot, "abc123", "primary"));
    expect(isDumpKey("db/app/2026/03/04/20260304T050607Z-primary-abc123.sql.gz")).toBe(true);
    expect(isDumpKey("db/app/2026/03/04/20260304T050607Z-primary-abc123.dump")).toBe(true);
    expect(isDumpKey("db/app/2026/03/04/20260304T050607Z-primary-abc123.manifest.json")).toBe(false);
    expect(isDumpKey("db/app/latest-primary.json")).toBe(false);
  });

  it("gives the two sites' backups of the same slot different keys, so replication of one never overwrites the other", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date("2000-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }), fc.stringMatching(/^[a-z0-9]{1,12}$/), (slot, runId) => {
        const target = { database: "app", dataClass: "db" as const };
        const primary = backupKeys(target, slot, runId, "primary");
        const secondary = backupKeys(target, slot, runId, "secondary");
        const keys = [primary.dumpKey, primary.manifestKey, secondary.dumpKey, secondary.manifestKey, latestKey(target, "primary"), latestKey(target, "secondary")];
        expect(new Set(keys).size).toBe(keys.length);
      }),
    );
  });

  it("readers look for every known site's pointer (the one they are told first) and the legacy one: a few GETs, no listing", () => {
    const target = { database: "app", dataClass: "critical" as const };
    expect(pointerKeys(target)).toEqual(["critical/app/latest-primary.json", "critical/app/latest-secondary.json", "critical/app/latest.json"]);
    expect(pointerKeys(target, ["onprem"])).toEqual(["critical/app/latest-onprem.json", "critical/app/latest-primary.json", "critical/app/latest-secondary.json", "critical/app/latest.json"]);
    expect(() => backupKeys(target, new Date(), "r", "Primary-1")).toThrow(UsageError);
  });

  it("uses exactly the lifecycle prefixes the bucket's rules expect", () => {
    expect(DATA_CLASS_PREFIX).toEqual({ db: "db/", critical: "critical/", archive: "archive/", financial: "financial/" });
  });

  it("orders keys of one database by time, so a listing by day is chronological", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date("2000-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }), fc.date({ min: new Date("2000-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }), (a, b) => {
        const ka = backupKeys({ database: "db", dataClass: "db" }, a, "r", "primary").dumpKey;
        const kb = backupKeys({ database: "db", dataClass: "db" }, b, "r", "primary").dumpKey;
        const sa = compactTimestamp(a);
        const sb = compactTimestamp(b);
        if (sa < sb) expect(ka < kb).toBe(true);
        if (sa === sb) expect(ka).toBe(kb);
      }),
    );
  });

  it("refuses run ids that would break the layout", () => {
    expect(() => backupKeys({ database: "app", dataClass: "db" }, new Date(), "../x", "primary")).toThrow(UsageError);
  });
});

describe("the order of backups across writers", () => {
  const order = fc.record({ epoch: fc.nat(20), slot: fc.date({ min: new Date("2020-01-01"), max: new Date("2030-01-01"), noInvalidDate: true }).map((d) => d.toISOString()) });

  it("a later writer epoch wins whatever the slots; within an epoch the later slot wins", () => {
    expect(compareWriterOrder({ epoch: 3, slot: "2026-01-01T00:00:00.000Z" }, { epoch: 2, slot: "2026-06-01T00:00:00.000Z" })).toBeGreaterThan(0);
    expect(compareWriterOrder({ epoch: 2, slot: "2026-01-01T00:00:00.000Z" }, { epoch: 2, slot: "2026-06-01T00:00:00.000Z" })).toBeLessThan(0);
    // Slots compare as times, not as strings (a slot with and without milliseconds).
    expect(compareWriterOrder({ epoch: 1, slot: "2026-01-01T00:00:00Z" }, { epoch: 1, slot: "2026-01-01T00:00:00.000Z" })).toBe(0);
    fc.assert(
      fc.property(order, order, (a, b) => {
        expect(Math.sign(compareWriterOrder(a, b))).toBe(-Math.sign(compareWriterOrder(b, a)));
      }),
    );
  });

  it("the newest of any set of pointers is at least as new as each of them", () => {
    fc.assert(
      fc.property(fc.array(order, { maxLength: 6 }), (pointers) => {
        const newest = newestByWriterOrder(pointers);
        if (pointers.length === 0) expect(newest).toBeUndefined();
        for (const p of pointers) expect(compareWriterOrder(newest!, p)).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe("parseTargets", () => {
  it("reads name:tier[:class], the class db unless given, as in the backupDatabases config", () => {
    expect(parseTargets("app:critical, reports:standard ,ledger:low:financial", "BACKUP_TARGETS")).toEqual([
      { database: "app", tier: "critical", dataClass: "db" },
      { database: "reports", tier: "standard", dataClass: "db" },
      { database: "ledger", tier: "low", dataClass: "financial" },
    ]);
  });

  it("reads an optional maximum age in seconds, which the verifier holds the newest backup to instead of the tier's RPO", () => {
    expect(parseTargets("app:critical:db:4500", "BACKUP_TARGETS")).toEqual([{ database: "app", tier: "critical", dataClass: "db", maxAgeSeconds: 4500 }]);
    expect(() => parseTargets("app:critical:db:soon", "BACKUP_TARGETS")).toThrow(/the maximum age "soon" is not a whole number of seconds above 0/);
    expect(() => parseTargets("app:critical:db:0", "BACKUP_TARGETS")).toThrow(/is not a whole number of seconds above 0/);
    expect(() => parseTargets("app:critical:db:60:x", "BACKUP_TARGETS")).toThrow(/is not name:tier\[:class\[:maxAgeSeconds\]\]/);
  });

  it.each([
    ["", /BACKUP_TARGETS is empty/],
    ["app", /"app" is not name:tier\[:class/],
    ["app:gold", /must be one of critical, high, standard, low \(got "gold"\)/],
    ["app:low:forever", /must be one of db, critical, archive, financial/],
    ["a/b:low", /cannot be used in a backup key/],
  ])("rejects %j", (spec, message) => {
    expect(() => parseTargets(spec, "BACKUP_TARGETS")).toThrow(message);
  });
});
