import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { notifyTopic, SiteAlarms } from "./alarms";
import { DnsConfig } from "./config";
import { SiteName, SITES } from "./roles";
import { dnsFailoverOrder } from "./sitePlan";
import { WEB_SERVICE_PORT } from "./workloads";

export interface FailoverDnsArgs {
  /** The hostname users type. */
  appHostname: string;
  /** The site that should receive traffic; decides the failover order. */
  activeSite: SiteName;
  /** Each site's endpoint, from config: computable without the peer's stack. */
  endpoints: Record<SiteName, string>;
  dns: DnsConfig;
  /** AWS provider for Route 53 (a global service): the DNS owner's own. Route 53 only; a Docker site has none. */
  awsProvider?: aws.Provider;
  /** Each site's region: where the health-check alarms may live and where they must not. */
  regions: Record<SiteName, string>;
  /** The DNS owner's alarm topic (SiteAlarms), in its own region. Route 53 only. */
  alarmTopicArn?: pulumi.Input<string>;
  /** Subscribed to the health-check alarm topic when the alarms cannot live in the owner's region. */
  alarmEmails: string[];
  /** The DNS owner's Cloudflare provider (`cloudflareProvider`), when Cloudflare serves the zone. */
  cloudflareProvider?: cloudflare.Provider;
}

/** What DNS says, as data: the program declares it and the failover model checks it. */
export interface DnsPlan {
  /** The site DNS answers with while both are healthy. */
  target: SiteName;
  /** Sites in failover order: the first serves while healthy, the second takes over when it fails its checks. */
  order: [SiteName, SiteName];
  ttlSeconds: number;
}

export function dnsPlan(activeSite: SiteName, ttlSeconds: number): DnsPlan {
  const order = dnsFailoverOrder(activeSite);
  return { target: order[0], order, ttlSeconds };
}

export const FAILOVER_ROLES = ["PRIMARY", "SECONDARY"] as const;
export type FailoverRole = (typeof FAILOVER_ROLES)[number];

/**
 * Route 53 failover records are keyed by their failover role, not by site:
 * the PRIMARY record answers with the active site, the SECONDARY with the
 * other. A flip then changes each record's value and health check, never its
 * type or set identifier, so the two records are updated by one UPSERT each
 * and every intermediate state still has one PRIMARY and one SECONDARY
 * record. Swapping the types of records keyed by site instead passes through
 * two PRIMARY (or two SECONDARY) records, which Route 53 rejects
 * (https://github.com/boto/boto3/issues/1347).
 */
export function route53FailoverRecords(plan: DnsPlan): Record<FailoverRole, SiteName> {
  return { PRIMARY: plan.order[0], SECONDARY: plan.order[1] };
}

/** Set identifiers are fixed per role, so no flip changes one (a changed set identifier is a delete and a create). */
export function route53SetIdentifier(role: FailoverRole): string {
  return `drstack-${role}`;
}

/**
 * Route 53 publishes health-check metrics in US East (N. Virginia) only, and
 * a CloudWatch alarm can only watch metrics and notify SNS topics of its own
 * region (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-monitor-view-status.html).
 */
export const ROUTE53_METRICS_REGION = "us-east-1";

/**
 * Route 53's control plane (ChangeResourceRecordSets, health-check changes)
 * runs in US East (N. Virginia); answering queries and failing over on health
 * checks is its data plane, served everywhere ("Route 53 ... control plane in
 * us-east-1", AWS Well-Architected, REL11 / "Creating Disaster Recovery
 * Mechanisms Using Amazon Route 53", AWS Networking blog).
 */
export const ROUTE53_CONTROL_PLANE_REGION = "us-east-1";

/** What a primary in the control plane's region means for the secondary's failover `up`. */
export function route53ControlPlaneWarning(appHostname: string): string {
  return (
    `Route 53's control plane runs in ${ROUTE53_CONTROL_PLANE_REGION}, the primary's region: an outage there can also stop record changes, ` +
    `so the secondary's failover \`up\` may promote the database and then fail at ${appHostname}'s records. Traffic still moves by itself: ` +
    `the PRIMARY record's health check fails and Route 53 answers with the SECONDARY record, the secondary (data plane). ` +
    `Re-run the \`up\` when the control plane is back (README, "DNS failover").`
  );
}

