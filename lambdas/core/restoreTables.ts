/**
 * Table- and schema-level restore into a database that may be live: the
 * selected tables (with their indexes, constraints, sequences and triggers)
 * or schemas, definitions and data or data only, under their own names or
 * under a new schema, in one transaction that also proves the result.
 *
 * pg_restore writes the filtered archive as SQL (restoreSelection.ts picks
 * the entries) and psql runs it between statements of ours:
 *
 *   BEGIN;
 *   [--clean: DROP TABLE t (or TRUNCATE t with --data-only); never CASCADE]
 *   [--into-schema: ALTER SCHEMA src RENAME TO <hold>; CREATE SCHEMA src;]
 *   <pg_restore's script>
 *   <each table's row count and checksum against the manifest, RAISE on a difference>
 *   [--into-schema: ALTER SCHEMA src RENAME TO <new>; ALTER SCHEMA <hold> RENAME TO src;]
 *   COMMIT;
 *
 * pg_restore has no option to restore under another schema name and its
 * script names every object by its schema, so the source schema is moved out
 * of the way inside the transaction and moved back before it commits: other
 * sessions never see the rename (they read the committed catalog), and the
 * original schema keeps its identity (same OID, same name). COMMIT is only
 * sent once the archive hashed to its manifest's SHA-256 and every check
 * passed; anything else (a tampered archive, a failed statement, a wrong
 * count) closes the session and rolls everything back.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Client } from "pg";
import { CHECKSUM_SETTINGS_SQL, qualified, quoteIdent, tableStateSql } from "./checksums";
import { CheckFailedError, UsageError } from "./errors";
import { BackupManifest } from "./manifest";
import { ParsedDatabaseUrl, pgToolEnv } from "./postgres";
import type { RestoreOptions, TableComparison } from "./restore";
import { compareWithManifest } from "./restore";
import { TableName, parseTocEntries, selectEntries, tableKey } from "./restoreSelection";
import { explainS3Error } from "./s3";
import { childWriter } from "./streamWrite";

export interface TableSelection {
  /** `schema.table` names. */
  tables: TableName[];
  /** Every table of these schemas (and, where the schema does not exist in the target yet, its other objects). */
  schemas: string[];
  /** Load rows into tables that exist; create nothing. */
  dataOnly: boolean;
  /** Restore under this new schema instead of the tables' own (one source schema only). */
  intoSchema?: string;
  /** Drop (or, with dataOnly, truncate) selected tables that exist and hold rows. Without it they are refused. */
  clean: boolean;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** Parses `schema.table` lists (repeated flags arrive comma-joined). */
export function parseTableList(value: string | undefined, source: string): TableName[] {
  if (value === undefined) return [];
  return value.split(",").map((s) => s.trim()).filter(Boolean).map((entry) => {
    const parts = entry.split(".");
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new UsageError(`${source}: "${entry}" is not schema.table, e.g. public.orders.`);
    return { schema: parts[0], table: parts[1] };
  });
}

export function parseSchemaList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

/** Refuses contradictory selections before anything is read. */
export function checkSelection(sel: TableSelection, labels: { table: string; schema: string; dataOnly: string; intoSchema: string }): void {
  if (sel.tables.length === 0 && sel.schemas.length === 0) throw new UsageError(`Name what to restore with ${labels.table} (schema.table) or ${labels.schema}.`);
  if (sel.intoSchema !== undefined) {
    if (!IDENT.test(sel.intoSchema)) throw new UsageError(`${labels.intoSchema} "${sel.intoSchema}" must be a plain identifier (letters, digits, _; up to 63).`);
    if (sel.dataOnly) throw new UsageError(`${labels.intoSchema} creates the tables under a new schema, so it cannot go with ${labels.dataOnly} (which loads rows into tables that exist).`);
    const sources = new Set([...sel.schemas, ...sel.tables.map((t) => t.schema)]);
    if (sources.size > 1) throw new UsageError(`${labels.intoSchema} takes tables of one schema; this selection spans ${[...sources].join(", ")}. Restore each schema separately.`);
    if (sources.has(sel.intoSchema)) throw new UsageError(`${labels.intoSchema} "${sel.intoSchema}" is the tables' own schema; name a new one, or omit it to restore in place.`);
  }
}

