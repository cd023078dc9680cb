import type { DrPosture } from "../infra/objectives";
import { Finding, findingsFor, isKnown, POSTURE_TYPE, ResourcePair, ResourceSnapshot, UNKNOWN } from "./findings";
import { replacesResource } from "../infra/failoverAllowList";
import { changedEnvNames } from "../infra/containerEnvs";

/**
 * Turns two sources of "what the stack would look like" into resource pairs
 * and a DR diff: two offline evaluations (revisions or config overrides), or
 * the steps of a `pulumi preview --json` document. Both end in the same
 * `diffFromPairs`, so the findings do not depend on the source.
 */

/** The part of an evaluation (or of `drstack plan --json`) a diff needs. */
export interface EvaluatedStack {
  stack: string;
  resources: Array<{ type: string; name: string; inputs: Record<string, unknown>; protect?: boolean }>;
  outputs: Record<string, unknown>;
}

export type ChangeKind = "added" | "removed" | "replaced" | "changed";

export interface ResourceChange {
  kind: ChangeKind;
  type: string;
  name: string;
  /** Input paths that differ (changed and replaced resources). */
  paths: string[];
}

export interface DrDiff {
  title: string;
  stack: string;
  findings: Finding[];
  changes: ResourceChange[];
  postureBefore?: DrPosture;
  postureAfter?: DrPosture;
  /** Stack outputs whose value changes (role, endpoint...); drPosture is shown as objectives instead. */
  outputChanges: Array<{ name: string; before: unknown; after: unknown }>;
}

/** Pairs whose sides carry input paths the engine already listed (preview `detailedDiff`). */
export interface SourcedPair extends ResourcePair {
  paths?: string[];
}

/** Types that are bookkeeping, not infrastructure a reviewer judges. */
const IGNORED_TYPES = new Set(["pulumi:pulumi:Stack", "pulumi:pulumi:StackReference"]);

function postureSnapshot(stack: string, posture: unknown): ResourceSnapshot | undefined {
  if (posture === null || typeof posture !== "object") {
    return undefined;
  }
  return { type: POSTURE_TYPE, name: stack, inputs: posture as Record<string, unknown> };
}

export function pairsFromEvaluations(base: EvaluatedStack, head: EvaluatedStack): SourcedPair[] {
  const key = (resource: { type: string; name: string }) => `${resource.type}::${resource.name}`;
  const before = new Map(base.resources.filter((r) => !IGNORED_TYPES.has(r.type)).map((r) => [key(r), r]));
  const after = new Map(head.resources.filter((r) => !IGNORED_TYPES.has(r.type)).map((r) => [key(r), r]));
  const pairs: SourcedPair[] = [];
  for (const [k, resource] of before) {
    pairs.push({ old: snapshot(resource), new: after.has(k) ? snapshot(after.get(k)!) : undefined });
  }
  for (const [k, resource] of after) {
    if (!before.has(k)) {
      pairs.push({ new: snapshot(resource) });
    }
  }
  const postureOld = postureSnapshot(base.stack, base.outputs.drPosture);
  const postureNew = postureSnapshot(head.stack, head.outputs.drPosture);
  if (postureOld || postureNew) {
    pairs.push({ old: postureOld, new: postureNew });
  }
  return pairs;
}

function snapshot(resource: EvaluatedStack["resources"][number]): ResourceSnapshot {
  return { type: resource.type, name: resource.name, inputs: resource.inputs, protect: resource.protect };
}

/** Leaf paths whose values differ, e.g. `rules.0.expiration.days`. */
export function changedPaths(before: unknown, after: unknown, prefix = ""): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) {
    return [];
  }
  const isObject = (value: unknown) => value !== null && typeof value === "object";
  if (!isObject(before) || !isObject(after) || Array.isArray(before) !== Array.isArray(after)) {
    return [prefix === "" ? "(all)" : prefix];
  }
  const keys = new Set([...Object.keys(before as object), ...Object.keys(after as object)]);
  return [...keys].sort().flatMap((k) =>
    changedPaths((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k], prefix === "" ? k : `${prefix}.${k}`),
  );
}

