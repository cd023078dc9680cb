/**
 * Issue 9, item 3: table-level restore from the backup before a corruption,
 * against real PostgreSQL and MinIO through the CLI. The checksums compared
 * here are the test's own (md5 over the rows in id order), independent of the
 * manifest's, and the tables not restored are shown untouched, rows written
 * after the backup included.
 */
import { Client } from "pg";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { BackupManifest, getJson } from "../../lambdas/core/manifest";
import { s3Client } from "../../lambdas/core/s3";
import { createDatabase, runCli, services, siteA, siteAFlags, superuserUrl, withClient } from "./helpers";

jest.setTimeout(240_000);

const DB = "corruptible";
const pg = ["--pg-bin-dir", services.pgBinDir];

/** md5 of every row in id order: equal exactly when the rows are. */
async function fingerprint(c: Client, table: string): Promise<string> {
  await c.query("SET TimeZone = 'UTC'");
  const r = await c.query<{ h: string }>(`SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS h FROM ${table} t`);
  return r.rows[0].h;
}

async function fingerprints(): Promise<Record<string, string>> {
  return withClient(DB, async (c) => ({
    customers: await fingerprint(c, "public.customers"),
    orders: await fingerprint(c, "public.orders"),
    invoices: await fingerprint(c, "billing.invoices"),
  }));
}

async function backup(): Promise<{ endedAt: string; manifestKey: string }> {
  const res = await runCli(["backup", ...siteAFlags(), "--tier", "standard", ...pg], { DATABASE_URL: superuserUrl(DB) });
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as { manifest: { endedAt: string; manifestKey: string } }).manifest;
}

function restore(...args: string[]) {
  return runCli(["restore", ...siteAFlags(), "--name", DB, ...pg, "--target-database-url", superuserUrl(DB), ...args]);
}

