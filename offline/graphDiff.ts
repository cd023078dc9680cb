import { DATA_STORE_TYPES, failoverMayChange, failoverMayRemoveOrAdd, replacesResource } from "../infra/failoverAllowList";
import { RecordedResource } from "./evaluate";

/**
 * Differences between two evaluated resource graphs of one stack, the way a
 * reviewer reads a preview: resources added or removed (by type and name,
 * which is what the engine keys them by) and inputs changed, by path.
 */

export type GraphChange =
  | { kind: "added" | "removed"; type: string; name: string }
  | { kind: "changed"; type: string; name: string; path: string; before: unknown; after: unknown }
  | { kind: "unprotected"; type: string; name: string };

function key(resource: RecordedResource): string {
  return `${resource.type}::${resource.name}`;
}

/** Pulumi's marker of a secret value on the wire. */
const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

/** Leaf values by path: `a.b`, `a[0].c`. JSON documents (policies) and secrets are leaves. */
export function flattenInputs(value: unknown, prefix = "", into = new Map<string, unknown>()): Map<string, unknown> {
  if (Array.isArray(value)) {
    if (value.length === 0) {
      into.set(prefix, []);
    }
    value.forEach((item, index) => flattenInputs(item, `${prefix}[${index}]`, into));
  } else if (value !== null && typeof value === "object" && !(SECRET_SIGNATURE in value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix !== "") {
      into.set(prefix, {});
    }
    for (const [field, item] of entries) {
      flattenInputs(item, prefix === "" ? field : `${prefix}.${field}`, into);
    }
  } else if (prefix !== "") {
    into.set(prefix, value);
  }
  return into;
}

export function diffGraphs(before: RecordedResource[], after: RecordedResource[]): GraphChange[] {
  const changes: GraphChange[] = [];
  const afterByKey = new Map(after.map((resource) => [key(resource), resource]));
  const beforeKeys = new Set(before.map(key));
  for (const old of before) {
    const current = afterByKey.get(key(old));
    if (current === undefined) {
      changes.push({ kind: "removed", type: old.type, name: old.name });
      continue;
    }
    if (old.protect && !current.protect) {
      changes.push({ kind: "unprotected", type: old.type, name: old.name });
    }
    const oldInputs = flattenInputs(old.inputs);
    const newInputs = flattenInputs(current.inputs);
    for (const path of new Set([...oldInputs.keys(), ...newInputs.keys()])) {
      if (ignoredByBoth(path, old, current)) {
        continue;
      }
      if (JSON.stringify(oldInputs.get(path)) !== JSON.stringify(newInputs.get(path))) {
        changes.push({ kind: "changed", type: old.type, name: old.name, path, before: oldInputs.get(path), after: newInputs.get(path) });
      }
    }
  }
  for (const current of after) {
    if (!beforeKeys.has(key(current))) {
      changes.push({ kind: "added", type: current.type, name: current.name });
    }
  }
  return changes;
}

/**
 * Whether the engine leaves `path` alone: both declarations list it (or a
 * field above it) in `ignoreChanges`, so the value in state wins. A path
 * only the new declaration ignores is still a change a reviewer sees: it is
 * the step that starts ignoring it.
 */
function ignoredByBoth(path: string, before: RecordedResource, after: RecordedResource): boolean {
  const covers = (ignored: string) => path === ignored || path.startsWith(`${ignored}.`) || path.startsWith(`${ignored}[`);
  return (before.ignoreChanges ?? []).some(covers) && (after.ignoreChanges ?? []).some(covers);
}

/** The changes a failover is not allowed to make: anything outside the allow-list, and any touch of a data store's existence or protection. */
export function forbiddenFailoverChanges(changes: GraphChange[]): GraphChange[] {
  return changes.filter((change) => {
    if (change.kind === "changed") {
      return !failoverMayChange(change.type, change.path, change.before, change.after, change.name);
    }
    if (change.kind === "removed" || change.kind === "added") {
      return !failoverMayRemoveOrAdd(change.kind === "removed" ? "removal" : "addition", change.type, change.name);
    }
    return true;
  });
}

/**
 * The resources a set of changes replaces rather than updates in place
 * (`replacesResource`: e.g. a Docker container for any input but restart,
 * memory and CPU), once each, in the order first seen.
 */
export function replacedResources(changes: readonly GraphChange[]): Array<{ type: string; name: string; paths: string[] }> {
  const replaced = new Map<string, { type: string; name: string; paths: string[] }>();
  for (const change of changes) {
    if (change.kind === "changed" && replacesResource(change.type, change.path)) {
      const entry = replaced.get(`${change.type}::${change.name}`) ?? { type: change.type, name: change.name, paths: [] };
      entry.paths.push(change.path);
      replaced.set(`${change.type}::${change.name}`, entry);
    }
  }
  return [...replaced.values()];
}

export function isDataStore(resource: { type: string }): boolean {
  return DATA_STORE_TYPES.includes(resource.type);
}
