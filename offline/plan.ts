import type { DrPosture, TierPosture } from "../infra/objectives";
import type { Evaluation, RecordedResource } from "./evaluate";
import { isDataStore } from "./dataStores";
import { valueAt } from "./findings";

/**
 * The offline plan: the resources an evaluation declares, grouped by the
 * concern they serve, with the properties that matter for disaster recovery,
 * and the stack's DR posture.
 */

export const CONCERNS = ["storage", "replication", "dns", "network", "database", "workloads", "backups", "fencing", "alarms", "other"] as const;
export type Concern = (typeof CONCERNS)[number];

export const CONCERN_TITLES: Record<Concern, string> = {
  storage: "Storage",
  replication: "Replication",
  dns: "DNS",
  network: "Network",
  database: "Database",
  workloads: "Workloads",
  backups: "Backups",
  fencing: "Fencing",
  alarms: "Alarms",
  other: "Other",
};

/** Component type areas (`drstack:<area>:Name`) and the concern each belongs to. */
const COMPONENT_AREAS: Record<string, Concern> = {
  storage: "storage",
  replication: "replication",
  dns: "dns",
  network: "network",
  keys: "database",
  images: "workloads",
  database: "database",
  db: "database",
  cache: "database",
  workloads: "workloads",
  kubernetes: "workloads",
  k8s: "workloads",
  compute: "workloads",
  backups: "backups",
  backup: "backups",
  fencing: "fencing",
  alarms: "alarms",
};

/** Resource type prefixes for resources outside a drstack component; the first match wins. */
const TYPE_PREFIXES: Array<[string, Concern]> = [
  ["aws:s3/bucketReplicationConfig:", "replication"],
  ["aws:s3/", "storage"],
  ["aws:kms/", "storage"],
  ["aws:route53/", "dns"],
  ["cloudflare:", "dns"],
  ["aws:ec2/", "network"],
  ["aws:rds/", "database"],
  ["aws:elasticache/", "database"],
  ["aws:secretsmanager/", "database"],
  ["kubernetes:", "workloads"],
  ["aws:ecr/", "workloads"],
  ["docker:", "workloads"],
  ["aws:eks/", "workloads"],
  ["aws:ecs/", "workloads"],
  ["aws:autoscaling/", "workloads"],
  ["aws:backup/", "backups"],
  ["aws:lambda/", "backups"],
  ["aws:scheduler/", "backups"],
  ["aws:cloudwatch/eventRule:", "backups"],
  ["aws:sns/", "alarms"],
  ["aws:cloudwatch/metricAlarm:", "alarms"],
];

interface Located {
  type: string;
  name: string;
  parent?: string;
}

/** The concern of a resource: its nearest drstack component's area, else its type. */
export function concernOf(resource: Located, all: readonly Located[]): Concern {
  const byKey = new Map(all.map((r) => [`${r.type}::${r.name}`, r]));
  let current: Located | undefined = resource;
  const seen = new Set<string>();
  while (current && !seen.has(`${current.type}::${current.name}`)) {
    seen.add(`${current.type}::${current.name}`);
    const match = /^drstack:([a-zA-Z0-9]+):/.exec(current.type);
    if (match && COMPONENT_AREAS[match[1].toLowerCase()]) {
      return COMPONENT_AREAS[match[1].toLowerCase()];
    }
    current = current.parent ? byKey.get(current.parent) : undefined;
  }
  return TYPE_PREFIXES.find(([prefix]) => resource.type.startsWith(prefix))?.[1] ?? "other";
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}

