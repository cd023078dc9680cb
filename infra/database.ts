import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { notifyTopic } from "./alarms";
import { DATABASE_REPLICA_LAG_MINUTES } from "./assumptions";
import { DatabaseConfig } from "./config";
import { databaseIdentifier, databaseMonitoringRoleName } from "./naming";
import { databaseSecretName } from "./siteConnections";
import { DatabaseEngine, ENGINE_PROFILES, engineParameters, EngineProfile, parameterGroupFamily } from "./engines";
import { serviceTrustPolicy } from "./policyDocument";
import { SiteName } from "./roles";
import { DatabaseMode, readsPrimaryStack, retiredGenerations, mustAlreadyExist } from "./sitePlan";

/** The master user of every instance: set once, when the primary's first writer is created; replicas inherit it. */
export const MASTER_USERNAME = "drstack";

export interface DatabaseCredentials {
  username: string;
  password: string;
}

/** The RDS JSON shape of a database secret, which the backup job and AWS's rotation templates read. */
export interface DatabaseSecret extends DatabaseCredentials {
  /** RDS's engine name (`postgres`, `mysql`, `mariadb`), as AWS's rotation templates and the backup job read it. */
  engine: DatabaseEngine;
  host: string;
  port: number;
  dbname: string;
}

/**
 * Where a site's copy of the pair's one master password comes from. The
 * primary generates it (random, in its own state); the standby secondary
 * copies it from the primary's stack output into its own secret; the active
 * secondary reads that copy back from its own region, because on the
 * failover path nothing may be read from the primary's stack or region.
 */
export type MasterPasswordOrigin = "generate" | "copy-from-primary" | "read-own-copy";

export function masterPasswordOrigin(site: SiteName, activeSite: SiteName): MasterPasswordOrigin {
  if (site === "primary") {
    return "generate";
  }
  return readsPrimaryStack(site, activeSite) ? "copy-from-primary" : "read-own-copy";
}

export type MasterPasswordSource =
  | { origin: "generate" }
  | { origin: "copy-from-primary"; password: pulumi.Input<string> }
  | { origin: "read-own-copy" };

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
  /** The database the application connects to, named in the credentials secret (`dbname`). */
  databaseName: string;
  privateSubnetIds: pulumi.Input<pulumi.Input<string>[]>;
  vpcId: pulumi.Input<string>;
  /**
   * Security groups whose members may connect on the engine's port (the application's pods,
   * the backup functions). Admitted while the site's database is a writer or a
   * replica; never while it is a fenced former writer.
   */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /** The site's own data key: a cross-region replica must be encrypted with a key of its own region. */
  kmsKeyArn: pulumi.Input<string>;
  /** From `masterPasswordOrigin()`; the copy carries the primary's stack output. */
  masterPassword: MasterPasswordSource;
  /** The site's alarm topic (`SiteAlarms`): the replica-lag alarm notifies it. */
  alarmTopicArn: pulumi.Input<string>;
}

/**
 * The site's database on RDS, of the engine `databaseEngine` names. The current generation's instance is the
 * writer on the active site and a cross-region read replica of the writer on
 * the standby. Promotion is an in-place update: the identifier, resource name
 * and every other input are independent of the role, and only the inputs a
 * replica may not carry change (`replicateSourceDb` goes; the master
 * password, automated backups and the final snapshot come). The password is
 * the pair's one master password, so a promotion changes no password.
 * Every instance is `protect`ed, has deletion protection, automated backups
 * that outlive it where it is not a replica, Performance Insights and
 * Enhanced Monitoring.
 */
