import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DATABASE_ENGINES, DatabaseEngine, ENGINE_PROFILES } from "./engines";
import { databaseIdentifier } from "./naming";
import { SiteName } from "./roles";

/**
 * The engine switch refused. RDS cannot change an instance's engine: a
 * different `engine` makes the provider delete the instance and create an
 * empty one under the new engine. The instances are `protect`ed, so the
 * engine would stop such an `up` half-way; this check stops the preview
 * before anything is declared, with the key and the fix, the way the image
 * lookups do (infra/images.ts).
 */

export interface EngineCheckArgs {
  site: SiteName;
  namePrefix: string;
  /** The site's current database generation: every generation up to it may exist in the site's region. */
  generation: number;
  /** `databaseEngine` as configured. */
  engine: DatabaseEngine;
  stack: string;
}

/** An instance of this site found under another engine than `databaseEngine`. */
export interface EngineMismatch {
  identifier: string;
  engine: DatabaseEngine;
}

export class EngineSwitchError extends pulumi.RunError {
  constructor(
    readonly configured: DatabaseEngine,
    readonly found: EngineMismatch[],
    stack: string,
  ) {
    const running = found[0].engine;
    super(
      [
        `drstack cannot deploy: databaseEngine is ${configured}, but this site's database already runs ${ENGINE_PROFILES[running].label}; nothing was deployed:`,
        ...found.map((mismatch) => `  - ${mismatch.identifier} is an RDS ${mismatch.engine} instance`),
        `RDS cannot change an instance's engine, and drstack never replaces a database (the data would not move to the new one).`,
        `Fix: pulumi -s ${stack} config set databaseEngine ${running} (and the same in the other stack). ` +
          `To move to ${ENGINE_PROFILES[configured].label}, build a new pair with its own namePrefix and migrate the data into it (README, "Database engines").`,
      ].join("\n"),
    );
    this.name = "EngineSwitchError";
  }
}

/** Every instance identifier of the site's generations so far (older ones are fenced former writers). */
export function siteInstanceIdentifiers(namePrefix: string, site: SiteName, generation: number): string[] {
  return Array.from({ length: generation }, (_, index) => databaseIdentifier(namePrefix, site, index + 1));
}

/**
 * Looks the site's instances up in its own region, once per engine other
 * than the configured one (DescribeDBInstances' `engine` filter), and throws
 * an EngineSwitchError naming each one that runs another engine. A site
 * whose instances do not exist yet (the first deployment) passes.
 */
export async function refuseEngineSwitch(args: EngineCheckArgs, provider: aws.Provider): Promise<void> {
  const identifiers = siteInstanceIdentifiers(args.namePrefix, args.site, args.generation);
  const others = DATABASE_ENGINES.filter((engine) => engine !== args.engine);
  const found = await Promise.all(
    others.map(async (engine): Promise<EngineMismatch[]> => {
      const result = await aws.rds.getInstances(
        {
          filters: [
            { name: "db-instance-id", values: identifiers },
            { name: "engine", values: [ENGINE_PROFILES[engine].rdsEngine] },
          ],
        },
        { provider },
      );
      return result.instanceIdentifiers.filter((identifier) => identifiers.includes(identifier)).map((identifier) => ({ identifier, engine }));
    }),
  );
  const mismatches = found.flat();
  if (mismatches.length > 0) {
    throw new EngineSwitchError(args.engine, mismatches, args.stack);
  }
}