/**
 * A Docker container's env list is one input whose entries are `NAME=value`
 * strings (built from secrets): a changed entry is shown by its name
 * (`envs: DRSTACK_WRITER_CLAIM`), never by its index or value.
 */
function readablePaths(type: string, paths: string[], before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  if (type !== "docker:index/container:Container" || !paths.some((path) => path === "envs" || path.startsWith("envs."))) {
    return paths;
  }
  const names = changedEnvNames(before.envs, after.envs).map((name) => `envs: ${name}`);
  return [...paths.filter((path) => path !== "envs" && !path.startsWith("envs.")), ...(names.length > 0 ? names : ["envs"])];
}

function changeOf(pair: SourcedPair): ResourceChange | undefined {
  const resource = pair.new ?? pair.old!;
  if (resource.type === POSTURE_TYPE) {
    return undefined;
  }
  if (!pair.old) {
    return { kind: "added", type: resource.type, name: resource.name, paths: [] };
  }
  if (!pair.new) {
    return { kind: "removed", type: resource.type, name: resource.name, paths: [] };
  }
  const rawPaths = pair.paths ?? changedPaths(pair.old.inputs, pair.new.inputs);
  const paths = readablePaths(resource.type, rawPaths, pair.old.inputs, pair.new.inputs);
  const protectChanged = pair.old.protect !== undefined && pair.new.protect !== undefined && pair.old.protect !== pair.new.protect;
  // Without the engine's verdict (an offline evaluation), a change of an input the provider cannot update is a replacement (e.g. any Docker container input but restart, memory and CPU).
  if (pair.replaced || (pair.replaced === undefined && rawPaths.some((path) => replacesResource(resource.type, path)))) {
    return { kind: "replaced", type: resource.type, name: resource.name, paths };
  }
  if (paths.length === 0 && !protectChanged) {
    return undefined;
  }
  return { kind: "changed", type: resource.type, name: resource.name, paths: protectChanged ? [...paths, "(protect)"] : paths };
}

const KIND_ORDER: ChangeKind[] = ["replaced", "removed", "added", "changed"];

export function diffFromPairs(pairs: readonly SourcedPair[], title: string, stack: string): DrDiff {
  const findings = findingsFor(pairs);
  // A data store the rules found replaced is listed as replaced, even when only the offline inference said so.
  const replacedByRule = new Set(findings.filter((f) => f.rule === "data-store-replaced").map((f) => `${f.type}::${f.name}`));
  const changes = pairs
    .map((pair) => changeOf(pair.new && replacedByRule.has(`${pair.new.type}::${pair.new.name}`) ? { ...pair, replaced: true } : pair))
    .filter((change): change is ResourceChange => change !== undefined)
    .sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || `${a.type}${a.name}`.localeCompare(`${b.type}${b.name}`));
  const posture = pairs.find((pair) => (pair.new ?? pair.old)?.type === POSTURE_TYPE);
  return {
    title,
    stack,
    findings,
    changes,
    postureBefore: posture?.old?.inputs as DrPosture | undefined,
    postureAfter: posture?.new?.inputs as DrPosture | undefined,
    outputChanges: [],
  };
}

export function outputChanges(before: Record<string, unknown>, after: Record<string, unknown>): DrDiff["outputChanges"] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((name) => name !== "drPosture").sort();
  return names
    .filter((name) => JSON.stringify(before[name]) !== JSON.stringify(after[name]))
    .map((name) => ({ name, before: before[name], after: after[name] }));
}

export function diffEvaluations(base: EvaluatedStack, head: EvaluatedStack, title: string): DrDiff {
  return { ...diffFromPairs(pairsFromEvaluations(base, head), title, head.stack), outputChanges: outputChanges(base.outputs, head.outputs) };
}

// ------------------------------------------------------- pulumi preview --json

interface PreviewState {
  type?: string;
  urn?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  protect?: boolean;
}

interface PreviewStep {
  op: string;
  urn: string;
  oldState?: PreviewState;
  newState?: PreviewState;
  detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }> | null;
  diffReasons?: string[];
}

export interface PreviewDocument {
  steps?: PreviewStep[];
  diagnostics?: Array<{ severity?: string; message?: string; urn?: string }>;
}

