/**
 * Which archive entries a table restore replays. The listing is the shape
 * `pg_restore --list --verbose` prints for a PostgreSQL 15 custom archive
 * (entry lines, then "; depends on:" lines); the integration suite runs the
 * same selection against real pg_restore output.
 */
import { parseTocEntries, selectEntries } from "../../../lambdas/core/restoreSelection";

const LISTING = `;
; Archive created at 2026-12-02 14:00:00 UTC
;     Format: CUSTOM
;
; Selected TOC Entries:
;
6; 2615 16385 SCHEMA - billing postgres
219; 1259 16390 TABLE public customers postgres
218; 1259 16389 SEQUENCE public customers_id_seq postgres
3350; 0 0 SEQUENCE OWNED BY public customers_id_seq postgres
;	depends on: 219 218
221; 1259 16400 TABLE public orders postgres
220; 1259 16399 SEQUENCE public orders_id_seq postgres
3351; 0 0 SEQUENCE OWNED BY public orders_id_seq postgres
;	depends on: 221 220
223; 1259 16420 TABLE billing invoices postgres
;	depends on: 6
224; 1255 16430 FUNCTION billing audit() postgres
;	depends on: 6
3190; 2604 16393 DEFAULT public customers id postgres
;	depends on: 218 219
3191; 2604 16403 DEFAULT public orders id postgres
;	depends on: 220 221
3400; 0 16390 TABLE DATA public customers postgres
;	depends on: 219
3401; 0 16400 TABLE DATA public orders postgres
;	depends on: 221
3402; 0 16420 TABLE DATA billing invoices postgres
;	depends on: 223
3410; 0 0 SEQUENCE SET public customers_id_seq postgres
;	depends on: 218
3411; 0 0 SEQUENCE SET public orders_id_seq postgres
;	depends on: 220
3200; 2606 16395 CONSTRAINT public customers customers_pkey postgres
;	depends on: 219
3201; 2606 16405 CONSTRAINT public orders orders_pkey postgres
;	depends on: 221
3202; 1259 16410 INDEX public orders_by_customer postgres
;	depends on: 221
3203; 2620 16440 TRIGGER billing invoices invoices_audit postgres
;	depends on: 223 224
3204; 2606 16415 FK CONSTRAINT public orders orders_customer_id_fkey postgres
;	depends on: 221 219 3200
`;

const entries = parseTocEntries(LISTING);
const ids = (sel: { entries: { id: number }[] }) => sel.entries.map((e) => e.id);

describe("table restore selection", () => {
  it("reads entry types with spaces, tags with spaces and dependencies", () => {
    expect(entries.find((e) => e.id === 3204)).toMatchObject({ desc: "FK CONSTRAINT", schema: "public", tag: "orders orders_customer_id_fkey", deps: [221, 219, 3200] });
    expect(entries.find((e) => e.id === 3351)).toMatchObject({ desc: "SEQUENCE OWNED BY", tag: "orders_id_seq", deps: [221, 220] });
    expect(entries.find((e) => e.id === 6)).toMatchObject({ desc: "SCHEMA", schema: "-", tag: "billing" });
  });

  it("brings a table's sequence, default, data, constraints, indexes and own foreign key, in archive order, and not the referenced table's", () => {
    const sel = selectEntries(entries, { tables: [{ schema: "public", table: "orders" }], schemas: [], dataOnly: false });
    expect(ids(sel)).toEqual([221, 220, 3351, 3191, 3401, 3411, 3201, 3202, 3204]);
    expect(sel.tables).toEqual([{ schema: "public", table: "orders" }]);
  });

  it("does not bring another table's foreign key that references the selected table", () => {
    const sel = selectEntries(entries, { tables: [{ schema: "public", table: "customers" }], schemas: [], dataOnly: false });
    expect(ids(sel)).toEqual([219, 218, 3350, 3190, 3400, 3410, 3200]);
  });

  it("replays only rows (and sequence positions) with --data-only, or into a table that exists", () => {
    const dataOnly = selectEntries(entries, { tables: [{ schema: "public", table: "orders" }], schemas: [], dataOnly: true });
    expect(ids(dataOnly)).toEqual([3401, 3411]);
    const existing = selectEntries(entries, { tables: [{ schema: "public", table: "orders" }], schemas: [], dataOnly: false, existing: new Set(["public.orders"]) });
    expect(ids(existing)).toEqual([3401, 3411]);
  });

  it("under a new schema, leaves out what needs an object left in the source schema, and says why", () => {
    const sel = selectEntries(entries, { tables: [{ schema: "public", table: "orders" }], schemas: [], dataOnly: false, intoSchema: true });
    expect(ids(sel)).toEqual([221, 220, 3351, 3191, 3401, 3411, 3201, 3202]);
    expect(sel.skipped).toEqual(["FK CONSTRAINT public orders orders_customer_id_fkey: needs TABLE public customers, which is not restored (it stays in the original schema)"]);
  });

  it("takes a whole schema (its functions and triggers too) when the target does not have it, only its tables' parts when it does", () => {
    expect(ids(selectEntries(entries, { tables: [], schemas: ["billing"], dataOnly: false }))).toEqual([223, 224, 3402, 3203]);
    expect(ids(selectEntries(entries, { tables: [], schemas: ["billing"], dataOnly: false, existingSchemas: new Set(["billing"]) }))).toEqual([223, 3402, 3203]);
  });

  it("refuses a table or schema the backup does not hold, listing what it holds", () => {
    expect(() => selectEntries(entries, { tables: [{ schema: "public", table: "order" }], schemas: [], dataOnly: false })).toThrow(
      "--table public.order: not in this backup, which holds billing.invoices, public.customers, public.orders. Check the names (schema.table).",
    );
    expect(() => selectEntries(entries, { tables: [], schemas: ["sales"], dataOnly: false })).toThrow(/--schema sales: no objects of that schema in this backup \(it has billing, public\)/);
  });
});
