/**
 * A throwaway PostgreSQL cluster for the restore drill where there is no
 * server to drill against (the scheduled drill task on Fargate, or a host
 * without a spare server): `initdb` into a fresh directory, `postgres` on a
 * unix socket in that directory only (no TCP listener, trust for local
 * connections and nothing else), and `stop()` to shut it down and remove
 * the directory, whatever happened in between.
 *
 * fsync stays on: the drill's measured restore time is the RTO figure it
 * reports, and a server that skips flushing would report a restore faster
 * than a real one. Only initdb itself runs with --no-sync (the empty
 * cluster it writes is thrown away with the directory).
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { UsageError, errorMessage } from "./errors";

/** The cluster's only role: the bootstrap superuser initdb creates. */
export const SCRATCH_SUPERUSER = "drstack";
const PORT = 5432;
/** Enough for the drill's own clients (admin, restore checks, smoke query) and pg_restore. */
const MAX_CONNECTIONS = 10;
/** How a drill's errors name its own server, which no setting names. */
export const SCRATCH_CLUSTER_LABEL = "the drill's own scratch PostgreSQL (started because --scratch-server-url / DRILL_SCRATCH_SERVER_URL is unset)";
export const DEFAULT_START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** sun_path is 108 bytes on Linux; the socket is `<dir>/.s.PGSQL.5432`. */
const MAX_SOCKET_PATH = 107;

export interface ScratchPostgresOptions {
  /** Directory holding initdb and postgres; PATH when unset. */
  pgBinDir?: string;
  /** Where the cluster's directory is made (default os.tmpdir(); in the drill task /tmp, on its ephemeral storage). */
  parentDir?: string;
  startTimeoutMs?: number;
  /**
   * A data directory initdb made ahead of time (the image makes one at build,
   * DRILL_SCRATCH_TEMPLATE_DIR), copied instead of running initdb: initdb
   * looks its own user up in /etc/passwd and fails for a uid without an
   * entry, which a container's arbitrary uid may lack; postgres does not.
   */
  templateDataDir?: string;
  log?: (message: string) => void;
}

/** Set by the backup image (lambdas/backup-image/Dockerfile) to the data directory it initialised at build. */
export const TEMPLATE_DIR_VARIABLE = "DRILL_SCRATCH_TEMPLATE_DIR";

export interface ScratchPostgres {
  /** postgres://drstack@localhost:5432/postgres?host=<socket dir>: the superuser, over the cluster's socket. */
  url: string;
  /** The cluster's directory: data directory, socket and nothing else. */
  dir: string;
  /** Fast shutdown, then the directory removed; safe to call more than once. */
  stop(): Promise<void>;
}

function findBinary(name: "initdb" | "postgres", binDir?: string): string {
  const dirs = binDir ? [binDir] : (process.env.PATH ?? "").split(":").filter(Boolean);
  const found = dirs.map((d) => join(d, name)).find((p) => existsSync(p));
  if (!found) {
    throw new UsageError(
      `${name} not found ${binDir ? `in ${binDir}` : "on PATH"}: a drill without --scratch-server-url / DRILL_SCRATCH_SERVER_URL starts its own PostgreSQL server. Install the PostgreSQL server (Debian: postgresql-15, Amazon Linux: postgresql16-server), set --pg-bin-dir / PG_BIN_DIR to the directory with initdb, or name a server with --scratch-server-url.`,
    );
  }
  return found;
}

/**
 * PostgreSQL refuses to run as root. An ordinary user needs nothing; only a
 * root host (the drill task's container, the test machine) gets here: initdb and postgres
 * then run as the `postgres` user, owner of the cluster's directory. setpriv
 * execs the binary in place, so the child we signal is postgres itself.
 */
