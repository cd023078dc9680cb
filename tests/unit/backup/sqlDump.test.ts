import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { addChecksums, dumpedTableStates, EMPTY_CHECKSUM, fnv1a64, insertStatements, InsertStatement, readSqlDump, SqlDumpReader, SqlDumpSummary } from "../../../lambdas/core/sqlDump";
import { CheckFailedError } from "../../../lambdas/core/errors";

/** mariadb-dump 10.11 of a database with quoting, escapes, binary and non-ASCII data, a view, routines, a trigger and an event. */
const MARIADB_DUMP = readFileSync(join(__dirname, "fixtures", "mariadb-10.11.sql"));
/** mariadb-dump 10.11 of a trigger created under NO_BACKSLASH_ESCAPES whose body holds 'C:\' (a whole string in that mode). */
const NO_BACKSLASH_ESCAPES_DUMP = readFileSync(join(__dirname, "fixtures", "mariadb-10.11-no-backslash-escapes.sql"));

/** A reference FNV-1a-64 in BigInt, to check the 32-bit-halves arithmetic against. */
function referenceFnv(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

function sumOf(tuples: string[]): string {
  const total = tuples.reduce((acc, t) => (acc + referenceFnv(Buffer.from(t, "utf8"))) & 0xffffffffffffffffn, 0n);
  return total.toString(16).padStart(16, "0");
}

function parse(text: string | Buffer, chunkSizes: number[] = [text.length]): SqlDumpSummary {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, "utf8");
  const reader = new SqlDumpReader();
  let at = 0;
  let k = 0;
  while (at < bytes.length) {
    const n = Math.max(1, chunkSizes[k++ % chunkSizes.length]);
    reader.write(bytes.subarray(at, at + n));
    at += n;
  }
  return reader.end();
}

/** Splits the bytes at the given offsets (any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

async function* iterate(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

const ITEMS_TUPLES = [
  `1,'plain','it\\'s a \\\\ back\\nslash \\"quoted\\" \`tick\` ;semi; (paren) -- not comment /* nor */ #hash',0x00FF27225C,12.50,'2024-01-02 03:04:05',9223372036854775807,15000000000`,
  `2,'emoji 😀 CJK 漢字 ünï','',NULL,NULL,NULL,-1,-0.5`,
  `3,'DELIMITER ;;',NULL,'',0.00,'2000-01-01 00:00:00',0,0`,
];

describe("FNV-1a-64", () => {
  it("gives the published test vectors", () => {
    expect(fnv1a64(Buffer.from(""))).toBe("cbf29ce484222325");
    expect(fnv1a64(Buffer.from("a"))).toBe("af63dc4c8601ec8c");
    expect(fnv1a64(Buffer.from("foobar"))).toBe("85944171f73967e8");
  });

  it("equals a BigInt reference for any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(fnv1a64(bytes)).toBe(referenceFnv(bytes).toString(16).padStart(16, "0"));
      }),
    );
  });

  it("adds checksums modulo 2^64", () => {
    expect(addChecksums("ffffffffffffffff", "0000000000000002")).toBe("0000000000000001");
    expect(addChecksums(EMPTY_CHECKSUM, "00000000ffffffff")).toBe("00000000ffffffff");
    expect(addChecksums("00000000ffffffff", "0000000000000001")).toBe("0000000100000000");
  });
});

