import { peerOf, roleOf, SiteName, SiteRole } from "./roles";

/**
 * What a site does, decided from its role alone. These pure functions are the
 * only place the program decides DNS ownership and targets, database mode and
 * backup schedules; `deploySite` and the failover model in the property tests
 * both call them, so the model cannot drift from the program.
 */

/** The stack that must act when the primary is lost owns the failover DNS (DESIGN.md, principle 2). */
export const DNS_OWNER: SiteName = "secondary";

export function ownsDns(site: SiteName): boolean {
  return site === DNS_OWNER;
}

/** Failover order of the sites in DNS: the active site first (Route 53 PRIMARY, first Cloudflare pool), its peer second. */
export function dnsFailoverOrder(activeSite: SiteName): [SiteName, SiteName] {
  return [activeSite, peerOf(activeSite)];
}

/**
 * How a site's current database instance runs:
 * - `writer`: a standalone instance that takes writes (the active site; a
 *   replica is promoted in place by dropping its source);
 * - `replica`: a cross-region read replica of the active site's writer;
 * - `fenced`: a standalone instance that was born a writer while this site is
 *   standby. RDS cannot turn a standalone instance back into a replica, so it
 *   is kept untouched (its application is scaled down and DNS points away)
 *   until failback step 1 raises the site's database generation.
 */
export type DatabaseMode = "writer" | "replica" | "fenced";

/**
 * The generation a site's database is created with at first deployment:
 * generation 1 of the primary is created as the writer, every other
 * generation is created as a replica of the active writer.
 */
export function bornAsWriter(site: SiteName, generation: number): boolean {
  return site === "primary" && generation === 1;
}

export function databaseMode(site: SiteName, activeSite: SiteName, generation: number): DatabaseMode {
  if (roleOf(site, activeSite) === "active") {
    return "writer";
  }
  return bornAsWriter(site, generation) ? "fenced" : "replica";
}

/** The site whose writer a replica follows: always the active site. */
export function replicationSourceSite(activeSite: SiteName): SiteName {
  return activeSite;
}

/**
 * Whether a stack reads the primary's stack outputs: only the secondary, and
 * only while it is standby. On the failover path (activeSite=secondary) the
 * secondary needs nothing from the primary (principle 1); the primary never
 * reads the secondary (principle 2).
 */
export function readsPrimaryStack(site: SiteName, activeSite: SiteName): boolean {
  return site === "secondary" && roleOf(site, activeSite) === "standby";
}

/** Scheduled backups run where the writer is, and only there. */
export function backupsScheduled(role: SiteRole): boolean {
  return role === "active";
}

/** Workloads run at full size on the active site, at the warm minimum on the standby. */
export type WorkloadScale = "full" | "warm";

export function workloadScale(role: SiteRole): WorkloadScale {
  return role === "active" ? "full" : "warm";
}

/** Generations of a site's database that are retired but kept: the one before the current. */
export function retiredGenerations(generation: number): number[] {
  return generation > 1 ? [generation - 1] : [];
}
