/**
 * What a failover may change, as data. Flipping `activeSite` changes roles
 * only (DESIGN.md, principle 3): DNS target and priority, the promotion of the
 * standby's database, workload replica counts and schedules. The failover diff
 * test fails on any other difference between a stack evaluated with
 * `activeSite=primary` and with `activeSite=secondary`; README's "What a
 * failover changes" lists the same entries, and a PR-diff tool can read them.
 *
 * Paths are input paths as the provider receives them: `a.b` for a field,
 * `a[*]` for any element of a list, `*` for any single segment.
 */

export interface FailoverAllowance {
  /** Pulumi resource type token. */
  type: string;
  /** Input paths that may change in place on a failover. */
  paths: string[];
  /** Paths that may change in one direction only: `removal` (set to unset) or `addition` (unset to set). */
  directions?: Readonly<Record<string, "removal" | "addition">>;
  /** Why the change is a role change, in one sentence for README. */
  why: string;
}

export const FAILOVER_ALLOW_LIST: readonly FailoverAllowance[] = [
  {
    type: "aws:rds/instance:Instance",
    paths: ["replicateSourceDb", "password", "backupRetentionPeriod", "backupWindow"],
    // RDS promotes a replica in place but can never turn a writer back into one.
    directions: { replicateSourceDb: "removal", password: "addition", backupRetentionPeriod: "addition", backupWindow: "addition" },
    why: "promotion: the standby's replica loses its source and becomes the writer, with its own site's master password and automated backups (which PostgreSQL replicas cannot keep)",
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
    type: "aws:route53/record:Record",
    paths: ["failoverRoutingPolicies[*].type"],
    why: "DNS priority: the active site's record is PRIMARY, the other SECONDARY",
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
];

/**
 * Data stores: a failover must never delete or replace one (principle 3), and
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

/** Whether a failover may change `path` of a resource of `type` in place, from `before` to `after` when given. */
export function failoverMayChange(type: string, path: string, before?: unknown, after?: unknown): boolean {
  return FAILOVER_ALLOW_LIST.some(
    (allowance) =>
      allowance.type === type &&
      allowance.paths.some((allowed) => {
        if (!segmentPattern(allowed).test(path)) {
          return false;
        }
        const direction = allowance.directions?.[allowed];
        if (direction === "removal") {
          return before !== undefined && after === undefined;
        }
        if (direction === "addition") {
          return before === undefined && after !== undefined;
        }
        return true;
      }),
  );
}