describe("reading a real mariadb-dump", () => {
  const expected = {
    createdTables: ["empty_t", "items", "odd`name ü"],
    views: ["v_items"],
    routines: ["f_add", "p_count"],
    triggers: ["t_items"],
    events: ["e_tick"],
  };

  it("counts each table's rows with the sum of its tuples' FNV-1a-64, and lists what the dump creates", () => {
    const s = parse(MARIADB_DUMP);
    expect(s).toMatchObject(expected);
    expect(s.completed).toBe(true);
    expect(s.insertStatements).toBe(2);
    expect(s.tables.get("items")).toEqual({ rows: 3, checksum: sumOf(ITEMS_TUPLES) });
    expect(s.tables.get("odd`name ü")).toEqual({ rows: 2, checksum: sumOf(["1,0x0102", "2,0x7465787420626C6F62"]) });
    // A table with no rows: created, counted 0, the empty sum.
    expect(s.tables.get("empty_t")).toEqual({ rows: 0, checksum: EMPTY_CHECKSUM });
    // The view's stand-in and the view are not tables.
    expect(s.tables.has("v_items")).toBe(false);
  });

  it("reads the same whatever the chunk boundaries (every byte alone, or random cuts through characters, escapes and delimiters)", () => {
    const whole = parse(MARIADB_DUMP);
    expect(parse(MARIADB_DUMP, [1])).toEqual(whole);
    expect(parse(MARIADB_DUMP, [2, 3, 5, 7])).toEqual(whole);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
        const reader = new SqlDumpReader();
        for (const c of split(MARIADB_DUMP, cuts)) reader.write(c);
        expect(reader.end()).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it("builds the manifest's table list for the base tables asked for", () => {
    const s = parse(MARIADB_DUMP);
    expect(dumpedTableStates(s, "app", ["empty_t", "items"])).toEqual([
      { schema: "app", table: "empty_t", rows: 0, checksum: EMPTY_CHECKSUM },
      { schema: "app", table: "items", rows: 3, checksum: sumOf(ITEMS_TUPLES) },
    ]);
  });

  it("refuses a dump cut off anywhere inside a statement, and says when the completion line is missing", () => {
    const text = MARIADB_DUMP.toString("utf8");
    const inTuple = text.indexOf("(2,'emoji") + 5;
    expect(() => parse(MARIADB_DUMP.subarray(0, Buffer.byteLength(text.slice(0, inTuple))))).toThrow(/inside an INSERT into `items`/);
    const inRoutine = text.indexOf("RETURN a + b");
    expect(() => parse(Buffer.from(text.slice(0, inRoutine)))).toThrow(CheckFailedError);
    // Cut cleanly between statements: readable, but not complete.
    const between = text.indexOf("\n", text.indexOf("UNLOCK TABLES;")) + 1;
    expect(parse(Buffer.from(text.slice(0, between))).completed).toBe(false);
  });
});

describe("tuples", () => {
  const dump = (values: string, table = "t") => `CREATE TABLE \`${table}\` (a int);\nINSERT INTO \`${table}\` VALUES ${values};\n-- Dump completed\n`;

  it.each([
    ["a quoted ')' and ';'", `(1,'a);b')`, [`1,'a);b'`]],
    ["a backslash-escaped quote", `(1,'it\\'s'),(2,'x')`, [`1,'it\\'s'`, `2,'x'`]],
    ["a doubled quote", `(1,'it''s')`, [`1,'it''s'`]],
    ["a string ending in a backslash", `(1,'c:\\\\'),(2,'d')`, [`1,'c:\\\\'`, `2,'d'`]],
    ["hex and _binary values", `(0x00FF,_binary 'a\\0b',NULL)`, [`0x00FF,_binary 'a\\0b',NULL`]],
    ["negative and exponent numbers", `(-1,-2.5e-3,1.7976931348623157e308)`, [`-1,-2.5e-3,1.7976931348623157e308`]],
    ["a double-quoted string", `(1,"a\\")b")`, [`1,"a\\")b"`]],
    ["newlines between tuples", `\n(1),\n(2)`, ["1", "2"]],
    ["4-byte UTF-8", `(1,'😀😀'),(2,'漢')`, [`1,'😀😀'`, `2,'漢'`]],
  ])("reads %s", (_, values, tuples) => {
    const text = dump(values);
    const expected = { rows: tuples.length, checksum: sumOf(tuples) };
    expect(parse(text).tables.get("t")).toEqual(expected);
    expect(parse(text, [1]).tables.get("t")).toEqual(expected);
  });

  it("adds up a table's INSERT statements and keeps tables apart", () => {
    const text = "INSERT INTO `a` VALUES (1),(2);\nINSERT INTO `b` VALUES (3);\nINSERT INTO `a` VALUES (4);\n";
    const s = parse(text);
    expect(s.tables.get("a")).toEqual({ rows: 3, checksum: sumOf(["1", "2", "4"]) });
    expect(s.tables.get("b")).toEqual({ rows: 1, checksum: sumOf(["3"]) });
    expect(s.statements).toBe(3);
  });

  it("reads INSERT IGNORE, REPLACE and a column list (--complete-insert)", () => {
    const s = parse("INSERT IGNORE INTO `a` VALUES (1);\nREPLACE INTO `b` VALUES (2);\nINSERT INTO `c` (`x`, `y`) VALUES (3,4);\n");
    expect([...s.tables.keys()]).toEqual(["a", "b", "c"]);
    expect(s.tables.get("c")).toEqual({ rows: 1, checksum: sumOf(["3,4"]) });
  });

  it("refuses bytes between tuples that are not a separator", () => {
    expect(() => parse("INSERT INTO `a` VALUES (1) x (2);")).toThrow(/unexpected "x" between the tuples of an INSERT into `a`/);
  });

  it("sees no INSERT in a comment, a string or a routine body", () => {
    const s = parse(
      "-- INSERT INTO `a` VALUES (1);\n/* INSERT INTO `a` VALUES (2); */ SELECT 'INSERT INTO `a` VALUES (3)';\nDELIMITER ;;\nCREATE PROCEDURE `p`() BEGIN INSERT INTO `a` VALUES (4); END ;;\nDELIMITER ;\n",
    );
    expect(s.tables.size).toBe(0);
    expect(s.routines).toEqual(["p"]);
  });
});

describe("sql_mode NO_BACKSLASH_ESCAPES", () => {
  it("reads a real mariadb-dump of a trigger created under NO_BACKSLASH_ESCAPES, whatever the chunking", () => {
    for (const sizes of [[NO_BACKSLASH_ESCAPES_DUMP.length], [1], [7, 3]]) {
      const s = parse(NO_BACKSLASH_ESCAPES_DUMP, sizes);
      expect(s.completed).toBe(true);
      expect(s.triggers).toEqual(["paths_default"]);
      expect(s.createdTables).toEqual(["paths"]);
      // The rows are dumped under the dump's own sql_mode: there the backslash escapes.
      expect(s.tables.get("paths")).toEqual({ rows: 2, checksum: sumOf(["1,'a\\\\b'", "2,'C:\\\\'"]) });
    }
  });

  it("turns backslashes back into escapes after SET sql_mode = @saved_sql_mode, and follows plain and conditional SETs", () => {
    const text = [
      "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
      "/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;",
      "/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES' */ ;",
      "DELIMITER ;;",
      "CREATE DEFINER=`root`@`localhost` FUNCTION `f`() RETURNS varchar(10) RETURN 'C:\\' ;;",
      "DELIMITER ;",
      "/*!50003 SET sql_mode              = @saved_sql_mode */ ;",
      // Escapes again: \' does not end the string.
      "INSERT INTO `t` VALUES (1,'it\\'s;');",
      "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES';",
      "INSERT INTO `t` VALUES (2,'\\');",
      "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;",
      "INSERT INTO `t` VALUES (3,'\\'');",
      "-- Dump completed",
      "",
    ].join("\n");
    for (const sizes of [[text.length], [1]]) {
      const s = parse(text, sizes);
      expect(s.routines).toEqual(["f"]);
      expect(s.tables.get("t")).toEqual({ rows: 3, checksum: sumOf(["1,'it\\'s;'", "2,'\\'", "3,'\\''"]) });
      expect(s.completed).toBe(true);
    }
  });
});

describe("statements and objects", () => {
  it("follows DELIMITER changes, also when the new delimiter is split between chunks", () => {
    const text = "SELECT 1;\nDELIMITER $$\nCREATE FUNCTION `f`() RETURNS INT RETURN 1; $$\nCREATE PROCEDURE `p`() BEGIN SELECT 1; SELECT 2; END$$\nDELIMITER ;\nSELECT 2;\n";
    for (const sizes of [[text.length], [1], [3, 1, 2]]) {
      const s = parse(text, sizes);
      expect(s.routines).toEqual(["f", "p"]);
      expect(s.statements).toBe(4);
    }
  });

  it("names a MySQL 8 view, a trigger and an event wrapped in conditional comments, quoted or not", () => {
    const text = [
      "/*!50001 CREATE VIEW `v` AS SELECT 1 AS `id`*/;",
      "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`app user`@`%` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 AS `id` */;",
      "DELIMITER ;;",
      "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER `trg` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.a = 1 */;;",
      "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER trg2 AFTER INSERT ON `t` FOR EACH ROW BEGIN DELETE FROM x; END */;;",
      "/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `ev` ON SCHEDULE EVERY 1 DAY DO DELETE FROM x */ ;;",
      "CREATE DEFINER=`root`@`localhost` FUNCTION `f`(a INT) RETURNS int\n    DETERMINISTIC\nRETURN a ;;",
      "DELIMITER ;",
      "",
    ].join("\n");
    const s = parse(text, [1]);
    expect(s).toMatchObject({ views: ["v"], triggers: ["trg", "trg2"], events: ["ev"], routines: ["f"], createdTables: [] });
  });

  it("does not count mysqldump's stand-in table for a view (older servers) as a base table", () => {
    const s = parse("/*!50001 CREATE TABLE `v` (\n  `id` tinyint NOT NULL\n) ENGINE=MyISAM */;\nCREATE TABLE `t` (`id` int);\n");
    expect(s.createdTables).toEqual(["t"]);
    expect(s.tables.has("v")).toBe(false);
  });

  it("ignores a '*/' inside a string of a conditional comment, and ';' inside a plain comment", () => {
    const s = parse("/*!50001 VIEW `v` AS select 1 where 'a' <> '*/;' */;\n/* a; b; */ CREATE TABLE `t` (`a` int);\n");
    expect(s.statements).toBe(2);
    expect(s.createdTables).toEqual(["t"]);
  });

  it("keeps a '-' that does not start a comment, and a '--' comment ended by the chunk's last byte", () => {
    const text = "SET @a = 1-1;\nSET @b = 2--1;\n--\n-- Table structure\n--\nCREATE TABLE `t` (`a` int);\n";
    const s = parse(text, [1]);
    expect(s.statements).toBe(3);
    expect(s.createdTables).toEqual(["t"]);
  });
});

describe("insertStatements (the table restore's source)", () => {
  it("yields the selected tables' INSERT statements, whole and without their delimiter, with their rows and checksums", async () => {
    const whole = parse(MARIADB_DUMP);
    for (const cuts of [[], [...Array(MARIADB_DUMP.length).keys()], [MARIADB_DUMP.indexOf("INSERT INTO `items`") + 3, MARIADB_DUMP.indexOf("0,0);") + 4]]) {
      const got: InsertStatement[] = [];
      const it = insertStatements(iterate(split(MARIADB_DUMP, cuts)), (t) => t === "items");
      let r = await it.next();
      while (!r.done) {
        got.push(r.value);
        r = await it.next();
      }
      expect(r.value).toEqual(whole);
      expect(got).toHaveLength(1);
      expect(got[0].table).toBe("items");
      expect(got[0].sql.startsWith("INSERT INTO `items` VALUES")).toBe(true);
      expect(got[0].sql.endsWith("0,0)")).toBe(true);
      expect(MARIADB_DUMP.toString("utf8")).toContain(`${got[0].sql.slice("INSERT INTO `items` VALUES".length)};`);
      expect({ rows: got[0].rows, checksum: got[0].checksum }).toEqual(whole.tables.get("items"));
    }
  });

  it("splits a table over several statements whose checksums add up to the table's", async () => {
    const text = "INSERT INTO `a` VALUES (1),(2);\nINSERT INTO `b` VALUES (3);\nINSERT INTO `a` VALUES (4);\n";
    const got: InsertStatement[] = [];
    for await (const s of insertStatements(iterate(split(Buffer.from(text), [5, 30, 31, 32])), (t) => t === "a")) got.push(s);
    expect(got.map((s) => s.sql)).toEqual(["INSERT INTO `a` VALUES (1),(2)", "INSERT INTO `a` VALUES (4)"]);
    expect(addChecksums(got[0].checksum, got[1].checksum)).toBe(sumOf(["1", "2", "4"]));
  });

  it("throws at the end of a cut-off stream, after the statements it could read", async () => {
    const text = "INSERT INTO `a` VALUES (1);\nINSERT INTO `a` VALUES (2";
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const s of insertStatements(iterate([Buffer.from(text)]), () => true)) got.push(s.sql);
      })(),
    ).rejects.toThrow(/cut off/);
    expect(got).toEqual(["INSERT INTO `a` VALUES (1)"]);
  });
});

describe("readSqlDump", () => {
  it("reads a stream", async () => {
    expect(await readSqlDump(iterate(split(MARIADB_DUMP, [100, 2000])))).toEqual(parse(MARIADB_DUMP));
  });
});
