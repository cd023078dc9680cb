/** The database password as libpq finds it (URL, PGPASSWORD, PGPASSFILE), used alike by the preflight and pg_dump, against real PostgreSQL (scram-sha-256 on TCP). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, services, siteAFlags, createDatabase } from "./helpers";

jest.setTimeout(120_000);

const noPasswordUrl = (database: string) => `postgres://postgres@127.0.0.1:${services.postgres.port}/${database}`;
const backup = () => ["backup", ...siteAFlags(), "--tier", "standard", "--pg-bin-dir", services.pgBinDir];
/** A HOME without a ~/.pgpass, so nothing but what a case gives supplies a password. */
const emptyHome = () => mkdtempSync(join(tmpdir(), "drstack-home-"));

describe("database password sources", () => {
  beforeAll(() => createDatabase("pwsources", 100));

  it("with no password anywhere: exit 2 and a sentence naming every place a password may come from, no SCRAM stack trace", async () => {
    const res = await runCli(backup(), { DATABASE_URL: noPasswordUrl("pwsources"), HOME: emptyHome() });
    expect(res.stderr).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+ asks user "postgres" for a password and none was given\. Put it in --database-url \/ DATABASE_URL .*export PGPASSWORD, or add a line .* \(PGPASSFILE, default ~\/\.pgpass\)/);
    expect(res.stderr).not.toMatch(/SCRAM|\n\s+at /);
    expect(res.code).toBe(2);
  });

  it("PGPASSWORD reaches pg_dump, not only the preflight", async () => {
    const res = await runCli(backup(), { DATABASE_URL: noPasswordUrl("pwsources"), PGPASSWORD: services.postgres.password, HOME: emptyHome() });
    expect(res.stderr).not.toMatch(/check failed/);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).outcome).toBe("created");
  });

  it("a PGPASSFILE line is used by the preflight and by pg_dump", async () => {
    const home = emptyHome();
    const file = join(home, "pgpass");
    writeFileSync(file, `# drstack test\n127.0.0.1:${services.postgres.port}:pwsources:postgres:${services.postgres.password.replace(/([:\\])/g, "\\$1")}\n`, { mode: 0o600 });
    const res = await runCli(backup(), { DATABASE_URL: noPasswordUrl("pwsources"), PGPASSFILE: file, HOME: home });
    expect(res.stderr).not.toMatch(/check failed/);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).outcome).toBe("created");
  });

  it("a wrong PGPASSWORD is reported as coming from PGPASSWORD", async () => {
    const res = await runCli(backup(), { DATABASE_URL: noPasswordUrl("pwsources"), PGPASSWORD: "wrong", HOME: emptyHome() });
    expect(res.stderr).toMatch(/rejected user "postgres" \(password authentication failed.*\)\. Check the user and password in PGPASSWORD \(--database-url \/ DATABASE_URL has none\)/);
    expect(res.code).toBe(2);
  });
});
