import { DrillStatus } from "./drillHistory";
import type { DrPosture, TierPosture } from "../infra/objectives";
import type { Evaluation, RecordedResource } from "./evaluate";
import { isDataStore } from "./dataStores";
import { valueAt } from "./findings";
import { containerEnvs, unwrapSecret } from "../infra/containerEnvs";
import { isOneShot } from "../infra/docker/oneShot";

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
  // TLS certificates are validated through the DNS owner's zone.
  certificates: "dns",
};

/**
 * Components whose area names a platform rather than a concern
 * (`drstack:docker:*`, infra/docker): the concern of each, by its full type.
 */
const COMPONENT_TYPES: Record<string, Concern> = {
  "drstack:docker:SiteImages": "workloads",
  "drstack:docker:SiteDatabase": "database",
  "drstack:docker:SiteCache": "database",
  "drstack:docker:SiteStorage": "storage",
  "drstack:docker:SiteWorkloads": "workloads",
  // The site agent runs the scheduled backups, their verification and drills (and fences; its claim is listed under fencing).
  "drstack:docker:SiteAgent": "backups",
};

/**
 * Single resources whose concern is not their component's: a Docker site's
 * writer claim is written by a one-shot container of its storage component
 * (infra/docker/storage.ts), but it is what fences and promotes.
 */
const NAMED_CONCERNS: Array<[string, RegExp, Concern]> = [["docker:index/container:Container", /-storage-claim$/, "fencing"]];

