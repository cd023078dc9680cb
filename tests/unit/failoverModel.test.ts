import * as fc from "fast-check";
import { dnsPlan } from "../../infra/dns";
import { databaseIdentifier } from "../../infra/naming";
import { peerOf, roleOf, SiteName, SiteRole, SITES } from "../../infra/roles";
import {
  backupsScheduled,
  databaseMode,
  DNS_OWNER,
  generationsConsistent,
  ownsDns,
  readsPrimaryStack,
  replicatedBackupsSource,
  replicationSourceSite,
  retiredGenerations,
  writerClaim,
  mustAlreadyExist,
} from "../../infra/sitePlan";
import {
  backupGate,
  claimsWriter,
  DatabaseState,
  decide,
  FenceMarker,
  GuardDecision,
  GuardObservation,
  markerHolds,
  parseWriterClaim,
  SiteObservation,
  WriterClaim,
} from "../../lambdas/core/fencing";
import { compareWriterOrder, newestByWriterOrder } from "../../lambdas/core/layout";

/**
 * A model of the two regions, the two stacks, their databases, their fencing
 * guards and their backups, driven by the program's own decision functions
 * (roles.ts, sitePlan.ts, dns.ts) and by the guard's and the backup job's own
 * decisions (lambdas/core/fencing.ts: `decide`, `backupGate`), and by the
 * readers' order of backups (lambdas/core/layout.ts). An `up` asks the program
 * what to declare, and a small model of RDS, Scheduler, S3 and the Pulumi
 * engine applies it. fast-check plays sequences of operator actions,
 * disasters and scheduled runs, and checks the invariants after every step.
 *
 * What the model assumes, from README's runbook:
 * - an `up` that makes a site active is run only when its peer is lost,
 *   already standby, or has just come back by itself (the operator may be
 *   failing over when it does);
 * - failback rebuilds raise one site's generation in both stacks, and the
 *   generation before the previous one is forgotten deliberately (state
 *   delete) rather than deleted;
 * - a region is either up or lost: a lost region runs nothing and nobody
 *   reaches it. A partition that hides a live region from its peer only
 *   is not modelled; README says what the guard does then.
 *
 * What it does not assume: a region that returns runs its last deployed
 * state (full workloads, enabled schedules, a writable former writer) until
 * its guard runs. Every site's application writes to its current database
 * whenever that database is a running standalone instance, whatever the
 * site's role. So two sites can take writes between a change a guard must
 * see (a region's return, a claim that changed, a database RDS restarted) and
 * the next run of the guards: at most one schedule interval. The invariants
 * about writers are checked at every step where every live site's guard has
 * run since such a change; the ones about DNS pointing at superseded writers,
 * backups and pointers at every step.
 */

const PREFIX = "acme-shop-dr";

interface Instance {
  id: string;
  site: SiteName;
  kind: "writer" | "replica";
  source?: string;
  createdAtStep: number;
  /** How it was created: only the very first writer may start empty; every later database starts as a copy. */
  bornAs: "writer" | "replica";
  /** Stopped by a guard (RDS starts it again by itself after seven days: `autostart`). */
  stopped: boolean;
}

interface Deployed {
  role: SiteRole;
  /** The database instance the site's application uses. */
  current: string;
  /** The claim parameter's value, as the stack wrote it. */
  claim: string;
}

/** A site's pointer in a bucket; `slot` is the model step the backup ran at. */
interface Pointer {
  site: SiteName;
  epoch: number;
  slot: number;
  /** Which site's backup job wrote this object (into its own bucket; the other copy is a replica). */
  writtenBy: SiteName;
}

interface Publish {
  step: number;
  site: SiteName;
  epoch: number;
  peerReachable: boolean;
}

type Decide = (observation: GuardObservation, now: Date) => GuardDecision;

interface World {
  step: number;
  healthCheckedDns: boolean;
  decide: Decide;
  config: Record<SiteName, { activeSite: SiteName; generations: Record<SiteName, number> }>;
  regionUp: Record<SiteName, boolean>;
  /** Came back by itself and has not been `up`ed since. */
  returnedWithoutUp: Record<SiteName, boolean>;
  instances: Map<string, Instance>;
  /** Instances an operator removed from a stack's state on purpose; they still exist. */
  forgotten: Set<string>;
  deployed: Partial<Record<SiteName, Deployed>>;
  /** Backup schedule state in AWS, and what the stack's state last recorded (an `up` changes only what differs from state). */
  schedules: Record<SiteName, boolean>;
  schedulesInState: Partial<Record<SiteName, boolean>>;
  markers: Partial<Record<SiteName, FenceMarker>>;
  /** Each region's bucket: `latest-<site>` -> pointer. */
  buckets: Record<SiteName, Map<string, Pointer>>;
  /** A change this site's guard must see happened since its last run. */
  stale: Record<SiteName, boolean>;
  publishes: Publish[];
  dnsOrder?: [SiteName, SiteName];
  /** Per stack, the instances whose automated backups it copies into its own region (InstanceAutomatedBackupsReplication). */
  copies: Record<SiteName, Set<string>>;
  /** Every database ever created, with the step it was created at: never deleted, never recreated. */
  created: Map<string, number>;
  /** `up`s the engine or RDS refused, with why: safe, but recorded. */
  refusals: string[];
  /** Backups the gate refused (fencing working), with why. */
  refusedBackups: string[];
}

