import { Evaluation, evaluateStack, RecordedResource, StackReferenceBehaviour } from "../../offline/evaluate";
import { ConfigError, parseConfig, RawConfig } from "../../infra/config";
import { configValueToString, readConfigSchema } from "../../infra/configSchema";
import { SiteName, SITES } from "../../infra/roles";

/** Shared helpers for the mock-runtime tests: evaluations are cached per stack and overrides. */

const cache = new Map<string, Promise<Evaluation>>();

export function evaluate(
  stack: string,
  overrides: Record<string, string> = {},
  stackReferences?: StackReferenceBehaviour,
): Promise<Evaluation> {
  const cacheKey = JSON.stringify({ stack, overrides, stackReferences });
  let evaluation = cache.get(cacheKey);
  if (!evaluation) {
    evaluation = evaluateStack({ stack, overrides, stackReferences });
    cache.set(cacheKey, evaluation);
  }
  return evaluation;
}

/** Every (stack, activeSite) pair: the four worlds the program must handle. */
export const STACK_CASES: Array<{ stack: SiteName; activeSite: SiteName }> = SITES.flatMap((stack) =>
  SITES.map((activeSite) => ({ stack, activeSite })),
);

export function resourcesOfType(evaluation: Evaluation, type: string): RecordedResource[] {
  return evaluation.resources.filter((resource) => resource.type === type);
}

export function single(evaluation: Evaluation, type: string): RecordedResource {
  const found = resourcesOfType(evaluation, type);
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${type} in stack ${evaluation.stack}, found ${found.length}`);
  }
  return found[0];
}

export interface ParsedStatement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export function parsePolicy(policy: unknown): ParsedStatement[] {
  if (typeof policy !== "string") {
    throw new Error(`expected a JSON policy string, got ${typeof policy}`);
  }
  return (JSON.parse(policy) as { Statement: ParsedStatement[] }).Statement;
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The same evaluation narrowed to the direct children of one component type, e.g. `drstack:replication:CrossRegionReplication`. */
export function within(evaluation: Evaluation, componentType: string): Evaluation {
  return { ...evaluation, resources: evaluation.resources.filter((resource) => resource.parent?.startsWith(`${componentType}::`)) };
}

/** What a stack must set itself: Pulumi.yaml cannot hold a secret, and no default release tag is right. */
export const REQUIRED_SETTINGS: Readonly<Record<string, string>> = { kubeconfig: "apiVersion: v1\nkind: Config\n", appImageTag: "2026.11.1" };

/** Pulumi.yaml's defaults as raw config, plus the settings every stack must make: a valid configuration. */
export function declaredDefaults(): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const declaration of readConfigSchema()) {
    if (declaration.default !== undefined) {
      raw[declaration.key] = configValueToString(declaration.default);
    }
  }
  return { ...raw, ...REQUIRED_SETTINGS };
}

/** The message parseConfig rejects `raw` with; fails the test if it accepts it. */
export function configProblems(raw: RawConfig, stack = "primary"): string {
  try {
    parseConfig(raw, stack);
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw error;
    }
    return error.message;
  }
  throw new Error("expected the config to be rejected");
}
