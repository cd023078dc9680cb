/**
 * Throwaway servers for drills without a server to drill on, started on
 * first need for the engine of the backup being drilled (PostgreSQL, MySQL
 * or MariaDB; scratchPostgres.ts, scratchMysql.ts) and kept for the next
 * drill of the same engine until stopAll().
 */
import type { ScratchServerFor } from "./drill";
import { BackupEngine } from "./engine";
import type { DatabaseConnection } from "./postgres";
import { SCRATCH_MYSQL_LABEL, startScratchMysql } from "./scratchMysql";
import { SCRATCH_CLUSTER_LABEL, startScratchPostgres } from "./scratchPostgres";

export interface ScratchServers {
  serverFor: ScratchServerFor;
  /** Stops every server started; safe to call more than once. */
  stopAll(): Promise<void>;
}

export function scratchServers(opts: { pgBinDir?: string; mysqlBinDir?: string; log?: (message: string) => void }): ScratchServers {
  const started = new Map<BackupEngine, Promise<{ connection: DatabaseConnection; stop: () => Promise<void> }>>();
  const start = async (engine: BackupEngine) => {
    if (engine === "postgres") {
      const pg = await startScratchPostgres({ pgBinDir: opts.pgBinDir, log: opts.log });
      return { connection: { url: pg.url, label: SCRATCH_CLUSTER_LABEL }, stop: pg.stop };
    }
    const my = await startScratchMysql({ flavour: engine, binDir: opts.mysqlBinDir, log: opts.log });
    return { connection: { url: my.url, label: SCRATCH_MYSQL_LABEL }, stop: my.stop };
  };
  return {
    serverFor: async (engine) => {
      let server = started.get(engine);
      if (!server) {
        server = start(engine);
        started.set(engine, server);
      }
      return (await server).connection;
    },
    stopAll: async () => {
      const servers = [...started.values()];
      started.clear();
      await Promise.all(servers.map((s) => s.then((x) => x.stop(), () => undefined)));
    },
  };
}
