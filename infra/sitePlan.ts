import { peerOf, roleOf, SiteName, SiteRole } from "./roles";

/**
 * What a site does, decided from its role alone. These pure functions are the
 * only place the program decides DNS ownership and targets, database mode and
 * backup schedules; `deploySite` and the failover model in the property tests
 * both call them, so the model cannot drift from the program.
 */

/** The stack that must act when the primary is lost owns the failover DNS (docs/design.md, rule 2). */
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
 * - `fenced`: a former writer on a site that is now standby. RDS cannot turn
 *   a standalone instance back into a replica, so it is kept untouched (its
 *   application is scaled down and DNS points away) until failback raises the
 *   site's database generation and a fresh replica is built beside it.
 */
export type DatabaseMode = "writer" | "replica" | "fenced";

/**
 * The two sites' database generations record where the pair is in the
 * failover/failback cycle, so the program can tell a fresh replica from a
 * former writer without any memory of its own:
 *
 * | phase | activeSite | primary gen | secondary gen | primary | secondary |
 * |---|---|---|---|---|---|
 * | normal | primary | n | n | writer | replica |
 * | failed over | secondary | n | n | fenced | writer (promoted) |
 * | primary rebuilt | secondary | n+1 | n | replica | writer |
 * | switched back | primary | n+1 | n | writer (promoted) | fenced |
 * | secondary rebuilt | primary | n+1 | n+1 | writer | replica |
 *
 * A standby's current generation is a replica exactly when it was built
 * after its peer's: the primary's when it is one ahead, the secondary's when
 * the two are equal. Any other standby generation has been a writer.
 */
export function isFreshReplicaGeneration(site: SiteName, generations: Readonly<Record<SiteName, number>>): boolean {
  return site === "primary" ? generations.primary === generations.secondary + 1 : generations.secondary === generations.primary;
}

/** The generations are consistent when the primary's equals the secondary's or is one ahead. */
export function generationsConsistent(generations: Readonly<Record<SiteName, number>>): boolean {
  const lead = generations.primary - generations.secondary;
  return lead === 0 || lead === 1;
}

export function databaseMode(site: SiteName, activeSite: SiteName, generations: Readonly<Record<SiteName, number>>): DatabaseMode {
  if (roleOf(site, activeSite) === "active") {
    return "writer";
  }
  return isFreshReplicaGeneration(site, generations) ? "replica" : "fenced";
}

/** The site whose writer a replica follows: always the active site. */
export function replicationSourceSite(activeSite: SiteName): SiteName {
  return activeSite;
}

/**
 * Whether a stack reads the primary's stack outputs: only the secondary, and
 * only while it is standby. On the failover path (activeSite=secondary) the
 * secondary needs nothing from the primary (docs/design.md, rule 1); the primary never
 * reads the secondary (docs/design.md, rule 2).
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

/**
 * Only a site's first database generation may start as a writer from
 * nothing, and only a replica is ever created beside a writer. Every later
 * writer is a replica promoted in place, and every fenced database is a
 * former writer, so both must already exist; declaring one that does not
 * would create an empty database beside the real data (flipping back to a
 * site whose rebuilt replica was never `up`ed; two rebuilds with no `up`
 * between them, which the property model found). The program refuses such an
 * `up` (README, Failback).
 */
export function mustAlreadyExist(mode: DatabaseMode, generation: number): boolean {
  return mode === "fenced" || (mode === "writer" && generation > 1);
}

/**
 * The writer epoch: a number that grows every time the writer changes, so two
 * sites that both believe they are the writer can tell which belief is newer
 * without reaching any third party. The primary's writers take the even
 * numbers, the secondary's the odd ones:
 *
 * | phase | activeSite | primary gen | secondary gen | epoch |
 * |---|---|---|---|---|
 * | normal | primary | n | n | 2n |
 * | failed over | secondary | n | n | 2n+1 |
 * | primary rebuilt | secondary | n+1 | n | 2n+1 (same writer) |
 * | switched back | primary | n+1 | n | 2n+2 |
 * | secondary rebuilt | primary | n+1 | n+1 | 2n+2 (same writer) |
 *
 * Making a former writer the writer again without a rebuild (no generation
 * raised) gives it its old, lower epoch: the other site's claim then wins
 * (README, Failover).
 */
export function writerEpoch(activeSite: SiteName, generations: Readonly<Record<SiteName, number>>): number {
  return activeSite === "primary" ? 2 * generations.primary : 2 * generations.secondary + 1;
}

export const WRITER_CLAIM_FORMAT = "drstack.writer-claim/v1";

/**
 * What a stack tells the fencing guards about its site, written by the stack
 * in its own region once its database change has succeeded. The guards and
 * the backup jobs (`lambdas/core/fencing.ts`) read it at run time; it is the
 * only place they learn the site's role.
 */
export interface WriterClaim {
  format: typeof WRITER_CLAIM_FORMAT;
  site: SiteName;
  activeSite: SiteName;
  role: SiteRole;
  databaseMode: DatabaseMode;
  databaseIdentifier: string;
  /** `writerEpoch(activeSite, generations)` as this stack's config knows them. */
  epoch: number;
}

export function writerClaim(
  site: SiteName,
  activeSite: SiteName,
  generations: Readonly<Record<SiteName, number>>,
  databaseIdentifier: string,
): WriterClaim {
  return {
    format: WRITER_CLAIM_FORMAT,
    site,
    activeSite,
    role: roleOf(site, activeSite),
    databaseMode: databaseMode(site, activeSite, generations),
    databaseIdentifier,
    epoch: writerEpoch(activeSite, generations),
  };
}

/**
 * Whose automated backups a site keeps a replicated copy of in its own
 * region (InstanceAutomatedBackupsReplication): always the peer's, and only
 * of a peer instance that has been a writer (a PostgreSQL read replica keeps
 * no automated backups to replicate). Two provider facts decide when it may
 * change: starting a copy needs the source to be a writer, and deleting one
 * waits on the source instance in the source's region (terraform-provider-aws,
 * instance_automated_backups_replication.go,
 * resourceInstanceAutomatedBackupsReplicationDelete). So the copy follows the
 * generations only, never `activeSite`, and moves only at the site's own
 * rebuild, an `up` that needs the peer's writer anyway (it creates a replica
 * of it):
 *
 * | phase | activeSite | primary gen | secondary gen | primary copies | secondary copies |
 * |---|---|---|---|---|---|
 * | normal | primary | n | n | secondary g(n-1) (none at n=1) | primary g(n) |
 * | failed over | secondary | n | n | secondary g(n-1) (none at n=1) | primary g(n) |
 * | primary rebuilt | secondary | n+1 | n | secondary g(n) | primary g(n) |
 * | switched back | primary | n+1 | n | secondary g(n) | primary g(n) |
 * | secondary rebuilt | primary | n+1 | n+1 | secondary g(n) | primary g(n+1) |
 *
 * No flip, in either direction and with either region lost, creates or
 * deletes a copy; the lost writer's backups stay restorable in the
 * survivor's region. The price: after a failover the primary's region holds
 * no copy of the promoted secondary's backups until failback step 1, and
 * between failback steps 2 and 3 the secondary's holds the primary's
 * previous writer's.
 */
export function replicatedBackupsSource(site: SiteName, generations: Readonly<Record<SiteName, number>>): { site: SiteName; generation: number } | undefined {
  const source = site === "secondary" ? { site: "primary" as const, generation: generations.secondary } : { site: "secondary" as const, generation: generations.primary - 1 };
  return source.generation >= 1 ? source : undefined;
}
