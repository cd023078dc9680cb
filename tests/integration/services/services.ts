/**
 * Starts the real services the backup code talks to, on loopback and free
 * ports: PostgreSQL 15, MariaDB (TLS from the same CA, binary log on), two
 * MinIO servers (site A replicates its bucket to site B) and moto_server for
 * CloudWatch and SNS. Shared by the integration
 * suite's globalSetup and by the benchmark, so both exercise the same stack.
 */
import { spawn, spawnSync, ChildProcess, SpawnOptions } from "node:child_process";
import { mkdtempSync, mkdirSync, chownSync, chmodSync, writeFileSync, readFileSync, existsSync, rmSync, openSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir, homedir } from "node:os";
import { join } from "node:path";

/** Where every started service can be reached; written to a JSON file for tests. */
export interface ServiceCoordinates {
  workDir: string;
  pgBinDir: string;
  postgres: {
    host: string;
    port: number;
    superuser: string;
    password: string;
    pid: number;
    dataDir: string;
    /** The CA that signed the server's certificate (for 127.0.0.1 and localhost), as RDS's bundle is for RDS. */
    caFile: string;
    /** A role the server admits over TLS only, as RDS does with rds.force_ssl = 1. */
    tlsOnlyUser: string;
  };
  /** MariaDB on loopback TCP with TLS, as RDS for MariaDB is reached; log_bin on, so binlog coordinates and GTIDs exist. */
  mariadb: {
    host: string;
    port: number;
    /** Has every privilege, with GRANT OPTION, from any host. */
    superuser: string;
    password: string;
    pid: number;
    dataDir: string;
    /** The same CA as postgres.caFile: it signed this server's certificate too. */
    caFile: string;
    /** Directory with mariadbd, mariadb-install-db, mariadb and mariadb-dump. */
    binDir: string;
  };
  minio: {
    accessKey: string;
    secretKey: string;
    region: string;
    siteA: { endpoint: string; bucket: string; pid: number };
    siteB: { endpoint: string; bucket: string; pid: number };
    /** A bucket on site A created with Object Lock (and so versioning), without default retention: uploads lock themselves. */
    lockedBucket: string;
  };
  moto: { endpoint: string; pid: number };
  mcBin: string;
  mcConfigDir: string;
}

export const SERVICES_FILE = join(__dirname, "..", "..", "..", ".services", "integration.json");

function findBinary(name: string, envVar: string, dirs: string[]): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  for (const dir of [...dirs, ...(process.env.PATH ?? "").split(":")]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`${name} not found on PATH or in ${dirs.join(", ")}. Run scripts/install-services.sh, or set ${envVar}.`);
}

export function pgBinDir(): string {
  return process.env.PG_BIN_DIR ?? "/usr/lib/postgresql/15/bin";
}

/** A port nothing listens on now: bound once to get a free number, then closed. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, what: string, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, "127.0.0.1");
      sock.once("connect", () => { sock.destroy(); resolve(true); });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : "";
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms. Log tail:\n${log}`);
}

function startDaemon(started: number[], cmd: string, args: string[], logFile: string, opts: SpawnOptions = {}): ChildProcess {
  const out = openSync(logFile, "a");
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", out, out], detached: true });
  child.unref();
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  started.push(child.pid);
  return child;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const res = spawnSync(cmd, args, { env, encoding: "utf8" });
  if (res.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${res.status}): ${res.stderr || res.stdout}`);
  }
  return res.stdout;
}

const TLS_ONLY_USER = "tls_only";

/**
 * A throwaway CA and a server certificate for 127.0.0.1 and localhost signed
 * by it, so clients can verify the server (sslmode=verify-full) the way the
 * backup job verifies RDS against its CA bundle.
 */
