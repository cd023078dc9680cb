/**
 * A throwaway MariaDB or MySQL server for the restore drill of a MySQL-family
 * backup where there is no server to drill against: a fresh data directory
 * (mariadb-install-db, or mysqld --initialize-insecure), the server on a unix
 * socket in that directory only (no TCP listener; its only account is root
 * without a password, reachable through that socket alone), and `stop()` to
 * shut it down and remove the directory, whatever happened in between.
 *
 * The flavour is the backup's: a mariadb-dump of a MariaDB server restores
 * into MariaDB, a mysqldump of MySQL into MySQL. The two have drifted apart
 * (collations, JSON, system tables), and the drill's checksum comparison
 * re-dumps with the same tool, so a cross-flavour drill would test neither.
 *
 * The event scheduler is OFF (MySQL's default is ON): restored events do not
 * fire in the drill.
 *
 * Durability settings stay at their defaults, as scratchPostgres.ts keeps
 * fsync on: the measured restore time is the RTO figure the drill reports.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnection } from "mysql2/promise";
import { ENGINE_LABELS } from "./engine";
import { UsageError, errorMessage } from "./errors";

export type MysqlFlavour = "mysql" | "mariadb";

/** How a drill's errors name its own server, which no setting names. */
export const SCRATCH_MYSQL_LABEL = "the drill's own scratch MySQL/MariaDB server (started because --scratch-server-url / DRILL_SCRATCH_SERVER_URL is unset)";
export const DEFAULT_START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 60_000;
/** sun_path is 108 bytes on Linux; the socket is `<dir>/mysqld.sock`. */
const MAX_SOCKET_PATH = 107;
const SOCKET_NAME = "mysqld.sock";

export interface ScratchMysqlOptions {
  flavour: MysqlFlavour;
  /** Directory with the server and its installer (mariadbd and mariadb-install-db, or mysqld), or its sibling sbin/libexec; PATH, /usr/sbin and /usr/libexec when unset. */
  binDir?: string;
  /** Where the server's directory is made (default os.tmpdir()). */
  parentDir?: string;
  startTimeoutMs?: number;
  log?: (message: string) => void;
}

export interface ScratchMysql {
  flavour: MysqlFlavour;
  /** `<flavour>://root@localhost/mysql?socket=<dir>/mysqld.sock`: root, over the server's socket, in the system database that always exists. */
  url: string;
  /** The server's directory: data directory, socket and nothing else. */
  dir: string;
  socket: string;
  /** Shutdown, then the directory removed; safe to call more than once. */
  stop(): Promise<void>;
}

const BINARIES: Record<MysqlFlavour, { server: string[]; install?: string; packages: string }> = {
  mariadb: { server: ["mariadbd", "mysqld"], install: "mariadb-install-db", packages: "Debian: mariadb-server; Amazon Linux: mariadb105-server" },
  // MySQL initialises its data directory with the server binary itself.
  mysql: { server: ["mysqld"], packages: "Oracle's MySQL community server (mysql-community-server)" },
};

