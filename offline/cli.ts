import * as fs from "fs";
import * as path from "path";
import { evaluateRevision } from "./baseRevision";
import { diffEvaluations, diffFromPreview, DrDiff, EvaluatedStack, PreviewDocument } from "./diff";
import { evaluateBesidePeer, evaluateStack } from "./evaluate";
import { failsPolicy, SEVERITIES, Severity } from "./findings";
import { parseConfig } from "../infra/config";
import { withMeasuredRestore } from "../infra/objectives";
import { drillStatuses, measuredRestoreMinutes, readDrillReports } from "./drillHistory";
import { buildPlan, renderPlanText } from "./plan";
import { describeDisagreements, parseOverrides, sharedKeyDisagreements } from "./stackFiles";
import { renderDiffMarkdown } from "./summary";
import { UsageError } from "./usageError";

/**
 * `drstack`: the offline plan and the DR diff, without a cloud account or the
 * Pulumi CLI.
 *
 *   drstack plan --stack <name> [--stack-dir <dir>] [--set key=value]... [--drills <dir>] [--json]
 *   drstack diff --stack <name> [--stack-dir <dir>] (--rehearse-failover | --set key=value... | --base <rev>) [...]
 *   drstack diff --from-preview <preview.json> [...]
 */

export const EXIT = { ok: 0, failed: 1, usage: 2, findings: 3 } as const;

export const USAGE = `Usage:
  drstack plan --stack <name> [--stack-dir <dir>] [--set key=value]... [--drills <dir>] [--json]
      Evaluate the program for a stack offline and print its resources by
      concern, their DR properties and the stack's DR posture.
      --stack-dir reads Pulumi.<name>.yaml (and its peer's) from <dir>
      instead of beside Pulumi.yaml, e.g. --stack-dir examples/cheap.
      --drills judges the restore drills by the reports copied into <dir>
      (last passed, failed, stale, none) and puts their measured restore
      time in the objectives in place of the assumed one.
  drstack diff --stack <name> [--stack-dir <dir>] --rehearse-failover [--set key=value]...
  drstack diff --stack <name> [--stack-dir <dir>] --set key=value [--set key=value]...
      Compare the stack as configured with the same stack plus overrides
      (--rehearse-failover means --set activeSite=secondary).
  drstack diff --stack <name> --base <git revision> [--set key=value]...
      Compare the program at <git revision> with the working tree.
  drstack diff --from-preview <file.json> [--stack <name>]
      Judge the steps of a real \`pulumi preview --json\`.
  Diff options:
      --fail-on blocking|warning|never   exit 3 when a finding is this severe (default blocking)
      --json                             print the diff as JSON instead of Markdown
      --title <text>                     heading of the Markdown summary
Exit codes: 0 fine, 1 evaluation failed (e.g. bad config), 2 bad usage, 3 findings at --fail-on.`;

export { UsageError };

export interface Flags {
  stack?: string;
  /** Where the stack files are, when not beside Pulumi.yaml. */
  stackDir?: string;
  set: string[];
  json: boolean;
  base?: string;
  rehearseFailover: boolean;
  fromPreview?: string;
  failOn: Severity | "never";
  title?: string;
  /** A directory of restore-drill reports to judge the stack's drills and objectives by. */
  drills?: string;
}

const VALUE_FLAGS: Record<string, Array<"plan" | "diff">> = {
  "--stack": ["plan", "diff"],
  "--stack-dir": ["plan", "diff"],
  "--set": ["plan", "diff"],
  "--drills": ["plan"],
  "--base": ["diff"],
  "--from-preview": ["diff"],
  "--fail-on": ["diff"],
  "--title": ["diff"],
};
const BOOLEAN_FLAGS: Record<string, Array<"plan" | "diff">> = {
  "--json": ["plan", "diff"],
  "--rehearse-failover": ["diff"],
};

