import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { backupImageContractSuffix } from "./backupContract";
import { DatabaseEngine } from "./engines";
import { appImageRepositoryName, backupImageRepositoryName } from "./naming";

/**
 * Container images, by digest, that already exist in the site's own region.
 *
 * The program builds nothing: no Docker engine, no build context, no public
 * base-image registry on the failover path. The repositories
 * `<namePrefix>/app` and `<namePrefix>/drstack-backup` exist in both regions
 * before either stack runs (scripts/publish-backup-image.sh creates them):
 *
 * - the application image is pushed by the application's CI to one region and
 *   copied to the other by the ECR replication each stack declares here;
 * - the backup job image is pushed to both regions by
 *   scripts/publish-backup-image.sh (CI only), as the same manifest, so both
 *   stacks name the same digest, under a tag ending in the contract suffix
 *   (BACKUP_IMAGE_CONTRACT and the engine, `-contract3-mysql`) that says it
 *   holds what this program runs in it, for the configured `databaseEngine`.
 *
 * Each stack looks both images up in its own region before it declares
 * anything else, so a missing image stops the preview with the config key and
 * the fix instead of failing half-way through an `up` (a Lambda function or a
 * rollout waiting on an image that is not there).
 */

export interface SiteImageArgs {
  namePrefix: string;
  region: string;
  appImageDigest: string;
  backupImageDigest: string;
  /** `databaseEngine`: the backup image must have been built for it (its tag says so). */
  databaseEngine: DatabaseEngine;
}

/** Where each image is, as the lookup in the site's own region found it. */
export interface SiteImages {
  /** `<registry>/<namePrefix>/app@sha256:...` in this site's region. */
  appImageUri: string;
  /** `<registry>/<namePrefix>/drstack-backup@sha256:...` in this site's region. */
  backupImageUri: string;
  /** `<registry>/<namePrefix>/app`, the repository CI pushes releases to. */
  appRepositoryUrl: string;
}

export interface ImageProblem {
  key: "appImageDigest" | "backupImageDigest";
  repository: string;
  digest: string;
  /** What the lookup said. */
  cause: string;
  /** Found but unusable (published by an older drstack), rather than missing. */
  stale?: boolean;
  fix: string;
}

/** One or both images are not in the site's own region (or the backup image is older than the program); nothing was declared. */
export class MissingImageError extends pulumi.RunError {
  constructor(
    readonly region: string,
    readonly problems: ImageProblem[],
  ) {
    super(
      [
        `drstack cannot deploy: ${problems.length === 1 ? "an image it runs is" : "images it runs are"} ${problems.some((p) => p.stale) ? "missing from or out of date in" : "not in"} this site's region ${region}; nothing was deployed:`,
        ...problems.map((p) => `  - ${p.key} = ${JSON.stringify(p.digest)}: ${p.stale ? "the image" : "no such image"} in ${p.repository} in ${region} ${p.stale ? "is not one this drstack can run " : ""}(${p.cause}). Fix: ${p.fix}`),
      ].join("\n"),
    );
    this.name = "MissingImageError";
  }
}

/**
 * Looks both images up by digest in the site's own region, through the site's
 * own provider (never the peer's region: the standby checks what replication
 * brought it). Throws a MissingImageError naming every missing image.
 */
