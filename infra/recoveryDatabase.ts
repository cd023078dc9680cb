import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DatabaseConfig } from "./config";
import { RecoveryPoint, recoveryInstanceIdentifier, recoveryPointLabel } from "./pointInTimeRecovery";
import { SiteName } from "./roles";
import { DatabaseMode } from "./sitePlan";
import { ENGINE_PROFILES } from "./engines";

/** Where the restore reads the automated backups from, in this site's own region. */
export type RecoverySource =
  /** The site's writer or fenced former writer: its own automated backups (RestoreDBInstanceToPointInTime, SourceDBInstanceIdentifier). */
  | { kind: "own-backups"; identifier: string }
  /** A replica site's copy of the peer writer's backups (SourceDBInstanceAutomatedBackupsArn). */
  | { kind: "replicated-backups"; arn: pulumi.Input<string> };

export interface RecoveryDatabaseArgs {
  site: SiteName;
  namePrefix: string;
  point: RecoveryPoint;
  source: RecoverySource;
  database: DatabaseConfig;
  vpcId: pulumi.Input<string>;
  dbSubnetGroupName: pulumi.Input<string>;
  /** The site's DB parameter group, where the engine has one: a restored instance gets the engine's default otherwise. */
  parameterGroupName?: pulumi.Input<string>;
  /** The same clients as the writer (pods, backup functions), so the operator can compare and copy rows back. */
  clientSecurityGroupIds: pulumi.Input<string>[];
  /** The site's own data key, the key of the backups it is restored from. */
  kmsKeyArn: pulumi.Input<string>;
}

/**
 * Where a point is restored from in this site's region. The writer, and a
 * fenced former writer, from their own automated backups (a former writer's
 * end where it stopped being the writer, which is later than anything this
 * region's copy holds then); a replica, which keeps no automated backups,
 * from its region's copy of the peer writer's.
 */
export function recoverySource(mode: DatabaseMode, identifier: string, copyArn: pulumi.Input<string> | undefined): RecoverySource {
  if (mode !== "replica") {
    return { kind: "own-backups", identifier };
  }
  if (copyArn === undefined) {
    throw new Error(`a replica site has no copy of its peer writer's automated backups to restore a point in time from`);
  }
  return { kind: "replicated-backups", arn: copyArn };
}

/** The component's name: one per recovery point, so a new point is a new instance and never a change to an old one. */
export function recoveryDatabaseName(site: SiteName, point: RecoveryPoint): string {
  return `${site}-database-recovery-${recoveryPointLabel(point)}`;
}

/**
 * A point-in-time copy of the site's data beside the writer, for comparing
 * and copying rows back after a corruption (README, "Recovering from
 * corruption"). It is a new, separately named instance in its own security
 * group: declaring it changes nothing the writer, a replica or a former
 * writer declares. It is a disposable copy of data the automated backups
 * still hold, so it is neither `protect`ed nor deletion-protected:
 * removing `recoveryPointInTime` must retire it with a plain `pulumi up`,
 * and that deletion always takes a final snapshot first.
 */
export class RecoveryDatabase extends pulumi.ComponentResource {
  public readonly identifier: string;
  public readonly endpoint: pulumi.Output<string>;

  constructor(name: string, args: RecoveryDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:database:RecoveryDatabase", name, {}, opts);
    const child = { parent: this };
    this.identifier = recoveryInstanceIdentifier(args.namePrefix, args.site, args.point);
    const { label, port, rdsEngine } = ENGINE_PROFILES[args.database.engine];

    const group = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `drstack ${args.site} ${label} recovered to ${recoveryPointLabel(args.point)}: the clients of the writer, to compare and copy rows back`,
        ingress: [{ protocol: "tcp", fromPort: port, toPort: port, securityGroups: args.clientSecurityGroupIds, description: `${label} from the clients` }],
      },
      child,
    );
    const instance = new aws.rds.Instance(
      `${name}-instance`,
      {
        identifier: this.identifier,
        restoreToPointInTime: restoreArguments(args.point, args.source),
        engine: rdsEngine,
        port,
        ...(args.parameterGroupName !== undefined ? { parameterGroupName: args.parameterGroupName } : {}),
        instanceClass: args.database.instanceClass,
        storageType: "gp3",
        storageEncrypted: true,
        kmsKeyId: args.kmsKeyArn,
        dbSubnetGroupName: args.dbSubnetGroupName,
        vpcSecurityGroupIds: [group.id],
        publiclyAccessible: false,
        // A copy to compare with needs no standby in a second zone.
        multiAz: false,
        copyTagsToSnapshot: true,
        deletionProtection: false,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: `${this.identifier}-final`,
        // Its own automated backups hold nothing the final snapshot and the writer's backups do not.
        deleteAutomatedBackups: true,
        applyImmediately: true,
      },
      {
        parent: this,
        // The restore happens once, at creation. Where its backups came from follows the site's role
        // (writer or copy), so a later flip must not replace the copy the operator is comparing with.
        ignoreChanges: ["restoreToPointInTime"],
      },
    );
    this.endpoint = instance.address;
    this.registerOutputs({ identifier: this.identifier, endpoint: this.endpoint });
  }
}

/**
 * `restoreTime` or `useLatestRestorableTime`, never both (provider schema:
 * ConflictsWith), and exactly one source.
 */
function restoreArguments(point: RecoveryPoint, source: RecoverySource): aws.types.input.rds.InstanceRestoreToPointInTime {
  const when = point.kind === "latest" ? { useLatestRestorableTime: true } : { restoreTime: point.time.toISOString().replace(/\.\d{3}Z$/, "Z") };
  const from = source.kind === "own-backups" ? { sourceDbInstanceIdentifier: source.identifier } : { sourceDbInstanceAutomatedBackupsArn: source.arn };
  return { ...when, ...from };
}
