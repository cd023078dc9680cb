import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_ROOT } from "../infra/configSchema";
import type { EvaluatedStack } from "./diff";
import { UsageError } from "./usageError";

/**
 * Evaluates the program as it was at another git revision: the revision is
 * checked out into a temporary worktree that borrows this checkout's
 * node_modules, and evaluated there in a child process (a program is loaded
 * once per process, and the base's code must not mix with ours). The base's
 * own `drstack plan --json` is used when it has one; a revision from before
 * the CLI existed is evaluated through its `offline/evaluate.ts`.
 */

function git(args: string[], cwd: string): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`git ${args.join(" ")} failed: ${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout.trim();
}

/** The commit a revision names, or a usage error that says why there is none and what to do. */
export function resolveCommit(revision: string, projectRoot: string): string {
  const result = spawnSync("git", ["rev-parse", "--verify", "--quiet", `${revision}^{commit}`], { cwd: projectRoot, encoding: "utf8" });
  if (result.status === 0 && result.stdout.trim() !== "") {
    return result.stdout.trim();
  }
  const reason = result.stderr.trim() || "git knows no commit by that name here";
  const hint = /^origin\//.test(revision) ? ` Fetch it first (git fetch ${revision.replace("/", " ")}),` : "";
  throw new UsageError(`--base ${revision}: not a commit of this repository (${reason}).${hint} Name a branch, tag or commit that exists, e.g. --base HEAD~1.`);
}

export interface RevisionEvaluationOptions {
  revision: string;
  stack: string;
  overrides: Record<string, string>;
  /** Where this checkout is (defaults to the project root this code runs from). */
  projectRoot?: string;
}

export function evaluateRevision(options: RevisionEvaluationOptions): EvaluatedStack {
  const projectRoot = options.projectRoot ?? PROJECT_ROOT;
  const top = git(["rev-parse", "--show-toplevel"], projectRoot);
  const commit = resolveCommit(options.revision, projectRoot);
  const projectInRepo = path.relative(fs.realpathSync(top), fs.realpathSync(projectRoot));
  const worktree = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-base-"));
  git(["worktree", "add", "--detach", "--force", worktree, commit], projectRoot);
  try {
    const baseRoot = path.join(worktree, projectInRepo);
    if (!fs.existsSync(path.join(baseRoot, "node_modules"))) {
      fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(baseRoot, "node_modules"), "dir");
    }
    // The program refuses to run without its Lambda bundles; the base borrows
    // this checkout's build (their contents never reach an offline evaluation).
    if (fs.existsSync(path.join(projectRoot, "dist")) && !fs.existsSync(path.join(baseRoot, "dist"))) {
      fs.symlinkSync(path.join(projectRoot, "dist"), path.join(baseRoot, "dist"), "dir");
    }
    const sets = Object.entries(options.overrides).flatMap(([key, value]) => ["--set", `${key}=${value}`]);
    const child = fs.existsSync(path.join(baseRoot, "bin", "drstack"))
      ? spawnSync(process.execPath, [path.join(baseRoot, "bin", "drstack"), "plan", "--stack", options.stack, "--json", ...sets], {
          cwd: baseRoot,
          encoding: "utf8",
          maxBuffer: 256 * 1024 * 1024,
        })
      : spawnSync(process.execPath, ["-e", LEGACY_EVALUATION, baseRoot, options.stack, JSON.stringify(options.overrides)], {
          cwd: baseRoot,
          encoding: "utf8",
          maxBuffer: 256 * 1024 * 1024,
        });
    if (child.status !== 0) {
      throw new Error(`revision ${options.revision} (${commit.slice(0, 12)}) did not evaluate for stack ${options.stack}:\n${(child.stderr || child.stdout).trim()}`);
    }
    const parsed = JSON.parse(child.stdout) as EvaluatedStack;
    if (!Array.isArray(parsed.resources) || typeof parsed.outputs !== "object") {
      throw new Error(`revision ${options.revision}: its evaluation has no resources and outputs`);
    }
    return { stack: parsed.stack ?? options.stack, resources: parsed.resources, outputs: parsed.outputs };
  } finally {
    spawnSync("git", ["worktree", "remove", "--force", worktree], { cwd: projectRoot });
    fs.rmSync(worktree, { recursive: true, force: true });
    spawnSync("git", ["worktree", "prune"], { cwd: projectRoot });
  }
}

/** For revisions without the CLI: evaluate through their offline/evaluate.ts and print what a diff needs. */
const LEGACY_EVALUATION = `
const path = require("path");
const [root, stack, overrides] = process.argv.slice(1);
require(require.resolve("tsx/cjs/api", { paths: [root] })).register();
const { evaluateStack } = require(path.join(root, "offline", "evaluate.ts"));
evaluateStack({ stack, overrides: JSON.parse(overrides) }).then(
  (e) => process.stdout.write(JSON.stringify({ stack: e.stack, resources: e.resources, outputs: e.outputs }), () => process.exit(0)),
  (error) => { process.stderr.write(String(error && error.message || error) + "\\n", () => process.exit(1)); },
);
`;
