import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SiteName } from "./roles";

/**
 * What the workloads and backup components need from the database and network
 * components, and stand-ins for it. The components take these as plain typed
 * inputs; when the database (`infra/database.ts`) and network components land,
 * `deploySite` passes their outputs instead of the `placeholder*` functions.
 *
 * Every value is derived from this site's own config or read in this site's
 * own region, so the stand-ins never reach into the peer's region either.
 */

export interface SiteDatabaseEndpoint {
  /** The site's own instance: the writer when active, the read replica when standby. */
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** Secrets Manager secret with the credentials the backup job connects with. */
  secretArn: pulumi.Input<string>;
}

export interface SiteNetwork {
  vpcId: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
}

export const POSTGRES_PORT = 5432;

/** The URL both the application and the backup job connect with; never with credentials in it. */
export function databaseUrl(host: pulumi.Input<string>, port: pulumi.Input<number>, database: string): pulumi.Output<string> {
  return pulumi.interpolate`postgres://${host}:${port}/${database}`;
}

/** `<namePrefix>-<site>-db`: the database instance's identifier, resolvable inside the site. */
export function placeholderDatabaseHost(namePrefix: string, site: SiteName): string {
  return `${namePrefix}-${site}-db`;
}

export function databaseSecretName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}/${site}/db`;
}

export function placeholderDatabase(namePrefix: string, site: SiteName, provider: aws.Provider): SiteDatabaseEndpoint {
  return {
    host: placeholderDatabaseHost(namePrefix, site),
    port: POSTGRES_PORT,
    secretArn: aws.secretsmanager.getSecretOutput({ name: databaseSecretName(namePrefix, site) }, { provider }).arn,
  };
}

/** The site's VPC by its Name tag, and its subnets tagged `drstack:subnet=private`. */
export function placeholderNetwork(namePrefix: string, site: SiteName, provider: aws.Provider): SiteNetwork {
  const vpc = aws.ec2.getVpcOutput({ tags: { Name: `${namePrefix}-${site}` } }, { provider });
  const subnets = aws.ec2.getSubnetsOutput(
    { filters: [{ name: "vpc-id", values: [vpc.id] }, { name: "tag:drstack:subnet", values: ["private"] }] },
    { provider },
  );
  return { vpcId: vpc.id, privateSubnetIds: subnets.ids };
}
