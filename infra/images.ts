import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { PROJECT_ROOT } from "./configSchema";
import { appImageRepositoryName, backupImageRepositoryName } from "./naming";

export interface ImageRegistryArgs {
  namePrefix: string;
  /** The peer site's region: where this site's application images are replicated to. */
  peerRegion: string;
  accountId: pulumi.Input<string>;
  /**
   * Whether the peer stack has been deployed. ECR creates a missing destination
   * repository on the first replicated push, which would then collide with the
   * peer stack creating it; so replication waits like the bucket's does.
   */
  peerProvisioned: boolean;
}

/**
 * A site's container images in its own region: the application repository
 * (pushed by CI to the active site, replicated to the peer so the standby never
 * pulls across regions) and the repository of drstack's backup job image.
 *
 * ECR replication is one configuration per registry and region. Each stack
 * owns the one in its own region, replicating to the peer region, just as it
 * owns its bucket's replication: neither stack writes to the other's region,
 * so the survivor of a regional outage deploys alone and images pushed to it
 * after a failover flow back once the primary returns.
 */
export class ImageRegistry extends pulumi.ComponentResource {
  /** `<registry>/<namePrefix>/app`, in this site's region. */
  public readonly appRepositoryUrl: pulumi.Output<string>;
  public readonly backupRepository: aws.ecr.Repository;

  constructor(name: string, args: ImageRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:images:ImageRegistry", name, {}, opts);
    const child = { parent: this };

    // Immutable tags: a release tag means the same bits in both regions, and a
    // replicated tag can never be overwritten by a later push.
    const app = new aws.ecr.Repository(
      `${name}-app`,
      {
        name: appImageRepositoryName(args.namePrefix),
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        forceDelete: false,
      },
      child,
    );
    // The backup image's tag moves with each build; the functions pin its digest.
    this.backupRepository = new aws.ecr.Repository(
      `${name}-backup`,
      {
        name: backupImageRepositoryName(args.namePrefix),
        imageTagMutability: "MUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        forceDelete: false,
      },
      child,
    );

    if (args.peerProvisioned) {
      new aws.ecr.ReplicationConfiguration(
        `${name}-replication`,
        { replicationConfiguration: imageReplication(args.namePrefix, args.peerRegion, args.accountId) },
        { parent: this, dependsOn: [app] },
      );
    }

    this.appRepositoryUrl = app.repositoryUrl;
    this.registerOutputs({ appRepositoryUrl: this.appRepositoryUrl, backupRepositoryUrl: this.backupRepository.repositoryUrl });
  }
}

/**
 * Application images only (the repository name as a prefix, so further
 * `<namePrefix>/app-*` repositories replicate too): drstack's own images are
 * built in each site, so replicating them would collide.
 */
export function imageReplication(
  namePrefix: string,
  peerRegion: string,
  accountId: pulumi.Input<string>,
): aws.types.input.ecr.ReplicationConfigurationReplicationConfiguration {
  return {
    rules: [
      {
        destinations: [{ region: peerRegion, registryId: accountId }],
        repositoryFilters: [{ filter: appImageRepositoryName(namePrefix), filterType: "PREFIX_MATCH" }],
      },
    ],
  };
}

/** Where the backup job image's Dockerfile lives; the build context is the repository root. */
export const BACKUP_IMAGE_DOCKERFILE = path.join(PROJECT_ROOT, "lambdas", "backup-image", "Dockerfile");

export interface BackupJobImageArgs {
  repository: aws.ecr.Repository;
  tag: string;
}

/**
 * The backup job image (Node.js Lambda runtime with pg_dump and pg_restore),
 * built from this repository and pushed to the site's own ECR repository.
 * Lambda only runs images from its own region, so each site builds its own.
 */
export class BackupJobImage extends pulumi.ComponentResource {
  /** `repository@sha256:...`: what the function runs, immune to a re-pushed tag. */
  public readonly imageUri: pulumi.Output<string>;

  constructor(name: string, args: BackupJobImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:images:BackupJobImage", name, {}, opts);
    const credentials = aws.ecr.getAuthorizationTokenOutput({ registryId: args.repository.registryId }, { parent: this });
    const image = new docker.Image(
      `${name}-image`,
      {
        imageName: pulumi.interpolate`${args.repository.repositoryUrl}:${args.tag}`,
        build: {
          context: PROJECT_ROOT,
          dockerfile: BACKUP_IMAGE_DOCKERFILE,
          // Lambda's x86_64 architecture, whatever machine runs `pulumi up`.
          platform: "linux/amd64",
        },
        registry: {
          server: args.repository.repositoryUrl,
          username: credentials.userName,
          password: pulumi.secret(credentials.password),
        },
      },
      { parent: this },
    );
    this.imageUri = image.repoDigest;
    this.registerOutputs({ imageUri: this.imageUri });
  }
}
