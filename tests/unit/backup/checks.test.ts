import { createHash } from "node:crypto";
import { compositeChecksum } from "../../../lambdas/core/multipart";
import { parseTocListing } from "../../../lambdas/core/toc";
import { formatDuration, metricData, notificationFor, TargetReport } from "../../../lambdas/core/verify";

describe("compositeChecksum", () => {
  it("is the SHA-256 of the concatenated part digests, suffixed with the part count", () => {
    const d1 = createHash("sha256").update("a").digest();
    const d2 = createHash("sha256").update("b").digest();
    const expected = createHash("sha256").update(Buffer.concat([d1, d2])).digest("base64");
    expect(compositeChecksum([d1, d2])).toBe(`${expected}-2`);
  });
});

describe("parseTocListing", () => {
  it("finds the format and every TABLE DATA entry", () => {
    const listing = [
      ";",
      "; Archive created at 2026-11-23 02:24:30 UTC",
      ";     Format: CUSTOM",
      ";",
      "214; 1259 16384 TABLE public t postgres",
      "3338; 0 16384 TABLE DATA public t postgres",
      "3339; 0 16390 TABLE DATA billing invoices app",
    ].join("\n");
    const toc = parseTocListing(listing);
    expect(toc.format).toBe("CUSTOM");
    expect(toc.entries).toBe(3);
    expect([...toc.tableData]).toEqual(["public t", "billing invoices"]);
  });
});

describe("metrics and notification", () => {
  const failed: TargetReport = { database: "app", tier: "critical", ok: false, failures: ["replica missing: x"], rpoSeconds: 300, ageSeconds: 30, sizeBytes: 10, replicationLagSeconds: 1000 };
  const never: TargetReport = { database: "new", tier: "low", ok: false, failures: ["no verified backup"], rpoSeconds: 86400 };

  it("emits the failure flag always and the measures only when known", () => {
    const now = new Date("2026-11-23T00:00:00Z");
    const data = metricData([failed, never], now, "secondary");
    expect(data.map((d) => [d.MetricName, d.Dimensions?.map((x) => x.Value).join("/"), d.Value])).toEqual([
      ["BackupCheckFailed", "app/secondary", 1],
      ["BackupAgeSeconds", "app/secondary", 30],
      ["BackupSizeBytes", "app/secondary", 10],
      ["ReplicationLagSeconds", "app/secondary", 1000],
      ["BackupCheckFailed", "new/secondary", 1],
    ]);
  });

  it("emits the drill age when there is one, whether or not the check passed", () => {
    const now = new Date("2026-11-23T00:00:00Z");
    const drilled: TargetReport = { database: "app", tier: "critical", ok: true, failures: [], rpoSeconds: 300, drillAgeSeconds: 86400 };
    expect(metricData([drilled, { ...never, drillAgeSeconds: 5 }], now).map((d) => [d.MetricName, d.Dimensions?.map((x) => x.Value).join("/"), d.Value, d.Unit])).toEqual([
      ["BackupCheckFailed", "app", 0, "Count"],
      ["DrillAgeSeconds", "app", 86400, "Seconds"],
      ["BackupCheckFailed", "new", 1, "Count"],
      ["DrillAgeSeconds", "new", 5, "Seconds"],
    ]);
  });

  it("names every failed database in a subject SNS accepts", () => {
    const { subject, message } = notificationFor({ ok: false, checkedAt: "t", site: "primary", targets: [failed, never], notified: false });
    expect(subject).toBe("drstack backup check failed on primary: app, new");
    expect(subject.length).toBeLessThanOrEqual(100);
    expect(message).toContain("app (critical):\n  - replica missing: x");
  });

  it("formats durations the way the failure messages read", () => {
    expect([formatDuration(59), formatDuration(1860), formatDuration(7200), formatDuration(3 * 86400)]).toEqual(["59s", "31m", "2.0h", "3.0d"]);
  });
});
