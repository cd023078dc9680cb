import * as path from "path";
import { OFFLINE_SECRET_PLACEHOLDER_PREFIX, PROJECT_ROOT } from "../../infra/configSchema";
import { buildPlan, concernOf, drProperties, PlannedResource, renderPlanText } from "../../offline/plan";
import { evaluateIn } from "./evaluations";

jest.setTimeout(60_000);

/** The offline plan of the Docker pair (examples/docker, infra/docker/*.ts). */
const DOCKER_EXAMPLE = path.join(PROJECT_ROOT, "examples", "docker");
const lost = { kind: "unreachable" } as const;

const plan = async (stack: string, overrides: Record<string, string> = {}) =>
  buildPlan(await evaluateIn(DOCKER_EXAMPLE, stack, overrides, stack === "secondary" && overrides.activeSite === "secondary" ? lost : undefined));

function named(resources: PlannedResource[], name: string): PlannedResource {
  const found = resources.find((resource) => resource.name === name);
  if (!found) {
    throw new Error(`no ${name} among ${resources.map((r) => r.name).join(", ")}`);
  }
  return found;
}

describe.each(["primary", "secondary"])("plan of the Docker stack %s", (stack) => {
  test("puts each site component under its concern: MinIO under storage, PostgreSQL and Redis under database, the claim under fencing, the agent under backups", async () => {
    const { concerns } = await plan(stack);
    expect(concerns.storage.map((r) => r.name).sort()).toEqual([`${stack}-storage-data`, `${stack}-storage-server`, `${stack}-storage-setup`]);
    expect(concerns.database.map((r) => r.name).sort()).toEqual([`${stack}-cache-data`, `${stack}-cache-server`, `${stack}-database-g1-data`, `${stack}-database-server`]);
    expect(concerns.fencing.map((r) => r.name)).toEqual([`${stack}-storage-claim`]);
    expect(concerns.backups.map((r) => r.name).sort()).toEqual([`${stack}-agent-container`, `${stack}-agent-state`]);
    expect(concerns.network.map((r) => r.type)).toEqual(["docker:index/network:Network"]);
    expect(concerns.workloads.filter((r) => r.type === "docker:index/remoteImage:RemoteImage")).toHaveLength(6);
    expect(concerns.other.map((r) => r.type)).toEqual(["pulumi:providers:docker"]);
  });

  test("prints no secret: neither a secret key's placeholder value nor the content of an upload (keys, redis.conf)", async () => {
    const evaluation = await evaluateIn(DOCKER_EXAMPLE, stack);
    // The stack file's `secure:` keys evaluate to offline-placeholder-for-<key> (infra/configSchema.ts).
    const secretValues = Object.values(evaluation.config).filter((value) => value.startsWith(OFFLINE_SECRET_PLACEHOLDER_PREFIX));
    expect(secretValues.length).toBeGreaterThanOrEqual(9);
    const text = renderPlanText(await plan(stack));
    for (const value of secretValues) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(encodeURIComponent(value));
    }
    // The evaluation does hold them (envs, uploads): the plan is what must leave them out.
    expect(JSON.stringify(evaluation.resources)).toContain(OFFLINE_SECRET_PLACEHOLDER_PREFIX);
    expect(text).not.toContain(OFFLINE_SECRET_PLACEHOLDER_PREFIX);
    expect(text).not.toMatch(/requirepass|BEGIN CERTIFICATE|BEGIN PRIVATE KEY|AAABAPLACEHOLDER/);
  });

  test("shows a volume's protection and what deleting it does, and the database's image, ports, alias, mount, uploads by path and env names only", async () => {
    const { concerns } = await plan(stack);
    const site = stack === "primary" ? "bern-dc1" : "zurich-dc2";
    const peer = stack === "primary" ? "zurich-dc2" : "bern-dc1";
    expect(named(concerns.database, `${stack}-database-g1-data`)).toMatchObject({ protect: true });
    expect(named(concerns.database, `${stack}-database-g1-data`).properties).toEqual([
      `volume: shop-dr-${stack}-pgdata-g1`,
      "holds: database",
      "protect: yes",
      "on delete: kept on the host (retainOnDelete)",
    ]);
    expect(named(concerns.database, `${stack}-cache-data`).properties).toContain("protect: NO: a change may delete it");
    const server = named(concerns.database, `${stack}-database-server`).properties;
    expect(server).toEqual(
      expect.arrayContaining([
        `container: shop-dr-${stack}-db-g1`,
        expect.stringMatching(/^image: postgres@sha256:[0-9a-f]{64}$/),
        "restart: unless-stopped",
        "ports: 0.0.0.0:5432->5432",
        `networks: shop-dr-${stack} (aliases db.${site}.shop.example.ch)`,
        `volumes: shop-dr-${stack}-pgdata-g1 -> /var/lib/postgresql/data`,
        "uploads: /drstack/postgres-entrypoint.sh, /docker-entrypoint-initdb.d/drstack-init.sh, /drstack/tls/ca.crt, /drstack/tls/server.crt, /drstack/tls/server.key",
        `DRSTACK_DATABASE_INIT: ${stack === "primary" ? "initdb" : "basebackup"}`,
        `DRSTACK_UPSTREAM_CONNINFO: host=db.${peer}.shop.example.ch port=5432 user=drstack_replication sslmode=verify-full sslrootcert=/drstack/tls/ca.crt application_name=${stack}_g1`,
      ]),
    );
    const envLine = server.find((line) => line.startsWith("env: "));
    expect(envLine).toContain("POSTGRES_PASSWORD");
    expect(envLine).not.toContain("=");
  });

  test("marks the one-shot containers (storage setup and the writer claim) and shows the claim's mode and epoch only", async () => {
    const { concerns } = await plan(stack);
    const oneShot = "runs: once per change and must exit 0 (one-shot: attach, mustRun false)";
    expect(named(concerns.storage, `${stack}-storage-setup`).properties).toContain(oneShot);
    expect(named(concerns.fencing, `${stack}-storage-claim`).properties).toEqual(expect.arrayContaining([oneShot, "restart: no"]));
    expect(named(concerns.storage, `${stack}-storage-server`).properties).not.toContain(oneShot);
    // sitePlan.ts, writerClaim/writerEpoch: in the normal phase the primary writes (epoch 2n = 2), the secondary is a replica.
    expect(named(concerns.fencing, `${stack}-storage-claim`).properties).toContain(
      stack === "primary" ? "DRSTACK_WRITER_CLAIM: databaseMode writer, epoch 2" : "DRSTACK_WRITER_CLAIM: databaseMode replica, epoch 2",
    );
    expect(named(concerns.backups, `${stack}-agent-container`).properties).toContain(`DRSTACK_BACKUPS_SCHEDULED: ${stack === "primary"}`);
  });
});

