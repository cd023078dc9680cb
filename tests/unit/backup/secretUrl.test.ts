import { urlWithSecret } from "../../../lambdas/settings";

const arn = "arn:aws:secretsmanager:us-west-2:1:secret:db";

describe("DATABASE_URL completed from an RDS secret", () => {
  it("builds the whole URL of the secret's engine and port when DATABASE_URL is unset", () => {
    expect(urlWithSecret(undefined, { engine: "mysql", host: "db.internal", port: 3306, username: "admin", password: "p@ss", dbname: "app" }, arn)).toBe("mysql://admin:p%40ss@db.internal:3306/app");
    expect(urlWithSecret(undefined, { engine: "mariadb", host: "db.internal", username: "admin", password: "x", dbname: "app" }, arn)).toBe("mariadb://admin:x@db.internal:3306/app");
    expect(urlWithSecret(undefined, { engine: "postgres", host: "db.internal", port: 5432, username: "u", password: "x" }, arn)).toBe("postgres://u:x@db.internal:5432/postgres");
    // Secrets without an engine field (written by hand) stay PostgreSQL's, as before.
    expect(urlWithSecret(undefined, { host: "h", username: "u", password: "x" }, arn)).toBe("postgres://u:x@h:5432/postgres");
  });

  it("fills the credentials into a URL of the same engine, whatever its scheme", () => {
    expect(urlWithSecret("mariadb://h:3306/app?sslmode=verify-full&sslrootcert=/ca.pem", { engine: "mariadb", username: "admin", password: "s e" }, arn)).toBe("mariadb://admin:s%20e@h:3306/app?sslmode=verify-full&sslrootcert=/ca.pem");
    expect(urlWithSecret("postgres://h/app", { engine: "postgres", username: "u", password: "x" }, arn)).toBe("postgres://u:x@h/app");
  });

  it("refuses a secret of another engine than the URL's, an engine drstack does not back up, and a MySQL secret naming no database", () => {
    expect(() => urlWithSecret("postgres://h/app", { engine: "mysql", username: "u" }, arn)).toThrow(/--database-url \/ DATABASE_URL is a postgres:\/\/ URL but the secret .* is for a mysql database. Make the URL's scheme the database's engine \(mysql:\/\/\)/);
    expect(() => urlWithSecret(undefined, { engine: "sqlserver-ex" }, arn)).toThrow(/is for engine "sqlserver-ex"; drstack backs up postgres, mysql and mariadb/);
    expect(() => urlWithSecret(undefined, { engine: "mysql", host: "h" }, arn)).toThrow(/names no dbname and --database-url \/ DATABASE_URL is unset: set --database-url \/ DATABASE_URL to mysql:\/\/h:3306\/<database>/);
    expect(() => urlWithSecret("sqlite://x", { engine: "mysql" }, arn)).toThrow(/must start with postgres:\/\//);
  });
});
