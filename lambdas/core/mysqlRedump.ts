/**
 * A restored MySQL/MariaDB database dumped again, to compare with the
 * backup's manifest: the engine's dump tool with the backup's flags, its
 * output read (never stored) by the same parser that summed the backup's
 * tuples, so equal rows give equal checksums.
 */
import { spawn } from "node:child_process";
import { ENGINE_LABELS, MysqlEngine } from "./engine";
import { CheckFailedError, UsageError } from "./errors";
import { MYSQL_TOOLS, mysqlTool, mysqlToolArgs, ParsedMysqlUrl, withDefaultsFile } from "./mysql";
import { mysqlDumpArgs } from "./mysqlBackup";
import { SqlDumpReader, SqlDumpSummary } from "./sqlDump";

export async function redumpTables(opts: { dest: ParsedMysqlUrl; engine: MysqlEngine; binDir?: string }): Promise<SqlDumpSummary> {
  const { dest, engine } = opts;
  const tool = mysqlTool(MYSQL_TOOLS[engine].dump, opts.binDir);
  if (tool.flavour !== engine) {
    throw new UsageError(`${tool.path} is ${ENGINE_LABELS[tool.flavour]}'s ${tool.display}; the restored ${ENGINE_LABELS[engine]} database is compared with its backup by ${MYSQL_TOOLS[engine].dump}. Set --mysql-bin-dir / MYSQL_BIN_DIR to ${ENGINE_LABELS[engine]}'s client tools.`);
  }
  return withDefaultsFile(dest, async (defaultsFile) => {
    const child = spawn(tool.path, [...mysqlToolArgs(dest, engine, defaultsFile), ...mysqlDumpArgs(engine, dest.database)], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr = (stderr + s).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on("close", resolve);
      child.on("error", () => resolve(null));
    });
    const reader = new SqlDumpReader();
    try {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) reader.write(chunk);
    } catch (err) {
      child.kill("SIGKILL");
      await exited;
      throw err;
    }
    const code = await exited;
    if (code !== 0) throw new CheckFailedError(`${tool.display} of the restored database ${dest.database} failed (exit ${code}), so the restore could not be compared with the backup: ${stderr.trim()}`);
    return reader.end();
  });
}
