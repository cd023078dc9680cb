import * as fc from "fast-check";
import { dnsPlan } from "../../infra/dns";
import { databaseIdentifier } from "../../infra/naming";
import { peerOf, roleOf, SiteName, SiteRole, SITES } from "../../infra/roles";
import {
  backupsScheduled,
  databaseMode,
  generationsConsistent,
  ownsDns,
  readsPrimaryStack,
  replicationSourceSite,
  retiredGenerations,
  writerMustAlreadyExist,
} from "../../infra/sitePlan";

/**
 * A model of the two regions, the two stacks and their databases, driven by
 * the program's own decision functions (roles.ts, sitePlan.ts, dns.ts): an
 * `up` asks them what to declare, and a small model of RDS and the Pulumi
 * engine applies it. fast-check plays sequences of operator actions and
 * disasters and checks the invariants after every step.
 *
 * What the model assumes, from README's runbook:
 * - an `up` that makes a site active is run only when its peer is lost or
 *   already standby (a planned switchover demotes first, then promotes);
 * - a region that returns is held out of service (no traffic, no writes)
 *   until its stack has been `up`ed; principle 1 forbids the survivor from
 *   reaching into it, so this is the one window drstack cannot close itself;
 * - failback rebuilds raise one site's generation in both stacks, and the
 *   generation before the previous one is forgotten deliberately (state
 *   delete) rather than deleted.
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
}

interface Deployed {
  role: SiteRole;
  backups: boolean;
  /** The database instance the site's application uses. */
  current: string;
}

interface World {
  step: number;
  healthCheckedDns: boolean;
  config: Record<SiteName, { activeSite: SiteName; generations: Record<SiteName, number> }>;
  regionUp: Record<SiteName, boolean>;
  returning: Record<SiteName, boolean>;
  instances: Map<string, Instance>;
  /** Instances an operator removed from a stack's state on purpose; they still exist. */
  forgotten: Set<string>;
  deployed: Partial<Record<SiteName, Deployed>>;
  dnsOrder?: [SiteName, SiteName];
  /** Every database ever created, with the step it was created at: never deleted, never recreated. */
  created: Map<string, number>;
  /** `up`s the engine or RDS refused, with why: safe, but recorded. */
  refusals: string[];
}

type Event =
  | { kind: "flip"; stack: SiteName; activeSite: SiteName }
  | { kind: "up"; stack: SiteName }
  | { kind: "lose"; site: SiteName }
  | { kind: "regain"; site: SiteName }
  | { kind: "rebuild"; site: SiteName };

class Refused extends Error {}

