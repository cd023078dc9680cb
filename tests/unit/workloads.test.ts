import { createHmac } from "node:crypto";
import { roleOf } from "../../infra/roles";
import { workloadReplicas } from "../../infra/workloadReplicas";
import { readStackConfig } from "../../offline/stackFiles";
import { evaluate, resourcesOfType, single, STACK_CASES } from "./evaluations";

// Each evaluation of the program takes seconds; several in one test outgrow jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

const T = {
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  k8sProvider: "pulumi:providers:kubernetes",
  repository: "aws:ecr/repository:Repository",
  ecrReplication: "aws:ecr/replicationConfiguration:ReplicationConfiguration",
  secret: "kubernetes:core/v1:Secret",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
};
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom: Array<{ secretRef?: { name: string } }>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: { httpGet: { path: string; port: number } };
  livenessProbe: { httpGet: { path: string; port: number } };
}

interface DeploymentInputs {
  metadata: { name: string; namespace: string };
  spec: {
    replicas: number;
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: {
        containers: Container[];
        automountServiceAccountToken: boolean;
        securityContext: Record<string, unknown>;
        topologySpreadConstraints: Array<{ topologyKey: string; whenUnsatisfiable: string; maxSkew: number }>;
        volumes?: Array<{ name: string; emptyDir?: unknown }>;
      };
    };
  };
}

function deployments(evaluation: Awaited<ReturnType<typeof evaluate>>): Record<string, DeploymentInputs> {
  const byName: Record<string, DeploymentInputs> = {};
  for (const deployment of resourcesOfType(evaluation, T.deployment)) {
    const inputs = deployment.inputs as unknown as DeploymentInputs;
    byName[inputs.metadata.name] = inputs;
  }
  return byName;
}

describe("workloadReplicas, the one rule for pod counts", () => {
  const settings = { full: { web: 4, worker: 2 }, warmMinimum: { web: 1, worker: 1 }, pilotLight: false };

  test("the active site runs full size, a warm standby its minimum, a pilot-light standby nothing", () => {
    expect(workloadReplicas("active", settings)).toEqual({ web: 4, worker: 2 });
    expect(workloadReplicas("standby", settings)).toEqual({ web: 1, worker: 1 });
    expect(workloadReplicas("standby", { ...settings, pilotLight: true })).toEqual({ web: 0, worker: 0 });
    expect(workloadReplicas("active", { ...settings, pilotLight: true })).toEqual({ web: 4, worker: 2 });
  });
});

