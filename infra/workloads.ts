import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DatabaseEngine, ENGINE_PROFILES, isMysqlFamily } from "./engines";
import * as random from "@pulumi/random";
import { createHmac } from "node:crypto";
import { ContainerResources } from "./config";
import { SiteName, SiteRole } from "./roles";
import { ReplicaSettings, TierReplicas, workloadReplicas } from "./workloadReplicas";

export interface WorkloadsArgs {
  site: SiteName;
  role: SiteRole;
  /** The site's own cluster; kept secret in state. */
  kubeconfig: pulumi.Input<string>;
  namespace: string;
  /** The application image by digest in this site's own ECR repository, `<registry>/<prefix>/app@sha256:...`. */
  image: pulumi.Input<string>;
  /**
   * The issued ACM certificate (this site's region) the web load balancer
   * terminates TLS with. Undefined while the certificate cannot be issued yet
   * (the primary's first deployment, before its DNS owner exists): then no web
   * Service is declared, rather than one that serves without TLS.
   */
  tlsCertificateArn?: pulumi.Input<string>;
  replicas: ReplicaSettings;
  containerPort: number;
  /** Liveness and readiness probe path, starting with `/`. */
  healthPath: string;
  /** How the application reaches its site's database and cache; delivered as a Kubernetes Secret, never as plain env values. */
  connections: AppConnections;
  resources: ContainerResources;
  /** Numeric user and group the containers run as. */
  runAsUser: number;
  readOnlyRootFilesystem: boolean;
}

export interface AppConnections {
  /** `databaseEngine`: the URL scheme and the client variables the pods get. */
  databaseEngine: DatabaseEngine;
  /** The site's own database instance: the writer when active, the replica when standby. */
  databaseHost: pulumi.Input<string>;
  databasePort: pulumi.Input<number>;
  databaseName: string;
  /** Valid for this site's database in every mode (SiteDatabase.credentials). */
  databaseCredentials: pulumi.Input<{ username: string; password: string }>;
  cacheHost: pulumi.Input<string>;
  cachePort: pulumi.Input<number>;
  cacheAuthToken: pulumi.Input<string>;
}

