/**
 * Services that accept connections but never answer (a TCP server on
 * loopback that reads and stays silent), against real PostgreSQL and the
 * real CLI: every S3 and database call times out, and the run ends by its
 * deadline, which under Lambda comes from the function's own timeout.
 */
import { createServer, Server, Socket } from "node:net";
import { runBackup } from "../../lambdas/core/backup";
import { UsageError, WriterCheckError } from "../../lambdas/core/errors";
import { claimWriterCheck, ssmClient } from "../../lambdas/core/fencingState";
import { runVerify } from "../../lambdas/core/verify";
import { handler as backupHandler } from "../../lambdas/handlers/backup";
import { createDatabase, runCli, services, siteA, siteAFlags, superuserUrl } from "./helpers";

jest.setTimeout(120_000);

let silent: Server;
let silentEndpoint: string;
const sockets = new Set<Socket>();

beforeAll(async () => {
  await createDatabase("silentpeer", 100);
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.resume(); // read everything, answer nothing
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  silentEndpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

const seconds = (since: number) => (Date.now() - since) / 1000;

describe("a service that accepts connections and never answers", () => {
  it("the CLI backup ends by --deadline-seconds with exit 1 and a sentence, not a hang", async () => {
    const started = Date.now();
    const res = await runCli(["backup", ...siteAFlags(), "--s3-endpoint", silentEndpoint, "--tier", "standard", "--pg-bin-dir", services.pgBinDir, "--deadline-seconds", "10"], { DATABASE_URL: superuserUrl("silentpeer") });
    expect(res.stderr).toMatch(/the backup did not finish by its deadline .* \(10s; --deadline-seconds \/ BACKUP_DEADLINE_SECONDS/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.code).toBe(1);
    // 10 s of deadline, at most 10 s more for the clean-up behind it.
    expect(seconds(started)).toBeLessThan(25);
  });

  it("the Lambda handler's deadline is the function's remaining time less the margin", async () => {
    const saved = process.env;
    process.env = {
      ...saved,
      DATABASE_URL: superuserUrl("silentpeer"),
      BACKUP_BUCKET: siteA().bucket,
      S3_ENDPOINT: silentEndpoint,
      S3_ACCESS_KEY_ID: services.minio.accessKey,
      S3_SECRET_ACCESS_KEY: services.minio.secretKey,
      AWS_REGION: services.minio.region,
      BACKUP_TIER: "standard",
      PG_BIN_DIR: services.pgBinDir,
    };
    const started = Date.now();
    try {
      // A function with 38 s left keeps 30 s for clean-up: an 8 s deadline, well before the function's own timeout.
      await expect(backupHandler({}, { getRemainingTimeInMillis: () => 38_000 })).rejects.toThrow(/did not finish by its deadline .* \(8s;/);
    } finally {
      process.env = saved;
    }
    expect(seconds(started)).toBeLessThan(15);
  });

  it("each S3 request times out on its own (verify has no run deadline)", async () => {
    const started = Date.now();
    const bucket = { ...siteA(), endpoint: silentEndpoint, timeouts: { connectMs: 1000, idleMs: 1000 } };
    const run = runVerify({ targets: [{ database: "silentpeer", tier: "standard", dataClass: "db" }], bucket });
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(/The S3 endpoint http:\/\/127\.0\.0\.1:\d+ did not answer while trying to check bucket .*each request may be silent for 1s/);
    expect(seconds(started)).toBeLessThan(15);
  });

  it("the writer check's SSM read times out too (the claim of a site behind a silent endpoint)", async () => {
    const started = Date.now();
    const check = claimWriterCheck({ region: "us-east-1", claimParameter: "/silent/claim", fenceMarkerParameter: "/silent/fence", ssm: ssmClient("us-east-1", silentEndpoint) });
    await expect(check()).rejects.toThrow(WriterCheckError);
    expect(seconds(started)).toBeLessThan(20);
  });

  it("a database endpoint that never answers fails the connection in 10 s, well inside the deadline", async () => {
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    await expect(
      runBackup({ source: { url: `postgres://postgres:x@127.0.0.1:${port}/silentpeer`, label: "DATABASE_URL" }, target: { tier: "standard", dataClass: "db" }, bucket: siteA(), pgBinDir: services.pgBinDir, deadline: new Date(Date.now() + 60_000) }),
    ).rejects.toThrow(/Cannot reach PostgreSQL at 127\.0\.0\.1:\d+ .*Check the host and port in DATABASE_URL/);
    expect(seconds(started)).toBeLessThan(15);
  });
});
