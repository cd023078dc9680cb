import { X509Certificate } from "crypto";
import { containerEnvs, unwrapSecret } from "../containerEnvs";
import { SiteName } from "../roles";
import { SiteAddresses } from "./config";

/**
 * Reachability on a Docker site, as a graph over the resources a stack
 * declares: which container reaches which by which name and port, on which
 * network, with which certificate. Docker accepts a container with a wrong
 * host name or a network it is not on and only the first connection fails;
 * this is what stands in for that refusal offline. Each problem names its
 * rule, the caller and the callee, never a value (an env may hold a
 * password). Pure: resources in, problems out.
 */

export interface DeclaredResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/** What this stack knows of the pair: both sites' service names and the ports each site publishes (shared keys, the same in both stacks). */
export interface DockerPair {
  site: SiteName;
  peer: SiteName;
  addresses: Record<SiteName, SiteAddresses>;
  databasePort: number;
  storagePort: number;
}

export const DOCKER_REACHABILITY_RULES = {
  /** Docker's embedded DNS resolves container names and aliases only on a network both containers are on (Docker docs, "Networking overview": user-defined bridge networks). */
  onSiteNetwork: "every-container-on-site-network",
  /** The standby streams from its peer's writer by the peer's published name and port, verifying the peer's certificate for that name (libpq sslmode=verify-full). */
  standbyToPeerWriter: "standby-streams-from-peer-writer",
  /** The name the peer (and the site's clients) connect to must be one the site's own server certificate covers, or verify-full fails (libpq: "server certificate does not match host name"). */
  certificateCoversName: "certificate-covers-connected-name",
  /** The agent and the one-shot MinIO clients reach their own MinIO on the site network by the storage host alias, on MinIO's own port. */
  ownStorage: "clients-reach-own-minio-by-alias",
  /** The agent reaches the peer's MinIO at the peer's published storage port. */
  peerStorage: "agent-reaches-peer-minio-published",
  /** The application and the agent reach the database by its alias on PostgreSQL's own port, with verify-full. */
  database: "clients-reach-database-by-alias",
  /** The application reaches Redis by its container name on Redis's port. */
  cache: "application-reaches-cache-by-name",
} as const;

export interface DockerReachabilityProblem {
  rule: (typeof DOCKER_REACHABILITY_RULES)[keyof typeof DOCKER_REACHABILITY_RULES];
  from: string;
  to: string;
  problem: string;
}

const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
const POSTGRES_PORT = 5432;
const MINIO_PORT = 9000;
const REDIS_PORT = 6379;

interface Container {
  resource: string;
  name: string;
  networks: Array<{ name: string; aliases: string[] }>;
  envs: Map<string, string>;
  uploads: Map<string, string>;
  ports: Array<{ internal: number; external: number }>;
  command: string[];
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
}

function container(resource: DeclaredResource): Container {
  const inputs = resource.inputs;
  return {
    resource: resource.name,
    name: String(inputs.name),
    networks: asArray(inputs.networksAdvanced).map((network) => ({ name: String(field(network, "name")), aliases: asArray(field(network, "aliases")).map(String) })),
    envs: containerEnvs(inputs),
    uploads: new Map(asArray(unwrapSecret(inputs.uploads)).map((upload) => [String(field(upload, "file")), String(unwrapSecret(field(upload, "content")))])),
    ports: asArray(inputs.ports).map((port) => ({ internal: Number(field(port, "internal")), external: Number(field(port, "external")) })),
    command: asArray(inputs.command).map(String),
  };
}

/** host, port and the query's sslmode of a URL (postgres://, redis://, https://); undefined when it is not one. */
function endpoint(url: string | undefined): { host: string; port: number; sslmode?: string; sslrootcert?: string } | undefined {
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    const defaults: Record<string, number> = { "https:": 443, "postgres:": POSTGRES_PORT, "redis:": REDIS_PORT };
    return {
      host: parsed.hostname,
      port: parsed.port === "" ? (defaults[parsed.protocol] ?? 0) : Number(parsed.port),
      sslmode: parsed.searchParams.get("sslmode") ?? undefined,
      sslrootcert: parsed.searchParams.get("sslrootcert") ?? undefined,
    };
  } catch {
    return undefined;
  }
}

/** libpq's keyword/value conninfo (no quoted values in what the program writes). */
function conninfo(value: string | undefined): Record<string, string> {
  return Object.fromEntries((value ?? "").split(/\s+/).filter((part) => part.includes("=")).map((part) => [part.slice(0, part.indexOf("=")), part.slice(part.indexOf("=") + 1)]));
}

function covers(certificate: string | undefined, name: string): boolean {
  if (certificate === undefined) return false;
  try {
    return new X509Certificate(certificate).checkHost(name) !== undefined;
  } catch {
    return false;
  }
}

