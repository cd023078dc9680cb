import { RecordedResource } from "../../offline/evaluate";
import { evaluate } from "../unit/evaluations";

// Each evaluation of the program takes seconds; several in one test outgrow jest's 5 s default on a busy machine.
jest.setTimeout(60_000);

/**
 * What flipping `activeSite` may change in the workloads, images and backup
 * jobs of a stack: replica counts and backup schedule states, nothing else.
 * Every resource exists in both roles, so the flip creates and deletes nothing.
 */
const COMPONENTS = ["drstack:workloads:Workloads", "drstack:images:ImageRegistry", "drstack:certificates:SiteCertificate", "drstack:backups:BackupJobs"];
const ALLOWED_CHANGES: Record<string, string[]> = {
  "kubernetes:apps/v1:Deployment": ["spec.replicas"],
  "aws:scheduler/schedule:Schedule": ["state"],
};

function flatten(value: unknown, path = ""): Record<string, unknown> {
  if (value === null || typeof value !== "object") {
    return { [path]: value };
  }
  return Object.entries(value as Record<string, unknown>).reduce(
    (flat, [key, inner]) => ({ ...flat, ...flatten(inner, path ? `${path}.${key}` : key) }),
    {} as Record<string, unknown>,
  );
}

function ours(resources: RecordedResource[]): Map<string, RecordedResource> {
  return new Map(
    resources.filter((r) => COMPONENTS.some((component) => r.parent?.startsWith(`${component}::`))).map((r) => [`${r.type}::${r.name}`, r]),
  );
}

describe.each(["primary", "secondary"])("flipping activeSite on the %s stack", (stack) => {
  test("changes only replica counts and backup schedule states, and creates or deletes nothing", async () => {
    const before = ours((await evaluate(stack, { activeSite: "primary" })).resources);
    const after = ours((await evaluate(stack, { activeSite: "secondary" })).resources);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());

    const changes: string[] = [];
    for (const [key, old] of before) {
      const oldFlat = flatten(old.inputs);
      const newFlat = flatten(after.get(key)!.inputs);
      for (const path of new Set([...Object.keys(oldFlat), ...Object.keys(newFlat)])) {
        if (JSON.stringify(oldFlat[path]) !== JSON.stringify(newFlat[path]) && !(ALLOWED_CHANGES[old.type] ?? []).includes(path)) {
          changes.push(`${key} ${path}: ${JSON.stringify(oldFlat[path])} -> ${JSON.stringify(newFlat[path])}`);
        }
      }
    }
    expect(changes).toEqual([]);

    const changed = (type: string, path: string) =>
      [...before.values()].filter((r) => r.type === type && JSON.stringify(flatten(r.inputs)[path]) !== JSON.stringify(flatten(after.get(`${r.type}::${r.name}`)!.inputs)[path]));
    expect(changed("kubernetes:apps/v1:Deployment", "spec.replicas").map((r) => r.name).sort()).toEqual([`${stack}-workloads-web`, `${stack}-workloads-worker`]);
    expect(changed("aws:scheduler/schedule:Schedule", "state").map((r) => r.name).sort()).toEqual([
      `${stack}-backup-jobs-backup-ledger-schedule`,
      `${stack}-backup-jobs-backup-shop-schedule`,
    ]);
  });
});
