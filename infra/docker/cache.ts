import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { SiteName } from "../roles";
import { goDuration } from "./durations";
import { cacheVolumeName, siteContainerName } from "./naming";

export const CACHE_PORT = 6379;

export interface SiteCacheArgs {
  site: SiteName;
  namePrefix: string;
  imageId: pulumi.Input<string>;
  networkName: pulumi.Input<string>;
  password: pulumi.Input<string>;
}

/**
 * The site's Redis, on the site's network only (never published): a cache
 * and Celery's broker, rebuilt by the application after a failover rather
 * than replicated. The password is in a config file, not the command line
 * that `docker inspect` and `ps` show.
 */
export class SiteCache extends pulumi.ComponentResource {
  readonly containerName: string;

  constructor(name: string, args: SiteCacheArgs, opts: pulumi.ComponentResourceOptions) {
    super("drstack:docker:SiteCache", name, {}, opts);
    const child = { parent: this };
    const volume = new docker.Volume(`${name}-data`, { name: cacheVolumeName(args.namePrefix, args.site) }, { ...child, retainOnDelete: true });
    this.containerName = siteContainerName(args.namePrefix, args.site, "cache");
    new docker.Container(
      `${name}-server`,
      {
        name: this.containerName,
        image: args.imageId,
        restart: "unless-stopped",
        command: ["redis-server", "/drstack/redis.conf"],
        uploads: [{ file: "/drstack/redis.conf", content: pulumi.output(args.password).apply((password) => `appendonly yes\nrequirepass ${password}\nprotected-mode yes\n`) }],
        volumes: [{ volumeName: volume.name, containerPath: "/data" }],
        networksAdvanced: [{ name: args.networkName }],
        // redis-cli reads the password from REDISCLI_AUTH, not from its command line.
        envs: pulumi.output(args.password).apply((password) => [`REDISCLI_AUTH=${password}`]),
        healthcheck: { tests: ["CMD", "redis-cli", "ping"], interval: goDuration(10), timeout: goDuration(5), retries: 5 },
        labels: [{ label: "drstack.site", value: args.site }],
      },
      { ...child, deleteBeforeReplace: true },
    );
    this.registerOutputs({ containerName: this.containerName });
  }
}
