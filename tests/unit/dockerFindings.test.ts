import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { diffEvaluations, diffFromPreview, EvaluatedStack, PreviewDocument } from "../../offline/diff";
import { evaluateIn } from "./evaluations";
import { findingsFor, ResourcePair, ResourceSnapshot } from "../../offline/findings";

/**
 * The DR diff's rules for Docker sites (infra/docker), on fixtures as
 * tests/unit/findings.test.ts builds them: a volume deleted, replaced or
 * unprotected, and a database container replaced outside a generation change.
 */

const SECRET = "4dabf18193072939515e22adb298388d";

const VOLUME: ResourceSnapshot = {
  type: "docker:index/volume:Volume",
  name: "primary-database-g1-data",
  inputs: { name: "shop-dr-primary-pgdata-g1", labels: [{ label: "drstack.data", value: "database" }] },
  protect: true,
};

function databaseServer(generation: number, envs: string[] = ["DRSTACK_DATABASE_INIT=initdb", "POSTGRES_PASSWORD=s3cret"]): ResourceSnapshot {
  return {
    type: "docker:index/container:Container",
    name: "primary-database-server",
    inputs: {
      name: `shop-dr-primary-db-g${generation}`,
      image: "postgres@sha256:aa",
      restart: "unless-stopped",
      envs: { [SECRET]: "1b47061264138c4ac30d75fd1eb44270", value: envs },
      volumes: [{ volumeName: `shop-dr-primary-pgdata-g${generation}`, containerPath: "/var/lib/postgresql/data" }],
      labels: [
        { label: "drstack.site", value: "primary" },
        { label: "drstack.generation", value: String(generation) },
      ],
    },
  };
}

function rules(pair: ResourcePair): Array<[string, string]> {
  return findingsFor([pair]).map((f) => [f.severity, f.rule]);
}

describe("Docker volumes are data stores", () => {
  test("deleting one is blocking and says protect will stop the up", () => {
    const [found] = findingsFor([{ old: VOLUME }]);
    expect(found).toMatchObject({ severity: "blocking", rule: "data-store-deleted", name: "primary-database-g1-data" });
    expect(found.message).toMatch(/^Docker volume `primary-database-g1-data` would be DELETED. It is `protect`ed/);
  });

  test("renaming one (every volume input replaces it: the provider has no update) is a blocking replacement", () => {
    const renamed = { ...VOLUME, inputs: { ...VOLUME.inputs, name: "shop-dr-primary-pgdata" } };
    const [found] = findingsFor([{ old: VOLUME, new: renamed }]);
    expect(found).toMatchObject({ severity: "blocking", rule: "data-store-replaced" });
    expect(found.message).toMatch(/REPLACED .*because `name` changed; the data in it does not move/);
    expect(rules({ old: VOLUME, new: { ...VOLUME, inputs: { ...VOLUME.inputs, labels: [] } } })).toEqual([["blocking", "data-store-replaced"]]);
  });

  test("losing protect is blocking (not the AWS data store's warning), once", () => {
    const found = findingsFor([{ old: VOLUME, new: { ...VOLUME, protect: false } }]);
    expect(found.map((f) => [f.severity, f.rule])).toEqual([["blocking", "volume-unprotected"]]);
    expect(found[0].message).toMatch(/no longer `protect`ed: the next change that drops or renames it deletes the data/);
  });

  test("an unchanged or newly protected volume raises nothing", () => {
    expect(rules({ old: VOLUME, new: VOLUME })).toEqual([]);
    expect(rules({ old: { ...VOLUME, protect: false }, new: VOLUME })).toEqual([]);
  });
});

describe("a Docker site's database container", () => {
  test("replaced while its generation stays is blocking, naming what forces the replacement", () => {
    const [found] = findingsFor([{ old: databaseServer(1), new: { ...databaseServer(1), inputs: { ...databaseServer(1).inputs, image: "postgres@sha256:bb" } } }]);
    expect(found).toMatchObject({ severity: "blocking", rule: "database-container-replaced", name: "primary-database-server" });
    expect(found.message).toMatch(/REPLACED outside a generation change because `image` changed/);
  });

  test("an env change replaces it too (the envs list is one input); the message never shows an env value", () => {
    const found = findingsFor([{ old: databaseServer(1), new: databaseServer(1, ["DRSTACK_DATABASE_INIT=initdb", "POSTGRES_PASSWORD=other"]) }]);
    expect(found.map((f) => f.rule)).toEqual(["database-container-replaced"]);
    expect(found[0].message).toContain("`envs`");
    expect(found[0].message).not.toMatch(/s3cret|other/);
  });

  test("a restart policy change is in place (terraform-provider-docker PR #236): no finding", () => {
    expect(rules({ old: databaseServer(1), new: { ...databaseServer(1), inputs: { ...databaseServer(1).inputs, restart: "always" } } })).toEqual([]);
  });

  test("a generation raise may replace it (a rebuild onto a fresh volume)", () => {
    expect(rules({ old: databaseServer(1), new: databaseServer(2) })).toEqual([]);
  });

  test("the engine's verdict wins: a preview's replace is blocking even with no input difference offline, its update is not", () => {
    expect(rules({ old: databaseServer(1), new: databaseServer(1), replaced: true })).toEqual([["blocking", "database-container-replaced"]]);
    expect(rules({ old: databaseServer(1), new: { ...databaseServer(1), inputs: { ...databaseServer(1).inputs, image: "x" } }, replaced: false })).toEqual([]);
  });

  test("another container's replacement is not this rule's", () => {
    const web = { ...databaseServer(1), name: "primary-app-web-0", inputs: { image: "app@sha256:aa" } };
    expect(rules({ old: web, new: { ...web, inputs: { image: "app@sha256:bb" } } })).toEqual([]);
  });
});

