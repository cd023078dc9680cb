import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";

/**
 * The config keys declared in Pulumi.yaml. Pulumi.yaml is the single source of
 * defaults: the CLI applies them on a real deployment, and the offline
 * evaluation (which has no CLI) applies them from here.
 */

export const PROJECT_NAME = "drstack";
export const PROJECT_ROOT = path.resolve(__dirname, "..");

export type ConfigKeyType = "string" | "integer" | "boolean" | "array";

export interface ConfigKeyDeclaration {
  key: string;
  type: ConfigKeyType;
  default: string | number | boolean | unknown[] | undefined;
  description: string;
  secret: boolean;
}

interface RawDeclaration {
  type?: unknown;
  items?: unknown;
  default?: unknown;
  description?: unknown;
  secret?: unknown;
}

export function readConfigSchema(projectFile = path.join(PROJECT_ROOT, "Pulumi.yaml")): ConfigKeyDeclaration[] {
  const project = parse(fs.readFileSync(projectFile, "utf8")) as { name?: string; config?: Record<string, RawDeclaration> };
  if (project.name !== PROJECT_NAME) {
    throw new Error(`${projectFile} declares project "${project.name}", expected "${PROJECT_NAME}".`);
  }
  return Object.entries(project.config ?? {}).map(([key, declaration]) => {
    const type = declaration.type;
    if (type !== "string" && type !== "integer" && type !== "boolean" && type !== "array") {
      throw new Error(`${projectFile}: config key "${key}" needs a type of string, integer, boolean or array.`);
    }
    if (type === "array" && !isItemsDeclaration(declaration.items)) {
      throw new Error(`${projectFile}: config key "${key}" is an array and needs items with a type, e.g. items: { type: string }.`);
    }
    if (typeof declaration.description !== "string" || declaration.description.length === 0) {
      throw new Error(`${projectFile}: config key "${key}" needs a description.`);
    }
    return {
      key,
      type,
      default: declaration.default as ConfigKeyDeclaration["default"],
      description: declaration.description,
      secret: declaration.secret === true,
    };
  });
}

/** The CLI rejects an array key whose element type is not declared. */
function isItemsDeclaration(items: unknown): boolean {
  const type = (items as { type?: unknown } | undefined)?.type;
  return type === "string" || type === "integer" || type === "boolean";
}

/** Renders a YAML or default value the way Pulumi hands config to a program: as a string. */
export function configValueToString(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * What the offline plan (offline/stackFiles.ts) puts in place of a `secure:`
 * value it cannot decrypt. The program checks a secret's shape (a PEM key
 * against its certificate) only when it holds the real value.
 */
export const OFFLINE_SECRET_PLACEHOLDER_PREFIX = "offline-placeholder-for-";

export function isOfflineSecretPlaceholder(value: string): boolean {
  return value.startsWith(OFFLINE_SECRET_PLACEHOLDER_PREFIX);
}
