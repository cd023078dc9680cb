import { Evaluation, evaluateStack, RecordedResource, StackReferenceBehaviour } from "../../offline/evaluate";
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
