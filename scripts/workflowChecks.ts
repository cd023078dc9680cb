import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { backupImageContractSuffix } from "../infra/backupContract";
import { DATABASE_ENGINES, DatabaseEngine, isDatabaseEngine } from "../infra/engines";

/**
 * Checks the GitHub workflows run before they touch a stack (no cloud access
 * needed for any of them):
 *
 *   tsx scripts/workflowChecks.ts regions
 *     prints `primary=<region>`, `secondary=<region>` and `namePrefix=<prefix>`
 *     (for $GITHUB_OUTPUT) from the stack files, `databaseEngine=` the engine
 *     the backup image is built for ($DATABASE_ENGINE, else the stack files',
 *     which must agree) and `imageTagSuffix=` the backup image's contract
 *     suffix for it (infra/backupContract.ts);
 *   tsx scripts/workflowChecks.ts independence
 *     fails when the state backend ($PULUMI_BACKEND_URL) or the secondary
 *     stack's secrets provider is in the primary region: the failover must run
 *     with that region gone;
 *   tsx scripts/workflowChecks.ts active-site-guard <stack> <deployed activeSite> [--allow-failback]
 *     fails when a deploy would move activeSite back from secondary to primary
 *     (the stack file says primary while the deployed stack says secondary):
 *     a failback is deliberate, never the side effect of a merge. It fails
 *     closed: a deployed value that is not `primary` or `secondary` (the
 *     workflow could not read the state, or read something else) stops the
 *     deploy as surely as a failback does.
 */

const ROOT = path.resolve(__dirname, "..");

/**
 * How every workflow step that runs `pulumi` reaches the stacks' state and
 * decrypts their secrets: one backend URL and one passphrase secret name.
 * deploy.yml, failover.yml and pr.yml set exactly these on each such step, so a
 * failover reads the state the deploys wrote; tests/unit/workflows.test.ts fails
 * when a step that runs pulumi lacks one or sets it differently. The URL must be
 * a repository variable: GitHub resolves a name defined at several levels to the
 * lowest, so an environment's own PULUMI_BACKEND_URL would point that
 * environment's jobs at other state (docs.github.com, "Store information in
 * variables", configuration variable precedence).
 */
export const PULUMI_STATE_ENV = {
  PULUMI_BACKEND_URL: "${{ vars.PULUMI_BACKEND_URL }}",
  PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
} as const;

/**
 * The Pulumi Cloud token of each kind of job: the deploy and failover
 * environments hold PULUMI_ACCESS_TOKEN, the preview environment a token of its own.
 */
export const PULUMI_ACCESS_TOKENS = {
  deploy: "${{ secrets.PULUMI_ACCESS_TOKEN }}",
  preview: "${{ secrets.PULUMI_PREVIEW_ACCESS_TOKEN }}",
} as const;

export const SITE_NAMES = ["primary", "secondary"] as const;
export type Site = (typeof SITE_NAMES)[number];

function isSite(value: string | undefined): value is Site {
  return (SITE_NAMES as readonly string[]).includes(value ?? "");
}

export interface StackFile {
  config: Record<string, unknown>;
  secretsprovider?: string;
}

export function readStackFile(stack: string, root = ROOT): StackFile {
  const parsed = (parse(fs.readFileSync(path.join(root, `Pulumi.${stack}.yaml`), "utf8")) ?? {}) as Partial<StackFile>;
  return { config: parsed.config ?? {}, secretsprovider: parsed.secretsprovider };
}

/** Pulumi.yaml's default when a stack file does not set the key. */
function declaredDefault(key: string, root = ROOT): string | undefined {
  const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { config?: Record<string, { default?: unknown }> };
  const value = project.config?.[key]?.default;
  return value === undefined ? undefined : String(value);
}

export function stackSetting(stack: string, key: string, root = ROOT): string | undefined {
  const value = readStackFile(stack, root).config[`drstack:${key}`];
  return value === undefined ? declaredDefault(key, root) : String(value);
}

export interface Finding {
  ok: boolean;
  message: string;
}

const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/;

/** Where a Pulumi state backend keeps the stacks' state, judged against the primary region. */
export function judgeBackend(backendUrl: string | undefined, primaryRegion: string): Finding {
  const url = (backendUrl ?? "").trim();
  if (url === "" || /^https:\/\/(api|app)\.pulumi\.com\/?$/.test(url)) {
    return {
      ok: true,
      message:
        "state backend: Pulumi Cloud. It is not in your AWS account, so drstack cannot check its region; " +
        "if it is unreachable no stack can be previewed or updated. For a backend you place yourself use an S3 backend outside the primary region.",
    };
  }
  if (url.startsWith("file://")) {
    return { ok: false, message: `state backend ${url} is local to one machine; the failover needs state that survives it (an S3 backend outside ${primaryRegion}, or Pulumi Cloud)` };
  }
  if (url.startsWith("s3://")) {
    const region = new URL(url.replace(/^s3:/, "https:")).searchParams.get("region");
    if (region === null) {
      return { ok: false, message: `state backend ${url} names no region; add ?region=<a region other than ${primaryRegion}> so the failover can be checked not to depend on it` };
    }
    if (region === primaryRegion) {
      return { ok: false, message: `state backend ${url} is in the primary region ${primaryRegion}: losing that region loses the state the failover needs. Move it to a third region` };
    }
    return { ok: true, message: `state backend: S3 in ${region}, not the primary region ${primaryRegion}` };
  }
  return { ok: true, message: `state backend ${url}: not an AWS region drstack can check; make sure it does not live in ${primaryRegion}` };
}

