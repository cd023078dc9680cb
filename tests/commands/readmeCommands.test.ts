import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { CommandRun, RUN_HERE } from "./readmeCommandList";

/**
 * README's commands, run exactly as written (tests/unit/readmeCommands.test.ts
 * makes sure every README command is here, in CI or reviewed as not runnable).
 *
 * They run in a throwaway copy of this checkout (tracked and untracked files,
 * not ignored ones), committed in a repository of its own whose origin/main
 * is that commit, so `--base origin/main` resolves wherever the suite runs and
 * the real repository is never touched. The copy borrows node_modules and
 * starts with the Lambda bundles the global setup built. After each command
 * the copy must be unchanged: generated README blocks are current, and no
 * command leaves files behind in the project.
 */

const UNDEFINED_OUTPUT_WARNING = /Undefined value \(\w+\) will not show as a stack output/;

let checkout: string;

function git(args: string[], cwd: string): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}

function copyCheckout(): string {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-readme-commands-"));
  const files = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], PROJECT_ROOT)
    .split("\0")
    .filter((file) => file !== "" && file !== "node_modules" && !file.startsWith("node_modules/"));
  for (const file of new Set(files)) {
    const source = path.join(PROJECT_ROOT, file);
    if (!fs.existsSync(source)) {
      continue; // tracked but deleted in the working tree
    }
    fs.mkdirSync(path.dirname(path.join(target, file)), { recursive: true });
    fs.copyFileSync(source, path.join(target, file));
    fs.chmodSync(path.join(target, file), fs.statSync(source).mode);
  }
  for (const entry of RUN_HERE) {
    for (const [name, from] of Object.entries(entry.fixtures ?? {})) {
      fs.copyFileSync(path.join(PROJECT_ROOT, from), path.join(target, name));
    }
  }
  fs.symlinkSync(fs.realpathSync(path.join(PROJECT_ROOT, "node_modules")), path.join(target, "node_modules"), "dir");
  fs.cpSync(path.join(PROJECT_ROOT, "dist"), path.join(target, "dist"), { recursive: true });

  git(["init", "--quiet"], target);
  // The link is not ignored by .gitignore's `node_modules/` (that matches directories only).
  fs.appendFileSync(path.join(target, ".git", "info", "exclude"), "/node_modules\n");
  git(["add", "--all"], target);
  git(["-c", "user.name=drstack tests", "-c", "user.email=tests@drstack.invalid", "commit", "--quiet", "--no-verify", "-m", "README commands checkout"], target);
  git(["update-ref", "refs/remotes/origin/main", "HEAD"], target);
  return target;
}

beforeAll(() => {
  checkout = copyCheckout();
});

afterAll(() => {
  if (checkout) {
    fs.rmSync(checkout, { recursive: true, force: true });
  }
});

describe.each(RUN_HERE)("README's `$command`", (entry) => {
  let run: CommandRun;

  beforeAll(() => {
    for (const relative of entry.removeFirst ?? []) {
      fs.rmSync(path.join(checkout, relative), { recursive: true, force: true });
    }
    const result = spawnSync("bash", ["-c", entry.command], {
      cwd: checkout,
      encoding: "utf8",
      env: { ...process.env, FORCE_COLOR: "0" },
      maxBuffer: 256 * 1024 * 1024,
      timeout: 540_000,
    });
    run = { status: result.status, stdout: result.stdout, stderr: result.stderr, checkout };
  });

  test(`exits with ${entry.exitCode}`, () => {
    expect({ status: run.status, stderr: run.status === entry.exitCode ? "" : run.stderr.slice(-4000) }).toEqual({ status: entry.exitCode, stderr: "" });
  });

  test("prints what shows it did its job", () => {
    entry.expectOutput(run);
  });

  test("warns about no undefined stack output", () => {
    expect(`${run.stdout}\n${run.stderr}`).not.toMatch(UNDEFINED_OUTPUT_WARNING);
  });

  test("leaves the checkout as it was", () => {
    expect(git(["status", "--porcelain"], checkout)).toBe("");
  });
});