function newWorld(healthCheckedDns: boolean): World {
  const generations = { primary: 1, secondary: 1 };
  const world: World = {
    step: 0,
    healthCheckedDns,
    config: { primary: { activeSite: "primary", generations: { ...generations } }, secondary: { activeSite: "primary", generations: { ...generations } } },
    regionUp: { primary: true, secondary: true },
    returning: { primary: false, secondary: false },
    instances: new Map(),
    forgotten: new Set(),
    deployed: {},
    created: new Map(),
    refusals: [],
  };
  // The documented first deployment: primary, then secondary.
  up(world, "primary");
  up(world, "secondary");
  return world;
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
    if (writerMustAlreadyExist(mode, generation)) {
      throw new Refused(`the program refuses to create ${currentId} as an empty writer`);
    }
    if (mode === "replica") {
      const origin = source === undefined ? undefined : world.instances.get(source);
      if (!origin || origin.kind !== "writer" || !world.regionUp[origin.site]) {
        throw new Refused(`RDS cannot create a replica of ${source}: it is not a reachable writer`);
      }
    }
    changes.push(() => {
      const kind = mode === "replica" ? "replica" : "writer";
      world.instances.set(currentId, { id: currentId, site: stack, kind, source, createdAtStep: world.step, bornAs: kind });
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

  for (const change of changes) {
    change();
  }
  world.deployed[stack] = { role, backups: backupsScheduled(role), current: currentId };
  world.returning[stack] = false;
  if (ownsDns(stack)) {
    world.dnsOrder = dnsPlan(config.activeSite, 60).order;
  }
}

/** Whether the operator, following README, would take this step now. */
function followsRunbook(world: World, event: Event): boolean {
  switch (event.kind) {
    case "up": {
      const config = world.config[event.stack];
      const peer = peerOf(event.stack);
      const peerServing = world.deployed[peer]?.role === "active" && world.regionUp[peer] && !world.returning[peer];
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
        world.regionUp[event.site] = true;
        world.returning[event.site] = true;
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
  }
}

/** Sites whose application can write: live, in service, deployed active, on a writer. */
function writableSites(world: World): SiteName[] {
  return SITES.filter((site) => {
    const deployed = world.deployed[site];
    return (
      deployed !== undefined &&
      world.regionUp[site] &&
      !world.returning[site] &&
      deployed.role === "active" &&
      world.instances.get(deployed.current)?.kind === "writer"
    );
  });
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
  return order.find((site) => world.regionUp[site] && !world.returning[site]);
}

function checkInvariants(world: World, history: Event[]): void {
  const context = () => JSON.stringify(history);
  const writable = writableSites(world);
  if (writable.length > 1) {
    throw new Error(`two writable databases (${writable.join(", ")}) after ${context()}`);
  }
  const writer = writable[0];
  // A plain Cloudflare record moves only when its owner, the secondary stack,
  // has run: not while its region is lost, nor while it is returning and not
  // yet `up`ed (found by this property: primary lost, failover, secondary
  // lost, primary back as writer, secondary regained).
  const dnsCanFollow = world.healthCheckedDns || (world.regionUp.secondary && !world.returning.secondary);
  if (writer !== undefined && dnsCanFollow && dnsAnswer(world) !== writer) {
    throw new Error(`DNS answers ${dnsAnswer(world)} while ${writer} is the writable site, after ${context()}`);
  }
  for (const site of SITES) {
    const deployed = world.deployed[site];
    const inService = world.regionUp[site] && !world.returning[site];
    if (deployed?.backups && inService && site !== writer) {
      throw new Error(`backups run on ${site} but the writer is ${writer ?? "nowhere"}, after ${context()}`);
    }
  }
  if (writer !== undefined && !world.deployed[writer]?.backups) {
    throw new Error(`the writer ${writer} runs no backups, after ${context()}`);
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
);

function play(healthCheckedDns: boolean, events: Event[]): World {
  const world = newWorld(healthCheckedDns);
  const history: Event[] = [];
  checkInvariants(world, history);
  for (const next of events) {
    if (!followsRunbook(world, next)) {
      continue;
    }
    history.push(next);
    apply(world, next);
    checkInvariants(world, history);
  }
  return world;
}

describe("the failover model, driven by the program's role decisions", () => {
  test("after every step: at most one writable database, DNS on it, backups where it is, no database deleted or replaced", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(event, { maxLength: 40 }), (healthCheckedDns, events) => {
        play(healthCheckedDns, events);
      }),
      { numRuns: 2000 },
    );
  });

  test("the documented failover and failback reach every phase without a refusal", () => {
    const runbook: Event[] = [
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
      { kind: "regain", site: "primary" },
      { kind: "flip", stack: "primary", activeSite: "secondary" },
      { kind: "up", stack: "primary" },
      // Failback step 1: rebuild the primary as a replica of the secondary's writer.
      { kind: "rebuild", site: "primary" },
      { kind: "up", stack: "primary" },
      // Step 2: planned switchover, demote first, then promote.
      { kind: "flip", stack: "secondary", activeSite: "primary" },
      { kind: "up", stack: "secondary" },
      { kind: "flip", stack: "primary", activeSite: "primary" },
      { kind: "up", stack: "primary" },
      // Step 3: rebuild the secondary as a replica of the primary's new writer.
      { kind: "rebuild", site: "secondary" },
      { kind: "up", stack: "secondary" },
      // And the next failover works the same way.
      { kind: "lose", site: "primary" },
      { kind: "flip", stack: "secondary", activeSite: "secondary" },
      { kind: "up", stack: "secondary" },
    ];
    const failedBack = play(true, runbook.slice(0, 14));
    expect(writableSites(failedBack)).toEqual(["primary"]);
    expect(failedBack.instances.get("acme-shop-dr-secondary-db-g2")).toMatchObject({ kind: "replica", source: "acme-shop-dr-primary-db-g2" });
    expect(failedBack.dnsOrder).toEqual(["primary", "secondary"]);
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
    }
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
    expect(writerMustAlreadyExist("writer", 1)).toBe(false);
    expect(writerMustAlreadyExist("writer", 2)).toBe(true);
    expect(writerMustAlreadyExist("replica", 2)).toBe(false);
  });

  test("the model would catch a second writer: promoting while the peer still serves breaks the invariant", () => {
    const world = newWorld(true);
    world.config.secondary.activeSite = "secondary";
    up(world, "secondary");
    expect(() => checkInvariants(world, [])).toThrow(/two writable databases/);
  });
});