type Event =
  | { kind: "flip"; stack: SiteName; activeSite: SiteName }
  | { kind: "up"; stack: SiteName }
  | { kind: "lose"; site: SiteName }
  | { kind: "regain"; site: SiteName }
  | { kind: "rebuild"; site: SiteName }
  | { kind: "guard"; site: SiteName }
  | { kind: "backup"; site: SiteName }
  | { kind: "replicate"; from: SiteName }
  | { kind: "autostart"; site: SiteName };

class Refused extends Error {}

function newWorld(healthCheckedDns: boolean, decideFn: Decide = decide): World {
  const generations = { primary: 1, secondary: 1 };
  const world: World = {
    step: 0,
    healthCheckedDns,
    decide: decideFn,
    config: { primary: { activeSite: "primary", generations: { ...generations } }, secondary: { activeSite: "primary", generations: { ...generations } } },
    regionUp: { primary: true, secondary: true },
    returnedWithoutUp: { primary: false, secondary: false },
    instances: new Map(),
    forgotten: new Set(),
    deployed: {},
    schedules: { primary: false, secondary: false },
    schedulesInState: {},
    markers: {},
    buckets: { primary: new Map(), secondary: new Map() },
    stale: { primary: false, secondary: false },
    publishes: [],
    copies: { primary: new Set(), secondary: new Set() },
    created: new Map(),
    refusals: [],
    refusedBackups: [],
  };
  // The documented first deployment: primary, then secondary; then each guard's first run.
  up(world, "primary");
  up(world, "secondary");
  runGuard(world, "primary");
  runGuard(world, "secondary");
  return world;
}

const claimOf = (world: World, site: SiteName): WriterClaim | undefined => {
  const deployed = world.deployed[site];
  return deployed && parseWriterClaim(deployed.claim);
};

function markStale(world: World): void {
  for (const site of SITES) world.stale[site] = true;
}

/** `pulumi up` of one stack: the program decides, the engine and RDS apply or refuse, all or nothing. */
function up(world: World, stack: SiteName): void {
  const config = world.config[stack];
  if (!world.regionUp[stack]) {
    throw new Refused(`${stack}'s region is lost`);
  }
  const role = roleOf(stack, config.activeSite);
  const mode = databaseMode(stack, config.activeSite, config.generations);
  const generation = config.generations[stack];
  const currentId = databaseIdentifier(PREFIX, stack, generation);
  const declared = new Set([currentId, ...retiredGenerations(generation).map((g) => databaseIdentifier(PREFIX, stack, g))]);

  // The engine would delete a managed instance the program no longer declares; protect stops it.
  for (const instance of world.instances.values()) {
    if (instance.site === stack && !declared.has(instance.id) && !world.forgotten.has(instance.id)) {
      throw new Refused(`protect: the program no longer declares ${instance.id}`);
    }
  }
  const changes: Array<() => void> = [];
  for (const id of declared) {
    if (id !== currentId && !world.instances.has(id)) {
      throw new Error(`the program would create the retired generation ${id} from nothing`);
    }
  }

  const existing = world.instances.get(currentId);
  let source: string | undefined;
  if (mode === "replica") {
    if (readsPrimaryStack(stack, config.activeSite)) {
      // The primary stack's `databaseArn` output, from the state backend (not in the primary region).
      const primary = world.deployed.primary;
      if (!primary) {
        throw new Refused("the primary stack has no outputs yet");
      }
      source = primary.current;
    } else {
      const sourceSite = replicationSourceSite(config.activeSite);
      source = databaseIdentifier(PREFIX, sourceSite, config.generations[sourceSite]);
    }
  }
  if (existing === undefined) {
    if (mustAlreadyExist(mode, generation)) {
      throw new Refused(`the program refuses to create ${currentId} as an empty ${mode === "fenced" ? "former writer" : "writer"}`);
    }
    if (mode === "replica") {
      const origin = source === undefined ? undefined : world.instances.get(source);
      if (!origin || origin.kind !== "writer" || origin.stopped || !world.regionUp[origin.site]) {
        throw new Refused(`RDS cannot create a replica of ${source}: it is not a reachable, running writer`);
      }
    }
    changes.push(() => {
      const kind = mode === "replica" ? "replica" : "writer";
      world.instances.set(currentId, { id: currentId, site: stack, kind, source, createdAtStep: world.step, bornAs: kind, stopped: false });
      world.created.set(currentId, world.step);
    });
  } else if (mode === "replica") {
    if (existing.kind === "writer") {
      throw new Refused(`RDS cannot turn the standalone ${currentId} into a replica`);
    }
    if (existing.source !== source) {
      throw new Refused(`RDS cannot give the replica ${currentId} a new source`);
    }
  } else if (existing.kind === "replica") {
    // Promotion: in place, under the same identifier.
    changes.push(() => {
      existing.kind = "writer";
      existing.source = undefined;
    });
  }

  // The copy of the peer writer's automated backups: starting one needs its source to be a reachable, running
  // writer (a PostgreSQL replica keeps no automated backups); deleting one makes the provider wait on the source
  // in the source's region (instance_automated_backups_replication.go). Neither may be needed by the up that
  // makes a site active while its peer's region is lost: that is the failover path (docs/design.md, rule 1).
  const copySource = replicatedBackupsSource(stack, config.generations);
  const wantedCopy = copySource && databaseIdentifier(PREFIX, copySource.site, copySource.generation);
  const failoverPath = role === "active" && !world.regionUp[peerOf(stack)];
  const copyRefused = (why: string) => {
    if (failoverPath) {
      throw new Error(`the failover up of ${stack} needs the lost region: ${why}`);
    }
    return new Refused(why);
  };
  for (const held of world.copies[stack]) {
    const source = world.instances.get(held);
    if (held !== wantedCopy && source !== undefined && !world.regionUp[source.site]) {
      throw copyRefused(`the provider cannot stop copying ${held}'s backups: it waits on ${held} in ${source.site}'s lost region`);
    }
  }
  if (wantedCopy !== undefined && !world.copies[stack].has(wantedCopy)) {
    const source = world.instances.get(wantedCopy);
    if (!source || source.kind !== "writer" || source.stopped || !world.regionUp[source.site]) {
      throw copyRefused(`RDS cannot start copying ${wantedCopy}'s automated backups: it is not a reachable, running writer`);
    }
  }
  changes.push(() => {
    world.copies[stack] = new Set(wantedCopy === undefined ? [] : [wantedCopy]);
  });

  for (const change of changes) {
    change();
  }
  // The claim is declared after the database: it changes only once the database change succeeded.
  const claim = JSON.stringify(writerClaim(stack, config.activeSite, config.generations, currentId));
  if (world.deployed[stack]?.claim !== claim) {
    markStale(world);
  }
  world.deployed[stack] = { role, current: currentId, claim };
  // Without a refresh the engine compares with its state, not with AWS: a schedule a guard disabled stays
  // disabled until the program declares a state different from the recorded one.
  const declaredSchedules = backupsScheduled(role);
  if (world.schedulesInState[stack] !== declaredSchedules) {
    world.schedules[stack] = declaredSchedules;
    world.schedulesInState[stack] = declaredSchedules;
  }
  world.returnedWithoutUp[stack] = false;
  if (ownsDns(stack)) {
    world.dnsOrder = dnsPlan(config.activeSite, 60).order;
  }
}

