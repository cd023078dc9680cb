/**
 * Container entry point of the scheduled restore drill: an ECS task on
 * Fargate runs the backup image with `node /var/task/tasks/drill.js`
 * (DRILL_TASK_COMMAND in infra/backupContract.ts). Settings come from the
 * environment (lambdas/settings.ts, drillHandlerOptions); the drills run as
 * lambdas/core/scheduledDrills.ts describes. It prints the summary as JSON and exits
 * 0 when every drill passed, 1 when one failed or could not run, and 2 for
 * settings it cannot use, so the task's stopped state says which.
 *
 * DRILL_DEADLINE_SECONDS bounds the run: a task has no timeout of its own,
 * and a drill that never ends would never report. SIGTERM (ECS stopping the
 * task, which sends SIGKILL after the container's stop timeout) ends it the
 * same way: the drill in flight is stopped and recorded as failed, and every
 * result is published before the process exits.
 */
import { errorMessage, UsageError } from "../core/errors";
import { DrillSummary, DrillsFailedError, runScheduledDrills } from "../core/scheduledDrills";
import { DrillHandlerOptions, drillHandlerOptions } from "../settings";

export const EXIT_PASSED = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_SETTINGS = 2;

export interface DrillTaskResult {
  exitCode: number;
  summary?: DrillSummary;
  error?: string;
}

export async function runDrillTask(env: NodeJS.ProcessEnv, stop: AbortSignal, log: (message: string) => void): Promise<DrillTaskResult> {
  let opts: DrillHandlerOptions;
  try {
    opts = drillHandlerOptions(env);
  } catch (err) {
    return { exitCode: err instanceof UsageError ? EXIT_BAD_SETTINGS : EXIT_FAILED, error: errorMessage(err) };
  }
  const deadline = opts.deadlineSeconds !== undefined ? new Date(Date.now() + opts.deadlineSeconds * 1000) : undefined;
  try {
    const summary = await runScheduledDrills({ ...opts, ...(deadline ? { deadline } : {}), stop, log });
    return { exitCode: EXIT_PASSED, summary };
  } catch (err) {
    return { exitCode: err instanceof UsageError ? EXIT_BAD_SETTINGS : EXIT_FAILED, ...(err instanceof DrillsFailedError ? { summary: err.summary } : {}), error: errorMessage(err) };
  }
}

async function main(): Promise<void> {
  const stop = new AbortController();
  // Every SIGTERM, not only the first: a second must not kill Node before the results are published.
  process.on("SIGTERM", () => stop.abort());
  const result = await runDrillTask(process.env, stop.signal, (message) => console.error(message));
  if (result.error) console.error(`drill: ${result.error}`);
  process.stdout.write(`${JSON.stringify(result.summary ?? { ok: false, error: result.error })}\n`, () => process.exit(result.exitCode));
}

if (require.main === module) {
  void main();
}
