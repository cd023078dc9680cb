import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "./configSchema";

/**
 * The Lambda handler bundles the program uploads as zip archives, each built
 * by `npm run build:lambdas` into its own directory under `dist/lambdas/`.
 * The backup job's bundle is not here: it goes into the backup job image,
 * which scripts/publish-backup-image.sh builds and pushes outside the program.
 *
 * Add a bundle here and to `build:lambdas` together; `requireLambdaBundles`
 * then refuses to run without it.
 */
export const LAMBDA_BUNDLES = {
  verify: { directory: "dist/lambdas/verify", entry: "handlers/verify.js" },
  guard: { directory: "dist/lambdas/guard", entry: "handlers/guard.js" },
} as const satisfies Record<string, LambdaBundle>;

export type LambdaBundleName = keyof typeof LAMBDA_BUNDLES;

export interface LambdaBundle {
  /** Directory of the bundle, relative to the project root; it is the archive's root. */
  directory: string;
  /** The handler file inside it, relative to `directory`. */
  entry: string;
}

/** A bundle `npm run build:lambdas` has not built: said before anything is declared, so nothing changes. */
export class MissingLambdaBundleError extends pulumi.RunError {
  constructor(readonly missing: string[]) {
    super(
      `drstack cannot deploy: the Lambda bundle${missing.length === 1 ? "" : "s"} ${missing.join(", ")} ` +
        `${missing.length === 1 ? "does" : "do"} not exist; nothing was deployed. Fix: run \`npm run build:lambdas\` in the project, then run pulumi again.`,
    );
    this.name = "MissingLambdaBundleError";
  }
}

/** Entry files of the bundles that are missing under `root`, relative to it. */
export function missingLambdaBundles(root: string = PROJECT_ROOT, bundles: Readonly<Record<string, LambdaBundle>> = LAMBDA_BUNDLES): string[] {
  return Object.values(bundles)
    .map((bundle) => path.join(bundle.directory, bundle.entry))
    .filter((entry) => !fs.existsSync(path.join(root, entry)));
}

/** Throws before any resource exists when a bundle is missing. `deploySite` calls it first. */
export function requireLambdaBundles(root: string = PROJECT_ROOT): void {
  const missing = missingLambdaBundles(root);
  if (missing.length > 0) {
    throw new MissingLambdaBundleError(missing);
  }
}

/** The archive of one bundle, for a function's `code`. Checks the bundle again, for callers outside `deploySite`. */
export function lambdaBundleArchive(name: LambdaBundleName, root: string = PROJECT_ROOT): pulumi.asset.FileArchive {
  const bundle: LambdaBundle = LAMBDA_BUNDLES[name];
  const missing = missingLambdaBundles(root, { [name]: bundle });
  if (missing.length > 0) {
    throw new MissingLambdaBundleError(missing);
  }
  return new pulumi.asset.FileArchive(path.join(root, bundle.directory));
}
