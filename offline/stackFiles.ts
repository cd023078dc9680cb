import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { configValueToString, PROJECT_NAME, PROJECT_ROOT, readConfigSchema } from "../infra/configSchema";

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

export function stackFilePath(stack: string, root = PROJECT_ROOT): string {
  return path.join(root, `Pulumi.${stack}.yaml`);
}

export function qualify(key: string): string {
  return key.includes(":") ? key : `${PROJECT_NAME}:${key}`;
}

function isSecure(value: StackFileValue): value is { secure: string } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { secure?: unknown }).secure === "string";
}

export function readStackConfig(stack: string, overrides: Readonly<Record<string, string>> = {}, root = PROJECT_ROOT): StackConfig {
  const file = stackFilePath(stack, root);
  if (!fs.existsSync(file)) {
    throw new Error(`No stack file ${file}. Known stacks are the Pulumi.<stack>.yaml files beside Pulumi.yaml.`);
  }
  const parsed = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, StackFileValue> };
  const values: Record<string, string> = {};
  const secretKeys: string[] = [];

  for (const declaration of readConfigSchema(path.join(root, "Pulumi.yaml"))) {
    if (declaration.default !== undefined) {
      values[qualify(declaration.key)] = configValueToString(declaration.default);
    }
  }
  for (const [key, value] of Object.entries(parsed.config ?? {})) {
    const qualified = qualify(key);
    if (isSecure(value)) {
      values[qualified] = `offline-placeholder-for-${qualified}`;
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
      throw new Error(`--set ${pair}: expected key=value, e.g. --set activeSite=secondary`);
    }
    overrides[pair.slice(0, separator)] = pair.slice(separator + 1);
  }
  return overrides;
}
