import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { parseDockerConfig } from "../../infra/docker/config";
import { databaseInitialisation } from "../../infra/docker/database";
import { goDuration } from "../../infra/docker/durations";
import { parseSiteConfig } from "../../infra/siteConfig";
import { SITES } from "../../infra/roles";
import { writerEpoch } from "../../infra/sitePlan";
import { Evaluation, evaluateStack, primaryReference, RecordedResource } from "../../offline/evaluate";
import { readStackConfig, sharedKeyDisagreements } from "../../offline/stackFiles";
import { evaluateIn, resourcesOfType } from "./evaluations";
import { parseAgentConfig } from "../../lambdas/site/agent";

jest.setTimeout(240_000);

export const DOCKER_EXAMPLE = path.join(PROJECT_ROOT, "examples", "docker");
const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";

/** A docker example stack's config as the program receives it: Pulumi.yaml defaults, then the stack file. */
function exampleRaw(stack: string, overrides: Record<string, string> = {}): Record<string, string> {
  const values = readStackConfig(stack, {}, DOCKER_EXAMPLE).values;
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (key.startsWith("drstack:")) raw[key.slice("drstack:".length)] = value;
  }
  // The example certificate's real key in place of the offline placeholder, so the pairing check runs too.
  raw.siteTlsKey = fs.readFileSync(path.join(PROJECT_ROOT, "tests", "fixtures", "docker-tls", `${stack}.key`), "utf8");
  return { ...raw, ...overrides };
}

