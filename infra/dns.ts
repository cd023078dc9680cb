import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { DnsConfig } from "./config";
import { SiteName, SITES } from "./roles";
import { dnsFailoverOrder } from "./sitePlan";

export interface FailoverDnsArgs {
  /** The hostname users type. */
  appHostname: string;
  /** The site that should receive traffic; decides the failover order. */
  activeSite: SiteName;
  /** Each site's endpoint, from config: computable without the peer's stack. */
  endpoints: Record<SiteName, string>;
  dns: DnsConfig;
  /** AWS provider for Route 53 (a global service). */
  awsProvider: aws.Provider;
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

/** Route 53 failover type of a site's record: PRIMARY for the active site. */
export function route53FailoverType(site: SiteName, plan: DnsPlan): "PRIMARY" | "SECONDARY" {
  return plan.order[0] === site ? "PRIMARY" : "SECONDARY";
}

/**
 * The failover DNS for appHostname, owned by the secondary stack alone (the
 * stack that must act when the primary is lost). Everything it declares comes
 * from the secondary's own config: the endpoints are config values, never the
 * primary's stack outputs. Resources are named by site, never by position, so
 * a failover updates priorities and targets in place.
 *
 * - Cloudflare, plain: one CNAME at the active site's endpoint, TTL <= 60 s.
 *   Moves only when `activeSite` is flipped.
 * - Cloudflare, load balancer: one HTTPS monitor, one pool per site, pools in
 *   failover order with the active site's first; Cloudflare moves traffic by
 *   itself when the active pool fails its checks.
 * - Route 53: PRIMARY/SECONDARY failover records with set identifiers named
 *   after the sites, each tied to an HTTPS health check of its site.
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
      declareRoute53(name, args, this.plan, after);
    } else if (args.dns.cloudflare.loadBalancer) {
      declareCloudflareLoadBalancer(name, args, this.plan, { ...after, provider: cloudflareProvider(name, this) });
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
        { ...after, provider: cloudflareProvider(name, this) },
      );
    }
    this.registerOutputs({ target: this.target });
  }
}

/** The API token is the secret `cloudflare:apiToken` of the secondary stack. */
function cloudflareProvider(name: string, parent: pulumi.Resource): cloudflare.Provider {
  const token = new pulumi.Config("cloudflare").getSecret("apiToken");
  return new cloudflare.Provider(`${name}-cloudflare`, token === undefined ? {} : { apiToken: token }, { parent });
}

function declareRoute53(name: string, args: FailoverDnsArgs, plan: DnsPlan, after: pulumi.CustomResourceOptions): void {
  const options = { ...after, provider: args.awsProvider };
  for (const site of SITES) {
    const check = new aws.route53.HealthCheck(
      `${name}-${site}-health`,
      {
        type: "HTTPS",
        fqdn: args.endpoints[site],
        port: 443,
        resourcePath: args.dns.healthCheck.path,
        requestInterval: args.dns.healthCheck.intervalSeconds,
        failureThreshold: args.dns.healthCheck.failureThreshold,
        enableSni: true,
        tags: { Name: `drstack ${site} ${args.endpoints[site]}` },
      },
      options,
    );
    new aws.route53.Record(
      `${name}-${site}-record`,
      {
        zoneId: args.dns.route53ZoneId,
        name: args.appHostname,
        type: "CNAME",
        ttl: args.dns.ttlSeconds,
        records: [args.endpoints[site]],
        setIdentifier: `drstack-${site}`,
        failoverRoutingPolicies: [{ type: route53FailoverType(site, plan) }],
        healthCheckId: check.id,
      },
      options,
    );
  }
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
      port: 443,
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
        origins: [{ name: site, address: args.endpoints[site], enabled: true }],
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