export function parseArguments(command: "plan" | "diff", args: readonly string[]): Flags {
  const flags: Flags = { set: [], json: false, rehearseFailover: false, failOn: "blocking" };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (BOOLEAN_FLAGS[name]?.includes(command) && inline === undefined) {
      if (name === "--json") flags.json = true;
      if (name === "--rehearse-failover") flags.rehearseFailover = true;
      continue;
    }
    if (!VALUE_FLAGS[name]?.includes(command)) {
      throw new UsageError(`drstack ${command}: unknown ${arg.startsWith("-") ? "flag" : "argument"} ${JSON.stringify(arg)}. Run \`drstack --help\` for the flags it takes.`);
    }
    const value = inline ?? args[++index];
    if (value === undefined || (inline === undefined && value.startsWith("--"))) {
      throw new UsageError(`drstack ${command}: ${name} needs a value`);
    }
    switch (name) {
      case "--stack":
        flags.stack = value;
        break;
      case "--stack-dir":
        flags.stackDir = value;
        break;
      case "--set":
        flags.set.push(value);
        break;
      case "--base":
        flags.base = value;
        break;
      case "--from-preview":
        flags.fromPreview = value;
        break;
      case "--title":
        flags.title = value;
        break;
      case "--drills":
        flags.drills = value;
        break;
      case "--fail-on":
        if (value !== "never" && !(SEVERITIES as readonly string[]).includes(value)) {
          throw new UsageError(`drstack diff: --fail-on must be blocking, warning or never, not ${JSON.stringify(value)}`);
        }
        flags.failOn = value as Severity | "never";
        break;
    }
  }
  return flags;
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The stack directory a `--stack-dir` names, relative to where drstack runs; a usage error when it holds no stack file. */
export function resolveStackDir(stackDir: string | undefined, cwd: string = process.cwd()): string | undefined {
  if (stackDir === undefined) {
    return undefined;
  }
  const resolved = path.resolve(cwd, stackDir);
  if (!fs.existsSync(resolved) || !fs.statSync(resolved).isDirectory()) {
    throw new UsageError(`--stack-dir ${stackDir}: no such directory (from ${cwd}). Name the directory that holds Pulumi.<stack>.yaml, e.g. --stack-dir examples/cheap.`);
  }
  return resolved;
}

/** The stack as the working tree has it, beside its peer; refused when the two stack files disagree on a shared key. */
async function evaluateHere(
  stack: string,
  overrides: Record<string, string>,
  stackDir?: string,
): Promise<EvaluatedStack & Awaited<ReturnType<typeof evaluateStack>>> {
  const disagreements = sharedKeyDisagreements(stack, overrides, stackDir);
  if (disagreements.length > 0) {
    throw new Error(describeDisagreements(disagreements));
  }
  return evaluateBesidePeer(stack, overrides, stackDir);
}

/** The evaluation's config (`drstack:key`, `aws:region`) keyed as the program reads its own namespace. */
function unprefixedConfig(config: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(config).flatMap(([key, value]) => (key.startsWith("drstack:") ? [[key.slice("drstack:".length), value]] : [])));
}

async function plan(flags: Flags, io: Io): Promise<number> {
  if (!flags.stack) {
    throw new UsageError("drstack plan: --stack <name> is required (e.g. --stack primary)");
  }
  const evaluation = await evaluateHere(flags.stack, parseOverrides(flags.set), resolveStackDir(flags.stackDir));
  const result = buildPlan(evaluation);
  if (flags.drills !== undefined) {
    const config = parseConfig(unprefixedConfig(evaluation.config), flags.stack);
    const reports = readDrillReports(path.resolve(flags.drills));
    result.drills = drillStatuses(reports, config.backups.databases, config.backups.drills.gapMinutes, config.backups.drills.task.timeoutMinutes, new Date(), config.site);
    const measured = measuredRestoreMinutes(result.drills);
    if (measured !== undefined && result.posture !== undefined) result.posture = withMeasuredRestore(result.posture, measured);
  }
  io.out(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderPlanText(result));
  return EXIT.ok;
}

function describeOverrides(overrides: Record<string, string>): string {
  return Object.entries(overrides)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
}