describe("plan of the Docker pair after a failover", () => {
  test("the promoted secondary's claim says writer at epoch 3, its agent schedules backups, its web containers are published on 127.0.0.1:8000-8002", async () => {
    const { concerns } = await plan("secondary", { activeSite: "secondary" });
    expect(named(concerns.fencing, "secondary-storage-claim").properties).toContain("DRSTACK_WRITER_CLAIM: databaseMode writer, epoch 3");
    expect(named(concerns.backups, "secondary-agent-container").properties).toContain("DRSTACK_BACKUPS_SCHEDULED: true");
    expect(concerns.workloads.filter((r) => r.type === "docker:index/container:Container").flatMap((r) => r.properties.filter((p) => p.startsWith("ports: ")))).toEqual([
      "ports: 127.0.0.1:8000->8000",
      "ports: 127.0.0.1:8001->8000",
      "ports: 127.0.0.1:8002->8000",
    ]);
  });

  test("the fenced primary's claim says fenced at epoch 3 (sitePlan.ts: a former writer on the standby site)", async () => {
    const { concerns } = await plan("primary", { activeSite: "secondary" });
    expect(named(concerns.fencing, "primary-storage-claim").properties).toContain("DRSTACK_WRITER_CLAIM: databaseMode fenced, epoch 3");
  });
});

describe("the Docker readers on their own", () => {
  test("a password in a conninfo is never shown, whatever its quoting (libpq keyword/value form)", () => {
    const container = (conninfo: string) => ({ type: "docker:index/container:Container", inputs: { envs: [`DRSTACK_UPSTREAM_CONNINFO=${conninfo}`] } });
    expect(drProperties(container("host=db port=5432 password=hunter2 user=r"))).toContain("DRSTACK_UPSTREAM_CONNINFO: host=db port=5432 password=(secret) user=r");
    expect(drProperties(container("password='a b\\' c' host=db"))).toContain("DRSTACK_UPSTREAM_CONNINFO: password=(secret) host=db");
    expect(drProperties(container("host=db password=x")).join("\n")).not.toContain("password=x");
  });

  test("a claim that is not JSON says so rather than showing it", () => {
    expect(drProperties({ type: "docker:index/container:Container", inputs: { envs: ["DRSTACK_WRITER_CLAIM=secret-ish"] } })).toContain("DRSTACK_WRITER_CLAIM: (not JSON)");
  });

  test("a claim container outside a component is fencing; a network and a volume have their own concern", () => {
    expect(concernOf({ type: "docker:index/container:Container", name: "x-storage-claim" }, [])).toBe("fencing");
    expect(concernOf({ type: "docker:index/network:Network", name: "n" }, [])).toBe("network");
    expect(concernOf({ type: "docker:index/volume:Volume", name: "v" }, [])).toBe("storage");
  });
});