/**
 * Where the DNS owner alarms on its health checks:
 * - `owner-region`: the owner is in us-east-1; alarms and topic are its own;
 * - `metrics-region`: neither site is in us-east-1; the owner declares an
 *   alarm topic of its own there, beside the alarms;
 * - `none`: the primary is in us-east-1. Alarms there would make the
 *   secondary's failover `up` touch the region it replaces, so none are
 *   declared (a warning says so; README, "DNS failover").
 */
export type HealthCheckAlarmPlacement = "owner-region" | "metrics-region" | "none";

export function healthCheckAlarmPlacement(regions: Record<SiteName, string>, owner: SiteName = "secondary"): HealthCheckAlarmPlacement {
  if (regions[owner] === ROUTE53_METRICS_REGION) {
    return "owner-region";
  }
  return SITES.some((site) => site !== owner && regions[site] === ROUTE53_METRICS_REGION) ? "none" : "metrics-region";
}

/**
 * The failover DNS for appHostname, owned by the secondary stack alone (the
 * stack that must act when the primary is lost). Everything it declares comes
 * from the secondary's own config: the endpoints are config values, never the
 * primary's stack outputs. Pools and health checks are named by site, the
 * Route 53 records by role; either way a failover updates priorities and
 * targets in place and creates or deletes nothing.
 *
 * - Cloudflare, plain: one CNAME at the active site's endpoint, TTL <= 60 s.
 *   Moves only when `activeSite` is flipped.
 * - Cloudflare, load balancer: one HTTPS monitor, one pool per site, pools in
 *   failover order with the active site's first; Cloudflare moves traffic by
 *   itself when the active pool fails its checks.
 * - Route 53: one HTTPS health check per site, named by site, and two failover
 *   records keyed by role (PRIMARY answers with the active site and carries
 *   its health check); the flip changes their values and health checks in
 *   place. Alarms on the health checks notify the alarm topic.
 *
 * Every health check requests what the site's web load balancer serves: HTTPS
 * on its TLS port, the site's endpoint as the TLS server name and Host, which
 * the site's certificate covers (infra/certificates.ts).
 */
export class FailoverDns extends pulumi.ComponentResource {
  public readonly plan: DnsPlan;
  /** The hostname DNS currently answers with while both sites are healthy. */
  public readonly target: string;

  constructor(name: string, args: FailoverDnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:dns:FailoverDns", name, {}, opts);
    this.plan = dnsPlan(args.activeSite, args.dns.ttlSeconds);
    // Every record waits for what the component waits for (the database's
    // promotion), so a failed promotion never moves traffic.
    const after = { parent: this, dependsOn: opts?.dependsOn };
    this.target = args.endpoints[this.plan.target];

    if (args.dns.provider === "route53") {
      if (args.regions.primary === ROUTE53_CONTROL_PLANE_REGION) {
        pulumi.log.warn(route53ControlPlaneWarning(args.appHostname));
      }
      declareRoute53(name, args, this.plan, after);
    } else if (args.dns.cloudflare.loadBalancer) {
      declareCloudflareLoadBalancer(name, args, this.plan, { ...after, provider: requireCloudflare(name, args) });
    } else {
      new cloudflare.DnsRecord(
        `${name}-record`,
        {
          zoneId: args.dns.cloudflare.zoneId,
          name: args.appHostname,
          type: "CNAME",
          content: this.target,
          ttl: args.dns.ttlSeconds,
          // Not proxied: the TTL is what bounds how long resolvers keep the old site.
          proxied: false,
          comment: `drstack failover: ${this.plan.target} is active`,
        },
        { ...after, provider: requireCloudflare(name, args) },
      );
    }
    this.registerOutputs({ target: this.target });
  }
}

/**
 * The DNS owner's one Cloudflare provider, for the failover record and the
 * certificate validation records alike. The API token is the secret
 * `cloudflare:apiToken` of the secondary stack.
 */
