import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { NetworkConfig } from "./config";
import { SiteName } from "./roles";

export interface SiteNetworkArgs {
  /** The site this network belongs to; part of names and tags. */
  site: SiteName;
  /** A VPC drstack creates, or an existing VPC and subnets. */
  network: NetworkConfig;
}

/**
 * A site's private network for the database, cache and functions: a VPC with
 * one private subnet per availability zone (at least two), or an existing VPC
 * and its subnets. Nothing here is reachable from the internet, and nothing
 * spans regions: each site's network stands alone when the other is lost.
 * The application security group is what the workloads attach; the database
 * and cache admit only it.
 */
export class SiteNetwork extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  /** Private subnets in distinct availability zones. */
  public readonly privateSubnetIds: pulumi.Output<string[]>;
  /** Attach to whatever must reach the database and cache (workloads, backup functions). */
  public readonly appSecurityGroupId: pulumi.Output<string>;

  constructor(name: string, args: SiteNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:network:SiteNetwork", name, {}, opts);
    const child = { parent: this };
    const { network } = args;

    if (network.existing) {
      this.vpcId = pulumi.output(network.existing.vpcId);
      this.privateSubnetIds = pulumi.output(network.existing.privateSubnetIds);
    } else {
      const vpc = new aws.ec2.Vpc(
        `${name}-vpc`,
        { cidrBlock: network.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `drstack-${args.site}` } },
        child,
      );
      const zones = aws.getAvailabilityZonesOutput({ state: "available" }, { parent: this });
      const subnets = Array.from({ length: network.availabilityZoneCount }, (_, index) => {
        return new aws.ec2.Subnet(
          `${name}-private-${index + 1}`,
          {
            vpcId: vpc.id,
            cidrBlock: subnetCidr(network.vpcCidr, 2, index),
            availabilityZone: zones.names.apply((names) => zoneAt(names, index, network.availabilityZoneCount)),
            mapPublicIpOnLaunch: false,
            tags: { Name: `drstack-${args.site}-private-${index + 1}` },
          },
          child,
        );
      });
      this.vpcId = vpc.id;
      this.privateSubnetIds = pulumi.all(subnets.map((subnet) => subnet.id));
    }

    const appSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-app`,
      {
        vpcId: this.vpcId,
        description: `drstack ${args.site}: members may reach the site's database and cache`,
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "outbound" }],
      },
      child,
    );
    this.appSecurityGroupId = appSecurityGroup.id;
    this.registerOutputs({ vpcId: this.vpcId, privateSubnetIds: this.privateSubnetIds, appSecurityGroupId: this.appSecurityGroupId });
  }
}

/** The zone for subnet `index`; fails loudly when the region has fewer zones than configured. */
export function zoneAt(names: string[], index: number, wanted: number): string {
  if (names.length < wanted) {
    throw new Error(
      `availabilityZoneCount is ${wanted} but the region offers ${names.length} available zones (${names.join(", ")}); lower availabilityZoneCount.`,
    );
  }
  return names[index];
}

/** The `index`-th subnet of `cidr` with `newBits` more prefix bits (like Terraform's cidrsubnet). */
export function subnetCidr(cidr: string, newBits: number, index: number): string {
  const [address, prefixText] = cidr.split("/");
  const prefix = Number(prefixText) + newBits;
  if (prefix > 28 || index < 0 || index >= 2 ** newBits) {
    throw new Error(`cannot cut subnet ${index} of /${prefix} out of ${cidr}`);
  }
  const base = address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  const start = (base - (base % (size * 2 ** newBits))) + index * size;
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(start / 2 ** shift) % 256);
  return `${octets.join(".")}/${prefix}`;
}
