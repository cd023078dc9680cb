import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BACKUP_IMAGE_MARIADB_MAJOR, BACKUP_IMAGE_PG_DUMP_MAJOR, releaseSeriesNewer } from "../../infra/backupContract";
import { MYSQL_FAMILY_MAJORS } from "../../infra/engines";
import { parseConfig } from "../../infra/config";
import { readConfigSchema } from "../../infra/configSchema";
import { EvaluationError } from "../../offline/evaluate";
import { declaredDefaults, problemsOf, schemaFrom } from "./configHelpers";
import { evaluate } from "./evaluations";

const defaults = declaredDefaults;

describe("config validation", () => {
  test("the declared defaults are a valid primary configuration", () => {
    const config = parseConfig(defaults(), "primary");
    expect(config.site).toBe("primary");
    expect(config.role).toBe("active");
    expect(config.regions).toEqual({ primary: "us-west-2", secondary: "us-east-1" });
    expect(config.endpoints.primary).toBe("primary.app.example.com");
  });

  test.each([
    ["activeSite", "tertiary", /activeSite = "tertiary": must be one of "primary", "secondary". Fix: pulumi -s primary config set activeSite primary/],
    ["site", "dr", /site = "dr": must be "primary" or "secondary"/],
    ["primaryRegion", "mars-1", /primaryRegion = "mars-1": is not an AWS region name. Fix: pulumi -s primary config set primaryRegion us-west-2/],
    ["namePrefix", "Acme_Shop", /namePrefix = "Acme_Shop": must be 1-\d+ lowercase letters/],
    ["namePrefix", "a".repeat(40), /namePrefix = "a{40}": must be 1-\d+ lowercase/],
    ["namePrefix", "acme--shop", /namePrefix = "acme--shop": must not contain two consecutive hyphens.*Fix: pulumi -s primary config set namePrefix acme-shop/],
    ["namePrefix", "awsshop", /namePrefix = "awsshop": must not start with "aws" or "ssm"/],
    ["appHostname", "not a host", /appHostname = "not a host": is not a DNS hostname/],
    ["primaryEndpoint", "bad host!", /primaryEndpoint = "bad host!": is not a DNS hostname/],
    ["peerProvisioned", "yes", /peerProvisioned = "yes": must be true or false/],
    ["objectLockMode", "STRICT", /objectLockMode = "STRICT": must be one of "GOVERNANCE", "COMPLIANCE", "NONE"/],
    ["objectLockDays", "0", /objectLockDays = "0": must be at least 1/],
    ["objectLockDays", "thirty", /objectLockDays = "thirty": must be a whole number/],
    ["noncurrentVersionDays", "-1", /noncurrentVersionDays = "-1": must be at least 1/],
    ["abortIncompleteUploadDays", "0", /abortIncompleteUploadDays = "0": must be at least 1/],
    ["tierCriticalRpoMinutes", "0", /tierCriticalRpoMinutes = "0": must be at least 1/],
    ["tierLowRtoMinutes", "1.5", /tierLowRtoMinutes = "1.5": must be a whole number/],
    ["dbEngineVersion", "17", /dbEngineVersion = "17": PostgreSQL 17 is newer than the backup job's pg_dump 16, which refuses to dump a newer server. Fix: pulumi -s primary config set dbEngineVersion 16/],
    ["databaseEngine", "oracle", /databaseEngine = "oracle": must be one of "postgres", "mysql", "mariadb". Fix: pulumi -s primary config set databaseEngine postgres/],
    ["dbTier", "platinum", /dbTier = "platinum": is not a recovery tier; known tiers are critical, high, standard, low/],
    ["financialTier", "", /financialTier = "": is not a recovery tier/],
  ])("%s = %j is rejected with the key, the value and the fix", (key, value, message) => {
    expect(problemsOf({ ...defaults(), [key]: value })).toMatch(message);
  });

  test.each([
    ["dbRetentionDays", "6", 7, "corruption noticed days late"],
    ["criticalRetentionDays", "29", 30, "at least a month"],
    ["archiveRetentionDays", "364", 365, "one-year archive"],
    ["financialRetentionDays", "2556", 2557, "7 years"],
  ])("%s below what its data class needs (%s) is rejected", (key, value, minimum, reason) => {
    const message = problemsOf({ ...defaults(), [key]: value, objectLockDays: "1" });
    expect(message).toContain(`${key} = "${value}": must be at least ${minimum}`);
    expect(message).toContain(reason);
  });

  test("retention shorter than the Object Lock period is rejected unless Object Lock is off", () => {
    const raw = { ...defaults(), dbRetentionDays: "10", objectLockDays: "30" };
    expect(problemsOf(raw)).toMatch(/dbRetentionDays = "10": is shorter than objectLockDays \(30\)/);
    expect(parseConfig({ ...raw, objectLockMode: "NONE" }, "primary").dataClasses[0].retentionDays).toBe(10);
  });

  test("the two regions must differ", () => {
    expect(problemsOf({ ...defaults(), secondaryRegion: "us-west-2" })).toMatch(
      /secondaryRegion = "us-west-2": equals primaryRegion; a standby in the same region does not survive/,
    );
  });

  test("the two endpoints must differ", () => {
    expect(problemsOf({ ...defaults(), primaryEndpoint: "a.example.com", secondaryEndpoint: "a.example.com" })).toMatch(
      /secondaryEndpoint = "a.example.com": equals primaryEndpoint/,
    );
  });

  test("a stack not named after a site must say which site it deploys", () => {
    expect(problemsOf(defaults(), "staging")).toMatch(/site = "": is empty and the stack name "staging" is not a site/);
    expect(parseConfig({ ...declaredDefaults("secondary"), site: "secondary", cloudflareZoneId: "0".repeat(32) }, "staging").site).toBe("secondary");
  });

  test("a malformed retention is reported once, not also against Object Lock", () => {
    const message = problemsOf({ ...defaults(), dbRetentionDays: "thirty" });
    expect(message.split("\n").filter((line) => line.startsWith("  - "))).toEqual([expect.stringMatching(/^  - dbRetentionDays = "thirty": must be a whole number/)]);
  });

  test("every problem is reported at once", () => {
    const message = problemsOf({ ...defaults(), activeSite: "x", dbTier: "y", objectLockDays: "z" });
    expect(message.split("\n").filter((line) => line.startsWith("  - "))).toHaveLength(3);
  });

  test("every declared key has a description and a default", () => {
    for (const declaration of readConfigSchema()) {
      expect(declaration.description.length).toBeGreaterThan(10);
      // A secret cannot be given a default in Pulumi.yaml; each stack sets it, encrypted.
      expect({ key: declaration.key, hasDefault: declaration.default !== undefined }).toEqual({ key: declaration.key, hasDefault: !declaration.secret });
    }
  });
});

describe("config errors stop the program before any resource exists", () => {
  async function failure(overrides: Record<string, string>): Promise<EvaluationError> {
    try {
      await evaluate("secondary", overrides);
    } catch (error) {
      expect(error).toBeInstanceOf(EvaluationError);
      return error as EvaluationError;
    }
    throw new Error("expected the evaluation to fail");
  }

  test("an invalid activeSite declares nothing", async () => {
    const error = await failure({ activeSite: "both" });
    expect(error.message).toMatch(/stack "secondary" is invalid; nothing was deployed/);
    expect(error.message).toMatch(/activeSite = "both"/);
    expect(error.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });

  test("a misspelt key is rejected, not silently replaced by its default", async () => {
    const error = await failure({ activesite: "secondary" });
    expect(error.message).toMatch(/activesite: is not a drstack setting. Fix: did you mean activeSite\? pulumi -s secondary config rm activesite/);
    expect(error.resources.filter((resource) => resource.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });

  test("an unknown key without a near match points at the README", async () => {
    const error = await failure({ replicas: "3" });
    expect(error.message).toMatch(/replicas: is not a drstack setting. Fix: remove it .*README.md lists every key/);
  });
});

describe("Pulumi.yaml schema", () => {
  test("a key without a type is rejected", () => {
    expect(schemaFrom("name: drstack\nconfig:\n  foo:\n    description: something\n")).toThrow(/config key "foo" needs a type/);
  });

  test("a key without a description is rejected", () => {
    expect(schemaFrom("name: drstack\nconfig:\n  foo:\n    type: string\n")).toThrow(/config key "foo" needs a description/);
  });

  test("another project's file is rejected", () => {
    expect(schemaFrom("name: other\n")).toThrow(/declares project "other", expected "drstack"/);
  });
});

describe("databaseEngine and the settings that follow from it", () => {
  test.each([
    ["mysql", "", "8.4"],
    ["mysql", "8.0.39", "8.0"],
    ["mariadb", "", "10.11"],
    ["mariadb", "11.4", "11.4"],
    ["postgres", "", "16"],
  ])("%s with dbEngineVersion %j runs major version %s", (engine, version, major) => {
    const config = parseConfig({ ...defaults(), databaseEngine: engine, dbEngineVersion: version }, "primary");
    expect(config.database).toMatchObject({ engine, engineMajor: major });
  });

  test.each([
    ["mysql", "16", /dbEngineVersion = "16": is not a MySQL version drstack runs: 8.0 or 8.4, or a minor version such as 8.4.3 \(databaseEngine is mysql\)\. Fix: pulumi -s primary config set dbEngineVersion 8.4, or pulumi -s primary config rm dbEngineVersion/],
    ["mariadb", "10.5", /dbEngineVersion = "10.5": is not a MariaDB version drstack runs/],
    ["postgres", "8.4", /dbEngineVersion = "8.4": is not a PostgreSQL version drstack runs/],
  ])("%s with dbEngineVersion %j is rejected with both keys and the fix", (engine, version, message) => {
    expect(problemsOf({ ...defaults(), databaseEngine: engine, dbEngineVersion: version })).toMatch(message);
  });

  test("MySQL and MariaDB on an instance class without Performance Insights are rejected (Amazon RDS User Guide, USER_DatabaseInsights.Engines.html); PostgreSQL's are not", () => {
    expect(problemsOf({ ...defaults(), databaseEngine: "mysql", dbInstanceClass: "db.t4g.micro" })).toMatch(
      /dbInstanceClass = "db.t4g.micro": \(db.t4g.micro\) has no Performance Insights with MySQL on RDS .*Fix: pulumi -s primary config set dbInstanceClass db.t4g.medium or larger/,
    );
    expect(() => parseConfig({ ...defaults(), databaseEngine: "postgres", dbInstanceClass: "db.t4g.micro" }, "primary")).not.toThrow();
  });
});

describe("the backup image's pg_dump and the database engine", () => {
  test("BACKUP_IMAGE_PG_DUMP_MAJOR is the client the Dockerfile installs", () => {
    const dockerfile = readFileSync(join(__dirname, "../../lambdas/backup-image/Dockerfile"), "utf8");
    expect(dockerfile).toMatch(new RegExp(`dnf install -y postgresql${BACKUP_IMAGE_PG_DUMP_MAJOR}\\b`));
    expect(() => parseConfig({ ...defaults(), dbEngineVersion: `${BACKUP_IMAGE_PG_DUMP_MAJOR}.4` }, "primary")).not.toThrow();
  });

  const dockerfile = (): string => readFileSync(join(__dirname, "../../lambdas/backup-image/Dockerfile"), "utf8");

  test("the image installs packages from repositories, not URLs: the Lambda base image's dnf is microdnf, which cannot install from a URL (rpm-software-management/microdnf#106, #140)", () => {
    expect(dockerfile()).not.toMatch(/dnf install -y https?:\/\//);
    expect(dockerfile()).toMatch(/rpm -Uvh https:\/\/dev\.mysql\.com\/get\/mysql84-community-release-el9-1\.noarch\.rpm/);
    expect(dockerfile()).toMatch(/dnf install -y mysql-community-client mysql-community-server/);
  });

  test("the servers are called by absolute path: the Lambda base image's PATH has no /usr/sbin or /usr/libexec", () => {
    expect(dockerfile()).toContain("/usr/sbin/mysqld --version");
    expect(dockerfile()).toContain("/usr/sbin/mariadbd --version");
    expect(dockerfile()).not.toMatch(/&& (mysqld|mariadbd) --version/);
  });

  test("MariaDB comes from MariaDB's own RHEL 9 repository at BACKUP_IMAGE_MARIADB_MAJOR, signed, not Amazon Linux's mariadb105 (10.5, older than every MariaDB drstack accepts; MariaDB's repository docs, mariadb.com/docs MariaDB Package Repository)", () => {
    const file = dockerfile();
    expect(file).not.toMatch(/dnf install[^\n]*mariadb105/);
    expect(file).toContain(`baseurl=https://rpm.mariadb.org/${BACKUP_IMAGE_MARIADB_MAJOR}/rhel/9/$basearch`);
    expect(file).toContain("gpgkey=https://rpm.mariadb.org/RPM-GPG-KEY-MariaDB");
    expect(file).toContain("gpgcheck=1");
    expect(file).toMatch(/dnf install -y MariaDB-client MariaDB-server/);
    for (const major of MYSQL_FAMILY_MAJORS.mariadb) {
      expect(releaseSeriesNewer(major, BACKUP_IMAGE_MARIADB_MAJOR)).toBe(false);
    }
  });

  test("a MariaDB dbEngineVersion newer than the image's MariaDB is refused: its drill server cannot load a newer server's dumps", () => {
    expect(releaseSeriesNewer("11.10", "11.8")).toBe(true);
    expect(releaseSeriesNewer("12.0", "11.8")).toBe(true);
    expect(releaseSeriesNewer("10.11", "11.8")).toBe(false);
    expect(releaseSeriesNewer("11.8", "11.8")).toBe(false);
    expect(() => parseConfig({ ...defaults(), databaseEngine: "mariadb", dbEngineVersion: `${BACKUP_IMAGE_MARIADB_MAJOR}.3` }, "primary")).not.toThrow();
  });
});
