import {
  activeSiteOf,
  Evaluation,
  evaluateStack,
  PRIMARY_STACK_NAME,
  primaryReference,
  RecordedResource,
  secretsOfStandbySecondary,
  StackReferenceBehaviour,
} from "../../offline/evaluate";
import * as path from "path";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { SiteName, SITES } from "../../infra/roles";
import { peerOverrides } from "../../offline/stackFiles";

/** Shared helpers for the mock-runtime tests: evaluations are cached per stack directory, stack and overrides. */

const cache = new Map<string, Promise<Evaluation>>();

export { PRIMARY_STACK_NAME };

/** The example stacks beside Pulumi.yaml: Route 53 failover DNS, every used tier met. */
export const MAIN_EXAMPLE = PROJECT_ROOT;
/** The cheaper example (a plain Cloudflare record, default schedules) that shows what it misses, objectivesEnforcement warn. */
export const CHEAP_EXAMPLE = path.join(PROJECT_ROOT, "examples", "cheap");

/**
 * Evaluates a stack. Unless told otherwise, the secondary's reference to the
 * primary answers with the outputs of the primary evaluated under the same
 * overrides, as a deployed primary would; pass `{ kind: "unreachable" }` to
 * model the primary's loss. The active secondary's region holds the secrets
 * its last `up` as standby wrote (the copy of the master password), unless
 * `deployedSecrets` says otherwise (`{}`: it was never `up`ed as standby).
 */
export function evaluate(
  stack: string,
  overrides: Record<string, string> = {},
  stackReferences?: StackReferenceBehaviour,
  deployedSecrets?: Record<string, string>,
): Promise<Evaluation> {
  return evaluateIn(MAIN_EXAMPLE, stack, overrides, stackReferences, deployedSecrets);
}

/** `evaluate`, with the stack files read from `stackDir` (e.g. CHEAP_EXAMPLE). */
export function evaluateIn(
  stackDir: string,
  stack: string,
  overrides: Record<string, string> = {},
  stackReferences?: StackReferenceBehaviour,
  deployedSecrets?: Record<string, string>,
): Promise<Evaluation> {
  const cacheKey = JSON.stringify({ stackDir, stack, overrides, stackReferences, deployedSecrets });
  let evaluation = cache.get(cacheKey);
  if (!evaluation) {
    evaluation = (async () => {
      const references = stackReferences ?? (stack === "secondary" ? await primaryOutputs(stackDir, overrides) : undefined);
      const secrets =
        deployedSecrets ??
        (stack === "secondary" && activeSiteOf(stack, overrides, stackDir) === "secondary"
          ? await secretsOfStandbySecondary(overrides, (peer, standby) => evaluateIn(stackDir, peer, standby), stackDir)
          : {});
      return evaluateStack({ stack, overrides, stackReferences: references, deployedSecrets: secrets, stackDir });
    })();
    cache.set(cacheKey, evaluation);
  }
  return evaluation;
}

/** The primary's outputs, or an unreachable primary when it does not evaluate under these overrides. */
async function primaryOutputs(stackDir: string, overrides: Record<string, string>): Promise<StackReferenceBehaviour> {
  try {
    return primaryReference(await evaluateIn(stackDir, "primary", peerOverrides(overrides)));
  } catch {
    return { kind: "unreachable" };
  }
}

/** The part of an evaluation below the components of one type, e.g. one site's backup storage. */
export function within(evaluation: Evaluation, componentType: string): Evaluation {
  const parents = new Map(evaluation.resources.map((resource) => [`${resource.type}::${resource.name}`, resource.parent]));
  const below = (resource: RecordedResource): boolean => {
    for (let parent = resource.parent; parent !== undefined; parent = parents.get(parent)) {
      if (parent.startsWith(`${componentType}::`)) {
        return true;
      }
    }
    return false;
  };
  return { ...evaluation, resources: evaluation.resources.filter(below) };
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

/** README's failover/failback cycle as the config of each phase, from generation 1 to the next failover, then the next rebuild. */
export const FAILBACK_CYCLE: ReadonlyArray<Record<string, string>> = [
  { activeSite: "primary" },
  { activeSite: "secondary" },
  { activeSite: "secondary", primaryDatabaseGeneration: "2" },
  { activeSite: "primary", primaryDatabaseGeneration: "2" },
  { activeSite: "primary", primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" },
  { activeSite: "secondary", primaryDatabaseGeneration: "2", secondaryDatabaseGeneration: "2" },
  { activeSite: "secondary", primaryDatabaseGeneration: "3", secondaryDatabaseGeneration: "2" },
];