export function cloudflareProvider(name: string, opts?: pulumi.CustomResourceOptions): cloudflare.Provider {
  const token = new pulumi.Config("cloudflare").getSecret("apiToken");
  return new cloudflare.Provider(name, token === undefined ? {} : { apiToken: token }, opts);
}

function requireCloudflare(name: string, args: FailoverDnsArgs): cloudflare.Provider {
  if (args.cloudflareProvider === undefined) {
    throw new Error(`${name}: dnsProvider is cloudflare but no Cloudflare provider was given`);
  }
  return args.cloudflareProvider;
}

function requireAws(name: string, args: FailoverDnsArgs): { provider: aws.Provider; topicArn: pulumi.Input<string> } {
  if (args.awsProvider === undefined || args.alarmTopicArn === undefined) {
    throw new Error(`${name}: dnsProvider is route53 but no AWS provider and alarm topic were given`);
  }
  return { provider: args.awsProvider, topicArn: args.alarmTopicArn };
}

function declareRoute53(name: string, args: FailoverDnsArgs, plan: DnsPlan, after: pulumi.CustomResourceOptions): void {
  const options = { ...after, provider: requireAws(name, args).provider };
  const checks = {} as Record<SiteName, aws.route53.HealthCheck>;
  for (const site of SITES) {
    checks[site] = new aws.route53.HealthCheck(
      `${name}-${site}-health`,
      {
        type: "HTTPS",
        fqdn: args.endpoints[site],
        port: WEB_SERVICE_PORT.port,
        resourcePath: args.dns.healthCheck.path,
        requestInterval: args.dns.healthCheck.intervalSeconds,
        failureThreshold: args.dns.healthCheck.failureThreshold,
        // Sends the endpoint as the TLS server name, which the site's certificate covers
        // (https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html, EnableSNI).
        enableSni: true,
        tags: { Name: `drstack ${site} ${args.endpoints[site]}` },
      },
      options,
    );
  }
  const answers = route53FailoverRecords(plan);
  const primary = declareRoute53Record(name, "PRIMARY", answers.PRIMARY, checks, args, options);
  // The PRIMARY record moves first: in between, both records answer with the
  // newly active site, never both with the one being left (in a failover, the lost one).
  declareRoute53Record(name, "SECONDARY", answers.SECONDARY, checks, args, { ...options, dependsOn: [...asArray(options.dependsOn), primary] });
  declareHealthCheckAlarms(name, args, checks, after);
}

function declareRoute53Record(
  name: string,
  role: FailoverRole,
  site: SiteName,
  checks: Record<SiteName, aws.route53.HealthCheck>,
  args: FailoverDnsArgs,
  options: pulumi.CustomResourceOptions,
): aws.route53.Record {
  return new aws.route53.Record(
    `${name}-record-${role}`,
    {
      zoneId: args.dns.route53ZoneId,
      name: args.appHostname,
      type: "CNAME",
      ttl: args.dns.ttlSeconds,
      records: [args.endpoints[site]],
      setIdentifier: route53SetIdentifier(role),
      failoverRoutingPolicies: [{ type: role }],
      healthCheckId: checks[site].id,
    },
    options,
  );
}

function asArray(dependsOn: pulumi.CustomResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (dependsOn === undefined) {
    return [];
  }
  return Array.isArray(dependsOn) ? dependsOn : [dependsOn as pulumi.Input<pulumi.Resource>];
}

/**
 * An alarm per site's health check, on Route 53's HealthCheckStatus (1
 * healthy, 0 unhealthy, once the check's own failure threshold is reached).
 * A missing metric means Route 53 is not reporting the check, which is as bad
 * as a failing one. Where the alarms live: `healthCheckAlarmPlacement`.
 */
