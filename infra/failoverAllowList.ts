import { changedEnvNames } from "./containerEnvs";

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
  /**
   * The resource exists in one role only: a flip may remove it (`removal`),
   * declare it (`addition`) or either (a container count that follows the
   * role). Never a data store.
   */
  presence?: "removal" | "addition" | "removal or addition";
  /**
   * The allowed change replaces the resource (`replacesResource`): the
   * provider deletes and re-creates it. Without this, a path whose change
   * replaces the resource is never allowed, even when listed.
   */
  replaces?: true;
  /** For a Docker container's `envs` (one list, set as a whole): the entries, by name, that may change; a change of any other entry is not allowed. */
  envs?: readonly string[];
  /** For a Docker container's `labels`: the labels, by name, that may change; a change of any other label is not allowed. */
  labels?: readonly string[];
  /** Why the change is a role change, in one sentence for README. */
  why: string;
}

const DOCKER_CONTAINER = "docker:index/container:Container";

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
  // Docker sites (infra/docker): a flip changes the claim, the agent's schedule switch and the application's container count.
  {
    type: DOCKER_CONTAINER,
    names: /^(primary|secondary)-storage-claim$/,
    paths: ["envs"],
    envs: ["DRSTACK_WRITER_CLAIM"],
    replaces: true,
    why:
      "writer claim (Docker site): the one-shot claim container writes the site's new role, database mode and writer epoch into its fencing bucket, which both site agents compare; " +
      "it is replaced, as the Docker provider replaces a container for any change but restart policy, memory and CPU",
  },
  {
    type: DOCKER_CONTAINER,
    names: /^(primary|secondary)-agent-container$/,
    paths: ["envs", "labels"],
    envs: ["DRSTACK_BACKUPS_SCHEDULED"],
    labels: ["drstack.writer-epoch"],
    replaces: true,
    why:
      "schedules (Docker site): the site agent runs the scheduled backups only where the writer is (DRSTACK_BACKUPS_SCHEDULED), and changes only once the new claim was written (its drstack.writer-epoch label); the container is replaced, " +
      "as the Docker provider updates only restart policy, memory and CPU in place (terraform-provider-docker PR #236)",
  },
  {
    type: DOCKER_CONTAINER,
    names: /^(primary|secondary)-app-(web|worker)-[0-9]+$/,
    paths: [],
    presence: "removal or addition",
    why: "container counts (Docker site): full size on the active site, the warm minimum on the standby, so a flip starts or removes web and worker containers beyond the standby's count",
  },
];

/**
 * Docker container inputs the provider changes in place (`docker update`:
 * restart policy, memory, CPU; terraform-provider-docker PR #236, which added
 * the container's Update). A change of any other input replaces the container.
 */
export const DOCKER_CONTAINER_IN_PLACE_INPUTS: readonly string[] = ["restart", "maxRetryCount", "memory", "memorySwap", "cpuShares", "cpuSet"];

/**
 * Types a flip never changes, replaces, removes or adds, whatever an allowance
 * says: a Docker site's volumes (its data) and its network (every container's
 * attachment). The provider updates neither in place.
 */
export const NEVER_CHANGED_BY_A_FLIP: readonly string[] = ["docker:index/volume:Volume", "docker:index/network:Network"];

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

/** Whether the labels that differ (by name, in a list of { label, value }) are all ones allowed. */
function onlyAllowedLabels(allowed: readonly string[], before: unknown, after: unknown): boolean {
  const byName = (list: unknown) =>
    new Map((Array.isArray(list) ? list : []).map((entry) => [String((entry as { label?: unknown }).label), JSON.stringify((entry as { value?: unknown }).value)]));
  const was = byName(before);
  const now = byName(after);
  const names = new Set([...was.keys(), ...now.keys()]);
  const changed = [...names].filter((name) => was.get(name) !== now.get(name));
  return changed.length > 0 && changed.every((name) => allowed.includes(name));
}

/**
 * Whether a change of `path` makes the provider replace (delete and
 * re-create) a resource of `type` rather than update it: a Docker container
 * for any input but DOCKER_CONTAINER_IN_PLACE_INPUTS, a Docker volume or
 * network for any input (neither has an update), a data store for its
 * REPLACING_INPUTS. Other types are treated as updated in place.
 */
export function replacesResource(type: string, path: string): boolean {
  const top = path.split(/[.[]/)[0];
  if (type === DOCKER_CONTAINER) {
    return !DOCKER_CONTAINER_IN_PLACE_INPUTS.includes(top);
  }
  if (NEVER_CHANGED_BY_A_FLIP.includes(type)) {
    return true;
  }
  return (REPLACING_INPUTS[type] ?? []).includes(top);
}

/** Whether the env entries that differ are all ones the allowance names. */
function onlyAllowedEnvs(allowance: FailoverAllowance, path: string, before: unknown, after: unknown): boolean {
  if (path === "labels" && allowance.labels !== undefined) {
    return onlyAllowedLabels(allowance.labels, before, after);
  }
  if (allowance.envs === undefined || path !== "envs") {
    return true;
  }
  const changed = changedEnvNames(before, after);
  return changed.length > 0 && changed.every((env) => allowance.envs!.includes(env));
}

/**
 * Whether a failover may change `path` of a resource of `type` (named `name`),
 * from `before` to `after` when given: in place, or by a replacement only
 * where the allowance says `replaces`. An allowance limited to some names
 * never applies when the name is not given.
 */
export function failoverMayChange(type: string, path: string, before?: unknown, after?: unknown, name?: string): boolean {
  if (NEVER_CHANGED_BY_A_FLIP.includes(type)) {
    return false;
  }
  const replaces = replacesResource(type, path);
  return FAILOVER_ALLOW_LIST.some(
    (allowance) =>
      appliesTo(allowance, type, name) &&
      (!replaces || allowance.replaces === true) &&
      allowance.paths.some(
        (allowed) => segmentPattern(allowed).test(path) && followsDirection(allowance.directions?.[allowed], before, after) && onlyAllowedEnvs(allowance, path, before, after),
      ),
  );
}

/** Whether a failover may remove (or add) a whole resource: only one that exists in one role only, never a data store, a volume or a network. */
export function failoverMayRemoveOrAdd(kind: "removal" | "addition", type: string, name: string): boolean {
  return (
    !DATA_STORE_TYPES.includes(type) &&
    !NEVER_CHANGED_BY_A_FLIP.includes(type) &&
    FAILOVER_ALLOW_LIST.some((allowance) => appliesTo(allowance, type, name) && (allowance.presence === kind || allowance.presence === "removal or addition"))
  );
}