function serverCertificate(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const caKey = join(dir, "ca.key");
  const caFile = join(dir, "ca.pem");
  const keyFile = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certFile = join(dir, "server.pem");
  const extFile = join(dir, "server.ext");
  run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caFile, "-days", "2", "-subj", "/CN=drstack test CA"]);
  run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", "/CN=127.0.0.1"]);
  writeFileSync(extFile, "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n");
  run("openssl", ["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-out", certFile, "-days", "2", "-extfile", extFile]);
  // PostgreSQL refuses a key readable by others, and runs as the postgres user when we are root.
  chmodSync(keyFile, 0o600);
  chmodSync(caFile, 0o644);
  if (process.getuid?.() === 0) run("chown", ["postgres", keyFile, certFile]);
  return { caFile, certFile, keyFile };
}

export function mariadbBinDir(): string {
  return process.env.MYSQL_BIN_DIR ?? "/usr/bin";
}

/** mariadbd lives in sbin on Debian; the clients in bin. */
function mariadbServerBinary(binDir: string): string {
  const candidates = [join(binDir, "mariadbd"), "/usr/sbin/mariadbd"];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`mariadbd not found in ${candidates.join(" or ")}. Run scripts/install-services.sh, or set MYSQL_BIN_DIR.`);
  return found;
}

const MARIADB_SUPERUSER = "drstack";

/**
 * MariaDB: a fresh data directory, TCP on 127.0.0.1 only, TLS with a
 * certificate from the PostgreSQL service's CA, and the binary log on. As
 * root it runs as the `mysql` user (the Debian package creates it).
 */
async function startMariadb(workDir: string, started: number[], tls: { caFile: string; certFile: string; keyFile: string }): Promise<{ coords: ServiceCoordinates["mariadb"]; port: number; logFile: string; ready: () => Promise<void> }> {
  const binDir = mariadbBinDir();
  const server = mariadbServerBinary(binDir);
  const installDb = findBinary("mariadb-install-db", "MARIADB_INSTALL_DB", [binDir]);
  const client = findBinary("mariadb", "MARIADB_CLIENT", [binDir]);
  const dir = join(workDir, "mariadb");
  mkdirSync(dir);
  const dataDir = join(dir, "data");
  const certFile = join(dir, "server.pem");
  const keyFile = join(dir, "server.key");
  writeFileSync(certFile, readFileSync(tls.certFile));
  writeFileSync(keyFile, readFileSync(tls.keyFile), { mode: 0o600 });
  const root = process.getuid?.() === 0;
  if (root) run("chown", ["-R", "mysql:mysql", dir]);
  const userArgs = root ? ["--user=mysql"] : [];
  run(installDb, ["--no-defaults", `--datadir=${dataDir}`, "--auth-root-authentication-method=normal", "--skip-test-db", ...userArgs]);
  const port = await freePort();
  const socket = join(dir, "mysqld.sock");
  const logFile = join(workDir, "mariadb.log");
  const child = startDaemon(started, server, [
    "--no-defaults", `--datadir=${dataDir}`, `--port=${port}`, "--bind-address=127.0.0.1", `--socket=${socket}`, `--pid-file=${join(dir, "mariadbd.pid")}`,
    ...userArgs, "--skip-name-resolve", `--log-error=${logFile}`,
    `--ssl-ca=${tls.caFile}`, `--ssl-cert=${certFile}`, `--ssl-key=${keyFile}`,
    `--log-bin=${join(dir, "binlog")}`, "--server-id=1", "--binlog-format=ROW",
    "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
  ], join(workDir, "mariadb.out"));
  const password = "mariadbpw-" + Math.random().toString(36).slice(2, 10);
  const ready = async () => {
    await waitForPort(port, "MariaDB", logFile);
    // Over the socket as the passwordless root mariadb-install-db made: the TCP superuser the tests use, with a password.
    run(client, ["--no-defaults", `--socket=${socket}`, "-uroot", "-e",
      `CREATE USER '${MARIADB_SUPERUSER}'@'%' IDENTIFIED BY '${password}'; GRANT ALL PRIVILEGES ON *.* TO '${MARIADB_SUPERUSER}'@'%' WITH GRANT OPTION;`]);
  };
  return { coords: { host: "127.0.0.1", port, superuser: MARIADB_SUPERUSER, password, pid: child.pid!, dataDir, caFile: tls.caFile, binDir }, port, logFile, ready };
}