/** The properties a DR reviewer looks at, per resource type. */
export function drProperties(resource: { type: string; inputs: Record<string, unknown> }): string[] {
  const i = resource.inputs;
  const props: string[] = [];
  const add = (label: string, value: unknown) => {
    if (value !== undefined && value !== null && value !== "") {
      props.push(`${label}: ${show(value)}`);
    }
  };
  switch (resource.type) {
    case "aws:s3/bucket:Bucket":
    case "aws:s3/bucketV2:BucketV2":
      add("bucket", i.bucket);
      add("Object Lock enabled", i.objectLockEnabled);
      add("forceDestroy", i.forceDestroy);
      break;
    case "aws:kms/key:Key":
      add("rotation", i.enableKeyRotation);
      add("deletion window (days)", i.deletionWindowInDays);
      break;
    case "aws:kms/alias:Alias":
      add("alias", i.name);
      break;
    case "aws:s3/bucketVersioning:BucketVersioning":
      add("versioning", valueAt(i, "versioningConfiguration.status"));
      break;
    case "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
      add("default encryption", valueAt(i, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"));
      add("bucket key", valueAt(i, "rules.0.bucketKeyEnabled"));
      break;
    case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
      add(
        "public access",
        ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every((k) => i[k] === true) ? "all four blocks on" : "NOT fully blocked",
      );
      break;
    case "aws:s3/bucketOwnershipControls:BucketOwnershipControls":
      add("ownership", valueAt(i, "rule.objectOwnership"));
      break;
    case "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration":
      add("Object Lock", `${show(valueAt(i, "rule.defaultRetention.mode"))} ${show(valueAt(i, "rule.defaultRetention.days"))} days`);
      break;
    case "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
      for (const rule of asArray(i.rules)) {
        const prefix = valueAt(rule, "filter.prefix");
        const days = valueAt(rule, "expiration.days");
        const transitions = asArray(valueAt(rule, "transitions")).map((t) => `${show(valueAt(t, "storageClass"))}@${show(valueAt(t, "days"))}d`);
        const noncurrent = valueAt(rule, "noncurrentVersionExpiration.noncurrentDays");
        const parts = [
          days !== undefined ? `expire ${show(days)}d` : undefined,
          noncurrent !== undefined ? `noncurrent ${show(noncurrent)}d` : undefined,
          transitions.length ? transitions.join(" ") : undefined,
          valueAt(rule, "expiration.expiredObjectDeleteMarker") ? "clean expired delete markers" : undefined,
          valueAt(rule, "abortIncompleteMultipartUpload.daysAfterInitiation") !== undefined
            ? `abort uploads ${show(valueAt(rule, "abortIncompleteMultipartUpload.daysAfterInitiation"))}d`
            : undefined,
        ].filter(Boolean);
        props.push(`${prefix === "" || prefix === undefined ? "(whole bucket)" : show(prefix)}: ${parts.join(", ")}`);
      }
      break;
    case "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
      for (const rule of asArray(i.rules)) {
        const rtc = valueAt(rule, "destination.replicationTime.status") === "Enabled";
        props.push(
          `${show(valueAt(rule, "filter.prefix"))} -> ${show(valueAt(rule, "destination.bucket"))}: ${rtc ? `RTC ${show(valueAt(rule, "destination.replicationTime.time.minutes"))} min` : "no RTC"}, ` +
            `delete markers ${valueAt(rule, "deleteMarkerReplication.status") === "Enabled" ? "replicated" : "not replicated"}, ` +
            `replica key ${valueAt(rule, "destination.encryptionConfiguration.replicaKmsKeyId") ? "destination's" : "none"}`,
        );
      }
      break;
    case "aws:iam/role:Role":
      add("role", i.name);
      break;
    case "aws:route53/record:Record":
      add("record", `${show(i.name)} ${show(i.type)}`);
      add("TTL (s)", i.ttl);
      add("failover", valueAt(i, "failoverRoutingPolicies.0.type"));
      add("health check", i.healthCheckId);
      break;
    case "aws:route53/healthCheck:HealthCheck":
      add("target", i.fqdn);
      add("interval (s)", i.requestInterval);
      add("failure threshold", i.failureThreshold);
      break;
    case "aws:rds/instance:Instance":
    case "aws:rds/cluster:Cluster":
      add("engine", i.engine);
      add("class", i.instanceClass);
      add("multi-AZ", i.multiAz);
      add("replicates from", i.replicateSourceDb);
      add("backup retention (days)", i.backupRetentionPeriod);
      add("deletion protection", i.deletionProtection);
      add("encrypted", i.storageEncrypted);
      break;
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      add("engine", i.engine);
      add("nodes", i.numCacheClusters);
      add("encrypted at rest", i.atRestEncryptionEnabled);
      add("snapshot retention (days)", i.snapshotRetentionLimit);
      break;
    case "aws:scheduler/schedule:Schedule":
    case "aws:cloudwatch/eventRule:EventRule":
      add("schedule", i.scheduleExpression);
      break;
    case "aws:lambda/function:Function":
      add("runtime", i.runtime);
      add("timeout (s)", i.timeout);
      break;
    case "pulumi:providers:aws":
      add("region", i.region);
      break;
    default:
      if (resource.type.startsWith("kubernetes:apps/v1:")) {
        add("replicas", valueAt(i, "spec.replicas"));
      }
  }
  return props;
}

export interface PlannedResource {
  type: string;
  name: string;
  protect: boolean;
  dataStore: boolean;
  properties: string[];
}

export interface Plan {
  stack: string;
  site: unknown;
  role: unknown;
  region: unknown;
  activeSite: unknown;
  concerns: Record<Concern, PlannedResource[]>;
  posture?: DrPosture;
  warnings: string[];
  /** The raw evaluation (resources with inputs, outputs), so `drstack diff --base` can compare plans. */
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
}

export function buildPlan(evaluation: Evaluation): Plan {
  const concerns = Object.fromEntries(CONCERNS.map((c) => [c, [] as PlannedResource[]])) as Record<Concern, PlannedResource[]>;
  for (const resource of evaluation.resources) {
    if (!resource.custom || resource.type.startsWith("pulumi:pulumi:")) {
      continue;
    }
    concerns[concernOf(resource, evaluation.resources)].push({
      type: resource.type,
      name: resource.name,
      protect: resource.protect,
      dataStore: isDataStore(resource.type),
      properties: drProperties(resource),
    });
  }
  const { outputs } = evaluation;
  return {
    stack: evaluation.stack,
    site: outputs.site,
    role: outputs.role,
    region: outputs.region,
    activeSite: outputs.activeSite,
    concerns,
    posture: outputs.drPosture as DrPosture | undefined,
    warnings: evaluation.warnings,
    resources: evaluation.resources,
    outputs,
  };
}

function minutes(value: number | null): string {
  return value === null ? "no bound" : `${value} min`;
}

function tierRow(tier: TierPosture): string[] {
  return [
    tier.tier,
    `${tier.objectives.rtoMinutes} min`,
    tier.status === "unused" ? "-" : `${tier.achievedRtoMinutes} min`,
    `${tier.objectives.rpoMinutes} min`,
    tier.status === "unused" ? "-" : minutes(tier.achievedRpoMinutes),
    tier.dataClasses.length ? tier.dataClasses.map((c) => `${c}/`).join(" ") : "(none)",
    tier.status === "met" ? "met" : tier.status === "unused" ? "unused" : "NOT MET",
  ];
}

export const TIER_HEADER = ["tier", "RTO objective", "achieved", "RPO objective", "achieved", "data", "status"];

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join("  ").trimEnd());
}