function databaseState(world: World, id: string): DatabaseState | undefined {
  const instance = world.instances.get(id);
  if (!instance) return undefined;
  return {
    identifier: id,
    status: instance.stopped ? "stopped" : "available",
    ...(instance.kind === "replica" ? { replicaOf: instance.source } : {}),
    readReplicas: [...world.instances.values()].filter((r) => r.kind === "replica" && r.source === id).map((r) => r.id),
  };
}

/** What a guard in `site`'s region reads: its own site always, the peer only while the peer's region is up. */
function observeSite(world: World, site: SiteName): SiteObservation {
  const claim = claimOf(world, site);
  return {
    claim: { ok: true, value: claim },
    marker: { ok: true, value: world.markers[site] },
    database: claim ? { ok: true, value: databaseState(world, claim.databaseIdentifier) } : { ok: false, problem: "no claim names a database" },
  };
}

function observation(world: World, site: SiteName): GuardObservation {
  const peer = peerOf(site);
  const lost = { ok: false as const, problem: `${peer}'s region is lost` };
  return { own: observeSite(world, site), peer: world.regionUp[peer] ? observeSite(world, peer) : { claim: lost, marker: lost, database: lost } };
}

/** One run of a site's guard (scheduled, or asked by a backup): decide with the guard's own function, then act. */
function runGuard(world: World, site: SiteName): GuardDecision {
  const decision = world.decide(observation(world, site), new Date(world.step * 60_000));
  if (decision.writeMarker) {
    world.markers[site] = decision.writeMarker;
  }
  if (decision.disableSchedules) {
    world.schedules[site] = false;
  }
  if (decision.stopDatabase) {
    const instance = world.instances.get(decision.stopDatabase);
    const state = databaseState(world, decision.stopDatabase);
    // RDS refuses to stop a replica, an instance with replicas, or one not available.
    if (!instance || !state || state.replicaOf !== undefined || state.readReplicas.length > 0 || state.status !== "available") {
      throw new Error(`the guard of ${site} asked RDS for a stop it refuses: ${decision.stopDatabase} ${JSON.stringify(state)}`);
    }
    instance.stopped = true;
  }
  world.stale[site] = false;
  return decision;
}

