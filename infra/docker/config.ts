import { X509Certificate, createPrivateKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import {
  ConfigError,
  ConfigReader,
  RawConfig,
  readApplicationBasics,
  readReplicaSettings,
  readSharedConfig,
  SharedConfig,
  SiteLocationRule,
} from "../config";
import { isOfflineSecretPlaceholder } from "../configSchema";
import { ReplicaSettings } from "../workloadReplicas";
import { SiteName, SITES } from "../roles";

/**
 * A Docker site's config (`siteKind: docker`): the shared keys every site
 * reads, and what a Docker host in the team's own data centre needs instead
 * of a VPC, a cluster and ECR (README, "Self-hosted sites on Docker").
 */
export interface DockerDrConfig extends SharedConfig {
  siteKind: "docker";
  docker: DockerSiteSettings;
}

/** How the program reaches the site's Docker engine: `dockerHost` and, for tcp://, its TLS client material. */
export interface DockerHostSettings {
  /** ssh://user@host or tcp://host:2376. */
  url: string;
  tls?: { ca: string; cert: string; key: pulumi.Output<string> };
  sshOpts: string[];
}

/** A site's services that the peer data centre connects to, by the DNS name its certificate carries. */
export interface SiteAddresses {
  databaseHost: string;
  storageHost: string;
}

export interface DockerImages {
  database: string;
  storage: string;
  storageClient: string;
  cache: string;
  app: string;
  backup: string;
}

/** The pair's and the site's passwords; every one a secret. Pair-wide ones must be equal in both stacks. */
export interface DockerSecrets {
  /** Pair-wide: the standby's database is a byte copy of the writer's, roles included. */
  databaseSuperuser: pulumi.Output<string>;
  replication: pulumi.Output<string>;
  appDatabase: pulumi.Output<string>;
  /** This site's MinIO root user's password. */
  storageRoot: pulumi.Output<string>;
  /** This site's `drstack-backup` MinIO user (the agent's backups). */
  storageBackup: pulumi.Output<string>;
  /** Pair-wide: `drstack-peer-reader` on each site, used by the other site's agent. */
  storagePeerReader: pulumi.Output<string>;
  /** Pair-wide: `drstack-replication` on each site, the user the other site's MinIO replicates as. */
  storageReplication: pulumi.Output<string>;
  cache: pulumi.Output<string>;
}

export interface DockerSiteSettings {
  host: DockerHostSettings;
  addresses: Record<SiteName, SiteAddresses>;
  databasePort: number;
  storagePort: number;
  /** Host address the database and MinIO ports are published on, for the peer data centre. */
  publishAddress: string;
  /** Host address the web containers' ports are published on, for the site's front proxy. */
  webBindAddress: string;
  /** The first host port of the web containers; container i listens on webHostPort + i. */
  webHostPort: number;
  tls: { ca: string; cert: string; key: pulumi.Output<string> };
  images: DockerImages;
  secrets: DockerSecrets;
  replicas: ReplicaSettings;
  containerPort: number;
  healthPath: string;
  databaseName: string;
  webCommand: string[];
  workerCommand: string[];
  appHealthCommand: string[];
  /** The agent's guard interval: how long a returning site may run unfenced, and how long a promotion waits. */
  guardIntervalSeconds: number;
  /** IANA time zone of the site's schedules (`cron(0 2 * * ? *)` is 02:00 there). */
  timeZone: string;
  /** The writer keeps at most this much WAL for a standby that stops following (max_slot_wal_keep_size). */
  maxSlotWalKeepSizeMb: number;
}

const LOCATION_PATTERN = /^[a-z][a-z0-9-]{0,28}[a-z0-9]$/;
const HOSTNAME_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
/** An image by content: an optional registry and path, then @sha256 and 64 hex digits. A tag can move; a digest cannot. */
export const PINNED_IMAGE_PATTERN = /^[a-z0-9]+([._:/-][a-z0-9]+)*@sha256:[0-9a-f]{64}$/;
/** Docker container and volume names derived from namePrefix are `<prefix>-<site>-...`; 40 leaves room for the longest suffix. */
const DOCKER_PREFIX_LIMIT = 40;
/** A Docker site's TTL may follow its plan (300 s in the self-hosted plan this grew from); the objectives judge what it costs. */
export const DOCKER_MAX_DNS_TTL_SECONDS = 300;
/** At most this long between guard runs: it bounds how long a returning data centre runs its stale state unfenced. */
export const MAX_GUARD_INTERVAL_SECONDS = 300;

export const DOCKER_LOCATIONS: SiteLocationRule = {
  keys: { primary: "primaryLocation", secondary: "secondaryLocation" },
  pattern: LOCATION_PATTERN,
  what: "a data-centre name (2-30 lowercase letters, digits and inner hyphens)",
  examples: { primary: "bern-dc1", secondary: "zurich-dc2" },
  distinct: "a standby in the same data centre does not survive the loss of that data centre",
  maxDnsTtlSeconds: DOCKER_MAX_DNS_TTL_SECONDS,
  prefixLimit: DOCKER_PREFIX_LIMIT,
  prefixLimitReason: "container, volume and bucket names are derived from it",
};

const IMAGE_KEYS: Record<keyof DockerImages, { key: string; example: string; what: string }> = {
  database: { key: "databaseImage", example: "postgres:16.6", what: "the official PostgreSQL image" },
  storage: { key: "storageImage", example: "minio/minio:RELEASE.2025-09-07T16-13-09Z", what: "MinIO's server image" },
  storageClient: { key: "storageClientImage", example: "minio/mc:RELEASE.2025-08-13T08-35-41Z", what: "MinIO's client image (mc), which configures the buckets" },
  cache: { key: "cacheImage", example: "redis:7.4", what: "the official Redis image" },
  app: { key: "appImage", example: "registry.example.ch/shop/app:<release>", what: "the application release" },
  backup: { key: "backupImage", example: "registry.example.ch/drstack/backup:<tag>", what: "drstack's backup image (lambdas/backup-image), which runs the site agent" },
};

/** Which secret keys are the pair's (equal in both stacks) and which are the site's own. */
const SECRET_KEYS: Record<keyof DockerSecrets, { key: string; pairWide: boolean; minio?: true }> = {
  databaseSuperuser: { key: "databaseSuperuserPassword", pairWide: true },
  replication: { key: "databaseReplicationPassword", pairWide: true },
  appDatabase: { key: "appDatabasePassword", pairWide: true },
  storageRoot: { key: "storageRootPassword", pairWide: false, minio: true },
  storageBackup: { key: "storageBackupSecret", pairWide: false, minio: true },
  storagePeerReader: { key: "storagePeerReaderSecret", pairWide: true, minio: true },
  storageReplication: { key: "storageReplicationSecret", pairWide: true, minio: true },
  cache: { key: "cachePassword", pairWide: false },
};

/** PostgreSQL and Redis take any password, but a short one is a guessable one. */
const MIN_SECRET_LENGTH = 16;
/** MinIO takes secret keys of 8 to 40 characters (MinIO docs, `mc admin user add`; MINIO_ROOT_PASSWORD). */
const MAX_MINIO_SECRET_LENGTH = 40;

export function parseDockerConfig(raw: RawConfig, stack: string, now: Date = new Date()): DockerDrConfig {
  const reader = new ConfigReader(raw, stack);
  const shared = readSharedConfig(reader, stack, now, () => DOCKER_LOCATIONS);
  if (shared.database.engine !== "postgres") {
    reader.report(
      "databaseEngine",
      `is ${shared.database.engine}; a Docker site streams PostgreSQL's write-ahead log to its peer, and no MySQL or MariaDB replication is built for Docker sites yet`,
      `${reader.setCommand("databaseEngine", "postgres")} in both stacks`,
    );
  }
  if (shared.database.recoveryPoint !== undefined) {
    reader.report(
      "recoveryPointInTime",
      "is set; a Docker site keeps no write-ahead-log archive, so it has no point-in-time recovery: restore the newest dump before the corruption instead (README, Recovering from corruption)",
      `pulumi -s ${stack} config rm recoveryPointInTime`,
    );
  }

  const host = readDockerHost(reader, raw);
  const addresses = {} as Record<SiteName, SiteAddresses>;
  for (const site of SITES) {
    addresses[site] = {
      databaseHost: reader.matching(`${site}DatabaseHost`, HOSTNAME_PATTERN, "a DNS name the peer data centre resolves", `db.${DOCKER_LOCATIONS.examples[site]}.example.ch`),
      storageHost: reader.matching(`${site}StorageHost`, HOSTNAME_PATTERN, "a DNS name the peer data centre resolves", `s3.${DOCKER_LOCATIONS.examples[site]}.example.ch`),
    };
  }
  const names = [addresses.primary.databaseHost, addresses.primary.storageHost, addresses.secondary.databaseHost, addresses.secondary.storageHost];
  if (new Set(names).size !== names.length) {
    reader.report("secondaryDatabaseHost", "repeats another site's database or storage host name; each service of each site needs its own name, because the standby connects to its peer's by name", "give each of the four hosts its own DNS name, in both stacks");
  }
  const databasePort = reader.between("dockerDatabasePort", 1, 65535);
  const storagePort = reader.between("dockerStoragePort", 1, 65535);
  if (databasePort === storagePort) {
    reader.report("dockerStoragePort", `equals dockerDatabasePort (${databasePort}); both are published on the same host address`, reader.setCommand("dockerStoragePort", "9000"));
  }
  const publishAddress = readIpv4(reader, "dockerPublishAddress", "0.0.0.0");
  const webBindAddress = readIpv4(reader, "dockerWebBindAddress", "127.0.0.1");
  const replicas = readReplicaSettings(reader);
  const webHostPort = reader.between("dockerWebHostPort", 1024, 65535 - replicas.full.web);
  for (const port of [databasePort, storagePort]) {
    if (port >= webHostPort && port < webHostPort + replicas.full.web) {
      reader.report("dockerWebHostPort", `puts the web containers' host ports (${webHostPort}-${webHostPort + replicas.full.web - 1}) over port ${port}`, reader.setCommand("dockerWebHostPort", "8000"));
    }
  }

  const tls = readSiteTls(reader, raw, shared.site, addresses[shared.site], now);
  const images = {} as DockerImages;
  for (const [field, spec] of Object.entries(IMAGE_KEYS) as [keyof DockerImages, (typeof IMAGE_KEYS)[keyof DockerImages]][]) {
    const value = reader.string(spec.key);
    if (!PINNED_IMAGE_PATTERN.test(value)) {
      reader.report(
        spec.key,
        value === "" ? `is not set; it names ${spec.what} by its digest` : "is not an image pinned by digest (name@sha256: and 64 lowercase hex digits); a tag can move between the two sites' pulls",
        `${reader.setCommand(spec.key, `${spec.example.replace(/:[^:/]*$/, "")}@sha256:<digest>`)} (docker buildx imagetools inspect ${spec.example} prints it)`,
      );
    }
    images[field] = value;
  }
  const secrets = {} as DockerSecrets;
  for (const [field, spec] of Object.entries(SECRET_KEYS) as [keyof DockerSecrets, (typeof SECRET_KEYS)[keyof DockerSecrets]][]) {
    const value = raw[spec.key] ?? "";
    const tooLong = spec.minio === true && value.length > MAX_MINIO_SECRET_LENGTH && !isOfflineSecretPlaceholder(value);
    if (value.length < MIN_SECRET_LENGTH || /\s/.test(value) || tooLong) {
      reader.reportSecret(
        spec.key,
        value === "" ? "is not set" : tooLong ? `must be at most ${MAX_MINIO_SECRET_LENGTH} characters, the longest secret key MinIO takes` : `must be at least ${MIN_SECRET_LENGTH} characters without spaces`,
        `pulumi -s ${stack} config set --secret ${spec.key} "$(openssl rand -hex 16)"${spec.pairWide ? ", the same value in both stacks" : ""}`,
      );
    }
    secrets[field] = pulumi.secret(value);
  }

  const { containerPort, healthPath, databaseName } = readApplicationBasics(reader);
  const webCommand = reader.stringList("webCommand", "gunicorn");
  const workerCommand = reader.stringList("workerCommand", "celery");
  if (replicas.full.worker > 0 && workerCommand.length === 0) {
    reader.report("workerCommand", "is empty while workerReplicas is above 0; the workers run the same image as the web tier, so they need their own command", `pulumi -s ${stack} config set --path 'workerCommand[0]' celery (then the rest: -A, shop, worker)`);
  }
  const healthOverride = reader.stringList("appHealthCommand", "curl");
  const appHealthCommand = healthOverride.length > 0 ? healthOverride : ["curl", "-fsS", "-o", "/dev/null", `http://127.0.0.1:${containerPort}${healthPath}`];

  const guardIntervalSeconds = reader.between("dockerGuardIntervalSeconds", 10, MAX_GUARD_INTERVAL_SECONDS);
  const timeZone = reader.string("siteTimeZone");
  if (!isTimeZone(timeZone)) {
    reader.report("siteTimeZone", "is not an IANA time zone this Node.js knows", reader.setCommand("siteTimeZone", "Europe/Zurich"));
  }
  const maxSlotWalKeepSizeMb = reader.between("databaseMaxSlotWalKeepSizeMb", 1024, 1048576);

  if (reader.problems.length > 0) {
    throw new ConfigError(stack, reader.problems);
  }
  return {
    ...shared,
    backups: { ...shared.backups, imageDigest: images.backup.slice(images.backup.indexOf("@") + 1) },
    siteKind: "docker",
    docker: {
      host,
      addresses,
      databasePort,
      storagePort,
      publishAddress,
      webBindAddress,
      webHostPort,
      tls,
      images,
      secrets,
      replicas,
      containerPort,
      healthPath,
      databaseName,
      webCommand,
      workerCommand,
      appHealthCommand,
      guardIntervalSeconds,
      timeZone,
      maxSlotWalKeepSizeMb,
    },
  };
}

function readDockerHost(reader: ConfigReader, raw: RawConfig): DockerHostSettings {
  const url = (raw.dockerHost ?? "").trim();
  const sshOpts = reader.stringList("dockerSshOpts", "-o");
  const scheme = /^(ssh|tcp):\/\/[^\s/]+/.exec(url)?.[1];
  if (scheme === undefined) {
    reader.report(
      "dockerHost",
      url === "" ? "is not set; drstack deploys to this site's own Docker engine and will not guess one from DOCKER_HOST" : "must be ssh://user@host or tcp://host:2376",
      `pulumi -s ${reader.stack} config set dockerHost ssh://deploy@docker.${reader.stack}.example.ch`,
    );
    return { url, sshOpts };
  }
  const ca = (raw.dockerTlsCa ?? "").trim();
  const cert = (raw.dockerTlsCert ?? "").trim();
  const key = (raw.dockerTlsKey ?? "").trim();
  if (scheme === "ssh") {
    for (const [name, value] of [["dockerTlsCa", ca], ["dockerTlsCert", cert], ["dockerTlsKey", key]] as const) {
      if (value !== "") reader.report(name, "is set while dockerHost is ssh://; SSH authenticates the engine, so TLS material would be ignored", `pulumi -s ${reader.stack} config rm ${name}`);
    }
    return { url, sshOpts };
  }
  if (sshOpts.length > 0) {
    reader.report("dockerSshOpts", "is set while dockerHost is tcp://", `pulumi -s ${reader.stack} config rm dockerSshOpts`);
  }
  // The Docker engine's API on tcp:// without TLS is root on the host for anyone who reaches the port.
  for (const [name, value] of [["dockerTlsCa", ca], ["dockerTlsCert", cert], ["dockerTlsKey", key]] as const) {
    if (!value.includes("-----BEGIN") && !isOfflineSecretPlaceholder(value)) {
      (name === "dockerTlsKey" ? reader.reportSecret.bind(reader) : reader.report.bind(reader))(name, "must be PEM (-----BEGIN ...) when dockerHost is tcp://: the engine must verify the client and the client the engine", `pulumi -s ${reader.stack} config set ${name === "dockerTlsKey" ? "--secret " : ""}${name} < ${name === "dockerTlsCa" ? "ca.pem" : name === "dockerTlsCert" ? "cert.pem" : "key.pem"}`);
    }
  }
  return { url, sshOpts, tls: { ca, cert, key: pulumi.secret(key) } };
}

function readIpv4(reader: ConfigReader, key: string, example: string): string {
  const value = reader.string(key);
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value);
  if (!octets || octets.slice(1).some((octet) => Number(octet) > 255)) {
    reader.report(key, "must be an IPv4 address of the Docker host", reader.setCommand(key, example));
  }
  return value;
}

