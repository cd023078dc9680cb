import { dataStoreKind } from "./dataStores";
import { replacesResource } from "../infra/failoverAllowList";

/**
 * DR findings: pure rules over (old resource, new resource) pairs. An offline
 * evaluation diff and a `pulumi preview --json` document are both turned into
 * pairs of `{type, name, inputs}` and judged by the same rules, so a reviewer
 * sees the same findings whichever source CI had.
 */

export interface ResourceSnapshot {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  protect?: boolean;
}

export interface ResourcePair {
  old?: ResourceSnapshot;
  new?: ResourceSnapshot;
  /** The engine's verdict when known (preview); offline evaluations leave it undefined and the rules infer it. */
  replaced?: boolean;
}

export const SEVERITIES = ["blocking", "warning"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  severity: Severity;
  /** Which rule raised it, for tests and machines. */
  rule: string;
  type: string;
  name: string;
  message: string;
}

export type FindingRule = (pair: ResourcePair) => Finding[];

/** The type of the pseudo-resource that carries a stack's `drPosture` output into the pairs. */
export const POSTURE_TYPE = "drstack:objectives:Posture";

/** What `pulumi preview` puts where a value is not known until the update runs. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function isKnown(value: unknown): boolean {
  return value !== UNKNOWN;
}

/** Reads a dotted path (`rules.0.expiration.days`) out of inputs. */
export function valueAt(inputs: unknown, path: string): unknown {
  let current: unknown = inputs;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}

function num(value: unknown): number | undefined {
  if (typeof value === "number") {
    return value;
  }
  if (typeof value === "string" && /^\d+$/.test(value)) {
    return Number(value);
  }
  return undefined;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function finding(severity: Severity, rule: string, resource: ResourceSnapshot, message: string): Finding {
  return { severity, rule, type: resource.type, name: resource.name, message };
}

const isType =
  (...types: string[]) =>
  (resource: ResourceSnapshot | undefined): resource is ResourceSnapshot =>
    resource !== undefined && types.includes(resource.type);

/** A number that went up (`raised`) or down (`lowered`); unknown or absent values are never judged. */
function moved(oldValue: unknown, newValue: unknown): "raised" | "lowered" | undefined {
  const before = num(oldValue);
  const after = num(newValue);
  if (before === undefined || after === undefined || !isKnown(newValue)) {
    return undefined;
  }
  return after > before ? "raised" : after < before ? "lowered" : undefined;
}

function turnedOff(oldValue: unknown, newValue: unknown, on: unknown = true): boolean {
  return same(oldValue, on) && isKnown(newValue) && !same(newValue, on);
}

// ---------------------------------------------------------------- data stores

/** Which replacing inputs changed between two snapshots of a data store. */
export function replacingChanges(pair: ResourcePair): string[] {
  if (!pair.old || !pair.new) {
    return [];
  }
  const kind = dataStoreKind(pair.new.type);
  if (!kind) {
    return [];
  }
  return kind.replacedBy.filter((key) => isKnown(pair.new!.inputs[key]) && !same(pair.old!.inputs[key], pair.new!.inputs[key]));
}

export const dataStoreDeleted: FindingRule = ({ old, new: next }) => {
  const kind = old && dataStoreKind(old.type);
  if (!old || next || !kind) {
    return [];
  }
  const guard = old.protect
    ? " It is `protect`ed, so `pulumi up` will refuse and stop; remove the deletion from the change."
    : " Its data would be lost.";
  return [finding("blocking", "data-store-deleted", old, `${kind.label} \`${old.name}\` would be DELETED.${guard}`)];
};

export const dataStoreReplaced: FindingRule = (pair) => {
  const kind = pair.new && dataStoreKind(pair.new.type);
  if (!pair.old || !pair.new || !kind) {
    return [];
  }
  const changed = replacingChanges(pair);
  if (pair.replaced === false || (pair.replaced === undefined && changed.length === 0)) {
    return [];
  }
  const because = changed.length > 0 ? ` because ${changed.map((key) => `\`${key}\``).join(", ")} changed` : "";
  return [
    finding(
      "blocking",
      "data-store-replaced",
      pair.new,
      `${kind.label} \`${pair.new.name}\` would be REPLACED (deleted and re-created)${because}; the data in it does not move to the new one.`,
    ),
  ];
};

