import { buildSync } from "esbuild";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../infra/configSchema";
import { AwsService, HandlerCalls } from "./reachability";

/** The AWS SDK client packages the handlers may use, by the service endpoint each calls. */
export const SDK_CLIENT_SERVICES: Readonly<Record<string, AwsService>> = {
  "@aws-sdk/client-s3": "s3",
  "@aws-sdk/client-secrets-manager": "secretsmanager",
  "@aws-sdk/client-ssm": "ssm",
  "@aws-sdk/client-lambda": "lambda",
  "@aws-sdk/client-cloudwatch": "monitoring",
  "@aws-sdk/client-sns": "sns",
  "@aws-sdk/client-rds": "rds",
  "@aws-sdk/client-scheduler": "scheduler",
  "@aws-sdk/client-sts": "sts",
  "@aws-sdk/client-kms": "kms",
  "@aws-sdk/client-cloudwatch-logs": "logs",
};

/** Lambda handlers, keyed by file name (`backup`), and container entry points, keyed `tasks/<name>`. */
const ENTRY_DIRS = [
  { dir: path.join(PROJECT_ROOT, "lambdas", "handlers"), key: (name: string) => name },
  { dir: path.join(PROJECT_ROOT, "lambdas", "tasks"), key: (name: string) => `tasks/${name}` },
];

/**
 * What each handler calls, read from what its bundle actually contains:
 * esbuild bundles it as an ES module, so code no path of the handler reaches
 * is shaken out, and what remains tells every AWS SDK client package it can
 * call and whether it runs drstack's PostgreSQL code. Derived, never
 * declared, so a handler that starts calling a new service fails the
 * reachability check until the network gives it a path.
 */
export function handlerCalls(): HandlerCalls {
  const calls: Record<string, { aws: AwsService[]; database: boolean }> = {};
  for (const { dir, key } of ENTRY_DIRS) {
    for (const file of fs.readdirSync(dir).filter((name) => name.endsWith(".ts"))) {
      calls[key(file.replace(/\.ts$/, ""))] = bundleCalls(dir, file);
    }
  }
  return calls;
}

function bundleCalls(dir: string, file: string): { aws: AwsService[]; database: boolean } {
  const result = buildSync({
    entryPoints: [path.join(dir, file)],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    outfile: path.join(dir, "bundle.js"),
    external: ["pg-native"],
    metafile: true,
    write: false,
    logLevel: "silent",
  });
  const output = Object.values(result.metafile?.outputs ?? {})[0];
  const inputs = Object.entries(output?.inputs ?? {})
    .filter(([, use]) => use.bytesInOutput > 0)
    .map(([input]) => input);
  const packages = new Set(inputs.map((input) => /node_modules\/(@[^/]+\/[^/]+|[^/@][^/]*)\//.exec(input)?.[1]).filter((name): name is string => name !== undefined));
  const unknownClients = [...packages].filter((name) => name.startsWith("@aws-sdk/client-") && !(name in SDK_CLIENT_SERVICES));
  if (unknownClients.length > 0) {
    throw new Error(`${path.relative(PROJECT_ROOT, path.join(dir, file))} uses ${unknownClients.join(", ")}: add it to SDK_CLIENT_SERVICES in offline/handlerCalls.ts`);
  }
  return {
    aws: [...packages].filter((name) => name in SDK_CLIENT_SERVICES).map((name) => SDK_CLIENT_SERVICES[name]),
    // The pg driver is CommonJS and never shaken out; drstack's own database code is.
    // A handler that starts its own scratch server (the drill) talks only to that, over a socket in /tmp.
    database: inputs.includes("lambdas/core/postgres.ts") && !inputs.includes("lambdas/core/scratchPostgres.ts"),
  };
}