function asUnprivileged(dir: string): { wrap: (bin: string, args: string[]) => [string, string[]] } {
  if (process.getuid?.() !== 0) return { wrap: (bin, args) => [bin, args] };
  const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gids = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (ids.status !== 0 || gids.status !== 0) {
    throw new UsageError("Running as root, the drill's scratch PostgreSQL must run as an unprivileged user, and there is no `postgres` user here. Create one (useradd -r postgres) or run as a non-root user.");
  }
  chownSync(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
  return { wrap: (bin, args) => ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", bin, ...args]] };
}

/** The environment the server and initdb get: none of the caller's PG* settings (PGPORT, PGDATA...) leak into the cluster. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PG")) env[k] = v;
  return env;
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export async function startScratchPostgres(opts: ScratchPostgresOptions = {}): Promise<ScratchPostgres> {
  const log = opts.log ?? (() => undefined);
  const initdb = findBinary("initdb", opts.pgBinDir);
  const postgresBin = findBinary("postgres", opts.pgBinDir);
  const parent = opts.parentDir ?? tmpdir();
  let dir: string;
  try {
    dir = mkdtempSync(join(parent, "drstack-scratch-"));
  } catch (err) {
    throw new UsageError(`Could not make the drill's scratch cluster directory under ${parent} (${errorMessage(err)}); it needs a writable temporary directory (TMPDIR; in the drill task, /tmp).`);
  }
  const dataDir = join(dir, "data");
  let server: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let serverLog = "";
  let stopping: Promise<void> | undefined;

  // Every caller waits for the one shutdown: a second stop() returns once the directory is gone.
  const stop = (): Promise<void> => (stopping ??= shutdown());
  const shutdown = async (): Promise<void> => {
    try {
      if (server && server.exitCode === null && server.signalCode === null) {
        // SIGINT is PostgreSQL's fast shutdown: sessions are ended, then a checkpoint.
        server.kill("SIGINT");
        const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS).unref());
        if ((await Promise.race([exited.then(() => "exited" as const), timer])) === "timeout") {
          server.kill("SIGKILL");
          await exited;
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      log(`scratch PostgreSQL stopped, ${dir} removed`);
    }
  };

  try {
    if (`${dir}/.s.PGSQL.${PORT}`.length > MAX_SOCKET_PATH) {
      throw new UsageError(`The scratch cluster's directory ${dir} is too long a path for a unix socket (at most ${MAX_SOCKET_PATH - 12} characters); use a shorter parent directory (TMPDIR).`);
    }
    const { wrap } = asUnprivileged(dir);
    const template = opts.templateDataDir ?? (process.env[TEMPLATE_DIR_VARIABLE] || undefined);
    // The copy is made by the user the server runs as, so it owns the files, as postgres requires.
    const [initCmd, initArgs] = template
      ? wrap("cp", ["-R", template, dataDir])
      : wrap(initdb, ["-D", dataDir, "-U", SCRATCH_SUPERUSER, "--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C", "--no-sync"]);
    const init = spawnSync(initCmd, initArgs, { encoding: "utf8", env: serverEnv() });
    if (init.status !== 0) {
      throw new UsageError(
        `${template ? `copying the scratch cluster's template ${template} to` : "initdb of the drill's scratch cluster in"} ${dataDir} failed (${init.error?.message ?? `exit ${init.status}`}):\n${tail(`${init.stdout ?? ""}${init.stderr ?? ""}`)}`,
      );
    }
    if (template) {
      const [chmodCmd, chmodArgs] = wrap("chmod", ["0700", dataDir]);
      spawnSync(chmodCmd, chmodArgs);
    }
    const [cmd, args] = wrap(postgresBin, [
      "-D", dataDir,
      "-p", String(PORT),
      "-c", "listen_addresses=",
      "-c", `unix_socket_directories=${dir}`,
      // POSIX shared memory (the default) lives in /dev/shm, which a container keeps small (64 MB on Fargate, which cannot raise it); mmap'd files in the data directory work anywhere.
      "-c", "dynamic_shared_memory_type=mmap",
      "-c", `max_connections=${MAX_CONNECTIONS}`,
      "-c", "logging_collector=off",
    ]);
    const child = spawn(cmd, args, { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] });
    server = child;
    exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const collect = (chunk: Buffer) => {
      serverLog = (serverLog + chunk.toString("utf8")).slice(-64_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));

    const url = `postgres://${SCRATCH_SUPERUSER}@localhost:${PORT}/postgres?host=${encodeURIComponent(dir)}`;
    const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const failure = await Promise.race([
        spawnError.then((e) => `could not be started: ${e.message}`),
        exited.then(() => `exited (${child.exitCode ?? child.signalCode})`),
        accepts(url).then((ok) => (ok ? "" : undefined)),
      ]);
      if (failure === "") break;
      if (failure !== undefined) throw new UsageError(`The drill's scratch PostgreSQL server ${failure} before accepting connections. Its log:\n${tail(serverLog)}`);
      if (Date.now() > deadline) throw new UsageError(`The drill's scratch PostgreSQL server did not accept connections on ${dir} within ${Math.round(timeoutMs / 1000)} s. Its log:\n${tail(serverLog)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    log(`scratch PostgreSQL started in ${dir} (socket only)`);
    return { url, dir, stop };
  } catch (err) {
    await stop().catch((e: unknown) => log(`could not stop the scratch PostgreSQL: ${errorMessage(e)}`));
    throw err;
  }
}

async function accepts(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
