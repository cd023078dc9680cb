import * as pulumi from "@pulumi/pulumi";
import { configValueToString, PROJECT_NAME, readConfigSchema } from "./configSchema";
import { DATA_CLASS_NAMES, DATA_CLASSES, DataClassPolicy } from "./dataClasses";
import { maxNamePrefixLength } from "./naming";
import { ObjectivesEnforcement, OBJECTIVES_ENFORCEMENT_MODES } from "./objectives";
import { isSiteName, peerOf, roleOf, SiteName, SiteRole, SITES } from "./roles";
import { BACKUP_IMAGE_MARIADB_MAJOR, BACKUP_IMAGE_PG_DUMP_MAJOR, releaseSeriesNewer } from "./backupContract";
import { checkEngineVersion, DATABASE_ENGINES, DatabaseEngine, ENGINE_PROFILES, NO_PERFORMANCE_INSIGHTS_CLASSES, performanceInsightsSupported } from "./engines";
import { BackupDatabase, parseBackupDatabases } from "./backupTargets";
import { checkRecoveryPoint, PITR_LOG_UPLOAD_MINUTES, RecoveryPoint } from "./pointInTimeRecovery";
import { checkScheduleExpression, longestScheduleGapMinutes } from "./scheduleExpression";
import { generationsConsistent } from "./sitePlan";
import { isTierName, TIER_NAMES, tierKeyStem, TierName, TierObjectives } from "./tiers";
import { ReplicaSettings } from "./workloadReplicas";

export const OBJECT_LOCK_MODES = ["GOVERNANCE", "COMPLIANCE", "NONE"] as const;
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];
/** A data class's own lock mode; empty means the bucket default (`objectLockMode` for `objectLockDays`). */
export const CLASS_OBJECT_LOCK_MODES = ["", "GOVERNANCE", "COMPLIANCE"] as const;
export type ClassObjectLockMode = Exclude<(typeof CLASS_OBJECT_LOCK_MODES)[number], "">;

/** What both kinds of site read and validate the same way, once, before any resource exists. */
export interface SharedConfig {
  stack: string;
  site: SiteName;
  activeSite: SiteName;
  role: SiteRole;
  peer: SiteName;
  /** Each site's AWS region, or for a Docker site its location (`primaryLocation`, `secondaryLocation`). */
  regions: Record<SiteName, string>;
  region: string;
  peerRegion: string;
  namePrefix: string;
  appHostname: string;
  endpoints: Record<SiteName, string>;
  peerProvisioned: boolean;
  objectLock: { mode: ObjectLockMode; days: number };
  noncurrentVersionDays: number;
  abortIncompleteUploadDays: number;
  dataClasses: DataClassPolicy[];
  tiers: TierObjectives;
  dns: DnsConfig;
  database: DatabaseConfig;
  backups: BackupSettings;
  /** Whether objectives the mechanisms cannot meet stop the deployment (`error`) or only warn. */
  objectivesEnforcement: ObjectivesEnforcement;
}

/** An AWS site's config: everything `deploySite` needs. */
export interface DrConfig extends SharedConfig {
  siteKind: "aws";
  /** The one IAM role that may change the backups' protection (bucket policy, lock, lifecycle, replication, keys). */
  breakGlassRoleArn: string;
  network: NetworkConfig;
  cache: CacheConfig;
  /** The stack the secondary reads for the writer's ARN while it is standby. */
  primaryStackName: string;
  workloads: WorkloadSettings;
  fencing: FencingSettings;
}

export const DNS_PROVIDERS = ["cloudflare", "route53"] as const;
export type DnsProviderName = (typeof DNS_PROVIDERS)[number];

export interface HealthCheckConfig {
  path: string;
  intervalSeconds: number;
  failureThreshold: number;
}

export interface DnsConfig {
  provider: DnsProviderName;
  ttlSeconds: number;
  cloudflare: { zoneId: string; accountId: string; loadBalancer: boolean };
  route53ZoneId: string;
  healthCheck: HealthCheckConfig;
}

/** One private subnet drstack creates in the cluster's VPC, pinned to an availability zone by its ID. */
export interface DataSubnet {
  cidr: string;
  zoneId: string;
}

export interface NetworkConfig {
  /** The VPC of the site's Kubernetes cluster: the data tier lives in it. */
  clusterVpcId: string;
  /** Groups the cluster's pods carry; the database and cache admit them. */
  clusterSecurityGroupIds: string[];
  /** At least two, in distinct availability zones. */
  dataSubnets: DataSubnet[];
}

export interface DatabaseConfig {
  /** `databaseEngine`: the RDS engine of every instance of the pair (infra/engines.ts). */
  engine: DatabaseEngine;
  instanceClass: string;
  /** `dbEngineVersion`, or the engine's default when unset. */
  engineVersion: string;
  /** Its major version (`16`, `8.4`, `10.11`): the parameter group family's. */
  engineMajor: string;
  allocatedStorageGb: number;
  maxAllocatedStorageGb: number;
  backupRetentionDays: number;
  multiAz: boolean;
  monitoringIntervalSeconds: number;
  performanceInsightsRetentionDays: number;
  /** Each site's current database generation; both stacks must agree (README, Failback). */
  generations: Record<SiteName, number>;
  /** `recoveryPointInTime`: restore this point as a recovery instance beside the writer; undefined: none. */
  recoveryPoint: RecoveryPoint | undefined;
}

export interface CacheConfig {
  nodeType: string;
  replicaCount: number;
}

/** The application on the site's Kubernetes cluster. */
export interface WorkloadSettings {
  /** The site's own cluster; a secret from the moment it is read. */
  kubeconfig: pulumi.Output<string>;
  namespace: string;
  /** Digest of the application image, which must exist in the site's own ECR repository. */
  appImageDigest: string;
  replicas: ReplicaSettings;
  containerPort: number;
  /** Path of the liveness and readiness probes. */
  healthPath: string;
  /** The database the application connects to on the site's database instance. */
  databaseName: string;
  /** Requests and limits of every application container. */
  resources: ContainerResources;
  /** Numeric user and group the containers run as. */
  runAsUser: number;
  readOnlyRootFilesystem: boolean;
}

export interface ContainerResources {
  cpuRequest: string;
  cpuLimit: string;
  memoryRequest: string;
  memoryLimit: string;
}

/** The scheduled backup and verification functions and their alarms. */
export interface BackupSettings {
  databases: BackupDatabase[];
  /** Digest of the backup job image, which must exist in the site's own ECR repository. */
  imageDigest: string;
  /** Backup schedule (EventBridge Scheduler expression) of each tier. */
  schedules: Record<TierName, string>;
  verifySchedule: string;
  alarmEmails: string[];
  drills: DrillSettings;
}

/** The size of each drill task (config: drillCpu, drillMemoryGib, drillScratchStorageGib, drillTimeoutMinutes). */
export interface DrillTaskSize {
  /** vCPUs: 1, 2, 4, 8 or 16. */
  cpu: number;
  memoryGib: number;
  /** The task's ephemeral storage, which holds the scratch cluster the drill restores into. */
  scratchStorageGib: number;
  /** The whole run's limit: DRILL_DEADLINE_SECONDS in the task. */
  timeoutMinutes: number;
}