function findBinary(names: string[], flavour: MysqlFlavour, binDir?: string): string {
  // Debian puts the server in /usr/sbin, Amazon Linux's mariadb105-server in /usr/libexec.
  const dirs = binDir ? [binDir, join(binDir, "..", "sbin"), join(binDir, "..", "libexec")] : [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/sbin", "/usr/local/sbin", "/usr/libexec"];
  for (const name of names) {
    const found = dirs.map((d) => join(d, name)).find((p) => existsSync(p));
    if (found) return found;
  }
  throw new UsageError(
    `${names[0]} not found ${binDir ? `in ${binDir}` : "on PATH or in /usr/sbin or /usr/libexec"}: a drill of a ${flavour} backup without --scratch-server-url / DRILL_SCRATCH_SERVER_URL starts its own ${flavour} server. Install it (${BINARIES[flavour].packages}), set --mysql-bin-dir / MYSQL_BIN_DIR to the directory with ${names[0]}, or name a server with --scratch-server-url.`,
  );
}

/** Says which server a binary is, so a MySQL binary is not taken for MariaDB's (Debian links mysqld to mariadbd). */
function serverFlavour(bin: string): MysqlFlavour | undefined {
  const res = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (res.status !== 0) return undefined;
  return /mariadb/i.test(res.stdout) ? "mariadb" : "mysql";
}

/**
 * Both servers refuse to run as root unless told which user to become: a
 * root host (the drill task's container, the test machine) runs them as the
 * `mysql` user, owner of the server's directory.
 */
function unprivilegedUser(dir: string, flavour: MysqlFlavour): string[] {
  if (process.getuid?.() !== 0) return [];
  const uid = spawnSync("id", ["-u", "mysql"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "mysql"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new UsageError(`Running as root, the drill's scratch ${flavour} server must run as an unprivileged user, and there is no \`mysql\` user here. Create one (useradd -r mysql) or run as a non-root user.`);
  }
  chownSync(dir, Number(uid.stdout.trim()), Number(gid.stdout.trim()));
  return ["--user=mysql"];
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export async function startScratchMysql(opts: ScratchMysqlOptions): Promise<ScratchMysql> {
  const log = opts.log ?? (() => undefined);
  const { flavour } = opts;
  const serverBin = findBinary(BINARIES[flavour].server, flavour, opts.binDir);
  const actual = serverFlavour(serverBin);
  if (actual !== flavour) {
    throw new UsageError(
      `${serverBin} is ${actual === undefined ? "not a working server" : `a ${ENGINE_LABELS[actual]} server`}, and this backup was taken from ${ENGINE_LABELS[flavour]}: its drill restores into the same flavour. Install ${ENGINE_LABELS[flavour]} (${BINARIES[flavour].packages}) and point --mysql-bin-dir / MYSQL_BIN_DIR at it, or name a ${ENGINE_LABELS[flavour]} server with --scratch-server-url.`,
    );
  }
  const installBin = BINARIES[flavour].install ? findBinary([BINARIES[flavour].install!], flavour, opts.binDir) : undefined;
  const parent = opts.parentDir ?? tmpdir();
  let dir: string;
  try {
    dir = mkdtempSync(join(parent, "drstack-scratch-my-"));
  } catch (err) {
    throw new UsageError(`Could not make the drill's scratch server directory under ${parent} (${errorMessage(err)}); it needs a writable temporary directory (TMPDIR; in the drill task, /tmp).`);
  }
  const dataDir = join(dir, "data");
  const socket = join(dir, SOCKET_NAME);
  let server: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let serverLog = "";
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => (stopping ??= shutdown());
  const shutdown = async (): Promise<void> => {
    try {
      if (server && server.exitCode === null && server.signalCode === null) {
        // SIGTERM is a clean shutdown for both servers.
        server.kill("SIGTERM");
        const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS).unref());
        if ((await Promise.race([exited.then(() => "exited" as const), timer])) === "timeout") {
          server.kill("SIGKILL");
          await exited;
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      log(`scratch ${flavour} stopped, ${dir} removed`);
    }
  };

  try {
    if (socket.length > MAX_SOCKET_PATH) {
      throw new UsageError(`The scratch server's directory ${dir} is too long a path for a unix socket (at most ${MAX_SOCKET_PATH - SOCKET_NAME.length - 1} characters); use a shorter parent directory (TMPDIR).`);
    }
    const userArgs = unprivilegedUser(dir, flavour);
    const [initCmd, initArgs] = installBin
      ? [installBin, ["--no-defaults", `--datadir=${dataDir}`, "--auth-root-authentication-method=normal", "--skip-test-db", ...userArgs]]
      : [serverBin, ["--no-defaults", "--initialize-insecure", `--datadir=${dataDir}`, ...userArgs]];
    const init = spawnSync(initCmd, initArgs, { encoding: "utf8" });
    if (init.status !== 0) {
      throw new UsageError(`Initialising the drill's scratch ${flavour} data directory in ${dataDir} failed (${init.error?.message ?? `exit ${init.status}`}):\n${tail(`${init.stdout ?? ""}${init.stderr ?? ""}`)}`);
    }
    const args = [
      "--no-defaults",
      `--datadir=${dataDir}`,
      `--socket=${socket}`,
      "--skip-networking",
      `--pid-file=${join(dir, "server.pid")}`,
      "--character-set-server=utf8mb4",
      // The restored events stay as the backup had them (ENABLED ones included), and none may fire between the load and
      // the re-dump the drill compares (nor run against another schema it names). MySQL's default is ON. (DISABLED would
      // also refuse SET GLOBAL event_scheduler = ON, but MariaDB then refuses the dump's CREATE EVENT.)
      "--event-scheduler=OFF",
      ...(flavour === "mysql" ? ["--mysqlx=OFF"] : []),
      ...userArgs,
    ];
    const child = spawn(serverBin, args, { stdio: ["ignore", "pipe", "pipe"] });
    server = child;
    exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const collect = (chunk: Buffer) => {
      serverLog = (serverLog + chunk.toString("utf8")).slice(-64_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));

    const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const failure = await Promise.race([
        spawnError.then((e) => `could not be started: ${e.message}`),
        exited.then(() => `exited (${child.exitCode ?? child.signalCode})`),
        accepts(socket).then((ok) => (ok ? "" : undefined)),
      ]);
      if (failure === "") break;
      if (failure !== undefined) throw new UsageError(`The drill's scratch ${flavour} server ${failure} before accepting connections. Its log:\n${tail(serverLog)}`);
      if (Date.now() > deadline) throw new UsageError(`The drill's scratch ${flavour} server did not accept connections on ${socket} within ${Math.round(timeoutMs / 1000)} s. Its log:\n${tail(serverLog)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    log(`scratch ${flavour} started in ${dir} (socket only)`);
    return { flavour, url: scratchMysqlUrl(flavour, socket), dir, socket, stop };
  } catch (err) {
    await stop().catch((e: unknown) => log(`could not stop the scratch ${flavour} server: ${errorMessage(e)}`));
    throw err;
  }
}

export function scratchMysqlUrl(flavour: MysqlFlavour, socket: string): string {
  return `${flavour}://root@localhost/mysql?socket=${encodeURIComponent(socket)}&sslmode=disable`;
}

async function accepts(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return false;
  try {
    const conn = await createConnection({ socketPath, user: "root", connectTimeout: 2000 });
    try {
      await conn.query("SELECT 1");
      return true;
    } finally {
      await conn.end().catch(() => undefined);
    }
  } catch {
    return false;
  }
}
