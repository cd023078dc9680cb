import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DatabaseConfig } from "./config";
import { databaseIdentifier } from "./naming";
import { databaseSecretName, POSTGRES_PORT } from "./siteConnections";
import { serviceTrustPolicy } from "./policyDocument";
import { SiteName } from "./roles";
import { DatabaseMode, retiredGenerations, writerMustAlreadyExist } from "./sitePlan";

export interface DatabaseCredentials {
  username: string;
  password: string;
}

export interface SiteDatabaseArgs {
  site: SiteName;
  namePrefix: string;
  /** From `databaseMode()` in sitePlan.ts: writer, replica or fenced former writer. */
  mode: DatabaseMode;
  /** The site's current database generation (config); older generations are retired. */
  generation: number;
  /** ARN of the active site's writer; required when mode is `replica`. */
  replicationSourceArn?: pulumi.Input<string>;
  database: DatabaseConfig;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  vpcId: pulumi.Input<string>;
  /** Only members of this group may connect. */
  appSecurityGroupId: pulumi.Input<string>;
  /** The site's own data key: a cross-region replica must be encrypted with a key of its own region. */
  kmsKeyArn: pulumi.Input<string>;
}

/**
 * The site's PostgreSQL on RDS. The current generation's instance is the
 * writer on the active site and a cross-region read replica of the writer on
 * the standby. Promotion is an in-place update: the identifier, resource name
 * and every other input are independent of the role, and only
 * `replicateSourceDb` disappears (the site's own master password is set at
 * the same time, so the promoted writer never depends on the lost site's
 * secret). Every instance is `protect`ed, has deletion protection, a final
 * snapshot, automated backups that outlive it, Performance Insights and
 * Enhanced Monitoring.
 */
export class SiteDatabase extends pulumi.ComponentResource {
  public readonly identifier: string;
  public readonly arn: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  public readonly mode: DatabaseMode;
  /** What the site's applications and backup jobs log in with (secret): valid for this site's database in every mode. */
  public readonly credentials: pulumi.Output<DatabaseCredentials>;
  /** Secrets Manager secret in RDS's JSON shape (username, password, host, port) for the backup job. */
  public readonly credentialsSecretArn: pulumi.Output<string>;