/** The scheduled restore drills (infra/drills.ts). */
export interface DrillSettings {
  /** Drill schedule of each tier. */
  schedules: Record<TierName, string>;
  /** The longest wait between two drills of each tier: the drill-age alarm's threshold, less its grace. */
  gapMinutes: Record<TierName, number>;
  /** Database name to the SQL its drill runs on the restored copy. */
  smokeQueries: Record<string, string>;
  task: DrillTaskSize;
}

const DAY_MINUTES = 24 * 60;

/** Fargate's ephemeral storage per task (Amazon ECS API Reference, EphemeralStorage: 21 to 200 GiB). */
export const FARGATE_EPHEMERAL_STORAGE_GIB = { min: 21, max: 200 } as const;
/**
 * The task sizes Fargate accepts from 1 vCPU up, memory in GiB (Amazon ECS
 * Developer Guide, "Task CPU and memory"): the range and its step per vCPU
 * count. Below 1 vCPU a restore of any size takes too long to measure RTO.
 */
export const FARGATE_MEMORY_GIB: Record<number, { min: number; max: number; step: number }> = {
  1: { min: 2, max: 8, step: 1 },
  2: { min: 4, max: 16, step: 1 },
  4: { min: 8, max: 30, step: 1 },
  8: { min: 16, max: 60, step: 4 },
  16: { min: 32, max: 120, step: 8 },
};
/** The drill's whole-run limit, in minutes: long enough to start a task, short enough that a hung drill is noticed the same day. */
export const DRILL_TIMEOUT_MINUTES = { min: 30, max: 1440 } as const;

/** The fencing guard of each site (infra/fencing.ts). */
export interface FencingSettings {
  /** EventBridge Scheduler expression of the guard's runs. */
  guardSchedule: string;
  /** The longest wait between two runs: the window in which a returning region runs unfenced. */
  guardIntervalMinutes: number;
}

/** The longest guard interval accepted: it bounds how long a returning region runs its stale state unfenced. */
export const MAX_GUARD_INTERVAL_MINUTES = 15;

/** Config values as Pulumi hands them to a program: strings, keyed without the project namespace. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

export interface ConfigProblem {
  key: string;
  value: string | undefined;
  problem: string;
  fix: string;
}

/**
 * Thrown before any resource is declared. It has no field named `stack`: that
 * would shadow `Error.stack`, and Pulumi's Node.js language host prints
 * `util.inspect(error)` for an ordinary error, which then shows the fields
 * instead of this message. It is a `RunError`, which the host prints as its
 * message alone, without a stack trace.
 */
export class ConfigError extends pulumi.RunError {
  constructor(
    readonly stackName: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      [
        `drstack configuration of stack "${stackName}" is invalid; nothing was deployed:`,
        ...problems.map(
          (p) => `  - ${p.key}${p.value === undefined ? "" : ` = ${JSON.stringify(p.value)}`}: ${p.problem}. Fix: ${p.fix}`,
        ),
      ].join("\n"),
    );
    this.name = "ConfigError";
  }
}

const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/;
const HOSTNAME_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const NAME_PREFIX_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** A content digest as ECR reports it: an image is named by its content, never by a tag that can move. */
const IMAGE_DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** An RFC 1123 label, what Kubernetes accepts as a namespace name. */
const NAMESPACE_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** An IAM role ARN, path included (aws:PrincipalArn carries the path), in any partition. */
const IAM_ROLE_ARN_PATTERN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
export const EXAMPLE_BREAK_GLASS_ROLE_ARN = "arn:aws:iam::123456789012:role/drstack-break-glass";

/** Collects every problem instead of stopping at the first, so one run shows them all. */
export class ConfigReader {
  readonly problems: ConfigProblem[] = [];

  constructor(
    private readonly raw: RawConfig,
    readonly stack: string,
  ) {}

  get stackName(): string {
    return this.stack;
  }

  setCommand(key: string, value: string): string {
    return `pulumi -s ${this.stack} config set ${key} ${value}`;
  }

  report(key: string, problem: string, fix: string): void {
    this.problems.push({ key, value: this.raw[key], problem, fix });
  }

  /** A problem with a secret key: the message never repeats its value. */
  reportSecret(key: string, problem: string, fix: string): void {
    this.problems.push({ key, value: undefined, problem, fix });
  }

