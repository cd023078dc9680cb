import * as pulumi from "@pulumi/pulumi";
import { DatabaseEngine, ENGINE_PROFILES, POSTGRES_PORT, MYSQL_PORT } from "./engines";
import { SiteName } from "./roles";

/**
 * What the workloads and backup components need from the site's database and
 * network, as plain typed inputs: `deploySite` passes the outputs of
 * `SiteDatabase` and `SiteNetwork`, all in the site's own region.
 */

export interface SiteDatabaseEndpoint {
  /** `databaseEngine`: the URL's scheme and the tools the backup job runs. */
  engine: DatabaseEngine;
  /** The site's own instance: the writer when active, the read replica when standby. */
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** Secrets Manager secret (RDS JSON: engine, username, password, host, port, dbname) the backup job connects with. */
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

export { POSTGRES_PORT, MYSQL_PORT };

/** The port the site's database listens on: RDS's default for its engine, which drstack never changes. */
export function databasePort(engine: DatabaseEngine): number {
  return ENGINE_PROFILES[engine].port;
}
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
 * come from the secret). The scheme is the engine (`postgres://`,
 * `mysql://`, `mariadb://`: the backup code picks its dump tool by it, README,
 * "Database engines"), and TLS with the server's
 * certificate and host name verified against RDS's CAs, in the same query
 * parameters for every engine (the backup code maps them to the MySQL and
 * MariaDB clients' own flags): RDS for PostgreSQL 15 and later refuses
 * unencrypted connections by default (`rds.force_ssl`), drstack's MySQL and
 * MariaDB parameter group does (`require_secure_transport`), and without
 * verification anything answering on the address could read the dump.
 */
export function databaseUrl(engine: DatabaseEngine, host: pulumi.Input<string>, port: pulumi.Input<number>, database: string): pulumi.Output<string> {
  const scheme = ENGINE_PROFILES[engine].backupUrlScheme;
  return pulumi.interpolate`${scheme}://${host}:${port}/${database}?sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE_PATH}`;
}

export function databaseSecretName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}/${site}/db`;
}