/** One scheduled backup run: only where the schedule is enabled, through the backup job's own gate. */
function runBackup(world: World, site: SiteName): void {
  const deployed = world.deployed[site];
  if (!deployed || !world.regionUp[site] || !world.schedules[site]) return;
  const instance = world.instances.get(deployed.current);
  if (!instance || instance.stopped) return; // it cannot connect: the run fails, nothing is written
  if (instance.kind === "replica") {
    world.refusedBackups.push(`${site}: its database is in recovery`);
    return;
  }
  // As the handler does: read claim and marker, then ask the guard (which acts on its decision too).
  const state = { claim: { ok: true as const, value: claimOf(world, site) }, marker: { ok: true as const, value: world.markers[site] } };
  const decision = runGuard(world, site);
  const gate = backupGate({ ...state, guard: { ok: true, decision } });
  if (!gate.ok) {
    if (!gate.refused) throw new Error(`the model's gate could not decide: ${gate.reason}`);
    world.refusedBackups.push(`${site}: ${gate.reason}`);
    return;
  }
  const peer = peerOf(site);
  // What the publish may be relied on for: the site is a running writer, says so, and is not fenced;
  // while its peer is reachable, no newer writer exists there.
  const claim = claimOf(world, site)!;
  if (instance.stopped || !claimsWriter(claim) || markerHolds(world.markers[site], claim) || gate.epoch !== claim.epoch || gate.site !== site) {
    throw new Error(`${site} published without being a running, unfenced writer, at step ${world.step}`);
  }
  const peerClaim = claimOf(world, peer);
  const peerDb = peerClaim && databaseState(world, peerClaim.databaseIdentifier);
  if (world.regionUp[peer] && peerClaim && claimsWriter(peerClaim) && peerClaim.epoch > claim.epoch && peerDb !== undefined && peerDb.replicaOf === undefined && !markerHolds(world.markers[peer], peerClaim)) {
    throw new Error(`${site} published at epoch ${claim.epoch} while ${peer}, reachable, is the writer at ${peerClaim.epoch}, at step ${world.step}`);
  }
  world.publishes.push({ step: world.step, site, epoch: gate.epoch, peerReachable: world.regionUp[peer] });
  const key = `latest-${site}`;
  const next: Pointer = { site, epoch: gate.epoch, slot: world.step, writtenBy: site };
  const current = world.buckets[site].get(key);
  // publishLatest: the site's pointer only moves forward by (epoch, slot).
  if (!current || compareWriterOrder(order(next), order(current)) > 0) {
    world.buckets[site].set(key, next);
  }
}

const order = (pointer: Pointer) => ({ epoch: pointer.epoch, slot: new Date(pointer.slot * 60_000).toISOString() });

/** S3 replication: objects written in the source bucket (not replicas) are copied over whatever the peer holds at that key. */
function replicate(world: World, from: SiteName): void {
  const to = peerOf(from);
  if (!world.regionUp[from] || !world.regionUp[to]) return;
  for (const [key, pointer] of world.buckets[from]) {
    if (pointer.writtenBy === from) world.buckets[to].set(key, { ...pointer });
  }
}

/** Whether the operator, following README, would take this step now. */
function followsRunbook(world: World, event: Event): boolean {
  switch (event.kind) {
    case "up": {
      const config = world.config[event.stack];
      const peer = peerOf(event.stack);
      const peerServing = world.deployed[peer]?.role === "active" && world.regionUp[peer] && !world.returnedWithoutUp[peer];
      return !(roleOf(event.stack, config.activeSite) === "active" && peerServing);
    }
    case "rebuild": {
      // Rebuild only the standby's former writer (both stacks agree it is fenced), once it exists. Raising the
      // active site's generation would make the program create an empty writer: README warns against it, and
      // the "created empty" invariant below catches it.
      const generations = world.config[event.site].generations;
      const next = { ...generations, [event.site]: generations[event.site] + 1 };
      const fencedInBoth = SITES.every(
        (stack) =>
          world.config[stack].generations[event.site] === generations[event.site] &&
          databaseMode(event.site, world.config[stack].activeSite, world.config[stack].generations) === "fenced",
      );
      const current = databaseIdentifier(PREFIX, event.site, generations[event.site]);
      // Two rebuilds with no `up` between them are allowed here: the property found that the program then
      // created an empty former writer, and `mustAlreadyExist` now refuses it.
      return fencedInBoth && generationsConsistent(next) && world.instances.has(current);
    }
    default:
      return true;
  }
}

