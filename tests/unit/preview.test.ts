import * as fs from "fs";
import * as path from "path";
import { diffFromPreview, pairsFromEvaluations, pairsFromPreview, parseUrn, PreviewDocument } from "../../offline/diff";
import { findingsFor } from "../../offline/findings";
import { renderDiffMarkdown } from "../../offline/summary";

/** The summariser on hand-written `pulumi preview --json` documents, one per kind of step. */

function fixture(name: string): PreviewDocument {
  return JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", `preview-${name}.json`), "utf8")) as PreviewDocument;
}

function rules(name: string): Array<[string, string, string]> {
  return diffFromPreview(fixture(name)).findings.map((f) => [f.severity, f.rule, f.name]);
}

describe("URNs", () => {
  test("a nested resource's type is the last of its qualified type, the name follows it", () => {
    expect(
      parseUrn("urn:pulumi:primary::drstack::drstack:storage:BackupStorage$aws:s3/bucket:Bucket::primary-backups-bucket"),
    ).toEqual({ stack: "primary", type: "aws:s3/bucket:Bucket", name: "primary-backups-bucket" });
  });

  test("anything else is rejected", () => {
    expect(() => parseUrn("primary-backups-bucket")).toThrow(/not a Pulumi URN/);
  });

  test("a document without steps is rejected", () => {
    expect(() => pairsFromPreview({} as PreviewDocument)).toThrow(/no steps array/);
  });
});

describe("create steps (first deployment)", () => {
  test("list every resource as added and raise no finding", () => {
    const diff = diffFromPreview(fixture("create"));
    expect(diff.stack).toBe("secondary");
    expect(diff.findings).toEqual([]);
    expect(diff.changes.every((change) => change.kind === "added")).toBe(true);
    expect(diff.changes.map((change) => change.name)).toContain("secondary-backups-bucket");
    expect(diff.changes.map((change) => change.type)).not.toContain("pulumi:pulumi:Stack");
  });
});

describe("update steps", () => {
  const found = () => rules("update");

  test.each([
    ["warning", "retention-shortened", "primary-backups-lifecycle"],
    ["warning", "replication-rtc-dropped", "primary-to-secondary-rules"],
    ["warning", "replication-removed", "primary-to-secondary-rules"],
    ["warning", "replication-weakened", "primary-to-secondary-rules"],
    ["warning", "encryption-weakened", "primary-backups-encryption"],
    ["warning", "object-lock-weakened", "primary-backups-object-lock"],
    ["warning", "ttl-raised", "app-primary"],
    ["warning", "health-check-slower", "primary-health"],
    ["warning", "objectives-not-met", "primary"],
    ["warning", "objectives-not-enforced", "primary"],
  ])("raise %s %s on %s", (severity, rule, name) => {
    expect(found()).toContainEqual([severity, rule, name]);
  });

  test("a description change on the key and the unchanged bucket raise nothing", () => {
    expect(found().filter(([, , name]) => name === "primary-backups-key" || name === "primary-backups-bucket")).toEqual([]);
    expect(found().every(([severity]) => severity === "warning")).toBe(true);
  });

  test("list changed resources with the engine's detailed-diff paths; `same` steps are not changes", () => {
    const diff = diffFromPreview(fixture("update"));
    expect(diff.changes.find((change) => change.name === "app-primary")).toEqual({ kind: "changed", type: "aws:route53/record:Record", name: "app-primary", paths: ["ttl"] });
    expect(diff.changes.map((change) => change.name)).not.toContain("primary-backups-bucket");
  });

  test("read the posture from the stack's outputs", () => {
    const diff = diffFromPreview(fixture("update"));
    expect(diff.postureAfter?.tiers.find((tier) => tier.tier === "standard")?.status).toBe("not met");
    expect(renderDiffMarkdown(diff)).toMatch(/\| standard \| 240 min \| 10.5 min \| 120 min \| 75 min -> 1440 min \| \*\*not met\*\* \(was met\) \|/);
  });
});

describe("replace steps", () => {
  test("fold create-replacement, replace and delete-replaced into one replaced resource each", () => {
    const diff = diffFromPreview(fixture("replace"));
    expect(diff.changes.map((change) => [change.kind, change.name])).toEqual([
      ["replaced", "secondary-to-primary-role"],
      ["replaced", "secondary-db"],
      ["replaced", "secondary-backups-bucket"],
    ]);
  });

  test("block on the bucket and the database, not on the IAM role", () => {
    expect(rules("replace")).toEqual([
      ["blocking", "data-store-replaced", "secondary-backups-bucket"],
      ["blocking", "data-store-replaced", "secondary-db"],
    ]);
  });

  test("say which input forced the replacement", () => {
    const message = diffFromPreview(fixture("replace")).findings.find((f) => f.name === "secondary-db")!.message;
    expect(message).toMatch(/RDS instance `secondary-db` would be REPLACED .* because `kmsKeyId` changed/);
  });
});

describe("delete steps", () => {
  test("block on deleted data stores and warn on lost replication, Object Lock and health checks", () => {
    expect(rules("delete")).toEqual([
      ["blocking", "data-store-deleted", "primary-backups-key"],
      ["blocking", "data-store-deleted", "primary-db-credentials"],
      ["warning", "replication-removed", "primary-to-secondary-rules"],
      ["warning", "object-lock-weakened", "primary-backups-object-lock"],
      ["warning", "health-check-removed", "primary-health"],
    ]);
  });

  test("carry the preview's error diagnostics into the summary", () => {
    const diff = diffFromPreview(fixture("delete"));
    expect(diff.errors[0]).toMatch(/marked for protection/);
    expect(renderDiffMarkdown(diff)).toMatch(/> \*\*preview error:\*\* unable to delete resource/);
  });
});

describe("one set of rules for both sources", () => {
  test("the same change seen offline and in a preview raises the same findings", () => {
    const document = fixture("update");
    const previewPairs = pairsFromPreview(document).pairs;
    // rebuild the two sides as two offline evaluations of the same resources
    const side = (which: "old" | "new") => ({
      stack: "primary",
      resources: previewPairs.flatMap((pair) => (pair[which] && pair[which]!.type !== "drstack:objectives:Posture" ? [pair[which]!] : [])),
      outputs: { drPosture: previewPairs.find((pair) => pair[which]?.type === "drstack:objectives:Posture")?.[which]?.inputs },
    });
    const offline = findingsFor(pairsFromEvaluations(side("old"), side("new")));
    const fromPreview = findingsFor(previewPairs);
    const comparable = (list: typeof offline) => list.map((f) => `${f.severity} ${f.rule} ${f.name}: ${f.message}`).sort();
    expect(comparable(offline)).toEqual(comparable(fromPreview));
    expect(offline.length).toBeGreaterThan(5);
  });
});
