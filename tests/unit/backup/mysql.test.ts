import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { engineOfUrl } from "../../../lambdas/core/engine";
import { UsageError } from "../../../lambdas/core/errors";
import {
  checkDumpTool,
  defaultsFileText,
  mysqlClientOptions,
  mysqlSslArgs,
  mysqlSslOptions,
  mysqlToolArgs,
  MysqlTool,
  parseMysqlUrl,
  parseToolVersion,
  serverInfoOf,
  withDefaultsFile,
} from "../../../lambdas/core/mysql";

const conn = (url: string) => ({ url, label: "DATABASE_URL" });

describe("engineOfUrl", () => {
  it("reads the engine from the scheme", () => {
    expect(engineOfUrl("postgres://h/db")).toBe("postgres");
    expect(engineOfUrl("postgresql://h/db")).toBe("postgres");
    expect(engineOfUrl("mysql://h/db")).toBe("mysql");
    expect(engineOfUrl("mariadb://h/db")).toBe("mariadb");
    expect(engineOfUrl("MySQL://h/db")).toBe("mysql");
  });

  it("refuses any other scheme with a sentence naming the setting and the three schemes", () => {
    expect(() => engineOfUrl("mssql://h/db", "--database-url / DATABASE_URL")).toThrow(UsageError);
    expect(() => engineOfUrl("mssql://h/db", "--database-url / DATABASE_URL")).toThrow(/--database-url \/ DATABASE_URL must start with postgres:\/\/ \(or postgresql:\/\/\), mysql:\/\/ or mariadb:\/\/.*got mssql:\/\//);
    expect(() => engineOfUrl("db.internal:3306")).toThrow(/DATABASE_URL must start with/);
  });
});

describe("parseMysqlUrl", () => {
  it("reads user, password, host, port and database, and redacts the password", () => {
    const db = parseMysqlUrl(conn("mysql://backup:p%40ss%3Aw@db.internal:3307/app"));
    expect(db).toMatchObject({ engine: "mysql", host: "db.internal", port: 3307, user: "backup", password: "p@ss:w", database: "app", tls: { mode: "preferred" } });
    expect(db.redacted).toBe("mysql://backup@db.internal:3307/app");
    expect(parseMysqlUrl(conn("mariadb://u@h/app")).port).toBe(3306);
    expect(parseMysqlUrl(conn("mariadb://u@h/app")).password).toBeUndefined();
  });

  it("takes PostgreSQL's sslmode names, and a unix socket", () => {
    const db = parseMysqlUrl(conn("mariadb://u:p@h/app?sslmode=verify-full&sslrootcert=/etc/ca.pem"));
    expect(db.tls).toEqual({ mode: "verify-full", caFile: "/etc/ca.pem" });
    expect(parseMysqlUrl(conn("mysql://u@h/app?sslmode=prefer")).tls.mode).toBe("preferred");
    expect(parseMysqlUrl(conn("mariadb://u@localhost/app?socket=/tmp/x/mysqld.sock")).socketPath).toBe("/tmp/x/mysqld.sock");
  });

  it.each([
    ["mysql://u@h/app?sslmode=verify-ca", /sslmode=verify-ca verifies the server's certificate and needs the CA bundle: add &sslrootcert=<file>/],
    ["mysql://u@h/app?sslmode=allow", /sslmode "allow" is not one of disable, require, verify-ca, verify-full/],
    ["mysql://u@h/app?ssl=true", /unknown parameter "ssl"; mysql URLs take sslmode, sslrootcert and socket/],
    ["mysql://u@h/", /names no database/],
    ["mysql://h/app", /names no user/],
    ["postgres://u@h/app", /names a PostgreSQL database/],
    ["redis://u@h/app", /must start with postgres/],
  ])("refuses %s", (url, message) => {
    expect(() => parseMysqlUrl(conn(url))).toThrow(UsageError);
    expect(() => parseMysqlUrl(conn(url))).toThrow(message);
  });
});

describe("TLS options", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "drstack-mysql-test-"));
    writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const url = (mode: string) => `mysql://u:p@db.internal/app?sslmode=${mode}&sslrootcert=${join(dir, "ca.pem")}`;

  it("maps sslmode to mysql2's ssl", () => {
    const ca = readFileSync(join(dir, "ca.pem"), "utf8");
    expect(mysqlSslOptions(parseMysqlUrl(conn("mysql://u@h/app?sslmode=disable")))).toBeUndefined();
    expect(mysqlSslOptions(parseMysqlUrl(conn("mysql://u@h/app?sslmode=require")))).toEqual({ rejectUnauthorized: false });
    expect(mysqlSslOptions(parseMysqlUrl(conn("mysql://u@h/app")))).toEqual({ rejectUnauthorized: false });
    expect(mysqlSslOptions(parseMysqlUrl(conn(url("verify-ca"))))).toEqual({ ca, rejectUnauthorized: true, verifyIdentity: false });
    expect(mysqlSslOptions(parseMysqlUrl(conn(url("verify-full"))))).toEqual({ ca, rejectUnauthorized: true, verifyIdentity: true });
  });

  it("names sslrootcert when the CA file cannot be read", () => {
    expect(() => mysqlSslOptions(parseMysqlUrl(conn("mysql://u@h/app?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")))).toThrow(/DATABASE_URL: cannot read the CA bundle sslrootcert=\/nonexistent\/ca.pem/);
  });

  it("maps sslmode to the flags of Oracle's and MariaDB's tools", () => {
    const ca = `--ssl-ca=${join(dir, "ca.pem")}`;
    const tls = (mode: string) => parseMysqlUrl(conn(url(mode))).tls;
    expect(mysqlSslArgs(tls("disable"), "mysql")).toEqual(["--ssl-mode=DISABLED", ca]);
    expect(mysqlSslArgs(tls("require"), "mysql")).toEqual(["--ssl-mode=REQUIRED", ca]);
    expect(mysqlSslArgs(tls("verify-ca"), "mysql")).toEqual(["--ssl-mode=VERIFY_CA", ca]);
    expect(mysqlSslArgs(tls("verify-full"), "mysql")).toEqual(["--ssl-mode=VERIFY_IDENTITY", ca]);
    expect(mysqlSslArgs({ mode: "preferred" }, "mysql")).toEqual(["--ssl-mode=PREFERRED"]);
    expect(mysqlSslArgs({ mode: "disable" }, "mariadb")).toEqual(["--skip-ssl"]);
    expect(mysqlSslArgs({ mode: "preferred" }, "mariadb")).toEqual([]);
    expect(mysqlSslArgs(tls("verify-full"), "mariadb")).toEqual(["--ssl", ca, "--ssl-verify-server-cert"]);
  });

  it("refuses require and verify-ca for MariaDB's tools, which would fall back to plain text, naming the setting and verify-full", () => {
    const tls = (mode: string) => parseMysqlUrl(conn(url(mode))).tls;
    for (const mode of ["require", "verify-ca"]) {
      expect(() => mysqlSslArgs(tls(mode), "mariadb", "SOURCE_DATABASE_URL")).toThrow(UsageError);
      expect(() => mysqlSslArgs(tls(mode), "mariadb", "SOURCE_DATABASE_URL")).toThrow(
        new RegExp(`^SOURCE_DATABASE_URL: sslmode=${mode} cannot be enforced with MariaDB's client tools.*plain text.*sslmode=verify-full&sslrootcert=`),
      );
      const db = parseMysqlUrl(conn(`mariadb://u@h/app?sslmode=${mode}${mode === "verify-ca" ? `&sslrootcert=${join(dir, "ca.pem")}` : ""}`));
      expect(() => mysqlToolArgs(db, "mariadb", "/tmp/x/client.cnf")).toThrow(/^DATABASE_URL: sslmode=/);
      // Oracle's tools enforce REQUIRED and VERIFY_CA themselves.
      expect(mysqlToolArgs(db, "mysql")).toContain(mode === "require" ? "--ssl-mode=REQUIRED" : "--ssl-mode=VERIFY_CA");
    }
  });
});

