import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { NetworkConfig } from "./config";
import { PolicyDocument } from "./policyDocument";
import { SiteName } from "./roles";
import { DatabaseEngine, ENGINE_PROFILES } from "./engines";
import { HTTPS_PORT } from "./siteConnections";

export interface SiteNetworkArgs {
  /** The site this network belongs to; part of names and tags. */
  site: SiteName;
  region: string;
  /** The cluster's VPC, its pods' security groups and the data subnets to create. */
  network: NetworkConfig;
  /** The only bucket the data subnets may reach through the S3 gateway endpoint. */
  backupBucketArn: pulumi.Input<string>;
  /** `databaseEngine`: the port the backup functions may reach the database on. */
  engine: DatabaseEngine;
}

/**
 * The site's data tier inside its Kubernetes cluster's VPC, so the cluster's
 * pods reach the database and cache over the VPC's local route with no
 * peering: private subnets in availability zones pinned by ID in config (an
 * impaired zone never changes the list), on a route table of their own with
 * no route out of the VPC except the S3 gateway endpoint (limited by its
 * policy to the site's backup bucket). Nothing here spans regions.
 *
 * It also owns the security groups that reference each other across
 * components: the backup functions' group (out to the database's port and to AWS APIs
 * inside the data subnets, to S3 by its prefix list, nothing else) and the
 * group of the interface endpoints (in from the backup functions on 443).
 */
export class SiteNetwork extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  /** The data subnets, one per configured zone. */
  public readonly dataSubnetIds: pulumi.Output<string[]>;
  public readonly routeTableId: pulumi.Output<string>;
  /** The groups the cluster's pods carry (config): the database and cache admit them. */
  public readonly clusterSecurityGroupIds: string[];
  /** Carried by the backup functions; the database admits it. */
  public readonly backupFunctionsSecurityGroupId: pulumi.Output<string>;
  /** Carried by the interface endpoints; admits the backup functions on 443. */
  public readonly endpointsSecurityGroupId: pulumi.Output<string>;

  constructor(name: string, args: SiteNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:network:SiteNetwork", name, {}, opts);
    const child = { parent: this };
    const { network } = args;
    this.vpcId = pulumi.output(network.clusterVpcId);
    this.clusterSecurityGroupIds = network.clusterSecurityGroupIds;

    const subnets = network.dataSubnets.map(
      (subnet, index) =>
        new aws.ec2.Subnet(
          `${name}-data-${index + 1}`,
          {
            vpcId: network.clusterVpcId,
            cidrBlock: subnet.cidr,
            availabilityZoneId: subnet.zoneId,
            mapPublicIpOnLaunch: false,
            tags: { Name: `drstack-${args.site}-data-${subnet.zoneId}` },
          },
          child,
        ),
    );
    // A route table of its own: the VPC's main table (often with a NAT or
    // internet route) never applies, so these subnets leave the VPC only
    // through the gateway endpoint below.
    const routeTable = new aws.ec2.RouteTable(
      `${name}-data-routes`,
      { vpcId: network.clusterVpcId, tags: { Name: `drstack-${args.site}-data` } },
      child,
    );
    subnets.forEach((subnet, index) => {
      new aws.ec2.RouteTableAssociation(`${name}-data-${index + 1}-routes`, { subnetId: subnet.id, routeTableId: routeTable.id }, child);
    });
    const s3 = new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: network.clusterVpcId,
        serviceName: `com.amazonaws.${args.region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: [routeTable.id],
        policy: pulumi.jsonStringify(s3GatewayEndpointPolicy(args.backupBucketArn)),
        tags: { Name: `drstack-${args.site}-s3` },
      },
      child,
    );

    const dataCidrs = network.dataSubnets.map((subnet) => subnet.cidr);
    const { label, port } = ENGINE_PROFILES[args.engine];
    const backupFunctions = new aws.ec2.SecurityGroup(
      `${name}-backup-functions`,
      {
        vpcId: network.clusterVpcId,
        description: `drstack ${args.site} backup functions: out to ${label} and the AWS endpoints in the data subnets only`,
        // No ingress: nothing connects to a function. Egress stays inside the
        // data subnets (the database and the interface endpoints live there)
        // plus S3's prefix list, which the gateway endpoint routes.
        egress: [
          { description: `${label} in the data subnets`, protocol: "tcp", fromPort: port, toPort: port, cidrBlocks: dataCidrs },
          { description: "AWS interface endpoints in the data subnets", protocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, cidrBlocks: dataCidrs },
          { description: "S3 through the gateway endpoint", protocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, prefixListIds: [s3.prefixListId] },
        ],
        tags: { Name: `drstack-${args.site}-backup-functions` },
      },
      child,
    );
    const endpoints = new aws.ec2.SecurityGroup(
      `${name}-endpoints`,
      {
        vpcId: network.clusterVpcId,
        description: `drstack ${args.site} interface endpoints: HTTPS from the backup functions only`,
        ingress: [{ description: "HTTPS from the backup functions", protocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, securityGroups: [backupFunctions.id] }],
        tags: { Name: `drstack-${args.site}-endpoints` },
      },
      child,
    );

    this.dataSubnetIds = pulumi.all(subnets.map((subnet) => subnet.id));
    this.routeTableId = routeTable.id;
    this.backupFunctionsSecurityGroupId = backupFunctions.id;
    this.endpointsSecurityGroupId = endpoints.id;
    this.registerOutputs({ vpcId: this.vpcId, dataSubnetIds: this.dataSubnetIds, backupFunctionsSecurityGroupId: this.backupFunctionsSecurityGroupId });
  }
}

/**
 * The gateway endpoint serves only this route table's subnets; its policy is
 * a second gate beside the functions' own IAM: nothing in the data subnets
 * can move data to any other bucket, even with stolen credentials.
 */
export function s3GatewayEndpointPolicy(bucketArn: pulumi.Input<string>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OnlyTheSiteBackupBucket",
        Effect: "Allow",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, pulumi.interpolate`${bucketArn}/*`],
      },
    ],
  };
}