/** Resource type prefixes for resources outside a drstack component; the first match wins. */
const TYPE_PREFIXES: Array<[string, Concern]> = [
  ["aws:s3/bucketReplicationConfig:", "replication"],
  ["aws:s3/", "storage"],
  ["aws:kms/", "storage"],
  ["aws:route53/", "dns"],
  ["aws:acm/", "dns"],
  ["cloudflare:", "dns"],
  // The DNS owner's one Cloudflare provider serves the failover DNS and the certificate validation records.
  ["pulumi:providers:cloudflare", "dns"],
  ["aws:ec2/", "network"],
  ["aws:rds/", "database"],
  ["aws:elasticache/", "database"],
  ["aws:secretsmanager/", "database"],
  ["kubernetes:", "workloads"],
  ["docker:index/network:Network", "network"],
  ["docker:index/volume:Volume", "storage"],
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
  const named = NAMED_CONCERNS.find(([type, name]) => type === resource.type && name.test(resource.name));
  if (named) {
    return named[2];
  }
  let current: Located | undefined = resource;
  const seen = new Set<string>();
  while (current && !seen.has(`${current.type}::${current.name}`)) {
    seen.add(`${current.type}::${current.name}`);
    if (COMPONENT_TYPES[current.type]) {
      return COMPONENT_TYPES[current.type];
    }
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

type Add = (label: string, value: unknown) => void;
/** What a reader may know of a resource beyond its inputs: its resource options. */
interface ResourceOptions {
  protect?: boolean;
  retainOnDelete?: boolean;
}
type PropertyReader = (inputs: Record<string, unknown>, add: Add, props: string[], options: ResourceOptions) => void;

/** A security group rule in a line: protocol and ports, and from or to what. */
function describeRule(rule: unknown): string {
  const protocol = valueAt(rule, "protocol");
  const from = valueAt(rule, "fromPort");
  const to = valueAt(rule, "toPort");
  const ports = protocol === "-1" ? "all traffic" : `${show(protocol)} ${from === to ? show(from) : `${show(from)}-${show(to)}`}`;
  const peers = [...asArray(valueAt(rule, "securityGroups")), ...asArray(valueAt(rule, "cidrBlocks")), ...asArray(valueAt(rule, "prefixListIds"))].map(show);
  return `${ports} ${peers.length ? peers.join(", ") : "nobody"}`;
}

function policyStatements(policy: unknown): Array<{ Sid?: string; Effect?: string; Action?: unknown }> {
  try {
    return (JSON.parse(String(policy)) as { Statement?: Array<{ Sid?: string; Effect?: string; Action?: unknown }> }).Statement ?? [];
  } catch {
    return [];
  }
}

function describeStatements(policy: unknown, add: Add): void {
  for (const statement of policyStatements(policy)) {
    add(`${statement.Effect ?? "?"} ${statement.Sid ?? ""}`.trim(), asArray(statement.Action).map(show).join(" "));
  }
}

/** Shown without revealing anything: a secret's presence, never its value. */
function secretKeys(value: unknown): string {
  const inner = value !== null && typeof value === "object" && "value" in value ? (value as { value: unknown }).value : value;
  return inner !== null && typeof inner === "object" ? Object.keys(inner).sort().join(", ") : "(secret)";
}

/**
 * The properties a DR reviewer looks at, for every resource type the program
 * declares (a test fails when a declared type has no entry here).
 */
/** RDS and ElastiCache subnet groups: which subnets. */
const subnetGroupProperties: PropertyReader = (i, add) => add("subnets", asArray(i.subnetIds).map(show).join(", "));

/**
 * Env values a DR reviewer needs and that hold no secret; every other env is
 * shown by name only (its value may be a password: the program builds the
 * whole list from secrets, infra/docker/*.ts).
 */
const SHOWN_ENV_VALUES: Record<string, (value: string) => string> = {
  DRSTACK_DATABASE_INIT: (value) => value,
  DRSTACK_BACKUPS_SCHEDULED: (value) => value,
  // A libpq conninfo: drop a password=... keyword should one ever be added (the program passes it in DRSTACK_REPLICATION_PASSWORD).
  DRSTACK_UPSTREAM_CONNINFO: (value) => value.replace(/(^|\s)password=('([^'\\]|\\.)*'|\S*)/g, "$1password=(secret)").trim(),
  DRSTACK_WRITER_CLAIM: (value) => {
    try {
      const claim = JSON.parse(value) as { databaseMode?: unknown; epoch?: unknown };
      return `databaseMode ${show(claim.databaseMode)}, epoch ${show(claim.epoch)}`;
    } catch {
      return "(not JSON)";
    }
  },
};

function labelValue(inputs: Record<string, unknown>, label: string): unknown {
  return asArray(inputs.labels).map((entry) => (valueAt(entry, "label") === label ? valueAt(entry, "value") : undefined)).find((value) => value !== undefined);
}

/** A Docker container: what runs, how it restarts and is reached, what it mounts; env names only, upload paths only. */
const dockerContainerProperties: PropertyReader = (i, add) => {
  add("runs", isOneShot(i) ? "once per change and must exit 0 (one-shot: attach, mustRun false)" : undefined);
  add("container", i.name);
  add("image", i.image);
  add("restart", i.restart);
  add("ports", asArray(i.ports).map((port) => `${show(valueAt(port, "ip") ?? "0.0.0.0")}:${show(valueAt(port, "external"))}->${show(valueAt(port, "internal"))}`).join(", "));
  add(
    "networks",
    asArray(i.networksAdvanced)
      .map((network) => {
        const aliases = asArray(valueAt(network, "aliases")).map(show);
        return `${show(valueAt(network, "name"))}${aliases.length ? ` (aliases ${aliases.join(", ")})` : ""}`;
      })
      .join(", "),
  );
  add("volumes", asArray(i.volumes).map((volume) => `${show(valueAt(volume, "volumeName"))} -> ${show(valueAt(volume, "containerPath"))}`).join(", "));
  add("uploads", asArray(unwrapSecret(i.uploads)).map((upload) => show(valueAt(upload, "file"))).join(", "));
  const envs = containerEnvs(i);
  add("env", [...envs.keys()].join(", "));
  for (const [name, value] of envs) {
    if (SHOWN_ENV_VALUES[name]) {
      add(name, SHOWN_ENV_VALUES[name](value));
    }
  }
};

const PROPERTY_READERS: Record<string, PropertyReader> = {
  "docker:index/container:Container": dockerContainerProperties,
  "docker:index/volume:Volume": (i, add, _props, options) => {
    add("volume", i.name);
    add("holds", labelValue(i, "drstack.data"));
    add("protect", options.protect === true ? "yes" : "NO: a change may delete it");
    add("on delete", options.retainOnDelete === true ? "kept on the host (retainOnDelete)" : "deleted from the host with its data");
  },
  "docker:index/network:Network": (i, add) => add("network", `${show(i.name)} (${show(i.driver ?? "bridge")})`),
  "docker:index/remoteImage:RemoteImage": (i, add) => {
    add("pulls", i.name);
    add("kept on the host when removed", i.keepLocally);
  },
  "pulumi:providers:docker": (i, add) => {
    add("engine", i.host);
    add("TLS client certificate", i.certMaterial === undefined ? undefined : "from config (secret)");
  },
  "aws:s3/bucket:Bucket": (i, add) => {
    add("bucket", i.bucket);
    add("Object Lock enabled", i.objectLockEnabled);
    add("forceDestroy", i.forceDestroy);
  },
  "aws:kms/key:Key": (i, add) => {
    add("rotation", i.enableKeyRotation);
    add("deletion window (days)", i.deletionWindowInDays);
    describeStatements(i.policy, add);
  },
  "aws:kms/alias:Alias": (i, add) => add("alias", i.name),
  "aws:s3/bucketVersioning:BucketVersioning": (i, add) => add("versioning", valueAt(i, "versioningConfiguration.status")),
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (i, add) => {
    add("default encryption", valueAt(i, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"));
    add("bucket key", valueAt(i, "rules.0.bucketKeyEnabled"));
  },
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (i, add) =>
    add(
      "public access",
      ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every((k) => i[k] === true) ? "all four blocks on" : "NOT fully blocked",
    ),
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (i, add) => add("ownership", valueAt(i, "rule.objectOwnership")),
  "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": (i, add) =>
    add("Object Lock", `${show(valueAt(i, "rule.defaultRetention.mode"))} ${show(valueAt(i, "rule.defaultRetention.days"))} days`),
  "aws:s3/bucketPolicy:BucketPolicy": (i, add) => describeStatements(i.policy, add),
  "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (i, _add, props) => {
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
  },
  "aws:s3/bucketReplicationConfig:BucketReplicationConfig": (i, _add, props) => {
    for (const rule of asArray(i.rules)) {
      const rtc = valueAt(rule, "destination.replicationTime.status") === "Enabled";
      props.push(
        `${show(valueAt(rule, "filter.prefix"))} -> ${show(valueAt(rule, "destination.bucket"))}: ${rtc ? `RTC ${show(valueAt(rule, "destination.replicationTime.time.minutes"))} min` : "no RTC"}, ` +
          `delete markers ${valueAt(rule, "deleteMarkerReplication.status") === "Enabled" ? "replicated" : "not replicated"}, ` +
          `replica key ${valueAt(rule, "destination.encryptionConfiguration.replicaKmsKeyId") ? "destination's" : "none"}`,
      );
    }
  },
  "aws:iam/role:Role": (i, add) => {
    add("role", i.name);
    for (const statement of policyStatements(i.assumeRolePolicy)) {
      add("trusted by", valueAt(statement, "Principal.Service") ?? valueAt(statement, "Principal.AWS"));
    }
  },
  "aws:iam/rolePolicy:RolePolicy": (i, add) => describeStatements(i.policy, add),
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (i, add) => add("managed policy", i.policyArn),
  "aws:route53/record:Record": (i, add) => {
    add("record", `${show(i.name)} ${show(i.type)}`);
    add("target", asArray(i.records).map(show).join(", "));
    add("TTL (s)", i.ttl);
    add("failover", valueAt(i, "failoverRoutingPolicies.0.type"));
    add("health check", i.healthCheckId);
  },
  "aws:route53/healthCheck:HealthCheck": (i, add) => {
    add("target", `${show(i.type)} ${show(i.fqdn)}:${show(i.port)}${show(i.resourcePath ?? "")}`);
    add("interval (s)", i.requestInterval);
    add("failure threshold", i.failureThreshold);
  },
  "cloudflare:index/dnsRecord:DnsRecord": (i, add) => {
    add("record", `${show(i.name)} ${show(i.type)} -> ${show(i.content)}`);
    add("TTL (s)", i.ttl);
    add("proxied", i.proxied);
  },
  "cloudflare:index/loadBalancer:LoadBalancer": (i, add) => {
    add("name", i.name);
    add("pools in order", asArray(i.defaultPools).map(show).join(" > "));
    add("fallback pool", i.fallbackPool);
    add("steering", i.steeringPolicy);
    add("TTL (s)", i.ttl);
  },
  "cloudflare:index/loadBalancerPool:LoadBalancerPool": (i, add) => {
    add("pool", i.name);
    add("origins", asArray(i.origins).map((origin) => show(valueAt(origin, "address"))).join(", "));
  },
  "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor": (i, add) => {
    add("check", `${show(i.type)} ${show(i.path)} on ${show(i.port)}, expect ${show(i.expectedCodes)}`);
    add("interval (s)", i.interval);
    add("down after", i.consecutiveDown);
  },
  "aws:acm/certificate:Certificate": (i, add) => {
    add("names", [i.domainName, ...asArray(i.subjectAlternativeNames)].map(show).join(", "));
    add("validation", i.validationMethod);
  },
  "aws:acm/certificateValidation:CertificateValidation": (i, add) => {
    add("waits for", i.certificateArn);
    add("validation records", asArray(i.validationRecordFqdns).length || "the DNS owner's");
  },
  "aws:rds/instance:Instance": (i, add) => {
    add("engine", i.engineVersion === undefined ? i.engine : `${show(i.engine)} ${show(i.engineVersion)}`);
    add("port", i.port);
    add("parameter group", i.parameterGroupName);
    add("class", i.instanceClass);
    add("multi-AZ", i.multiAz);
    add("replicates from", i.replicateSourceDb);
    add("restored from", valueAt(i, "restoreToPointInTime.sourceDbInstanceIdentifier") ?? valueAt(i, "restoreToPointInTime.sourceDbInstanceAutomatedBackupsArn"));
    add("restored to", valueAt(i, "restoreToPointInTime.useLatestRestorableTime") === true ? "the latest restorable time" : valueAt(i, "restoreToPointInTime.restoreTime"));
    add("backup retention (days)", i.backupRetentionPeriod);
    add("deletion protection", i.deletionProtection);
    add("final snapshot", i.skipFinalSnapshot === true ? "skipped" : i.finalSnapshotIdentifier);
    add("encrypted", i.storageEncrypted);
  },
  "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication": (i, add) => {
    add("copies automated backups of", i.sourceDbInstanceArn);
    add("retention (days)", i.retentionPeriod);
    add("key", i.kmsKeyId);
  },
  "aws:rds/subnetGroup:SubnetGroup": subnetGroupProperties,
  "aws:rds/parameterGroup:ParameterGroup": (i, add) => {
    add("family", i.family);
    add("settings", asArray(i.parameters).map((parameter) => `${show(valueAt(parameter, "name"))}=${show(valueAt(parameter, "value"))}`).join(", "));
  },
  "aws:elasticache/replicationGroup:ReplicationGroup": (i, add) => {
    add("engine", i.engine);
    add("nodes", i.numCacheClusters);
    add("encrypted at rest", i.atRestEncryptionEnabled);
    add("encrypted in transit", i.transitEncryptionEnabled);
    add("snapshot retention (days)", i.snapshotRetentionLimit);
  },
  "aws:elasticache/subnetGroup:SubnetGroup": subnetGroupProperties,
  "aws:secretsmanager/secret:Secret": (i, add) => {
    add("secret", i.name);
    add("key", i.kmsKeyId);
    add("recovery window (days)", i.recoveryWindowInDays);
  },
  "aws:secretsmanager/secretVersion:SecretVersion": (i, add) => add("value of", i.secretId),
  "aws:ssm/parameter:Parameter": (i, add) => {
    add("parameter", i.name);
    add("value", i.insecureValue ?? "(secret)");
  },
  "aws:ec2/subnet:Subnet": (i, add) => {
    add("range", i.cidrBlock);
    add("zone", i.availabilityZoneId ?? i.availabilityZone);
    add("public IPs", i.mapPublicIpOnLaunch);
  },
  "aws:ec2/routeTable:RouteTable": (i, add) =>
    add("routes", asArray(i.routes).length ? asArray(i.routes).map((route) => show(valueAt(route, "cidrBlock"))).join(", ") : "local only"),
  "aws:ec2/routeTableAssociation:RouteTableAssociation": (i, add) => add("subnet", `${show(i.subnetId)} -> ${show(i.routeTableId)}`),
  "aws:ec2/vpcEndpoint:VpcEndpoint": (i, add) => {
    add("service", `${show(i.serviceName)} (${show(i.vpcEndpointType)})`);
    add("private DNS", i.privateDnsEnabled);
    describeStatements(i.policy, add);
  },
  "aws:ec2/securityGroup:SecurityGroup": (i, add) => {
    add("in", asArray(i.ingress).length ? asArray(i.ingress).map(describeRule).join("; ") : "nothing");
    add("out", asArray(i.egress).length ? asArray(i.egress).map(describeRule).join("; ") : "nothing");
  },
  "aws:ecr/replicationConfiguration:ReplicationConfiguration": (i, add) => {
    for (const rule of asArray(valueAt(i, "replicationConfiguration.rules"))) {
      add(
        "replicates",
        `${asArray(valueAt(rule, "repositoryFilters")).map((f) => show(valueAt(f, "filter"))).join(", ")} -> ${asArray(valueAt(rule, "destinations")).map((d) => show(valueAt(d, "region"))).join(", ")}`,
      );
    }
  },
  "aws:scheduler/schedule:Schedule": (i, add) => {
    add("schedule", i.scheduleExpression);
    add("state", i.state);
    add("starts", valueAt(i, "target.ecsParameters") === undefined ? undefined : `an ECS task, public IP: ${show(valueAt(i, "target.ecsParameters.networkConfiguration.assignPublicIp"))}`);
  },
  "aws:scheduler/scheduleGroup:ScheduleGroup": (i, add) => add("group", i.name),
  "aws:ecs/cluster:Cluster": (i, add) => add("container insights", asArray(i.settings).map((setting) => valueAt(setting, "name") === "containerInsights" ? valueAt(setting, "value") : undefined).find((value) => value !== undefined) ?? "account default"),
  "aws:ec2/vpc:Vpc": (i, add) => {
    add("range", i.cidrBlock);
    add("DNS support / hostnames", `${show(i.enableDnsSupport)} / ${show(i.enableDnsHostnames)}`);
  },
  "aws:ecs/taskDefinition:TaskDefinition": (i, add) => {
    add("family", i.family);
    add("size", `${Number(i.cpu) / 1024} vCPU, ${Number(i.memory) / 1024} GiB, ${show(valueAt(i, "ephemeralStorage.sizeInGib"))} GiB storage on ${asArray(i.requiresCompatibilities).map(show).join(", ")}`);
  },
  "aws:cloudwatch/eventRule:EventRule": (i, add) => {
    add("schedule", i.scheduleExpression);
    add("state", i.state);
    if (typeof i.eventPattern === "string") add("matches", asArray(valueAt(JSON.parse(i.eventPattern), "detail-type")).map(show).join(", ") || "events");
  },
  "aws:cloudwatch/eventTarget:EventTarget": (i, add) => add("sends to", i.arn),
  "aws:sns/topicPolicy:TopicPolicy": (i, add) => describeStatements(i.policy, add),
  "aws:cloudwatch/metricAlarm:MetricAlarm": (i, add) => {
    add("watches", `${show(i.namespace)} ${show(i.metricName)} ${show(i.comparisonOperator)} ${show(i.threshold)}`);
    add("missing data", i.treatMissingData);
  },
  "aws:cloudwatch/logGroup:LogGroup": (i, add) => add("retention (days)", i.retentionInDays),
  "aws:lambda/function:Function": (i, add) => {
    add("runtime", i.runtime ?? i.packageType);
    add("timeout (s)", i.timeout);
    add("in a VPC", i.vpcConfig !== undefined);
  },
  "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (i, add) => {
    add("retries", i.maximumRetryAttempts);
    add("max event age (s)", i.maximumEventAgeInSeconds);
  },
  "aws:sns/topic:Topic": (i, add) => add("topic", i.displayName ?? i.name),
  "aws:sns/topicSubscription:TopicSubscription": (i, add) => add("notifies", `${show(i.protocol)} ${show(i.endpoint)}`),
  "kubernetes:apps/v1:Deployment": (i, add) => add("replicas", valueAt(i, "spec.replicas")),
  "kubernetes:core/v1:Namespace": (i, add) => add("namespace", valueAt(i, "metadata.name")),
  "kubernetes:core/v1:Secret": (i, add) => {
    add("secret", valueAt(i, "metadata.name"));
    add("keys", secretKeys(i.stringData ?? i.data));
  },
  "kubernetes:core/v1:Service": (i, add) => {
    add("type", valueAt(i, "spec.type"));
    add("ports", asArray(valueAt(i, "spec.ports")).map((port) => show(valueAt(port, "port"))).join(", "));
    const annotations = (valueAt(i, "metadata.annotations") ?? {}) as Record<string, unknown>;
    add("TLS certificate", annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]);
  },
  "kubernetes:policy/v1:PodDisruptionBudget": (i, add) => add("at most unavailable", valueAt(i, "spec.maxUnavailable")),
  "pulumi:providers:aws": (i, add) => add("region", i.region),
  "pulumi:providers:kubernetes": (_i, add) => add("cluster", "from this stack's kubeconfig (secret)"),
  "pulumi:providers:cloudflare": (i, add) => add("API token", i.apiToken === undefined ? "from the environment" : "from config (secret)"),
  "random:index/randomPassword:RandomPassword": (i, add) => add("secret", `${show(i.length)} characters, kept encrypted in state`),
};

/** Whether the plan knows what matters about a resource type. */
export function hasDrProperties(type: string): boolean {
  return type in PROPERTY_READERS;
}

/** The properties a DR reviewer looks at for one resource. */
export function drProperties(resource: { type: string; inputs: Record<string, unknown>; protect?: boolean; retainOnDelete?: boolean }): string[] {
  const props: string[] = [];
  const add: Add = (label, value) => {
    if (value !== undefined && value !== null && value !== "") {
      props.push(`${label}: ${show(value)}`);
    }
  };
  PROPERTY_READERS[resource.type]?.(resource.inputs, add, props, { protect: resource.protect, retainOnDelete: resource.retainOnDelete });
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
  /** `databaseEngine`: what the pair's databases run. */
  databaseEngine: unknown;
  concerns: Record<Concern, PlannedResource[]>;
  posture?: DrPosture;
  warnings: string[];
  /** The raw evaluation (resources with inputs, outputs), so `drstack diff --base` can compare plans. */
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** With `--drills`: each database's restore drills as the reports show them. */
  drills?: DrillStatus[];
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
    databaseEngine: outputs.databaseEngine,
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
  return [
    `failover time ${posture.recoveryTime.minutes} min = ${posture.recoveryTime.expression}`,
    ...posture.recoveryTime.steps.map((step) => `  ${step.step}: ${Math.round(step.minutes * 10) / 10} min (${step.basis})`),
    ...posture.dataClasses.map((point) => `${point.dataClass}/ (${point.tier}): data loss up to ${minutes(point.minutes)} (${point.basis})`),
    "",
    ...table([TIER_HEADER, ...posture.tiers.map(tierRow)]),
    ...interimLines(posture),
  ];
}

/** What the pair lacks only for now, the step that closes it, and the posture once closed. A posture from an older revision has none. */
export function interimLines(posture: DrPosture): string[] {
  const gaps = posture.interimGaps ?? [];
  if (gaps.length === 0 || posture.whenComplete === undefined) {
    return [];
  }
  const complete = posture.whenComplete;
  return [
    "",
    ...gaps.map((gap) => `for now: ${gap.missing}. To close the gap: ${gap.providedBy}.`),
    `once closed: failover time ${complete.recoveryTime.minutes} min, ${complete.met ? "every used tier met" : "NOT every tier met"} (what objectivesEnforcement judges)`,
  ];
}

/** The plan's DR posture section, as `drstack plan` prints it (README, "Objectives", quotes it). */
export function postureText(posture: DrPosture | undefined): string[] {
  if (!posture) {
    return ["DR posture: not exported by this program (no drPosture output)"];
  }
  return [
    `DR posture (objectivesEnforcement: ${posture.enforcement}): ${posture.met ? "every used tier met" : "NOT every tier met"}`,
    ...postureLines(posture).map((line) => (line ? `  ${line}` : line)),
  ];
}

export function renderPlanText(plan: Plan): string {
  const lines: string[] = [
    `drstack plan: stack ${plan.stack} (site ${show(plan.site)}, ${show(plan.role)}, region ${show(plan.region)}, activeSite=${show(plan.activeSite)}, databaseEngine=${show(plan.databaseEngine)})`,
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
  lines.push("", ...postureText(plan.posture));
  if (plan.drills !== undefined) lines.push("", ...drillLines(plan.drills));
  if (plan.warnings.length > 0) {
    lines.push("", "Warnings:", ...plan.warnings.map((w) => `  ${w.replace(/\n/g, "\n  ")}`));
  }
  return `${lines.join("\n")}\n`;
}

/** The plan's restore-drill section (`--drills`): a line per database, flagged when its last drill failed, is stale or is missing. */
export function drillLines(drills: readonly DrillStatus[]): string[] {
  const flagged = drills.filter((drill) => drill.state !== "passed").length;
  return [
    `Restore drills: ${flagged === 0 ? "every database drilled and passed within its tier's interval" : `${flagged} of ${drills.length} database(s) FLAGGED`}`,
    ...drills.map((drill) => `  ${drill.database} (${drill.tier}): ${drill.state === "passed" ? "passed" : drill.state.toUpperCase()}, ${drill.detail}`),
  ];
}
