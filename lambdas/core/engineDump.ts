/**
 * What the backup run (backup.ts) asks of an engine: the database-side
 * preflight and one dump, as a byte stream to store plus the proof that it is
 * whole. The run owns everything else - fencing, the run lock, the multipart
 * upload, the stored-object check, the manifest and the pointer - once for
 * every engine. postgresBackup.ts and mysqlBackup.ts implement it.
 */
import type { BackupEngine } from "./engine";
import type { MysqlManifest, PostgresManifest } from "./manifest";
import type { TableState } from "./checksums";

/** A connection to the source database for one run, opened by the engine's `open…Session`. */
export interface EngineSession {
  readonly engine: BackupEngine;
  /** The database the URL names (the backup's default name). */
  readonly database: string;
  /** The dump tool as messages name it: pg_dump, mysqldump, mariadb-dump. */
  readonly tool: string;
  /** Throws NotWriterError when the server is a replica: a replica never backs up, whatever the fencing says. */
  refuseReplica(): Promise<void>;
  /** Throws UsageError when the dump tool cannot dump this server (version, flavour). */
  checkTool(): Promise<void>;
  /** Starts the dump; its output must be read from now on. */
  startDump(log: (message: string) => void): Promise<RunningDump>;
  close(): Promise<void>;
}

/** The engine's part of the manifest, in the order the manifest lists it. */
export type EngineManifestFields =
  | ({ engine: "postgres" } & Pick<PostgresManifest, "serverVersion" | "pgDumpVersion" | "verification">)
  | Pick<MysqlManifest, "engine" | "serverVersion" | "dumpFormat" | "dumpToolVersion" | "binlog" | "nonTransactionalTables" | "objects" | "verification">;

export interface DumpOutcome {
  /** Every table the backup promises, with the rows and checksum the dump holds for it. */
  tables: TableState[];
  tableChecksumMethod: string;
  fields: EngineManifestFields;
}

export interface RunningDump {
  pid?: number;
  /** The bytes to store, read once; ends when the dump is over (or fails when it cannot be read). */
  output: AsyncIterable<Buffer>;
  /**
   * After `output` ended, before the upload completes: throws CheckFailedError
   * unless the tool exited 0 and the dump holds every table the backup
   * promises; otherwise says what the manifest records.
   */
  finish(): Promise<DumpOutcome>;
  /** Stops the tool at once (deadline, lost lock, failed upload). */
  kill(): void;
  /** After the upload completed: ends what the dump held open on the server (PostgreSQL's snapshot transaction). */
  release(): Promise<void>;
}