describe("tool arguments", () => {
  it("reads only its own option file (first), forces TCP for a host (localhost would mean the socket) and never carries the password", () => {
    const db = parseMysqlUrl(conn("mariadb://backup:s3cret@localhost:3307/app?sslmode=disable"));
    const args = mysqlToolArgs(db, "mariadb", "/tmp/x/client.cnf");
    expect(args).toEqual(["--defaults-file=/tmp/x/client.cnf", "--host=localhost", "--port=3307", "--protocol=TCP", "--user=backup", "--skip-ssl"]);
    expect(args.join(" ")).not.toContain("s3cret");
    // Without a password there is no option file, and the host's are not read either.
    expect(mysqlToolArgs(parseMysqlUrl(conn("mariadb://u@h/app?socket=/run/m.sock&sslmode=disable")), "mariadb")).toEqual([
      "--no-defaults",
      "--socket=/run/m.sock",
      "--protocol=SOCKET",
      "--user=u",
      "--skip-ssl",
    ]);
  });

  it("gives mysql2 the same connection, utf8mb4, exact numbers and dates as text", () => {
    const opts = mysqlClientOptions(parseMysqlUrl(conn("mysql://u:p@h:3310/app?sslmode=disable")));
    expect(opts).toMatchObject({ host: "h", port: 3310, user: "u", password: "p", database: "app", ssl: undefined, charset: "utf8mb4", bigNumberStrings: true, dateStrings: true });
    expect(mysqlClientOptions(parseMysqlUrl(conn("mysql://u@h/app")), { database: null })).not.toHaveProperty("database");
  });
});