  string(key: string): string {
    return (this.raw[key] ?? "").trim();
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.string(key);
    if ((allowed as readonly string[]).includes(value)) {
      return value as T;
    }
    this.report(
      key,
      `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
      this.setCommand(key, allowed[0]),
    );
    return fallback;
  }

  isWholeNumber(key: string): boolean {
    return /^-?\d+$/.test(this.string(key));
  }

  integer(key: string, minimum: number, fix?: string): number {
    const value = this.string(key);
    if (!/^-?\d+$/.test(value)) {
      this.report(key, "must be a whole number", fix ?? this.setCommand(key, String(Math.max(minimum, 1))));
      return minimum;
    }
    const parsed = Number(value);
    if (parsed < minimum) {
      this.report(key, `must be at least ${minimum}`, fix ?? this.setCommand(key, String(minimum)));
    }
    return parsed;
  }

  /** A whole number in [minimum, maximum]. */
  between(key: string, minimum: number, maximum: number, fix?: string): number {
    const parsed = this.integer(key, minimum, fix);
    if (/^-?\d+$/.test(this.string(key)) && parsed > maximum) {
      this.report(key, `must be at most ${maximum}`, fix ?? this.setCommand(key, String(maximum)));
    }
    return parsed;
  }

  /** A whole number from a fixed set. */
  oneOfNumbers(key: string, allowed: readonly number[], why: string): number {
    const value = this.string(key);
    if (/^\d+$/.test(value) && allowed.includes(Number(value))) {
      return Number(value);
    }
    this.report(key, `must be one of ${allowed.join(", ")} (${why})`, this.setCommand(key, String(allowed[allowed.length - 1])));
    return allowed[allowed.length - 1];
  }

  /** A JSON list of strings, as Pulumi hands an `array` key to a program. */
  stringList(key: string, example: string): string[] {
    const value = this.string(key);
    try {
      const parsed = JSON.parse(value === "" ? "[]" : value) as unknown;
      if (Array.isArray(parsed) && parsed.every((item) => typeof item === "string")) {
        return parsed as string[];
      }
    } catch {
      // reported below
    }
    this.report(key, "must be a JSON list of strings", `pulumi -s ${this.stack} config set --path '${key}[0]' ${example}`);
    return [];
  }

  boolean(key: string): boolean {
    const value = this.string(key);
    if (value === "true" || value === "false") {
      return value === "true";
    }
    this.report(key, "must be true or false", this.setCommand(key, "true"));
    return true;
  }

  schedule(key: string, example: string): string {
    const value = this.string(key);
    const check = checkScheduleExpression(value);
    if (!check.ok) {
      this.report(key, `is not an EventBridge Scheduler expression: ${check.problem}`, this.setCommand(key, `'${example}'`));
    }
    return value;
  }

  matching(key: string, pattern: RegExp, what: string, example: string): string {
    const value = this.string(key).toLowerCase();
    if (!pattern.test(value)) {
      this.report(key, `is not ${what}`, this.setCommand(key, example));
    }
    return value;
  }
}

/** The kinds of site (`siteKind`): an AWS region, or a Docker host in the team's own data centre (infra/docker/). */
export const SITE_KINDS = ["aws", "docker"] as const;
export type SiteKind = (typeof SITE_KINDS)[number];

/** Where a site runs, by kind: the config keys naming each site's location and the rule they follow. */
export interface SiteLocationRule {
  keys: Record<SiteName, string>;
  pattern: RegExp;
  what: string;
  examples: Record<SiteName, string>;
  /** Why two sites must differ, for the message when they do not. */
  distinct: string;
  /** The longest DNS TTL accepted: AWS sites aim for 60 s; a Docker site's plan may allow more, and its objectives judge it. */
  maxDnsTtlSeconds: number;
  /** The longest namePrefix the names derived from it allow, and why. */
  prefixLimit: number;
  prefixLimitReason: string;
}

export const AWS_LOCATIONS: Omit<SiteLocationRule, "prefixLimit" | "prefixLimitReason"> = {
  keys: { primary: "primaryRegion", secondary: "secondaryRegion" },
  maxDnsTtlSeconds: 60,
  pattern: REGION_PATTERN,
  what: "an AWS region name",
  examples: { primary: "us-west-2", secondary: "us-east-1" },
  distinct: "a standby in the same region does not survive the loss of that region",
};

/** What readSharedConfig reads: the shared config but the backup image, which each kind names its own way. */
export type SharedSettings = Omit<SharedConfig, "backups"> & { backups: Omit<BackupSettings, "imageDigest"> };

/**
 * Everything both kinds of site read the same way, in the same words: the
 * sites and their roles, names, endpoints, retention, objectives, DNS, the
 * database's engine and generations, and the backup schedules.
 */
export function readSharedConfig(reader: ConfigReader, stack: string, now: Date, locations: (regions: Record<SiteName, string>) => SiteLocationRule): SharedSettings {
  const activeSite = reader.oneOf("activeSite", SITES, "primary");
  const siteSetting = reader.string("site");
  let site: SiteName = "primary";
  if (siteSetting === "") {
    if (isSiteName(stack)) {
      site = stack;
    } else {
      reader.report(
        "site",
        `is empty and the stack name "${stack}" is not a site, so drstack cannot tell which site this stack deploys`,
        `${reader.setCommand("site", "primary")} (or secondary), or name the stack after its site`,
      );
    }
  } else if (isSiteName(siteSetting)) {
    site = siteSetting;
  } else {
    reader.report("site", `must be "primary" or "secondary"`, reader.setCommand("site", isSiteName(stack) ? stack : "primary"));
  }

  const provisional = locations({ primary: "", secondary: "" });
  const regions: Record<SiteName, string> = {
    primary: reader.matching(provisional.keys.primary, provisional.pattern, provisional.what, provisional.examples.primary),
    secondary: reader.matching(provisional.keys.secondary, provisional.pattern, provisional.what, provisional.examples.secondary),
  };
  const location = locations(regions);
  if (regions.primary === regions.secondary) {
    reader.report(
      location.keys.secondary,
      `equals ${location.keys.primary}; ${location.distinct}`,
      `choose another, e.g. ${reader.setCommand(location.keys.secondary, regions.primary === location.examples.secondary ? location.examples.primary : location.examples.secondary)}, in both stacks`,
    );
  }

  const namePrefix = reader.string("namePrefix");
  const prefixLimit = location.prefixLimit;
  if (!NAME_PREFIX_PATTERN.test(namePrefix) || namePrefix.length > prefixLimit) {
    reader.report(
      "namePrefix",
      `must be 1-${prefixLimit} lowercase letters, digits and inner hyphens, because ${location.prefixLimitReason}`,
      `${reader.setCommand("namePrefix", "acme-shop-dr")} in both stacks`,
    );
  }

  const appHostname = reader.matching("appHostname", HOSTNAME_PATTERN, "a DNS hostname", "app.example.com");
  const endpoints = {} as Record<SiteName, string>;
  for (const name of SITES) {
    const key = `${name}Endpoint`;
    endpoints[name] =
      reader.string(key) === ""
        ? `${name}.${appHostname}`
        : reader.matching(key, HOSTNAME_PATTERN, "a DNS hostname", `${name}.${appHostname}`);
  }
  if (endpoints.primary === endpoints.secondary) {
    reader.report("secondaryEndpoint", "equals primaryEndpoint; DNS could not tell the sites apart", `give each site its own hostname`);
  }

  const peerProvisioned = reader.boolean("peerProvisioned");
  const objectLockMode = reader.oneOf("objectLockMode", OBJECT_LOCK_MODES, "GOVERNANCE");
  const objectLockDays = reader.integer("objectLockDays", 1);
  const noncurrentVersionDays = reader.integer("noncurrentVersionDays", 1);
  const abortIncompleteUploadDays = reader.integer("abortIncompleteUploadDays", 1);

  const tiers = {} as TierObjectives;
  for (const tier of TIER_NAMES) {
    tiers[tier] = {
      rtoMinutes: reader.integer(`${tierKeyStem(tier)}RtoMinutes`, 1),
      rpoMinutes: reader.integer(`${tierKeyStem(tier)}RpoMinutes`, 1),
    };
  }

  const objectivesEnforcement = reader.oneOf("objectivesEnforcement", OBJECTIVES_ENFORCEMENT_MODES, "error");

  const dataClasses: DataClassPolicy[] = DATA_CLASS_NAMES.map((name) => {
    const definition = DATA_CLASSES[name];
    const retentionKey = `${name}RetentionDays`;
    const tierKey = `${name}Tier`;
    const retentionDays = reader.integer(
      retentionKey,
      definition.minimumRetentionDays,
      `${reader.setCommand(retentionKey, String(definition.minimumRetentionDays))} or more (${definition.minimumReason})`,
    );
    // Compared only when both are whole numbers: a value already reported as
    // malformed must not bring a second, wrong complaint.
    if (objectLockMode !== "NONE" && reader.isWholeNumber(retentionKey) && reader.isWholeNumber("objectLockDays") && retentionDays < objectLockDays) {
      reader.report(
        retentionKey,
        `is shorter than objectLockDays (${objectLockDays}); S3 cannot expire locked versions, so the retention would silently stretch`,
        `${reader.setCommand(retentionKey, String(objectLockDays))} or lower objectLockDays`,
      );
    }
    const tierSetting = reader.string(tierKey);
    if (!isTierName(tierSetting)) {
      reader.report(tierKey, `is not a recovery tier; known tiers are ${TIER_NAMES.join(", ")}`, reader.setCommand(tierKey, "critical"));
    }
    const classLockMode = readClassObjectLockMode(reader, name, objectLockMode === "COMPLIANCE");
    return {
      ...definition,
      retentionDays,
      tier: isTierName(tierSetting) ? tierSetting : "critical",
      ...(classLockMode ? { objectLockMode: classLockMode } : {}),
    };
  });

  const dns = readDnsConfig(reader, site, location.maxDnsTtlSeconds);
  const database = readDatabaseConfig(reader, now);
  if (!/^[a-z]/.test(namePrefix)) {
    reader.report(
      "namePrefix",
      "must start with a letter, because RDS instance and ElastiCache group identifiers are derived from it",
      `${reader.setCommand("namePrefix", `a${namePrefix}`)} in both stacks`,
    );
  }
  if (namePrefix.includes("--")) {
    // RDS and ElastiCache identifiers (and final snapshot identifiers) "can't contain two consecutive hyphens".
    reader.report("namePrefix", "must not contain two consecutive hyphens, which RDS and ElastiCache identifiers refuse", `${reader.setCommand("namePrefix", namePrefix.replace(/-{2,}/g, "-"))} in both stacks`);
  }
  const backups = readBackupSettings(reader, tiers);
  const peer = peerOf(site);
  return {
    stack,
    site,
    activeSite,
    role: roleOf(site, activeSite),
    peer,
    regions,
    region: regions[site],
    peerRegion: regions[peer],
    namePrefix,
    appHostname,
    endpoints,
    peerProvisioned,
    objectLock: { mode: objectLockMode, days: objectLockDays },
    noncurrentVersionDays,
    abortIncompleteUploadDays,
    dataClasses,
    tiers,
    dns,
    database,
    backups,
    objectivesEnforcement,
  };
}

/** An AWS site's config (`siteKind: aws`, the default). `now` is the clock a recovery point is checked against (tests pass their own). */
export function parseConfig(raw: RawConfig, stack: string, now: Date = new Date()): DrConfig {
  const reader = new ConfigReader(raw, stack);
  const shared = readSharedConfig(reader, stack, now, (regions) => ({
    ...AWS_LOCATIONS,
    prefixLimit: maxNamePrefixLength([regions.primary, regions.secondary]),
    prefixLimitReason: "bucket, cache, role and function names are derived from it (the ElastiCache replication group ID allows 40 characters)",
  }));
  const breakGlassRoleArn = readBreakGlassRoleArn(reader);
  const network = readNetworkConfig(reader, shared.region);
  const cache: CacheConfig = {
    nodeType: reader.matching("cacheNodeType", /^cache\.[a-z0-9]+\.[a-z0-9]+$/, "an ElastiCache node type", "cache.r7g.large"),
    replicaCount: reader.between("cacheReplicaCount", 0, 5),
  };
  const namePrefix = shared.namePrefix;
  if (/^(aws|ssm)/i.test(namePrefix)) {
    // SSM: "Parameter names can't be prefixed with 'aws' or 'ssm' (case-insensitive)"; the fencing parameters start with it.
    reader.report("namePrefix", 'must not start with "aws" or "ssm", which SSM parameter names (the fencing claims) refuse', `${reader.setCommand("namePrefix", `dr-${namePrefix}`)} in both stacks`);
  }
  const primaryStackName = reader.string("primaryStackName");
  if (primaryStackName !== "" && !/^[\w.-]+\/[\w.-]+\/[\w.-]+$/.test(primaryStackName)) {
    reader.report("primaryStackName", "is not a fully qualified stack name <org>/<project>/<stack>", reader.setCommand("primaryStackName", "acme/drstack/primary"));
  }
  const workloads = readWorkloadSettings(reader, raw);
  const fencing = readFencingSettings(reader);
  const imageDigest = reader.string("backupImageDigest");
  if (!IMAGE_DIGEST_PATTERN.test(imageDigest)) {
    reader.report(
      "backupImageDigest",
      imageDigest === ""
        ? "is not set; it names the backup job image by the digest scripts/publish-backup-image.sh pushed to both regions"
        : "is not an image digest (sha256: and 64 lowercase hex digits)",
      `run scripts/publish-backup-image.sh, then ${reader.setCommand("backupImageDigest", "<the digest it prints>")}`,
    );
  }


  if (reader.problems.length > 0) {
    throw new ConfigError(stack, reader.problems);
  }
  return {
    ...shared,
    backups: { ...shared.backups, imageDigest },
    siteKind: "aws",
    breakGlassRoleArn,
    network,
    cache,
    primaryStackName,
    workloads,
    fencing,
  };
}

/**
 * The break-glass role is required: the bucket and key policies deny every
 * change to the backups' protection to everyone else, so without it nobody
 * could ever change them (and a wrong ARN would lock the account out).
 */
function readBreakGlassRoleArn(reader: ConfigReader): string {
  const value = reader.string("breakGlassRoleArn");
  const fix = `create the role first (README, "Backup storage"), then ${reader.setCommand("breakGlassRoleArn", EXAMPLE_BREAK_GLASS_ROLE_ARN)} with your account and role name, in both stacks`;
  if (value === "") {
    reader.report("breakGlassRoleArn", "is not set; it names the one IAM role that may change the backups' bucket policy, Object Lock, lifecycle, replication and keys", fix);
  } else if (/^arn:aws[\w-]*:sts::\d{12}:assumed-role\//.test(value)) {
    reader.report("breakGlassRoleArn", "is a role session (sts assumed-role), not the role; the policies match the role ARN, arn:aws:iam::<account>:role/<name>", fix);
  } else if (!IAM_ROLE_ARN_PATTERN.test(value)) {
    reader.report("breakGlassRoleArn", "is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<path/><name>)", fix);
  }
  return value;
}

/**
 * A class's own lock mode, applied by the backup job to every object it
 * uploads into the class. A class may only strengthen the bucket default:
 * an explicit GOVERNANCE retention would replace a COMPLIANCE default and
 * weaken it.
 */
function readClassObjectLockMode(reader: ConfigReader, dataClass: string, bucketIsCompliance: boolean): ClassObjectLockMode | undefined {
  const key = `${dataClass}ObjectLockMode`;
  const value = reader.string(key).toUpperCase();
  if (!(CLASS_OBJECT_LOCK_MODES as readonly string[]).includes(value)) {
    reader.report(key, `must be GOVERNANCE, COMPLIANCE or empty (the bucket default, objectLockMode)`, reader.setCommand(key, "COMPLIANCE"));
    return undefined;
  }
  if (value === "GOVERNANCE" && bucketIsCompliance) {
    reader.report(
      key,
      "is GOVERNANCE while objectLockMode is COMPLIANCE; an explicit GOVERNANCE retention replaces the bucket's COMPLIANCE default and would weaken it",
      `${reader.setCommand(key, "COMPLIANCE")}, or \`pulumi -s ${reader.stackName} config set ${key} ""\` for the bucket default`,
    );
  }
  return value === "" ? undefined : (value as ClassObjectLockMode);
}

