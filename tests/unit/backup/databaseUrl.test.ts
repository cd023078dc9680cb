import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseDatabaseUrl } from "../../../lambdas/core/postgres";

const conn = (url: string) => ({ url, label: "--scratch-server-url / DRILL_SCRATCH_SERVER_URL" });

describe("parseDatabaseUrl", () => {
  it("reads host and port from the URL", () => {
    expect(parseDatabaseUrl(conn("postgres://app:pw@db.internal:6432/app"), {})).toMatchObject({ host: "db.internal", port: 6432, user: "app", database: "app", passwordSource: "the URL" });
  });

  it("takes a unix socket directory from the host parameter, over the URL's host, as libpq and node-postgres do", () => {
    const db = parseDatabaseUrl(conn("postgres://drstack@localhost:5432/postgres?host=%2Ftmp%2Fdrstack-scratch-x"), {});
    expect(db).toMatchObject({ host: "/tmp/drstack-scratch-x", port: 5432, user: "drstack", database: "postgres", passwordSource: "none" });
    // The socket parameter survives into what pg_restore and the client are given.
    expect(new URL(db.redacted).searchParams.get("host")).toBe("/tmp/drstack-scratch-x");
    expect(new URL(db.withPassword).searchParams.get("host")).toBe("/tmp/drstack-scratch-x");
  });

  it("takes the port parameter over the URL's port, and refuses one that is not a port", () => {
    expect(parseDatabaseUrl(conn("postgres://u@localhost:5432/d?host=/run/pg&port=5433"), {}).port).toBe(5433);
    expect(() => parseDatabaseUrl(conn("postgres://u@localhost/d?port=abc"), {})).toThrow(/--scratch-server-url \/ DRILL_SCRATCH_SERVER_URL: the port parameter "abc" is not a port number/);
  });

  it("matches a password file line on the socket directory, as libpq does for a socket outside its default directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "drstack-pgpass-"));
    try {
      const file = join(dir, "pgpass");
      writeFileSync(file, "/run/pg:5432:*:drstack:sockpw\n", { mode: 0o600 });
      const db = parseDatabaseUrl(conn("postgres://drstack@localhost/postgres?host=%2Frun%2Fpg"), { PGPASSFILE: file });
      expect(db).toMatchObject({ password: "sockpw", passwordSource: "PGPASSFILE" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
