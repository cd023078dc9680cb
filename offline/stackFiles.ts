import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { configValueToString, OFFLINE_SECRET_PLACEHOLDER_PREFIX, PROJECT_NAME, PROJECT_ROOT, readConfigSchema } from "../infra/configSchema";
import { UsageError } from "./usageError";

/**
 * Reads config the way the Pulumi CLI would hand it to the program: Pulumi.yaml
 * defaults, then Pulumi.<stack>.yaml, then command-line overrides. `secure:`
 * values cannot be decrypted without the stack's secrets provider, so they are
 * replaced by a placeholder and reported as secret.
 */

export interface StackConfig {
  stack: string;
  /** Fully qualified keys (`drstack:activeSite`, `aws:region`) to string values. */
  values: Record<string, string>;
  /** Fully qualified keys whose values are secrets. */
  secretKeys: string[];
}

type StackFileValue = string | number | boolean | { secure: string } | unknown[] | Record<string, unknown>;

/**
 * Where a stack's file is: beside Pulumi.yaml unless another directory is
 * given (`drstack plan --stack-dir`, e.g. examples/cheap). Pulumi.yaml, the
 * key declarations and defaults, is always the project's own.
 */
export function stackFilePath(stack: string, stackDir = PROJECT_ROOT): string {
  return path.join(stackDir, `Pulumi.${stack}.yaml`);
}

export function qualify(key: string): string {
  return key.includes(":") ? key : `${PROJECT_NAME}:${key}`;
}

function isSecure(value: StackFileValue): value is { secure: string } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { secure?: unknown }).secure === "string";
}

export function readStackConfig(stack: string, overrides: Readonly<Record<string, string>> = {}, stackDir = PROJECT_ROOT): StackConfig {
  const file = stackFilePath(stack, stackDir);
  if (!fs.existsSync(file)) {
    const where = path.resolve(stackDir) === path.resolve(PROJECT_ROOT) ? "beside Pulumi.yaml" : `in ${stackDir}`;
    throw new Error(`No stack file ${file}. Known stacks are the Pulumi.<stack>.yaml files ${where}.`);
  }
  const parsed = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, StackFileValue> };
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];

  for (const declaration of readConfigSchema(path.join(PROJECT_ROOT, "Pulumi.yaml"))) {
    if (declaration.default !== undefined) {
      values[qualify(declaration.key)] = configValueToString(declaration.default);
    }
  }
  for (const [key, value] of Object.entries(parsed.config ?? {})) {
    const qualified = qualify(key);
    if (isSecure(value)) {
      values[qualified] = `${OFFLINE_SECRET_PLACEHOLDER_PREFIX}${qualified}`;
      secretKeys.push(qualified);
    } else {
      values[qualified] = configValueToString(value);
    }
  }
  for (const [key, value] of Object.entries(overrides)) {
    values[qualify(key)] = value;
  }
  return { stack, values, secretKeys };
}

/** Parses `key=value` pairs from `--set` flags. */
export function parseOverrides(pairs: readonly string[]): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const pair of pairs) {
    const separator = pair.indexOf("=");
    if (separator <= 0) {
      throw new UsageError(`--set ${pair}: expected key=value, e.g. --set activeSite=secondary`);
    }
    overrides[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return overrides;
}

/**
 * Keys both stack files must hold the same value for: each stack derives its
 * peer's bucket, key alias, role and database names from them, both must
 * agree where the pair is in the failback cycle (README, "How the two stacks
 * fit together" and "Failback") and on the engine the replica copies, and the failover DNS the secondary declares
 * is what both stacks' objectives count (README, "Objectives").
 */
export const SHARED_KEYS = [
  "primaryRegion",
  "secondaryRegion",
  "namePrefix",
  "appHostname",
  "primaryEndpoint",
  "secondaryEndpoint",
  "primaryDatabaseGeneration",
  "secondaryDatabaseGeneration",
  "databaseEngine",
  "dbEngineVersion",
  "dnsProvider",
  "cloudflareLoadBalancer",
  "dnsTtlSeconds",
  "healthCheckIntervalSeconds",
  "healthCheckFailureThreshold",
  // Docker sites: where each site is and how the other reaches it, the CA both
  // trust, and the database image (the standby is a byte copy of the writer).
  "siteKind",
  "primaryLocation",
  "secondaryLocation",
  "primaryDatabaseHost",
  "secondaryDatabaseHost",
  "primaryStorageHost",
  "secondaryStorageHost",
  "dockerDatabasePort",
  "dockerStoragePort",
  "siteTlsCa",
  "databaseImage",
] as const;

export interface SharedKeyDisagreement {
  key: string;
  values: Record<string, string | undefined>;
}

/**
 * The shared keys whose values differ between `stack` (with its overrides)
 * and its peer's stack file, defaults applied to both. Nothing to compare
 * when the stack is not one of the pair or its peer has no stack file.
 */
export function sharedKeyDisagreements(stack: string, overrides: Readonly<Record<string, string>> = {}, stackDir = PROJECT_ROOT): SharedKeyDisagreement[] {
  const peer = stack === "primary" ? "secondary" : stack === "secondary" ? "primary" : undefined;
  if (peer === undefined || !fs.existsSync(stackFilePath(peer, stackDir))) {
    return [];
  }
  const own = readStackConfig(stack, overrides, stackDir).values;
  const theirs = readStackConfig(peer, {}, stackDir).values;
  return SHARED_KEYS.filter((key) => own[qualify(key)] !== theirs[qualify(key)]).map((key) => ({
    key,
    values: { [stack]: own[qualify(key)], [peer]: theirs[qualify(key)] },
  }));
}

/** One sentence per disagreement, with the fix. */
export function describeDisagreements(disagreements: readonly SharedKeyDisagreement[]): string {
  return [
    "the two stack files disagree on keys both stacks must share:",
    ...disagreements.map(
      ({ key, values }) =>
        `  - ${key}: ${Object.entries(values)
          .map(([stack, value]) => `${stack} ${value === undefined ? "(unset)" : JSON.stringify(value)}`)
          .join(", ")}. Fix: set it to the same value in Pulumi.primary.yaml and Pulumi.secondary.yaml (pulumi -s <stack> config set ${key} <value> on both).`,
    ),
  ].join("\n");
}

/**
 * Keys that describe one site only (its region, cluster and subnets): an
 * override of one of them for a stack says nothing about its peer, so the
 * peer evaluated beside it does not get it.
 */
export const SITE_LOCAL_KEYS = [
  "aws:region",
  "clusterVpcId",
  "clusterSecurityGroupIds",
  "dataSubnetCidrs",
  "dataSubnetZoneIds",
  "kubeconfig",
  "site",
  "dockerHost",
  "dockerTlsCa",
  "dockerTlsCert",
  "dockerTlsKey",
  "dockerSshOpts",
  "siteTlsCert",
  "siteTlsKey",
] as const;

/** The overrides that also hold for the peer of the stack they were given for. */
export function peerOverrides(overrides: Readonly<Record<string, string>>): Record<string, string> {
  const local = new Set<string>(SITE_LOCAL_KEYS.map(qualify));
  return Object.fromEntries(Object.entries(overrides).filter(([key]) => !local.has(qualify(key))));
}