describe.each(STACK_CASES)("workloads of stack $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });
  const role = roleOf(stack, activeSite);
  const region = readStackConfig(stack).values[`drstack:${stack}Region`];

  test(`runs ${role === "active" ? "full size" : "the warm minimum"} as the ${role} site`, async () => {
    const evaluation = await run();
    const expected = role === "active" ? { web: 4, worker: 2 } : { web: 1, worker: 1 };
    const byName = deployments(evaluation);
    expect({ web: byName.web.spec.replicas, worker: byName.worker.spec.replicas }).toEqual(expected);
    expect(evaluation.outputs.workloadReplicas).toEqual(expected);
  });

  test("probes the health path on the container port, readiness and liveness", async () => {
    for (const deployment of Object.values(deployments(await run()))) {
      const [container] = deployment.spec.template.spec.containers;
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        expect(probe.httpGet).toEqual({ path: "/api/health", port: 8080 });
      }
      expect(container.ports).toEqual([{ name: "http", containerPort: 8080 }]);
    }
  });

  test.each(["mysql", "mariadb"])("with databaseEngine=%s, the Secret carries a mysql:// URL and the DB_* variables MySQL frameworks read, on 3306", async (engine) => {
    const evaluation = await evaluate(stack, { activeSite, databaseEngine: engine }, stack === "secondary" && activeSite === "secondary" ? { kind: "unreachable" } : undefined);
    const secret = single(evaluation, T.secret);
    const { value } = secret.inputs.stringData as { value: Record<string, string> };
    const host = String(evaluation.outputs.databaseEndpoint);
    expect(value).toMatchObject({
      DATABASE_URL: `mysql://drstack:${encodeURIComponent(value.DB_PASSWORD)}@${host}:3306/shop?sslmode=require`,
      DB_CONNECTION: engine,
      DB_HOST: host,
      DB_PORT: "3306",
      DB_DATABASE: "shop",
      DB_USERNAME: "drstack",
    });
    expect(value.DB_PASSWORD.length).toBeGreaterThan(0);
    expect(Object.keys(value).filter((key) => key.startsWith("PG"))).toEqual([]);
  });

  test("delivers this site's own database and cache, with credentials, as a Kubernetes Secret and never as plain env values", async () => {
    const evaluation = await run();
    expect(evaluation.outputs.databaseEndpoint).toMatch(new RegExp(`^acme-shop-dr-${stack}-db\\.`));
    const secret = single(evaluation, T.secret);
    const stringData = secret.inputs.stringData as { [SECRET_SIG]: string; value: Record<string, string> };
    // A Pulumi secret: encrypted in state, hidden in previews.
    expect(stringData[SECRET_SIG]).toBeDefined();
    const host = String(evaluation.outputs.databaseEndpoint);
    expect(stringData.value).toMatchObject({
      PGHOST: host,
      PGPORT: "5432",
      PGDATABASE: "shop",
      PGUSER: "drstack",
      PGSSLMODE: "require",
      DATABASE_URL: `postgres://drstack:${encodeURIComponent(stringData.value.PGPASSWORD)}@${host}:5432/shop?sslmode=require`,
      REDIS_URL: `rediss://:${encodeURIComponent(`offline-random-${stack}-cache-auth-token`)}@${String(evaluation.outputs.cacheEndpoint)}:6379/0`,
    });
    expect(stringData.value.PGPASSWORD.length).toBeGreaterThan(0);
    for (const deployment of Object.values(deployments(evaluation))) {
      const [container] = deployment.spec.template.spec.containers;
      expect(container.envFrom).toEqual([{ secretRef: { name: "drstack-connections" } }]);
      expect(container.env).toEqual([{ name: "DRSTACK_SITE", value: stack }]);
    }
  });

  // Kubernetes reads envFrom when a container starts ("Secrets consumed as environment variables are
  // not updated automatically", Kubernetes docs, Secrets, "Using Secrets as environment variables"):
  // a new database generation must reach the pods as a new pod template.
  test("every pod template carries a keyed digest of the connections Secret, in clear (it reveals nothing), so a changed Secret rolls the pods", async () => {
    const evaluation = await run();
    const values = (single(evaluation, T.secret).inputs.stringData as { value: Record<string, string> }).value;
    const key = resourcesOfType(evaluation, "random:index/randomPassword:RandomPassword").find((resource) => resource.name.endsWith("-connections-digest-key"))!;
    const keyValue = String(key.state?.result);
    expect(keyValue.length).toBeGreaterThan(0);
    const expected = createHmac("sha256", keyValue)
      .update(JSON.stringify(Object.keys(values).sort().map((name) => [name, values[name]])))
      .digest("hex");
    // Unkeyed, the same values give another digest: the annotation is no oracle for the password.
    expect(expected).not.toBe(createHmac("sha256", "").update(JSON.stringify(Object.keys(values).sort().map((name) => [name, values[name]]))).digest("hex"));
    for (const deployment of Object.values(deployments(evaluation))) {
      expect(deployment.spec.template.metadata.annotations).toEqual({ "drstack.io/connections-sha256": expected });
    }
  });

  test("pods pass common hardening checks: requests and limits, non-root, no privilege escalation, read-only root, no capabilities, RuntimeDefault seccomp, no token", async () => {
    const evaluation = await run();
    for (const deployment of Object.values(deployments(evaluation))) {
      const pod = deployment.spec.template.spec;
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: "RuntimeDefault" } });
      const [container] = pod.containers;
      expect(container.resources).toEqual({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } });
      expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
      expect(container.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
      expect(pod.volumes).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "256Mi" } }]);
    }
  });

  test("pods spread over zones and nodes without blocking a scale-up, and a disruption budget lets one go at a time", async () => {
    const evaluation = await run();
    for (const [tier, deployment] of Object.entries(deployments(evaluation))) {
      expect(deployment.spec.template.spec.topologySpreadConstraints.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.maxSkew])).toEqual([
        ["topology.kubernetes.io/zone", "ScheduleAnyway", 1],
        ["kubernetes.io/hostname", "ScheduleAnyway", 1],
      ]);
      const budget = resourcesOfType(evaluation, T.pdb).find((candidate) => (candidate.inputs.metadata as { name: string }).name === tier);
      expect(budget?.inputs.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/name": "app", "app.kubernetes.io/component": tier, "app.kubernetes.io/managed-by": "drstack" } } });
    }
  });

  test("pulls the application image by digest from this site's own region", async () => {
    const digest = readStackConfig(stack).values["drstack:appImageDigest"];
    for (const deployment of Object.values(deployments(await run()))) {
      const [container] = deployment.spec.template.spec.containers;
      expect(container.image).toBe(`123456789012.dkr.ecr.${region}.amazonaws.com/acme-shop-dr/app@${digest}`);
      expect(container.args).toEqual([container.name]);
    }
  });

  test("deploys to the cluster named by this stack's kubeconfig, kept secret", async () => {
    const evaluation = await run();
    const provider = single(evaluation, T.k8sProvider);
    expect(provider.inputs.kubeconfig).toEqual({ [SECRET_SIG]: expect.any(String), value: "offline-placeholder-for-drstack:kubeconfig" });
    for (const resource of [...resourcesOfType(evaluation, T.deployment), ...resourcesOfType(evaluation, T.service)]) {
      expect(resource.provider).toContain(`::${stack}-workloads-cluster::`);
      expect((resource.inputs.metadata as { namespace: string }).namespace).toBe("shop");
    }
  });

  test("exposes the web tier through a load-balanced Service selecting the web pods", async () => {
    const service = single(await run(), T.service).inputs as { spec: { type: string; selector: Record<string, string>; ports: unknown[] } };
    expect(service.spec.type).toBe("LoadBalancer");
    expect(service.spec.selector["app.kubernetes.io/component"]).toBe("web");
    expect(service.spec.ports).toEqual([{ name: "https", port: 443, targetPort: "http", protocol: "TCP" }]);
  });
});

