/**
 * Real PostgreSQL servers for a docker site's database container, on loopback:
 * a throwaway CA with a server certificate for 127.0.0.1/localhost uploaded
 * the way the program uploads it (root-owned, 0644), and servers started
 * through lambdas/site/postgres-entrypoint.sh exactly as the container's
 * command runs it. As root (the test machine, the container) the entrypoint
 * runs as root and the server command drops to the postgres user, as the
 * official image's docker-entrypoint.sh does.
 */
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { pgBinDir } from "./services/services";

export const PG_BIN = pgBinDir();
const REPO = join(__dirname, "..", "..");
export const ENTRYPOINT = join(REPO, "lambdas", "site", "postgres-entrypoint.sh");
export const INIT_SCRIPT = join(REPO, "lambdas", "site", "postgres-init.sh");

export const isRoot = process.getuid?.() === 0;

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const res = spawnSync(cmd, args, { encoding: "utf8", env });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${res.error?.message ?? res.status}): ${res.stderr}${res.stdout}`);
  return res.stdout;
}

export function serverUserIds(): { uid: number; gid: number } {
  if (!isRoot) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  return { uid: Number(run("id", ["-u", "postgres"]).trim()), gid: Number(run("id", ["-g", "postgres"]).trim()) };
}

/** Runs a command as the server's user: as root, postgres with its own HOME (libpq reads ~/.postgresql), exec'd in place. */
export function asServerUser(cmd: string[]): string[] {
  return isRoot ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env", "--", ...cmd] : cmd;
}

/** A directory the server's user owns (sockets, data). */
export function serverDir(path: string): string {
  mkdirSync(path, { recursive: true });
  const { uid, gid } = serverUserIds();
  chownSync(path, uid, gid);
  chmodSync(path, 0o700);
  return path;
}

export { freePort } from "./services/services";

/** ca.crt, server.crt and server.key in `dir`, as the program uploads them (root-owned, all 0644). */
export function uploadTlsFiles(dir: string): { dir: string; caFile: string } {
  if (spawnSync("openssl", ["version"]).status !== 0) throw new Error("openssl is not on PATH; the site replication test makes its CA with it (Debian: apt-get install openssl).");
  // The CA's own key and the request stay beside the upload, never in it.
  const work = `${dir}.ca`;
  mkdirSync(dir, { recursive: true });
  mkdirSync(work, { recursive: true });
  const caKey = join(work, "ca.key");
  const caFile = join(dir, "ca.crt");
  const keyFile = join(dir, "server.key");
  const csr = join(work, "server.csr");
  const ext = join(work, "server.ext");
  run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caFile, "-days", "2", "-subj", "/CN=drstack site test CA"]);
  run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", "/CN=127.0.0.1"]);
  writeFileSync(ext, "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = CA:FALSE\n");
  run("openssl", ["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-CAserial", join(work, "ca.srl"), "-out", join(dir, "server.crt"), "-days", "2", "-extfile", ext]);
  for (const f of ["ca.crt", "server.crt", "server.key"]) chmodSync(join(dir, f), 0o644);
  return { dir, caFile };
}

/** A data directory made by initdb with a superuser password (what the official image's entrypoint does on `initdb`). */
export function initdb(dataDir: string, superuserPassword: string): void {
  const parent = join(dataDir, "..");
  const pwFile = join(parent, "superuser-password");
  writeFileSync(pwFile, `${superuserPassword}\n`, { mode: 0o600 });
  const { uid, gid } = serverUserIds();
  chownSync(pwFile, uid, gid);
  const [cmd, ...args] = asServerUser([join(PG_BIN, "initdb"), "-D", dataDir, "-U", "postgres", "--pwfile", pwFile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]);
  run(cmd, args);
}

const shellQuote = (words: string[]) => words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(" ");

/**
 * The command of a writer's first start: PGDATA is empty, so the entrypoint
 * hands it to the command, which initialises it (initdb with a superuser
 * password, as the official image's entrypoint does) and execs the server.
 * postgres-init.sh then runs against the server (runInitScript) and writes
 * the completion marker later starts require.
 */
export function initdbAndServe(dataDir: string, layout: ServerLayout, superuserPassword: string, pwFile: string): string[] {
  writeFileSync(pwFile, `${superuserPassword}\n`, { mode: 0o600 });
  const { uid, gid } = serverUserIds();
  chownSync(pwFile, uid, gid);
  const init = asServerUser([join(PG_BIN, "initdb"), "-D", dataDir, "-U", "postgres", "--pwfile", pwFile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]);
  return ["bash", "-c", `${shellQuote(init)} >/dev/null && exec ${shellQuote(serverCommand(dataDir, layout))}`];
}

export interface EntrypointRun {
  child: ChildProcess;
  /** stdout and stderr together, so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The entrypoint with only the given settings (no PG* of the test's own leaks in), PATH with the server binaries first, as in the image. */
/**
 * The container's routing table as the tests give it: a Docker bridge network's
 * default route via 172.18.0.1 (the gateway docker-proxy connects from), so
 * pg_hba.conf's gateway rule is the same on every machine.
 */
export const ROUTE_FILE = (() => {
  const dir = mkdtempSync(join(tmpdir(), "drstack-route-"));
  chmodSync(dir, 0o755);
  const file = join(dir, "route");
  writeFileSync(file, "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n");
  chmodSync(file, 0o644);
  return file;
})();
export const TEST_GATEWAY = "172.18.0.1";

export function runEntrypoint(env: Record<string, string>, command: string[]): EntrypointRun {
  const child = spawn(ENTRYPOINT, command, { env: { PATH: `${PG_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`, DRSTACK_ROUTE_FILE: ROUTE_FILE, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const collect = (chunk: Buffer) => {
    out = (out + chunk.toString("utf8")).slice(-64_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, output: () => out, exited };
}

/** Runs the entrypoint to its end (a command that is not a server); resolves with its exit code and output. */
export async function runEntrypointToEnd(env: Record<string, string>, command: string[]): Promise<{ code: number | null; output: string }> {
  const r = runEntrypoint(env, command);
  const { code } = await r.exited;
  return { code, output: r.output() };
}

export interface ServerLayout {
  port: number;
  socketDir: string;
  tlsTarget: string;
}

/** The server command the program passes (ssl from the copied files, replication settings), on loopback with its own socket. */
export function serverCommand(dataDir: string, layout: ServerLayout): string[] {
  const settings = [
    "listen_addresses=127.0.0.1",
    `unix_socket_directories=${layout.socketDir}`,
    "ssl=on",
    `ssl_cert_file=${layout.tlsTarget}/server.crt`,
    `ssl_key_file=${layout.tlsTarget}/server.key`,
    `ssl_ca_file=${layout.tlsTarget}/ca.crt`,
    "wal_level=replica",
    "max_wal_senders=10",
    "max_replication_slots=10",
    "max_slot_wal_keep_size=256",
    "hot_standby=on",
    "password_encryption=scram-sha-256",
    "dynamic_shared_memory_type=mmap",
    "logging_collector=off",
    "fsync=off",
    "max_connections=30",
  ];
  return asServerUser([join(PG_BIN, "postgres"), "-D", dataDir, "-p", String(layout.port), ...settings.flatMap((s) => ["-c", s])]);
}

export function tlsUrl(user: string, password: string, port: number, caFile: string, database = "postgres"): string {
  return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}`;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, detail: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ""}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function withUrl<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Waits until the server started by `run` answers over TLS as `url`'s user, or fails with its output if it exits first. */
