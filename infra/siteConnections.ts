import * as pulumi from "@pulumi/pulumi";
import { SiteName } from "./roles";

/**
 * What the workloads and backup components need from the site's database and
 * network, as plain typed inputs: `deploySite` passes the outputs of
 * `SiteDatabase` and `SiteNetwork`, all in the site's own region.
 */

export interface SiteDatabaseEndpoint {
  /** The site's own instance: the writer when active, the read replica when standby. */
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** Secrets Manager secret (RDS JSON: username, password, host, port) the backup job connects with. */
  secretArn: pulumi.Input<string>;
  /** The KMS key that encrypts the secret: reading it needs kms:Decrypt through Secrets Manager. */
  secretKeyArn: pulumi.Input<string>;
}

/** Where a function that connects to the database runs: the site's data subnets. */
export interface FunctionNetwork {
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The backup functions' own group (SiteNetwork): the database admits it, the endpoints too. */
  securityGroupId: pulumi.Input<string>;
  /** `AWS_ENDPOINT_URL_<SERVICE>` of each interface endpoint the functions call (ServiceEndpoints). */
  endpointEnvironment: pulumi.Input<Record<string, string>>;
}

export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;
export const HTTPS_PORT = 443;

/**
 * Where the backup image keeps Amazon RDS's certificate bundle (the global
 * bundle of every region's RDS CAs; Amazon RDS User Guide, "Using SSL/TLS to
 * encrypt a connection to a DB instance or cluster").
 */
export const RDS_CA_BUNDLE_PATH = "/opt/drstack/rds-global-bundle.pem";

/**
 * The URL the backup job connects with; never with credentials in it (those
 * come from the secret). TLS with the server's certificate and host name
 * verified against RDS's CAs: RDS for PostgreSQL 15 and later refuses
 * unencrypted connections by default (`rds.force_ssl`), and without
 * verification anything answering on the address could read the dump.
 */
export function databaseUrl(host: pulumi.Input<string>, port: pulumi.Input<number>, database: string): pulumi.Output<string> {
  return pulumi.interpolate`postgres://${host}:${port}/${database}?sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE_PATH}`;
}

export function databaseSecretName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}/${site}/db`;
}