describe("the connections digest across a failover and a rebuild", () => {
  const digests = async (stack: "primary" | "secondary", overrides: Record<string, string>) => {
    const lost = stack === "secondary" && overrides.activeSite === "secondary";
    const evaluation = await evaluate(stack, overrides, lost ? { kind: "unreachable" } : undefined);
    return Object.values(deployments(evaluation)).map((deployment) => deployment.spec.template.metadata.annotations?.["drstack.io/connections-sha256"]);
  };

  test("a flip keeps each site's digest (promotion keeps the endpoint and the password: no restart on top of the scale-up); a new generation changes it", async () => {
    for (const stack of ["primary", "secondary"] as const) {
      const before = await digests(stack, { activeSite: "primary" });
      expect(new Set(before).size).toBe(1);
      expect(await digests(stack, { activeSite: "secondary" })).toEqual(before);
    }
    const rebuilt = await digests("primary", { activeSite: "secondary", primaryDatabaseGeneration: "2" });
    expect(rebuilt).not.toEqual(await digests("primary", { activeSite: "secondary" }));
  });
});

describe("pilot-light mode", () => {
  test("a pilot-light standby runs no pods, and the active site is unaffected", async () => {
    const standby = deployments(await evaluate("secondary", { pilotLight: "true" }));
    expect({ web: standby.web.spec.replicas, worker: standby.worker.spec.replicas }).toEqual({ web: 0, worker: 0 });
    const active = deployments(await evaluate("primary", { pilotLight: "true" }));
    expect({ web: active.web.spec.replicas, worker: active.worker.spec.replicas }).toEqual({ web: 4, worker: 2 });
  });

  test("a demoted primary (activeSite=secondary) scales itself down like any standby", async () => {
    const demoted = deployments(await evaluate("primary", { activeSite: "secondary", pilotLight: "true" }));
    expect({ web: demoted.web.spec.replicas, worker: demoted.worker.spec.replicas }).toEqual({ web: 0, worker: 0 });
  });
});

