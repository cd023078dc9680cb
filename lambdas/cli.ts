/**
 * `drstack-backup backup|verify|restore|drill`: the Lambda handlers' core as a
 * command for hosts that run it from cron against MinIO or S3.
 *
 * Started by bin/drstack-backup. Prints the result as JSON on stdout and
 * progress on stderr. Exit status:
 * 0 all good, 1 a check failed (backup not verified, verification or restore
 * check failed), 2 bad input or an unreachable or misconfigured service,
 * 3 backup did nothing because another run of the same backup holds its lock.
 */
import { parseArgs } from "node:util";
import { runBackup } from "./core/backup";
import { CheckFailedError, UsageError, errorMessage } from "./core/errors";
import { DrillResult, engineToDrill, runDrill } from "./core/drill";
import { runRestore } from "./core/restore";
import { LockHeldError } from "./core/runLock";
import { scratchServers } from "./core/scratchServers";
import { runVerify } from "./core/verify";
import { Command, SETTINGS, SettingKey, SettingSpec, Settings, backupOptions, drillOptions, restoreOptions, verifyOptions } from "./settings";

const COMMANDS: Record<Command, string> = {
  backup: "Dump one database with pg_dump into the backup bucket, verify it, publish it as latest",
  verify: "Check every protected database's newest backup: age vs RPO, checksum, replica in the peer bucket",
  restore: "Restore a backup (latest good, --before a time, or --manifest-key) with its engine's tools (from its manifest): the whole database into an empty one, or --table / --schema into any database; compare row counts and checksums",
  drill: "Restore drill: restore the newest backup (or --before) into a scratch database it creates and removes (on --scratch-server-url, else on a throwaway server of its own), check it, time it, write a report to the bucket",
};

export function usage(command?: Command): string {
  const cmds = command ? [command] : (Object.keys(COMMANDS) as Command[]);
  const lines = ["Usage: drstack-backup <command> [flags]", ""];
  for (const c of cmds) {
    lines.push(`${c}: ${COMMANDS[c]}`);
    for (const key of Object.keys(SETTINGS) as SettingKey[]) {
      const spec: SettingSpec = SETTINGS[key];
      if (!(spec.commands as readonly Command[]).includes(c)) continue;
      lines.push(`  --${spec.flag.padEnd(26)} ${spec.env.padEnd(26)} ${spec.kind === "boolean" ? "(bare flag) " : ""}${spec.description}`);
    }
    lines.push("");
  }
  lines.push("Each flag may instead be given by the environment variable beside it; flags win.");
  lines.push("Exit status: 0 ok, 1 a check failed, 2 bad input or unreachable service, 3 another run of the same backup holds its lock (nothing done).");
  return lines.join("\n");
}

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    io.out(usage());
    return command === undefined ? 2 : 0;
  }
  if (!(command in COMMANDS)) {
    io.err(`drstack-backup: unknown command "${command}". Commands: ${Object.keys(COMMANDS).join(", ")}. Run drstack-backup --help.`);
    return 2;
  }
  const cmd = command as Command;
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = { help: { type: "boolean" } };
  for (const spec of Object.values(SETTINGS) as SettingSpec[]) {
    if (!(spec.commands as readonly Command[]).includes(cmd)) continue;
    options[spec.flag] = spec.kind === "boolean" ? { type: "boolean" } : { type: "string", ...(spec.kind === "list" ? { multiple: true } : {}) };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options, strict: true, allowPositionals: false }));
  } catch (err) {
    io.err(`drstack-backup ${cmd}: ${errorMessage(err)}. Run drstack-backup ${cmd} --help for the flags it takes.`);
    return 2;
  }
  if (values.help) {
    io.out(usage(cmd));
    return 0;
  }
  const flags: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === "string") flags[k] = v;
    else if (Array.isArray(v)) flags[k] = v.join(",");
    else if (v === true && k !== "help") flags[k] = "true";
  }
  const settings = new Settings(flags, io.env);
  const log = (m: string) => io.err(`drstack-backup ${cmd}: ${m}`);

  try {
    switch (cmd) {
      case "backup": {
        const result = await runBackup({ ...(await backupOptions(settings)), log });
        io.out(JSON.stringify(result, null, 2));
        return 0;
      }
      case "verify": {
        const report = await runVerify({ ...verifyOptions(settings), log });
        io.out(JSON.stringify(report, null, 2));
        for (const t of report.targets) for (const f of t.failures) log(`${t.database}: ${f}`);
        return report.ok ? 0 : 1;
      }
      case "restore": {
        const report = await runRestore({ ...restoreOptions(settings), log });
        io.out(JSON.stringify(report, null, 2));
        return report.ok ? 0 : 1;
      }
      case "drill": {
        const opts = drillOptions(settings);
        // Without a server named, one of the backup's engine is started first: a server that cannot start is bad input, not a failed drill.
        const scratch = opts.scratchServer ? undefined : scratchServers({ pgBinDir: opts.pgBinDir, mysqlBinDir: opts.mysqlBinDir, log });
        let result: DrillResult;
        try {
          const scratchServer = opts.scratchServer ?? (await scratch!.serverFor(await engineToDrill(opts)));
          result = await runDrill({ ...opts, scratchServer, log });
        } finally {
          await scratch?.stopAll();
        }
        io.out(JSON.stringify(result, null, 2));
        for (const c of result.checks) if (!c.ok) log(`${c.name}: ${c.detail}`);
        return result.ok ? 0 : 1;
      }
    }
  } catch (err) {
    if (err instanceof LockHeldError) {
      io.err(`drstack-backup ${cmd}: ${err.message}`);
      return 3;
    }
    if (err instanceof UsageError) {
      io.err(`drstack-backup ${cmd}: ${err.message}`);
      return 2;
    }
    if (err instanceof CheckFailedError) {
      io.err(`drstack-backup ${cmd}: check failed: ${err.message}`);
      return 1;
    }
    io.err(`drstack-backup ${cmd}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}

