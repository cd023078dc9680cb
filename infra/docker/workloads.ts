import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { SiteName } from "../roles";
import { TierReplicas } from "../workloadReplicas";
import { goDuration } from "./durations";
import { appContainerName } from "./naming";

export interface SiteWorkloadsArgs {
  site: SiteName;
  namePrefix: string;
  imageId: pulumi.Input<string>;
  networkName: pulumi.Input<string>;
  /** What this site runs in its role (infra/workloadReplicas.ts). */
  replicas: TierReplicas;
  containerPort: number;
  webBindAddress: string;
  webHostPort: number;
  webCommand: string[];
  workerCommand: string[];
  healthCommand: string[];
  /** DATABASE_URL, REDIS_URL and the rest, the same for every container of the site. */
  environment: pulumi.Input<string[]>;
  caCertificate: string;
}

/**
 * The application's web and worker containers: full size on the active site,
 * the warm minimum on the standby, so a flip creates or removes containers
 * and never touches data. Web container i is published on webHostPort + i
 * for the site's front proxy.
 */
export class SiteWorkloads extends pulumi.ComponentResource {
  constructor(name: string, args: SiteWorkloadsArgs, opts: pulumi.ComponentResourceOptions) {
    super("drstack:docker:SiteWorkloads", name, {}, opts);
    const common = {
      image: args.imageId,
      restart: "unless-stopped",
      envs: args.environment,
      uploads: [{ file: "/drstack/tls/ca.crt", content: args.caCertificate }],
      networksAdvanced: [{ name: args.networkName }],
    };
    for (let index = 0; index < args.replicas.web; index++) {
      new docker.Container(
        `${name}-web-${index}`,
        {
          ...common,
          name: appContainerName(args.namePrefix, args.site, "web", index),
          ...(args.webCommand.length > 0 ? { command: args.webCommand } : {}),
          ports: [{ internal: args.containerPort, external: args.webHostPort + index, ip: args.webBindAddress }],
          healthcheck: { tests: ["CMD", ...args.healthCommand], interval: goDuration(15), timeout: goDuration(5), retries: 3, startPeriod: goDuration(60) },
          labels: [{ label: "drstack.site", value: args.site }, { label: "drstack.tier", value: "web" }],
        },
        { parent: this, deleteBeforeReplace: true },
      );
    }
    for (let index = 0; index < args.replicas.worker; index++) {
      new docker.Container(
        `${name}-worker-${index}`,
        {
          ...common,
          name: appContainerName(args.namePrefix, args.site, "worker", index),
          command: args.workerCommand,
          labels: [{ label: "drstack.site", value: args.site }, { label: "drstack.tier", value: "worker" }],
        },
        { parent: this, deleteBeforeReplace: true },
      );
    }
    this.registerOutputs({});
  }
}