export function dockerReachability(resources: readonly DeclaredResource[], pair: DockerPair): DockerReachabilityProblem[] {
  const problems: DockerReachabilityProblem[] = [];
  const report = (rule: DockerReachabilityProblem["rule"], from: string, to: string, problem: string) => problems.push({ rule, from, to, problem });
  const networks = resources.filter((r) => r.type === NETWORK).map((r) => String(r.inputs.name));
  const containers = resources.filter((r) => r.type === CONTAINER).map(container);
  const own = pair.addresses[pair.site];
  const peer = pair.addresses[pair.peer];
  const R = DOCKER_REACHABILITY_RULES;

  if (networks.length !== 1) {
    report(R.onSiteNetwork, "site", "network", `the stack declares ${networks.length} networks; a site has exactly one, its containers' only network`);
  }
  const siteNetwork = networks[0];
  for (const c of containers) {
    if (!c.networks.some((network) => network.name === siteNetwork)) {
      report(R.onSiteNetwork, c.resource, String(siteNetwork), `is not on the site network ${String(siteNetwork)}: no other container resolves or reaches it`);
    }
  }

  const byAlias = (alias: string) => containers.filter((c) => c.networks.some((network) => network.name === siteNetwork && network.aliases.includes(alias)));
  const byName = (name: string) => containers.filter((c) => c.name === name && c.networks.some((network) => network.name === siteNetwork));
  const database = byAlias(own.databaseHost);
  const storage = byAlias(own.storageHost);
  if (database.length !== 1) report(R.database, "site", own.databaseHost, `${database.length} containers carry the database alias ${own.databaseHost} on the site network; exactly one must`);
  if (storage.length !== 1) report(R.ownStorage, "site", own.storageHost, `${storage.length} containers carry the storage alias ${own.storageHost} on the site network; exactly one must`);

  const server = database[0];
  if (server) {
    if (!server.ports.some((port) => port.internal === POSTGRES_PORT && port.external === pair.databasePort)) {
      report(R.standbyToPeerWriter, pair.peer, server.resource, `does not publish PostgreSQL (${POSTGRES_PORT}) on dockerDatabasePort ${pair.databasePort}, where the peer's standby connects`);
    }
    if (!covers(server.uploads.get("/drstack/tls/server.crt"), own.databaseHost)) {
      report(R.certificateCoversName, pair.peer, server.resource, `its server certificate does not cover ${own.databaseHost}, the name the peer and the site's clients verify`);
    }
    const upstream = conninfo(server.envs.get("DRSTACK_UPSTREAM_CONNINFO"));
    if (upstream.host !== peer.databaseHost || Number(upstream.port) !== pair.databasePort) {
      report(R.standbyToPeerWriter, server.resource, pair.peer, `streams from ${upstream.host ?? "(no host)"}:${upstream.port ?? "(no port)"}, not the peer's writer at ${peer.databaseHost}:${pair.databasePort}`);
    }
    if (upstream.sslmode !== "verify-full" || upstream.sslrootcert === undefined || !server.uploads.has(upstream.sslrootcert)) {
      report(R.standbyToPeerWriter, server.resource, pair.peer, "does not verify the peer's certificate and name (sslmode=verify-full with an uploaded sslrootcert)");
    }
  }
  const minio = storage[0];
  if (minio) {
    const address = minio.command[minio.command.indexOf("--address") + 1];
    if (minio.command.indexOf("--address") < 0 || address !== `:${MINIO_PORT}`) {
      report(R.ownStorage, "site", minio.resource, `MinIO does not listen on :${MINIO_PORT} (--address), the port its clients on the site network use`);
    }
    if (!minio.ports.some((port) => port.internal === MINIO_PORT && port.external === pair.storagePort)) {
      report(R.peerStorage, pair.peer, minio.resource, `does not publish MinIO (${MINIO_PORT}) on dockerStoragePort ${pair.storagePort}, where the peer's agent and replication connect`);
    }
    if (!covers(minio.uploads.get("/drstack/certs/public.crt"), own.storageHost)) {
      report(R.certificateCoversName, pair.peer, minio.resource, `its certificate does not cover ${own.storageHost}, the name the peer and the site's clients verify`);
    }
  }

  const ownStorageUrl = `https://${own.storageHost}:${MINIO_PORT}`;
  const peerStorageUrl = `https://${peer.storageHost}:${pair.storagePort}`;
  for (const c of containers) {
    for (const variable of ["DRSTACK_STORAGE_ENDPOINT", "S3_ENDPOINT"]) {
      const url = c.envs.get(variable);
      if (url !== undefined && url !== ownStorageUrl) {
        report(R.ownStorage, c.resource, own.storageHost, `${variable} is not ${ownStorageUrl}, its own MinIO by the site network alias`);
      }
    }
    for (const variable of ["DRSTACK_PEER_STORAGE_ENDPOINT", "PEER_S3_ENDPOINT"]) {
      const url = c.envs.get(variable);
      if (url !== undefined && url !== peerStorageUrl) {
        report(R.peerStorage, c.resource, peer.storageHost, `${variable} is not ${peerStorageUrl}, the peer's MinIO at its published port`);
      }
    }
    for (const variable of ["DATABASE_URL", "DRSTACK_DATABASE_ADMIN_URL"]) {
      const url = c.envs.get(variable);
      if (url === undefined) continue;
      const target = endpoint(url);
      if (target?.host !== own.databaseHost || target.port !== POSTGRES_PORT) {
        report(R.database, c.resource, own.databaseHost, `${variable} does not name the database by its alias ${own.databaseHost}:${POSTGRES_PORT}`);
      } else if (target.sslmode !== "verify-full" || target.sslrootcert === undefined || !c.uploads.has(target.sslrootcert)) {
        report(R.database, c.resource, own.databaseHost, `${variable} does not verify the database's certificate and name (sslmode=verify-full with an uploaded sslrootcert)`);
      }
    }
    const redis = endpoint(c.envs.get("REDIS_URL"));
    if (c.envs.has("REDIS_URL")) {
      const cache = redis === undefined ? [] : byName(redis.host);
      if (redis === undefined || redis.port !== REDIS_PORT || cache.length !== 1) {
        report(R.cache, c.resource, redis?.host ?? "(no host)", `REDIS_URL does not name a container on the site network by its name, on ${REDIS_PORT}`);
      }
    }
  }
  return problems;
}