export async function waitUntilAccepting(run: EntrypointRun, url: string): Promise<void> {
  let exited = false;
  void run.exited.then(() => (exited = true));
  await waitFor(
    "the server accepting TLS connections",
    async () => {
      if (exited) throw new Error(`the entrypoint exited early:\n${run.output()}`);
      return withUrl(url, (c) => c.query("SELECT 1").then(() => true));
    },
    60_000,
    run.output,
  );
}

/** Fast shutdown (SIGINT) of a server the entrypoint exec'd, SIGKILL after 20 s. */
export async function stopServer(run: EntrypointRun): Promise<void> {
  if (run.child.exitCode !== null || run.child.signalCode !== null) return;
  run.child.kill("SIGINT");
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 20_000).unref());
  if ((await Promise.race([run.exited.then(() => "exited" as const), timer])) === "timeout") {
    run.child.kill("SIGKILL");
    await run.exited;
  }
}

/** The init script as the official image runs it: as the server's user, over the unix socket. */
export function runInitScript(socketDir: string, port: number, env: Record<string, string>): { status: number | null; output: string } {
  const vars = Object.entries({ PATH: `${PG_BIN}:/usr/bin:/bin`, PGHOST: socketDir, PGPORT: String(port), POSTGRES_USER: "postgres", DRSTACK_ENTRYPOINT: ENTRYPOINT, DRSTACK_ROUTE_FILE: ROUTE_FILE, ...env }).map(([k, v]) => `${k}=${v}`);
  const [cmd, ...args] = asServerUser(["env", ...vars, "bash", INIT_SCRIPT]);
  const res = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}