/** The Secret every application pod reads its connections from. */
export const CONNECTIONS_SECRET_NAME = "drstack-connections";

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
  /**
   * The load balancer in front of the web tier; DNS for this site's endpoint
   * points here. Absent while no web Service is declared (its certificate is
   * not issued yet): a stack output that resolves to undefined is dropped with
   * a warning (pulumi/pulumi#7376), so there is no output rather than an empty one.
   */
  public readonly webHostname?: pulumi.Output<string | undefined>;

  constructor(name: string, args: WorkloadsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("drstack:workloads:Workloads", name, {}, opts);
    const provider = new k8s.Provider(`${name}-cluster`, { kubeconfig: args.kubeconfig, enableServerSideApply: true }, { parent: this });
    const child = { parent: this, provider };

    const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: { name: args.namespace } }, child);
    this.replicas = workloadReplicas(args.role, args.replicas);

    const variables = connectionVariables(args.connections);
    const connections = new k8s.core.v1.Secret(
      `${name}-connections`,
      {
        metadata: { name: CONNECTIONS_SECRET_NAME, namespace: namespace.metadata.name, labels: { "app.kubernetes.io/managed-by": "drstack" } },
        type: "Opaque",
        stringData: pulumi.secret(variables),
      },
      child,
    );
    // Pods read envFrom once, at start: a changed Secret reaches them only
    // through a new pod template. The digest is keyed (a secret of this
    // stack's state), so whoever reads a pod spec cannot test guesses of the
    // password against it.
    const digestKey = new random.RandomPassword(`${name}-connections-digest-key`, { length: 32, special: false }, { parent: this });
    const digest = pulumi.unsecret(pulumi.all([digestKey.result, variables]).apply(([key, values]) => connectionsDigest(key, values)));
    for (const tier of APP_TIERS) {
      new k8s.apps.v1.Deployment(
        `${name}-${tier}`,
        { metadata: { name: tier, namespace: namespace.metadata.name, labels: appLabels(tier) }, spec: deploymentSpec(tier, this.replicas[tier], args.image, args, digest) },
        { ...child, dependsOn: [connections] },
      );
      // Voluntary disruptions (node drains, upgrades) take one pod of a tier at a
      // time; with maxUnavailable rather than minAvailable a one-pod standby can
      // still be drained.
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-${tier}-disruption-budget`,
        { metadata: { name: tier, namespace: namespace.metadata.name, labels: appLabels(tier) }, spec: { maxUnavailable: 1, selector: { matchLabels: appLabels(tier) } } },
        child,
      );
    }
    const service =
      args.tlsCertificateArn === undefined
        ? undefined
        : new k8s.core.v1.Service(
            `${name}-web-service`,
            {
              metadata: { name: "web", namespace: namespace.metadata.name, labels: appLabels("web"), annotations: webServiceAnnotations(args.tlsCertificateArn, args.healthPath) },
              spec: { type: "LoadBalancer", selector: appLabels("web"), ports: [WEB_SERVICE_PORT] },
            },
            child,
          );

    this.namespace = namespace.metadata.name;
    // The provider waits until a LoadBalancer Service has its address (@pulumi/kubernetes, Service),
    // which the AWS Load Balancer Controller publishes as the NLB's DNS name.
    this.webHostname = service?.status.apply((status) => status?.loadBalancer?.ingress?.[0]?.hostname);
    this.registerOutputs({ namespace: this.namespace, webHostname: this.webHostname });
  }
}

/** What users and the DNS health checks connect to: HTTPS on 443, TLS ended at the load balancer, plain HTTP to the pods' named port. */
export const WEB_SERVICE_PORT = { name: "https", port: 443, targetPort: "http", protocol: "TCP" } as const;

/**
 * TLS 1.2 or later only. The AWS Load Balancer Controller's default,
 * ELBSecurityPolicy-2016-08, still accepts TLS 1.0 and 1.1
 * (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/#ssl-negotiation-policy).
 */
export const WEB_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/**
 * The web Service's load balancer, as the AWS Load Balancer Controller reads
 * its annotations: an internet-facing NLB straight to the pods, a TLS listener
 * on the `https` port with the site's ACM certificate (`ssl-ports` names it, so
 * no other port can become a plain listener), TCP to the pods, and target
 * health checks on the pods' own probe path.
 */
export function webServiceAnnotations(certificateArn: pulumi.Input<string>, healthPath: string): Record<string, pulumi.Input<string>> {
  return {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": certificateArn,
    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": WEB_SERVICE_PORT.name,
    "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy": WEB_TLS_POLICY,
    "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "tcp",
    "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "http",
    "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port": "traffic-port",
    "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": healthPath,
  };
}

export function appLabels(tier: AppTier): Record<string, string> {
  return { "app.kubernetes.io/name": "app", "app.kubernetes.io/component": tier, "app.kubernetes.io/managed-by": "drstack" };
}

export type DeploymentSettings = Pick<WorkloadsArgs, "site" | "containerPort" | "healthPath" | "resources" | "runAsUser" | "readOnlyRootFilesystem">;

export function deploymentSpec(
  tier: AppTier,
  replicas: number,
  image: pulumi.Input<string>,
  args: DeploymentSettings,
  connectionsDigestValue: pulumi.Input<string>,
): k8s.types.input.apps.v1.DeploymentSpec {
  const probe = (periodSeconds: number, failureThreshold: number): k8s.types.input.core.v1.Probe => ({
    httpGet: { path: args.healthPath, port: args.containerPort },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  const spread = (topologyKey: string): k8s.types.input.core.v1.TopologySpreadConstraint => ({
    topologyKey,
    maxSkew: 1,
    // ScheduleAnyway: during a zone's impairment, exactly when a failover
    // scales this tier up, a hard constraint would leave pods Pending.
    whenUnsatisfiable: "ScheduleAnyway",
    labelSelector: { matchLabels: appLabels(tier) },
  });
  return {
    replicas,
    selector: { matchLabels: appLabels(tier) },
    template: {
      metadata: { labels: appLabels(tier), annotations: { [CONNECTIONS_DIGEST_ANNOTATION]: connectionsDigestValue } },
      spec: {
        // The application never calls the Kubernetes API.
        automountServiceAccountToken: false,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: args.runAsUser,
          runAsGroup: args.runAsUser,
          fsGroup: args.runAsUser,
          seccompProfile: { type: "RuntimeDefault" },
        },
        topologySpreadConstraints: [spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")],
        containers: [
          {
            name: tier,
            image,
            args: [tier],
            ports: [{ name: "http", containerPort: args.containerPort }],
            // Credentials and endpoints come from the Secret, never from plain values in the spec.
            envFrom: [{ secretRef: { name: CONNECTIONS_SECRET_NAME } }],
            env: [{ name: "DRSTACK_SITE", value: args.site }],
            resources: {
              requests: { cpu: args.resources.cpuRequest, memory: args.resources.memoryRequest },
              limits: { cpu: args.resources.cpuLimit, memory: args.resources.memoryLimit },
            },
            securityContext: {
              allowPrivilegeEscalation: false,
              privileged: false,
              readOnlyRootFilesystem: args.readOnlyRootFilesystem,
              capabilities: { drop: ["ALL"] },
            },
            ...(args.readOnlyRootFilesystem ? { volumeMounts: [{ name: "tmp", mountPath: "/tmp" }] } : {}),
            // Workers serve the same health endpoint, so a wedged worker is restarted too.
            readinessProbe: probe(5, 3),
            // Slower than readiness: a pod that is only busy is taken out of the
            // load balancer long before it is killed.
            livenessProbe: { ...probe(10, 6), initialDelaySeconds: 15 },
          },
        ],
        ...(args.readOnlyRootFilesystem ? { volumes: [{ name: "tmp", emptyDir: { sizeLimit: "256Mi" } }] } : {}),
      },
    },
  };
}

/** The pod-template annotation that rolls a tier's pods when the connections Secret changes. */
export const CONNECTIONS_DIGEST_ANNOTATION = "drstack.io/connections-sha256";

/** HMAC-SHA256 over the Secret's variables in key order: the same values always give the same digest. */
export function connectionsDigest(key: string, variables: Record<string, string>): string {
  const ordered = Object.keys(variables)
    .sort()
    .map((name) => [name, variables[name]]);
  return createHmac("sha256", key).update(JSON.stringify(ordered)).digest("hex");
}

/**
 * What the Secret holds: a DATABASE_URL with the credentials (URL-encoded)
 * for frameworks that read one, in the engine's scheme (`postgres://`, or
 * `mysql://` for MySQL and MariaDB, which frameworks' URL parsers know), and
 * the engine's client variables: libpq's `PG*` for PostgreSQL, the `DB_*`
 * names Laravel and most MySQL frameworks read for MySQL and MariaDB. Both
 * ask for TLS: RDS for PostgreSQL 15 and later refuses unencrypted
 * connections by default (`rds.force_ssl`), drstack's MySQL and MariaDB
 * parameter group does (`require_secure_transport`). And a `rediss://` URL
 * for the cache, which only speaks TLS with its AUTH token.
 */
export function connectionVariables(connections: AppConnections): pulumi.Output<Record<string, string>> {
  return pulumi
    .all([
      connections.databaseHost,
      connections.databasePort,
      connections.databaseCredentials,
      connections.cacheHost,
      connections.cachePort,
      connections.cacheAuthToken,
    ])
    .apply(([host, port, credentials, cacheHost, cachePort, token]): Record<string, string> => {
      const user = encodeURIComponent(credentials.username);
      const password = encodeURIComponent(credentials.password);
      const database = encodeURIComponent(connections.databaseName);
      const scheme = ENGINE_PROFILES[connections.databaseEngine].appUrlScheme;
      const client: Record<string, string> = isMysqlFamily(connections.databaseEngine)
        ? {
            DB_CONNECTION: connections.databaseEngine,
            DB_HOST: host,
            DB_PORT: String(port),
            DB_DATABASE: connections.databaseName,
            DB_USERNAME: credentials.username,
            DB_PASSWORD: credentials.password,
          }
        : {
            PGHOST: host,
            PGPORT: String(port),
            PGDATABASE: connections.databaseName,
            PGUSER: credentials.username,
            PGPASSWORD: credentials.password,
            PGSSLMODE: "require",
          };
      return {
        DATABASE_URL: `${scheme}://${user}:${password}@${host}:${port}/${database}?sslmode=require`,
        ...client,
        REDIS_URL: `rediss://:${encodeURIComponent(token)}@${cacheHost}:${cachePort}/0`,
      };
    });
}