/** PostgreSQL refuses to run as root: drop to the `postgres` user when we are root. */
function asPgUser(bin: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

export async function startServices(): Promise<ServiceCoordinates> {
  const workDir = mkdtempSync(join(tmpdir(), "drstack-services-"));
  const started: number[] = [];
  try {
    return await start(workDir, started);
  } catch (err) {
    // Don't leave half a stack running when one service fails to come up.
    for (const pid of started) {
      try { process.kill(-pid, "SIGKILL"); } catch { /* already gone */ }
    }
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}

async function start(workDir: string, started: number[]): Promise<ServiceCoordinates> {
  // The postgres user must be able to traverse to its own data dir inside.
  chmodSync(workDir, 0o711);
  const pgBin = pgBinDir();
  if (!existsSync(join(pgBin, "postgres"))) {
    throw new Error(`PostgreSQL binaries not found in ${pgBin}. Run scripts/install-services.sh, or set PG_BIN_DIR.`);
  }
  const goBin = join(homedir(), "go", "bin");
  const minioBin = findBinary("minio", "MINIO_BIN", [goBin]);
  const mcBin = findBinary("mc", "MC_BIN", [goBin]);
  const motoBin = findBinary("moto_server", "MOTO_SERVER_BIN", []);

  // PostgreSQL: data dir owned by the postgres user when we are root.
  const pgDir = join(workDir, "pg");
  mkdirSync(pgDir);
  if (process.getuid?.() === 0) {
    const uid = Number(run("id", ["-u", "postgres"]).trim());
    const gid = Number(run("id", ["-g", "postgres"]).trim());
    chownSync(pgDir, uid, gid);
  }
  const pgPassword = "superpw-" + Math.random().toString(36).slice(2, 10);
  const pwFile = join(pgDir, "pw");
  writeFileSync(pwFile, pgPassword + "\n", { mode: 0o644 });
  if (process.getuid?.() === 0) run("chown", ["postgres", pwFile]);
  const dataDir = join(pgDir, "data");
  const [initCmd, initArgs] = asPgUser(join(pgBin, "initdb"), [
    "-D", dataDir, "-U", "postgres", "--pwfile", pwFile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
  ]);
  run(initCmd, initArgs);
  const { caFile, certFile, keyFile } = serverCertificate(pgDir);
  // Like RDS with rds.force_ssl: this role is refused on a connection without TLS.
  const hba = join(dataDir, "pg_hba.conf");
  writeFileSync(hba, `hostnossl all ${TLS_ONLY_USER} 127.0.0.1/32 reject\n` + readFileSync(hba, "utf8"));
  const pgPort = await freePort();
  const [pgCmd, pgArgs] = asPgUser(join(pgBin, "postgres"), [
    "-D", dataDir, "-p", String(pgPort), "-c", "listen_addresses=127.0.0.1", "-k", pgDir,
    "-c", "ssl=on", "-c", `ssl_cert_file=${certFile}`, "-c", `ssl_key_file=${keyFile}`,
    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_wal_size=4GB",
  ]);
  const pgLog = join(workDir, "postgres.log");
  const pg = startDaemon(started, pgCmd, pgArgs, pgLog);
  const mariadb = await startMariadb(workDir, started, { caFile, certFile, keyFile });

  // Two MinIO sites with the same root credentials.
  const accessKey = "drstackadmin";
  const secretKey = "drstack-secret-" + Math.random().toString(36).slice(2, 10);
  const minioEnv = { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: "off" };
  const sites: { endpoint: string; bucket: string; pid: number; port: number }[] = [];
  for (const site of ["a", "b"]) {
    const port = await freePort();
    const consolePort = await freePort();
    const dir = join(workDir, `minio-${site}`);
    mkdirSync(dir);
    const log = join(workDir, `minio-${site}.log`);
    const child = startDaemon(started, minioBin, ["server", dir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet"], log, { env: minioEnv });
    sites.push({ endpoint: `http://127.0.0.1:${port}`, bucket: `drstack-backups-site${site}`, pid: child.pid!, port });
  }

  const motoPort = await freePort();
  const motoLog = join(workDir, "moto.log");
  const moto = startDaemon(started, motoBin, ["-H", "127.0.0.1", "-p", String(motoPort)], motoLog);

  await waitForPort(pgPort, "PostgreSQL", pgLog);
  await mariadb.ready();
  for (const [i, s] of sites.entries()) await waitForPort(s.port, `MinIO site ${i ? "B" : "A"}`, join(workDir, `minio-${i ? "b" : "a"}.log`));
  await waitForPort(motoPort, "moto_server", motoLog);

  // Buckets with versioning (replication requires it on both sides), then A -> B replication.
  const mcConfigDir = join(workDir, "mc");
  const mcEnv = { ...process.env, MC_CONFIG_DIR: mcConfigDir };
  const mc = (...args: string[]) => run(mcBin, ["--quiet", ...args], mcEnv);
  const [a, b] = sites;
  const waitReady = async (alias: string) => {
    for (let i = 0; i < 100; i++) {
      const res = spawnSync(mcBin, ["--quiet", "ready", alias], { env: mcEnv, encoding: "utf8", timeout: 10_000 });
      if (res.status === 0) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`MinIO ${alias} never became ready`);
  };
  mc("alias", "set", "sitea", a.endpoint, accessKey, secretKey);
  mc("alias", "set", "siteb", b.endpoint, accessKey, secretKey);
  await waitReady("sitea");
  await waitReady("siteb");
  mc("mb", "--with-versioning", `sitea/${a.bucket}`);
  mc("mb", "--with-versioning", `siteb/${b.bucket}`);
  mc("replicate", "add", `sitea/${a.bucket}`, "--remote-bucket", `http://${accessKey}:${secretKey}@127.0.0.1:${b.port}/${b.bucket}`, "--priority", "1");
  // Object Lock can only be enabled when a bucket is created, as on S3.
  const lockedBucket = "drstack-backups-locked";
  mc("mb", "--with-lock", `sitea/${lockedBucket}`);

  const coords: ServiceCoordinates = {
    workDir,
    pgBinDir: pgBin,
    postgres: { host: "127.0.0.1", port: pgPort, superuser: "postgres", password: pgPassword, pid: pg.pid!, dataDir, caFile, tlsOnlyUser: TLS_ONLY_USER },
    mariadb: mariadb.coords,
    minio: {
      accessKey,
      secretKey,
      region: "us-east-1",
      siteA: { endpoint: a.endpoint, bucket: a.bucket, pid: a.pid },
      siteB: { endpoint: b.endpoint, bucket: b.bucket, pid: b.pid },
      lockedBucket,
    },
    moto: { endpoint: `http://127.0.0.1:${motoPort}`, pid: moto.pid! },
    mcBin,
    mcConfigDir,
  };
  return coords;
}

export async function stopServices(coords: ServiceCoordinates): Promise<void> {
  const pids = [coords.postgres.pid, ...(coords.mariadb ? [coords.mariadb.pid] : []), coords.minio.siteA.pid, coords.minio.siteB.pid, coords.moto.pid];
  for (const pid of pids) {
    try { process.kill(-pid, "SIGTERM"); } catch { /* already gone */ }
  }
  // Give PostgreSQL and MariaDB a moment to shut down before the data dir is removed.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) {
    try { process.kill(-pid, "SIGKILL"); } catch { /* already gone */ }
  }
  rmSync(coords.workDir, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export function readCoordinates(): ServiceCoordinates {
  const file = process.env.DRSTACK_SERVICES_FILE ?? SERVICES_FILE;
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: run the integration tests with \`npm run test:integration\` so globalSetup starts the services.`);
  }
  return JSON.parse(readFileSync(file, "utf8")) as ServiceCoordinates;
}
