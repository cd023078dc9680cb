/**
 * The statements that differ between MySQL versions and MariaDB, against a
 * stand-in connection that answers as each server does (no MySQL server is
 * installed here; MariaDB's answers are also tested for real in
 * tests/integration/mysql-backup.test.ts).
 */
import type { Connection } from "mysql2/promise";
import { binlogPosition, manifestTables, nonTransactional, refuseReplicationSource, replicationSources } from "../../../lambdas/core/mysqlBackup";
import { NotWriterError, UsageError } from "../../../lambdas/core/errors";

type Answers = Record<string, unknown[] | Error>;

function server(answers: Answers): { conn: Connection; asked: string[] } {
  const asked: string[] = [];
  const conn = {
    async query(q: { sql: string }) {
      asked.push(q.sql);
      const a = answers[q.sql];
      if (a instanceof Error) throw a;
      if (a === undefined) throw Object.assign(new Error(`You have an error in your SQL syntax near '${q.sql}'`), { code: "ER_PARSE_ERROR" });
      return [a, []];
    },
  } as unknown as Connection;
  return { conn, asked };
}

describe("binary log position", () => {
  it("MySQL 8.4: SHOW BINARY LOG STATUS and @@gtid_executed", async () => {
    const s = server({
      "SELECT @@global.log_bin AS on_": [{ on_: 1 }],
      "SHOW BINARY LOG STATUS": [{ File: "binlog.000007", Position: 157 }],
      "SELECT @@global.gtid_executed AS g": [{ g: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2" }],
    });
    expect(await binlogPosition(s.conn, "mysql", 1000)).toEqual({ file: "binlog.000007", position: 157, gtid: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2" });
    expect(s.asked).not.toContain("SHOW MASTER STATUS");
  });

  it("MySQL 8.0 before 8.2: falls back to SHOW MASTER STATUS; no GTIDs recorded when the set is empty", async () => {
    const s = server({
      "SELECT @@global.log_bin AS on_": [{ on_: 1 }],
      "SHOW MASTER STATUS": [{ File: "mysql-bin-changelog.000002", Position: 4 }],
      "SELECT @@global.gtid_executed AS g": [{ g: "" }],
    });
    expect(await binlogPosition(s.conn, "mysql", 1000)).toEqual({ file: "mysql-bin-changelog.000002", position: 4 });
  });

  it("MariaDB: SHOW MASTER STATUS and @@gtid_binlog_pos", async () => {
    const s = server({
      "SELECT @@global.log_bin AS on_": [{ on_: 1 }],
      "SHOW MASTER STATUS": [{ File: "mysql-bin.000003", Position: 342 }],
      "SELECT @@global.gtid_binlog_pos AS g": [{ g: "0-1-42" }],
    });
    expect(await binlogPosition(s.conn, "mariadb", 1000)).toEqual({ file: "mysql-bin.000003", position: 342, gtid: "0-1-42" });
  });

  it("is absent when binary logging is off", async () => {
    const s = server({ "SELECT @@global.log_bin AS on_": [{ on_: 0 }] });
    expect(await binlogPosition(s.conn, "mysql", 1000)).toBeUndefined();
    expect(s.asked).toHaveLength(1);
  });

  it("passes a refusal through (the caller turns it into the GRANT to give)", async () => {
    const denied = Object.assign(new Error("Access denied; you need (at least one of) the REPLICATION CLIENT privilege(s)"), { code: "ER_SPECIFIC_ACCESS_DENIED_ERROR" });
    const s = server({ "SELECT @@global.log_bin AS on_": [{ on_: 1 }], "SHOW BINARY LOG STATUS": denied });
    await expect(binlogPosition(s.conn, "mysql", 1000)).rejects.toBe(denied);
  });
});

describe("replication sources", () => {
  it("MySQL 8.0.22 and later: SHOW REPLICA STATUS; earlier: SHOW SLAVE STATUS", async () => {
    const modern = server({ "SHOW REPLICA STATUS": [{ Source_Host: "writer" }] });
    expect(await replicationSources(modern.conn, "mysql", 1000)).toHaveLength(1);
    const old = server({ "SHOW SLAVE STATUS": [] });
    expect(await replicationSources(old.conn, "mysql", 1000)).toEqual([]);
    expect(old.asked).toEqual(["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]);
  });

  it("MariaDB: every connection, SHOW ALL SLAVES STATUS", async () => {
    const s = server({ "SHOW ALL SLAVES STATUS": [{ Connection_name: "", Master_Host: "writer" }] });
    expect(await replicationSources(s.conn, "mariadb", 1000)).toHaveLength(1);
  });
});

describe("replica refusal", () => {
  const denied = () => Object.assign(new Error("Access denied; you need (at least one of) the SUPER, SLAVE MONITOR privilege(s) for this operation"), { code: "ER_SPECIFIC_ACCESS_DENIED_ERROR" });

  it("refuses, naming the grant, when the user may not read the replication status (a replica with read_only off would pass otherwise)", async () => {
    const s = server({ "SHOW ALL SLAVES STATUS": denied() });
    const refusal = refuseReplicationSource(s.conn, "mariadb", 1000, 'user "backup"');
    await expect(refusal).rejects.toBeInstanceOf(UsageError);
    await expect(refuseReplicationSource(s.conn, "mariadb", 1000, 'user "backup"')).rejects.toThrow(/GRANT SLAVE MONITOR ON \*\.\* TO/);
    const mysql = server({ "SHOW REPLICA STATUS": denied() });
    await expect(refuseReplicationSource(mysql.conn, "mysql", 1000, 'user "backup"')).rejects.toThrow(/GRANT REPLICATION CLIENT ON \*\.\* TO/);
  });

  it("refuses a server that lists a source, and passes one that lists none", async () => {
    const replica = server({ "SHOW ALL SLAVES STATUS": [{ Connection_name: "", Master_Host: "10.0.0.5" }] });
    await expect(refuseReplicationSource(replica.conn, "mariadb", 1000, "u")).rejects.toBeInstanceOf(NotWriterError);
    const writer = server({ "SHOW REPLICA STATUS": [] });
    await expect(refuseReplicationSource(writer.conn, "mysql", 1000, "u")).resolves.toBeUndefined();
  });
});

describe("the tables a MySQL/MariaDB manifest lists", () => {
  it("names the tables --single-transaction does not snapshot (any engine but InnoDB)", () => {
    const tables = [
      { table: "orders", storageEngine: "InnoDB" },
      { table: "legacy_log", storageEngine: "MyISAM" },
      { table: "sessions", storageEngine: "MEMORY" },
      { table: "history", storageEngine: "Aria" },
    ];
    expect(nonTransactional(tables).map((t) => t.table)).toEqual(["legacy_log", "sessions", "history"]);
  });

  it("adds a table created after the listing that the dump holds and that is a base table now, never a view's stand-in", () => {
    expect(manifestTables(["a", "b"], ["a", "b", "c", "v"], ["a", "b", "c"])).toEqual(["a", "b", "c"]);
    expect(manifestTables(["a"], ["a"], ["a"])).toEqual(["a"]);
  });
});
