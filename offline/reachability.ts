import { cidrRange } from "../infra/config";
import { endpointUrlVariable, INTERFACE_SERVICES, InterfaceService } from "../infra/serviceEndpoints";
import { HTTPS_PORT, REDIS_PORT } from "../infra/siteConnections";
import { ENGINE_PROFILES, isDatabaseEngine, POSTGRES_PORT } from "../infra/engines";
import { Evaluation, RecordedResource } from "./evaluate";

/**
 * Reachability as a graph, over what the program declares: from each caller
 * (a function in the data subnets, the cluster's pods) to each thing it calls
 * (the database, the cache, the AWS APIs), following subnets, route tables,
 * VPC endpoints and both sides of every security group rule. The mock
 * runtime accepts any network layout; this is what stands in for AWS's
 * refusal to route a packet. Each problem names the hop that breaks.
 */

/** An AWS service by its endpoint name (`com.amazonaws.<region>.<service>`). */
export type AwsService = "s3" | InterfaceService | "monitoring" | "sns" | "rds" | "scheduler" | "sts" | "kms" | "logs" | "ecr.api" | "ecr.dkr";

/**
 * What Fargate itself calls from a task's network interface before and
 * while the container runs (platform 1.4.0 and later): ECR's API and
 * registry for the image, S3 for its layers, CloudWatch Logs for the
 * awslogs driver (Amazon ECS Developer Guide, "Amazon ECS interface VPC
 * endpoints": considerations for Fargate).
 */
export const FARGATE_PULL_SERVICES: readonly AwsService[] = ["ecr.api", "ecr.dkr", "s3", "logs"];

export interface ReachabilityProblem {
  from: string;
  to: string;
  problem: string;
}

/** What each function handler calls, keyed by the handler's file name (`handlers/<name>`). */
export type HandlerCalls = Readonly<Record<string, { aws: readonly AwsService[]; database: boolean }>>;

interface Rule {
  protocol: string;
  fromPort: number;
  toPort: number;
  cidrBlocks: string[];
  securityGroups: string[];
  prefixListIds: string[];
}

interface Group {
  vpcId: string;
  ingress: Rule[];
  egress: Rule[];
}

interface Subnet {
  id: string;
  vpcId: string;
  cidr: string;
  zoneId: string;
}

/** A place traffic starts from or arrives at: in a VPC, carrying groups, in some subnets (unknown for the cluster's pods). */
interface Endpoint {
  label: string;
  vpcId: string;
  groupIds: string[];
  subnets?: Subnet[];
}

const T = {
  group: "aws:ec2/securityGroup:SecurityGroup",
  subnet: "aws:ec2/subnet:Subnet",
  association: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  vpcEndpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  lambda: "aws:lambda/function:Function",
  vpc: "aws:ec2/vpc:Vpc",
  schedule: "aws:scheduler/schedule:Schedule",
  taskDefinition: "aws:ecs/taskDefinition:TaskDefinition",
  rds: "aws:rds/instance:Instance",
  rdsSubnets: "aws:rds/subnetGroup:SubnetGroup",
  redis: "aws:elasticache/replicationGroup:ReplicationGroup",
  redisSubnets: "aws:elasticache/subnetGroup:SubnetGroup",
} as const;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function idOf(resource: RecordedResource): string {
  return String(resource.state?.id ?? `${resource.name}-id`);
}

function rules(value: unknown): Rule[] {
  return (Array.isArray(value) ? value : []).map((raw: Record<string, unknown>) => ({
    protocol: String(raw.protocol ?? ""),
    fromPort: Number(raw.fromPort ?? 0),
    toPort: Number(raw.toPort ?? 0),
    cidrBlocks: strings(raw.cidrBlocks),
    securityGroups: strings(raw.securityGroups),
    prefixListIds: strings(raw.prefixListIds),
  }));
}

function allowsTcp(rule: Rule, port: number): boolean {
  if (rule.protocol === "-1" || rule.protocol === "all") {
    return true;
  }
  return (rule.protocol === "tcp" || rule.protocol === "6") && rule.fromPort <= port && port <= rule.toPort;
}