/**
 * The site's certificate must be one the peer and the site's own clients
 * verify with `sslmode=verify-full`: issued by `siteTlsCa`, valid now, for
 * both of the site's service names, and matching its key. Checked here, so a
 * wrong file stops the preview instead of a standby that cannot connect.
 */
function readSiteTls(reader: ConfigReader, raw: RawConfig, site: SiteName, names: SiteAddresses, now: Date): DockerSiteSettings["tls"] {
  const ca = (raw.siteTlsCa ?? "").trim();
  const cert = (raw.siteTlsCert ?? "").trim();
  const key = (raw.siteTlsKey ?? "").trim();
  const fix = (name: string, file: string, secret = false) => `pulumi -s ${reader.stack} config set ${secret ? "--secret " : ""}${name} < ${file}`;
  let caCert: X509Certificate | undefined;
  let siteCert: X509Certificate | undefined;
  try {
    caCert = new X509Certificate(ca);
    if (!caCert.ca) reader.report("siteTlsCa", "is a certificate but not a CA certificate (basicConstraints CA:TRUE)", fix("siteTlsCa", "ca.crt"));
  } catch {
    reader.report("siteTlsCa", "is not a PEM certificate; it is the CA both data centres trust, the same in both stacks", fix("siteTlsCa", "ca.crt"));
  }
  try {
    siteCert = new X509Certificate(cert);
  } catch {
    reader.report("siteTlsCert", `is not a PEM certificate; it is this site's server certificate for ${names.databaseHost} and ${names.storageHost}`, fix("siteTlsCert", `${site}.crt`));
  }
  if (siteCert !== undefined) {
    for (const name of [names.databaseHost, names.storageHost]) {
      if (siteCert.checkHost(name) === undefined) {
        reader.report("siteTlsCert", `does not cover ${name}; the peer verifies the name it connects to`, `issue a certificate with subjectAltName DNS:${names.databaseHost},DNS:${names.storageHost}, then ${fix("siteTlsCert", `${site}.crt`)}`);
      }
    }
    if (new Date(siteCert.validTo).getTime() <= now.getTime() || new Date(siteCert.validFrom).getTime() > now.getTime()) {
      reader.report("siteTlsCert", `is not valid now (valid ${siteCert.validFrom} to ${siteCert.validTo})`, `renew it, then ${fix("siteTlsCert", `${site}.crt`)}`);
    }
    if (caCert !== undefined && !siteCert.verify(caCert.publicKey)) {
      reader.report("siteTlsCert", "is not signed by siteTlsCa, so the peer's verify-full connections would fail", `issue it from the CA in siteTlsCa, or set the CA that issued it`);
    }
    try {
      if (isOfflineSecretPlaceholder(key)) {
        // The offline plan cannot decrypt it; the real preview checks it.
      } else if (!siteCert.checkPrivateKey(createPrivateKey(key))) {
        reader.reportSecret("siteTlsKey", "is not the private key of siteTlsCert", fix("siteTlsKey", `${site}.key`, true));
      }
    } catch {
      reader.reportSecret("siteTlsKey", "is not a PEM private key", fix("siteTlsKey", `${site}.key`, true));
    }
  }
  return { ca, cert, key: pulumi.secret(key) };
}

function isTimeZone(zone: string): boolean {
  if (zone === "") return false;
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