export async function lookUpSiteImages(args: SiteImageArgs, provider: aws.Provider, stack: string): Promise<SiteImages> {
  const wanted = [
    {
      key: "appImageDigest" as const,
      repository: appImageRepositoryName(args.namePrefix),
      digest: args.appImageDigest,
      fix:
        `push the release to ${appImageRepositoryName(args.namePrefix)} (ECR replication copies it between the regions; ` +
        `check \`aws ecr describe-image-replication-status --region <source region> --repository-name ${appImageRepositoryName(args.namePrefix)} --image-id imageDigest=${args.appImageDigest}\`), ` +
        `or pulumi -s ${stack} config set appImageDigest <a digest that exists in ${args.region}>`,
    },
    {
      key: "backupImageDigest" as const,
      repository: backupImageRepositoryName(args.namePrefix),
      digest: args.backupImageDigest,
      fix: `run scripts/publish-backup-image.sh (it pushes the image to both regions), then pulumi -s ${stack} config set backupImageDigest <the digest it prints>`,
    },
  ];
  const results = await Promise.all(
    wanted.map(async (image) => {
      try {
        const found = await aws.ecr.getImage({ repositoryName: image.repository, imageDigest: image.digest }, { provider });
        return { image, found };
      } catch (error) {
        return { image, cause: error instanceof Error ? error.message.split("\n")[0] : String(error) };
      }
    }),
  );
  const suffix = backupImageContractSuffix(args.databaseEngine);
  const problems: ImageProblem[] = results.flatMap((result): ImageProblem[] => {
    if (!("found" in result) || result.found === undefined) return [{ key: result.image.key, repository: result.image.repository, digest: result.image.digest, cause: result.cause ?? "not found", fix: result.image.fix }];
    if (result.image.key === "backupImageDigest" && !(result.found.imageTags ?? []).some((tag) => tag.endsWith(suffix))) {
      return [
        {
          key: result.image.key,
          repository: result.image.repository,
          digest: result.image.digest,
          stale: true,
          cause: `no tag of it (${(result.found.imageTags ?? []).join(", ") || "none"}) ends in ${suffix}: it was published by an older drstack, or for another databaseEngine, and lacks what this one runs in it (the ${args.databaseEngine} dump, restore and drill tools)`,
          fix: `${result.image.fix} (it builds for databaseEngine ${args.databaseEngine} from the stack files)`,
        },
      ];
    }
    return [];
  });
  if (problems.length > 0) {
    throw new MissingImageError(args.region, problems);
  }
  const [app, backup] = results.map((result) => ("found" in result ? result.found : undefined));
  return {
    appImageUri: app!.imageUri,
    backupImageUri: backup!.imageUri,
    appRepositoryUrl: app!.imageUri.replace(/@sha256:[0-9a-f]{64}$/, ""),
  };
}

export interface ImageRegistryArgs {
  namePrefix: string;
  /** The peer site's region: where this site's application images are replicated to. */
  peerRegion: string;
  accountId: pulumi.Input<string>;
  /** The images the site runs, as `lookUpSiteImages` found them in this region. */
  images: SiteImages;
}

/**
 * The site's part of the image registry: the ECR replication of its own
 * region. ECR replication is one configuration per registry and region. Each
 * stack owns the one in its own region, replicating application images to the
 * peer region, just as it owns its bucket's replication: neither stack writes
 * to the other's region, so the survivor of a regional outage deploys alone
 * and releases pushed to it after a failover flow back once the primary
 * returns. The repositories themselves exist in both regions before either
 * stack runs, so replication never has to wait for the peer stack.
 */
export class ImageRegistry extends pulumi.ComponentResource {
  /** `<registry>/<namePrefix>/app`, in this site's region. */
  public readonly appRepositoryUrl: pulumi.Output<string>;
  public readonly appImageUri: pulumi.Output<string>;
  public readonly backupImageUri: pulumi.Output<string>;

  constructor(name: string, args: ImageRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:images:ImageRegistry", name, {}, opts);
    new aws.ecr.ReplicationConfiguration(
      `${name}-replication`,
      { replicationConfiguration: imageReplication(args.namePrefix, args.peerRegion, args.accountId) },
      { parent: this },
    );
    this.appRepositoryUrl = pulumi.output(args.images.appRepositoryUrl);
    this.appImageUri = pulumi.output(args.images.appImageUri);
    this.backupImageUri = pulumi.output(args.images.backupImageUri);
    this.registerOutputs({ appRepositoryUrl: this.appRepositoryUrl, appImageUri: this.appImageUri, backupImageUri: this.backupImageUri });
  }
}

/**
 * Application images only (the repository name as a prefix, so further
 * `<namePrefix>/app-*` repositories replicate too): the backup job image is
 * pushed to both regions as the same manifest, so replicating it would only
 * race the publishing script.
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
