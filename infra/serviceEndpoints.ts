import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PolicyDocument, PolicyStatement } from "./policyDocument";
import { SiteName } from "./roles";

/**
 * The AWS services the functions in the data subnets call through interface
 * endpoints, with the service id the AWS SDK for JavaScript names them by.
 * S3 is not here: it goes through the gateway endpoint (infra/network.ts).
 */
export const INTERFACE_SERVICES = {
  secretsmanager: { sdkServiceId: "Secrets Manager", sdkPackage: "@aws-sdk/client-secrets-manager" },
  ssm: { sdkServiceId: "SSM", sdkPackage: "@aws-sdk/client-ssm" },
  lambda: { sdkServiceId: "Lambda", sdkPackage: "@aws-sdk/client-lambda" },
} as const;
export type InterfaceService = keyof typeof INTERFACE_SERVICES;

/**
 * The environment variable the AWS SDK for JavaScript v3 reads a service's
 * endpoint from: `AWS_ENDPOINT_URL_` and the SDK's service id in upper case,
 * words joined by `_` (e.g. AWS_ENDPOINT_URL_SECRETS_MANAGER; the AWS SDKs
 * and Tools Reference Guide, "Service-specific endpoints").
 */
export function endpointUrlVariable(service: InterfaceService): string {
  return ["AWS_ENDPOINT_URL", ...INTERFACE_SERVICES[service].sdkServiceId.split(" ").map((word) => word.toUpperCase())].join("_");
}

/** One thing a function in the data subnets may do through an endpoint. */
export interface EndpointAccess {
  service: InterfaceService;
  actions: string[];
  resources: pulumi.Input<string>[];
}

export interface ServiceEndpointsArgs {
  site: SiteName;
  region: string;
  vpcId: pulumi.Input<string>;
  /** One endpoint network interface in each data subnet, so every zone the functions run in has its own. */
  subnetIds: pulumi.Input<pulumi.Input<string>[]>;
  securityGroupId: pulumi.Input<string>;
  /** Everything the functions call; one endpoint per service, its policy the union of these. */
  access: EndpointAccess[];
}

/**
 * Interface endpoints for the AWS APIs the backup functions call from the data
 * subnets, which have no route out of the VPC. Private DNS is deliberately
 * OFF: the data subnets sit in the cluster's VPC, and an endpoint with
 * private DNS would answer for that service across the whole VPC, so every
 * pod's calls would hit this endpoint's security group and policy (and a VPC
 * that already has such an endpoint would refuse a second). The functions are
 * pointed at the endpoints' own DNS names instead, through the SDK's
 * per-service endpoint variables in `environment`.
 */
export class ServiceEndpoints extends pulumi.ComponentResource {
  /** `AWS_ENDPOINT_URL_<SERVICE>` -> `https://<endpoint DNS name>`, for the functions' environment. */
  public readonly environment: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ServiceEndpointsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:network:ServiceEndpoints", name, {}, opts);
    const services = [...new Set(args.access.map((entry) => entry.service))];
    const urls = services.map((service) => {
      const endpoint = new aws.ec2.VpcEndpoint(
        `${name}-${service}`,
        {
          vpcId: args.vpcId,
          serviceName: `com.amazonaws.${args.region}.${service}`,
          vpcEndpointType: "Interface",
          privateDnsEnabled: false,
          subnetIds: args.subnetIds,
          securityGroupIds: [args.securityGroupId],
          policy: pulumi.jsonStringify(endpointPolicy(args.access.filter((entry) => entry.service === service))),
          tags: { Name: `drstack-${args.site}-${service}` },
        },
        { parent: this },
      );
      // The first entry is the regional name, which spans every zone's interface.
      return endpoint.dnsEntries.apply((entries) => [endpointUrlVariable(service), `https://${regionalDnsName(entries, service)}`] as const);
    });
    this.environment = pulumi.all(urls).apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({ environment: this.environment });
  }
}

function regionalDnsName(entries: aws.types.output.ec2.VpcEndpointDnsEntry[], service: InterfaceService): string {
  const name = entries[0]?.dnsName;
  if (!name) {
    throw new Error(`the ${service} interface endpoint reported no DNS name`);
  }
  return name;
}

/** An endpoint policy is a second gate beside IAM: only these actions on these resources pass. */
export function endpointPolicy(access: EndpointAccess[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: access.map(
      (entry, index): PolicyStatement => ({
        Sid: `Allowed${index + 1}`,
        Effect: "Allow",
        Principal: "*",
        Action: entry.actions,
        Resource: entry.resources,
      }),
    ),
  };
}