function cidrCovers(outer: string, inner: string): boolean {
  const a = cidrRange(outer);
  const b = cidrRange(inner);
  return a !== undefined && b !== undefined && a.first <= b.first && b.last <= a.last;
}

/** Whether a rule names the peer: by one of its groups, or by ranges covering every subnet it may be in. */
function ruleNames(rule: Rule, peer: Endpoint): boolean {
  if (rule.securityGroups.some((id) => peer.groupIds.includes(id))) {
    return true;
  }
  const subnets = peer.subnets ?? [];
  return subnets.length > 0 && subnets.every((subnet) => rule.cidrBlocks.some((cidr) => cidrCovers(cidr, subnet.cidr)));
}

export class NetworkGraph {
  private readonly groups = new Map<string, Group>();
  private readonly subnets = new Map<string, Subnet>();
  private readonly routeTableOf = new Map<string, string>();
  private readonly resources: RecordedResource[];
  readonly region: string;
  readonly cluster: Endpoint;

  constructor(evaluation: Evaluation) {
    this.resources = evaluation.resources;
    this.region = String(evaluation.outputs.region ?? evaluation.config["aws:region"]);
    for (const group of this.ofType(T.group)) {
      this.groups.set(idOf(group), { vpcId: String(group.inputs.vpcId), ingress: rules(group.inputs.ingress), egress: rules(group.inputs.egress) });
    }
    for (const subnet of this.ofType(T.subnet)) {
      const id = idOf(subnet);
      this.subnets.set(id, { id, vpcId: String(subnet.inputs.vpcId), cidr: String(subnet.inputs.cidrBlock), zoneId: String(subnet.inputs.availabilityZoneId ?? subnet.inputs.availabilityZone) });
    }
    for (const association of this.ofType(T.association)) {
      this.routeTableOf.set(String(association.inputs.subnetId), String(association.inputs.routeTableId));
    }
    this.cluster = {
      label: "the cluster's pods",
      vpcId: evaluation.config["drstack:clusterVpcId"] ?? "",
      groupIds: JSON.parse(evaluation.config["drstack:clusterSecurityGroupIds"] ?? "[]") as string[],
    };
  }

  ofType(type: string): RecordedResource[] {
    return this.resources.filter((resource) => resource.type === type);
  }

  subnetsOf(ids: unknown, label: string, problems: ReachabilityProblem[]): Subnet[] {
    return strings(ids).flatMap((id) => {
      const subnet = this.subnets.get(id);
      if (subnet === undefined) {
        problems.push({ from: label, to: id, problem: `subnet ${id} is not one the program declares, so its routes cannot be checked` });
        return [];
      }
      return [subnet];
    });
  }

  /** One TCP connection on `port`: same VPC, the source's groups let it out, the target's groups let it in. */
  connection(source: Endpoint, target: Endpoint, port: number, assumeSourceEgress = false): string[] {
    const broken: string[] = [];
    if (source.vpcId !== target.vpcId) {
      broken.push(`${source.label} is in ${source.vpcId}, ${target.label} in ${target.vpcId}: no route between them`);
    }
    const egress = source.groupIds.flatMap((id) => this.groups.get(id)?.egress ?? []);
    if (!assumeSourceEgress && !egress.some((rule) => allowsTcp(rule, port) && ruleNames(rule, target))) {
      broken.push(`no egress rule of ${source.label}'s groups (${source.groupIds.join(", ")}) lets TCP ${port} out to ${target.label}`);
    }
    const ingress = target.groupIds.flatMap((id) => this.groups.get(id)?.ingress ?? []);
    if (!ingress.some((rule) => allowsTcp(rule, port) && ruleNames(rule, source))) {
      broken.push(`no ingress rule of ${target.label}'s groups (${target.groupIds.join(", ")}) admits TCP ${port} from ${source.label}`);
    }
    return broken;
  }

