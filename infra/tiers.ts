/** Recovery tiers: names are fixed, objectives (RTO/RPO) come from config. */

export const TIER_NAMES = ["critical", "high", "standard", "low"] as const;
export type TierName = (typeof TIER_NAMES)[number];

export interface RecoveryObjectives {
  /** Longest tolerable time from losing the active site to serving users again. */
  rtoMinutes: number;
  /** Longest tolerable window of data loss. */
  rpoMinutes: number;
}

export type TierObjectives = Record<TierName, RecoveryObjectives>;

export function isTierName(value: string): value is TierName {
  return (TIER_NAMES as readonly string[]).includes(value);
}

/** The config key stem of a tier, e.g. `tierCritical` for `critical`. */
export function tierKeyStem(tier: TierName): string {
  return `tier${tier[0].toUpperCase()}${tier.slice(1)}`;
}
