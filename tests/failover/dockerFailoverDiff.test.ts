import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { containerEnvs } from "../../infra/containerEnvs";
import {
  DOCKER_CONTAINER_IN_PLACE_INPUTS,
  FAILOVER_ALLOW_LIST,
  failoverMayChange,
  failoverMayRemoveOrAdd,
  NEVER_CHANGED_BY_A_FLIP,
  replacesResource,
} from "../../infra/failoverAllowList";
import { SiteName, SITES } from "../../infra/roles";
import { databaseMode, writerEpoch } from "../../infra/sitePlan";
import { diffEvaluations } from "../../offline/diff";
import { Evaluation, RecordedResource } from "../../offline/evaluate";
import { diffGraphs, forbiddenFailoverChanges, GraphChange, replacedResources } from "../../offline/graphDiff";
import { evaluateIn, FAILBACK_CYCLE } from "../unit/evaluations";

/**
 * The failover diff of the Docker pair (examples/docker, infra/docker):
 * both stacks through README's failover/failback cycle (infra/sitePlan.ts's
 * phases: normal, failed over, primary rebuilt, switched back, secondary
 * rebuilt, and on to the next failover and rebuild). Each configuration is
 * evaluated once (evaluateIn caches) and every step is diffed against the one
 * before it: a flip of activeSite may change only what the allow-list names,
 * a generation raise only the raised site's database.
 */

jest.setTimeout(120_000);

const DOCKER_EXAMPLE = path.join(PROJECT_ROOT, "examples", "docker");
const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";

/** A Docker site reads no stack reference and no Secrets Manager secret (its peer's names come from config), so the peer may as well be lost. */
function evaluatePhase(stack: SiteName, phase: Record<string, string>): Promise<Evaluation> {
  return evaluateIn(DOCKER_EXAMPLE, stack, phase, { kind: "unreachable" }, {});
}

function generations(phase: Record<string, string>): Record<SiteName, number> {
  return { primary: Number(phase.primaryDatabaseGeneration ?? "1"), secondary: Number(phase.secondaryDatabaseGeneration ?? "1") };
}

function phaseName(phase: Record<string, string>): string {
  const g = generations(phase);
  return `activeSite=${phase.activeSite}, generations ${g.primary}/${g.secondary}`;
}

/** Each failover DNS a Docker pair may take (infra/docker/site.ts): the example's Cloudflare load balancer, a plain Cloudflare record, Route 53 failover records. */
const DNS_MODES: Array<[string, Record<string, string>]> = [
  ["Cloudflare load balancer", {}],
  ["Cloudflare record", { cloudflareLoadBalancer: "false" }],
  // Route 53 health checks run every 10 or 30 s only; the example checks every 60 s (Cloudflare).
  ["Route 53", { dnsProvider: "route53", route53ZoneId: "Z04517273EXAMPLE1XYZ", healthCheckIntervalSeconds: "30" }],
];

const STEPS = SITES.flatMap((stack) =>
  DNS_MODES.flatMap(([dns, dnsOverrides]) =>
    FAILBACK_CYCLE.slice(1).map((next, index) => {
      const before = { ...dnsOverrides, ...FAILBACK_CYCLE[index] };
      const after = { ...dnsOverrides, ...next };
      return { stack, dns, before, after, flip: before.activeSite !== after.activeSite, from: phaseName(before), to: phaseName(after) };
    }),
  ),
);
const FLIPS = STEPS.filter((step) => step.flip);
const RAISES = STEPS.filter((step) => !step.flip);

async function stepDiff(stack: SiteName, before: Record<string, string>, after: Record<string, string>): Promise<GraphChange[]> {
  return diffGraphs((await evaluatePhase(stack, before)).resources, (await evaluatePhase(stack, after)).resources);
}

function byName(evaluation: Evaluation, name: string): RecordedResource {
  const found = evaluation.resources.find((resource) => resource.name === name);
  if (!found) {
    throw new Error(`${evaluation.stack} declares no ${name}`);
  }
  return found;
}

