import { readFileSync } from "node:fs";
import * as path from "node:path";

/**
 * The scripts a Docker site's containers run, read from lambdas/site/ where
 * they are tested against real servers, and uploaded into the containers at
 * creation. A missing script stops the preview before anything is declared.
 */
export const SITE_SCRIPTS = {
  postgresEntrypoint: "postgres-entrypoint.sh",
  postgresInit: "postgres-init.sh",
  storageSetup: "storage-setup.sh",
} as const;

export type SiteScript = keyof typeof SITE_SCRIPTS;

const SCRIPT_DIR = path.join(__dirname, "..", "..", "lambdas", "site");

export function siteScript(script: SiteScript): string {
  const file = path.join(SCRIPT_DIR, SITE_SCRIPTS[script]);
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`drstack: the Docker site script ${path.relative(process.cwd(), file)} is missing (${(error as Error).message}); check out the whole repository`);
  }
}