export function postureLines(posture: DrPosture): string[] {
  const [detection, ...parallel] = posture.recoveryTime.steps;
  const step = (s: { step: string; minutes: number; basis: string }) => `${s.step} ${Math.round(s.minutes * 10) / 10} min (${s.basis})`;
  return [
    `failover time ${posture.recoveryTime.minutes} min = ${step(detection)} + the slowest of: ${parallel.map(step).join("; ")}`,
    ...posture.dataClasses.map((point) => `${point.dataClass}/ (${point.tier}): data loss up to ${minutes(point.minutes)} (${point.basis})`),
    "",
    ...table([TIER_HEADER, ...posture.tiers.map(tierRow)]),
  ];
}

export function renderPlanText(plan: Plan): string {
  const lines: string[] = [
    `drstack plan: stack ${plan.stack} (site ${show(plan.site)}, ${show(plan.role)}, region ${show(plan.region)}, activeSite=${show(plan.activeSite)})`,
    "",
  ];
  for (const concern of CONCERNS) {
    const resources = plan.concerns[concern];
    if (resources.length === 0) {
      if (concern !== "other") {
        lines.push(`${CONCERN_TITLES[concern]}: none`);
      }
      continue;
    }
    lines.push(`${CONCERN_TITLES[concern]} (${resources.length})`);
    for (const resource of resources) {
      const flags = [resource.dataStore ? "data store" : "", resource.protect ? "protected" : ""].filter(Boolean).join(", ");
      lines.push(`  ${resource.name}  ${resource.type}${flags ? `  [${flags}]` : ""}`);
      for (const property of resource.properties) {
        lines.push(`      ${property}`);
      }
    }
  }
  lines.push("");
  if (plan.posture) {
    lines.push(`DR posture (objectivesEnforcement: ${plan.posture.enforcement}): ${plan.posture.met ? "every used tier met" : "NOT every tier met"}`);
    lines.push(...postureLines(plan.posture).map((line) => (line ? `  ${line}` : line)));
  } else {
    lines.push("DR posture: not exported by this program (no drPosture output)");
  }
  if (plan.warnings.length > 0) {
    lines.push("", "Warnings:", ...plan.warnings.map((w) => `  ${w.replace(/\n/g, "\n  ")}`));
  }
  return `${lines.join("\n")}\n`;
}
