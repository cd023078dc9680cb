import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PolicyDocument } from "./policyDocument";
import { SiteName } from "./roles";
import { HTTPS_PORT } from "./siteConnections";

/**
 * The drill's VPC holds nothing else and is joined to nothing, so one fixed
 * range serves every site: it can never overlap a network it talks to.
 */
export const DRILL_VPC_CIDR = "10.255.255.0/24";
export const DRILL_SUBNET_CIDR = "10.255.255.0/26";

/**
 * What the drill task reaches, by interface endpoint, with what: pulling its
 * image (ecr.api for the token and manifest, ecr.dkr for the registry; the
 * layers come from S3 through the gateway endpoint), its log stream (the
 * awslogs driver) and its metrics. Nothing else leaves the VPC.
 */
export const DRILL_INTERFACE_ENDPOINTS = {
  "ecr.api": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
  "ecr.dkr": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
  logs: ["logs:CreateLogStream", "logs:PutLogEvents"],
  monitoring: ["cloudwatch:PutMetricData"],
} as const satisfies Record<string, readonly string[]>;
export type DrillInterfaceService = keyof typeof DRILL_INTERFACE_ENDPOINTS;

export interface DrillNetworkArgs {
  site: SiteName;
  region: string;
  /** Only this account's principals may use the endpoints: stolen or foreign credentials cannot carry data out through them. */
  accountId: pulumi.Input<string>;
  /** The zone of the drill's one subnet (the first data subnet's zone: a zone the site already uses). */
  zoneId: string;
  /** The only bucket of the site's the drill reaches through the S3 gateway endpoint. */
  backupBucketArn: pulumi.Input<string>;
}

/**
 * A network for the restore drill task only: one private subnet in a VPC of
 * its own, with no internet gateway and no NAT, so the task that reads and
 * decrypts every backup has no path out of AWS. It reaches S3 through a
 * gateway endpoint whose policy admits only the site's backup bucket and
 * ECR's layer bucket, and the four other APIs it calls through interface
 * endpoints with private DNS. Private DNS is safe here, where it is not in
 * the cluster's VPC (infra/serviceEndpoints.ts): this VPC holds nothing else
 * whose calls it would capture, and the Fargate agent that pulls the image
 * resolves the services' standard names, which only private DNS can answer.
 *
 * One subnet, in one zone: a drill is a monthly test, not a recovery path,
 * and each interface endpoint is billed per zone it serves.
 */
export class DrillNetwork extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly subnetIds: pulumi.Output<string[]>;
  /** Carried by the drill task: out on 443 to the endpoints and S3 only. */
  public readonly taskSecurityGroupId: pulumi.Output<string>;

  constructor(name: string, args: DrillNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:network:DrillNetwork", name, {}, opts);
    const child = { parent: this };
    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      // Both DNS settings: interface endpoints' private DNS answers only in a VPC that has them.
      { cidrBlock: DRILL_VPC_CIDR, enableDnsSupport: true, enableDnsHostnames: true, tags: { Name: `drstack-${args.site}-drills` } },
      child,
    );
    const subnet = new aws.ec2.Subnet(
      `${name}-subnet`,
      { vpcId: vpc.id, cidrBlock: DRILL_SUBNET_CIDR, availabilityZoneId: args.zoneId, mapPublicIpOnLaunch: false, tags: { Name: `drstack-${args.site}-drills-${args.zoneId}` } },
      child,
    );
    const routeTable = new aws.ec2.RouteTable(`${name}-routes`, { vpcId: vpc.id, tags: { Name: `drstack-${args.site}-drills` } }, child);
    new aws.ec2.RouteTableAssociation(`${name}-subnet-routes`, { subnetId: subnet.id, routeTableId: routeTable.id }, child);
    const s3 = new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId: vpc.id,
        serviceName: `com.amazonaws.${args.region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: [routeTable.id],
        policy: pulumi.jsonStringify(drillS3EndpointPolicy(args.backupBucketArn, args.region, args.accountId)),
        tags: { Name: `drstack-${args.site}-drills-s3` },
      },
      child,
    );
    const task = new aws.ec2.SecurityGroup(
      `${name}-task`,
      {
        vpcId: vpc.id,
        description: `drstack ${args.site} restore drill task: out to the drill VPC endpoints and S3 only`,
        egress: [
          { description: "AWS interface endpoints in the drill VPC", protocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, cidrBlocks: [DRILL_VPC_CIDR] },
          { description: "S3 through the gateway endpoint (backups, image layers)", protocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, prefixListIds: [s3.prefixListId] },
        ],
        tags: { Name: `drstack-${args.site}-drill-task` },
      },
      child,
    );
    const endpoints = new aws.ec2.SecurityGroup(
      `${name}-endpoints`,
      {
        vpcId: vpc.id,
        description: `drstack ${args.site} drill endpoints: HTTPS from the drill task only`,
        ingress: [{ description: "HTTPS from the drill task", protocol: "tcp", fromPort: HTTPS_PORT, toPort: HTTPS_PORT, securityGroups: [task.id] }],
        tags: { Name: `drstack-${args.site}-drill-endpoints` },
      },
      child,
    );
    for (const [service, actions] of Object.entries(DRILL_INTERFACE_ENDPOINTS)) {
      new aws.ec2.VpcEndpoint(
        `${name}-${service.replace(".", "-")}`,
        {
          vpcId: vpc.id,
          serviceName: `com.amazonaws.${args.region}.${service}`,
          vpcEndpointType: "Interface",
          privateDnsEnabled: true,
          subnetIds: [subnet.id],
          securityGroupIds: [endpoints.id],
          policy: pulumi.jsonStringify(drillInterfaceEndpointPolicy(actions, args.accountId)),
          tags: { Name: `drstack-${args.site}-drills-${service}` },
        },
        child,
      );
    }

    this.vpcId = vpc.id;
    this.subnetIds = pulumi.all([subnet.id]);
    this.taskSecurityGroupId = task.id;
    this.registerOutputs({ vpcId: this.vpcId, subnetIds: this.subnetIds, taskSecurityGroupId: this.taskSecurityGroupId });
  }
}

/**
 * ECR keeps image layers in a bucket of its own per region, read through
 * the S3 gateway (Amazon ECR User Guide, "Minimum Amazon S3 bucket
 * permissions for Amazon ECR": `prod-<region>-starport-layer-bucket`).
 */
export function ecrLayerBucketArn(region: string): string {
  return `arn:aws:s3:::prod-${region}-starport-layer-bucket`;
}

/**
 * Through the drill VPC's gateway: this account's principals read the site's
 * backups and write its drill reports; ECR's layers are read with the URLs
 * ECR signs (its own principal), so that statement names no account.
 */
export function drillS3EndpointPolicy(backupBucketArn: pulumi.Input<string>, region: string, accountId: pulumi.Input<string>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "SiteBackupBucket",
        Effect: "Allow",
        Principal: "*",
        Action: ["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
        Resource: [backupBucketArn, pulumi.interpolate`${backupBucketArn}/*`],
        Condition: { StringEquals: { "aws:PrincipalAccount": accountId } },
      },
      { Sid: "EcrImageLayers", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${ecrLayerBucketArn(region)}/*` },
    ],
  };
}

/** An interface endpoint of the drill VPC passes only the calls the task and its image pull make. */
export function drillInterfaceEndpointPolicy(actions: readonly string[], accountId: pulumi.Input<string>): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Sid: "DrillTaskCalls", Effect: "Allow", Principal: "*", Action: [...actions], Resource: "*", Condition: { StringEquals: { "aws:PrincipalAccount": accountId } } }],
  };
}