describe("the DR diff lists an inferred container replacement as replaced", () => {
  const stack = (resources: EvaluatedStack["resources"]): EvaluatedStack => ({ stack: "primary", resources, outputs: {} });

  test("offline: a database container whose image changed is replaced and blocking; its restart change is an update", () => {
    const base = stack([databaseServer(1), VOLUME]);
    const image = diffEvaluations(base, stack([{ ...databaseServer(1), inputs: { ...databaseServer(1).inputs, image: "postgres@sha256:bb" } }, VOLUME]), "image");
    expect(image.changes.map((c) => [c.kind, c.name])).toEqual([["replaced", "primary-database-server"]]);
    expect(image.findings.map((f) => f.rule)).toEqual(["database-container-replaced"]);
    const restart = diffEvaluations(base, stack([{ ...databaseServer(1), inputs: { ...databaseServer(1).inputs, restart: "always" } }, VOLUME]), "restart");
    expect(restart.changes.map((c) => [c.kind, c.name])).toEqual([["changed", "primary-database-server"]]);
    expect(restart.findings).toEqual([]);
  });

  test("a changed env entry is listed by its name, never by its index or value", () => {
    const before = stack([databaseServer(1)]);
    const after = stack([databaseServer(1, ["DRSTACK_DATABASE_INIT=initdb", "POSTGRES_PASSWORD=rotated"])]);
    const diff = diffEvaluations(before, after, "password");
    expect(diff.changes).toEqual([{ kind: "replaced", type: "docker:index/container:Container", name: "primary-database-server", paths: ["envs: POSTGRES_PASSWORD"] }]);
    expect(JSON.stringify(diff)).not.toMatch(/s3cret|rotated/);
  });

  test("from a preview: the replace steps of a database container and a volume are blocking", () => {
    const urn = (type: string, name: string) => `urn:pulumi:primary::drstack::${type}::${name}`;
    const document: PreviewDocument = {
      steps: [
        {
          op: "replace",
          urn: urn("drstack:docker:SiteDatabase$docker:index/container:Container", "primary-database-server"),
          oldState: { type: "docker:index/container:Container", inputs: databaseServer(1).inputs },
          newState: { type: "docker:index/container:Container", inputs: databaseServer(1).inputs },
          detailedDiff: { command: { kind: "update-replace" } },
        },
        {
          op: "delete",
          urn: urn("drstack:docker:SiteDatabase$docker:index/volume:Volume", "primary-database-g1-data"),
          oldState: { type: "docker:index/volume:Volume", inputs: VOLUME.inputs, protect: true },
        },
      ],
    };
    const diff = diffFromPreview(document);
    expect(diff.findings.map((f) => [f.severity, f.rule, f.name])).toEqual([
      ["blocking", "database-container-replaced", "primary-database-server"],
      ["blocking", "data-store-deleted", "primary-database-g1-data"],
    ]);
  });
});

describe("`drstack diff` of the Docker example under a config change", () => {
  const DOCKER_EXAMPLE = path.join(PROJECT_ROOT, "examples", "docker");
  const diff = async (overrides: Record<string, string>) =>
    diffEvaluations(await evaluateIn(DOCKER_EXAMPLE, "primary", {}, { kind: "unreachable" }, {}), await evaluateIn(DOCKER_EXAMPLE, "primary", overrides, { kind: "unreachable" }, {}), "t");

  test("a new namePrefix renames every volume: each is a blocking replacement, and the database container's replacement is blocking too", async () => {
    const result = await diff({ namePrefix: "shop-dr2" });
    const blocking = result.findings.filter((f) => f.severity === "blocking").map((f) => [f.rule, f.name]);
    expect(blocking).toEqual(
      expect.arrayContaining([
        ["data-store-replaced", "primary-database-g1-data"],
        ["data-store-replaced", "primary-storage-data"],
        ["data-store-replaced", "primary-cache-data"],
        ["database-container-replaced", "primary-database-server"],
      ]),
    );
    const volumes = result.changes.filter((c) => c.type === "docker:index/volume:Volume");
    expect(volumes.length).toBeGreaterThanOrEqual(3);
    expect(volumes.map((c) => [c.name, c.kind])).toEqual(volumes.map((c) => [c.name, "replaced"]));
    expect(blocking.filter(([rule]) => rule === "data-store-replaced").map(([, name]) => name).sort()).toEqual(volumes.map((c) => c.name).sort());
  });

  test("a new published database port replaces the database container outside a generation change: blocking, naming `ports`", async () => {
    const result = await diff({ dockerDatabasePort: "15432" });
    const found = result.findings.filter((f) => f.rule === "database-container-replaced");
    expect(found.map((f) => f.name)).toEqual(["primary-database-server"]);
    expect(found[0].message).toMatch(/because `envs`, `ports` changed/);
  });
});
