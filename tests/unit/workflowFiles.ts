import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

/** The GitHub workflows as data, for the tests that pin what runs where. */

export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
  "continue-on-error"?: boolean | string;
}

/** `concurrency:` is either a group name or a group with its cancel setting. */
export type Concurrency = string | { group: string; "cancel-in-progress"?: boolean | string };

export interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  concurrency?: Concurrency;
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  "continue-on-error"?: boolean | string;
  steps: Step[];
}

export interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: Concurrency;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

export const WORKFLOWS_DIR = path.join(__dirname, "..", "..", ".github", "workflows");

export const WORKFLOW_FILES = fs
  .readdirSync(WORKFLOWS_DIR)
  .filter((file) => file.endsWith(".yml"))
  .sort();

export function workflow(file: string): Workflow {
  return parse(fs.readFileSync(path.join(WORKFLOWS_DIR, file), "utf8")) as Workflow;
}

export function environmentOf(job: Job): string | undefined {
  return typeof job.environment === "string" ? job.environment : job.environment?.name;
}

export function groupOf(concurrency: Concurrency | undefined): string | undefined {
  return typeof concurrency === "string" ? concurrency : concurrency?.group;
}

export function cancelsInProgress(concurrency: Concurrency | undefined): boolean {
  return typeof concurrency === "object" && concurrency["cancel-in-progress"] !== undefined && concurrency["cancel-in-progress"] !== false;
}

export function needsOf(job: Job): string[] {
  return job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
}

/** Every place a job can name a secret or a role: step inputs, env, run scripts, job conditions. */
export function jobText(job: Job): string {
  return JSON.stringify(job);
}

/**
 * Whether a step runs the Pulumi CLI: a shell line (or `$(...)`, `&&`, `;`, `|`)
 * that starts with `pulumi `, or the Pulumi action given a command. Text that
 * merely prints a pulumi command (`echo "pulumi ..."`) does not count.
 */
export function runsPulumi(step: Step): boolean {
  if (step.uses?.startsWith("pulumi/actions") && step.with?.command !== undefined) return true;
  return /(^|&&|;|\||\$\()\s*pulumi\s/m.test(step.run ?? "");
}

export interface PulumiStep {
  file: string;
  jobName: string;
  job: Job;
  step: Step;
}

/** Every step of every workflow that runs the Pulumi CLI. */
export function pulumiSteps(): PulumiStep[] {
  return WORKFLOW_FILES.flatMap((file) =>
    Object.entries(workflow(file).jobs).flatMap(([jobName, job]) =>
      job.steps.filter(runsPulumi).map((step) => ({ file, jobName, job, step })),
    ),
  );
}
