/**
 * Reading a Docker container's inputs as the offline evaluation records them:
 * a list built from a secret (envs, uploads) arrives wrapped in Pulumi's
 * secret marker, and an env entry is one `NAME=value` string
 * (@pulumi/docker, ContainerArgs.envs).
 */

/** Pulumi's marker of a secret value on the wire. */
export const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

export function unwrapSecret(value: unknown): unknown {
  return value !== null && typeof value === "object" && SECRET_SIGNATURE in value && "value" in value ? (value as { value: unknown }).value : value;
}

export function isSecretValue(value: unknown): boolean {
  return value !== null && typeof value === "object" && SECRET_SIGNATURE in value;
}

/** A container's environment by name, in declaration order. Entries that are not `NAME=value` strings are skipped. */
export function containerEnvs(inputs: Record<string, unknown>): Map<string, string> {
  const entries = unwrapSecret(inputs.envs);
  const envs = new Map<string, string>();
  for (const entry of Array.isArray(entries) ? entries : []) {
    if (typeof entry === "string" && entry.includes("=")) {
      envs.set(entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1));
    }
  }
  return envs;
}

/** The env names whose value differs between two declarations of a container, added or removed ones included. */
export function changedEnvNames(before: unknown, after: unknown): string[] {
  const old = containerEnvs({ envs: before });
  const next = containerEnvs({ envs: after });
  return [...new Set([...old.keys(), ...next.keys()])].filter((name) => old.get(name) !== next.get(name)).sort();
}
