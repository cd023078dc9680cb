import fc from "fast-check";
import { backupKeys, compactTimestamp, latestKey, parseTargets, DATA_CLASS_PREFIX } from "../../../lambdas/core/layout";
import { UsageError } from "../../../lambdas/core/errors";

describe("backup key layout", () => {
  it("puts dump and manifest side by side under the class prefix, by day", () => {
    const keys = backupKeys({ database: "app", dataClass: "critical" }, new Date("2026-03-04T05:06:07Z"), "abc123");
    expect(keys).toEqual({
      dumpKey: "critical/app/2026/03/04/20260304T050607Z-abc123.dump",
      manifestKey: "critical/app/2026/03/04/20260304T050607Z-abc123.manifest.json",
    });
    expect(latestKey({ database: "app", dataClass: "daily" })).toBe("db/app/latest.json");
  });

  it("uses exactly the lifecycle prefixes the bucket's rules expect", () => {
    expect(DATA_CLASS_PREFIX).toEqual({ daily: "db/", critical: "critical/", archive: "archive/", financial: "financial/" });
  });

  it("orders keys of one database by time, so a listing by day is chronological", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date("2000-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }), fc.date({ min: new Date("2000-01-01"), max: new Date("2200-01-01"), noInvalidDate: true }), (a, b) => {
        const ka = backupKeys({ database: "db", dataClass: "daily" }, a, "r").dumpKey;
        const kb = backupKeys({ database: "db", dataClass: "daily" }, b, "r").dumpKey;
        const sa = compactTimestamp(a);
        const sb = compactTimestamp(b);
        if (sa < sb) expect(ka < kb).toBe(true);
        if (sa === sb) expect(ka).toBe(kb);
      }),
    );
  });

  it("refuses run ids that would break the layout", () => {
    expect(() => backupKeys({ database: "app", dataClass: "daily" }, new Date(), "../x")).toThrow(UsageError);
  });
});

describe("parseTargets", () => {
  it("reads name:tier[:class] and derives the class from the tier", () => {
    expect(parseTargets("app:critical, reports:standard ,ledger:low:financial", "BACKUP_TARGETS")).toEqual([
      { database: "app", tier: "critical", dataClass: "critical" },
      { database: "reports", tier: "standard", dataClass: "daily" },
      { database: "ledger", tier: "low", dataClass: "financial" },
    ]);
  });

  it.each([
    ["", /BACKUP_TARGETS is empty/],
    ["app", /"app" is not name:tier\[:class\]/],
    ["app:gold", /must be one of critical, high, standard, low \(got "gold"\)/],
    ["app:low:forever", /must be one of daily, critical, archive, financial/],
    ["a/b:low", /cannot be used in a backup key/],
  ])("rejects %j", (spec, message) => {
    expect(() => parseTargets(spec, "BACKUP_TARGETS")).toThrow(message);
  });
});
