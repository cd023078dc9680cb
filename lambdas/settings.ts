/**
 * Every setting the three commands read, with its CLI flag and environment
 * variable, and the builders that turn them into core options. The CLI and
 * the Lambda handlers both go through here, so a setting means the same
 * thing (and fails with the same sentence) wherever it is given.
 */
import { SecretsManagerClient, GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { BackupOptions, DEFAULT_CONCURRENCY, DEFAULT_DEADLINE_SECONDS, DEFAULT_PART_SIZE, DEFAULT_WRITER } from "./core/backup";
import { engineOfUrl } from "./core/engine";
import { UsageError, errorMessage } from "./core/errors";
import { claimWriterCheck } from "./core/fencingState";
import { BackupTarget, checkDatabaseName, checkSiteName, DataClass, DEFAULT_DATA_CLASS, parseDataClass, parseTargets, parseTier } from "./core/layout";
import { MIN_PART_SIZE } from "./core/multipart";
import { DEFAULT_LOCK_LEASE_SECONDS } from "./core/runLock";
import { DatabaseConnection } from "./core/postgres";
import { DrillOptions } from "./core/drill";
import { RestoreOptions } from "./core/restore";
import { checkSelection, parseSchemaList, parseTableList } from "./core/restoreTables";
import { BucketLocation } from "./core/s3";
import { DEFAULT_REPLICATION_GRACE_SECONDS, VerifyOptions } from "./core/verify";

export type Command = "backup" | "verify" | "restore" | "drill";

export interface SettingSpec {
  flag: string;
  env: string;
  commands: Command[];
  description: string;
  /** boolean: a bare flag (`--clean`); list: a flag that may repeat, joined with commas (the variable takes the comma list). */
  kind?: "boolean" | "list";
}

const ALL: Command[] = ["backup", "verify", "restore", "drill"];
/** What a Lambda run keeps of its function's time for stopping pg_dump, aborting the upload and releasing its lock. */
export const LAMBDA_DEADLINE_MARGIN_SECONDS = 30;

export const SETTINGS = {
  databaseUrl: { flag: "database-url", env: "DATABASE_URL", commands: ["backup"], description: "Database to back up; its scheme names the engine: postgres://user:password@host:5432/dbname, mysql://user:password@host:3306/dbname or mariadb://user:password@host:3306/dbname, TLS as ?sslmode=verify-full&sslrootcert=<CA file> for every engine" },
  databaseSecretArn: { flag: "database-secret-arn", env: "DATABASE_SECRET_ARN", commands: ["backup"], description: "Secrets Manager secret (RDS JSON: engine, username, password, host, port, dbname) filling in what DATABASE_URL leaves out: the credentials, or without DATABASE_URL the whole connection (the engine postgres, mysql or mariadb from the secret)" },
  bucket: { flag: "bucket", env: "BACKUP_BUCKET", commands: ALL, description: "Backup bucket of this site" },
  region: { flag: "region", env: "AWS_REGION", commands: ALL, description: "Region of the bucket (and of CloudWatch/SNS); AWS_DEFAULT_REGION also read; default us-east-1" },
  s3Endpoint: { flag: "s3-endpoint", env: "S3_ENDPOINT", commands: ALL, description: "S3-compatible endpoint such as MinIO (http://host:9000); AWS S3 when unset" },
  accessKeyId: { flag: "access-key-id", env: "S3_ACCESS_KEY_ID", commands: ALL, description: "S3 access key; the AWS default chain (AWS_ACCESS_KEY_ID, Lambda role) when unset" },
  secretAccessKey: { flag: "secret-access-key", env: "S3_SECRET_ACCESS_KEY", commands: ALL, description: "S3 secret key, with --access-key-id" },
  name: { flag: "name", env: "BACKUP_NAME", commands: ["backup", "restore", "drill"], description: "Name of the database in the bucket layout; defaults to the database in DATABASE_URL (required for restore and drill)" },
  tier: { flag: "tier", env: "BACKUP_TIER", commands: ["backup"], description: "Recovery tier: critical, high, standard or low (recorded in the manifest; the data class, not the tier, sets the key prefix)" },
  dataClass: { flag: "data-class", env: "BACKUP_DATA_CLASS", commands: ["backup", "restore", "drill"], description: "Data class, the key prefix and so the retention: db (db/, the database dumps, the default), critical, archive, financial; the same names as the backupDatabases config" },
  slot: { flag: "slot", env: "BACKUP_SLOT", commands: ["backup"], description: "Schedule slot (ISO 8601) this run belongs to; retries of a slot are idempotent. Default: now" },
  partSizeMb: { flag: "part-size-mb", env: "BACKUP_PART_SIZE_MB", commands: ["backup"], description: `Multipart part size in MiB (default ${DEFAULT_PART_SIZE / 1048576})` },
  concurrency: { flag: "concurrency", env: "BACKUP_CONCURRENCY", commands: ["backup"], description: `Parts uploaded in parallel (default ${DEFAULT_CONCURRENCY})` },
  compressLevel: { flag: "compress", env: "BACKUP_COMPRESS_LEVEL", commands: ["backup"], description: "Compression level 0-9: pg_dump -Z (default: pg_dump's), or gzip's for a MySQL/MariaDB dump (default 1)" },
  objectLockMode: { flag: "object-lock-mode", env: "BACKUP_OBJECT_LOCK_MODE", commands: ["backup"], description: "GOVERNANCE or COMPLIANCE: lock the dump and its manifest on upload (needs s3:PutObjectRetention); the bucket's default retention when unset" },
  objectLockDays: { flag: "object-lock-days", env: "BACKUP_OBJECT_LOCK_DAYS", commands: ["backup"], description: "Days the lock set by --object-lock-mode lasts from the run's start (the class's retention)" },
  deadlineSeconds: {
    flag: "deadline-seconds",
    env: "BACKUP_DEADLINE_SECONDS",
    commands: ["backup"],
    description: `Seconds the whole backup may take; then pg_dump is stopped, the upload aborted and the run fails (default ${DEFAULT_DEADLINE_SECONDS}; under Lambda at most the function's timeout less ${LAMBDA_DEADLINE_MARGIN_SECONDS}s)`,
  },
  lockLeaseSeconds: {
    flag: "lock-lease-seconds",
    env: "BACKUP_LOCK_LEASE_SECONDS",
    commands: ["backup"],
    description: `Lease of the run lock that keeps two runs of the same backup apart, renewed while the run lasts: how long a killed run blocks the next one (default ${DEFAULT_LOCK_LEASE_SECONDS})`,
  },
  pgBinDir: { flag: "pg-bin-dir", env: "PG_BIN_DIR", commands: ["backup", "restore", "drill"], description: "Directory with pg_dump, pg_restore and psql (and, for a drill without --scratch-server-url, initdb and postgres); PATH when unset" },
  mysqlBinDir: {
    flag: "mysql-bin-dir",
    env: "MYSQL_BIN_DIR",
    commands: ["backup", "restore", "drill"],
    description:
      "Directory with the MySQL/MariaDB client tools, mysqldump and mysql or mariadb-dump and mariadb (and, for a drill without --scratch-server-url, the server: mysqld, or mariadbd and mariadb-install-db); PATH (and /usr/sbin for servers) when unset",
  },
  targets: { flag: "targets", env: "BACKUP_TARGETS", commands: ["verify"], description: "Protected databases as name:tier[:class], comma separated, e.g. app:critical,ledger:standard:financial" },
  peerBucket: { flag: "peer-bucket", env: "PEER_BUCKET", commands: ["verify"], description: "Peer region's bucket that replication copies into; replication is not checked when unset" },
  peerRegion: { flag: "peer-region", env: "PEER_REGION", commands: ["verify"], description: "Region of the peer bucket (default: --region)" },
  peerS3Endpoint: { flag: "peer-s3-endpoint", env: "PEER_S3_ENDPOINT", commands: ["verify"], description: "S3-compatible endpoint of the peer site" },
  peerAccessKeyId: { flag: "peer-access-key-id", env: "PEER_S3_ACCESS_KEY_ID", commands: ["verify"], description: "Access key for the peer site (default: same credentials as --bucket)" },
  peerSecretAccessKey: { flag: "peer-secret-access-key", env: "PEER_S3_SECRET_ACCESS_KEY", commands: ["verify"], description: "Secret key for the peer site" },
  replicationGraceSeconds: { flag: "replication-grace-seconds", env: "REPLICATION_GRACE_SECONDS", commands: ["verify"], description: `How long a new backup may be missing from the peer (default ${DEFAULT_REPLICATION_GRACE_SECONDS})` },
  complianceClasses: { flag: "compliance-classes", env: "COMPLIANCE_CLASSES", commands: ["verify"], description: "Data classes whose dumps must be COMPLIANCE-locked, as class:retentionDays, comma separated, e.g. financial:2557" },
  shallow: { flag: "shallow", env: "VERIFY_SHALLOW", commands: ["verify"], description: "true: trust S3's stored checksum instead of re-reading and hashing the dump" },
  metricNamespace: { flag: "metric-namespace", env: "METRIC_NAMESPACE", commands: ["verify"], description: "CloudWatch namespace for metrics (e.g. drstack/backups); no metrics when unset" },
  alarmTopicArn: { flag: "alarm-topic-arn", env: "ALARM_TOPIC_ARN", commands: ["verify"], description: "SNS topic notified when a check fails" },
  monitoringEndpoint: { flag: "monitoring-endpoint", env: "MONITORING_ENDPOINT", commands: ["verify"], description: "Endpoint for CloudWatch and SNS (tests use moto); AWS when unset" },
  site: {
    flag: "site",
    env: "SITE",
    commands: ALL,
    description: "This site's name (default primary): backup writes latest-<site>.json and <site> in its keys; verify adds it as the Site metric dimension; readers also look for its pointer",
  },
  epoch: { flag: "epoch", env: "BACKUP_EPOCH", commands: ["backup"], description: "Writer epoch recorded in the manifest and pointer (default 0); readers prefer the highest. Ignored with --claim-parameter" },
  claimParameter: {
    flag: "claim-parameter",
    env: "FENCING_CLAIM_PARAMETER",
    commands: ["backup"],
    description: "SSM parameter holding this site's writer claim (drstack on AWS): the backup runs only if it says writer, and takes site and epoch from it",
  },
  fenceMarkerParameter: { flag: "fence-marker-parameter", env: "FENCE_MARKER_PARAMETER", commands: ["backup"], description: "SSM parameter the fencing guard writes when it fences this site; required with --claim-parameter" },
  guardFunction: { flag: "guard-function", env: "GUARD_FUNCTION", commands: ["backup"], description: "Lambda function of this site's fencing guard, asked for a fresh decision before the dump and before it is completed" },
  manifestKey: { flag: "manifest-key", env: "RESTORE_MANIFEST_KEY", commands: ["restore", "drill"], description: "Manifest of the backup to restore; the latest good backup when unset (and without --before)" },
  before: {
    flag: "before",
    env: "RESTORE_BEFORE",
    commands: ["restore", "drill"],
    description: "Restore the newest backup that ended before this instant (ISO 8601, e.g. 2026-12-02T12:00:00Z), found from the time-ordered keys without a full listing",
  },
  targetDatabaseUrl: {
    flag: "target-database-url",
    env: "RESTORE_DATABASE_URL",
    commands: ["restore"],
    description:
      "Database to restore into, of the backup's engine (postgres://, mysql:// or mariadb://): for a whole-database restore an existing, empty one (MySQL/MariaDB: created when absent); any (e.g. the live one) with --table / --schema",
  },
  table: { flag: "table", env: "RESTORE_TABLES", commands: ["restore"], kind: "list", description: "Restore only this table, schema.table; repeat the flag or give a comma list. With its indexes, constraints, defaults, sequences and triggers" },
  schema: { flag: "schema", env: "RESTORE_SCHEMAS", commands: ["restore"], kind: "list", description: "Restore every table of this schema (and, when the schema is not in the target, its other objects); repeatable, comma list" },
  dataOnly: { flag: "data-only", env: "RESTORE_DATA_ONLY", commands: ["restore"], kind: "boolean", description: "With --table / --schema: load rows into the tables that exist (empty, or emptied with --clean); create nothing" },
  intoSchema: { flag: "into-schema", env: "RESTORE_INTO_SCHEMA", commands: ["restore"], description: "With --table / --schema: restore under this new schema (created; must not exist) beside the live tables, to compare or copy rows back" },
  clean: {
    flag: "clean",
    env: "RESTORE_CLEAN",
    commands: ["restore"],
    kind: "boolean",
    description: "With --table / --schema: replace selected tables that exist and hold rows (DROP TABLE, or TRUNCATE with --data-only; never CASCADE). Without it such tables are refused",
  },
  scratchServerUrl: {
    flag: "scratch-server-url",
    env: "DRILL_SCRATCH_SERVER_URL",
    commands: ["drill"],
    description:
      "Server of the backup's engine the drill creates its scratch database on and removes it from: postgres://user:password@host:5432/postgres (user needs CREATEDB), or mysql:// / mariadb://user:password@host:3306/mysql (user needs CREATE and DROP). Unset: the drill starts its own throwaway server of the backup's engine (initdb and postgres from --pg-bin-dir, or mysqld / mariadbd from --mysql-bin-dir, or PATH) on a unix socket in a temporary directory, and removes it afterwards",
  },
  drillSite: {
    flag: "drill-site",
    env: "DRILL_SITE",
    commands: ["verify"],
    description: "Count only this site's drill reports in DrillAgeSeconds (drstack sets the verifier's own site: the peer's reports replicate into this bucket); every site's when unset",
  },
  smokeQuery: { flag: "smoke-query", env: "DRILL_SMOKE_QUERY", commands: ["drill"], description: "SQL run on the restored copy; the drill fails unless its first column is truthy, e.g. \"SELECT count(*) > 0 FROM orders\"" },
} satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

export function label(key: SettingKey): string {
  return `--${SETTINGS[key].flag} / ${SETTINGS[key].env}`;
}

/** Flags win over environment variables; empty strings count as unset. */
export class Settings {
  constructor(
    private readonly flags: Partial<Record<string, string>>,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get(key: SettingKey): string | undefined {
    const v = this.flags[SETTINGS[key].flag] ?? this.env[SETTINGS[key].env] ?? (key === "region" ? this.env.AWS_DEFAULT_REGION : undefined);
    return v === undefined || v === "" ? undefined : v;
  }

  require(key: SettingKey, example: string): string {
    const v = this.get(key);
    if (v === undefined) throw new UsageError(`Missing ${label(key)}: ${SETTINGS[key].description}. Set it, e.g. ${example}.`);
    return v;
  }

  int(key: SettingKey, fallback: number, min: number, max: number): number {
    const v = this.get(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${label(key)} must be a whole number from ${min} to ${max} (got "${v}").`);
    return n;
  }

  bool(key: SettingKey): boolean {
    const v = this.get(key);
    if (v === undefined) return false;
    if (["1", "true", "yes"].includes(v.toLowerCase())) return true;
    if (["0", "false", "no"].includes(v.toLowerCase())) return false;
    throw new UsageError(`${label(key)} must be true or false (got "${v}").`);
  }
}

function region(s: Settings): string {
  return s.get("region") ?? "us-east-1";
}

function checkEndpoint(value: string | undefined, key: SettingKey): string | undefined {
  if (value === undefined) return undefined;
  if (!/^https?:\/\/[^/\s]+\/?$/.test(value)) throw new UsageError(`${label(key)} must be a URL like http://127.0.0.1:9000 (got "${value}").`);
  return value;
}

function credentials(s: Settings, idKey: SettingKey, secretKey: SettingKey): BucketLocation["credentials"] {
  const id = s.get(idKey);
  const secret = s.get(secretKey);
  if (!id && !secret) return undefined;
  if (!id || !secret) throw new UsageError(`${label(idKey)} and ${label(secretKey)} go together; set both, or neither to use the AWS default credential chain.`);
  return { accessKeyId: id, secretAccessKey: secret };
}

export function bucketLocation(s: Settings): BucketLocation {
  return {
    bucket: s.require("bucket", "--bucket drstack-backups-primary"),
    region: region(s),
    endpoint: checkEndpoint(s.get("s3Endpoint"), "s3Endpoint"),
    credentials: credentials(s, "accessKeyId", "secretAccessKey"),
    label: {
      bucket: label("bucket"),
      endpoint: label("s3Endpoint"),
      credentials: `${label("accessKeyId")} and ${label("secretAccessKey")} (or AWS_ACCESS_KEY_ID / the Lambda role)`,
    },
  };
}

export interface RdsSecret {
  /** RDS writes the instance's engine: postgres, mysql, mariadb. */
  engine?: string;
  username?: string;
  password?: string;
  host?: string;
  port?: number | string;
  dbname?: string;
}

/** DATABASE_URL, completed from the Secrets Manager secret when one is named. */
export async function databaseConnection(s: Settings): Promise<DatabaseConnection> {
  const url = s.get("databaseUrl");
  const arn = s.get("databaseSecretArn");
  if (!url && !arn) {
    throw new UsageError(`Missing ${label("databaseUrl")}: the database to back up, e.g. postgres://backup:secret@db.internal:5432/app or mysql://backup:secret@db.internal:3306/app (or name a secret with ${label("databaseSecretArn")}).`);
  }
  if (!arn) return { url: url!, label: label("databaseUrl") };
  let secret: RdsSecret;
  try {
    const res = await new SecretsManagerClient({ region: region(s) }).send(new GetSecretValueCommand({ SecretId: arn }));
    const text = res.SecretString ?? "";
    secret = text.trim().startsWith("{") ? (JSON.parse(text) as RdsSecret) : { password: text };
  } catch (err) {
    throw new UsageError(`Could not read the database secret ${arn} named by ${label("databaseSecretArn")}: ${errorMessage(err)}. Check the ARN and that this role may call secretsmanager:GetSecretValue on it.`);
  }
  return { url: urlWithSecret(url, secret, arn), label: `${label("databaseUrl")} with secret ${label("databaseSecretArn")}` };
}

const SECRET_ENGINES: Readonly<Record<string, { scheme: string; port: number; database?: string }>> = {
  postgres: { scheme: "postgres", port: 5432, database: "postgres" },
  mysql: { scheme: "mysql", port: 3306 },
  mariadb: { scheme: "mariadb", port: 3306 },
};

/**
 * DATABASE_URL completed from an RDS secret: its credentials; without a URL,
 * the whole connection, of the secret's engine. A secret of another engine
 * than the URL's scheme is refused: it belongs to another database.
 */
export function urlWithSecret(url: string | undefined, secret: RdsSecret, arn: string): string {
  const secretEngine = secret.engine?.toLowerCase();
  const known = secretEngine === undefined ? SECRET_ENGINES.postgres : SECRET_ENGINES[secretEngine];
  if (!known) {
    throw new UsageError(`The database secret ${arn} (${label("databaseSecretArn")}) is for engine "${secret.engine}"; drstack backs up postgres, mysql and mariadb. Name the secret of the database to back up.`);
  }
  if (url) {
    const urlEngine = engineOfUrl(url, label("databaseUrl"));
    if (secretEngine !== undefined && urlEngine !== secretEngine) {
      throw new UsageError(`${label("databaseUrl")} is a ${urlEngine}:// URL but the secret ${arn} (${label("databaseSecretArn")}) is for a ${secretEngine} database. Make the URL's scheme the database's engine (${known.scheme}://), or name that database's secret.`);
    }
  }
  const u = new URL(url ?? `${known.scheme}://localhost/`);
  if (!url) {
    const database = secret.dbname ?? known.database;
    if (!database) throw new UsageError(`The database secret ${arn} (${label("databaseSecretArn")}) names no dbname and ${label("databaseUrl")} is unset: set ${label("databaseUrl")} to ${known.scheme}://${secret.host ?? "host"}:${known.port}/<database>, or add dbname to the secret.`);
    u.hostname = secret.host ?? "localhost";
    u.port = String(secret.port ?? known.port);
    u.pathname = `/${database}`;
  }
  if (secret.username) u.username = encodeURIComponent(secret.username);
  if (secret.password !== undefined) u.password = encodeURIComponent(secret.password);
  return u.toString();

}

const LOCK_MODES = ["GOVERNANCE", "COMPLIANCE"] as const;
/** S3's longest default retention, 100 years: a bound that catches a typo, not a policy. */
const MAX_LOCK_DAYS = 36_500;

function objectLock(s: Settings): BackupOptions["objectLock"] {
  const mode = s.get("objectLockMode");
  const days = s.get("objectLockDays");
  if (mode === undefined && days === undefined) return undefined;
  if (mode === undefined || days === undefined) {
    throw new UsageError(`${label("objectLockMode")} and ${label("objectLockDays")} go together; set both, or neither for the bucket's default retention.`);
  }
  if (!(LOCK_MODES as readonly string[]).includes(mode)) throw new UsageError(`${label("objectLockMode")} must be GOVERNANCE or COMPLIANCE (got "${mode}").`);
  return { mode: mode as (typeof LOCK_MODES)[number], days: s.int("objectLockDays", 1, 1, MAX_LOCK_DAYS) };
}

/** `financial:2557,archive:365`: the classes whose dumps must be COMPLIANCE-locked, and for how long. */
function complianceClasses(s: Settings): VerifyOptions["complianceClasses"] {
  const value = s.get("complianceClasses");
  if (value === undefined) return undefined;
  const classes: Partial<Record<DataClass, number>> = {};
  for (const entry of value.split(",").map((e) => e.trim()).filter(Boolean)) {
    const [name, days, ...rest] = entry.split(":");
    const n = Number(days);
    if (!name || rest.length > 0 || !Number.isInteger(n) || n < 1 || n > MAX_LOCK_DAYS) {
      throw new UsageError(`${label("complianceClasses")}: "${entry}" is not class:retentionDays, e.g. financial:2557.`);
    }
    classes[parseDataClass(name, label("complianceClasses"))] = n;
  }
  return classes;
}

function parseSlot(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new UsageError(`${label("slot")} must be an ISO 8601 time such as 2026-11-23T02:00:00Z (got "${value}").`);
  // Slots are whole seconds: a retry carrying the same scheduled time maps to the same keys.
  t.setUTCMilliseconds(0);
  return t;
}

/**
 * Who writes this backup: from the site's claim (and guard) when a claim
 * parameter is named, else the fixed site and epoch (a host without fencing).
 */
function writerSetting(s: Settings, log?: (message: string) => void): BackupOptions["writer"] {
  const claimParameter = s.get("claimParameter");
  if (claimParameter === undefined) {
    if (s.get("fenceMarkerParameter") !== undefined || s.get("guardFunction") !== undefined) {
      throw new UsageError(`${label("fenceMarkerParameter")} and ${label("guardFunction")} need ${label("claimParameter")}: the claim is what they are checked against.`);
    }
    return {
      site: checkSiteName(s.get("site") ?? DEFAULT_WRITER.site, label("site")),
      epoch: s.int("epoch", DEFAULT_WRITER.epoch, 0, 1_000_000),
    };
  }
  const fenceMarkerParameter = s.require("fenceMarkerParameter", "--fence-marker-parameter /drstack/primary/fencing/fence");
  return claimWriterCheck({ region: region(s), claimParameter, fenceMarkerParameter, guardFunction: s.get("guardFunction"), log });
}

/** The sites whose pointers readers look for beside primary and secondary. */
function readerSites(s: Settings): string[] {
  const site = s.get("site");
  return site === undefined ? [] : [checkSiteName(site, label("site"))];
}

/**
 * The run's deadline: --deadline-seconds from now, and under Lambda never later
 * than the function's own timeout (its remaining time) less the margin.
 */
function deadline(s: Settings, remainingMs?: number): Date {
  const now = Date.now();
  let seconds = s.int("deadlineSeconds", DEFAULT_DEADLINE_SECONDS, 10, 7 * 86400);
  if (remainingMs !== undefined) {
    const lambdaSeconds = Math.floor(remainingMs / 1000) - LAMBDA_DEADLINE_MARGIN_SECONDS;
    if (lambdaSeconds < 1) throw new UsageError(`The function's timeout leaves ${Math.floor(remainingMs / 1000)}s, less than the ${LAMBDA_DEADLINE_MARGIN_SECONDS}s a backup keeps for its clean-up. Raise the function's timeout.`);
    seconds = s.get("deadlineSeconds") === undefined ? lambdaSeconds : Math.min(seconds, lambdaSeconds);
  }
  return new Date(now + seconds * 1000);
}

/** `remainingMs`: under Lambda, the invocation's remaining time (context.getRemainingTimeInMillis()). */
export async function backupOptions(s: Settings, log?: (message: string) => void, remainingMs?: number): Promise<BackupOptions> {
  const tier = parseTier(s.require("tier", "--tier critical"), label("tier"));
  const dataClassValue = s.get("dataClass");
  const name = s.get("name");
  // Validate everything local before anything touches the network.
  const bucket = bucketLocation(s);
  const partSizeMb = s.int("partSizeMb", DEFAULT_PART_SIZE / 1048576, MIN_PART_SIZE / 1048576, 5120);
  const concurrency = s.int("concurrency", DEFAULT_CONCURRENCY, 1, 64);
  const compress = s.get("compressLevel") === undefined ? undefined : s.int("compressLevel", 0, 0, 9);
  const slot = parseSlot(s.get("slot"));
  const lock = objectLock(s);
  const writer = writerSetting(s, log);
  return {
    source: await databaseConnection(s),
    writer,
    target: {
      database: name === undefined ? undefined : checkDatabaseName(name, label("name")),
      tier,
      dataClass: dataClassValue ? parseDataClass(dataClassValue, label("dataClass")) : DEFAULT_DATA_CLASS,
    },
    bucket,
    slot,
    partSize: partSizeMb * 1048576,
    concurrency,
    compressLevel: compress,
    pgBinDir: s.get("pgBinDir"),
    mysqlBinDir: s.get("mysqlBinDir"),
    lockLeaseSeconds: s.int("lockLeaseSeconds", DEFAULT_LOCK_LEASE_SECONDS, 5, 3600),
    deadline: deadline(s, remainingMs),
    ...(lock ? { objectLock: lock } : {}),
  };
}

export function verifyOptions(s: Settings): VerifyOptions {
  const targets = parseTargets(s.require("targets", "--targets app:critical,ledger:standard:financial"), label("targets"));
  const bucket = bucketLocation(s);
  const peerBucket = s.get("peerBucket");
  const peer: BucketLocation | undefined = peerBucket
    ? {
        bucket: peerBucket,
        region: s.get("peerRegion") ?? bucket.region,
        endpoint: checkEndpoint(s.get("peerS3Endpoint"), "peerS3Endpoint"),
        credentials: credentials(s, "peerAccessKeyId", "peerSecretAccessKey") ?? bucket.credentials,
        label: { bucket: label("peerBucket"), endpoint: label("peerS3Endpoint"), credentials: `${label("peerAccessKeyId")} and ${label("peerSecretAccessKey")}` },
      }
    : undefined;
  const namespace = s.get("metricNamespace");
  const topicArn = s.get("alarmTopicArn");
  if (topicArn && !topicArn.startsWith("arn:")) throw new UsageError(`${label("alarmTopicArn")} must be an SNS topic ARN (arn:aws:sns:region:account:name), got "${topicArn}".`);
  const monitoringEndpoint = checkEndpoint(s.get("monitoringEndpoint"), "monitoringEndpoint");
  return {
    targets,
    bucket,
    peer,
    monitoring:
      namespace || topicArn
        ? { region: region(s), endpoint: monitoringEndpoint, namespace: namespace ?? "drstack/backups", topicArn, site: s.get("site") }
        : undefined,
    deep: !s.bool("shallow"),
    complianceClasses: complianceClasses(s),
    replicationGraceSeconds: s.int("replicationGraceSeconds", DEFAULT_REPLICATION_GRACE_SECONDS, 0, 7 * 86400),
    sites: readerSites(s),
    drillSite: s.get("drillSite") === undefined ? undefined : checkSiteName(s.get("drillSite")!, label("drillSite")),
  };
}

function parseInstant(key: SettingKey): (value: string | undefined) => Date | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const t = new Date(value);
    if (Number.isNaN(t.getTime()) || !/\d{4}-\d{2}-\d{2}T/.test(value)) throw new UsageError(`${label(key)} must be an ISO 8601 time such as 2026-12-02T12:00:00Z (got "${value}").`);
    return t;
  };
}

/** The backup to restore: --manifest-key, --before or the latest good one; not two ways at once. */
function backupChoice(s: Settings): { manifestKey?: string; before?: Date } {
  const manifestKey = s.get("manifestKey");
  const before = parseInstant("before")(s.get("before"));
  if (manifestKey !== undefined && before !== undefined) throw new UsageError(`${label("manifestKey")} and ${label("before")} both choose the backup; give one.`);
  return { manifestKey, before };
}

function restoreSelection(s: Settings): RestoreOptions["selection"] {
  const tables = parseTableList(s.get("table"), label("table"));
  const schemas = parseSchemaList(s.get("schema"));
  const selection = { tables, schemas, dataOnly: s.bool("dataOnly"), intoSchema: s.get("intoSchema"), clean: s.bool("clean") };
  if (tables.length === 0 && schemas.length === 0) {
    const needing = (["dataOnly", "intoSchema", "clean"] as const).filter((k) => s.get(k) !== undefined);
    if (needing.length > 0) throw new UsageError(`${needing.map(label).join(", ")} apply to a table or schema restore: name the tables with ${label("table")} or ${label("schema")}.`);
    return undefined;
  }
  checkSelection(selection, { table: label("table"), schema: label("schema"), dataOnly: label("dataOnly"), intoSchema: label("intoSchema") });
  return selection;
}

function sourceDatabase(s: Settings): RestoreOptions["source"] {
  const name = checkDatabaseName(s.require("name", "--name app"), label("name"));
  const dataClassValue = s.get("dataClass");
  return { database: name, dataClass: dataClassValue ? parseDataClass(dataClassValue, label("dataClass")) : DEFAULT_DATA_CLASS };
}

/** A drill's options; without a scratch server the caller starts its own (lambdas/core/scratchPostgres.ts). */
export type DrillSettings = Omit<DrillOptions, "scratchServer"> & { scratchServer?: DrillOptions["scratchServer"] };

export function drillOptions(s: Settings): DrillSettings {
  const source = sourceDatabase(s);
  const smokeQuery = s.get("smokeQuery");
  const scratchServerUrl = s.get("scratchServerUrl");
  return {
    bucket: bucketLocation(s),
    source,
    ...backupChoice(s),
    sites: readerSites(s),
    ...(scratchServerUrl !== undefined ? { scratchServer: { url: scratchServerUrl, label: label("scratchServerUrl") } } : {}),
    ...(smokeQuery !== undefined ? { smokeQuery } : {}),
    site: checkSiteName(s.get("site") ?? DEFAULT_WRITER.site, label("site")),
    pgBinDir: s.get("pgBinDir"),
    mysqlBinDir: s.get("mysqlBinDir"),
  };
}

export function restoreOptions(s: Settings): RestoreOptions {
  const source = sourceDatabase(s);
  const selection = restoreSelection(s);
  return {
    bucket: bucketLocation(s),
    source,
    ...backupChoice(s),
    ...(selection ? { selection } : {}),
    sites: readerSites(s),
    destination: { url: s.require("targetDatabaseUrl", "--target-database-url postgres://postgres:secret@127.0.0.1:5432/app_restore_test (or mysql://root:secret@127.0.0.1:3306/app_restore_test for a MySQL backup)"), label: label("targetDatabaseUrl") },
    pgBinDir: s.get("pgBinDir"),
    mysqlBinDir: s.get("mysqlBinDir"),
  };
}

/** Variables only the drill task reads (infra/backupContract.ts HANDLER_ENV names them too; a unit test holds them equal). */
export const DRILL_HANDLER_ENV = {
  targets: "DRILL_TARGETS",
  smokeQueries: "DRILL_SMOKE_QUERIES",
  /** Seconds the whole drill run may take (the task sets it from drillTimeoutMinutes); unbounded when unset. */
  deadlineSeconds: "DRILL_DEADLINE_SECONDS",
} as const;

export interface DrillHandlerOptions {
  targets: Pick<BackupTarget, "database" | "tier" | "dataClass">[];
  /** Database name to the smoke query run on its restored copy. */
  smokeQueries: Record<string, string>;
  bucket: BucketLocation;
  site: string;
  sites: string[];
  pgBinDir?: string;
  mysqlBinDir?: string;
  /** Where DrillFailed and DrillRestoreSeconds go; none are published when METRIC_NAMESPACE is unset. */
  monitoring?: { region: string; endpoint?: string; namespace: string };
  /** How long the run may take, from DRILL_DEADLINE_SECONDS. */
  deadlineSeconds?: number;
}

/** `DRILL_SMOKE_QUERIES`: a JSON object, database name to SQL, every name one of the drilled databases. */
export function parseSmokeQueries(value: string | undefined, databases: readonly string[]): Record<string, string> {
  const name = DRILL_HANDLER_ENV.smokeQueries;
  if (value === undefined || value.trim() === "") return {};
  const example = `e.g. {"app": "SELECT count(*) > 0 FROM public.orders"}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new UsageError(`${name} is not JSON (${errorMessage(err)}); give an object of database name to SQL, ${example}.`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`${name} must be a JSON object of database name to SQL, ${example} (got ${Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed}).`);
  }
  const queries: Record<string, string> = {};
  for (const [database, sql] of Object.entries(parsed)) {
    if (typeof sql !== "string" || sql.trim() === "") {
      throw new UsageError(`${name}: the smoke query of "${database}" must be a non-empty SQL string (got ${JSON.stringify(sql)}), ${example}.`);
    }
    if (!databases.includes(database)) {
      throw new UsageError(`${name} names "${database}", which is not one of the drilled databases in ${DRILL_HANDLER_ENV.targets} (${databases.join(", ")}); fix the name or drop its query.`);
    }
    queries[database] = sql;
  }
  return queries;
}

/** The drill task's settings: all from the environment, validated before any service is called. */
export function drillHandlerOptions(env: NodeJS.ProcessEnv): DrillHandlerOptions {
  const s = new Settings({}, env);
  const spec = env[DRILL_HANDLER_ENV.targets];
  if (spec === undefined || spec.trim() === "") {
    throw new UsageError(`Missing ${DRILL_HANDLER_ENV.targets}: the databases this drill task drills, as name:tier:class, comma separated, e.g. app:critical:db,ledger:critical:financial.`);
  }
  const targets = parseTargets(spec, DRILL_HANDLER_ENV.targets).map(({ database, tier, dataClass }) => ({ database, tier, dataClass }));
  const smokeQueries = parseSmokeQueries(env[DRILL_HANDLER_ENV.smokeQueries], targets.map((t) => t.database));
  const bucket = bucketLocation(s);
  const namespace = s.get("metricNamespace");
  const endpoint = checkEndpoint(s.get("monitoringEndpoint"), "monitoringEndpoint");
  const deadlineSeconds = parseDeadlineSeconds(env[DRILL_HANDLER_ENV.deadlineSeconds]);
  return {
    targets,
    smokeQueries,
    ...(deadlineSeconds !== undefined ? { deadlineSeconds } : {}),
    bucket,
    site: checkSiteName(s.get("site") ?? DEFAULT_WRITER.site, label("site")),
    sites: readerSites(s),
    pgBinDir: s.get("pgBinDir"),
    mysqlBinDir: s.get("mysqlBinDir"),
    ...(namespace !== undefined ? { monitoring: { region: region(s), endpoint, namespace } } : {}),
  };
}

function parseDeadlineSeconds(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < 60) {
    throw new UsageError(`${DRILL_HANDLER_ENV.deadlineSeconds} must be a whole number of seconds, at least 60 (got "${value}"); unset it for no limit.`);
  }
  return Number(value);
}