/**
 * `databaseEngine` changed under a database: RDS cannot change an instance's
 * engine, so the provider would replace it with an empty one. The preview
 * refuses it (infra/engineGuard.ts) once the instance exists; the diff says
 * why, with the key.
 */
export const databaseEngineChanged: FindingRule = ({ old, new: next }) => {
  if (!old || !next || next.type !== "aws:rds/instance:Instance" || old.inputs.engine === undefined || !isKnown(next.inputs.engine) || same(old.inputs.engine, next.inputs.engine)) {
    return [];
  }
  return [
    finding(
      "blocking",
      "database-engine-changed",
      next,
      `RDS instance \`${next.name}\`: engine ${String(old.inputs.engine)} -> ${String(next.inputs.engine)} (databaseEngine changed). RDS cannot change an instance's engine: ` +
        `this is a replacement by an empty database, which the preview of a deployed site refuses. Set databaseEngine back to ${String(old.inputs.engine)}; a new engine needs a new pair.`,
    ),
  ];
};

export const dataStoreGuardWeakened: FindingRule = ({ old, new: next }) => {
  if (!old || !next) {
    return [];
  }
  const label = dataStoreKind(next.type)?.label ?? next.type;
  const found: Finding[] = [];
  // A Docker volume's lost protection is blocking (dockerVolumeUnprotected).
  if (dataStoreKind(next.type) && next.type !== DOCKER_VOLUME && old.protect === true && next.protect === false) {
    found.push(finding("warning", "protection-removed", next, `${label} \`${next.name}\` is no longer \`protect\`ed: a later change could delete it.`));
  }
  if (turnedOff(old.inputs.deletionProtection, next.inputs.deletionProtection)) {
    found.push(finding("warning", "protection-removed", next, `${label} \`${next.name}\`: deletion protection turned off.`));
  }
  if (same(old.inputs.forceDestroy, false) && same(next.inputs.forceDestroy, true)) {
    found.push(finding("warning", "protection-removed", next, `${label} \`${next.name}\`: \`forceDestroy\` on, so deleting it would delete every backup in it.`));
  }
  if (same(old.inputs.skipFinalSnapshot, false) && same(next.inputs.skipFinalSnapshot, true)) {
    found.push(finding("warning", "protection-removed", next, `${label} \`${next.name}\`: no final snapshot would be taken on deletion.`));
  }
  return found;
};

// ------------------------------------------------------------ Docker sites

const DOCKER_VOLUME = "docker:index/volume:Volume";
const DOCKER_CONTAINER = "docker:index/container:Container";

/**
 * A Docker volume that loses `protect`: on a Docker site the volume is the
 * database (or the backups), and without `protect` the next change that
 * drops or renames it deletes it (retainOnDelete keeps it on the host only
 * while that option stays). Blocking, unlike an AWS data store's warning:
 * the engine has no deletion protection or final snapshot behind it.
 */
export const dockerVolumeUnprotected: FindingRule = ({ old, new: next }) => {
  if (!old || !next || next.type !== DOCKER_VOLUME || old.protect !== true || next.protect !== false) {
    return [];
  }
  return [
    finding(
      "blocking",
      "volume-unprotected",
      next,
      `Docker volume \`${next.name}\` is no longer \`protect\`ed: the next change that drops or renames it deletes the data in it. Keep \`protect: true\` on every database and MinIO volume (infra/docker).`,
    ),
  ];
};

function labelOf(resource: ResourceSnapshot, label: string): unknown {
  return asArray(resource.inputs.labels).map((entry) => (valueAt(entry, "label") === label ? valueAt(entry, "value") : undefined)).find((value) => value !== undefined);
}

/** A Docker site's PostgreSQL container (infra/docker/database.ts labels it with its generation). */
function isDatabaseContainer(resource: ResourceSnapshot): boolean {
  return resource.type === DOCKER_CONTAINER && (labelOf(resource, "drstack.generation") !== undefined || /-database-server$/.test(resource.name));
}

