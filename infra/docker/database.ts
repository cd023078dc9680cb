import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { SiteName } from "../roles";
import { retiredGenerations } from "../sitePlan";
import { databaseContainerName, databaseVolumeName, REPLICATION_ROLE, replicationSlotName } from "./naming";
import { goDuration } from "./durations";
import { siteScript } from "./siteScripts";
import { SiteAddresses } from "./config";

/** Where the official image keeps its data, and where drstack's entrypoint copies the TLS files for the server. */
export const PGDATA_MOUNT = "/var/lib/postgresql/data";
export const PGDATA = `${PGDATA_MOUNT}/pgdata`;
export const SERVER_TLS_DIR = "/var/lib/postgresql/drstack-tls";
export const UPLOADED_TLS_DIR = "/drstack/tls";
export const CA_FILE = `${UPLOADED_TLS_DIR}/ca.crt`;

/**
 * How a generation's data directory is first filled. Only the primary's
 * first generation starts empty (the pair's first writer); every later
 * generation, and every secondary generation, is a copy of the peer's writer
 * that then follows it. It depends on the generation alone, never on
 * `activeSite`, so a flip changes no argument of the database container.
 */
export type DatabaseInitialisation = "initdb" | "basebackup";

export function databaseInitialisation(site: SiteName, generation: number): DatabaseInitialisation {
  return site === "primary" && generation === 1 ? "initdb" : "basebackup";
}

/** The server settings drstack passes with -c: TLS only, streaming replication, and a bound on WAL kept for a lost standby. */
export function serverSettings(maxSlotWalKeepSizeMb: number): string[] {
  const settings: Record<string, string> = {
    listen_addresses: "*",
    ssl: "on",
    ssl_cert_file: `${SERVER_TLS_DIR}/server.crt`,
    ssl_key_file: `${SERVER_TLS_DIR}/server.key`,
    ssl_ca_file: `${SERVER_TLS_DIR}/ca.crt`,
    ssl_min_protocol_version: "TLSv1.2",
    password_encryption: "scram-sha-256",
    wal_level: "replica",
    max_wal_senders: "10",
    max_replication_slots: "10",
    max_slot_wal_keep_size: `${maxSlotWalKeepSizeMb}MB`,
    hot_standby: "on",
  };
  return Object.entries(settings).flatMap(([key, value]) => ["-c", `${key}=${value}`]);
}

export interface SiteDatabaseArgs {
  site: SiteName;
  peer: SiteName;
  namePrefix: string;
  generation: number;
  imageId: pulumi.Input<string>;
  networkName: pulumi.Input<string>;
  addresses: Record<SiteName, SiteAddresses>;
  port: number;
  publishAddress: string;
  databaseName: string;
  appRole: string;
  superuserPassword: pulumi.Input<string>;
  replicationPassword: pulumi.Input<string>;
  appPassword: pulumi.Input<string>;
  tls: { ca: string; cert: string; key: pulumi.Input<string> };
  maxSlotWalKeepSizeMb: number;
}

/**
 * PostgreSQL on a Docker site: one protected volume per generation (the
 * current one and the one before it, which a rebuild keeps), and the current
 * generation's container. Its role is never an argument: a standby's data
 * directory carries standby.signal, which promotion removes, and the site
 * agent promotes or fences it by the writer claim (lambdas/site/agent.ts).
 */
export class SiteDatabase extends pulumi.ComponentResource {
  readonly containerName: string;
  readonly volumeName: string;
  readonly container: docker.Container;

  constructor(name: string, args: SiteDatabaseArgs, opts: pulumi.ComponentResourceOptions) {
    super("drstack:docker:SiteDatabase", name, {}, opts);
    const child = { parent: this };
    const volumes: Record<number, docker.Volume> = {};
    for (const generation of [...retiredGenerations(args.generation), args.generation]) {
      volumes[generation] = new docker.Volume(
        `${name}-g${generation}-data`,
        { name: databaseVolumeName(args.namePrefix, args.site, generation), labels: [{ label: "drstack.data", value: "database" }] },
        // A database volume is never deleted by drstack, and stays on the host if its resource goes.
        { ...child, protect: true, retainOnDelete: true },
      );
    }
    this.volumeName = databaseVolumeName(args.namePrefix, args.site, args.generation);
    this.containerName = databaseContainerName(args.namePrefix, args.site, args.generation);
    const upstream = args.addresses[args.peer].databaseHost;
    const applicationName = `${args.site}_g${args.generation}`;
    this.container = new docker.Container(
      `${name}-server`,
      {
        name: this.containerName,
        image: args.imageId,
        restart: "unless-stopped",
        command: ["/drstack/postgres-entrypoint.sh", "docker-entrypoint.sh", "postgres", ...serverSettings(args.maxSlotWalKeepSizeMb)],
        envs: pulumi
          .all([args.superuserPassword, args.replicationPassword, args.appPassword])
          .apply(([superuser, replication, app]) => [
            `PGDATA=${PGDATA}`,
            "POSTGRES_USER=postgres",
            `POSTGRES_PASSWORD=${superuser}`,
            `POSTGRES_DB=${args.databaseName}`,
            `DRSTACK_DATABASE_INIT=${databaseInitialisation(args.site, args.generation)}`,
            `DRSTACK_UPSTREAM_CONNINFO=host=${upstream} port=${args.port} user=${REPLICATION_ROLE} sslmode=verify-full sslrootcert=${CA_FILE} application_name=${applicationName}`,
            `DRSTACK_REPLICATION_PASSWORD=${replication}`,
            `DRSTACK_REPLICATION_SLOT=${replicationSlotName(args.site, args.generation)}`,
            `DRSTACK_APP_ROLE=${args.appRole}`,
            `DRSTACK_APP_PASSWORD=${app}`,
          ]),
        uploads: [
          { file: "/drstack/postgres-entrypoint.sh", content: siteScript("postgresEntrypoint"), executable: true, permissions: "0755" },
          // 0755, not the provider's 0744 for `executable`: the image runs init files as postgres and sources one it cannot execute.
          { file: "/docker-entrypoint-initdb.d/drstack-init.sh", content: siteScript("postgresInit"), executable: true, permissions: "0755" },
          { file: CA_FILE, content: args.tls.ca },
          { file: `${UPLOADED_TLS_DIR}/server.crt`, content: args.tls.cert },
          { file: `${UPLOADED_TLS_DIR}/server.key`, content: args.tls.key },
        ],
        volumes: [{ volumeName: volumes[args.generation].name, containerPath: PGDATA_MOUNT }],
        networksAdvanced: [{ name: args.networkName, aliases: [args.addresses[args.site].databaseHost] }],
        ports: [{ internal: 5432, external: args.port, ip: args.publishAddress }],
        healthcheck: { tests: ["CMD", "pg_isready", "-U", "postgres", "-d", "postgres"], interval: "10s", timeout: "5s", retries: 6, startPeriod: goDuration(600) },
        // A fast shutdown writes a checkpoint; the default 10 s kill would make every restart a crash recovery.
        stopTimeout: 120,
        stopSignal: "SIGINT",
        destroyGraceSeconds: 120,
        labels: [{ label: "drstack.site", value: args.site }, { label: "drstack.generation", value: String(args.generation) }],
      },
      // The host port and the container name are the generation's: the old container must be gone first.
      { ...child, deleteBeforeReplace: true },
    );
    this.registerOutputs({ containerName: this.containerName, volumeName: this.volumeName });
  }
}