export class SiteDatabase extends pulumi.ComponentResource {
  public readonly identifier: string;
  public readonly arn: pulumi.Output<string>;
  public readonly endpoint: pulumi.Output<string>;
  public readonly mode: DatabaseMode;
  /** What the site's applications and backup jobs log in with (secret): valid for this site's database in every mode. */
  public readonly credentials: pulumi.Output<DatabaseCredentials>;
  /** Secrets Manager secret in the site's region, RDS JSON (username, password, host, port, dbname), for the backup job. */
  public readonly credentialsSecretArn: pulumi.Output<string>;
  /** The pair's master password (secret); the primary exports it for the standby secondary to copy. */
  public readonly masterPassword: pulumi.Output<string>;
  /** The site's subnet group, which a recovery instance beside the writer uses too. */
  public readonly subnetGroupName: pulumi.Output<string>;
  /** The site's own DB parameter group, where the engine needs one (MySQL, MariaDB); a recovery instance uses it too. */
  public readonly parameterGroupName?: pulumi.Output<string>;

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
    this.subnetGroupName = subnetGroup.name;
    const profile = ENGINE_PROFILES[args.database.engine];
    const parameterGroup = siteParameterGroup(name, args, this);
    this.parameterGroupName = parameterGroup?.name;
    const retired = retiredGenerations(args.generation);