/** `urn:pulumi:<stack>::<project>::<parent$...$type>::<name>` into its parts. */
export function parseUrn(urn: string): { stack: string; type: string; name: string } {
  const parts = urn.split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) {
    throw new Error(`not a Pulumi URN: ${urn}`);
  }
  const qualifiedType = parts[2].split("$");
  return { stack: parts[0].slice("urn:pulumi:".length), type: qualifiedType[qualifiedType.length - 1], name: parts.slice(3).join("::") };
}

const REPLACE_OPS = new Set(["replace", "create-replacement", "delete-replaced", "discard-replaced"]);
const SKIPPED_OPS = new Set(["read", "refresh", "read-replacement", "read-discard", "discard-replaced-read", "import", "import-replacement"]);

function previewSnapshot(urn: string, state: PreviewState | undefined): ResourceSnapshot | undefined {
  if (!state) {
    return undefined;
  }
  const { type, name } = parseUrn(urn);
  return { type: state.type ?? type, name, inputs: state.inputs ?? {}, protect: state.protect };
}

/** One pair per URN: a replacement's create-replacement, replace and delete-replaced steps fold into one. */
export function pairsFromPreview(document: PreviewDocument): { stack: string; pairs: SourcedPair[]; errors: string[] } {
  if (!Array.isArray(document.steps)) {
    throw new Error("not a `pulumi preview --json` document: it has no steps array");
  }
  const byUrn = new Map<string, { old?: PreviewState; new?: PreviewState; ops: Set<string>; paths: Set<string> }>();
  let stack = "";
  for (const step of document.steps) {
    if (typeof step.urn !== "string" || typeof step.op !== "string") {
      throw new Error("a preview step needs an op and a urn");
    }
    stack = stack || parseUrn(step.urn).stack;
    if (SKIPPED_OPS.has(step.op)) {
      continue;
    }
    const entry = byUrn.get(step.urn) ?? { ops: new Set<string>(), paths: new Set<string>() };
    entry.ops.add(step.op);
    entry.old = entry.old ?? step.oldState;
    if (step.op !== "delete" && step.op !== "delete-replaced" && step.op !== "discard" && step.op !== "discard-replaced") {
      entry.new = entry.new ?? step.newState;
    }
    for (const path of Object.keys(step.detailedDiff ?? {})) {
      entry.paths.add(path);
    }
    byUrn.set(step.urn, entry);
  }

  const pairs: SourcedPair[] = [];
  for (const [urn, entry] of byUrn) {
    const { type } = parseUrn(urn);
    if (type === "pulumi:pulumi:Stack") {
      const before = postureSnapshot(stack, entry.old?.outputs?.drPosture);
      const after = postureSnapshot(stack, entry.new?.outputs?.drPosture);
      if (before || after) {
        pairs.push({ old: before, new: after && isKnown(entry.new?.outputs?.drPosture) ? after : undefined });
      }
      continue;
    }
    if (IGNORED_TYPES.has(type)) {
      continue;
    }
    const ops = entry.ops;
    const removed = (ops.has("delete") || ops.has("discard")) && !ops.has("create");
    const created = ops.has("create") && !entry.old;
    const replaced = [...ops].some((op) => REPLACE_OPS.has(op));
    const old = created ? undefined : previewSnapshot(urn, entry.old ?? (ops.has("same") || ops.has("update") ? entry.new : undefined));
    const next = removed ? undefined : previewSnapshot(urn, entry.new);
    if (ops.size === 1 && ops.has("same")) {
      pairs.push({ old: next, new: next, replaced: false });
      continue;
    }
    pairs.push({ old, new: next, replaced, paths: entry.paths.size > 0 ? [...entry.paths].sort() : undefined });
  }
  const errors = (document.diagnostics ?? []).filter((d) => d.severity === "error").map((d) => (d.message ?? "").trim());
  return { stack, pairs, errors };
}

export function diffFromPreview(document: PreviewDocument, title?: string): DrDiff & { errors: string[] } {
  const { stack, pairs, errors } = pairsFromPreview(document);
  return { ...diffFromPairs(pairs, title ?? `${stack}: pulumi preview`, stack), errors };
}

export { UNKNOWN };