  databases(problems: ReachabilityProblem[]): Array<Endpoint & { identifier: string; port: number }> {
    return this.ofType(T.rds).map((instance) => {
      const group = this.ofType(T.rdsSubnets).find((candidate) => candidate.inputs.name === instance.inputs.dbSubnetGroupName);
      const label = `database ${String(instance.inputs.identifier)}`;
      const subnets = this.subnetsOf(group?.inputs.subnetIds, label, problems);
      return { label, vpcId: subnets[0]?.vpcId ?? "", groupIds: strings(instance.inputs.vpcSecurityGroupIds), subnets, identifier: String(instance.inputs.identifier), port: databasePort(instance.inputs) };
    });
  }

  caches(problems: ReachabilityProblem[]): Endpoint[] {
    return this.ofType(T.redis).map((cache) => {
      const group = this.ofType(T.redisSubnets).find((candidate) => candidate.inputs.name === cache.inputs.subnetGroupName);
      const label = `cache ${String(cache.inputs.replicationGroupId)}`;
      const subnets = this.subnetsOf(group?.inputs.subnetIds, label, problems);
      return { label, vpcId: subnets[0]?.vpcId ?? "", groupIds: strings(cache.inputs.securityGroupIds), subnets };
    });
  }

  /** An AWS API from a function in the data subnets: S3 by the gateway endpoint, the rest by interface endpoints. */
  awsService(source: Endpoint, service: AwsService, environment: Record<string, unknown>): string[] {
    const serviceName = `com.amazonaws.${this.region}.${service}`;
    const endpoints = this.ofType(T.vpcEndpoint).filter((endpoint) => endpoint.inputs.serviceName === serviceName && endpoint.inputs.vpcId === source.vpcId);
    const subnets = source.subnets ?? [];
    if (service === "s3") {
      const gateway = endpoints.find((endpoint) => endpoint.inputs.vpcEndpointType === "Gateway");
      if (gateway === undefined) {
        return [`no S3 gateway endpoint in ${source.vpcId}, and the data subnets have no other way out`];
      }
      const broken = subnets
        .filter((subnet) => !strings(gateway.inputs.routeTableIds).includes(this.routeTableOf.get(subnet.id) ?? ""))
        .map((subnet) => `subnet ${subnet.id}'s route table has no route to the S3 gateway endpoint`);
      const prefixList = String(gateway.state?.prefixListId ?? "");
      const egress = source.groupIds.flatMap((id) => this.groups.get(id)?.egress ?? []);
      if (!egress.some((rule) => allowsTcp(rule, HTTPS_PORT) && (rule.prefixListIds.includes(prefixList) || rule.cidrBlocks.includes("0.0.0.0/0")))) {
        broken.push(`no egress rule of ${source.label}'s groups lets HTTPS out to S3's prefix list ${prefixList}`);
      }
      return broken;
    }
    const endpoint = endpoints.find((candidate) => candidate.inputs.vpcEndpointType === "Interface");
    if (endpoint === undefined) {
      return [service in INTERFACE_SERVICES ? `no ${service} interface endpoint in ${source.vpcId}, and the data subnets have no other way out` : `${service} has no interface endpoint in ${source.vpcId}, and ${source.label}'s subnets have no other way out`];
    }
    const label = `the ${service} endpoint`;
    const problems: ReachabilityProblem[] = [];
    const endpointSubnets = this.subnetsOf(endpoint.inputs.subnetIds, label, problems);
    const broken = problems.map((problem) => problem.problem);
    const zones = new Set(endpointSubnets.map((subnet) => subnet.zoneId));
    for (const subnet of subnets.filter((candidate) => !zones.has(candidate.zoneId))) {
      broken.push(`${label} has no interface in zone ${subnet.zoneId}, where ${source.label} also runs`);
    }
    if (endpoint.inputs.privateDnsEnabled === true) {
      // AWS PrivateLink Guide, "DNS hostnames": private DNS answers only in a VPC with DNS support and DNS hostnames on.
      const vpc = this.ofType(T.vpc).find((candidate) => idOf(candidate) === source.vpcId);
      if (vpc !== undefined && (vpc.inputs.enableDnsSupport === false || vpc.inputs.enableDnsHostnames !== true)) {
        broken.push(`${label} has private DNS, which VPC ${source.vpcId} cannot answer without enableDnsSupport and enableDnsHostnames`);
      }
    } else if (!(service in INTERFACE_SERVICES)) {
      broken.push(`${label} has no private DNS, and nothing points ${source.label} at its own name`);
    } else {
      const variable = endpointUrlVariable(service as InterfaceService);
      const dnsNames = (Array.isArray(endpoint.state?.dnsEntries) ? endpoint.state.dnsEntries : []).map((entry: { dnsName?: string }) => `https://${entry.dnsName}`);
      if (!dnsNames.includes(String(environment[variable]))) {
        broken.push(`${label} has no private DNS and ${source.label} is not pointed at it (${variable} is ${JSON.stringify(environment[variable])})`);
      }
    }
    broken.push(...this.connection(source, { label, vpcId: String(endpoint.inputs.vpcId), groupIds: strings(endpoint.inputs.securityGroupIds), subnets: endpointSubnets }, HTTPS_PORT));
    return broken;
  }

