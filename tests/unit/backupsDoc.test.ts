import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { DATA_CLASS_PREFIX, DEFAULT_DATA_CLASS } from "../../lambdas/core/layout";

/**
 * docs/backups.md once said both "the tier decides the prefix" and "db/ unless
 * a class is given". The code has one rule (DEFAULT_DATA_CLASS, whatever the
 * tier); every statement of the default in the reference must be that rule.
 */

const doc = fs.readFileSync(path.join(PROJECT_ROOT, "docs", "backups.md"), "utf8");

test("every row of BACKUP_DATA_CLASS states the code's default class, whatever the tier", () => {
  const rows = doc.split("\n").filter((line) => line.startsWith("| `BACKUP_DATA_CLASS` |"));
  expect(rows.length).toBeGreaterThanOrEqual(2); // backup and restore
  for (const row of rows) {
    expect(row).toContain(`default \`${DEFAULT_DATA_CLASS}\`, whatever the tier`);
  }
});

test("the layout section says the same, and names the default's prefix", () => {
  expect(doc).toContain(`a backup goes to \`${DATA_CLASS_PREFIX[DEFAULT_DATA_CLASS]}\`\nunless \`BACKUP_DATA_CLASS\``);
});

test("no sentence maps a tier to a prefix", () => {
  expect(doc).not.toMatch(/tier\s*(->|→)\s*`/);
  expect(doc).not.toMatch(/the tier decides/i);
});