describe.each(STACK_CASES)("container images of stack $stack with activeSite=$activeSite", ({ stack, activeSite }) => {
  const run = () => evaluate(stack, { activeSite });
  const values = readStackConfig(stack).values;
  const region = values[`drstack:${stack}Region`];
  const peerRegion = values[`drstack:${stack === "primary" ? "secondary" : "primary"}Region`];

  // Nothing is built or pushed by the program: the images exist, by digest, in the site's own region.
  test("builds no image and looks both images up by digest in its own region, through its own provider", async () => {
    const evaluation = await run();
    expect(evaluation.resources.filter((resource) => resource.type.startsWith("docker:") || resource.type === "aws:ecr/repository:Repository")).toEqual([]);
    const lookups = evaluation.invokeCalls.filter((call) => call.token === "aws:ecr/getImage:getImage");
    expect(lookups.map((call) => [call.inputs.repositoryName, call.inputs.imageDigest]).sort()).toEqual([
      ["acme-shop-dr/app", values["drstack:appImageDigest"]],
      ["acme-shop-dr/drstack-backup", values["drstack:backupImageDigest"]],
    ]);
    for (const call of lookups) {
      expect(call.provider).toContain(`::${stack}-aws::`);
    }
    expect(evaluation.outputs.appImageRepositoryUrl).toBe(`123456789012.dkr.ecr.${region}.amazonaws.com/acme-shop-dr/app`);
  });

  test("owns the image replication of its own region, to the peer region, for application images only", async () => {
    const evaluation = await run();
    const replication = single(evaluation, T.ecrReplication);
    expect(replication.provider).toContain(`::${stack}-aws::`);
    expect(replication.parent).toBe(`drstack:images:ImageRegistry::${stack}-images`);
    expect(replication.inputs.replicationConfiguration).toEqual({
      rules: [
        {
          destinations: [{ region: peerRegion, registryId: "123456789012" }],
          repositoryFilters: [{ filter: "acme-shop-dr/app", filterType: "PREFIX_MATCH" }],
        },
      ],
    });
  });

  test("runs the backup functions on the backup job image by digest, from its own region", async () => {
    const evaluation = await run();
    const functions = resourcesOfType(evaluation, "aws:lambda/function:Function").filter((fn) => fn.inputs.packageType === "Image");
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn.inputs.imageUri).toBe(`123456789012.dkr.ecr.${region}.amazonaws.com/acme-shop-dr/drstack-backup@${values["drstack:backupImageDigest"]}`);
    }
  });
});

describe("workload settings", () => {
  test("a writable root filesystem drops the /tmp volume; resources follow config", async () => {
    const evaluation = await evaluate("primary", { appReadOnlyRootFilesystem: "false", appCpuRequest: "500m", appMemoryLimit: "2Gi", appRunAsUser: "1000" });
    const [web] = Object.values(deployments(evaluation));
    expect(web.spec.template.spec.volumes).toBeUndefined();
    expect(web.spec.template.spec.containers[0].volumeMounts).toBeUndefined();
    expect(web.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(false);
    expect(web.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "1", memory: "2Gi" } });
    expect(web.spec.template.spec.securityContext.runAsUser).toBe(1000);
  });
});

describe("image replication and the first deployment", () => {
  test("does not wait for the peer stack: both regions' repositories exist before either stack runs", async () => {
    const evaluation = await evaluate("primary", { peerProvisioned: "false" });
    expect(resourcesOfType(evaluation, T.ecrReplication)).toHaveLength(1);
  });
});