    const monitoringRole = new aws.iam.Role(
      `${name}-monitoring`,
      {
        name: databaseMonitoringRoleName(args.namePrefix, args.site),
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

    const secretName = databaseSecretName(args.namePrefix, args.site);
    this.masterPassword = pulumi.secret(masterPasswordValue(name, args.masterPassword, secretName, this));

    const common = {
      engine: profile.rdsEngine,
      engineVersion: args.database.engineVersion,
      port: profile.port,
      // Every instance names its own region's group: a cross-region replica
      // does not inherit its source's, RDS gives it the engine's default.
      ...(parameterGroup ? { parameterGroupName: parameterGroup.name } : {}),
      instanceClass: args.database.instanceClass,
      maxAllocatedStorage: args.database.maxAllocatedStorageGb,
      storageType: "gp3",
      storageEncrypted: true,
      kmsKeyId: args.kmsKeyArn,
      dbSubnetGroupName: subnetGroup.name,
      publiclyAccessible: false,
      multiAz: args.database.multiAz,
      maintenanceWindow: "sun:05:00-sun:06:00",
      copyTagsToSnapshot: true,
      deletionProtection: true,
      deleteAutomatedBackups: false,
      performanceInsightsEnabled: true,
      performanceInsightsKmsKeyId: args.kmsKeyArn,
      performanceInsightsRetentionPeriod: args.database.performanceInsightsRetentionDays,
      monitoringInterval: args.database.monitoringIntervalSeconds,
      monitoringRoleArn: monitoringRole.arn,
      enabledCloudwatchLogsExports: [...profile.logExports],
      iamDatabaseAuthenticationEnabled: true,
      autoMinorVersionUpgrade: true,
      applyImmediately: true,
    };
    const instanceArgs = (generation: number, mode: DatabaseMode, identifier: pulumi.Input<string>) => ({
      ...common,
      identifier,
      ...creationArguments(args.site, generation, args.database.allocatedStorageGb),
      ...(mode === "replica"
        ? replicaArguments(args.replicationSourceArn as pulumi.Input<string>, profile, args.database.backupRetentionDays)
        : writerArguments(this.masterPassword, args.database.backupRetentionDays, databaseIdentifier(args.namePrefix, args.site, generation))),
    });
    const dataStore = { parent: this, protect: true };

    // Each generation has its own security group, so no step of a failover or
    // failback ever modifies an instance that is no longer the site's live
    // database: the fencing guard may have stopped it, and RDS refuses to
    // modify a stopped instance (InvalidDBInstanceState), which would fail the
    // very `up` that rebuilds the site. Fencing and retiring empty the group's
    // rules instead; the instance's own inputs are frozen (`ignoreChanges`).
    const generationGroup = (generation: number, mode: DatabaseMode) =>
      new aws.ec2.SecurityGroup(
        securityGroupResourceName(name, generation),
        {
          vpcId: args.vpcId,
          // A security group's description cannot change in place: a new one replaces the group.
          description: `drstack ${args.site} ${profile.label} generation ${generation}: its clients only (the cluster pods, the backup functions), nobody once fenced or retired`,
          // Fenced or retired: an explicit empty list, because an absent `ingress` leaves the existing rules in place.
          ingress: databaseIngress(mode, args.clientSecurityGroupIds, args.database.engine),
        },
        // A replaced or deleted group would fail (DependencyViolation) while a
        // frozen instance still uses it, and leave that instance in the old
        // group with its old rules: the description never replaces a group,
        // and a group the program stops declaring stays in AWS with its instance.
        { ...child, ignoreChanges: ["description"], retainOnDelete: true },
      );
    const declareInstance = (generation: number, mode: DatabaseMode, identifier: pulumi.Input<string>) => {
      const group = generationGroup(generation, mode);
      const inputs: aws.rds.InstanceArgs = { ...instanceArgs(generation, mode, identifier), vpcSecurityGroupIds: [group.id] };
      return new aws.rds.Instance(instanceResourceName(name, generation), inputs, {
        ...dataStore,
        ...(mode === "fenced" ? { ignoreChanges: [...FROZEN_INSTANCE_INPUTS] } : {}),
      });
    };

    // Older generations are former writers kept after failback step 1 rebuilt
    // the site; they stay standalone until an operator retires them
    // deliberately (README, Failback), in a group that admits nobody.
    for (const generation of retired) {
      declareInstance(generation, "fenced", databaseIdentifier(args.namePrefix, args.site, generation));
    }

    this.identifier = databaseIdentifier(args.namePrefix, args.site, args.generation);
    const identifier = mustAlreadyExist(args.mode, args.generation)
      ? existingInstanceIdentifier(this.identifier, args.site, args.mode, args.generation, this)
      : this.identifier;
    const instance = declareInstance(args.generation, args.mode, identifier);
    this.mode = args.mode;
    this.arn = instance.arn;
    this.endpoint = instance.address;
    this.credentials = pulumi.secret(this.masterPassword.apply((password): DatabaseCredentials => ({ username: MASTER_USERNAME, password })));

    // The backup job reads the credentials here rather than from config, so
    // the password never appears in a function's environment. On the standby
    // secondary this secret is also the copy of the primary's password that
    // the failover `up` reads back.
    const credentials = new aws.secretsmanager.Secret(
      `${name}-credentials`,
      {
        name: secretName,
        description: `drstack ${args.site} database credentials (the pair's master password) for the backup job and the failover`,
        kmsKeyId: args.kmsKeyArn,
        recoveryWindowInDays: 30,
      },
      child,
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-credentials-value`,
      {
        secretId: credentials.id,
        secretString: pulumi.jsonStringify(
          pulumi.all([this.masterPassword, instance.address]).apply(
            ([password, host]): DatabaseSecret => ({
              engine: args.database.engine,
              username: MASTER_USERNAME,
              password,
              host,
              port: profile.port,
              dbname: args.databaseName,
            }),
          ),
        ),
      },
      child,
    );
    this.credentialsSecretArn = credentials.arn;

    if (args.mode === "replica") {
      new aws.cloudwatch.MetricAlarm(
        `${name}-replica-lag`,
        {
          name: `${this.identifier}-replica-lag`,
          alarmDescription:
            `drstack ${args.site}: ${this.identifier} lags its writer by more than the ${DATABASE_REPLICA_LAG_MINUTES} min ` +
            `the recovery objectives assume, or reports no lag at all (the replica cannot then be trusted to be current).`,
          namespace: "AWS/RDS",
          metricName: "ReplicaLag",
          dimensions: { DBInstanceIdentifier: instance.identifier },
          statistic: "Maximum",
          period: REPLICA_LAG_PERIOD_SECONDS,
          evaluationPeriods: REPLICA_LAG_EVALUATION_PERIODS,
          datapointsToAlarm: REPLICA_LAG_EVALUATION_PERIODS,
          comparisonOperator: "GreaterThanThreshold",
          threshold: DATABASE_REPLICA_LAG_MINUTES * 60,
          // A replica that stops reporting its lag (replication broken, the
          // instance stopped) is no more trustworthy than one that lags.
          treatMissingData: "breaching",
          ...notifyTopic(args.alarmTopicArn),
        },
        child,
      );
    }
    this.registerOutputs({ identifier: this.identifier, arn: this.arn, endpoint: this.endpoint, mode: this.mode });
  }
}

/**
 * The site's DB parameter group with drstack's settings for the engine
 * (infra/engines.ts, `engineParameters`), or none where the engine's default
 * group already does what DR needs (PostgreSQL). Named after its family, so
 * a major version upgrade creates the new family's group beside the old one
 * (a group in use cannot be deleted) and the instance moves to it.
 */
function siteParameterGroup(name: string, args: SiteDatabaseArgs, parent: pulumi.Resource): aws.rds.ParameterGroup | undefined {
  const parameters = engineParameters(args.database.engine, args.database.engineMajor);
  if (parameters.length === 0) {
    return undefined;
  }
  const family = parameterGroupFamily(args.database.engine, args.database.engineMajor);
  return new aws.rds.ParameterGroup(
    `${name}-parameters`,
    {
      name: parameterGroupName(args.namePrefix, args.site, family),
      family,
      description: `drstack ${args.site} ${ENGINE_PROFILES[args.database.engine].label} settings: row-based binary logs, TLS only, slow query log`,
      parameters: parameters.map(({ name: parameter, value }) => ({ name: parameter, value })),
    },
    { parent },
  );
}

/** `<namePrefix>-<site>-<family>`, the family's dots as hyphens: parameter group names are letters, digits and hyphens. */
export function parameterGroupName(namePrefix: string, site: SiteName, family: string): string {
  return `${namePrefix}-${site}-${family.replace(/\./g, "-")}`;
}

/**
 * Every input of aws.rds.Instance (@pulumi/aws InstanceArgs), not only those
 * the program sets: an input left out of `ignoreChanges` that the program or
 * a provider upgrade starts to set later (or stops setting, reverting it to
 * its default) would reach a stopped instance as a ModifyDBInstance, which RDS
 * refuses. Pulumi has no wildcard for `ignoreChanges` (pulumi/pulumi#6710); a
 * test compares this list with the provider's InstanceArgs.
 */
export const FROZEN_INSTANCE_INPUTS: ReadonlyArray<keyof aws.rds.InstanceArgs> = [
  "allocatedStorage", "allowMajorVersionUpgrade", "applyImmediately", "autoMinorVersionUpgrade", "availabilityZone",
  "backupRetentionPeriod", "backupTarget", "backupWindow", "blueGreenUpdate", "caCertIdentifier", "characterSetName",
  "copyTagsToSnapshot", "customIamInstanceProfile", "customerOwnedIpEnabled", "databaseInsightsMode", "dbName",
  "dbSubnetGroupName", "dedicatedLogVolume", "deleteAutomatedBackups", "deletionProtection", "domain",
  "domainAuthSecretArn", "domainDnsIps", "domainFqdn", "domainIamRoleName", "domainOu",
  "enabledCloudwatchLogsExports", "engine", "engineLifecycleSupport", "engineVersion", "finalSnapshotIdentifier",
  "iamDatabaseAuthenticationEnabled", "identifier", "identifierPrefix", "instanceClass", "iops", "kmsKeyId",
  "licenseModel", "maintenanceWindow", "manageMasterUserPassword", "masterUserSecretKmsKeyId", "maxAllocatedStorage",
  "monitoringInterval", "monitoringRoleArn", "multiAz", "ncharCharacterSetName", "networkType", "optionGroupName",
  "parameterGroupName", "password", "passwordWo", "passwordWoVersion", "performanceInsightsEnabled",
  "performanceInsightsKmsKeyId", "performanceInsightsRetentionPeriod", "port", "publiclyAccessible", "region",
  "replicaMode", "replicateSourceDb", "restoreToPointInTime", "skipFinalSnapshot", "snapshotIdentifier",
  "storageEncrypted", "storageThroughput", "storageType", "tags", "timezone", "upgradeStorageConfig", "username",
  "vpcSecurityGroupIds", "warningEventCategories",
];

/** ReplicaLag is published once a minute; three minutes above the budget alarm, so one slow checkpoint does not page. */
const REPLICA_LAG_PERIOD_SECONDS = 60;
const REPLICA_LAG_EVALUATION_PERIODS = 3;

/** Generation 1 keeps the plain name, so the first deployment's instance never needs a rename. */
export function instanceResourceName(componentName: string, generation: number): string {
  return generation === 1 ? `${componentName}-instance` : `${componentName}-instance-g${generation}`;
}

/** The security group of one generation's instance, named like the instance. */
export function securityGroupResourceName(componentName: string, generation: number): string {
  return generation === 1 ? `${componentName}-sg` : `${componentName}-sg-g${generation}`;
}

/**
 * Whether an instance is created as a read replica. Only the primary's first
 * generation starts from nothing (the first deployment); the secondary's
 * first is created as a replica of it (README, Deploy), and every later
 * generation as a replica of the other site's writer (README, Failback).
 */
export function createdAsReplica(site: SiteName, generation: number): boolean {
  return !(site === "primary" && generation === 1);
}

/**
 * What only an instance created from nothing declares: the master user name
 * and the initial storage. A replica inherits both from its source; the
 * provider refuses `username` beside `replicateSourceDb` and ignores
 * `allocatedStorage` on a replica, and `username` forces replacement, so an
 * instance created as a replica never declares them, not even once promoted.
 */
function creationArguments(site: SiteName, generation: number, allocatedStorageGb: number): { username?: string; allocatedStorage?: number } {
  return createdAsReplica(site, generation) ? {} : { username: MASTER_USERNAME, allocatedStorage: allocatedStorageGb };
}

/**
 * A replica carries its source and nothing a replica may not carry: no
 * password (the provider would call ModifyDBInstance(MasterUserPassword) on
 * the replica) and no final snapshot (RDS refuses one when a replica is
 * deleted). Automated backups only where the engine's replicas keep them:
 * MySQL and MariaDB replicas do (the provider turns them on with a
 * ModifyDBInstance after CreateDBInstanceReadReplica, which creates every
 * replica without), so a promoted replica has point-in-time recovery from
 * its first minute and a failback replica can be created from it at once;
 * PostgreSQL replicas keep none, and promotion turns them on.
 */
function replicaArguments(
  sourceArn: pulumi.Input<string>,
  profile: EngineProfile,
  backupRetentionDays: number,
): { replicateSourceDb: pulumi.Input<string>; skipFinalSnapshot: boolean; backupRetentionPeriod?: number; backupWindow?: string } {
  return {
    replicateSourceDb: sourceArn,
    skipFinalSnapshot: true,
    ...(profile.replicaKeepsBackups ? { backupRetentionPeriod: backupRetentionDays, backupWindow: BACKUP_WINDOW } : {}),
  };
}

/** The daily automated backup window (UTC), outside the maintenance window. */
const BACKUP_WINDOW = "03:00-04:00";

/**
 * A writer (or a fenced former writer) keeps automated backups, which a
 * replica of it needs and which PromoteReadReplica takes from
 * `backupRetentionPeriod`, a final snapshot, and the pair's master password.
 */
function writerArguments(password: pulumi.Input<string>, backupRetentionDays: number, identifier: string) {
  return {
    password,
    backupRetentionPeriod: backupRetentionDays,
    backupWindow: BACKUP_WINDOW,
    skipFinalSnapshot: false,
    finalSnapshotIdentifier: `${identifier}-final`,
  };
}

/** Writers and replicas admit the clients on the engine's port; a fenced former writer admits nobody. */
export function databaseIngress(mode: DatabaseMode, clientSecurityGroupIds: pulumi.Input<string>[], engine: DatabaseEngine): aws.types.input.ec2.SecurityGroupIngress[] {
  if (mode === "fenced") {
    return [];
  }
  const { port, label } = ENGINE_PROFILES[engine];
  return [{ protocol: "tcp", fromPort: port, toPort: port, securityGroups: clientSecurityGroupIds, description: `${label} from the clients` }];
}

function masterPasswordValue(name: string, source: MasterPasswordSource, secretName: string, parent: pulumi.Resource): pulumi.Output<string> {
  switch (source.origin) {
    case "generate":
      return new random.RandomPassword(
        `${name}-master-password`,
        // RDS forbids /, @, " and spaces in the master password.
        { length: 40, special: true, overrideSpecial: "!#%^*-_=+" },
        { parent },
      ).result;
    case "copy-from-primary":
      return pulumi.output(source.password);
    case "read-own-copy":
      return readOwnCopy(secretName, parent);
  }
}

/**
 * The password the standby secondary copied into its own secret, read back in
 * its own region. ListSecrets matches names by prefix, so the name is checked
 * exactly; a missing copy stops the `up` before anything changes.
 */
function readOwnCopy(secretName: string, parent: pulumi.Resource): pulumi.Output<string> {
  const found = aws.secretsmanager.getSecretsOutput({ filters: [{ name: "name", values: [secretName] }] }, { parent });
  return pulumi.secret(
    found.apply(async (secrets) => {
      const index = secrets.names.indexOf(secretName);
      if (index < 0) {
        throw new Error(
          `the secondary's copy of the database master password (Secrets Manager secret ${secretName} in this region) does not exist, ` +
            `so the secondary cannot take the writer: the copy is made by a \`pulumi -s secondary up\` while the secondary is standby ` +
            `and the primary's stack is readable (README, Failover). Without it the promoted replica's password is unknown here.`,
        );
      }
      const version = await aws.secretsmanager.getSecretVersion({ secretId: secrets.arns[index] }, { parent });
      return parseDatabaseSecret(version.secretString, secretName).password;
    }),
  );
}

