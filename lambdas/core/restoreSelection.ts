/**
 * Which entries of an archive's table of contents a table- or schema-level
 * restore replays, from `pg_restore --list --verbose` (which prints every
 * entry's dependencies). pg_restore's own `--table` restores a table's
 * definition and data but none of its indexes, constraints, defaults or
 * sequences, so the selection here follows the dependencies instead: a
 * selected table brings every entry that depends on it (TABLE DATA,
 * CONSTRAINT, INDEX, TRIGGER, DEFAULT, COMMENT, POLICY, ...) and the
 * sequences its defaults use. The list keeps the archive's order: a dump
 * streamed from a pipe has no data offsets, so pg_restore can only read it
 * front to back.
 */
import { UsageError } from "./errors";

export interface TocEntry {
  /** The whole listing line, as pg_restore --use-list reads it back. */
  line: string;
  id: number;
  desc: string;
  /** `-` when the object has no schema. */
  schema: string;
  /** The tag: a name, or `table name` for constraints, triggers, defaults. */
  tag: string;
  deps: number[];
}

/** Entry types, longest first so "TABLE DATA" is not read as "TABLE". */
const DESCS = [
  "MATERIALIZED VIEW DATA", "SEQUENCE OWNED BY", "DEFAULT ACL", "FK CONSTRAINT", "ROW SECURITY", "SEQUENCE SET", "TABLE DATA",
  "INDEX ATTACH", "TABLE ATTACH", "EVENT TRIGGER", "MATERIALIZED VIEW", "STATISTICS", "CONSTRAINT", "PUBLICATION", "SUBSCRIPTION",
  "EXTENSION", "AGGREGATE", "PROCEDURE", "FUNCTION", "OPERATOR", "SEQUENCE", "COLLATION", "CONVERSION", "TRIGGER", "COMMENT", "DEFAULT",
  "DOMAIN", "POLICY", "SCHEMA", "INDEX", "TABLE", "VIEW", "TYPE", "RULE", "ACL",
];

export function parseTocEntries(listing: string): TocEntry[] {
  const entries: TocEntry[] = [];
  for (const line of listing.split("\n")) {
    const dep = /^;\s+depends on:\s*([\d ]*)$/.exec(line);
    if (dep && entries.length > 0) {
      entries[entries.length - 1].deps.push(...dep[1].trim().split(/\s+/).filter(Boolean).map(Number));
      continue;
    }
    const m = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (!m) continue;
    const desc = DESCS.find((d) => m[2].startsWith(`${d} `));
    if (!desc) continue;
    const words = m[2].slice(desc.length + 1).split(" ");
    // <schema> <tag...> <owner>; the owner is one word, the tag may have spaces.
    const schema = words[0];
    const tag = words.slice(1, words.length > 2 ? -1 : undefined).join(" ");
    entries.push({ line, id: Number(m[1]), desc, schema, tag, deps: [] });
  }
  return entries;
}

export interface TableName {
  schema: string;
  table: string;
}

export const tableKey = (t: TableName) => `${t.schema}.${t.table}`;

/** Entry types that belong to a table they depend on. */
const TABLE_PARTS = new Set(["TABLE DATA", "CONSTRAINT", "FK CONSTRAINT", "INDEX", "INDEX ATTACH", "TRIGGER", "DEFAULT", "SEQUENCE OWNED BY", "SEQUENCE SET", "COMMENT", "POLICY", "ROW SECURITY", "RULE", "STATISTICS", "SEQUENCE"]);
/** The parts that are data, restored into a table that already exists. */
const DATA_PARTS = new Set(["TABLE DATA", "SEQUENCE SET"]);

export interface SelectionRequest {
  tables: TableName[];
  schemas: string[];
  dataOnly: boolean;
  /** Tables of the selection that already exist in the target: only their data is replayed. */
  existing?: ReadonlySet<string>;
  /** Schemas that exist in the target: a schema selection brings only its tables then. */
  existingSchemas?: ReadonlySet<string>;
  /** Restoring under another schema name: an entry that needs an unselected object of the source schema cannot be replayed. */
  intoSchema?: boolean;
}

export interface Selection {
  tables: TableName[];
  entries: TocEntry[];
  /** Entries left out, with why, for the report. */
  skipped: string[];
}