/**
 * A Docker site's database container replaced while its generation stays:
 * the provider replaces a container for any input but restart, memory and
 * CPU (terraform-provider-docker PR #236), and a replaced PostgreSQL stops
 * (a standby loses its stream, a writer its clients) and restarts on the same
 * volume with whatever the new arguments say. Only a generation raise (a
 * rebuild, README, Failback) may replace it, onto a fresh volume.
 */
export const databaseContainerReplaced: FindingRule = (pair) => {
  const { old, new: next } = pair;
  if (!old || !next || !isDatabaseContainer(next)) {
    return [];
  }
  const paths = changedInputs(old.inputs, next.inputs).filter((path) => replacesResource(DOCKER_CONTAINER, path));
  if (pair.replaced === false || (pair.replaced === undefined && paths.length === 0)) {
    return [];
  }
  const generations = [labelOf(old, "drstack.generation"), labelOf(next, "drstack.generation")];
  if (generations[0] !== undefined && isKnown(generations[1]) && generations[1] !== undefined && !same(generations[0], generations[1])) {
    return [];
  }
  const because = paths.length > 0 ? ` because ${paths.map((path) => `\`${path}\``).join(", ")} changed` : "";
  return [
    finding(
      "blocking",
      "database-container-replaced",
      next,
      `Database container \`${next.name}\` would be REPLACED outside a generation change${because}: PostgreSQL stops and restarts with new arguments on the same volume. ` +
        "A flip must never replace it; a rebuild raises the site's database generation (README, Failback).",
    ),
  ];
};

/** Top-level inputs whose values differ (a container's `envs` is one list, changed as a whole). */
function changedInputs(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((key) => isKnown(after[key]) && !same(before[key], after[key])).sort();
}

// ------------------------------------------------------------------ retention

const LIFECYCLE = isType("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2");

function ruleKey(rule: unknown): string {
  const prefix = valueAt(rule, "filter.prefix") ?? valueAt(rule, "prefix") ?? valueAt(rule, "filter.and.prefix");
  return typeof prefix === "string" ? `prefix "${prefix}"` : `rule ${String(valueAt(rule, "id"))}`;
}

function rulesByKey(resource: ResourceSnapshot | undefined): Map<string, unknown> {
  return new Map(asArray(resource?.inputs.rules).map((rule) => [ruleKey(rule), rule]));
}

export const retentionShortened: FindingRule = ({ old, new: next }) => {
  const found: Finding[] = [];
  if (LIFECYCLE(old) && LIFECYCLE(next)) {
    const before = rulesByKey(old);
    for (const [key, rule] of rulesByKey(next)) {
      const previous = before.get(key);
      if (valueAt(rule, "status") !== "Enabled") {
        continue;
      }
      const days = valueAt(rule, "expiration.days");
      const previousDays = previous === undefined || valueAt(previous, "status") !== "Enabled" ? undefined : valueAt(previous, "expiration.days");
      if (num(days) !== undefined && previousDays === undefined) {
        found.push(finding("warning", "retention-shortened", next, `Lifecycle ${key}: objects now expire after ${days} days (they were kept).`));
      }
      if (moved(previousDays, days) === "lowered") {
        found.push(finding("warning", "retention-shortened", next, `Lifecycle ${key}: retention shortened from ${previousDays} to ${days} days.`));
      }
      const noncurrent = valueAt(rule, "noncurrentVersionExpiration.noncurrentDays");
      const previousNoncurrent = previous === undefined ? undefined : valueAt(previous, "noncurrentVersionExpiration.noncurrentDays");
      if (moved(previousNoncurrent, noncurrent) === "lowered") {
        found.push(
          finding("warning", "retention-shortened", next, `Lifecycle ${key}: deleted or overwritten versions now kept ${noncurrent} days instead of ${previousNoncurrent}.`),
        );
      }
    }
  }
  if (!old || !next) {
    return found;
  }
  const numeric: Array<[string, string]> = [
    ["backupRetentionPeriod", "automated backups kept"],
    ["snapshotRetentionLimit", "snapshots kept"],
    ["deletionWindowInDays", "deletion window"],
    ["recoveryWindowInDays", "recovery window after deletion"],
  ];
  for (const [key, what] of numeric) {
    if (moved(old.inputs[key], next.inputs[key]) === "lowered") {
      found.push(finding("warning", "retention-shortened", next, `\`${next.name}\`: ${what} shortened from ${old.inputs[key]} to ${next.inputs[key]} days (\`${key}\`).`));
    }
  }
  if (isType("aws:backup/plan:Plan")(next)) {
    const before = new Map(asArray(old.inputs.rules).map((rule) => [String(valueAt(rule, "ruleName")), rule]));
    for (const rule of asArray(next.inputs.rules)) {
      const name = String(valueAt(rule, "ruleName"));
      const previous = valueAt(before.get(name), "lifecycle.deleteAfter");
      if (moved(previous, valueAt(rule, "lifecycle.deleteAfter")) === "lowered") {
        found.push(
          finding("warning", "retention-shortened", next, `Backup plan rule ${name}: recovery points deleted after ${String(valueAt(rule, "lifecycle.deleteAfter"))} days instead of ${String(previous)}.`),
        );
      }
    }
  }
  return found;
};