describe("the Docker stacks read nothing of their peer's stack", () => {
  test.each(SITES)("%s: no stack reference in any phase or DNS mode (so the lost peer above changes nothing)", async (stack) => {
    for (const [, dns] of DNS_MODES) {
      for (const phase of FAILBACK_CYCLE) {
        expect((await evaluatePhase(stack, { ...dns, ...phase })).stackReferencesRead).toEqual([]);
      }
    }
  });

  test("each DNS mode declares its own records on the secondary (the DNS owner)", async () => {
    const types = async (dns: Record<string, string>) => new Set((await evaluatePhase("secondary", dns)).resources.map((resource) => resource.type));
    expect((await types(DNS_MODES[0][1])).has("cloudflare:index/loadBalancer:LoadBalancer")).toBe(true);
    expect((await types(DNS_MODES[1][1])).has("cloudflare:index/dnsRecord:DnsRecord")).toBe(true);
    expect((await types(DNS_MODES[2][1])).has("aws:route53/record:Record")).toBe(true);
  });
});

describe.each(FLIPS)("flip on the $stack stack ($dns): $from -> $to", ({ stack, before, after }) => {
  test("changes nothing outside the failover allow-list", async () => {
    const changes = await stepDiff(stack, before, after);
    expect(changes.length).toBeGreaterThan(0);
    expect(forbiddenFailoverChanges(changes)).toEqual([]);
  });

  test("replaces only the claim and agent containers, touches no volume or network, removes or adds only web and worker containers", async () => {
    const changes = await stepDiff(stack, before, after);
    expect(replacedResources(changes).map((r) => r.name).sort()).toEqual([`${stack}-agent-container`, `${stack}-storage-claim`]);
    expect(changes.filter((change) => NEVER_CHANGED_BY_A_FLIP.includes(change.type))).toEqual([]);
    for (const change of changes.filter((c) => c.kind === "added" || c.kind === "removed")) {
      expect(change).toMatchObject({ type: CONTAINER, name: expect.stringMatching(new RegExp(`^${stack}-app-(web|worker)-[0-9]+$`)) });
    }
    expect(changes.filter((change) => /-(database|storage|cache)-server$|-storage-setup$/.test(change.name))).toEqual([]);
  });

  test("the claim's databaseMode and epoch follow sitePlan.ts (writerClaim), and the agent schedules backups exactly on the active site", async () => {
    for (const phase of [before, after]) {
      const evaluation = await evaluatePhase(stack, phase);
      const activeSite = phase.activeSite as SiteName;
      const claim = JSON.parse(containerEnvs(byName(evaluation, `${stack}-storage-claim`).inputs).get("DRSTACK_WRITER_CLAIM") ?? "{}") as Record<string, unknown>;
      expect(claim).toMatchObject({
        site: stack,
        activeSite,
        databaseMode: databaseMode(stack, activeSite, generations(phase)),
        epoch: writerEpoch(activeSite, generations(phase)),
        databaseIdentifier: `shop-dr-${stack}-db-g${generations(phase)[stack]}`,
      });
      expect(containerEnvs(byName(evaluation, `${stack}-agent-container`).inputs).get("DRSTACK_BACKUPS_SCHEDULED")).toBe(String(stack === activeSite));
    }
  });

  test("the DR diff of the flip has no blocking finding", async () => {
    const diff = diffEvaluations(await evaluatePhase(stack, before), await evaluatePhase(stack, after), "flip");
    expect(diff.findings.filter((finding) => finding.severity === "blocking")).toEqual([]);
  });
});