/** The archive's tables (TABLE entries). */
export function archiveTables(entries: readonly TocEntry[]): TableName[] {
  return entries.filter((e) => e.desc === "TABLE").map((e) => ({ schema: e.schema, table: e.tag }));
}

export function selectEntries(all: readonly TocEntry[], req: SelectionRequest): Selection {
  const byId = new Map(all.map((e) => [e.id, e]));
  const tableEntries = all.filter((e) => e.desc === "TABLE");
  const known = new Set(tableEntries.map((e) => `${e.schema}.${e.tag}`));
  const missing = req.tables.map(tableKey).filter((k) => !known.has(k));
  if (missing.length > 0) {
    throw new UsageError(`--table ${missing.join(", ")}: not in this backup, which holds ${[...known].sort().join(", ") || "no tables"}. Check the names (schema.table).`);
  }
  const archiveSchemas = new Set(all.filter((e) => e.schema !== "-").map((e) => e.schema));
  const absent = req.schemas.filter((s) => !archiveSchemas.has(s));
  if (absent.length > 0) throw new UsageError(`--schema ${absent.join(", ")}: no objects of that schema in this backup (it has ${[...archiveSchemas].sort().join(", ")}).`);

  const wantedTables = new Set(req.tables.map(tableKey));
  const whole = new Set(req.schemas.filter((s) => !req.dataOnly && !req.existingSchemas?.has(s)));
  for (const e of tableEntries) if (req.schemas.includes(e.schema)) wantedTables.add(`${e.schema}.${e.tag}`);

  const included = new Set<number>();
  const ownerTable = new Map<number, string>();
  for (const e of tableEntries) if (wantedTables.has(`${e.schema}.${e.tag}`)) {
    included.add(e.id);
    ownerTable.set(e.id, `${e.schema}.${e.tag}`);
  }
  // Whole schemas (not in the target yet): every object of theirs but grants.
  for (const e of all) if (whole.has(e.schema) && e.desc !== "ACL" && e.desc !== "DEFAULT ACL") included.add(e.id);
  // Parts of the selected tables, to a fixed point (a COMMENT on a CONSTRAINT, the SET of an identity SEQUENCE).
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of all) {
      if (included.has(e.id) || !TABLE_PARTS.has(e.desc)) continue;
      const owner = e.deps.map((d) => ownerTable.get(d)).find((t) => t !== undefined);
      if (owner === undefined) continue;
      // A foreign key belongs to the table that has it, not to the one it references.
      if (e.desc === "FK CONSTRAINT" && !wantedTables.has(`${e.schema}.${e.tag.split(" ")[0]}`)) continue;
      included.add(e.id);
      ownerTable.set(e.id, owner);
      grew = true;
      // The sequence a serial column's default (or OWNED BY) uses.
      if (e.desc === "DEFAULT" || e.desc === "SEQUENCE OWNED BY") {
        for (const d of e.deps) {
          const dep = byId.get(d);
          if (dep?.desc === "SEQUENCE" && !included.has(d)) {
            included.add(d);
            ownerTable.set(d, owner);
          }
        }
      }
    }
  }

  const skipped: string[] = [];
  let entries = all.filter((e) => included.has(e.id));
  const keep = (e: TocEntry, why: string | undefined) => {
    if (why !== undefined) skipped.push(`${e.desc} ${e.schema} ${e.tag}: ${why}`);
    return why === undefined;
  };
  // A table that exists keeps its definition: only its rows (and its sequences' positions) are replayed.
  entries = entries.filter((e) => {
    const owner = ownerTable.get(e.id);
    return !(req.dataOnly || (owner !== undefined && req.existing?.has(owner))) || DATA_PARTS.has(e.desc);
  });
  if (req.intoSchema) {
    const ids = new Set(entries.map((e) => e.id));
    const sourceSchemas = new Set(entries.map((e) => e.schema));
    entries = entries.filter((e) => {
      const needs = e.deps.map((d) => byId.get(d)).find((d) => d !== undefined && !ids.has(d.id) && sourceSchemas.has(d.schema) && d.desc !== "SCHEMA");
      return keep(e, needs && `needs ${needs.desc} ${needs.schema} ${needs.tag}, which is not restored (it stays in the original schema)`);
    });
  }
  const tables = tableEntries.filter((e) => wantedTables.has(`${e.schema}.${e.tag}`)).map((e) => ({ schema: e.schema, table: e.tag }));
  return { tables, entries, skipped };
}
