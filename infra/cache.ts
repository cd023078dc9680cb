import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { CacheConfig } from "./config";
import { cacheReplicationGroupId } from "./naming";
import { SiteName } from "./roles";
import { REDIS_PORT } from "./siteConnections";

export interface SiteCacheArgs {
  site: SiteName;
  namePrefix: string;
  cache: CacheConfig;
  vpcId: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The groups the cluster's pods carry: only they may connect. */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /** The site's data key; encrypts the cache at rest. */
  kmsKeyArn: pulumi.Input<string>;
}

/**
 * The site's Redis: an ElastiCache replication group encrypted in transit
 * (TLS, AUTH token) and at rest with the site's own key. It is deliberately
 * NOT replicated across regions: the plans treat cache loss as non-critical
 * and the application starts on a cold cache after a failover. Nothing about
 * it depends on the role, so a failover leaves it untouched; it is not
 * `protect`ed because it holds nothing that cannot be rebuilt.
 */
export class SiteCache extends pulumi.ComponentResource {
  public readonly primaryEndpoint: pulumi.Output<string>;
  public readonly port: pulumi.Output<number>;
  /** The AUTH token clients present; a secret in state. */
  public readonly authToken: pulumi.Output<string>;

  constructor(name: string, args: SiteCacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:cache:SiteCache", name, {}, opts);
    const child = { parent: this };

    const subnetGroup = new aws.elasticache.SubnetGroup(
      `${name}-subnets`,
      { name: `${cacheReplicationGroupId(args.namePrefix, args.site)}-subnets`, subnetIds: args.privateSubnetIds },
      child,
    );
    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `drstack ${args.site} Redis: TLS from the cluster pods only`,
        ingress: [{ protocol: "tcp", fromPort: REDIS_PORT, toPort: REDIS_PORT, securityGroups: args.clientSecurityGroupIds, description: "Redis over TLS" }],
      },
      child,
    );
    // Characters ElastiCache accepts in an AUTH token: printable, without @, " or /.
    const authToken = new random.RandomPassword(`${name}-auth-token`, { length: 64, special: false }, child);
    const replicated = args.cache.replicaCount > 0;
    const group = new aws.elasticache.ReplicationGroup(
      `${name}-redis`,
      {
        replicationGroupId: cacheReplicationGroupId(args.namePrefix, args.site),
        description: `drstack ${args.site} cache (not replicated across regions)`,
        engine: "redis",
        engineVersion: "7.1",
        nodeType: args.cache.nodeType,
        numCacheClusters: 1 + args.cache.replicaCount,
        automaticFailoverEnabled: replicated,
        multiAzEnabled: replicated,
        subnetGroupName: subnetGroup.name,
        securityGroupIds: [securityGroup.id],
        atRestEncryptionEnabled: true,
        kmsKeyId: args.kmsKeyArn,
        transitEncryptionEnabled: true,
        authToken: authToken.result,
        port: REDIS_PORT,
        snapshotRetentionLimit: 1,
        autoMinorVersionUpgrade: true,
      },
      child,
    );
    this.primaryEndpoint = group.primaryEndpointAddress;
    this.port = pulumi.output(REDIS_PORT);
    this.authToken = pulumi.secret(authToken.result);
    this.registerOutputs({ primaryEndpoint: this.primaryEndpoint });
  }
}