function apply(world: World, event: Event): void {
  world.step += 1;
  switch (event.kind) {
    case "flip":
      world.config[event.stack].activeSite = event.activeSite;
      return;
    case "lose":
      world.regionUp[event.site] = false;
      return;
    case "regain":
      if (!world.regionUp[event.site]) {
        // It runs its last deployed state: schedules, workloads and databases as they were.
        world.regionUp[event.site] = true;
        world.returnedWithoutUp[event.site] = true;
        markStale(world);
      }
      return;
    case "rebuild":
      for (const stack of SITES) {
        world.config[stack].generations[event.site] += 1;
      }
      // The generation before the retired one leaves the program; README has it forgotten from state, not deleted.
      for (const old of retiredGenerations(world.config[event.site].generations[event.site] - 1)) {
        world.forgotten.add(databaseIdentifier(PREFIX, event.site, old));
      }
      return;
    case "up":
      try {
        up(world, event.stack);
      } catch (error) {
        if (!(error instanceof Refused)) {
          throw error;
        }
        world.refusals.push(`${event.stack}: ${error.message}`);
      }
      return;
    case "guard":
      if (world.regionUp[event.site]) runGuard(world, event.site);
      return;
    case "backup":
      runBackup(world, event.site);
      return;
    case "replicate":
      replicate(world, event.from);
      return;
    case "autostart": {
      // RDS starts an instance stopped for seven days by itself.
      const deployed = world.deployed[event.site];
      const instance = deployed && world.instances.get(deployed.current);
      if (instance?.stopped && world.regionUp[event.site]) {
        instance.stopped = false;
        world.stale[event.site] = true;
      }
      return;
    }
  }
}

/** Sites whose application can write: live, and its current database a running standalone instance (any role). */
function writableSites(world: World): SiteName[] {
  return SITES.filter((site) => {
    const deployed = world.deployed[site];
    const instance = deployed && world.instances.get(deployed.current);
    return deployed !== undefined && world.regionUp[site] && instance?.kind === "writer" && !instance.stopped;
  });
}

/** Whether every live site's guard has run since the last change it must see. */
function guarded(world: World): boolean {
  return SITES.every((site) => !world.regionUp[site] || !world.stale[site]);
}

/** A site passes a deep health check when it is live and its database runs. */
function healthy(world: World, site: SiteName): boolean {
  const deployed = world.deployed[site];
  const instance = deployed && world.instances.get(deployed.current);
  return world.regionUp[site] && instance !== undefined && !instance.stopped;
}

/** Where DNS sends users: health-checked modes skip a site that fails its checks; a plain record does not. */
function dnsAnswer(world: World): SiteName | undefined {
  const order = world.dnsOrder;
  if (!order) {
    return undefined;
  }
  if (!world.healthCheckedDns) {
    return order[0];
  }
  return order.find((site) => healthy(world, site));
}

interface Snapshot {
  buckets: Record<SiteName, Map<string, Pointer>>;
}

function snapshot(world: World): Snapshot {
  return { buckets: { primary: new Map(world.buckets.primary), secondary: new Map(world.buckets.secondary) } };
}

function checkInvariants(world: World, history: Event[], before?: Snapshot): void {
  const context = () => JSON.stringify(history);
  const writable = writableSites(world);
  const isGuarded = guarded(world);
  if (isGuarded && writable.length > 1) {
    throw new Error(`two writable databases (${writable.join(", ")}) with every guard run, after ${context()}`);
  }
  // DNS never sends users to a writer that another writer has superseded, not even before the guards run.
  const answer = dnsAnswer(world);
  if (answer !== undefined && writable.includes(answer)) {
    const epochs = writable.map((site) => claimOf(world, site)!).filter(claimsWriter).map((claim) => claim.epoch);
    const answerClaim = claimOf(world, answer)!;
    // The one exception, until its guard runs: the DNS owner itself returns as the superseded writer. The
    // primary became the writer while the secondary was lost, so the secondary's records still put it first
    // (found by this property; README, Failover: fencing).
    const staleOwner = !isGuarded && answer === DNS_OWNER && world.dnsOrder?.[0] === DNS_OWNER;
    if (claimsWriter(answerClaim) && answerClaim.epoch < Math.max(...epochs) && !staleOwner) {
      throw new Error(`DNS answers ${answer}, a writer superseded at epoch ${Math.max(...epochs)}, after ${context()}`);
    }
  }
  const writer = writable.length === 1 ? writable[0] : undefined;
  // A plain Cloudflare record moves only when its owner, the secondary stack, has run: not while its region is
  // lost, nor once it is back until it is `up`ed (found by this property: the primary became the writer while
  // the secondary was lost; the returned secondary is fenced by its guard, but its record moves with its `up`).
  const dnsCanFollow = world.healthCheckedDns || (world.regionUp.secondary && !world.returnedWithoutUp.secondary);
  if (isGuarded && writer !== undefined && world.deployed[writer]?.role === "active" && dnsCanFollow && answer !== writer) {
    throw new Error(`DNS answers ${answer} while ${writer} is the writer, after ${context()}`);
  }
  if (isGuarded) {
    for (const site of SITES) {
      // A stopped database (which the guard never starts) makes scheduled backups fail harmlessly, not publish.
      if (healthy(world, site) && world.schedules[site] && !(writable.includes(site) && claimsWriter(claimOf(world, site)!))) {
        throw new Error(`backups are scheduled on ${site} but it is not the writer, after ${context()}`);
      }
    }
    if (writer !== undefined && world.deployed[writer]?.role === "active" && !world.schedules[writer]) {
      throw new Error(`the writer ${writer} runs no backups, after ${context()}`);
    }
  }
  // Pointers: each is written only by its own site (replication included), and none moves back.
  for (const bucket of SITES) {
    for (const [key, pointer] of world.buckets[bucket]) {
      if (key !== `latest-${pointer.site}` || pointer.writtenBy !== pointer.site) {
        throw new Error(`${bucket}'s ${key} holds a backup written by ${pointer.writtenBy}: one site's backups overwrote the other's, after ${context()}`);
      }
      const previous = before?.buckets[bucket].get(key);
      if (previous && compareWriterOrder(order(pointer), order(previous)) < 0) {
        throw new Error(`${bucket}'s ${key} moved back from ${JSON.stringify(previous)} to ${JSON.stringify(pointer)}, after ${context()}`);
      }
    }
    const newest = newestByWriterOrder([...world.buckets[bucket].values()].map((p) => ({ ...order(p), p })));
    const newestBefore = before && newestByWriterOrder([...before.buckets[bucket].values()].map((p) => ({ ...order(p), p })));
    if (newestBefore && (!newest || compareWriterOrder(newest, newestBefore) < 0)) {
      throw new Error(`the newest backup readers find in ${bucket} moved back, after ${context()}`);
    }
  }
  const empties = [...world.instances.values()].filter((instance) => instance.bornAs === "writer").map((instance) => instance.id);
  if (empties.length > 1) {
    throw new Error(`a second database was created empty (${empties.join(", ")}) instead of as a replica, after ${context()}`);
  }
  for (const [id, step] of world.created) {
    const instance = world.instances.get(id);
    if (instance === undefined || instance.createdAtStep !== step) {
      throw new Error(`database ${id} was deleted or replaced, after ${context()}`);
    }
  }
}

