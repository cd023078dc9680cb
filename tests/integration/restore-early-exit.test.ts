/**
 * Issue 9, item 7: a restore whose pg_restore exits early (here: the target
 * already has a schema the archive creates) printed MaxListenersExceededWarning,
 * because every chunk written after the exit left a "drain" listener behind,
 * and it kept downloading the whole archive. It must fail with pg_restore's
 * own message, quietly and without reading the rest.
 */
import { createDatabase, runCli, services, siteAFlags, superuserUrl, withClient } from "./helpers";

jest.setTimeout(180_000);

describe("restore after an early pg_restore exit", () => {
  it("reports pg_restore's error without leaking listeners", async () => {
    await createDatabase("earlyexit", 200_000);
    await createDatabase("earlyexit_target");
    await withClient("earlyexit_target", (c) => c.query("CREATE SCHEMA billing"));
    const backup = await runCli(["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", services.pgBinDir], { DATABASE_URL: superuserUrl("earlyexit") });
    expect(backup.code).toBe(0);

    const restore = await runCli(["restore", ...siteAFlags(), "--name", "earlyexit", "--pg-bin-dir", services.pgBinDir, "--target-database-url", superuserUrl("earlyexit_target")]);
    expect(restore.stderr).toMatch(/pg_restore failed \(exit 1\).*schema "billing" already exists/s);
    expect(restore.stderr).not.toMatch(/MaxListenersExceededWarning/);
    expect(restore.code).toBe(1);
    const tables = await withClient("earlyexit_target", (c) => c.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname IN ('public', 'billing')"));
    expect(tables.rows[0].n).toBe(0);
  });
});
