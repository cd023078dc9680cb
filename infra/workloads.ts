import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SiteName, SiteRole } from "./roles";
import { databaseUrl } from "./siteConnections";
import { ReplicaSettings, TierReplicas, workloadReplicas } from "./workloadReplicas";

export interface WorkloadsArgs {
  site: SiteName;
  role: SiteRole;
  /** The site's own cluster; kept secret in state. */
  kubeconfig: pulumi.Input<string>;
  namespace: string;
  /** The application image in this site's own ECR repository, e.g. `<registry>/<prefix>/app`. */
  imageRepositoryUrl: pulumi.Input<string>;
  imageTag: string;
  replicas: ReplicaSettings;
  containerPort: number;
  /** Liveness and readiness probe path, starting with `/`. */
  healthPath: string;
  /** Hostname of the site's own database instance: the writer when active, the replica when standby. */
  databaseHost: pulumi.Input<string>;
  databasePort: pulumi.Input<number>;
  databaseName: string;
}

/** The two process types of the application; the image's entrypoint takes the type as its argument. */
export const APP_TIERS = ["web", "worker"] as const;
export type AppTier = (typeof APP_TIERS)[number];

/**
 * The application on the site's Kubernetes cluster: a web Deployment behind a
 * load-balanced Service, and a worker Deployment. Both sites run the same
 * objects; only the replica counts follow the role, so failing over scales
 * the standby up (and a returning primary down) without replacing anything.
 */
export class Workloads extends pulumi.ComponentResource {
  public readonly replicas: TierReplicas;
  public readonly namespace: pulumi.Output<string>;
  /** The load balancer in front of the web tier; DNS for this site's endpoint points here. */
  public readonly webHostname: pulumi.Output<string | undefined>;

  constructor(name: string, args: WorkloadsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:workloads:Workloads", name, {}, opts);
    const provider = new k8s.Provider(`${name}-cluster`, { kubeconfig: args.kubeconfig, enableServerSideApply: true }, { parent: this });
    const child = { parent: this, provider };

    const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: args.namespace } }, child);
    this.replicas = workloadReplicas(args.role, args.replicas);
    const image = pulumi.interpolate`${args.imageRepositoryUrl}:${args.imageTag}`;

    for (const tier of APP_TIERS) {
      new k8s.apps.v1.Deployment(
        `${name}-${tier}`,
        { metadata: { name: tier, namespace: namespace.metadata.name, labels: appLabels(tier) }, spec: deploymentSpec(tier, this.replicas[tier], image, args) },
        child,
      );
    }
    const service = new k8s.core.v1.Service(
      `${name}-web-service`,
      {
        metadata: {
          name: "web",
          namespace: namespace.metadata.name,
          labels: appLabels("web"),
          annotations: {
            // An AWS Network Load Balancer straight to the pods (AWS Load Balancer Controller).
            "service.beta.kubernetes.io/aws-load-balancer-type": "external",
            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
          },
        },
        spec: {
          type: "LoadBalancer",
          selector: appLabels("web"),
          ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
        },
      },
      child,
    );

    this.namespace = namespace.metadata.name;
    this.webHostname = service.status.apply((status) => status?.loadBalancer?.ingress?.[0]?.hostname);
    this.registerOutputs({ namespace: this.namespace, webHostname: this.webHostname });
  }
}

export function appLabels(tier: AppTier): Record<string, string> {
  return { "app.kubernetes.io/name": "app", "app.kubernetes.io/component": tier, "app.kubernetes.io/managed-by": "drstack" };
}

export function deploymentSpec(
  tier: AppTier,
  replicas: number,
  image: pulumi.Input<string>,
  args: Pick<WorkloadsArgs, "site" | "containerPort" | "healthPath" | "databaseHost" | "databasePort" | "databaseName">,
): k8s.types.input.apps.v1.DeploymentSpec {
  const probe = (periodSeconds: number, failureThreshold: number): k8s.types.input.core.v1.Probe => ({
    httpGet: { path: args.healthPath, port: args.containerPort },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  return {
    replicas,
    selector: { matchLabels: appLabels(tier) },
    template: {
      metadata: { labels: appLabels(tier) },
      spec: {
        containers: [
          {
            name: tier,
            image,
            args: [tier],
            ports: [{ name: "http", containerPort: args.containerPort }],
            // No credentials in the URL: the application reads those from its own secret.
            env: [
              { name: "DATABASE_URL", value: databaseUrl(args.databaseHost, args.databasePort, args.databaseName) },
              { name: "DRSTACK_SITE", value: args.site },
            ],
            // Workers serve the same health endpoint, so a wedged worker is restarted too.
            readinessProbe: probe(5, 3),
            // Slower than readiness: a pod that is only busy is taken out of the
            // load balancer long before it is killed.
            livenessProbe: { ...probe(10, 6), initialDelaySeconds: 15 },
          },
        ],
      },
    },
  };
}
