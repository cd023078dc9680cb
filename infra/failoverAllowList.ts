/**
 * What a failover may change, as data. Flipping `activeSite` changes roles
 * only (docs/design.md, rule 3): DNS target and priority, the promotion of the
 * standby's database, workload replica counts and schedules. The failover diff
 * test fails on any other difference between a stack evaluated with
 * `activeSite=primary` and with `activeSite=secondary`; README's "What a
 * failover changes" lists the same entries, and a PR-diff tool can read them.
 *
 * Paths are input paths as the provider receives them: `a.b` for a field,
 * `a[*]` for any element of a list, `*` for any single segment.
 */

/**
 * How an allowed path may change: `removal` (set to unset), `addition` (unset
 * to set), `emptying` (a list's elements removed, the list left empty) or one
 * exact value to another.
 */
export type FailoverDirection = "removal" | "addition" | "emptying" | { from: unknown; to: unknown };

export interface FailoverAllowance {
  /** Pulumi resource type token. */
  type: string;
  /** Only resources whose name matches; every resource of the type when absent. */
  names?: RegExp;
  /** Input paths that may change in place on a failover. */
  paths: string[];
  /** Paths that may change in one direction only. */
  directions?: Readonly<Record<string, FailoverDirection>>;
  /** The resource exists in one role only: a flip may remove it (`removal`) or declare it (`addition`). Never a data store. */
  presence?: "removal" | "addition";
  /** Why the change is a role change, in one sentence for README. */
  why: string;
}

export const FAILOVER_ALLOW_LIST: readonly FailoverAllowance[] = [
  {
    type: "aws:rds/instance:Instance",
    paths: ["replicateSourceDb", "password", "backupRetentionPeriod", "backupWindow", "skipFinalSnapshot", "finalSnapshotIdentifier"],
    // RDS promotes a replica in place but can never turn a writer back into one.
    directions: {
      replicateSourceDb: "removal",
      password: "addition",
      backupRetentionPeriod: "addition",
      backupWindow: "addition",
      skipFinalSnapshot: { from: true, to: false },
      finalSnapshotIdentifier: "addition",
    },
    why:
      "promotion: the standby's replica loses its source and becomes the writer, declaring what a replica may not: " +
      "the pair's master password (the value it already has), automated backups (a PostgreSQL replica has none; MySQL and MariaDB replicas keep theirs, unchanged) and a final snapshot",
  },
  {
    type: "aws:ec2/securityGroup:SecurityGroup",
    names: /-database-sg(-g[0-9]+)?$/,
    paths: ["ingress"],
    directions: { ingress: "emptying" },
    why: "fencing: the former writer's security group (each database generation has its own) stops admitting the application and the backup functions",
  },
  {
    type: "aws:cloudwatch/metricAlarm:MetricAlarm",
    names: /-database-replica-lag$/,
    paths: [],
    presence: "removal",
    why: "promotion: the replica-lag alarm exists only while the site runs a replica",
  },
  {
    type: "cloudflare:index/dnsRecord:DnsRecord",
    paths: ["content", "comment"],
    why: "DNS target: the record points at the active site's endpoint",
  },
  {
    type: "cloudflare:index/loadBalancer:LoadBalancer",
    paths: ["defaultPools[*]", "fallbackPool", "description"],
    why: "DNS priority: the active site's pool comes first and is the fallback",
  },
  {
    // Records are keyed by failover role (infra/dns.ts): their type and set
    // identifier never change, so each is one UPSERT valid on its own.
    type: "aws:route53/record:Record",
    paths: ["records[*]", "healthCheckId"],
    why: "DNS target: the PRIMARY record answers with the active site and carries its health check, the SECONDARY with the other site; types and set identifiers never change",
  },
  {
    type: "kubernetes:apps/v1:Deployment",
    paths: ["spec.replicas"],
    why: "replica counts: full size on the active site, the warm minimum on the standby",
  },
  {
    type: "aws:scheduler/schedule:Schedule",
    paths: ["state"],
    why: "schedules: backups run where the writer is",
  },
  {
    type: "aws:cloudwatch/eventRule:EventRule",
    paths: ["state"],
    why: "schedules: backups run where the writer is",
  },
  {
    type: "aws:ssm/parameter:Parameter",
    paths: ["insecureValue"],
    why: "writer claim: the site's claim names its new role, database mode and writer epoch, which both sites' fencing guards compare",
  },
];