const site = fc.constantFrom<SiteName>(...SITES);
const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), stack: site, activeSite: site }),
  fc.record({ kind: fc.constant("up" as const), stack: site }),
  fc.record({ kind: fc.constant("up" as const), stack: site }),
  fc.record({ kind: fc.constant("lose" as const), site }),
  fc.record({ kind: fc.constant("regain" as const), site }),
  fc.record({ kind: fc.constant("rebuild" as const), site }),
  fc.record({ kind: fc.constant("guard" as const), site }),
  fc.record({ kind: fc.constant("guard" as const), site }),
  fc.record({ kind: fc.constant("backup" as const), site }),
  fc.record({ kind: fc.constant("backup" as const), site }),
  fc.record({ kind: fc.constant("replicate" as const), from: site }),
  fc.record({ kind: fc.constant("autostart" as const), site }),
);

/** How often random plays reach the states the invariants are about; the property asserts it reached each. */
const STATS = { runs: 0, fenced: 0, markers: 0, stalePublishes: 0, windows: 0, refusedBackups: 0, publishes: 0 };

function play(healthCheckedDns: boolean, events: Event[], decideFn: Decide = decide): World {
  const world = newWorld(healthCheckedDns, decideFn);
  const history: Event[] = [];
  checkInvariants(world, history);
  for (const next of events) {
    if (!followsRunbook(world, next)) {
      continue;
    }
    history.push(next);
    const before = snapshot(world);
    apply(world, next);
    checkInvariants(world, history, before);
    if (!guarded(world) && writableSites(world).length > 1) STATS.windows++;
  }
  STATS.runs++;
  if (world.markers.primary || world.markers.secondary) STATS.markers++;
  if ([...world.instances.values()].some((i) => i.stopped)) STATS.fenced++;
  STATS.stalePublishes += world.publishes.filter((p) => !p.peerReachable).length;
  STATS.publishes += world.publishes.length;
  STATS.refusedBackups += world.refusedBackups.length;
  return world;
}

const latest = (world: World, bucket: SiteName) => newestByWriterOrder([...world.buckets[bucket].values()].map((p) => ({ ...order(p), p })))?.p;

