import { BackupManifest, isMysqlManifest, MysqlManifest } from "../../../lambdas/core/manifest";
import { compareWithManifest } from "../../../lambdas/core/mysqlVerify";
import { EMPTY_CHECKSUM, MYSQL_TABLE_CHECKSUM_METHOD, SqlDumpSummary } from "../../../lambdas/core/sqlDump";

describe("comparing a dump read back with its manifest", () => {
  const manifest = {
    dumpKey: "db/app/x.sql.gz",
    tables: [
      { schema: "app", table: "a", rows: 2, checksum: "00000000000000ff" },
      { schema: "app", table: "e", rows: 0, checksum: EMPTY_CHECKSUM },
    ],
    tableChecksumMethod: MYSQL_TABLE_CHECKSUM_METHOD,
    verification: { method: "mysqldump stream parsed; upload decompressed to it", statements: 5, tables: 2 },
  } as unknown as MysqlManifest;
  const summary = (over: Partial<SqlDumpSummary> = {}): SqlDumpSummary => ({
    statements: 5,
    insertStatements: 1,
    tables: new Map([
      ["a", { rows: 2, checksum: "00000000000000ff" }],
      ["e", { rows: 0, checksum: EMPTY_CHECKSUM }],
    ]),
    createdTables: ["a", "e"],
    views: [],
    routines: [],
    triggers: [],
    events: [],
    completed: true,
    ...over,
  });

  it("finds nothing when the dump is the manifest's", () => {
    expect(compareWithManifest(summary(), manifest)).toEqual([]);
  });

  it("names a missing table, changed rows or checksum, a different statement count and a missing completion line", () => {
    expect(compareWithManifest(summary({ createdTables: ["a"] }), manifest)).toEqual(["db/app/x.sql.gz has no table app.e"]);
    expect(compareWithManifest(summary({ tables: new Map([["a", { rows: 3, checksum: "1" }], ["e", { rows: 0, checksum: EMPTY_CHECKSUM }]]) }), manifest)).toEqual(["app.a: 3 rows in the dump, the manifest recorded 2"]);
    expect(compareWithManifest(summary({ tables: new Map([["a", { rows: 2, checksum: "0000000000000001" }], ["e", { rows: 0, checksum: EMPTY_CHECKSUM }]]) }), manifest)).toEqual([
      "app.a: checksum 0000000000000001 in the dump, the manifest recorded 00000000000000ff",
    ]);
    expect(compareWithManifest(summary({ statements: 4, completed: false }), manifest)).toEqual([
      'db/app/x.sql.gz has no "-- Dump completed" line: the SQL stops early',
      "db/app/x.sql.gz holds 4 statements, the manifest recorded 5",
    ]);
  });

  it("is a PostgreSQL manifest's job to say nothing here: only MySQL-family manifests are read back", () => {
    const pg = { engine: undefined } as unknown as BackupManifest;
    expect(isMysqlManifest(pg)).toBe(false);
  });
});