// ---------------------------------------------------------------- replication

const REPLICATION = isType("aws:s3/bucketReplicationConfig:BucketReplicationConfig");

export const replicationWeakened: FindingRule = ({ old, new: next }) => {
  if (REPLICATION(old) && !next) {
    return [finding("warning", "replication-removed", old, `S3 replication \`${old.name}\` removed: backups no longer reach the peer region.`)];
  }
  const found: Finding[] = [];
  if (REPLICATION(old) && REPLICATION(next)) {
    const after = rulesByKey(next);
    for (const [key, rule] of rulesByKey(old)) {
      const current = after.get(key);
      if (valueAt(rule, "status") !== "Enabled") {
        continue;
      }
      if (current === undefined) {
        found.push(finding("warning", "replication-removed", next, `Replication ${key} removed: those backups no longer reach the peer region.`));
        continue;
      }
      if (isKnown(valueAt(current, "status")) && valueAt(current, "status") !== "Enabled") {
        found.push(finding("warning", "replication-removed", next, `Replication ${key} disabled.`));
      }
      if (turnedOff(valueAt(rule, "destination.replicationTime.status"), valueAt(current, "destination.replicationTime.status"), "Enabled")) {
        found.push(
          finding("warning", "replication-rtc-dropped", next, `Replication ${key}: S3 Replication Time Control dropped, so replication has no 15-minute bound any more (RPO).`),
        );
      }
      if (turnedOff(valueAt(rule, "destination.metrics.status"), valueAt(current, "destination.metrics.status"), "Enabled")) {
        found.push(finding("warning", "replication-weakened", next, `Replication ${key}: replication metrics dropped; lag can no longer be alarmed on.`));
      }
      if (valueAt(rule, "deleteMarkerReplication.status") === "Disabled" && valueAt(current, "deleteMarkerReplication.status") === "Enabled") {
        found.push(finding("warning", "replication-weakened", next, `Replication ${key}: delete markers now replicate, so a delete in one region hides the backup in both.`));
      }
      if (turnedOff(valueAt(rule, "sourceSelectionCriteria.sseKmsEncryptedObjects.status"), valueAt(current, "sourceSelectionCriteria.sseKmsEncryptedObjects.status"), "Enabled")) {
        found.push(finding("warning", "replication-weakened", next, `Replication ${key}: KMS-encrypted objects (every backup) are no longer replicated.`));
      }
      if (valueAt(rule, "destination.encryptionConfiguration.replicaKmsKeyId") !== undefined && valueAt(current, "destination.encryptionConfiguration.replicaKmsKeyId") === undefined) {
        found.push(finding("warning", "encryption-weakened", next, `Replication ${key}: replicas are no longer re-encrypted with the destination's KMS key.`));
      }
    }
  }
  if (old && next && typeof old.inputs.replicateSourceDb === "string" && old.inputs.replicateSourceDb !== "" && !next.inputs.replicateSourceDb) {
    found.push(finding("warning", "replication-removed", next, `\`${next.name}\` stops replicating from ${old.inputs.replicateSourceDb} (promoted to a standalone writer).`));
  }
  return found;
};

// ------------------------------------------------- encryption and Object Lock

const SSE = isType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2");
const OBJECT_LOCK = isType("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2");
const VERSIONING = isType("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2");
const PUBLIC_ACCESS_BLOCK = isType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");