describe("the failover model, driven by the program's role decisions and the guard's own decision", () => {
  test("after every step: one writer once the guards have run, DNS never on a superseded writer, backups only from the writer, no pointer overwritten or moved back, no database deleted", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(event, { minLength: 5, maxLength: 60, size: "max" }), (healthCheckedDns, events) => {
        play(healthCheckedDns, events);
      }),
      { numRuns: Number(process.env.MODEL_RUNS ?? 3000) },
    );
    // A property that never reached a fence, a window or a backup from a site that cannot see its peer proves nothing about them.
    expect(STATS.fenced).toBeGreaterThan(0);
    expect(STATS.markers).toBeGreaterThan(0);
    expect(STATS.windows).toBeGreaterThan(0);
    expect(STATS.stalePublishes).toBeGreaterThan(0);
    expect(STATS.refusedBackups).toBeGreaterThan(0);
  });

  test("the documented failover and failback reach every phase without a refusal, with a primary that returns by itself", () => {
    const runbook: Event[] = [
      { kind: "backup", site: "primary" },
      { kind: "replicate", from: "primary" },
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "guard", site: "secondary" },
      { kind: "backup", site: "secondary" },
      // The primary's region comes back by itself, running its last deployed state.
      { kind: "regain", site: "primary" },
      { kind: "backup", site: "primary" },
      { kind: "guard", site: "primary" },
      { kind: "guard", site: "secondary" },
      { kind: "replicate", from: "secondary" },
      { kind: "flip", stack: "primary", activeSite: "secondary" },
      { kind: "up", stack: "primary" },
      { kind: "guard", site: "primary" },
      // Failback step 1: rebuild the primary as a replica of the secondary's writer.
      { kind: "rebuild", site: "primary" },
      { kind: "up", stack: "primary" },
      { kind: "guard", site: "primary" },
      { kind: "guard", site: "secondary" },
      // Step 2: planned switchover, demote first, then promote.
      { kind: "flip", stack: "secondary", activeSite: "primary" },
      { kind: "up", stack: "secondary" },
      { kind: "guard", site: "secondary" },
      { kind: "flip", stack: "primary", activeSite: "primary" },
      { kind: "up", stack: "primary" },
      { kind: "guard", site: "secondary" },
      { kind: "guard", site: "primary" },
      { kind: "backup", site: "primary" },
      { kind: "replicate", from: "primary" },
      // Step 3: rebuild the secondary as a replica of the primary's new writer.
      { kind: "rebuild", site: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "guard", site: "secondary" },
      { kind: "guard", site: "primary" },
      // And the next failover works the same way.
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "guard", site: "secondary" },
      { kind: "backup", site: "secondary" },
    ];
    const failedBack = play(true, runbook.slice(0, 32));
    expect(writableSites(failedBack)).toEqual(["primary"]);
    expect(failedBack.instances.get("acme-shop-dr-secondary-db-g2")).toMatchObject({ kind: "replica", source: "acme-shop-dr-primary-db-g2" });
    expect(failedBack.dnsOrder).toEqual(["primary", "secondary"]);
    // The returning primary was fenced by its guard: database stopped, schedules off, marker written; its backup was refused.
    expect(failedBack.instances.get("acme-shop-dr-primary-db")).toMatchObject({ kind: "writer", stopped: true });
    expect(failedBack.instances.get("acme-shop-dr-secondary-db")).toMatchObject({ kind: "writer", stopped: true });
    expect(failedBack.markers.primary).toMatchObject({ fencedEpoch: 2, peerEpoch: 3 });
    expect(failedBack.refusedBackups).toEqual([expect.stringMatching(/^primary: the fencing guard says fenced/)]);
    expect(failedBack.publishes.map((p) => [p.site, p.epoch])).toEqual([["primary", 2], ["secondary", 3], ["primary", 4]]);
    expect(latest(failedBack, "secondary")).toMatchObject({ site: "primary", epoch: 4 });
    for (const healthCheckedDns of [true, false]) {
      const world = play(healthCheckedDns, runbook);
      expect(world.refusals).toEqual([]);
      expect(writableSites(world)).toEqual(["secondary"]);
      expect(world.instances.get("acme-shop-dr-secondary-db-g2")?.kind).toBe("writer");
      expect(world.instances.get("acme-shop-dr-primary-db-g2")?.kind).toBe("writer");
      expect([...world.instances.keys()].sort()).toEqual([
        "acme-shop-dr-primary-db",
        "acme-shop-dr-primary-db-g2",
        "acme-shop-dr-secondary-db",
        "acme-shop-dr-secondary-db-g2",
      ]);
      expect(latest(world, "secondary")).toMatchObject({ site: "secondary", epoch: 5 });
      // Each region holds a copy of a writer's automated backups: the secondary of the primary's rebuilt writer,
      // the primary of the secondary's writer it was rebuilt from.
      expect(world.copies).toEqual({ primary: new Set(["acme-shop-dr-secondary-db"]), secondary: new Set(["acme-shop-dr-primary-db-g2"]) });
    }
  });

  test("a region that returns without an up writes beside the new writer only until its guard runs (README's window)", () => {
    const world = play(true, [
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "regain", site: "primary" },
    ]);
    // The honest part: before its guard runs, the returned primary's database takes its own workloads' writes.
    expect(writableSites(world)).toEqual(["primary", "secondary"]);
    expect(world.schedules.primary).toBe(true);
    // DNS does not send users there: the secondary's records put the secondary first.
    expect(dnsAnswer(world)).toBe("secondary");
    runGuard(world, "primary");
    runGuard(world, "secondary");
    expect(writableSites(world)).toEqual(["secondary"]);
    expect(world.schedules.primary).toBe(false);
  });

  test("a backup in that window asks the guard first, so the returned primary publishes nothing while it can reach the secondary", () => {
    const world = play(false, [
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "regain", site: "primary" },
      { kind: "backup", site: "primary" },
    ]);
    expect(world.publishes).toEqual([]);
    expect(world.refusedBackups).toEqual([expect.stringMatching(/^primary: the fencing guard says fenced: fencing: secondary's writer at epoch 3/)]);
    expect(world.instances.get("acme-shop-dr-primary-db")?.stopped).toBe(true);
  });

  test("a stale writer that cannot see its peer keeps backing up under its own pointer, which readers never prefer over the newer writer's", () => {
    const world = play(true, [
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "backup", site: "secondary" },
      { kind: "lose", site: "secondary" },
      { kind: "regain", site: "primary" },
      { kind: "guard", site: "primary" },
      // The primary's guard cannot reach the secondary: it may be the lost region, so the primary keeps its backups.
      { kind: "backup", site: "primary" },
      { kind: "regain", site: "secondary" },
      { kind: "replicate", from: "primary" },
      { kind: "replicate", from: "secondary" },
    ]);
    expect(world.publishes.map((p) => [p.site, p.epoch, p.peerReachable])).toEqual([["secondary", 3, false], ["primary", 2, false]]);
    const primaryPointer = world.buckets.secondary.get("latest-primary")!;
    const secondaryPointer = world.buckets.secondary.get("latest-secondary")!;
    expect(primaryPointer.slot).toBeGreaterThan(secondaryPointer.slot);
    // Later by slot, older by epoch: both buckets' readers pick the secondary's.
    expect(latest(world, "secondary")).toEqual(secondaryPointer);
    expect(latest(world, "primary")).toEqual(secondaryPointer);
    // Once the regions see each other the guards fence the stale one.
    runGuard(world, "primary");
    expect(writableSites(world)).toEqual(["secondary"]);
  });

  test("failing back while the secondary is lost: the secondary, back by itself, keeps its own DNS records until its guard fences it", () => {
    const world = play(true, [
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "regain", site: "primary" },
      { kind: "flip", stack: "primary", activeSite: "secondary" },
      { kind: "up", stack: "primary" },
      { kind: "rebuild", site: "primary" },
      { kind: "up", stack: "primary" },
      // The secondary's region is lost before the planned switchover: the primary takes over without it.
      { kind: "lose", site: "secondary" },
      { kind: "flip", stack: "primary", activeSite: "primary" },
      { kind: "up", stack: "primary" },
      { kind: "regain", site: "secondary" },
    ]);
    expect(world.refusals).toEqual([]);
    // The DNS owner could not record the new writer: health-checked DNS answers the returned secondary, the
    // superseded writer at epoch 3, for up to one guard interval (README, Failover: fencing).
    expect(dnsAnswer(world)).toBe("secondary");
    expect(claimOf(world, "primary")?.epoch).toBe(4);
    runGuard(world, "secondary");
    expect(writableSites(world)).toEqual(["primary"]);
    expect(dnsAnswer(world)).toBe("primary");
  });

  test("switching back to a site whose rebuilt replica was never built is refused, not answered with an empty writer", () => {
    // Found by the property above: the primary's generation was raised, then
    // the primary was made active again before any up had built its replica.
    const world = play(false, [
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "flip", stack: "primary", activeSite: "secondary" },
      { kind: "rebuild", site: "primary" },
      { kind: "flip", stack: "primary", activeSite: "primary" },
      { kind: "up", stack: "primary" },
    ]);
    expect(world.refusals).toEqual(["primary: the program refuses to create acme-shop-dr-primary-db-g2 as an empty writer"]);
    expect(world.instances.has("acme-shop-dr-primary-db-g2")).toBe(false);
    expect(mustAlreadyExist("writer", 1)).toBe(false);
    expect(mustAlreadyExist("writer", 2)).toBe(true);
    expect(mustAlreadyExist("replica", 2)).toBe(false);
    expect(mustAlreadyExist("fenced", 1)).toBe(true);
    expect(mustAlreadyExist("fenced", 2)).toBe(true);
  });

  test("the model would catch a second writer: promoting while the peer still serves breaks the invariant", () => {
    const world = newWorld(true);
    world.config.secondary.activeSite = "secondary";
    up(world, "secondary");
    runGuard(world, "secondary");
    runGuard(world, "primary");
    // The primary's guard fenced it (the secondary's claim is newer): the invariant holds only thanks to the guard.
    expect(world.instances.get("acme-shop-dr-primary-db")?.stopped).toBe(true);
    world.instances.get("acme-shop-dr-primary-db")!.stopped = false;
    expect(() => checkInvariants(world, [])).toThrow(/two writable databases/);
  });

  test("the model would catch a guard that never fences, and replication that overwrites a site's pointer", () => {
    const neverFences: Decide = (observation, now) => ({ ...decide(observation, now), verdict: "writer", backupsMayRun: true, writeMarker: undefined, disableSchedules: false, stopDatabase: undefined });
    const returns: Event[] = [
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "regain", site: "primary" },
    ];
    expect(() => play(true, [...returns, { kind: "guard", site: "primary" }, { kind: "guard", site: "secondary" }], neverFences)).toThrow(/two writable databases \(primary, secondary\) with every guard run/);
    expect(() => play(true, [...returns, { kind: "backup", site: "primary" }], neverFences)).toThrow(/primary published at epoch 2 while secondary, reachable, is the writer at 3/);
    const world = newWorld(true);
    world.buckets.secondary.set("latest-secondary", { site: "secondary", epoch: 3, slot: 5, writtenBy: "primary" });
    expect(() => checkInvariants(world, [])).toThrow(/written by primary: one site's backups overwrote the other's/);
  });
});
