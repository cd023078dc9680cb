/**
 * Per-table row counts with a content checksum, taken in one scan, so a
 * restore (or a drill) can prove it brought back exactly the rows the backup
 * saw, not only as many of them.
 *
 * The checksum is order-independent: the sum, as numeric, of the first 64
 * bits of md5(row::text) over every row. The text form of a row depends on a
 * few session settings (time zone, date and interval style, float digits,
 * bytea output); they are pinned for the transaction before counting, here
 * and wherever the sum is compared.
 */
import type { Client } from "pg";
import { TableCount, USER_TABLES_SQL } from "./postgres";

/** Names the checksum definition in the manifest, so a later change of it is not compared with an old one. */
export const TABLE_CHECKSUM_METHOD = "sum(md5(row::text)[1:64 bits])/v1";

/** A table as the manifest records it; `checksum` is missing in manifests written before checksums. */
export interface TableState extends TableCount {
  checksum?: string;
}

/** Settings the row text depends on, as `SET LOCAL` statements: valid for the current transaction only. */
export const CHECKSUM_SETTINGS_SQL = [
  "SET LOCAL TimeZone = 'UTC'",
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL IntervalStyle = 'postgres'",
  "SET LOCAL extra_float_digits = 1",
  "SET LOCAL bytea_output = 'hex'",
].join(";\n");

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** One row: `n` (count) and `h` (checksum as text) of the table. */
export function tableStateSql(schema: string, table: string): string {
  return `SELECT count(*) AS n, coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint::numeric), 0)::text AS h FROM ONLY ${qualified(schema, table)} AS t`;
}

/** Count and checksum of every given table; the caller's client must be inside a transaction (the settings are pinned with SET LOCAL). */
export async function tableStates(client: Client, tables: readonly { schema: string; table: string }[]): Promise<TableState[]> {
  await client.query(CHECKSUM_SETTINGS_SQL);
  const states: TableState[] = [];
  for (const { schema, table } of tables) {
    const r = await client.query<{ n: string; h: string }>(tableStateSql(schema, table));
    states.push({ schema, table, rows: Number(r.rows[0].n), checksum: r.rows[0].h });
  }
  return states;
}

/** Same, in a read-only transaction of its own. */
export async function tableStatesNow(client: Client, tables: readonly { schema: string; table: string }[]): Promise<TableState[]> {
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  try {
    return await tableStates(client, tables);
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
  }
}

/** Count and checksum of every user table (the ones pg_dump writes data for), in the caller's transaction: one scan per table. */
export async function userTableStates(client: Client): Promise<TableState[]> {
  const tables = await client.query<{ schema: string; table: string }>(USER_TABLES_SQL);
  return tableStates(client, tables.rows);
}
