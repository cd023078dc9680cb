/**
 * PostgreSQL's part of a backup run: pg_dump in custom format of a snapshot
 * the session's REPEATABLE READ transaction exports, while the same
 * transaction counts and checksums every table, and `pg_restore --list` reads
 * the archive's table of contents off the stream as it is uploaded.
 */
import { spawn } from "node:child_process";
import { PassThrough } from "node:stream";
import { CheckFailedError, errorMessage, NotWriterError, UsageError } from "./errors";
import type { EngineSession, RunningDump } from "./engineDump";
import { DatabaseConnection, connect, parseDatabaseUrl, pgTool, pgToolEnv, serverVersion } from "./postgres";
import { startTocReader } from "./toc";
import { TABLE_CHECKSUM_METHOD, TableState, userTableStates } from "./checksums";

/** What is held between the dump tool and the upload before the tool is made to wait. */
export const DUMP_BUFFER_BYTES = 1024 * 1024;

export interface PostgresSessionOptions {
  source: DatabaseConnection;
  /** Directory holding pg_dump and pg_restore; PATH when unset. */
  pgBinDir?: string;
  /** pg_dump -Z level; pg_dump's default when unset. */
  compressLevel?: number;
  /** Bound on every query: the run's time left. */
  queryMs: number;
}

export async function openPostgresSession(opts: PostgresSessionOptions): Promise<EngineSession> {
  const db = parseDatabaseUrl(opts.source);
  const pgDump = pgTool("pg_dump", opts.pgBinDir);
  const pgRestore = pgTool("pg_restore", opts.pgBinDir);
  const client = await connect(opts.source, { queryMs: opts.queryMs });
  let server: { version: string; major: number } | undefined;

  return {
    engine: "postgres",
    database: db.database,
    tool: "pg_dump",
    async refuseReplica() {
      // A hot standby (`pg_is_in_recovery()`) is a replica: it is never the writer, whatever else says so.
      const res = await client.query<{ r: boolean }>("SELECT pg_is_in_recovery() AS r");
      if (res.rows[0]?.r) throw new NotWriterError("its database is in recovery (a read replica); only the writer's backups are published");
    },
    async checkTool() {
      server = await serverVersion(client);
      if (pgDump.major < server.major) {
        throw new UsageError(`${pgDump.path} is version ${pgDump.major} but the server runs ${server.version}; pg_dump must be at least the server's major version. Set --pg-bin-dir / PG_BIN_DIR to newer client tools.`);
      }
    },
    async startDump(log) {
      server ??= await serverVersion(client);
      const serverVersionText = server.version;
      // One snapshot for the dump and the counts.
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      const snap = await client.query<{ s: string }>("SELECT pg_export_snapshot() AS s");
      const args = ["--format=custom", `--snapshot=${snap.rows[0].s}`, "--no-password", `--dbname=${db.redacted}`];
      if (opts.compressLevel !== undefined) args.push(`--compress=${opts.compressLevel}`);
      const child = spawn(pgDump.path, args, { env: pgToolEnv(db), stdio: ["ignore", "pipe", "pipe"] });
      // Consumed from this tick on: Node resumes (and so discards) a child's
      // unread stdout when it exits, and a small dump can finish before the
      // upload has opened. The pipe keeps pg_dump's backpressure.
      const dumpOutput = child.stdout.pipe(new PassThrough({ highWaterMark: DUMP_BUFFER_BYTES }));
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (s: string) => {
        stderr = (stderr + s).slice(-4000);
      });
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.on("close", (code, signal) => resolve({ code, signal }));
        child.on("error", () => resolve({ code: -1, signal: null }));
      });
      log(`pg_dump of ${db.database} started (pid ${child.pid})`);
      const countsPromise: Promise<TableState[]> = userTableStates(client);
      countsPromise.catch(() => undefined); // observed in finish
      const toc = startTocReader(pgRestore.path);
      let teed = 0;
      async function* output(): AsyncGenerator<Buffer> {
        for await (const chunk of dumpOutput as AsyncIterable<Buffer>) {
          teed += chunk.length;
          await toc.write(chunk);
          yield chunk;
        }
      }
      const running: RunningDump = {
        pid: child.pid,
        output: output(),
        async finish() {
          const { code, signal } = await exit;
          if (code !== 0) throw new CheckFailedError(`pg_dump failed (${signal ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim() || "no message"}`);
          const summary = await toc.finish().catch((err: unknown) => {
            throw new CheckFailedError(`${errorMessage(err)} (pg_dump exited 0; ${teed} bytes of its output reached the upload${stderr.trim() ? `; it said: ${stderr.trim()}` : ""})`);
          });
          const counts = await countsPromise;
          if (summary.format !== "CUSTOM") throw new CheckFailedError(`archive format is "${summary.format}", expected CUSTOM`);
          const missing = counts.filter((t) => !summary.tableData.has(`${t.schema} ${t.table}`));
          if (missing.length > 0) throw new CheckFailedError(`archive TOC has no data for ${missing.map((t) => `${t.schema}.${t.table}`).join(", ")}`);
          return {
            tables: counts,
            tableChecksumMethod: TABLE_CHECKSUM_METHOD,
            fields: {
              engine: "postgres",
              serverVersion: serverVersionText,
              pgDumpVersion: pgDump.version,
              verification: { method: "pg_restore --list on the uploaded stream", tocEntries: summary.entries, tableDataEntries: summary.tableData.size },
            },
          };
        },
        kill() {
          toc.kill();
          child.kill("SIGKILL");
        },
        async release() {
          await client.query("COMMIT");
        },
      };
      return running;
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}
