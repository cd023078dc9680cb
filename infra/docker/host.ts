import * as docker from "@pulumi/docker";
import { SiteName } from "../roles";
import { DockerHostSettings } from "./config";

/**
 * The provider for this site's own Docker engine, from `dockerHost` alone:
 * never DOCKER_HOST or a default context, so a stack cannot reach the other
 * data centre's engine by accident.
 */
export function dockerProvider(site: SiteName, host: DockerHostSettings): docker.Provider {
  return new docker.Provider(`${site}-docker`, {
    host: host.url,
    ...(host.sshOpts.length > 0 ? { sshOpts: host.sshOpts } : {}),
    ...(host.tls ? { caMaterial: host.tls.ca, certMaterial: host.tls.cert, keyMaterial: host.tls.key } : {}),
  });
}