describe("restoring one corrupted table from the backup before the corruption", () => {
  let good: { endedAt: string; manifestKey: string };
  let before: string;
  let clean: Record<string, string>;

  beforeAll(async () => {
    await createDatabase(DB);
    await withClient(DB, async (c) => {
      await c.query(`CREATE SCHEMA billing`);
      await c.query(`CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL UNIQUE)`);
      await c.query(`INSERT INTO public.customers (name) SELECT 'customer ' || g FROM generate_series(1, 500) g`);
      await c.query(`CREATE TABLE public.orders (
          id bigserial PRIMARY KEY,
          customer_id int NOT NULL REFERENCES public.customers (id),
          amount numeric(12, 2) NOT NULL CHECK (amount >= 0),
          placed_at timestamptz NOT NULL,
          note text)`);
      await c.query(`CREATE INDEX orders_by_customer ON public.orders (customer_id, placed_at)`);
      await c.query(`INSERT INTO public.orders (customer_id, amount, placed_at, note)
          SELECT 1 + g % 500, (g * 7 % 1000) / 3.0, timestamptz '2026-01-01 00:00:00+00' + g * interval '17 minutes', CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text) END
            FROM generate_series(1, 20000) g`);
      await c.query(`CREATE TABLE billing.invoices (id serial PRIMARY KEY, amount numeric NOT NULL)`);
      await c.query(`INSERT INTO billing.invoices (amount) SELECT g * 1.5 FROM generate_series(1, 37) g`);
    });
    good = await backup();
    clean = await fingerprints();
    await new Promise((r) => setTimeout(r, 1100));
    before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));

    // The corruption: a DELETE without the WHERE it needed, an UPDATE gone wrong; a later backup takes it in.
    await withClient(DB, async (c) => {
      await c.query(`DELETE FROM public.orders WHERE id % 3 = 0`);
      await c.query(`UPDATE public.orders SET amount = 0, note = 'oops' WHERE customer_id < 100`);
      // Legitimate writes elsewhere after the backup must survive the table restore.
      await c.query(`INSERT INTO public.customers (name) VALUES ('signed up after the backup')`);
    });
    const later = await backup();
    expect(later.manifestKey).not.toBe(good.manifestKey);
  });

  it("refuses to replace a table with rows unless --clean is given, naming the flag", async () => {
    const res = await restore("--table", "public.orders", "--before", before);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/Table public\.orders exists .* has rows; add --clean/);
    expect(await fingerprints()).toMatchObject({ orders: expect.not.stringMatching(clean.orders) });
  });

  it("restores the table beside the live one with --into-schema, leaving the live schema as it is", async () => {
    const live = await fingerprints();
    const res = await restore("--table", "public.orders", "--before", before, "--into-schema", "recovered");
    expect(res.stderr).not.toMatch(/check failed|rolled back/);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as { manifestKey: string; mode: string; tables: { restoredAs?: string; restoredRows: number }[]; skipped: string[] };
    expect(report.manifestKey).toBe(good.manifestKey);
    expect(report.tables).toEqual([expect.objectContaining({ schema: "public", table: "orders", rows: 20_000, restoredRows: 20_000, restoredAs: "recovered.orders" })]);
    // The foreign key names public.customers, which stays where it is: reported, not restored.
    expect(report.skipped).toEqual([expect.stringMatching(/^FK CONSTRAINT public orders orders_customer_id_fkey: needs TABLE public customers/)]);
    await withClient(DB, async (c) => {
      expect(await fingerprint(c, "recovered.orders")).toBe(clean.orders);
      const idx = await c.query(`SELECT indexname FROM pg_indexes WHERE schemaname = 'recovered' ORDER BY 1`);
      expect(idx.rows.map((r) => r.indexname)).toEqual(["orders_by_customer", "orders_pkey"]);
      const schemas = await c.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'drstack_hold%'`);
      expect(schemas.rows).toEqual([]);
    });
    expect(await fingerprints()).toEqual(live);
  });

  it("refuses an --into-schema that exists", async () => {
    const res = await restore("--table", "public.orders", "--before", before, "--into-schema", "recovered");
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--into-schema recovered already exists/);
  });

  it("replaces the corrupted table in place with --clean and leaves every other table untouched", async () => {
    const others = await fingerprints();
    const res = await restore("--table", "public.orders", "--before", before, "--clean");
    expect(res.stderr).not.toMatch(/check failed|rolled back/);
    expect(res.code).toBe(0);
    const after = await fingerprints();
    expect(after.orders).toBe(clean.orders);
    expect(after.customers).toBe(others.customers);
    expect(after.invoices).toBe(others.invoices);
    await withClient(DB, async (c) => {
      // The new customer is still there; the restored orders still reference customers; the sequence continues past the restored ids.
      const late = await c.query(`SELECT count(*)::int AS n FROM public.customers WHERE name = 'signed up after the backup'`);
      expect(late.rows[0].n).toBe(1);
      const fk = await c.query(`SELECT conname FROM pg_constraint WHERE conrelid = 'public.orders'::regclass ORDER BY 1`);
      expect(fk.rows.map((r) => r.conname)).toEqual(["orders_amount_check", "orders_customer_id_fkey", "orders_pkey"]);
      const next = await c.query(`INSERT INTO public.orders (customer_id, amount, placed_at) VALUES (1, 1, now()) RETURNING id`);
      expect(Number(next.rows[0].id)).toBe(20_001);
      await c.query(`DELETE FROM public.orders WHERE id = 20001`);
    });
  });

  it("reloads rows only with --data-only --clean (TRUNCATE, definitions kept), from a backup chosen by --manifest-key", async () => {
    await withClient(DB, (c) => c.query(`UPDATE public.orders SET note = 'corrupted again' WHERE id < 50`));
    const oid = await withClient(DB, (c) => c.query<{ oid: number }>(`SELECT 'public.orders'::regclass::oid AS oid`));
    const res = await restore("--table", "public.orders", "--manifest-key", good.manifestKey, "--data-only", "--clean");
    expect(res.stderr).not.toMatch(/check failed|rolled back/);
    expect(res.code).toBe(0);
    expect((await fingerprints()).orders).toBe(clean.orders);
    // Same table, not a new one.
    const oidAfter = await withClient(DB, (c) => c.query<{ oid: number }>(`SELECT 'public.orders'::regclass::oid AS oid`));
    expect(oidAfter.rows[0].oid).toBe(oid.rows[0].oid);
  });

  it("rolls everything back, the DROP included, when the restored rows do not match the manifest", async () => {
    // A manifest whose checksum for orders is not what the archive holds (as if the archive's rows were altered).
    const s3 = s3Client(siteA());
    const m = (await getJson<BackupManifest>(s3, siteA().bucket, good.manifestKey))!.value;
    // Outside the dated folders, so no lookup by time ever finds it.
    const doctoredKey = `db/${DB}/doctored.manifest.json`;
    const doctored = { ...m, manifestKey: doctoredKey, tables: m.tables.map((t) => (t.table === "orders" ? { ...t, checksum: "12345" } : t)) };
    await s3.send(new PutObjectCommand({ Bucket: siteA().bucket, Key: doctoredKey, Body: JSON.stringify(doctored) }));
    await withClient(DB, (c) => c.query(`UPDATE public.orders SET note = 'live edit' WHERE id = 1`));
    const live = await fingerprints();

    const res = await restore("--table", "public.orders", "--manifest-key", doctoredKey, "--clean");
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/rolled back.*drstack restore check: table public\.orders has the backup's 20000 rows but not their contents/s);
    expect(await fingerprints()).toEqual(live);
  });

  it("never cascades: a table another table's foreign key references is refused by PostgreSQL and nothing changes", async () => {
    const live = await fingerprints();
    for (const extra of [[], ["--data-only"]]) {
      const res = await restore("--table", "public.customers", "--before", before, "--clean", ...extra);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/rolled back, nothing changed .*(cannot drop table customers because other objects depend on it|cannot truncate a table referenced in a foreign key constraint)/s);
      expect(res.stderr).not.toMatch(/NOTICE/);
      expect(await fingerprints()).toEqual(live);
    }
  });

  it("restores a whole schema into a new database, and refuses what names no table of the backup", async () => {
    await createDatabase("corruptible_copy");
    const res = await runCli(["restore", ...siteAFlags(), "--name", DB, ...pg, "--target-database-url", superuserUrl("corruptible_copy"), "--schema", "billing", "--before", before]);
    expect(res.stderr).not.toMatch(/check failed|rolled back/);
    expect(res.code).toBe(0);
    expect(await withClient("corruptible_copy", (c) => fingerprint(c, "billing.invoices"))).toBe(clean.invoices);
    const tables = await withClient("corruptible_copy", (c) => c.query(`SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`));
    expect(tables.rows.map((r) => r.t)).toEqual(["billing.invoices"]);

    const missing = await restore("--table", "public.order", "--before", before);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--table public\.order: not in this backup, which holds billing\.invoices, public\.customers, public\.orders/);
  });
});