function declareHealthCheckAlarms(name: string, args: FailoverDnsArgs, checks: Record<SiteName, aws.route53.HealthCheck>, after: pulumi.CustomResourceOptions): void {
  const placement = healthCheckAlarmPlacement(args.regions);
  if (placement === "none") {
    pulumi.log.warn(
      `Route 53 health checks of ${args.appHostname} are NOT alarmed: Route 53 publishes their metrics only in ${ROUTE53_METRICS_REGION}, ` +
        `the primary's region, and alarms there would make the secondary's failover depend on it. ` +
        `Alarm on them outside drstack, or choose a secondaryRegion of ${ROUTE53_METRICS_REGION} (README, "DNS failover").`,
    );
    return;
  }
  const owner = requireAws(name, args);
  let topicArn = pulumi.output(owner.topicArn);
  let provider = owner.provider;
  if (placement === "metrics-region") {
    provider = new aws.Provider(
      `${name}-${ROUTE53_METRICS_REGION}`,
      { region: ROUTE53_METRICS_REGION, defaultTags: { tags: { "drstack:site": "secondary", "drstack:managed-by": "pulumi" } } },
      { parent: after.parent },
    );
    const accountId = aws.getCallerIdentityOutput({}, { provider }).accountId;
    topicArn = new SiteAlarms(`${name}-health-alarms`, { site: "secondary", accountId, emails: args.alarmEmails }, { parent: after.parent, provider }).topicArn;
  }
  for (const site of SITES) {
    new aws.cloudwatch.MetricAlarm(
      `${name}-${site}-health-alarm`,
      {
        ...notifyTopic(topicArn),
        alarmDescription:
          `Route 53 finds ${args.endpoints[site]} (${site}) unhealthy: HTTPS ${args.dns.healthCheck.path} fails. ` +
          `While it is the active site, Route 53 already answers with the other site, whose database is read-only until activeSite is flipped (README, Failover).`,
        ...healthCheckStatusAlarm(checks[site].id),
      },
      { ...after, provider },
    );
  }
}

export function healthCheckStatusAlarm(healthCheckId: pulumi.Input<string>): Partial<aws.cloudwatch.MetricAlarmArgs> {
  return {
    namespace: "AWS/Route53",
    metricName: "HealthCheckStatus",
    dimensions: { HealthCheckId: healthCheckId },
    statistic: "Minimum",
    period: 60,
    evaluationPeriods: 1,
    comparisonOperator: "LessThanThreshold",
    threshold: 1,
    treatMissingData: "breaching",
  };
}

function declareCloudflareLoadBalancer(name: string, args: FailoverDnsArgs, plan: DnsPlan, options: pulumi.CustomResourceOptions): void {
  const { accountId, zoneId } = args.dns.cloudflare;
  const monitor = new cloudflare.LoadBalancerMonitor(
    `${name}-monitor`,
    {
      accountId,
      type: "https",
      method: "GET",
      path: args.dns.healthCheck.path,
      port: WEB_SERVICE_PORT.port,
      expectedCodes: "200",
      interval: args.dns.healthCheck.intervalSeconds,
      consecutiveDown: args.dns.healthCheck.failureThreshold,
      consecutiveUp: 2,
      retries: 1,
      timeout: 5,
      followRedirects: false,
      allowInsecure: false,
      description: `drstack ${args.appHostname} ${args.dns.healthCheck.path}`,
    },
    options,
  );
  const pools = {} as Record<SiteName, cloudflare.LoadBalancerPool>;
  for (const site of SITES) {
    pools[site] = new cloudflare.LoadBalancerPool(
      `${name}-${site}-pool`,
      {
        accountId,
        name: `drstack-${site}`,
        description: `drstack ${site} site`,
        // The monitor sends the endpoint as Host (and TLS server name), which the
        // site's certificate covers; allowInsecure is off, so Cloudflare checks it.
        origins: [{ name: site, address: args.endpoints[site], enabled: true, header: { hosts: [args.endpoints[site]] } }],
        monitor: monitor.id,
        minimumOrigins: 1,
        enabled: true,
      },
      options,
    );
  }
  new cloudflare.LoadBalancer(
    `${name}-load-balancer`,
    {
      zoneId,
      name: args.appHostname,
      description: `drstack failover: ${plan.target} is active`,
      // "off": pools are tried strictly in order, the active site's first.
      steeringPolicy: "off",
      defaultPools: plan.order.map((site) => pools[site].id),
      // Used only when every pool looks unhealthy (e.g. the monitor itself is
      // wrong): keep sending users to the active site then.
      fallbackPool: pools[plan.target].id,
      proxied: false,
      ttl: args.dns.ttlSeconds,
      enabled: true,
    },
    options,
  );
}