describe("the password option file", () => {
  it("is 0600 in a private directory while the tool runs, and removed afterwards, also when the tool fails", async () => {
    const db = parseMysqlUrl(conn("mariadb://u:pw@h/app"));
    let seen = "";
    await withDefaultsFile(db, async (file) => {
      seen = file!;
      expect(statSync(file!).mode & 0o777).toBe(0o600);
      expect(statSync(dirname(file!)).mode & 0o077).toBe(0);
      expect(readFileSync(file!, "utf8")).toBe('[client]\npassword="pw"\n');
    });
    expect(existsSync(dirname(seen))).toBe(false);
    await expect(
      withDefaultsFile(db, async (file) => {
        seen = file!;
        throw new Error("tool failed");
      }),
    ).rejects.toThrow("tool failed");
    expect(existsSync(dirname(seen))).toBe(false);
  });

  it("is not written when the URL has no password", async () => {
    await withDefaultsFile(parseMysqlUrl(conn("mariadb://u@h/app")), async (file) => expect(file).toBeUndefined());
  });

  const printDefaults = ["/usr/bin/my_print_defaults", "/usr/bin/mariadb-print-defaults"].find((p) => existsSync(p));
  // The tools' own option parser reads back exactly the password written, whatever it holds.
  (printDefaults ? it : it.skip)("round-trips any password through the MariaDB option file parser", () => {
    const dir = mkdtempSync(join(tmpdir(), "drstack-cnf-"));
    try {
      fc.assert(
        fc.property(fc.string({ minLength: 1, maxLength: 30, unit: fc.constantFrom("a", "Z", "9", " ", '"', "'", "\\", "#", ";", "=", "\t", "[", "]", "é", "😀") }), (password) => {
          const file = join(dir, "c.cnf");
          writeFileSync(file, defaultsFileText(password), { mode: 0o600 });
          const out = spawnSync(printDefaults!, ["--defaults-file=" + file, "client"], { encoding: "utf8" });
          expect(out.stdout).toBe(`--password=${password}\n`);
        }),
        { numRuns: 100 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("versions and flavours", () => {
  it("reads the tools' --version", () => {
    expect(parseToolVersion("mysqldump  Ver 8.4.3 for Linux on x86_64 (MySQL Community Server - GPL)")).toEqual({ flavour: "mysql", version: "8.4.3", major: "8.4" });
    expect(parseToolVersion("mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)")).toEqual({ flavour: "mariadb", version: "10.11.6-MariaDB", major: "10.11" });
    expect(parseToolVersion("mariadb-dump from 11.4.2-MariaDB, client 10.19 for Linux (x86_64)")).toEqual({ flavour: "mariadb", version: "11.4.2-MariaDB", major: "11.4" });
    expect(parseToolVersion("mysqldump  Ver 10.19 Distrib 10.5.25-MariaDB, for Linux (x86_64)")).toEqual({ flavour: "mariadb", version: "10.5.25-MariaDB", major: "10.5" });
    expect(parseToolVersion("nothing")).toBeUndefined();
  });

  it("tells MariaDB from MySQL by VERSION() or @@version_comment", () => {
    expect(serverInfoOf("10.11.6-MariaDB-0+deb12u1", "Debian 12")).toEqual({ flavour: "mariadb", version: "10.11.6-MariaDB-0+deb12u1", major: "10.11" });
    expect(serverInfoOf("10.11.9", "Source distribution of MariaDB")).toMatchObject({ flavour: "mariadb" });
    expect(serverInfoOf("8.4.3", "MySQL Community Server - GPL")).toEqual({ flavour: "mysql", version: "8.4.3", major: "8.4" });
    expect(serverInfoOf("8.0.39", "Source distribution")).toMatchObject({ flavour: "mysql", major: "8.0" });
  });

  const tool = (flavour: "mysql" | "mariadb", major: string): MysqlTool => ({
    path: `/usr/bin/${flavour === "mysql" ? "mysqldump" : "mariadb-dump"}`,
    name: flavour === "mysql" ? "mysqldump" : "mariadb-dump",
    flavour,
    version: flavour === "mysql" ? `${major}.1` : `${major}.1-MariaDB`,
    major,
    display: `${flavour === "mysql" ? "mysqldump" : "mariadb-dump"} ${major}.1`,
  });
  const server = (v: string, c = "") => serverInfoOf(v, c);

  it("accepts mysqldump 8.4 for MySQL 8.0 and 8.4, and MariaDB's tool for MariaDB", () => {
    expect(() => checkDumpTool(tool("mysql", "8.4"), server("8.0.39"), "mysql", "DATABASE_URL")).not.toThrow();
    expect(() => checkDumpTool(tool("mysql", "8.4"), server("8.4.3"), "mysql", "DATABASE_URL")).not.toThrow();
    expect(() => checkDumpTool(tool("mariadb", "10.5"), server("10.11.9-MariaDB"), "mariadb", "DATABASE_URL")).not.toThrow();
  });

  it("refuses the other flavour's tool, an older mysqldump, and a scheme that is not the server's", () => {
    expect(() => checkDumpTool(tool("mariadb", "10.11"), server("8.4.3"), "mysql", "DATABASE_URL")).toThrow(/is MariaDB's .* but the server is MySQL 8.4.3.*Install Oracle's MySQL client \(mysqldump 8.4\) and point --mysql-bin-dir \/ MYSQL_BIN_DIR at it/);
    expect(() => checkDumpTool(tool("mysql", "8.4"), server("10.11.9-MariaDB"), "mariadb", "DATABASE_URL")).toThrow(/is MySQL's .* but the server is MariaDB/);
    expect(() => checkDumpTool(tool("mysql", "8.0"), server("8.4.3"), "mysql", "DATABASE_URL")).toThrow(/mysqldump must be at least the server's version \(8.4 dumps 8.0 and 8.4\)/);
    expect(() => checkDumpTool(tool("mariadb", "10.11"), server("10.11.9-MariaDB"), "mysql", "DATABASE_URL")).toThrow(/DATABASE_URL says mysql:\/\/ but the server is MariaDB 10.11.9-MariaDB. Start the URL with mariadb:\/\//);
  });
});