interface SelectionRun {
  s3: S3Client;
  opts: RestoreOptions;
  manifest: BackupManifest;
  selection: TableSelection;
  client: Client;
  dest: ParsedDatabaseUrl;
  pgRestorePath: string;
  psqlPath: string;
  log: (message: string) => void;
}

export async function restoreSelection(run: SelectionRun): Promise<{ tables: TableComparison[]; skipped: string[]; failures: string[] }> {
  const { manifest, selection: sel, client, log } = run;
  const entries = parseTocEntries(await readTocListing(run));
  const request = { tables: sel.tables, schemas: sel.schemas, dataOnly: sel.dataOnly, intoSchema: sel.intoSchema !== undefined };
  const wanted = selectEntries(entries, request).tables;
  const schemasOfTables = [...new Set([...wanted.map((t) => t.schema), ...sel.schemas])];
  const existingSchemas = new Set(
    (await client.query<{ n: string }>("SELECT nspname AS n FROM pg_namespace WHERE nspname = ANY($1)", [[...schemasOfTables, sel.intoSchema ?? ""]])).rows.map((r) => r.n),
  );

  const existing = new Set<string>();
  const toClear: TableName[] = [];
  if (sel.intoSchema !== undefined) {
    if (existingSchemas.has(sel.intoSchema)) {
      throw new UsageError(`--into-schema ${sel.intoSchema} already exists in ${run.dest.database}; name a new schema (nothing was changed).`);
    }
  } else {
    for (const t of wanted) {
      const present = (await client.query<{ present: boolean }>("SELECT to_regclass($1) IS NOT NULL AS present", [qualified(t.schema, t.table)])).rows[0].present;
      if (!present) {
        if (sel.dataOnly) throw new UsageError(`Table ${tableKey(t)} does not exist in ${run.dest.database}, so --data-only has nothing to load into; omit --data-only to create it from the backup (nothing was changed).`);
        continue;
      }
      const hasRows = (await client.query<{ r: boolean }>(`SELECT EXISTS (SELECT 1 FROM ONLY ${qualified(t.schema, t.table)}) AS r`)).rows[0].r;
      if (hasRows && !sel.clean) {
        throw new UsageError(
          `Table ${tableKey(t)} exists in ${run.dest.database} and has rows; add --clean to ${sel.dataOnly ? "empty it (TRUNCATE)" : "drop and recreate it"} from the backup, or --into-schema <new schema> to restore beside it (nothing was changed).`,
        );
      }
      // Data only: load into it (emptied first with --clean). Otherwise recreate it with --clean, or load into it while it is empty.
      if (sel.dataOnly || !sel.clean) existing.add(tableKey(t));
      if (sel.clean && (hasRows || !sel.dataOnly)) toClear.push(t);
    }
  }
  const chosen = selectEntries(entries, { ...request, existing, existingSchemas: sel.intoSchema !== undefined ? new Set() : existingSchemas });
  for (const s of chosen.skipped) log(`skipped ${s}`);
  const byName = new Map(manifest.tables.map((t) => [tableKey(t), t]));
  const expected = chosen.tables.map((t) => byName.get(tableKey(t)) ?? { ...t, rows: -1 });
  const unrecorded = expected.filter((t) => t.rows < 0);
  if (unrecorded.length > 0) throw new CheckFailedError(`the manifest records no row count for ${unrecorded.map(tableKey).join(", ")}, so the restore could not be proved; nothing was changed`);

  const sourceSchema = sel.intoSchema !== undefined ? schemasOfTables[0] : undefined;
  const hold = `drstack_hold_${randomBytes(6).toString("hex")}`;
  // Errors only: "schema already exists, skipping" is not news.
  const prefix: string[] = ["BEGIN;", "SET client_min_messages = warning;"];
  if (sel.intoSchema !== undefined) {
    if (existingSchemas.has(sourceSchema!)) prefix.push(`ALTER SCHEMA ${quoteIdent(sourceSchema!)} RENAME TO ${quoteIdent(hold)};`);
    prefix.push(`CREATE SCHEMA ${quoteIdent(sourceSchema!)};`);
  } else {
    for (const s of new Set([...chosen.tables.map((t) => t.schema), ...sel.schemas])) prefix.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)};`);
    if (toClear.length > 0) {
      prefix.push(sel.dataOnly ? `TRUNCATE TABLE ${toClear.map((t) => `ONLY ${qualified(t.schema, t.table)}`).join(", ")};` : toClear.map((t) => `DROP TABLE ${qualified(t.schema, t.table)};`).join("\n"));
    }
  }
  const suffix: string[] = [CHECKSUM_SETTINGS_SQL + ";"];
  for (const t of expected) suffix.push(checkStatement(t, manifest.tableChecksumMethod !== undefined));
  if (sel.intoSchema !== undefined) {
    suffix.push(`ALTER SCHEMA ${quoteIdent(sourceSchema!)} RENAME TO ${quoteIdent(sel.intoSchema)};`);
    if (existingSchemas.has(sourceSchema!)) suffix.push(`ALTER SCHEMA ${quoteIdent(hold)} RENAME TO ${quoteIdent(sourceSchema!)};`);
  }
  suffix.push("COMMIT;");

  const where = sel.intoSchema !== undefined ? ` under schema ${sel.intoSchema}` : "";
  log(`restoring ${chosen.tables.map(tableKey).join(", ")} (${sel.dataOnly || existing.size > 0 ? "data" : "definitions and data"}${toClear.length > 0 ? `, replacing ${toClear.map(tableKey).join(", ")}` : ""}) from ${manifest.dumpKey} (taken ${manifest.endedAt}) into ${run.dest.database}${where}`);
  const dir = mkdtempSync(join(tmpdir(), "drstack-restore-"));
  try {
    const listFile = join(dir, "restore.list");
    writeFileSync(listFile, chosen.entries.map((e) => e.line).join("\n") + "\n");
    await pipeThroughPsql(run, listFile, prefix.join("\n") + "\n", "\n" + suffix.join("\n") + "\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { tables, failures } = await compareWithManifest(client, manifest, expected, (t) => (sel.intoSchema !== undefined ? { schema: sel.intoSchema, table: t.table } : t));
  return { tables, skipped: chosen.skipped, failures };
}

/** A DO block that raises, rolling the transaction back, when a restored table differs from the manifest. */
function checkStatement(t: { schema: string; table: string; rows: number; checksum?: string }, withChecksum: boolean): string {
  const name = `${t.schema}.${t.table}`.replace(/'/g, "''");
  const checksum = withChecksum && t.checksum !== undefined
    ? `  IF h <> '${t.checksum}' THEN RAISE EXCEPTION 'drstack restore check: table ${name} has the backup''s % rows but not their contents (checksum %, the backup recorded ${t.checksum})', n, h; END IF;\n`
    : "";
  return (
    `DO $drstack$ DECLARE n bigint; h text; BEGIN\n` +
    `  SELECT s.n, s.h INTO n, h FROM (${tableStateSql(t.schema, t.table)}) AS s;\n` +
    `  IF n <> ${t.rows} THEN RAISE EXCEPTION 'drstack restore check: table ${name} has % rows, the backup recorded ${t.rows}', n; END IF;\n` +
    checksum +
    `END $drstack$;`
  );
}

/** `pg_restore --list --verbose` of the archive: the table of contents with each entry's dependencies. Reads only the archive's head. */
async function readTocListing(run: SelectionRun): Promise<string> {
  const { s3, opts, manifest } = run;
  const obj = await s3.send(new GetObjectCommand({ Bucket: opts.bucket.bucket, Key: manifest.dumpKey })).catch((err: unknown) => {
    throw explainS3Error(err, opts.bucket, `read ${manifest.dumpKey}`);
  });
  const child = spawn(run.pgRestorePath, ["--list", "--verbose"], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const write = childWriter(child.stdin, exited);
  const body = obj.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
  for await (const chunk of body) {
    if (!(await write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))) break;
  }
  body.destroy?.();
  child.stdin.end();
  const code = await exited;
  if (code !== 0) throw new CheckFailedError(`pg_restore --list could not read ${manifest.dumpKey} (exit ${code}): ${stderr.trim()}`);
  return stdout;
}

/** S3 -> SHA-256 -> pg_restore (SQL out) -> psql, between our prefix and suffix; COMMIT only after the digest matched. */
async function pipeThroughPsql(run: SelectionRun, listFile: string, prefix: string, suffix: string): Promise<void> {
  const { s3, opts, manifest: m, dest } = run;
  const obj = await s3.send(new GetObjectCommand({ Bucket: opts.bucket.bucket, Key: m.dumpKey })).catch((err: unknown) => {
    throw explainS3Error(err, opts.bucket, `read ${m.dumpKey}`);
  });
  const psql = spawn(run.psqlPath, ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", `--dbname=${dest.redacted}`], { env: pgToolEnv(dest), stdio: ["pipe", "ignore", "pipe"] });
  const restore = spawn(run.pgRestorePath, [`--use-list=${listFile}`, "--no-owner", "--no-privileges", "--file=-"], { stdio: ["pipe", "pipe", "pipe"] });
  let psqlErr = "";
  let restoreErr = "";
  psql.stderr.setEncoding("utf8").on("data", (s: string) => (psqlErr = (psqlErr + s).slice(-4000)));
  restore.stderr.setEncoding("utf8").on("data", (s: string) => (restoreErr = (restoreErr + s).slice(-4000)));
  const psqlExit = new Promise<number | null>((resolve) => psql.on("close", resolve));
  const restoreExit = new Promise<number | null>((resolve) => restore.on("close", resolve));
  const toPsql = childWriter(psql.stdin, psqlExit);
  const toRestore = childWriter(restore.stdin, restoreExit);
  const psqlFailed = async () => new CheckFailedError(`the restore was rolled back, nothing changed (psql exit ${await psqlExit}): ${psqlErr.trim()}`);
  const killAll = () => {
    restore.kill("SIGKILL");
    psql.kill("SIGKILL");
  };

  try {
    await toPsql(prefix);
    const relay = (async () => {
      for await (const chunk of restore.stdout as AsyncIterable<Buffer>) if (!(await toPsql(chunk))) return false;
      return true;
    })();
    const hash = createHash("sha256");
    let size = 0;
    const body = obj.Body as AsyncIterable<Uint8Array> & { destroy?: () => void };
    // pg_restore stops reading once it has what the list names; the rest is still hashed, since COMMIT waits for the whole archive's digest.
    let feeding = true;
    for await (const chunk of body) {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buf);
      size += buf.length;
      if (feeding) feeding = await toRestore(buf);
    }
    restore.stdin.end();
    const [restoreCode, relayed] = await Promise.all([restoreExit, relay]);
    if (!relayed) throw await psqlFailed();
    if (restoreCode !== 0) throw new CheckFailedError(`pg_restore failed (exit ${restoreCode}); the restore was rolled back, nothing changed: ${restoreErr.trim()}`);
    const digest = hash.digest("hex");
    if (digest !== m.sha256 || size !== m.size) {
      throw new CheckFailedError(`checksum mismatch: ${m.dumpKey} (${size} bytes) hashes to sha256 ${digest}, the manifest recorded ${m.sha256} (${m.size} bytes); the restore was rolled back, nothing changed`);
    }
    if (!(await toPsql(suffix))) throw await psqlFailed();
    psql.stdin.end();
    if ((await psqlExit) !== 0) throw await psqlFailed();
  } catch (err) {
    killAll();
    throw err;
  }
}
