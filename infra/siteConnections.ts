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
}

export interface SiteNetwork {
  vpcId: pulumi.Input<string>;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The security group the database and cache admit; functions that connect to them carry it. */
  databaseClientSecurityGroupId: pulumi.Input<string>;
}

export const POSTGRES_PORT = 5432;

/** The URL both the application and the backup job connect with; never with credentials in it. */
export function databaseUrl(host: pulumi.Input<string>, port: pulumi.Input<number>, database: string): pulumi.Output<string> {
  return pulumi.interpolate`postgres://${host}:${port}/${database}`;
}

export function databaseSecretName(namePrefix: string, site: SiteName): string {
  return `${namePrefix}/${site}/db`;
}