  constructor(name: string, args: SiteDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:database:SiteDatabase", name, {}, opts);
    const child = { parent: this };
    if (args.mode === "replica" && args.replicationSourceArn === undefined) {
      throw new Error(`SiteDatabase ${name}: a replica needs replicationSourceArn, the ARN of the active site's writer.`);
    }

    const subnetGroup = new aws.rds.SubnetGroup(
      `${name}-subnets`,
      { name: `${args.namePrefix}-${args.site}-db-subnets`, subnetIds: args.privateSubnetIds, description: `drstack ${args.site} database` },
      child,
    );
    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `drstack ${args.site} PostgreSQL: from the application security group only`,
        ingress: [{ protocol: "tcp", fromPort: 5432, toPort: 5432, securityGroups: [args.appSecurityGroupId], description: "PostgreSQL" }],
      },
      child,
    );
    const monitoringRole = new aws.iam.Role(
      `${name}-monitoring`,
      {
        name: `${args.namePrefix}-rds-monitoring-${args.site}`,
        description: `Enhanced Monitoring of drstack ${args.site} databases`,
        assumeRolePolicy: pulumi.jsonStringify(serviceTrustPolicy("monitoring.rds.amazonaws.com")),
      },
      child,
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-monitoring-policy`,
      { role: monitoringRole.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole" },
      child,
    );
    const password = new random.RandomPassword(
      `${name}-master-password`,
      // RDS forbids /, @, " and spaces in the master password.
      { length: 40, special: true, overrideSpecial: "!#%^*-_=+" },
      child,
    );

    const common = {
      engine: "postgres",
      engineVersion: args.database.engineVersion,
      instanceClass: args.database.instanceClass,
      allocatedStorage: args.database.allocatedStorageGb,
      maxAllocatedStorage: args.database.maxAllocatedStorageGb,
      storageType: "gp3",
      storageEncrypted: true,
      kmsKeyId: args.kmsKeyArn,
      username: "drstack",
      dbSubnetGroupName: subnetGroup.name,
      vpcSecurityGroupIds: [securityGroup.id],
      publiclyAccessible: false,
      multiAz: args.database.multiAz,
      maintenanceWindow: "sun:05:00-sun:06:00",
      copyTagsToSnapshot: true,
      deletionProtection: true,
      skipFinalSnapshot: false,
      deleteAutomatedBackups: false,
      performanceInsightsEnabled: true,
      performanceInsightsKmsKeyId: args.kmsKeyArn,
      performanceInsightsRetentionPeriod: args.database.performanceInsightsRetentionDays,
      monitoringInterval: args.database.monitoringIntervalSeconds,
      monitoringRoleArn: monitoringRole.arn,
      enabledCloudwatchLogsExports: ["postgresql", "upgrade"],
      iamDatabaseAuthenticationEnabled: true,
      autoMinorVersionUpgrade: true,
      applyImmediately: true,
    };
    // PostgreSQL read replicas cannot keep automated backups; the writer's
    // settings are applied when a replica is promoted.
    const writerOnly = { password: password.result, backupRetentionPeriod: args.database.backupRetentionDays, backupWindow: "03:00-04:00" };
    const dataStore = { parent: this, protect: true };

    // Older generations are former writers kept after failback step 1 rebuilt
    // the site; they stay standalone and untouched until an operator retires
    // them deliberately (README, Failback).
    for (const retired of retiredGenerations(args.generation)) {
      const identifier = databaseIdentifier(args.namePrefix, args.site, retired);
      new aws.rds.Instance(
        instanceResourceName(name, retired),
        { ...common, ...writerOnly, identifier, finalSnapshotIdentifier: `${identifier}-final` },
        dataStore,
      );
    }

    this.identifier = databaseIdentifier(args.namePrefix, args.site, args.generation);
    const identifier = writerMustAlreadyExist(args.mode, args.generation)
      ? existingInstanceIdentifier(this.identifier, args.site, args.generation, this)
      : this.identifier;
    const instance = new aws.rds.Instance(
      instanceResourceName(name, args.generation),
      {
        ...common,
        identifier,
        finalSnapshotIdentifier: `${this.identifier}-final`,
        ...(args.mode === "replica" ? { replicateSourceDb: args.replicationSourceArn } : writerOnly),
      },
      dataStore,
    );
    this.mode = args.mode;
    this.arn = instance.arn;
    this.endpoint = instance.address;
    this.credentials = pulumi.secret(password.result.apply((value): DatabaseCredentials => ({ username: "drstack", password: value })));

    // The backup job reads the credentials here rather than from config, so
    // the password never appears in a function's environment.
    const credentials = new aws.secretsmanager.Secret(
      `${name}-credentials`,
      {
        name: databaseSecretName(args.namePrefix, args.site),
        description: `drstack ${args.site} database credentials for the backup job`,
        kmsKeyId: args.kmsKeyArn,
        recoveryWindowInDays: 30,
      },
      child,
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-credentials-value`,
      {
        secretId: credentials.id,
        secretString: pulumi.jsonStringify({
          engine: "postgres",
          username: "drstack",
          password: password.result,
          host: instance.address,
          port: POSTGRES_PORT,
        }),
      },
      child,
    );
    this.credentialsSecretArn = credentials.arn;
    this.registerOutputs({ identifier: this.identifier, arn: this.arn, endpoint: this.endpoint, mode: this.mode });
  }
}

/** Generation 1 keeps the plain name, so the first deployment's instance never needs a rename. */
export function instanceResourceName(componentName: string, generation: number): string {
  return generation === 1 ? `${componentName}-instance` : `${componentName}-instance-g${generation}`;
}

/**
 * The identifier of an instance that must already exist in this site's region,
 * or an error that stops the `up` before an empty writer is created.
 */
function existingInstanceIdentifier(identifier: string, site: SiteName, generation: number, parent: pulumi.Resource): pulumi.Output<string> {
  return aws.rds
    .getInstancesOutput({ filters: [{ name: "db-instance-id", values: [identifier] }] }, { parent })
    .apply((found) => {
      if (!found.instanceIdentifiers.includes(identifier)) {
        throw new Error(
          `${identifier} does not exist, so ${site} cannot become the writer on database generation ${generation}: ` +
            `only a replica built by an earlier \`pulumi up\` is ever promoted, and creating the writer now would start an empty database. ` +
            `Run \`pulumi -s ${site} up\` while ${site} is still standby to build the replica (README, Failback), then switch.`,
        );
      }
      return identifier;
    });
}
