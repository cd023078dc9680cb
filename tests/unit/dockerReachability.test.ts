import * as path from "path";
import { PROJECT_ROOT, readConfigSchema, configValueToString } from "../../infra/configSchema";
import { unwrapSecret } from "../../infra/containerEnvs";
import { parseDockerConfig } from "../../infra/docker/config";
import { DeclaredResource, DOCKER_REACHABILITY_RULES as RULES, DockerPair, dockerReachability } from "../../infra/docker/reachability";
import { SiteName, SITES } from "../../infra/roles";
import { Evaluation } from "../../offline/evaluate";
import { evaluateIn } from "./evaluations";

jest.setTimeout(60_000);

/** The Docker site's reachability graph (infra/docker/reachability.ts) over the evaluated example pair, and each rule caught on a broken copy. */
const DOCKER_EXAMPLE = path.join(PROJECT_ROOT, "examples", "docker");

const evaluation = (stack: SiteName, overrides: Record<string, string> = {}) => evaluateIn(DOCKER_EXAMPLE, stack, overrides, { kind: "unreachable" }, {});

/** The pair as the stack's own config reads it: Pulumi.yaml's defaults under the stack file's values. */
function pairOf(evaluated: Evaluation): DockerPair {
  const raw: Record<string, string> = {};
  for (const declaration of readConfigSchema()) {
    if (declaration.default !== undefined) raw[declaration.key] = configValueToString(declaration.default);
  }
  for (const [key, value] of Object.entries(evaluated.config)) {
    if (key.startsWith("drstack:")) raw[key.slice("drstack:".length)] = value;
  }
  const config = parseDockerConfig(raw, evaluated.stack);
  return { site: config.site, peer: config.peer, addresses: config.docker.addresses, databasePort: config.docker.databasePort, storagePort: config.docker.storagePort };
}

function clone(resources: readonly DeclaredResource[]): DeclaredResource[] {
  return JSON.parse(JSON.stringify(resources)) as DeclaredResource[];
}

function named(resources: DeclaredResource[], name: string): DeclaredResource {
  const found = resources.find((resource) => resource.name === name);
  if (!found) throw new Error(`no ${name}`);
  return found;
}

/** Rewrites one env entry of a container in place, keeping the secret wrapper the evaluation recorded. */
function setEnv(resource: DeclaredResource, name: string, value: string): void {
  const list = unwrapSecret(resource.inputs.envs) as string[];
  const index = list.findIndex((entry) => entry.startsWith(`${name}=`));
  if (index < 0) throw new Error(`${resource.name} has no ${name}`);
  list[index] = `${name}=${value}`;
}

function rulesOf(resources: DeclaredResource[], pair: DockerPair): string[] {
  return [...new Set(dockerReachability(resources, pair).map((problem) => problem.rule))].sort();
}