/** The credentials in a secret of the RDS JSON shape, or an error that names the secret. */
export function parseDatabaseSecret(text: string, secretName: string): DatabaseCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`Secrets Manager secret ${secretName} is not JSON; drstack writes it as RDS JSON (username, password, host, port, dbname).`);
  }
  const { username, password } = (parsed ?? {}) as Partial<DatabaseCredentials>;
  if (typeof username !== "string" || typeof password !== "string" || password === "") {
    throw new Error(`Secrets Manager secret ${secretName} has no username and password; drstack writes it as RDS JSON (username, password, host, port, dbname).`);
  }
  return { username, password };
}

/**
 * The identifier of an instance that must already exist in this site's region,
 * or an error that stops the `up` before an empty writer is created.
 */
function existingInstanceIdentifier(identifier: string, site: SiteName, mode: DatabaseMode, generation: number, parent: pulumi.Resource): pulumi.Output<string> {
  return aws.rds
    .getInstancesOutput({ filters: [{ name: "db-instance-id", values: [identifier] }] }, { parent })
    .apply((found) => {
      if (!found.instanceIdentifiers.includes(identifier) && mode === "fenced") {
        throw new Error(
          `${identifier} does not exist, so it cannot be ${site}'s fenced former writer on database generation ${generation}: ` +
            `a fenced database is one that was the writer, and creating it now would start an empty database. ` +
            `The generations in the stack files are ahead of what was deployed: set them back to the last generation an \`up\` built (README, Failback), run \`pulumi -s ${site} up\`, then raise them one step at a time.`,
        );
      }
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
