import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DockerImages } from "./config";

/**
 * Each pinned image pulled onto the site's engine. A container must name an
 * image the engine has (the provider does not pull for a container), so every
 * container takes its image from one of these (pulumi-docker, RemoteImage).
 * keepLocally: removing a RemoteImage must not delete an image a running
 * container of the previous release still uses.
 */
export class SiteImages extends pulumi.ComponentResource {
  readonly ids: Record<keyof DockerImages, pulumi.Output<string>>;

  constructor(name: string, images: DockerImages, opts: pulumi.ComponentResourceOptions) {
    super("drstack:docker:SiteImages", name, {}, opts);
    const ids = {} as Record<keyof DockerImages, pulumi.Output<string>>;
    for (const [kind, reference] of Object.entries(images) as [keyof DockerImages, string][]) {
      ids[kind] = new docker.RemoteImage(`${name}-${kind}`, { name: reference, keepLocally: true }, { parent: this }).imageId;
    }
    this.ids = ids;
    this.registerOutputs({});
  }
}