export const encryptionWeakened: FindingRule = ({ old, new: next }) => {
  const found: Finding[] = [];
  if (SSE(old) && !next) {
    found.push(finding("warning", "encryption-weakened", old, `Default encryption \`${old.name}\` removed.`));
  }
  if (SSE(old) && SSE(next)) {
    const before = valueAt(old.inputs, "rules.0.applyServerSideEncryptionByDefault");
    const after = valueAt(next.inputs, "rules.0.applyServerSideEncryptionByDefault");
    const algorithm = valueAt(after, "sseAlgorithm");
    if (String(valueAt(before, "sseAlgorithm")).startsWith("aws:kms") && isKnown(algorithm) && !String(algorithm).startsWith("aws:kms")) {
      found.push(finding("warning", "encryption-weakened", next, `\`${next.name}\`: default encryption moves from KMS to ${String(algorithm)} (no customer-managed key).`));
    }
    if (valueAt(before, "kmsMasterKeyId") !== undefined && valueAt(after, "kmsMasterKeyId") === undefined) {
      found.push(finding("warning", "encryption-weakened", next, `\`${next.name}\`: the customer-managed key is no longer named (AWS-managed key instead).`));
    }
  }
  if (old && next) {
    for (const [key, what] of [
      ["enableKeyRotation", "key rotation"],
      ["storageEncrypted", "storage encryption"],
      ["atRestEncryptionEnabled", "encryption at rest"],
      ["transitEncryptionEnabled", "encryption in transit"],
    ] as const) {
      if (turnedOff(old.inputs[key], next.inputs[key])) {
        found.push(finding("warning", "encryption-weakened", next, `\`${next.name}\`: ${what} turned off (\`${key}\`).`));
      }
    }
  }
  if (OBJECT_LOCK(old) && !next) {
    found.push(finding("warning", "object-lock-weakened", old, `Object Lock default retention \`${old.name}\` removed: new backups can be deleted at once.`));
  }
  if (OBJECT_LOCK(old) && OBJECT_LOCK(next)) {
    const mode = [valueAt(old.inputs, "rule.defaultRetention.mode"), valueAt(next.inputs, "rule.defaultRetention.mode")];
    if (mode[0] === "COMPLIANCE" && mode[1] === "GOVERNANCE") {
      found.push(finding("warning", "object-lock-weakened", next, `\`${next.name}\`: Object Lock mode COMPLIANCE -> GOVERNANCE (privileged users can now delete locked backups).`));
    }
    const days = [valueAt(old.inputs, "rule.defaultRetention.days"), valueAt(next.inputs, "rule.defaultRetention.days")];
    if (moved(days[0], days[1]) === "lowered") {
      found.push(finding("warning", "object-lock-weakened", next, `\`${next.name}\`: Object Lock retention shortened from ${String(days[0])} to ${String(days[1])} days.`));
    }
  }
  if (isType("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")(old) && next && turnedOff(old.inputs.objectLockEnabled, next.inputs.objectLockEnabled)) {
    found.push(finding("warning", "object-lock-weakened", next, `\`${next.name}\`: Object Lock disabled on the bucket.`));
  }
  if (VERSIONING(old) && (!next || turnedOff(valueAt(old.inputs, "versioningConfiguration.status"), valueAt(next.inputs, "versioningConfiguration.status"), "Enabled"))) {
    found.push(finding("warning", "encryption-weakened", next ?? old, `Versioning \`${old.name}\` no longer enabled: overwritten backups are lost and replication stops.`));
  }
  if (PUBLIC_ACCESS_BLOCK(old) && (!next || ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].some((key) => turnedOff(old.inputs[key], next.inputs[key])))) {
    found.push(finding("warning", "encryption-weakened", next ?? old, `Public access block \`${old.name}\` weakened or removed.`));
  }
  return found;
};

// ----------------------------------------------------------- DNS and health

const DNS_RECORD = isType("aws:route53/record:Record", "cloudflare:index/record:Record", "cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/loadBalancer:LoadBalancer");
const HEALTH_CHECK = isType("aws:route53/healthCheck:HealthCheck", "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor");

