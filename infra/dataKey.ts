import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { backupKeyPolicy } from "./backupStorage";
import { SiteName } from "./roles";

export interface SiteDataKeyArgs {
  site: SiteName;
  namePrefix: string;
  /** Only this account's IAM policies may use the key (the same policy as the backup key). */
  accountId: pulumi.Input<string>;
}

/**
 * The customer-managed key that encrypts a site's database, replica and
 * cache. Each region has its own: a cross-region replica must be encrypted
 * with a key of the replica's region, and the standby must never depend on a
 * key in the region it replaces. Protected like the backup key, because
 * losing it loses every snapshot it encrypted.
 */
export class SiteDataKey extends pulumi.ComponentResource {
  public readonly arn: pulumi.Output<string>;
  public readonly aliasName: string;

  constructor(name: string, args: SiteDataKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:keys:SiteDataKey", name, {}, opts);
    const dataStore = { parent: this, protect: true };
    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `drstack ${args.site} database and cache`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: pulumi.jsonStringify(backupKeyPolicy(args.accountId)),
      },
      dataStore,
    );
    this.aliasName = `alias/${args.namePrefix}-data-${args.site}`;
    new aws.kms.Alias(`${name}-alias`, { name: this.aliasName, targetKeyId: key.keyId }, dataStore);
    this.arn = key.arn;
    this.registerOutputs({ arn: this.arn });
  }
}
