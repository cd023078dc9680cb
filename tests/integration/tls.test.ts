/**
 * TLS to the database as the backup job uses it on AWS: RDS for PostgreSQL 15
 * and later refuses unencrypted connections (rds.force_ssl = 1), and the job
 * connects with sslmode=verify-full against a CA bundle (RDS's, baked into
 * the image). Here the test server plays RDS: its certificate is signed by a
 * throwaway CA, and the role below is admitted over TLS only.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBackup } from "../../lambdas/core/backup";
import { UsageError } from "../../lambdas/core/errors";
import { createDatabase, services, siteA, withClient } from "./helpers";

jest.setTimeout(120_000);

const password = "tls-only-" + Math.random().toString(36).slice(2, 10);
const { port, caFile, tlsOnlyUser } = services.postgres;
const url = (query: string) => `postgres://${tlsOnlyUser}:${password}@127.0.0.1:${port}/tlsapp${query}`;
const backupOf = (databaseUrl: string) =>
  runBackup({ source: { url: databaseUrl, label: "DATABASE_URL" }, target: { tier: "standard", dataClass: "db" }, bucket: siteA(), pgBinDir: services.pgBinDir });

beforeAll(async () => {
  await createDatabase("tlsapp", 200);
  await withClient("postgres", async (c) => {
    await c.query(`DROP ROLE IF EXISTS ${tlsOnlyUser}`).catch(() => undefined);
    await c.query(`CREATE ROLE ${tlsOnlyUser} LOGIN PASSWORD '${password}'`);
  });
  // What a backup user needs on RDS too: read everything (PostgreSQL 14+).
  await withClient("postgres", (c) => c.query(`GRANT pg_read_all_data TO ${tlsOnlyUser}`));
});

describe("the backup job's database connection", () => {
  it("backs up over TLS with the server verified against the CA bundle (the URL the infrastructure gives the function)", async () => {
    const result = await backupOf(url(`?sslmode=verify-full&sslrootcert=${caFile}`));
    expect(result.outcome).toBe("created");
    expect(result.manifest.tables.find((t) => t.table === "events")?.rows).toBe(200);
  });

  it("is refused without TLS, as RDS refuses it, with a message that says so", async () => {
    const failure = backupOf(url(""));
    await expect(failure).rejects.toBeInstanceOf(UsageError);
    await expect(failure).rejects.toThrow(/requires an encrypted connection.*sslmode=verify-full/);
  });

  it("refuses a server whose certificate no CA in sslrootcert signed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drstack-other-ca-"));
    const otherCa = join(dir, "ca.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "ca.key"), "-out", otherCa, "-days", "1", "-subj", "/CN=not the server's CA"], { stdio: "ignore" });
    try {
      await expect(backupOf(url(`?sslmode=verify-full&sslrootcert=${otherCa}`))).rejects.toThrow(/certificate of PostgreSQL at 127\.0\.0\.1:\d+ could not be verified.*sslrootcert/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
