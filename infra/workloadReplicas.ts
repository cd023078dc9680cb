import { SiteRole } from "./roles";
import { workloadScale } from "./sitePlan";

/**
 * How many pods each tier of the application runs in a site. The program and
 * the failover model both call `workloadReplicas`, so the model checks the
 * very rule the program deploys.
 */

export interface TierReplicas {
  web: number;
  worker: number;
}

export interface ReplicaSettings {
  /** What the active site runs: the size that carries production traffic. */
  full: TierReplicas;
  /** What a warm standby keeps running so failover only has to scale, not cold-start. */
  warmMinimum: TierReplicas;
  /** Pilot light: the standby runs no pods at all; failover starts them from zero. */
  pilotLight: boolean;
}

export const NO_REPLICAS: TierReplicas = { web: 0, worker: 0 };

/** Active: full size. Standby: the warm minimum, or nothing in pilot-light mode. */
export function workloadReplicas(role: SiteRole, settings: ReplicaSettings): TierReplicas {
  if (workloadScale(role) === "full") {
    return { ...settings.full };
  }
  return settings.pilotLight ? { ...NO_REPLICAS } : { ...settings.warmMinimum };
}