export async function computeDiff(flags: Flags): Promise<DrDiff & { errors?: string[] }> {
  const modes = [flags.fromPreview !== undefined, flags.base !== undefined, flags.rehearseFailover].filter(Boolean).length;
  if (flags.fromPreview !== undefined) {
    if (modes > 1 || flags.set.length > 0 || flags.stackDir !== undefined) {
      throw new UsageError("drstack diff: --from-preview judges a preview document on its own; drop --base, --rehearse-failover, --set and --stack-dir");
    }
    let document: PreviewDocument;
    try {
      document = JSON.parse(fs.readFileSync(flags.fromPreview, "utf8")) as PreviewDocument;
    } catch (error) {
      throw new Error(`cannot read ${flags.fromPreview} as JSON: ${(error as Error).message}`);
    }
    const diff = diffFromPreview(document, flags.title);
    if (flags.stack && diff.stack && !diff.stack.endsWith(flags.stack)) {
      throw new UsageError(`drstack diff: ${flags.fromPreview} is a preview of stack ${diff.stack}, not ${flags.stack}`);
    }
    return diff;
  }
  if (!flags.stack) {
    throw new UsageError("drstack diff: --stack <name> is required (or --from-preview <file>)");
  }
  if (flags.base !== undefined && flags.rehearseFailover) {
    throw new UsageError("drstack diff: --base compares revisions and --rehearse-failover compares config; run them separately");
  }
  if (flags.base !== undefined && flags.stackDir !== undefined) {
    throw new UsageError("drstack diff: --base evaluates the stack files of each revision beside its Pulumi.yaml; drop --stack-dir");
  }
  const stackDir = resolveStackDir(flags.stackDir);
  const overrides = parseOverrides(flags.set);
  if (flags.base !== undefined) {
    const base = evaluateRevision({ revision: flags.base, stack: flags.stack, overrides });
    const head = await evaluateHere(flags.stack, overrides);
    return diffEvaluations(base, head, flags.title ?? `${flags.stack}: ${flags.base} -> this change`);
  }
  if (flags.rehearseFailover) {
    overrides.activeSite = "secondary";
  }
  if (Object.keys(overrides).length === 0) {
    throw new UsageError("drstack diff: nothing to compare; give --rehearse-failover, --set key=value, --base <rev> or --from-preview <file>");
  }
  const base = await evaluateHere(flags.stack, {}, stackDir);
  const head = await evaluateHere(flags.stack, overrides, stackDir);
  const what = flags.rehearseFailover && flags.set.length === 0 ? "failover rehearsal (activeSite=secondary)" : `with ${describeOverrides(overrides)}`;
  const stackName = flags.stackDir === undefined ? flags.stack : `${flags.stack} (${flags.stackDir})`;
  return diffEvaluations(base, head, flags.title ?? `${stackName}: ${what}`);
}

async function diff(flags: Flags, io: Io): Promise<number> {
  const result = await computeDiff(flags);
  io.out(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderDiffMarkdown(result));
  if (failsPolicy(result.findings, flags.failOn)) {
    io.err(`drstack diff: findings at or above --fail-on ${flags.failOn}; exiting ${EXIT.findings}\n`);
    return EXIT.findings;
  }
  return EXIT.ok;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === "help" || command === "--help" || command === "-h") {
      (command === undefined ? io.err : io.out)(`${USAGE}\n`);
      return command === undefined ? EXIT.usage : EXIT.ok;
    }
    if (command !== "plan" && command !== "diff") {
      throw new UsageError(`drstack: unknown command ${JSON.stringify(command)}; the commands are plan and diff`);
    }
    const flags = parseArguments(command, rest);
    return command === "plan" ? await plan(flags, io) : await diff(flags, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${USAGE}\n`);
      return EXIT.usage;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.err(`drstack ${command}: evaluation failed:\n${message}\n`);
    return EXIT.failed;
  }
}

/** Entry point of bin/drstack. */
export function run(argv: readonly string[]): void {
  let finished = false;
  // A program that throws inside the stack also rejects promises the SDK
  // chains off it; main has reported the error, so they are not news.
  process.on("unhandledRejection", (reason) => {
    if (!finished) {
      return;
    }
    process.stderr.write(`drstack: late error after finishing: ${String(reason)}\n`);
  });
  const io: Io = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };
  void main(argv, io).then((code) => {
    finished = true;
    process.stdout.write("", () => process.exit(code));
  });
}