const CLOUDFLARE_ID = /^[0-9a-f]{32}$/;
const ROUTE53_ZONE_ID = /^Z[A-Z0-9]{1,32}$/;
const HEALTH_CHECK_PATH = /^\/[\x21-\x7e]*$/;

/** DNS keys matter only to the secondary stack, which owns the failover record; the primary ignores them. */
export function readDnsConfig(reader: ConfigReader, site: SiteName, maxTtlSeconds: number): DnsConfig {
  const provider = reader.oneOf("dnsProvider", DNS_PROVIDERS, "cloudflare");
  const ttlSeconds = reader.between(
    "dnsTtlSeconds",
    1,
    maxTtlSeconds,
    `${reader.setCommand("dnsTtlSeconds", "60")}; resolvers keep an answer for its TTL, so a longer TTL delays every failover by that much`,
  );
  if (provider === "cloudflare" && ttlSeconds < 30) {
    reader.report("dnsTtlSeconds", "is below 30, the lowest TTL Cloudflare accepts (60 outside Enterprise plans)", reader.setCommand("dnsTtlSeconds", "60"));
  }
  const loadBalancer = reader.boolean("cloudflareLoadBalancer");
  const zoneId = reader.string("cloudflareZoneId").toLowerCase();
  const accountId = reader.string("cloudflareAccountId").toLowerCase();
  const route53ZoneId = reader.string("route53ZoneId").toUpperCase();
  const ownsDns = site === "secondary";
  if (ownsDns && provider === "cloudflare" && !CLOUDFLARE_ID.test(zoneId)) {
    reader.report(
      "cloudflareZoneId",
      "must be the 32-hex-character id of the zone holding appHostname, because the secondary stack owns the Cloudflare failover record",
      `${reader.setCommand("cloudflareZoneId", "<zone id from the Cloudflare dashboard>")}, or choose route53 with dnsProvider`,
    );
  }
  if (ownsDns && provider === "cloudflare" && loadBalancer && !CLOUDFLARE_ID.test(accountId)) {
    reader.report(
      "cloudflareAccountId",
      "must be the 32-hex-character Cloudflare account id, because the load balancer's monitor and pools belong to an account",
      `${reader.setCommand("cloudflareAccountId", "<account id>")}, or set cloudflareLoadBalancer false`,
    );
  }
  if (ownsDns && provider === "route53" && !ROUTE53_ZONE_ID.test(route53ZoneId)) {
    reader.report(
      "route53ZoneId",
      "must be the id of the Route 53 hosted zone holding appHostname (Z followed by letters and digits), because the secondary stack owns the failover records",
      reader.setCommand("route53ZoneId", "Z0123456789ABCDEFGHIJ"),
    );
  }
  const path = reader.string("healthCheckPath");
  if (!HEALTH_CHECK_PATH.test(path) || path.length > 255) {
    reader.report(
      "healthCheckPath",
      "must be a URL path that starts with `/` (no spaces, at most 255 characters); health checks request it on each site's endpoint",
      reader.setCommand("healthCheckPath", "/api/health/deep"),
    );
  }
  const intervalSeconds =
    provider === "route53"
      ? reader.oneOfNumbers("healthCheckIntervalSeconds", [10, 30], "the intervals Route 53 health checks offer")
      : reader.between("healthCheckIntervalSeconds", 10, 3600);
  const failureThreshold = reader.between("healthCheckFailureThreshold", 1, 10);
  return {
    provider,
    ttlSeconds,
    cloudflare: { zoneId, accountId, loadBalancer },
    route53ZoneId,
    healthCheck: { path, intervalSeconds, failureThreshold },
  };
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
/** An availability zone ID such as usw2-az1 or use1-az4 (local zones: usw2-lax1-az1). */
const ZONE_ID_PATTERN = /^[a-z]{2,}[0-9]+(-[a-z]+[0-9]+[a-z]?)?-az[0-9]+$/;

/** The first and last address of an IPv4 CIDR, or undefined when it is not one. */
export function cidrRange(cidr: string): { first: number; last: number; prefix: number } | undefined {
  const match = IPV4_CIDR.exec(cidr);
  if (!match || match.slice(1, 5).some((octet) => Number(octet) > 255) || Number(match[5]) > 32) {
    return undefined;
  }
  const prefix = Number(match[5]);
  const address = match.slice(1, 5).reduce((value, octet) => value * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) {
    return undefined;
  }
  return { first: address, last: address + size - 1, prefix };
}

/**
 * The zone-ID prefix AWS uses for a region (us-west-2 -> usw2, ap-northeast-1 -> apne1),
 * or undefined for a region whose name does not follow the usual pattern.
 */
export function zoneIdPrefix(region: string): string | undefined {
  const directions: Record<string, string> = { north: "n", south: "s", east: "e", west: "w", central: "c", northeast: "ne", northwest: "nw", southeast: "se", southwest: "sw" };
  const match = /^([a-z]{2})(-gov)?-([a-z]+)-(\d+)$/.exec(region);
  if (!match || directions[match[3]] === undefined) {
    return undefined;
  }
  return `${match[1]}${match[2] ? "g" : ""}${directions[match[3]]}${match[4]}`;
}

function readNetworkConfig(reader: ConfigReader, region: string): NetworkConfig {
  const clusterVpcId = reader.string("clusterVpcId");
  if (!/^vpc-[0-9a-f]{8,17}$/.test(clusterVpcId)) {
    reader.report(
      "clusterVpcId",
      clusterVpcId === ""
        ? "is not set; drstack places the database, cache and backup functions in the VPC of the site's Kubernetes cluster so its pods can reach them"
        : "is not a VPC id (vpc- and 8 or 17 hex digits)",
      `${reader.setCommand("clusterVpcId", "vpc-0123456789abcdef0")} (the VPC of the cluster in kubeconfig: aws eks describe-cluster --name <cluster> --query cluster.resourcesVpcConfig.vpcId)`,
    );
  }
  const clusterSecurityGroupIds = reader.stringList("clusterSecurityGroupIds", "sg-0123456789abcdef0");
  if (clusterSecurityGroupIds.length === 0 || clusterSecurityGroupIds.some((id) => !/^sg-[0-9a-f]{8,17}$/.test(id))) {
    reader.report(
      "clusterSecurityGroupIds",
      "must list the security groups (sg-...) the cluster's pods carry, at least one; the database and cache admit only these and the backup functions",
      `pulumi -s ${reader.stackName} config set --path 'clusterSecurityGroupIds[0]' sg-... (aws eks describe-cluster --name <cluster> --query cluster.resourcesVpcConfig.clusterSecurityGroupId)`,
    );
  }

  const cidrs = reader.stringList("dataSubnetCidrs", "10.10.200.0/24");
  const zoneIds = reader.stringList("dataSubnetZoneIds", "usw2-az1");
  const setPath = (key: string, index: number, example: string) => `pulumi -s ${reader.stackName} config set --path '${key}[${index}]' ${example}`;
  if (cidrs.length < 2) {
    reader.report(
      "dataSubnetCidrs",
      "must list at least two unused IPv4 ranges of clusterVpcId, one per availability zone, so the database and cache survive the loss of a zone",
      `${setPath("dataSubnetCidrs", 0, "10.10.200.0/24")} and ${setPath("dataSubnetCidrs", 1, "10.10.201.0/24")}`,
    );
  }
  const ranges = cidrs.map((cidr) => cidrRange(cidr));
  cidrs.forEach((cidr, index) => {
    const range = ranges[index];
    if (range === undefined || range.prefix < 16 || range.prefix > 28) {
      reader.report("dataSubnetCidrs", `entry ${index} (${JSON.stringify(cidr)}) is not an IPv4 CIDR from /16 to /28 (AWS's subnet sizes) on its own boundary`, setPath("dataSubnetCidrs", index, "10.10.200.0/24"));
    }
  });
  ranges.forEach((range, index) => {
    const overlap = ranges.findIndex((other, j) => j < index && other !== undefined && range !== undefined && other.first <= range.last && range.first <= other.last);
    if (overlap >= 0) {
      reader.report("dataSubnetCidrs", `entries ${overlap} and ${index} overlap; subnets of one VPC cannot`, setPath("dataSubnetCidrs", index, "<a range that overlaps no other>"));
    }
  });
  if (zoneIds.length !== cidrs.length) {
    reader.report(
      "dataSubnetZoneIds",
      `lists ${zoneIds.length} zone IDs for ${cidrs.length} dataSubnetCidrs; each data subnet needs exactly one`,
      `${setPath("dataSubnetZoneIds", 0, `${zoneIdPrefix(region) ?? "usw2"}-az1`)} ... one per dataSubnetCidrs entry (aws ec2 describe-availability-zones --query 'AvailabilityZones[].ZoneId')`,
    );
  }
  const prefix = zoneIdPrefix(region);
  zoneIds.forEach((zoneId, index) => {
    if (!ZONE_ID_PATTERN.test(zoneId)) {
      reader.report("dataSubnetZoneIds", `entry ${index} (${JSON.stringify(zoneId)}) is not an availability zone ID such as ${prefix ?? "usw2"}-az1 (zone IDs, not names like ${region}a, are the same in every account)`, setPath("dataSubnetZoneIds", index, `${prefix ?? "usw2"}-az${index + 1}`));
    } else if (prefix !== undefined && !zoneId.startsWith(`${prefix}-`)) {
      reader.report("dataSubnetZoneIds", `entry ${index} (${zoneId}) is not a zone of this site's region ${region} (its zone IDs start with ${prefix}-)`, setPath("dataSubnetZoneIds", index, `${prefix}-az${index + 1}`));
    }
  });
  if (new Set(zoneIds).size !== zoneIds.length) {
    reader.report("dataSubnetZoneIds", "names a zone twice; the data subnets must be in distinct availability zones to survive the loss of one", `give each entry its own zone: ${setPath("dataSubnetZoneIds", 1, `${prefix ?? "usw2"}-az2`)}`);
  }
  return {
    clusterVpcId,
    clusterSecurityGroupIds,
    dataSubnets: cidrs.map((cidr, index) => ({ cidr, zoneId: zoneIds[index] ?? "" })),
  };
}

const MONITORING_INTERVALS = [1, 5, 10, 15, 30, 60] as const;

export function readDatabaseConfig(reader: ConfigReader, now: Date): DatabaseConfig {
  const allocatedStorageGb = reader.between("dbAllocatedStorageGb", 20, 65536);
  const maxAllocatedStorageGb = reader.between("dbMaxAllocatedStorageGb", 20, 65536);
  if (maxAllocatedStorageGb < allocatedStorageGb) {
    reader.report(
      "dbMaxAllocatedStorageGb",
      `is below dbAllocatedStorageGb (${allocatedStorageGb}); storage autoscaling needs room above the initial size`,
      reader.setCommand("dbMaxAllocatedStorageGb", String(allocatedStorageGb * 5)),
    );
  }
  const performanceInsightsRetentionDays = reader.integer("dbPerformanceInsightsRetentionDays", 7);
  if (performanceInsightsRetentionDays !== 7 && (performanceInsightsRetentionDays % 31 !== 0 || performanceInsightsRetentionDays > 731)) {
    reader.report(
      "dbPerformanceInsightsRetentionDays",
      "must be 7 or a multiple of 31 up to 731, the retentions Performance Insights offers",
      reader.setCommand("dbPerformanceInsightsRetentionDays", "7"),
    );
  }
  const generations = {
    primary: reader.integer("primaryDatabaseGeneration", 1),
    secondary: reader.integer("secondaryDatabaseGeneration", 1),
  };
  if (!generationsConsistent(generations)) {
    reader.report(
      "primaryDatabaseGeneration",
      `(${generations.primary}) must equal secondaryDatabaseGeneration (${generations.secondary}) or be one more; failback raises them one at a time`,
      "set both in both stacks as README, Failback describes",
    );
  }
  const engine = reader.oneOf("databaseEngine", DATABASE_ENGINES, "postgres");
  const profile = ENGINE_PROFILES[engine];
  const engineVersion = reader.string("dbEngineVersion") || profile.defaultVersion;
  const version = checkEngineVersion(engine, engineVersion);
  if (!version.ok) {
    reader.report(
      "dbEngineVersion",
      version.problem,
      `${reader.setCommand("dbEngineVersion", profile.defaultVersion)}, or pulumi -s ${reader.stack} config rm dbEngineVersion for ${profile.label}'s default (${profile.defaultVersion})`,
    );
  }
  const engineMajor = version.ok ? version.major : profile.defaultVersion;
  if (engine === "postgres" && Number.parseInt(engineMajor, 10) > BACKUP_IMAGE_PG_DUMP_MAJOR) {
    // pg_dump refuses a server newer than itself ("aborting because of server version mismatch").
    reader.report(
      "dbEngineVersion",
      `PostgreSQL ${engineMajor} is newer than the backup job's pg_dump ${BACKUP_IMAGE_PG_DUMP_MAJOR}, which refuses to dump a newer server`,
      `${reader.setCommand("dbEngineVersion", String(BACKUP_IMAGE_PG_DUMP_MAJOR))}, or raise postgresql${BACKUP_IMAGE_PG_DUMP_MAJOR} in lambdas/backup-image/Dockerfile and BACKUP_IMAGE_PG_DUMP_MAJOR, then publish the image (scripts/publish-backup-image.sh) first`,
    );
  }
  if (engine === "mariadb" && version.ok && releaseSeriesNewer(engineMajor, BACKUP_IMAGE_MARIADB_MAJOR)) {
    // The drill's scratch server is the image's MariaDB; an older server cannot load a newer one's dumps (collations, column types).
    reader.report(
      "dbEngineVersion",
      `MariaDB ${engineMajor} is newer than the backup job's MariaDB ${BACKUP_IMAGE_MARIADB_MAJOR}, whose drill server cannot load a newer server's dumps`,
      `${reader.setCommand("dbEngineVersion", BACKUP_IMAGE_MARIADB_MAJOR)}, or raise the MariaDB repository (rpm.mariadb.org/${BACKUP_IMAGE_MARIADB_MAJOR}) in lambdas/backup-image/Dockerfile and BACKUP_IMAGE_MARIADB_MAJOR, then publish the image (scripts/publish-backup-image.sh) first`,
    );
  }
  const instanceClass = reader.matching("dbInstanceClass", /^db\.[a-z0-9]+\.[a-z0-9]+$/, "an RDS instance class", "db.r6g.large");
  if (!performanceInsightsSupported(engine, instanceClass)) {
    reader.report(
      "dbInstanceClass",
      `(${instanceClass}) has no Performance Insights with ${profile.label} on RDS (${NO_PERFORMANCE_INSIGHTS_CLASSES.join(", ")} have none), which drstack turns on for every instance`,
      `${reader.setCommand("dbInstanceClass", instanceClass.startsWith("db.t4g.") ? "db.t4g.medium" : "db.t3.medium")} or larger`,
    );
  }
  const backupRetentionDays = reader.between(
    "dbBackupRetentionDays",
    1,
    35,
    `${reader.setCommand("dbBackupRetentionDays", "14")}; RDS keeps 1-35 days, and 0 would turn off automated backups and point-in-time recovery`,
  );
  const recovery = checkRecoveryPoint(reader.string("recoveryPointInTime"), backupRetentionDays, now);
  if (!recovery.ok) {
    reader.report(
      "recoveryPointInTime",
      recovery.problem,
      `${reader.setCommand("recoveryPointInTime", recovery.example)} (UTC) or ${reader.setCommand("recoveryPointInTime", "latest")}; pulumi -s ${reader.stack} config rm recoveryPointInTime for no recovery instance`,
    );
  }
  return {
    engine,
    instanceClass,
    engineVersion,
    engineMajor,
    allocatedStorageGb,
    maxAllocatedStorageGb,
    backupRetentionDays,
    multiAz: reader.boolean("dbMultiAz"),
    monitoringIntervalSeconds: reader.oneOfNumbers("dbMonitoringIntervalSeconds", MONITORING_INTERVALS, "the granularities Enhanced Monitoring offers"),
    performanceInsightsRetentionDays,
    generations,
    recoveryPoint: recovery.ok ? recovery.point : undefined,
  };
}

/** Application replicas per role (webReplicas, workerReplicas and their standby minimums, pilotLight): the same keys for every kind of site. */
export function readReplicaSettings(reader: ConfigReader): ReplicaSettings {
  const full = { web: reader.integer("webReplicas", 1), worker: reader.integer("workerReplicas", 0) };
  const warmMinimum = { web: reader.integer("standbyWebReplicas", 0), worker: reader.integer("standbyWorkerReplicas", 0) };
  for (const tier of ["web", "worker"] as const) {
    if (warmMinimum[tier] > full[tier]) {
      const key = `standby${tier === "web" ? "Web" : "Worker"}Replicas`;
      reader.report(
        key,
        `is more than the full size ${tier}Replicas (${full[tier]}); a standby never runs more than the active site`,
        reader.setCommand(key, String(full[tier])),
      );
    }
  }
  const pilotLight = reader.boolean("pilotLight");
  return { full, warmMinimum, pilotLight };
}

/** The application's web port, health path and database name: the same keys for every kind of site. */
export function readApplicationBasics(reader: ConfigReader): { containerPort: number; healthPath: string; databaseName: string } {
  const containerPort = reader.integer("webContainerPort", 1);
  if (containerPort > 65535) {
    reader.report("webContainerPort", "must be a TCP port, 1-65535", reader.setCommand("webContainerPort", "8080"));
  }
  const healthPath = reader.string("workloadHealthPath");
  if (!/^\/[^\s]*$/.test(healthPath)) {
    reader.report(
      "workloadHealthPath",
      "must be an absolute URL path starting with / and without spaces",
      reader.setCommand("workloadHealthPath", healthPath.startsWith("/") || healthPath === "" ? "/healthz" : `/${healthPath.trim()}`),
    );
  }
  const databaseName = reader.matching("appDatabaseName", /^[a-z_][a-z0-9_]{0,62}$/, "a database name (lowercase letters, digits and underscores, as PostgreSQL, MySQL and MariaDB all accept)", "app");
  return { containerPort, healthPath, databaseName };
}

function readWorkloadSettings(reader: ConfigReader, raw: RawConfig): WorkloadSettings {
  const kubeconfig = raw.kubeconfig ?? "";
  if (kubeconfig.trim() === "") {
    reader.report(
      "kubeconfig",
      "is not set; drstack deploys the application to the site's own Kubernetes cluster and will not guess one from the environment",
      `pulumi -s ${reader.stack} config set --secret kubeconfig < kubeconfig-${reader.stack}.yaml (the cluster in this site's region)`,
    );
  }
  const namespace = reader.matching("workloadNamespace", NAMESPACE_PATTERN, "a Kubernetes namespace name", "shop");

  const appImageDigest = reader.string("appImageDigest");
  if (!IMAGE_DIGEST_PATTERN.test(appImageDigest)) {
    reader.report(
      "appImageDigest",
      appImageDigest === ""
        ? "is not set; it names the application release by the digest CI pushed"
        : "is not an image digest (sha256: and 64 lowercase hex digits)",
      `${reader.setCommand("appImageDigest", "sha256:<digest>")}, with the digest CI printed (aws ecr describe-images --repository-name <namePrefix>/app)`,
    );
  }

  const replicas = readReplicaSettings(reader);
  const { containerPort, healthPath, databaseName } = readApplicationBasics(reader);
  const resources = readContainerResources(reader);
  const runAsUser = reader.between("appRunAsUser", 1, 2147483647);
  const readOnlyRootFilesystem = reader.boolean("appReadOnlyRootFilesystem");

  return {
    kubeconfig: pulumi.secret(kubeconfig),
    namespace,
    appImageDigest,
    replicas,
    containerPort,
    healthPath,
    databaseName,
    resources,
    runAsUser,
    readOnlyRootFilesystem,
  };
}

/** Kubernetes' quantity suffixes (binary and decimal) as multipliers of the base unit. */
const QUANTITY_SUFFIXES: Record<string, number> = {
  "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};

/** The value of a Kubernetes resource quantity (e.g. 250m, 1.5, 512Mi), or undefined when it is not one drstack accepts. */
export function quantityValue(quantity: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity);
  return match ? Number(match[1]) * QUANTITY_SUFFIXES[match[2] ?? ""] : undefined;
}

function readContainerResources(reader: ConfigReader): ContainerResources {
  const read = (key: string, example: string, memory: boolean): { text: string; value?: number } => {
    const text = reader.string(key);
    const value = quantityValue(text);
    // CPU in millicores or cores, memory in bytes with a suffix: "512m" of memory is half a byte.
    if (value === undefined || value <= 0 || (memory && /m$/.test(text))) {
      reader.report(key, `is not a Kubernetes ${memory ? "memory" : "CPU"} quantity such as ${example}`, reader.setCommand(key, example));
      return { text };
    }
    return { text, value };
  };
  const cpuRequest = read("appCpuRequest", "250m", false);
  const cpuLimit = read("appCpuLimit", "1", false);
  const memoryRequest = read("appMemoryRequest", "512Mi", true);
  const memoryLimit = read("appMemoryLimit", "1Gi", true);
  for (const [limitKey, limit, request, requestKey] of [
    ["appCpuLimit", cpuLimit, cpuRequest, "appCpuRequest"],
    ["appMemoryLimit", memoryLimit, memoryRequest, "appMemoryRequest"],
  ] as const) {
    if (limit.value !== undefined && request.value !== undefined && limit.value < request.value) {
      reader.report(limitKey, `is below ${requestKey} (${request.text}); Kubernetes rejects a limit under the request`, reader.setCommand(limitKey, request.text));
    }
  }
  return { cpuRequest: cpuRequest.text, cpuLimit: cpuLimit.text, memoryRequest: memoryRequest.text, memoryLimit: memoryLimit.text };
}

function readBackupSettings(reader: ConfigReader, tiers: TierObjectives): Omit<BackupSettings, "imageDigest"> {
  const parsed = parseBackupDatabases(reader.string("backupDatabases"));
  if (!parsed.ok) {
    reader.report("backupDatabases", parsed.problem, reader.setCommand("backupDatabases", "app:critical,ledger:standard:financial"));
  }

  const schedules = {} as Record<TierName, string>;
  for (const tier of TIER_NAMES) {
    const key = `${tierKeyStem(tier)}BackupSchedule`;
    schedules[tier] = reader.schedule(key, "rate(1 hour)");
    // Every database the dumps cover lives on the site's RDS instance, whose
    // point-in-time recovery (transaction logs every PITR_LOG_UPLOAD_MINUTES)
    // and cross-region replica hold the RPO; the dumps are the long history
    // and the table-level restores. Only an RPO shorter than PITR's must be
    // met by the dumps. A rate, or a cron that fires every day, can be held
    // against it here; a cron that skips days is the operator's to check.
    const check = checkScheduleExpression(schedules[tier]);
    const rpo = tiers[tier].rpoMinutes;
    if (rpo < PITR_LOG_UPLOAD_MINUTES && check.ok && check.intervalMinutes !== undefined && check.intervalMinutes > rpo) {
      reader.report(
        key,
        `leaves up to ${check.intervalMinutes} minutes between backups, longer than the ${tier} tier's RPO of ${rpo} minutes, which point-in-time recovery (transaction logs every ${PITR_LOG_UPLOAD_MINUTES} minutes) cannot meet either, so a corruption could lose more than the RPO allows`,
        reader.setCommand(key, `'rate(${rpo} minute${rpo === 1 ? "" : "s"})'`),
      );
    }
  }
  const verifySchedule = reader.schedule("backupVerifySchedule", "rate(15 minutes)");

  const alarmEmails = reader.stringList("alarmEmails", "oncall@example.com");
  for (const email of alarmEmails) {
    if (!EMAIL_PATTERN.test(email)) {
      reader.report("alarmEmails", `entry ${JSON.stringify(email)} is not an email address`, `pulumi -s ${reader.stack} config set --path 'alarmEmails[0]' oncall@example.com`);
    }
  }

  const databases = parsed.ok ? parsed.databases : [];
  return { databases, schedules, verifySchedule, alarmEmails, drills: readDrillSettings(reader, databases) };
}

function readDrillSettings(reader: ConfigReader, databases: readonly BackupDatabase[]): DrillSettings {
  const schedules = {} as Record<TierName, string>;
  const gapMinutes = {} as Record<TierName, number>;
  for (const tier of TIER_NAMES) {
    const key = `${tierKeyStem(tier)}DrillSchedule`;
    schedules[tier] = reader.schedule(key, "cron(0 4 1 * ? *)");
    const gap = longestScheduleGapMinutes(schedules[tier]);
    if (checkScheduleExpression(schedules[tier]).ok && gap === undefined) {
      reader.report(key, "does not recur for ever (its year field is not *), so nothing bounds how old the last drill may get", reader.setCommand(key, "'cron(0 4 1 * ? *)'"));
    }
    if (gap !== undefined && gap < DAY_MINUTES) {
      // Each drill restores the tier's databases in full (minutes to hours of a Fargate task): more than daily costs much and measures nothing new.
      reader.report(key, `runs the drill every ${gap} minutes; a drill restores every database of the tier in full, so at most one a day is accepted`, reader.setCommand(key, "'cron(0 4 1 * ? *)'"));
    }
    gapMinutes[tier] = gap ?? 0;
  }
  const smokeQueries: Record<string, string> = {};
  const example = "shop=SELECT count(*) > 0 FROM orders";
  for (const entry of reader.stringList("drillSmokeQueries", `'${example}'`)) {
    const match = /^([^=\s]+)=(.*\S.*)$/s.exec(entry.trim());
    if (!match) {
      reader.report("drillSmokeQueries", `entry ${JSON.stringify(entry)} is not database=SQL`, `pulumi -s ${reader.stack} config set --path 'drillSmokeQueries[0]' '${example}'`);
      continue;
    }
    const [, database, sql] = match;
    if (!databases.some((d) => d.name === database)) {
      reader.report("drillSmokeQueries", `names ${JSON.stringify(database)}, which is not in backupDatabases, so no drill runs it`, `use one of ${databases.map((d) => d.name).join(", ") || "the backupDatabases names"}`);
    } else if (smokeQueries[database] !== undefined) {
      reader.report("drillSmokeQueries", `gives ${database} two queries; the drill runs one`, "join them into one query, e.g. SELECT (SELECT ...) AND (SELECT ...)");
    } else {
      smokeQueries[database] = sql.trim();
    }
  }
  const cpuChoices = Object.keys(FARGATE_MEMORY_GIB).map(Number);
  const cpu = reader.oneOfNumbers("drillCpu", cpuChoices, "the vCPUs of a Fargate task");
  const memoryGib = reader.integer("drillMemoryGib", 1);
  const memory = FARGATE_MEMORY_GIB[cpu];
  const cpuGiven = Number(reader.string("drillCpu")) === cpu;
  if (cpuGiven && (memoryGib < memory.min || memoryGib > memory.max || (memoryGib - memory.min) % memory.step !== 0)) {
    reader.report(
      "drillMemoryGib",
      `is ${memoryGib}, which Fargate does not offer with drillCpu ${cpu}: ${memory.min} to ${memory.max} GiB${memory.step > 1 ? ` in steps of ${memory.step}` : ""}`,
      reader.setCommand("drillMemoryGib", String(memory.min)),
    );
  }
  const scratchStorageGib = reader.between("drillScratchStorageGib", FARGATE_EPHEMERAL_STORAGE_GIB.min, FARGATE_EPHEMERAL_STORAGE_GIB.max);
  const timeoutMinutes = reader.between("drillTimeoutMinutes", DRILL_TIMEOUT_MINUTES.min, DRILL_TIMEOUT_MINUTES.max);
  return { schedules, gapMinutes, smokeQueries, task: { cpu, memoryGib, scratchStorageGib, timeoutMinutes } };
}

function readFencingSettings(reader: ConfigReader): FencingSettings {
  const guardSchedule = reader.schedule("fencingGuardSchedule", "rate(1 minute)");
  const check = checkScheduleExpression(guardSchedule);
  if (check.ok && (check.intervalMinutes === undefined || check.intervalMinutes > MAX_GUARD_INTERVAL_MINUTES)) {
    reader.report(
      "fencingGuardSchedule",
      check.intervalMinutes === undefined
        ? "does not run every day, so nothing bounds how long a region that returns by itself runs unfenced"
        : `leaves up to ${check.intervalMinutes} minutes between guard runs; a region that returns by itself runs its stale state (writable database, enabled backups) that long, and at most ${MAX_GUARD_INTERVAL_MINUTES} minutes is accepted`,
      reader.setCommand("fencingGuardSchedule", "'rate(1 minute)'"),
    );
  }
  return { guardSchedule, guardIntervalMinutes: check.ok && check.intervalMinutes !== undefined ? check.intervalMinutes : 1 };
}

/** Rejects `drstack:` keys that Pulumi.yaml does not declare: a typo must not silently fall back to a default. */
export function unknownKeyProblems(presentKeys: readonly string[], declaredKeys: readonly string[], stack: string): ConfigProblem[] {
  return presentKeys
    .filter((key) => !declaredKeys.includes(key))
    .map((key) => {
      const suggestion = declaredKeys.find((declared) => declared.toLowerCase() === key.toLowerCase());
      return {
        key,
        value: undefined,
        problem: "is not a drstack setting",
        fix: suggestion
          ? `did you mean ${suggestion}? pulumi -s ${stack} config rm ${key}`
          : `remove it (pulumi -s ${stack} config rm ${key}); README.md lists every key`,
      };
    });
}

/** Reads the running stack's config, applies Pulumi.yaml defaults and validates everything. */
/** The stack's drstack config as Pulumi hands it over, defaults from Pulumi.yaml filled in; unknown keys refused. */
export function readRawConfig(): { raw: RawConfig; stack: string } {
  const stack = pulumi.getStack();
  const schema = readConfigSchema();
  const namespace = `${PROJECT_NAME}:`;
  const present = Object.keys(pulumi.runtime.allConfig())
    .filter((fullKey) => fullKey.startsWith(namespace))
    .map((fullKey) => fullKey.slice(namespace.length));
  const unknown = unknownKeyProblems(present, schema.map((d) => d.key), stack);
  if (unknown.length > 0) {
    throw new ConfigError(stack, unknown);
  }
  const config = new pulumi.Config(PROJECT_NAME);
  const raw: Record<string, string | undefined> = {};
  for (const declaration of schema) {
    raw[declaration.key] =
      config.get(declaration.key) ?? (declaration.default === undefined ? undefined : configValueToString(declaration.default));
  }
  return { raw, stack };
}

/** An AWS site's config; infra/siteConfig.ts `loadSiteConfig` reads either kind. */
export function loadConfig(): DrConfig {
  const { raw, stack } = readRawConfig();
  return parseConfig(raw, stack);
}