  /** Every Lambda function, with where it runs and its environment. */
  functions(problems: ReachabilityProblem[]): Array<{ name: string; handler: string; endpoint?: Endpoint; environment: Record<string, unknown> }> {
    return this.ofType(T.lambda).map((fn) => {
      const entry = String((fn.inputs.imageConfig as { commands?: string[] } | undefined)?.commands?.[0] ?? fn.inputs.handler ?? "");
      const handler = /handlers\/([^.]+)\./.exec(entry)?.[1] ?? entry;
      const environment = ((fn.inputs.environment as { variables?: Record<string, unknown> } | undefined)?.variables ?? {}) as Record<string, unknown>;
      const vpc = fn.inputs.vpcConfig as { subnetIds?: unknown; securityGroupIds?: unknown } | undefined;
      if (vpc === undefined) {
        return { name: fn.name, handler, environment };
      }
      const label = `${handler} function ${fn.name}`;
      const subnets = this.subnetsOf(vpc.subnetIds, label, problems);
      return { name: fn.name, handler, environment, endpoint: { label, vpcId: subnets[0]?.vpcId ?? "", groupIds: strings(vpc.securityGroupIds), subnets } };
    });
  }
}

/** An ECS task a schedule starts: its network (awsvpc: subnets, groups), its container's entry and environment. */
interface ScheduledTask {
  label: string;
  entry: string;
  endpoint: Endpoint;
  environment: Record<string, unknown>;
  publicIp: boolean;
  logsToCloudWatch: boolean;
}

function scheduledTasks(graph: NetworkGraph, evaluation: Evaluation, problems: ReachabilityProblem[]): ScheduledTask[] {
  const definitions = evaluation.resources.filter((resource) => resource.type === T.taskDefinition);
  return evaluation.resources
    .filter((resource) => resource.type === T.schedule)
    .flatMap((schedule): ScheduledTask[] => {
      const target = schedule.inputs.target as { ecsParameters?: { taskDefinitionArn?: string; networkConfiguration?: { subnets?: unknown; securityGroups?: unknown; assignPublicIp?: boolean } } } | undefined;
      const ecs = target?.ecsParameters;
      if (ecs === undefined) return [];
      const label = `task of schedule ${schedule.name}`;
      const definition = definitions.find((candidate) => String(candidate.state?.arn) === ecs.taskDefinitionArn);
      if (definition === undefined) {
        problems.push({ from: label, to: "anything", problem: `its task definition ${ecs.taskDefinitionArn} is not one the program declares` });
        return [];
      }
      const [container] = JSON.parse(String(definition.inputs.containerDefinitions)) as Array<{ entryPoint?: string[]; command?: string[]; environment?: Array<{ name: string; value: string }>; logConfiguration?: { logDriver?: string } }>;
      const argv = [...(container?.entryPoint ?? []), ...(container?.command ?? [])];
      const entry = /\/var\/task\/(tasks\/[^.]+)\.js$/.exec(argv.join(" "))?.[1] ?? argv.join(" ");
      const subnets = graph.subnetsOf(ecs.networkConfiguration?.subnets, label, problems);
      return [
        {
          label,
          entry,
          endpoint: { label, vpcId: subnets[0]?.vpcId ?? "", groupIds: strings(ecs.networkConfiguration?.securityGroups), subnets },
          environment: Object.fromEntries((container?.environment ?? []).map(({ name, value }) => [name, value])),
          publicIp: ecs.networkConfiguration?.assignPublicIp === true,
          logsToCloudWatch: container?.logConfiguration?.logDriver === "awslogs",
        },
      ];
    });
}