export const failoverTimingRaised: FindingRule = ({ old, new: next }) => {
  const found: Finding[] = [];
  if (DNS_RECORD(old) && DNS_RECORD(next) && moved(old.inputs.ttl, next.inputs.ttl) === "raised") {
    found.push(finding("warning", "ttl-raised", next, `\`${next.name}\`: DNS TTL raised from ${String(old.inputs.ttl)} s to ${String(next.inputs.ttl)} s; resolvers keep sending users to a lost site that much longer (RTO).`));
  }
  if (HEALTH_CHECK(old) && !next) {
    found.push(finding("warning", "health-check-removed", old, `Health check \`${old.name}\` removed: failover now waits for a person to notice (RTO).`));
  }
  if (HEALTH_CHECK(old) && HEALTH_CHECK(next)) {
    for (const key of ["requestInterval", "failureThreshold", "interval", "retries", "timeout"]) {
      if (moved(old.inputs[key], next.inputs[key]) === "raised") {
        found.push(
          finding("warning", "health-check-slower", next, `\`${next.name}\`: health check \`${key}\` raised from ${String(old.inputs[key])} to ${String(next.inputs[key])}; an outage is detected later (RTO).`),
        );
      }
    }
  }
  return found;
};

// ----------------------------------------------------------------- objectives

interface PostureTier {
  tier: string;
  status: string;
  objectives: { rtoMinutes: number; rpoMinutes: number };
  achievedRtoMinutes: number;
  achievedRpoMinutes: number | null;
}

function postureTiers(resource: ResourceSnapshot | undefined): Map<string, PostureTier> {
  const tiers = asArray(resource?.inputs.tiers) as PostureTier[];
  return new Map(tiers.map((tier) => [tier.tier, tier]));
}

export const objectivesNoLongerMet: FindingRule = ({ old, new: next }) => {
  if (!next || next.type !== POSTURE_TYPE) {
    return [];
  }
  const found: Finding[] = [];
  const before = postureTiers(old);
  for (const [name, tier] of postureTiers(next)) {
    const previous = before.get(name);
    if (tier.status === "not met" && (previous === undefined || previous.status !== "not met")) {
      const rpo = tier.achievedRpoMinutes === null ? "no bound" : `${tier.achievedRpoMinutes} min`;
      found.push(
        finding(
          "warning",
          "objectives-not-met",
          next,
          `Tier ${name} no longer meets its objectives: RTO ${tier.objectives.rtoMinutes} min (achieves ${tier.achievedRtoMinutes} min), RPO ${tier.objectives.rpoMinutes} min (achieves ${rpo}).`,
        ),
      );
    }
  }
  if (old?.inputs.enforcement === "error" && next.inputs.enforcement === "warn") {
    found.push(finding("warning", "objectives-not-enforced", next, "objectivesEnforcement moves from error to warn: missed objectives no longer stop a deployment."));
  }
  return found;
};

/** Every rule, in the order their findings are listed within a severity. */
export const RULES: readonly FindingRule[] = [
  dataStoreDeleted,
  dataStoreReplaced,
  databaseEngineChanged,
  dataStoreGuardWeakened,
  dockerVolumeUnprotected,
  databaseContainerReplaced,
  retentionShortened,
  replicationWeakened,
  encryptionWeakened,
  failoverTimingRaised,
  objectivesNoLongerMet,
];

/** All findings for a set of pairs, blocking first. */
export function findingsFor(pairs: readonly ResourcePair[], rules: readonly FindingRule[] = RULES): Finding[] {
  const found = pairs.flatMap((pair) => rules.flatMap((rule) => rule(pair)));
  return found
    .map((f, index) => ({ f, index }))
    .sort((a, b) => SEVERITIES.indexOf(a.f.severity) - SEVERITIES.indexOf(b.f.severity) || a.index - b.index)
    .map(({ f }) => f);
}

/** Whether findings reach the `--fail-on` threshold. */
export function failsPolicy(findings: readonly Finding[], failOn: Severity | "never"): boolean {
  if (failOn === "never") {
    return false;
  }
  const threshold = SEVERITIES.indexOf(failOn);
  return findings.some((f) => SEVERITIES.indexOf(f.severity) <= threshold);
}
