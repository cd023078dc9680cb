import { spawnSync } from "child_process";
import * as path from "path";

/**
 * The program refuses to run without its Lambda bundles (infra/lambdaBundles.ts),
 * as a real preview would; build them once, before the test workers start, with
 * the same command a user runs.
 */
export default function buildLambdas(): void {
  const root = path.resolve(__dirname, "..", "..");
  const result = spawnSync("npm", ["run", "--silent", "build:lambdas"], { cwd: root, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`npm run build:lambdas failed (${result.status}): ${result.stderr || result.stdout}`);
  }
}
