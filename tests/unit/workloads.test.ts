import { PROJECT_ROOT } from "../../infra/configSchema";
import { roleOf } from "../../infra/roles";
import { workloadReplicas } from "../../infra/workloadReplicas";
import { readStackConfig } from "../../offline/stackFiles";
import { evaluate, resourcesOfType, single, STACK_CASES, within } from "./evaluations";

// Each evaluation of the program takes seconds; several in one test outgrow jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

const T = {
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  k8sProvider: "pulumi:providers:kubernetes",
  repository: "aws:ecr/repository:Repository",
  ecrReplication: "aws:ecr/replicationConfiguration:ReplicationConfiguration",
  image: "docker:index/image:Image",
};
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; value: string }>;
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: { httpGet: { path: string; port: number } };
  livenessProbe: { httpGet: { path: string; port: number } };
}

interface DeploymentInputs {
  metadata: { name: string; namespace: string };
  spec: { replicas: number; template: { spec: { containers: Container[] } } };
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

  test("points the application at this site's own database", async () => {
    const evaluation = await run();
    expect(evaluation.outputs.databaseEndpoint).toMatch(new RegExp(`^acme-shop-dr-${stack}-db\\.`));
    for (const deployment of Object.values(deployments(evaluation))) {
      const env = deployment.spec.template.spec.containers[0].env;
      expect(env.find((variable) => variable.name === "DATABASE_URL")?.value).toBe(`postgres://${evaluation.outputs.databaseEndpoint}:5432/shop`);
    }
  });

  test("pulls the application image from this site's own region", async () => {
    for (const deployment of Object.values(deployments(await run()))) {
      const [container] = deployment.spec.template.spec.containers;
      expect(container.image).toBe(`123456789012.dkr.ecr.${region}.amazonaws.com/acme-shop-dr/app:2026.11.1`);
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
    expect(service.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
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

  test("has the application and backup repositories in its own region, application tags immutable", async () => {
    const evaluation = await run();
    const repositories = resourcesOfType(evaluation, T.repository);
    expect(repositories.map((r) => r.inputs.name).sort()).toEqual(["acme-shop-dr/app", "acme-shop-dr/drstack-backup"]);
    expect(repositories.find((r) => r.inputs.name === "acme-shop-dr/app")?.inputs.imageTagMutability).toBe("IMMUTABLE");
    for (const repository of repositories) {
      expect(repository.provider).toContain(`::${stack}-aws::`);
      expect(repository.inputs.forceDelete).toBe(false);
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

  test("builds the backup job image and pushes it to its own registry", async () => {
    const image = single(await run(), T.image);
    expect(image.inputs.imageName).toBe(`123456789012.dkr.ecr.${region}.amazonaws.com/acme-shop-dr/drstack-backup:latest`);
    expect(image.inputs.build).toEqual({
      context: PROJECT_ROOT,
      dockerfile: `${PROJECT_ROOT}/lambdas/backup-image/Dockerfile`,
      platform: "linux/amd64",
    });
    const registry = (image.inputs.registry as { value: { server: string } }).value;
    expect(registry.server).toBe(`123456789012.dkr.ecr.${region}.amazonaws.com/acme-shop-dr/drstack-backup`);
  });
});

describe("image replication and the first deployment", () => {
  test("waits for the peer stack like bucket replication does", async () => {
    const evaluation = await evaluate("primary", { peerProvisioned: "false" });
    expect(resourcesOfType(evaluation, T.ecrReplication)).toEqual([]);
    expect(resourcesOfType(within(evaluation, "drstack:images:ImageRegistry"), T.repository)).toHaveLength(2);
  });
});