/**
 * Data stores: a failover must never delete or replace one (docs/design.md, rule 3), and
 * each is `protect`ed. The Redis cache is deliberately absent: it holds
 * nothing that cannot be rebuilt, so it is not protected and a deliberate
 * change may recreate it; a failover still leaves it untouched, which the
 * failover diff proves like for every other resource.
 */
export const DATA_STORE_TYPES: readonly string[] = [
  "aws:s3/bucket:Bucket",
  "aws:kms/key:Key",
  "aws:kms/alias:Alias",
  "aws:rds/instance:Instance",
];

/**
 * Inputs of data stores whose change makes the AWS provider replace the
 * resource. No allowance may name one: an allowed change must be in place.
 */
export const REPLACING_INPUTS: Readonly<Record<string, readonly string[]>> = {
  "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix", "objectLockEnabled"],
  "aws:kms/key:Key": ["customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId", "customKeyStoreId"],
  "aws:kms/alias:Alias": ["name", "namePrefix"],
  "aws:rds/instance:Instance": [
    "identifier",
    "identifierPrefix",
    "engine",
    "username",
    "kmsKeyId",
    "storageEncrypted",
    "dbName",
    "availabilityZone",
    "snapshotIdentifier",
    "restoreToPointInTime",
    "characterSetName",
    "timezone",
  ],
};

function segmentPattern(path: string): RegExp {
  const escaped = path
    .split(/(\[\*\]|\*)/)
    .map((part) => (part === "[*]" ? "\\[\\d+\\]" : part === "*" ? "[^.\\[]+" : part.replace(/[.[\]\\^$+?(){}|]/g, "\\$&")))
    .join("");
  // A change below an allowed path (e.g. a field of an allowed object) is allowed too.
  return new RegExp(`^${escaped}(?:$|[.\\[])`);
}

function appliesTo(allowance: FailoverAllowance, type: string, name: string | undefined): boolean {
  return allowance.type === type && (allowance.names === undefined || (name !== undefined && allowance.names.test(name)));
}

function followsDirection(direction: FailoverDirection | undefined, before: unknown, after: unknown): boolean {
  if (direction === undefined) {
    return true;
  }
  if (direction === "removal") {
    return before !== undefined && after === undefined;
  }
  if (direction === "addition") {
    return before === undefined && after !== undefined;
  }
  if (direction === "emptying") {
    return after === undefined || (Array.isArray(after) && after.length === 0);
  }
  return JSON.stringify(before) === JSON.stringify(direction.from) && JSON.stringify(after) === JSON.stringify(direction.to);
}

/** README's words for a direction. */
export function describeDirection(direction: FailoverDirection): string {
  return typeof direction === "string" ? `${direction} only` : `${JSON.stringify(direction.from)} to ${JSON.stringify(direction.to)} only`;
}

/**
 * Whether a failover may change `path` of a resource of `type` (named `name`)
 * in place, from `before` to `after` when given. An allowance limited to some
 * names never applies when the name is not given.
 */
export function failoverMayChange(type: string, path: string, before?: unknown, after?: unknown, name?: string): boolean {
  return FAILOVER_ALLOW_LIST.some(
    (allowance) =>
      appliesTo(allowance, type, name) &&
      allowance.paths.some((allowed) => segmentPattern(allowed).test(path) && followsDirection(allowance.directions?.[allowed], before, after)),
  );
}

/** Whether a failover may remove (or add) a whole resource: only one that exists in one role only, never a data store. */
export function failoverMayRemoveOrAdd(kind: "removal" | "addition", type: string, name: string): boolean {
  return !DATA_STORE_TYPES.includes(type) && FAILOVER_ALLOW_LIST.some((allowance) => appliesTo(allowance, type, name) && allowance.presence === kind);
}