describe.each(RAISES)("generation raise on the $stack stack ($dns): $from -> $to", ({ stack, before, after }) => {
  const raised = (): SiteName | undefined => SITES.find((site) => generations(before)[site] !== generations(after)[site]);

  test("replaces the database container of the raised site only, keeps the previous generation's volume protected and adds the new one", async () => {
    const changes = await stepDiff(stack, before, after);
    const site = raised();
    if (site !== stack) {
      // The peer's rebuild: this stack's claim may change its epoch only where sitePlan.ts says so; nothing else.
      expect(replacedResources(changes).filter((r) => r.name !== `${stack}-storage-claim`)).toEqual([]);
      expect(changes.filter((change) => change.kind !== "changed")).toEqual([]);
      return;
    }
    const generation = generations(after)[stack];
    expect(replacedResources(changes).map((r) => r.name).sort()).toEqual([`${stack}-database-server`, `${stack}-storage-claim`]);
    const next = await evaluatePhase(stack, after);
    const server = byName(next, `${stack}-database-server`);
    expect(server.inputs.name).toBe(`shop-dr-${stack}-db-g${generation}`);
    expect(server.inputs.volumes).toEqual([{ volumeName: `shop-dr-${stack}-pgdata-g${generation}`, containerPath: "/var/lib/postgresql/data" }]);
    // The name and host port are the generation's, so the old container must go first (infra/docker/database.ts).
    expect(server.deleteBeforeReplace).toBe(true);
    for (const kept of [generation - 1, generation]) {
      expect(byName(next, `${stack}-database-g${kept}-data`)).toMatchObject({ protect: true, retainOnDelete: true });
    }
    expect(changes.filter((change) => change.kind === "added")).toEqual([{ kind: "added", type: VOLUME, name: `${stack}-database-g${generation}-data` }]);
    // Only the generation two before is dropped, and README (Failback) says `protect` stops that `up` until it is retired deliberately.
    expect(changes.filter((change) => change.kind === "removed")).toEqual(
      generation > 2 ? [{ kind: "removed", type: VOLUME, name: `${stack}-database-g${generation - 2}-data` }] : [],
    );
    // Never a volume changed in place or replaced: each generation's volume keeps its name.
    expect(changes.filter((change) => change.kind === "changed" && change.type === VOLUME)).toEqual([]);
  });

  test("the DR diff blocks only the retirement of a volume two generations back, and never the raise's database container replacement", async () => {
    const diff = diffEvaluations(await evaluatePhase(stack, before), await evaluatePhase(stack, after), "raise");
    const blocking = diff.findings.filter((finding) => finding.severity === "blocking").map((finding) => [finding.rule, finding.name]);
    const generation = generations(after)[stack];
    expect(blocking).toEqual(raised() === stack && generation > 2 ? [["data-store-deleted", `${stack}-database-g${generation - 2}-data`]] : []);
  });
});

describe("every volume in every phase", () => {
  // infra/docker labels the volumes that hold the pair's data (drstack.data: database, backups); Redis's cache and the agent's status file are rebuilt.
  test.each(SITES)("%s: every data volume (the database generations, MinIO) is protected, and every volume is kept on the host", async (stack) => {
    for (const phase of FAILBACK_CYCLE) {
      const volumes = (await evaluatePhase(stack, phase)).resources.filter((resource) => resource.type === VOLUME);
      const data = volumes.filter((volume) => JSON.stringify(volume.inputs.labels ?? []).includes('"drstack.data"'));
      expect(data.map((volume) => volume.name)).toEqual(expect.arrayContaining([`${stack}-storage-data`, `${stack}-database-g${generations(phase)[stack]}-data`]));
      for (const volume of volumes) {
        const expected = { protect: data.includes(volume), retainOnDelete: true };
        expect({ name: volume.name, protect: volume.protect, retainOnDelete: volume.retainOnDelete }).toEqual({ name: volume.name, ...expected });
      }
    }
  });
});

