import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * Runs workflow steps' shell and the repository's scripts for real, against
 * stand-ins for the commands that would reach a cloud (pulumi, aws, docker,
 * gh) placed first on PATH. Everything else (bash, jq, npx tsx and the
 * repository's own code) is the real thing.
 */

export const REPOSITORY_ROOT = path.join(__dirname, "..", "..");

export interface ShellResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for messages that may go to either. */
  output: string;
}

const scratchDirs: string[] = [];
// Jest runs each test file in its own module registry: this file's directories go when its file's tests end.
afterAll(() => {
  for (const dir of scratchDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file's tests. */
export function scratchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-shell-"));
  scratchDirs.push(dir);
  return dir;
}

/** A directory of executables named after the commands they stand in for; each body runs under `set -euo pipefail`. */
export function fakeBin(commands: Record<string, string>): string {
  const dir = scratchDir();
  for (const [name, body] of Object.entries(commands)) {
    fs.writeFileSync(path.join(dir, name), `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`, { mode: 0o755 });
  }
  return dir;
}

interface RunOptions {
  bin: string;
  env?: Record<string, string>;
}

function run(args: string[], { bin, env = {} }: RunOptions): ShellResult {
  const result = spawnSync("bash", args, {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: `${result.stdout}\n${result.stderr}` };
}

/** A step's `run:` the way GitHub runs it when no shell is given (`bash -e {0}`), from the repository root. */
export function runStepScript(script: string, options: RunOptions): ShellResult {
  const file = path.join(scratchDir(), "step.sh");
  fs.writeFileSync(file, script);
  return run(["-e", file], options);
}

/** A script of the repository, run with bash. */
export function runScript(relativePath: string, options: RunOptions): ShellResult {
  return run([path.join(REPOSITORY_ROOT, relativePath)], options);
}