describe.each(SITES)("the Docker %s stack's containers reach what they call", (stack) => {
  test.each([
    ["normal", { activeSite: "primary" }],
    ["failed over", { activeSite: "secondary" }],
    ["rebuilt", { activeSite: "primary", primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" }],
  ])("%s: no problem", async (_phase, overrides) => {
    const evaluated = await evaluation(stack, overrides);
    expect(dockerReachability(evaluated.resources, pairOf(evaluated))).toEqual([]);
  });
});

describe("each rule catches its break (primary stack)", () => {
  let base: DeclaredResource[];
  let pair: DockerPair;
  let peerResources: DeclaredResource[];
  beforeAll(async () => {
    const evaluated = await evaluation("primary");
    base = evaluated.resources;
    pair = pairOf(evaluated);
    peerResources = (await evaluation("secondary")).resources;
  });

  test(`${RULES.onSiteNetwork}: a container left off the site network`, () => {
    const broken = clone(base);
    named(broken, "primary-agent-container").inputs.networksAdvanced = [{ name: "bridge" }];
    const problems = dockerReachability(broken, pair);
    expect(problems).toEqual([expect.objectContaining({ rule: RULES.onSiteNetwork, from: "primary-agent-container" })]);
  });

  test(`${RULES.standbyToPeerWriter}: streaming from the site's own name, another port, or without verify-full`, () => {
    for (const conninfo of [
      "host=db.bern-dc1.shop.example.ch port=5432 user=drstack_replication sslmode=verify-full sslrootcert=/drstack/tls/ca.crt",
      "host=db.zurich-dc2.shop.example.ch port=15432 user=drstack_replication sslmode=verify-full sslrootcert=/drstack/tls/ca.crt",
      "host=db.zurich-dc2.shop.example.ch port=5432 user=drstack_replication sslmode=require",
    ]) {
      const broken = clone(base);
      setEnv(named(broken, "primary-database-server"), "DRSTACK_UPSTREAM_CONNINFO", conninfo);
      expect(rulesOf(broken, pair)).toEqual([RULES.standbyToPeerWriter]);
    }
    const unpublished = clone(base);
    named(unpublished, "primary-database-server").inputs.ports = [];
    expect(rulesOf(unpublished, pair)).toEqual([RULES.standbyToPeerWriter]);
  });

  test(`${RULES.certificateCoversName}: the peer's certificate uploaded to this site's PostgreSQL and MinIO`, () => {
    const broken = clone(base);
    const peerUploads = (name: string) => unwrapSecret(named(clone(peerResources), name).inputs.uploads);
    named(broken, "primary-database-server").inputs.uploads = peerUploads("secondary-database-server");
    named(broken, "primary-storage-server").inputs.uploads = peerUploads("secondary-storage-server");
    const problems = dockerReachability(broken, pair).filter((problem) => problem.rule === RULES.certificateCoversName);
    expect(problems.map((problem) => problem.to).sort()).toEqual(["primary-database-server", "primary-storage-server"]);
    expect(problems.map((problem) => problem.problem).join("\n")).toMatch(/does not cover db\.bern-dc1\.shop\.example\.ch[\s\S]*does not cover s3\.bern-dc1/);
  });

  test(`${RULES.ownStorage}: a client of its own MinIO by the published port, or MinIO on another port`, () => {
    const broken = clone(base);
    setEnv(named(broken, "primary-storage-claim"), "DRSTACK_STORAGE_ENDPOINT", "https://s3.bern-dc1.shop.example.ch:19000");
    expect(dockerReachability(broken, pair)).toEqual([expect.objectContaining({ rule: RULES.ownStorage, from: "primary-storage-claim" })]);
    const alias = clone(base);
    named(alias, "primary-storage-server").inputs.networksAdvanced = [{ name: "shop-dr-primary" }];
    expect(rulesOf(alias, pair)).toEqual([RULES.ownStorage]);
  });

  test(`${RULES.peerStorage}: the agent reading the peer's MinIO on MinIO's internal port of another host`, () => {
    const broken = clone(base);
    setEnv(named(broken, "primary-agent-container"), "DRSTACK_PEER_STORAGE_ENDPOINT", "https://s3.zurich-dc2.shop.example.ch:9443");
    expect(dockerReachability(broken, pair)).toEqual([expect.objectContaining({ rule: RULES.peerStorage, from: "primary-agent-container" })]);
  });

  test(`${RULES.database}: the application by a name that is not the alias, or without verify-full; the problem never shows the URL (it holds the password)`, () => {
    const broken = clone(base);
    setEnv(named(broken, "primary-app-web-0"), "DATABASE_URL", "postgres://shop:pw-in-url@shop-dr-primary-db-g1:5432/shop?sslmode=verify-full&sslrootcert=/drstack/tls/ca.crt");
    setEnv(named(broken, "primary-app-worker-0"), "DATABASE_URL", "postgres://shop:pw-in-url@db.bern-dc1.shop.example.ch:5432/shop?sslmode=require");
    const problems = dockerReachability(broken, pair);
    expect(problems.map((problem) => [problem.rule, problem.from])).toEqual([
      [RULES.database, "primary-app-worker-0"],
      [RULES.database, "primary-app-web-0"],
    ]);
    expect(JSON.stringify(problems)).not.toContain("pw-in-url");
  });

  test(`${RULES.cache}: the application naming Redis by a name no container on the site network has`, () => {
    const broken = clone(base);
    setEnv(named(broken, "primary-app-web-1"), "REDIS_URL", "redis://:pw@redis:6379/0");
    expect(dockerReachability(broken, pair)).toEqual([expect.objectContaining({ rule: RULES.cache, from: "primary-app-web-1", to: "redis" })]);
  });
});
