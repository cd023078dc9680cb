/** Bad inputs to the real CLI subprocess: a clear sentence naming the setting, exit 2, nothing written. */
import { createServer } from "node:net";
import { createDatabase, listKeys, runCli, services, siteA, siteAFlags, superuserUrl } from "./helpers";

jest.setTimeout(120_000);

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const backup = (...extra: string[]) => ["backup", "--tier", "standard", "--pg-bin-dir", services.pgBinDir, ...extra];

describe("drstack-backup bad inputs", () => {
  beforeAll(() => createDatabase("badinput", 10));

  it("prints usage with every flag and its environment variable", async () => {
    const res = await runCli(["--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/--database-url\s+DATABASE_URL/);
    expect(res.stdout).toMatch(/--targets\s+BACKUP_TARGETS/);
    expect(res.stdout).toMatch(/--target-database-url\s+RESTORE_DATABASE_URL/);
    expect(res.stdout).toMatch(/--table\s+RESTORE_TABLES/);
    expect(res.stdout).toMatch(/--clean\s+RESTORE_CLEAN\s+\(bare flag\)/);
    expect(res.stdout).toMatch(/drill: Restore drill/);
    expect(res.stdout).toMatch(/--scratch-server-url\s+DRILL_SCRATCH_SERVER_URL/);
  });

  const cases: [string, () => Promise<string[]>, NodeJS.ProcessEnv, RegExp][] = [
    ["an unknown flag", async () => backup("--databse-url", "x"), {}, /Unknown option '--databse-url'.*drstack-backup backup --help/],
    ["an unknown command", async () => ["bakup"], {}, /unknown command "bakup"\. Commands: backup, verify, restore, drill/],
    ["a missing required flag", async () => backup(...siteAFlags()), {}, /Missing --database-url \/ DATABASE_URL: the database to back up, e.g. postgres:\/\//],
    ["a missing bucket flag", async () => backup(), { DATABASE_URL: superuserUrl("badinput") }, /Missing --bucket \/ BACKUP_BUCKET/],
    ["a bad tier", async () => ["backup", "--tier", "gold"], {}, /--tier \/ BACKUP_TIER must be one of critical, high, standard, low \(got "gold"\)/],
    ["an unreachable database", async () => backup(...siteAFlags(), "--database-url", `postgres://postgres:x@127.0.0.1:${await closedPort()}/badinput`), {}, /Cannot reach PostgreSQL at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)\. Check the host and port in --database-url \/ DATABASE_URL/],
    ["a wrong database password", async () => backup(...siteAFlags()), { DATABASE_URL: superuserUrl("badinput", "wrong-password") }, /PostgreSQL at 127\.0\.0\.1:\d+ rejected user "postgres" \(password authentication failed.*\)\. Check the user and password in --database-url \/ DATABASE_URL/],
    ["a database that does not exist", async () => backup(...siteAFlags(), "--database-url", superuserUrl("nosuchdb")), {}, /Database "nosuchdb" does not exist on 127\.0\.0\.1:\d+\. Check the database name in --database-url/],
    ["a bucket that does not exist", async () => backup(...siteAFlags(), "--bucket", "no-such-bucket"), { DATABASE_URL: superuserUrl("badinput") }, /Bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+\. Check --bucket \/ BACKUP_BUCKET/],
    ["wrong S3 credentials", async () => backup(...siteAFlags(), "--secret-access-key", "not-the-secret"), { DATABASE_URL: superuserUrl("badinput") }, /S3 at http:\/\/127\.0\.0\.1:\d+ rejected the credentials .*Check --access-key-id \/ S3_ACCESS_KEY_ID and --secret-access-key/],
    ["an unreachable S3 endpoint", async () => backup(...siteAFlags(), "--s3-endpoint", `http://127.0.0.1:${await closedPort()}`), { DATABASE_URL: superuserUrl("badinput") }, /Cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+ .*Check --s3-endpoint \/ S3_ENDPOINT/],
    ["a malformed endpoint", async () => backup(...siteAFlags(), "--s3-endpoint", "127.0.0.1:9000"), { DATABASE_URL: superuserUrl("badinput") }, /--s3-endpoint \/ S3_ENDPOINT must be a URL like http:\/\/127\.0\.0\.1:9000/],
    ["a bad part size", async () => backup(...siteAFlags(), "--part-size-mb", "1"), { DATABASE_URL: superuserUrl("badinput") }, /--part-size-mb \/ BACKUP_PART_SIZE_MB must be a whole number from 5 to 5120 \(got "1"\)/],
    ["a restore into a database that is not empty", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--target-database-url", superuserUrl("badinput")], {}, /Database "badinput" named by --target-database-url \/ RESTORE_DATABASE_URL already has 3 table\(s\); restore into a new, empty database/],
    ["a table restore flag without a table", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--clean", "--target-database-url", superuserUrl("badinput")], {}, /--clean \/ RESTORE_CLEAN apply to a table or schema restore: name the tables with --table \/ RESTORE_TABLES or --schema/],
    ["a table that is not schema.table", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--table", "orders", "--target-database-url", superuserUrl("badinput")], {}, /--table \/ RESTORE_TABLES: "orders" is not schema\.table, e.g\. public\.orders/],
    ["--into-schema with --data-only", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--table", "public.events", "--into-schema", "copy", "--data-only", "--target-database-url", superuserUrl("badinput")], {}, /--into-schema \/ RESTORE_INTO_SCHEMA creates the tables under a new schema, so it cannot go with --data-only/],
    ["--into-schema across schemas", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--table", "public.events", "--table", "billing.invoices", "--into-schema", "copy", "--target-database-url", superuserUrl("badinput")], {}, /takes tables of one schema; this selection spans public, billing/],
    ["a --before that is not a time", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--before", "noon", "--target-database-url", superuserUrl("badinput")], {}, /--before \/ RESTORE_BEFORE must be an ISO 8601 time such as 2026-12-02T12:00:00Z \(got "noon"\)/],
    ["both --before and --manifest-key", async () => ["restore", ...siteAFlags(), "--name", "badinput", "--before", "2026-12-02T12:00:00Z", "--manifest-key", "x", "--target-database-url", superuserUrl("badinput")], {}, /--manifest-key \/ RESTORE_MANIFEST_KEY and --before \/ RESTORE_BEFORE both choose the backup; give one/],
    ["a drill without a scratch server and without initdb to start one", async () => ["drill", ...siteAFlags(), "--name", "badinput", "--pg-bin-dir", "/nonexistent"], {}, /initdb not found in \/nonexistent: a drill without --scratch-server-url \/ DRILL_SCRATCH_SERVER_URL starts its own PostgreSQL server\..* set --pg-bin-dir \/ PG_BIN_DIR/],
    ["a verify without targets", async () => ["verify", ...siteAFlags()], {}, /Missing --targets \/ BACKUP_TARGETS/],
    ["a malformed target", async () => ["verify", ...siteAFlags(), "--targets", "app"], {}, /--targets \/ BACKUP_TARGETS: "app" is not name:tier\[:class\[:maxAgeSeconds\]\]/],
  ];

  it.each(cases)("rejects %s with exit 2 and a message naming the setting", async (_what, args, env, message) => {
    const res = await runCli(await args(), env);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
    expect(res.code).toBe(2);
  });

  it("wrote nothing for any of them", async () => {
    // Every rejection happens before CreateMultipartUpload, so there is no upload to find either.
    expect(await listKeys(siteA(), "db/badinput/")).toEqual([]);
  });
});
