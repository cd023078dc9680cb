/**
 * Role derivation: the single place that turns `site` and `activeSite` into
 * what a site does. The program, the offline plan and every test model import
 * this module; nothing else may decide a role.
 */

export const SITES = ["primary", "secondary"] as const;
export type SiteName = (typeof SITES)[number];

export type SiteRole = "active" | "standby";

export function isSiteName(value: string): value is SiteName {
  return (SITES as readonly string[]).includes(value);
}

/** A site is active when its name equals `activeSite`, otherwise standby. */
export function roleOf(site: SiteName, activeSite: SiteName): SiteRole {
  return site === activeSite ? "active" : "standby";
}

export function peerOf(site: SiteName): SiteName {
  return site === "primary" ? "secondary" : "primary";
}
