import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DATA_STORE_OPTIONS, protectedKeyArgs } from "./backupStorage";
import { SiteName } from "./roles";

export interface SiteDataKeyArgs {
  site: SiteName;
  namePrefix: string;
  /** Only this account's IAM policies may use the key (the same policy as the backup key). */
  accountId: pulumi.Input<string>;
  /** The one role that may delete, disable or re-police the key, or move its alias. */
  breakGlassRoleArn: string;
}

/**
 * The customer-managed key that encrypts a site's database, replica and
 * cache. Each region has its own: a cross-region replica must be encrypted
 * with a key of the replica's region, and the standby must never depend on a
 * key in the region it replaces. Protected and policed like the backup key,
 * because losing it loses every snapshot it encrypted.
 */
export class SiteDataKey extends pulumi.ComponentResource {
  public readonly arn: pulumi.Output<string>;
  public readonly aliasName: string;

  constructor(name: string, args: SiteDataKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:keys:SiteDataKey", name, {}, opts);
    const dataStore = { parent: this, ...DATA_STORE_OPTIONS };
    const key = new aws.kms.Key(`${name}-key`, protectedKeyArgs(`drstack ${args.site} database and cache`, args.accountId, args.breakGlassRoleArn), dataStore);
    this.aliasName = `alias/${args.namePrefix}-data-${args.site}`;
    new aws.kms.Alias(`${name}-alias`, { name: this.aliasName, targetKeyId: key.keyId }, dataStore);
    this.arn = key.arn;
    this.registerOutputs({ arn: this.arn });
  }
}