describe("the failover allow-list for Docker sites", () => {
  const claim = (c: Record<string, unknown>) => [`DRSTACK_WRITER_CLAIM=${JSON.stringify(c)}`, "DRSTACK_STORAGE_ROOT_PASSWORD=x"];

  test("a container is replaced for any input but restart, memory and CPU (terraform-provider-docker PR #236); a volume and a network for any", () => {
    expect(replacesResource(CONTAINER, "envs")).toBe(true);
    expect(replacesResource(CONTAINER, "ports[0].external")).toBe(true);
    for (const input of DOCKER_CONTAINER_IN_PLACE_INPUTS) {
      expect(replacesResource(CONTAINER, input)).toBe(false);
    }
    expect(replacesResource(VOLUME, "labels[0].value")).toBe(true);
    expect(replacesResource("docker:index/network:Network", "name")).toBe(true);
    expect(replacesResource("cloudflare:index/loadBalancer:LoadBalancer", "defaultPools[0]")).toBe(false);
  });

  test("lets a flip replace the claim only for its claim, the agent only for its schedule switch", () => {
    expect(failoverMayChange(CONTAINER, "envs", claim({ epoch: 2 }), claim({ epoch: 3 }), "primary-storage-claim")).toBe(true);
    expect(failoverMayChange(CONTAINER, "envs", claim({ epoch: 2 }), [...claim({ epoch: 2 }).slice(0, 1), "DRSTACK_STORAGE_ROOT_PASSWORD=y"], "primary-storage-claim")).toBe(false);
    expect(failoverMayChange(CONTAINER, "image", "a", "b", "primary-storage-claim")).toBe(false);
    expect(failoverMayChange(CONTAINER, "envs", ["DRSTACK_BACKUPS_SCHEDULED=true"], ["DRSTACK_BACKUPS_SCHEDULED=false"], "secondary-agent-container")).toBe(true);
    expect(failoverMayChange(CONTAINER, "envs", ["DRSTACK_BACKUPS_SCHEDULED=true", "X=1"], ["DRSTACK_BACKUPS_SCHEDULED=false", "X=2"], "secondary-agent-container")).toBe(false);
    // The claim's env on the agent is not the agent's allowance.
    expect(failoverMayChange(CONTAINER, "envs", claim({ epoch: 2 }), claim({ epoch: 3 }), "secondary-agent-container")).toBe(false);
    // Nothing changed is no allowed change (a diff never lists it, but the rule must not pass it).
    expect(failoverMayChange(CONTAINER, "envs", claim({ epoch: 2 }), claim({ epoch: 2 }), "primary-storage-claim")).toBe(false);
  });

  test("never lets a flip replace the database, MinIO, its setup or Redis, nor change, remove or add any volume or network", () => {
    for (const name of ["primary-database-server", "secondary-storage-server", "primary-storage-setup", "secondary-cache-server"]) {
      for (const [before, after] of [
        [claim({ epoch: 2 }), claim({ epoch: 3 })],
        [["DRSTACK_BACKUPS_SCHEDULED=true"], ["DRSTACK_BACKUPS_SCHEDULED=false"]],
      ]) {
        expect({ name, allowed: failoverMayChange(CONTAINER, "envs", before, after, name) }).toEqual({ name, allowed: false });
      }
      expect(failoverMayRemoveOrAdd("removal", CONTAINER, name)).toBe(false);
      expect(failoverMayRemoveOrAdd("addition", CONTAINER, name)).toBe(false);
    }
    for (const type of NEVER_CHANGED_BY_A_FLIP) {
      expect(FAILOVER_ALLOW_LIST.filter((allowance) => allowance.type === type)).toEqual([]);
      expect(failoverMayChange(type, "name", "a", "b", "primary-database-g1-data")).toBe(false);
      expect(failoverMayRemoveOrAdd("removal", type, "primary-app-web-1")).toBe(false);
    }
  });

  test("web and worker containers may come and go with the replica count; a name that only looks like one may not", () => {
    expect(failoverMayRemoveOrAdd("removal", CONTAINER, "primary-app-web-2")).toBe(true);
    expect(failoverMayRemoveOrAdd("addition", CONTAINER, "secondary-app-worker-0")).toBe(true);
    expect(failoverMayRemoveOrAdd("removal", CONTAINER, "primary-app-web-2-database-server")).toBe(false);
    expect(failoverMayRemoveOrAdd("removal", CONTAINER, "primary-database-server-app-web-1")).toBe(false);
    // A web container that stays may not be replaced by a flip.
    expect(failoverMayChange(CONTAINER, "envs", ["A=1"], ["A=2"], "primary-app-web-0")).toBe(false);
  });

  test("every entry that allows a replacement names its resources and the envs it may change", () => {
    for (const allowance of FAILOVER_ALLOW_LIST.filter((a) => a.replaces)) {
      expect(allowance.names).toBeDefined();
      expect(allowance.envs?.length).toBeGreaterThan(0);
      expect(allowance.why).toMatch(/replace/);
    }
  });
});