/**
 * Every problem on the paths the site depends on: each function to what its
 * handler calls, the cluster's pods to the database and the cache. A
 * function outside a VPC reaches public AWS endpoints through Lambda's own
 * networking and no database, which it must then not need.
 */
export function reachabilityProblems(evaluation: Evaluation, calls: HandlerCalls): ReachabilityProblem[] {
  const graph = new NetworkGraph(evaluation);
  const problems: ReachabilityProblem[] = [];
  // Only the site's current database serves, and not while it is a fenced
  // former writer; every other instance (fenced, retired generations) must
  // be unreachable by anything the site runs.
  const serving = (database: { identifier: string }) => database.identifier === evaluation.outputs.databaseIdentifier && evaluation.outputs.databaseMode !== "fenced";
  const allDatabases = graph.databases(problems);
  const databases = allDatabases.filter(serving);
  const sealed = allDatabases.filter((database) => !serving(database));
  const caches = graph.caches(problems);
  for (const fn of graph.functions(problems)) {
    const needs = calls[fn.handler];
    const label = `${fn.handler} function ${fn.name}`;
    if (needs === undefined) {
      problems.push({ from: label, to: "anything", problem: "its handler's calls are unknown to the reachability check" });
      continue;
    }
    if (fn.endpoint === undefined) {
      if (needs.database) {
        problems.push({ from: label, to: "the database", problem: "it runs outside every VPC, so it cannot reach the private database" });
      }
      continue;
    }
    const source = fn.endpoint;
    for (const service of needs.aws) {
      for (const problem of graph.awsService(source, service, fn.environment)) {
        problems.push({ from: source.label, to: service, problem });
      }
    }
    if (needs.database) {
      const url = String(fn.environment.DATABASE_URL ?? "");
      if (!/[?&]sslmode=verify-full(&|$)/.test(url)) {
        problems.push({ from: source.label, to: "the database", problem: `DATABASE_URL ${JSON.stringify(url)} does not require TLS with the server verified (sslmode=verify-full)` });
      }
      for (const database of databases) {
        const urlPort = /^[a-z]+:\/\/[^/?#]*:(\d+)\//.exec(url)?.[1];
        if (urlPort !== undefined && Number(urlPort) !== database.port) {
          problems.push({ from: source.label, to: database.label, problem: `DATABASE_URL names port ${urlPort}, but the database listens on ${database.port}` });
        }
        for (const problem of graph.connection(source, database, database.port)) {
          problems.push({ from: source.label, to: database.label, problem });
        }
      }
    }
  }
  // A scheduled ECS task reaches what its entry point calls and what Fargate calls to start it.
  const tasks = scheduledTasks(graph, evaluation, problems);
  for (const task of tasks) {
    const needs = calls[task.entry];
    if (needs === undefined) {
      problems.push({ from: task.label, to: "anything", problem: `its entry point ${task.entry} is unknown to the reachability check` });
      continue;
    }
    if (task.publicIp) {
      problems.push({ from: task.label, to: "the internet", problem: "it is given a public IP address; its subnets are to reach AWS by endpoints only" });
    }
    const services = [...new Set([...FARGATE_PULL_SERVICES.filter((service) => service !== "logs" || task.logsToCloudWatch), ...needs.aws])];
    for (const service of services) {
      for (const problem of graph.awsService(task.endpoint, service, task.environment)) {
        problems.push({ from: task.label, to: service, problem });
      }
    }
    if (needs.database) {
      problems.push({ from: task.label, to: "the database", problem: "a scheduled task that connects to the site's database is not one the reachability check knows how to follow" });
    }
  }
  const sources = [graph.cluster, ...graph.functions(problems).flatMap((fn) => (fn.endpoint ? [fn.endpoint] : [])), ...tasks.map((task) => task.endpoint)];
  for (const database of sealed) {
    for (const source of sources) {
      if (graph.connection(source, database, database.port, true).length === 0) {
        problems.push({ from: source.label, to: database.label, problem: "can still connect to a database that must take no connections (fenced or retired)" });
      }
    }
  }
  // The cluster's groups and their egress are the cluster's own; EKS's
  // cluster security group lets everything out by default.
  const targets: Array<[Endpoint, number]> = [
    ...databases.map((database): [Endpoint, number] => [database, database.port]),
    ...caches.map((cache): [Endpoint, number] => [cache, REDIS_PORT]),
  ];
  for (const [target, port] of targets) {
    for (const problem of graph.connection(graph.cluster, target, port, true)) {
      problems.push({ from: graph.cluster.label, to: target.label, problem });
    }
  }
  problems.push(...podTlsProblems(evaluation));
  return problems;
}

/** The value inside Pulumi's secret envelope, as the mock runtime records a secret input. */
export function unwrapSecret(value: unknown): unknown {
  if (typeof value === "object" && value !== null && SECRET_SIGNATURE in value && "value" in value) {
    return value.value;
  }
  return value;
}

/** The key Pulumi's wire format marks secret values with (the SDK's runtime/rpc `specialSigKey`). */
const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

/** The pods' connections (the Kubernetes Secret drstack writes) require TLS to the database and the cache, and the cache serves it. */
function podTlsProblems(evaluation: Evaluation): ReachabilityProblem[] {
  const problems: ReachabilityProblem[] = [];
  const from = "the cluster's pods";
  for (const secret of evaluation.resources.filter((resource) => resource.type === "kubernetes:core/v1:Secret")) {
    const data = unwrapSecret(secret.inputs.stringData ?? {}) as Record<string, string>;
    if (data.DATABASE_URL !== undefined && !/[?&]sslmode=(require|verify-ca|verify-full)(&|$)/.test(data.DATABASE_URL)) {
      problems.push({ from, to: "the database", problem: `the ${secret.name} Secret's DATABASE_URL does not require TLS` });
    }
    if (data.PGHOST !== undefined && !["require", "verify-ca", "verify-full"].includes(data.PGSSLMODE ?? "")) {
      problems.push({ from, to: "the database", problem: `the ${secret.name} Secret's PGSSLMODE (${JSON.stringify(data.PGSSLMODE)}) does not require TLS` });
    }
    if (data.REDIS_URL !== undefined && !data.REDIS_URL.startsWith("rediss://")) {
      problems.push({ from, to: "the cache", problem: `the ${secret.name} Secret's REDIS_URL is not rediss:// (TLS)` });
    }
  }
  for (const cache of evaluation.resources.filter((resource) => resource.type === T.redis)) {
    if (cache.inputs.transitEncryptionEnabled !== true) {
      problems.push({ from, to: `cache ${String(cache.inputs.replicationGroupId)}`, problem: "the cache does not encrypt in transit" });
    }
  }
  return problems;
}

/** The port an instance listens on: its `port`, else RDS's default for its engine. */
function databasePort(inputs: Record<string, unknown>): number {
  if (typeof inputs.port === "number") {
    return inputs.port;
  }
  const engine = String(inputs.engine ?? "postgres");
  return isDatabaseEngine(engine) ? ENGINE_PROFILES[engine].port : POSTGRES_PORT;
}
