import { manifestOf } from "../../../lambdas/core/backup";
import { isMysqlManifest, manifestEngine } from "../../../lambdas/core/manifest";
import { mysqlDumpArgs } from "../../../lambdas/core/mysqlBackup";
import { MYSQL_TABLE_CHECKSUM_METHOD } from "../../../lambdas/core/sqlDump";
import { TABLE_CHECKSUM_METHOD } from "../../../lambdas/core/checksums";

const head = {
  format: "drstack.backup/v1" as const,
  database: "app",
  tier: "critical" as const,
  dataClass: "db" as const,
  runId: "abc",
  site: "primary",
  epoch: 0,
  slot: "2026-11-23T01:00:00.000Z",
  startedAt: "2026-11-23T01:00:00.000Z",
  endedAt: "2026-11-23T01:01:00.000Z",
  dumpKey: "db/app/2026/11/23/20261123T010000Z-primary-abc.dump",
  manifestKey: "db/app/2026/11/23/20261123T010000Z-primary-abc.manifest.json",
  size: 10,
  sha256: "0".repeat(64),
  s3ChecksumSha256: "x-1",
  etag: '"e"',
  versionId: "v",
  partSize: 5242880,
  partCount: 1,
};

describe("the manifest of each engine", () => {
  it("keeps a PostgreSQL manifest's fields, in their order, without an engine field", () => {
    const m = manifestOf(head, {
      tables: [{ schema: "public", table: "t", rows: 1, checksum: "1" }],
      tableChecksumMethod: TABLE_CHECKSUM_METHOD,
      fields: { engine: "postgres", serverVersion: "15.4", pgDumpVersion: "pg_dump (PostgreSQL) 16.2", verification: { method: "pg_restore --list on the uploaded stream", tocEntries: 9, tableDataEntries: 1 } },
    });
    expect(Object.keys(m)).toEqual([
      "format", "database", "tier", "dataClass", "runId", "site", "epoch", "slot", "startedAt", "endedAt", "dumpKey", "manifestKey", "size", "sha256", "s3ChecksumSha256", "etag", "versionId", "partSize", "partCount",
      "serverVersion", "pgDumpVersion", "tables", "tableChecksumMethod", "verification",
    ]);
    expect(manifestEngine(m)).toBe("postgres");
    expect(isMysqlManifest(m)).toBe(false);
  });

  it("gives a MySQL/MariaDB manifest its engine right after the format, and its binlog only when there is one", () => {
    const fields = {
      engine: "mariadb" as const,
      serverVersion: "10.11.6-MariaDB",
      dumpFormat: "mysqldump-sql-gzip" as const,
      dumpToolVersion: "mariadb-dump 10.11.6-MariaDB",
      objects: { views: [], routines: [], triggers: [], events: [] },
      verification: { method: "mysqldump stream parsed; upload decompressed to it" as const, statements: 3, tables: 1 },
    };
    const m = manifestOf({ ...head, dumpKey: head.dumpKey.replace(".dump", ".sql.gz") }, { tables: [], tableChecksumMethod: MYSQL_TABLE_CHECKSUM_METHOD, fields });
    expect(Object.keys(m).slice(0, 3)).toEqual(["format", "engine", "database"]);
    expect(m).not.toHaveProperty("binlog");
    expect(manifestEngine(m)).toBe("mariadb");
    const withLog = manifestOf(head, { tables: [], tableChecksumMethod: MYSQL_TABLE_CHECKSUM_METHOD, fields: { ...fields, binlog: { before: { file: "b.000001", position: 4, gtid: "0-1-5" } } } });
    expect(withLog).toMatchObject({ binlog: { before: { file: "b.000001", position: 4, gtid: "0-1-5" } } });
  });
});

describe("the dump's options", () => {
  it("dump one database in one transaction with its routines, triggers and events, binary as hex, no CREATE DATABASE", () => {
    const maria = mysqlDumpArgs("mariadb", "app");
    expect(maria).toEqual(["--single-transaction", "--quick", "--routines", "--triggers", "--events", "--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces", "--skip-dump-date", "app"]);
    expect(maria).not.toContain("--databases");
    expect(mysqlDumpArgs("mysql", "app")).toContain("--set-gtid-purged=OFF");
    expect(maria).not.toContain("--set-gtid-purged=OFF");
  });
});