function problems(raw: Record<string, string>, stack = "primary", now?: Date): string {
  try {
    parseDockerConfig(raw, stack, now);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the configuration was accepted");
}

function inputsOf(resource: RecordedResource): { envs?: string[]; ports?: Array<Record<string, unknown>>; uploads?: Array<{ file: string }>; [key: string]: unknown } {
  return resource.inputs as never;
}

/** A secret Output reaches the mocks as { [sig]: secret, value }. */
function revealed<T>(value: unknown): T {
  return (value !== null && typeof value === "object" && "value" in value ? (value as { value: unknown }).value : value) as T;
}

function envValue(resource: RecordedResource, name: string): string | undefined {
  return revealed<string[] | undefined>(resource.inputs.envs)?.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
}

function named(evaluation: Evaluation, suffix: string): RecordedResource {
  const found = resourcesOfType(evaluation, CONTAINER).filter((resource) => resource.name.endsWith(suffix));
  expect(found).toHaveLength(1);
  return found[0];
}

describe("Docker site configuration", () => {
  const example = exampleRaw("primary");
  const examplePem = (site: string) => fs.readFileSync(path.join(DOCKER_EXAMPLE, `Pulumi.${site}.yaml`), "utf8");

  test("both example stacks parse as Docker sites once their TLS key is real; the offline placeholder skips only the key pairing", () => {
    for (const stack of SITES) {
      const values = readStackConfig(stack, {}, DOCKER_EXAMPLE).values;
      const raw = Object.fromEntries(Object.entries(values).filter(([key]) => key.startsWith("drstack:")).map(([key, value]) => [key.slice(8), value]));
      const config = parseSiteConfig(raw, stack);
      expect(config.siteKind).toBe("docker");
      expect(examplePem(stack)).toMatch(/drstack:siteTlsKey:\n\s+secure:/);
    }
  });

  test("the example stack files agree on every shared key, the Docker ones included, and a different CA is caught", () => {
    for (const stack of SITES) expect(sharedKeyDisagreements(stack, {}, DOCKER_EXAMPLE)).toEqual([]);
    expect(sharedKeyDisagreements("primary", { primaryDatabaseHost: "db.elsewhere.example.ch", siteTlsCa: "other" }, DOCKER_EXAMPLE).map((d) => d.key)).toEqual([
      "primaryDatabaseHost",
      "siteTlsCa",
    ]);
  });

  test("a certificate that does not cover the site's names is refused, naming siteTlsCert and the names (the peer connects with verify-full)", () => {
    const secondary = exampleRaw("secondary");
    const message = problems({ ...example, siteTlsCert: secondary.siteTlsCert });
    expect(message).toContain("siteTlsCert");
    expect(message).toContain("does not cover db.bern-dc1.shop.example.ch");
    expect(message).toContain("does not cover s3.bern-dc1.shop.example.ch");
  });

  test("a CA that is not a CA, or did not sign the site certificate, is refused before anything is declared", () => {
    const message = problems({ ...example, siteTlsCa: example.siteTlsCert });
    expect(message).toContain("siteTlsCa");
    expect(message).toContain("not a CA certificate");
    expect(message).toContain("is not signed by siteTlsCa");
  });

  test("an expired certificate is refused (the example's run out in 2036)", () => {
    expect(problems(example, "primary", new Date("2040-01-01T00:00:00Z"))).toMatch(/siteTlsCert.*is not valid now/);
  });

  test("a private key that is not the certificate's is refused (checked with node:crypto's checkPrivateKey)", () => {
    const { generateKeyPairSync } = jest.requireActual<typeof import("crypto")>("crypto");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const message = problems({ ...example, siteTlsKey: pem });
    expect(message).toContain("siteTlsKey: is not the private key of siteTlsCert");
    expect(message).not.toContain("PRIVATE KEY");
  });

  test("images must be pinned by digest: a tag can move between the two data centres' pulls", () => {
    const message = problems({ ...example, databaseImage: "postgres:16.6", appImage: "" });
    expect(message).toMatch(/databaseImage = "postgres:16.6": is not an image pinned by digest/);
    expect(message).toMatch(/appImage = "": is not set/);
  });

  test("MySQL/MariaDB and point-in-time recovery are refused on Docker sites, each naming the key and the fix", () => {
    const message = problems({ ...example, databaseEngine: "mariadb", recoveryPointInTime: "2026-12-01T10:00:00Z" });
    expect(message).toContain("databaseEngine");
    expect(message).toContain("recoveryPointInTime");
  });

  test("dockerHost is required and is ssh:// or tcp://; tcp:// needs the engine's TLS material (an open tcp:// engine is root on the host)", () => {
    expect(problems({ ...example, dockerHost: "" })).toMatch(/dockerHost = "": is not set/);
    const tcp = problems({ ...example, dockerHost: "tcp://docker.bern-dc1.shop.example.ch:2376" });
    for (const key of ["dockerTlsCa", "dockerTlsCert", "dockerTlsKey"]) expect(tcp).toContain(key);
  });

  test("secrets shorter than 16 characters are refused with the command that makes one; MinIO's over 40 too (its longest secret key)", () => {
    expect(problems({ ...example, storageRootPassword: "short" })).toMatch(/storageRootPassword: must be at least 16 characters.*openssl rand -hex 16/);
    expect(problems({ ...example, storageRootPassword: "short" })).not.toContain('"short"');
    expect(problems({ ...example, storageBackupSecret: "x".repeat(41) })).toMatch(/storageBackupSecret: must be at most 40 characters/);
    expect(() => parseDockerConfig({ ...example, databaseSuperuserPassword: "x".repeat(64) }, "primary")).not.toThrow();
  });

  test("the DNS TTL may be 300 s on a Docker site (the objectives judge it) and no more", () => {
    expect(() => parseDockerConfig(example, "primary")).not.toThrow();
    expect(problems({ ...example, dnsTtlSeconds: "600" })).toMatch(/dnsTtlSeconds.*must be at most 300/);
  });

  test("the web containers' host ports must not cover the database or storage port", () => {
    expect(problems({ ...example, dockerWebHostPort: "5430" })).toMatch(/dockerWebHostPort.*over port 5432/);
  });

  test("an unknown siteKind is refused naming the key", () => {
    expect(() => parseSiteConfig({ ...example, siteKind: "podman" }, "primary")).toThrow(/siteKind.*must be one of "aws", "docker"/);
  });
});

describe("a generation's database is initialised by its generation alone, never by activeSite", () => {
  test("only the primary's first generation starts empty; every other copies the peer's writer (pg_basebackup)", () => {
    expect(databaseInitialisation("primary", 1)).toBe("initdb");
    expect(databaseInitialisation("secondary", 1)).toBe("basebackup");
    expect(databaseInitialisation("primary", 2)).toBe("basebackup");
    expect(databaseInitialisation("secondary", 2)).toBe("basebackup");
  });
});

describe.each(SITES)("the Docker example's %s stack under the mock runtime", (stack) => {
  let evaluation: Evaluation;
  beforeAll(async () => {
    evaluation = await evaluateIn(DOCKER_EXAMPLE, stack, {});
  });

  test("every container's image is a RemoteImage's id: the provider does not pull for a container (pulumi-docker, RemoteImage)", () => {
    const imageIds = new Set(resourcesOfType(evaluation, REMOTE_IMAGE).map((image) => String(image.state?.imageId ?? image.state?.id)));
    const images = resourcesOfType(evaluation, REMOTE_IMAGE);
    expect(images.every((image) => /@sha256:[0-9a-f]{64}$/.test(String(image.inputs.name)) && image.inputs.keepLocally === true)).toBe(true);
    for (const container of resourcesOfType(evaluation, CONTAINER)) {
      expect({ container: container.name, pinned: imageIds.has(String(container.inputs.image)) }).toEqual({ container: container.name, pinned: true });
    }
  });

  test("every volume that holds data is protected and retained on delete: no up, flip or rebuild removes one", () => {
    const volumes = resourcesOfType(evaluation, VOLUME).filter((volume) => JSON.stringify(volume.inputs.labels ?? []).includes("drstack.data"));
    expect(volumes.map((volume) => volume.name).sort()).toEqual([`${stack}-database-g1-data`, `${stack}-storage-data`]);
    expect(volumes.every((volume) => volume.protect && volume.retainOnDelete)).toBe(true);
  });

  test("every container with a fixed name is deleted before its replacement is created (Docker refuses a second container of one name or host port)", () => {
    for (const container of resourcesOfType(evaluation, CONTAINER)) {
      expect({ container: container.name, deleteBeforeReplace: container.deleteBeforeReplace === true }).toEqual({ container: container.name, deleteBeforeReplace: true });
    }
  });

  test("the scripts run as uploaded: 0755, since the provider's `executable` gives 0744 and the image runs init files as postgres", () => {
    const database = named(evaluation, "-database-server");
    const scripts = revealed<Array<{ file: string; permissions?: string }>>(database.inputs.uploads).filter((upload) => upload.file.endsWith(".sh"));
    expect(scripts.map((upload) => upload.permissions)).toEqual(["0755", "0755"]);
  });

  test("the agent changes only once the claim was written: it takes the claim writer's success as an input", () => {
    const labels = named(evaluation, "-agent-container").inputs.labels as Array<{ label: string; value: string }>;
    expect(labels).toContainEqual({ label: "drstack.writer-epoch", value: String(writerEpoch("primary", { primary: 1, secondary: 1 })) });
  });

  test("one-shot containers are attached and may stop (mustRun false), and are kept: attach with rm fails the provider's read (kreuzwerker/terraform-provider-docker #639)", () => {
    const oneShots = resourcesOfType(evaluation, CONTAINER).filter((container) => container.inputs.attach === true);
    expect(oneShots.map((container) => container.name).sort()).toEqual([`${stack}-storage-claim`, `${stack}-storage-setup`]);
    for (const container of oneShots) {
      expect(container.inputs).toMatchObject({ mustRun: false, rm: false, restart: "no", logs: true });
    }
  });

  test("the database speaks TLS only with streaming replication settings, and is published on dockerPublishAddress for the peer", () => {
    const database = named(evaluation, "-database-server");
    const command = (database.inputs.command as string[]).join(" ");
    expect((database.inputs.command as string[]).slice(0, 3)).toEqual(["/drstack/postgres-entrypoint.sh", "docker-entrypoint.sh", "postgres"]);
    for (const setting of ["ssl=on", "wal_level=replica", "hot_standby=on", "password_encryption=scram-sha-256", "max_slot_wal_keep_size=10240MB"]) expect(command).toContain(setting);
    expect(inputsOf(database).ports).toEqual([{ internal: 5432, external: 5432, ip: "0.0.0.0" }]);
    expect(envValue(database, "DRSTACK_DATABASE_INIT")).toBe(stack === "primary" ? "initdb" : "basebackup");
    const peer = stack === "primary" ? "zurich-dc2" : "bern-dc1";
    expect(envValue(database, "DRSTACK_UPSTREAM_CONNINFO")).toBe(
      `host=db.${peer}.shop.example.ch port=5432 user=drstack_replication sslmode=verify-full sslrootcert=/drstack/tls/ca.crt application_name=${stack}_g1`,
    );
    expect(revealed<Array<{ file: string }>>(database.inputs.uploads).map((upload) => upload.file).sort()).toEqual([
      "/docker-entrypoint-initdb.d/drstack-init.sh",
      "/drstack/postgres-entrypoint.sh",
      "/drstack/tls/ca.crt",
      "/drstack/tls/server.crt",
      "/drstack/tls/server.key",
    ]);
  });

  test("the web containers listen only on dockerWebBindAddress, one host port each from dockerWebHostPort", () => {
    const web = resourcesOfType(evaluation, CONTAINER).filter((container) => /-app-web-\d+$/.test(container.name));
    expect(web.length).toBe(stack === "primary" ? 3 : 1);
    web.forEach((container, index) => expect(inputsOf(container).ports).toEqual([{ internal: 8000, external: 8000 + index, ip: "127.0.0.1" }]));
  });

  test("the agent replaces both the backup image's entrypoint (Lambda's runtime interface) and its command (the backup handler)", () => {
    const agent = named(evaluation, "-agent-container");
    expect([agent.inputs.entrypoints, agent.inputs.command]).toEqual([["node"], ["/var/task/site/agent.js"]]);
    expect((agent.inputs.healthcheck as { tests: string[] }).tests).toEqual(["CMD", "node", "/var/task/site/agent.js", "--health"]);
    // Its status file (the jobs' last runs) on a volume: every flip replaces the container.
    expect(envValue(agent, "DRSTACK_AGENT_STATUS_FILE")).toBe("/var/lib/drstack-agent/status.json");
    expect(agent.inputs.volumes).toEqual([{ volumeName: `shop-dr-${stack}-agent-state`, containerPath: "/var/lib/drstack-agent" }]);
  });

  test("the agent accepts the environment the program gives it (lambdas/site/agent.ts parseAgentConfig, which checks every job's settings too)", async () => {
    const envs = revealed<string[]>(named(evaluation, "-agent-container").inputs.envs);
    const env = Object.fromEntries(envs.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
    const agent = await parseAgentConfig(env);
    expect(agent).toMatchObject({ site: stack, peerSite: stack === "primary" ? "secondary" : "primary", backupsScheduled: stack === "primary", timeZone: "Europe/Zurich", intervalSeconds: 30 });
    expect(agent.jobs.map((job) => job.kind).sort()).toEqual(["backup", "drill", "verify"]);
  });

  test("the cache and the agent publish no port: only the site network reaches them", () => {
    for (const suffix of ["-cache-server", "-agent-container"]) expect(inputsOf(named(evaluation, suffix)).ports).toBeUndefined();
  });

  test("the writer claim names this generation's database and the epoch sitePlan.ts computes", () => {
    const claim = JSON.parse(envValue(named(evaluation, "-storage-claim"), "DRSTACK_WRITER_CLAIM") ?? "{}") as Record<string, unknown>;
    expect(claim).toMatchObject({
      format: "drstack.writer-claim/v1",
      site: stack,
      activeSite: "primary",
      databaseMode: stack === "primary" ? "writer" : "replica",
      databaseIdentifier: `shop-dr-${stack}-db-g1`,
      epoch: writerEpoch("primary", { primary: 1, secondary: 1 }),
    });
  });

  test("backups are scheduled only where the writer is, and the agent gets every backup job with its tier's schedule", () => {
    const agent = named(evaluation, "-agent-container");
    expect(envValue(agent, "DRSTACK_BACKUPS_SCHEDULED")).toBe(stack === "primary" ? "true" : "false");
    expect(JSON.parse(envValue(agent, "DRSTACK_BACKUP_JOBS") ?? "[]")).toEqual([{ name: "shop", tier: "standard", dataClass: "db", schedule: "cron(0 2 * * ? *)" }]);
    expect(envValue(agent, "DRSTACK_TIME_ZONE")).toBe("Europe/Zurich");
  });

  test("the stack exports the contract's outputs", () => {
    for (const output of ["site", "role", "region", "backupBucketName", "backupBucketArn", "endpoint"]) expect(evaluation.outputs[output]).toBeDefined();
    expect(evaluation.outputs.region).toBe(stack === "primary" ? "bern-dc1" : "zurich-dc2");
  });

  test("no secret reaches a container argument in plain text outside its environment or uploads", () => {
    for (const container of resourcesOfType(evaluation, CONTAINER)) {
      expect(JSON.stringify(container.inputs.command ?? [])).not.toContain("offline-placeholder-for-");
    }
  });
});

describe("a rebuild raises the generation: a new volume beside the kept, protected previous one", () => {
  test("the primary rebuilt after a failover copies the promoted secondary and keeps generation 1's volume", async () => {
    const evaluation = await evaluateIn(DOCKER_EXAMPLE, "primary", { activeSite: "secondary", primaryDatabaseGeneration: "2" });
    const volumes = resourcesOfType(evaluation, VOLUME).filter((volume) => volume.name.includes("-database-"));
    expect(volumes.map((volume) => [volume.inputs.name, volume.protect, volume.retainOnDelete])).toEqual([
      ["shop-dr-primary-pgdata-g1", true, true],
      ["shop-dr-primary-pgdata-g2", true, true],
    ]);
    const database = named(evaluation, "-database-server");
    expect(envValue(database, "DRSTACK_DATABASE_INIT")).toBe("basebackup");
    expect((inputsOf(database).volumes as Array<{ volumeName: string }>)[0].volumeName).toBe("shop-dr-primary-pgdata-g2");
  });
});

describe("Route 53 for a Docker pair: an AWS account for DNS only", () => {
  test("the secondary declares the health-checked records, and their alarms in Route 53's metrics region under its own AWS provider", async () => {
    const evaluation = await evaluateIn(DOCKER_EXAMPLE, "secondary", {
      dnsProvider: "route53",
      route53ZoneId: "Z04517273EXAMPLE1XYZ",
      healthCheckIntervalSeconds: "30",
      dnsTtlSeconds: "60",
    });
    expect(resourcesOfType(evaluation, "aws:route53/healthCheck:HealthCheck")).toHaveLength(2);
    expect(resourcesOfType(evaluation, "aws:route53/record:Record").length).toBeGreaterThanOrEqual(2);
    const providers = resourcesOfType(evaluation, "pulumi:providers:aws");
    expect(providers.map((provider) => provider.inputs.region)).toEqual(["us-east-1"]);
    expect(resourcesOfType(evaluation, "aws:cloudwatch/metricAlarm:MetricAlarm")).toHaveLength(2);
    expect(resourcesOfType(evaluation, "aws:sns/topic:Topic")).toHaveLength(1);
    expect(resourcesOfType(evaluation, "cloudflare:index/loadBalancer:LoadBalancer")).toHaveLength(0);
  });
});

describe("health check durations are written as Go prints them, so the provider's read-back shows no change", () => {
  test("goDuration matches time.Duration's String for seconds, minutes and hours", () => {
    expect([0, 5, 59, 60, 61, 600, 3600, 3725].map(goDuration)).toEqual(["0s", "5s", "59s", "1m0s", "1m1s", "10m0s", "1h0m0s", "1h2m5s"]);
  });

  test("every container's health check durations are canonical", async () => {
    const evaluation = await evaluateIn(DOCKER_EXAMPLE, "primary", { dockerGuardIntervalSeconds: "120" });
    for (const container of resourcesOfType(evaluation, CONTAINER)) {
      const check = container.inputs.healthcheck as Record<string, unknown> | undefined;
      for (const field of ["interval", "timeout", "startPeriod"]) {
        const value = check?.[field];
        if (typeof value === "string") expect({ container: container.name, field, value, canonical: goDuration(goSeconds(value)) === value }).toMatchObject({ canonical: true });
      }
    }
    expect((named(evaluation, "-agent-container").inputs.healthcheck as { interval: string }).interval).toBe("2m0s");
  });
});

function goSeconds(value: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(\d+)s$/.exec(value);
  if (!match) throw new Error(`not a Go duration: ${value}`);
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3]);
}

describe("a mixed pair is refused where it can be seen", () => {
  test("an AWS secondary whose primary is a Docker site stops before its replica, naming siteKind", async () => {
    const primary = await evaluateIn(DOCKER_EXAMPLE, "primary", {});
    await expect(evaluateStack({ stack: "secondary", stackReferences: primaryReference(primary) })).rejects.toThrow(
      /the primary is a docker site and this stack an AWS site: RDS cannot replicate from a database outside AWS\. Fix: pulumi -s secondary config set siteKind docker/,
    );
  });
});