/** Where the secondary stack's secrets are decrypted, judged against the primary region. */
export function judgeSecretsProvider(provider: string | undefined, primaryRegion: string): Finding {
  const value = (provider ?? "").trim();
  if (value === "" || value === "default" || value === "service") {
    return { ok: true, message: "secrets provider: the Pulumi Cloud service (the same availability as the backend)" };
  }
  if (value === "passphrase") {
    return { ok: true, message: "secrets provider: passphrase (keep PULUMI_CONFIG_PASSPHRASE in the failover environment's secrets)" };
  }
  if (value.startsWith("awskms://")) {
    const target = value.slice("awskms://".length);
    const fromArn = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(target)?.[1];
    const fromQuery = new URL(`https://kms/${target.replace(/^\/+/, "")}`).searchParams.get("region") ?? undefined;
    const region = fromArn ?? fromQuery;
    if (region === undefined || !AWS_REGION.test(region)) {
      return { ok: false, message: `secrets provider ${value} names no region; use a key ARN or ?region= so the failover can be checked not to depend on ${primaryRegion}` };
    }
    if (region === primaryRegion) {
      return { ok: false, message: `secrets provider ${value} is a KMS key in the primary region ${primaryRegion}: with that region gone the secondary's secrets cannot be decrypted. Use a key in another region (pulumi stack change-secrets-provider)` };
    }
    return { ok: true, message: `secrets provider: KMS in ${region}, not the primary region ${primaryRegion}` };
  }
  return { ok: true, message: `secrets provider ${value}: not an AWS region drstack can check; make sure it does not live in ${primaryRegion}` };
}

/**
 * A deploy may keep or make a failover, never undo one unless told to. Fails
 * closed: anything but a site name, deployed or configured, stops the deploy.
 */
export function judgeActiveSite(stack: string, deployed: string | undefined, configured: string | undefined, allowFailback: boolean): Finding {
  const deployedSite = deployed?.trim();
  if (!isSite(deployedSite)) {
    return {
      ok: false,
      message:
        `cannot tell which site stack ${stack} is deployed with: its activeSite output reads ${JSON.stringify(deployed ?? "")}, not primary or secondary. ` +
        "Nothing was deployed. Check that the job reaches the state backend (PULUMI_BACKEND_URL, PULUMI_ACCESS_TOKEN) and that the stack was deployed once by hand (README, Deploy).",
    };
  }
  if (!isSite(configured)) {
    return {
      ok: false,
      message: `Pulumi.${stack}.yaml sets drstack:activeSite to ${JSON.stringify(configured ?? "")}; it must be primary or secondary. Nothing was deployed.`,
    };
  }
  if (deployedSite === "secondary" && configured === "primary" && !allowFailback) {
    return {
      ok: false,
      message:
        `stack ${stack} is deployed with activeSite=secondary but Pulumi.${stack}.yaml says primary: this deploy would fail back. ` +
        "Commit activeSite: secondary to both stack files after a failover; fail back by the README's Failback steps, or run this workflow by hand with allow_failback.",
    };
  }
  return { ok: true, message: `stack ${stack}: activeSite ${deployedSite} -> ${configured}` };
}

/**
 * The engine the backup image is built for: `override` ($DATABASE_ENGINE)
 * when set, else the stack files' `databaseEngine`, which must be the same in
 * both (one image serves both stacks).
 */
export function imageEngine(override: string | undefined, root = ROOT): { ok: true; engine: DatabaseEngine } | { ok: false; message: string } {
  const primary = stackSetting("primary", "databaseEngine", root) || "postgres";
  const secondary = stackSetting("secondary", "databaseEngine", root) || "postgres";
  const wanted = override !== undefined && override !== "" ? override : primary;
  if (!isDatabaseEngine(wanted)) {
    return { ok: false, message: `DATABASE_ENGINE=${wanted} is not an engine drstack runs (${DATABASE_ENGINES.join(", ")})` };
  }
  if (override === undefined || override === "") {
    if (primary !== secondary) {
      return { ok: false, message: `databaseEngine is ${primary} in Pulumi.primary.yaml but ${secondary} in Pulumi.secondary.yaml; both stacks run the same engine and one backup image` };
    }
  }
  return { ok: true, engine: wanted };
}

const USAGE = "usage: tsx scripts/workflowChecks.ts regions | independence | active-site-guard <primary|secondary> <deployed activeSite> [--allow-failback]";

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const regions = { primary: stackSetting("primary", "primaryRegion")!, secondary: stackSetting("secondary", "secondaryRegion")! };
  let findings: Finding[];
  switch (command) {
    case "regions":
      console.log(`primary=${regions.primary}`);
      console.log(`secondary=${regions.secondary}`);
      console.log(`namePrefix=${stackSetting("secondary", "namePrefix")}`);
      {
        const engine = imageEngine(process.env.DATABASE_ENGINE);
        if (!engine.ok) {
          console.error(`::error:: ${engine.message}`);
          return 1;
        }
        console.log(`databaseEngine=${engine.engine}`);
        console.log(`imageTagSuffix=${backupImageContractSuffix(engine.engine)}`);
      }
      return 0;
    case "independence":
      findings = [judgeBackend(process.env.PULUMI_BACKEND_URL, regions.primary), judgeSecretsProvider(readStackFile("secondary").secretsprovider, regions.primary)];
      break;
    case "active-site-guard": {
      const [stack, deployed] = rest;
      if (!isSite(stack)) {
        console.error(USAGE);
        return 2;
      }
      findings = [judgeActiveSite(stack, deployed, stackSetting(stack, "activeSite"), rest.includes("--allow-failback"))];
      break;
    }
    default:
      console.error(USAGE);
      return 2;
  }
  for (const finding of findings) {
    console.log(`${finding.ok ? "ok" : "::error::"} ${finding.message}`);
  }
  return findings.every((finding) => finding.ok) ? 0 : 1;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
