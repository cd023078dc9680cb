import * as pulumi from "@pulumi/pulumi";
import { configValueToString, PROJECT_NAME, readConfigSchema } from "./configSchema";
import { DATA_CLASS_NAMES, DATA_CLASSES, DataClassPolicy } from "./dataClasses";
import { maxNamePrefixLength } from "./naming";
import { ObjectivesEnforcement, OBJECTIVES_ENFORCEMENT_MODES } from "./objectives";
import { isSiteName, peerOf, roleOf, SiteName, SiteRole, SITES } from "./roles";
import { isTierName, TIER_NAMES, tierKeyStem, TierObjectives } from "./tiers";

export const OBJECT_LOCK_MODES = ["GOVERNANCE", "COMPLIANCE", "NONE"] as const;
export type ObjectLockMode = (typeof OBJECT_LOCK_MODES)[number];

/** Everything the program needs, read and validated once, before any resource exists. */
export interface DrConfig {
  stack: string;
  site: SiteName;
  activeSite: SiteName;
  role: SiteRole;
  peer: SiteName;
  regions: Record<SiteName, string>;
  region: string;
  peerRegion: string;
  namePrefix: string;
  appHostname: string;
  endpoints: Record<SiteName, string>;
  peerProvisioned: boolean;
  objectLock: { mode: ObjectLockMode; days: number };
  noncurrentVersionDays: number;
  abortIncompleteUploadDays: number;
  dataClasses: DataClassPolicy[];
  tiers: TierObjectives;
  /** Whether objectives the mechanisms cannot meet stop the deployment (`error`) or only warn. */
  objectivesEnforcement: ObjectivesEnforcement;
}

/** Config values as Pulumi hands them to a program: strings, keyed without the project namespace. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

export interface ConfigProblem {
  key: string;
  value: string | undefined;
  problem: string;
  fix: string;
}

export class ConfigError extends Error {
  constructor(
    readonly stack: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      [
        `drstack configuration of stack "${stack}" is invalid; nothing was deployed:`,
        ...problems.map(
          (p) => `  - ${p.key}${p.value === undefined ? "" : ` = ${JSON.stringify(p.value)}`}: ${p.problem}. Fix: ${p.fix}`,
        ),
      ].join("\n"),
    );
    this.name = "ConfigError";
  }
}

const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/;
const HOSTNAME_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const NAME_PREFIX_PATTERN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Collects every problem instead of stopping at the first, so one run shows them all. */
class ConfigReader {
  readonly problems: ConfigProblem[] = [];

  constructor(
    private readonly raw: RawConfig,
    private readonly stack: string,
  ) {}

  setCommand(key: string, value: string): string {
    return `pulumi -s ${this.stack} config set ${key} ${value}`;
  }

  report(key: string, problem: string, fix: string): void {
    this.problems.push({ key, value: this.raw[key], problem, fix });
  }

  string(key: string): string {
    return (this.raw[key] ?? "").trim();
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.string(key);
    if ((allowed as readonly string[]).includes(value)) {
      return value as T;
    }
    this.report(
      key,
      `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
      this.setCommand(key, allowed[0]),
    );
    return fallback;
  }

  integer(key: string, minimum: number, fix?: string): number {
    const value = this.string(key);
    if (!/^-?\d+$/.test(value)) {
      this.report(key, "must be a whole number", fix ?? this.setCommand(key, String(Math.max(minimum, 1))));
      return minimum;
    }
    const parsed = Number(value);
    if (parsed < minimum) {
      this.report(key, `must be at least ${minimum}`, fix ?? this.setCommand(key, String(minimum)));
    }
    return parsed;
  }

  boolean(key: string): boolean {
    const value = this.string(key);
    if (value === "true" || value === "false") {
      return value === "true";
    }
    this.report(key, "must be true or false", this.setCommand(key, "true"));
    return true;
  }

  matching(key: string, pattern: RegExp, what: string, example: string): string {
    const value = this.string(key).toLowerCase();
    if (!pattern.test(value)) {
      this.report(key, `is not ${what}`, this.setCommand(key, example));
    }
    return value;
  }
}

export function parseConfig(raw: RawConfig, stack: string): DrConfig {
  const reader = new ConfigReader(raw, stack);

  const activeSite = reader.oneOf("activeSite", SITES, "primary");
  const siteSetting = reader.string("site");
  let site: SiteName = "primary";
  if (siteSetting === "") {
    if (isSiteName(stack)) {
      site = stack;
    } else {
      reader.report(
        "site",
        `is empty and the stack name "${stack}" is not a site, so drstack cannot tell which site this stack deploys`,
        `${reader.setCommand("site", "primary")} (or secondary), or name the stack after its site`,
      );
    }
  } else if (isSiteName(siteSetting)) {
    site = siteSetting;
  } else {
    reader.report("site", `must be "primary" or "secondary"`, reader.setCommand("site", isSiteName(stack) ? stack : "primary"));
  }

  const regions: Record<SiteName, string> = {
    primary: reader.matching("primaryRegion", REGION_PATTERN, "an AWS region name", "us-west-2"),
    secondary: reader.matching("secondaryRegion", REGION_PATTERN, "an AWS region name", "us-east-1"),
  };
  if (regions.primary === regions.secondary) {
    reader.report(
      "secondaryRegion",
      `equals primaryRegion; a standby in the same region does not survive the loss of that region`,
      `choose another region, e.g. ${reader.setCommand("secondaryRegion", regions.primary === "us-east-1" ? "us-west-2" : "us-east-1")}, in both stacks`,
    );
  }

  const namePrefix = reader.string("namePrefix");
  const prefixLimit = maxNamePrefixLength([regions.primary, regions.secondary]);
  if (!NAME_PREFIX_PATTERN.test(namePrefix) || namePrefix.length > prefixLimit) {
    reader.report(
      "namePrefix",
      `must be 1-${prefixLimit} lowercase letters, digits and inner hyphens, because bucket names are derived from it`,
      `${reader.setCommand("namePrefix", "acme-shop-dr")} in both stacks`,
    );
  }

  const appHostname = reader.matching("appHostname", HOSTNAME_PATTERN, "a DNS hostname", "app.example.com");
  const endpoints = {} as Record<SiteName, string>;
  for (const name of SITES) {
    const key = `${name}Endpoint`;
    endpoints[name] =
      reader.string(key) === ""
        ? `${name}.${appHostname}`
        : reader.matching(key, HOSTNAME_PATTERN, "a DNS hostname", `${name}.${appHostname}`);
  }
  if (endpoints.primary === endpoints.secondary) {
    reader.report("secondaryEndpoint", "equals primaryEndpoint; DNS could not tell the sites apart", `give each site its own hostname`);
  }

  const peerProvisioned = reader.boolean("peerProvisioned");
  const objectLockMode = reader.oneOf("objectLockMode", OBJECT_LOCK_MODES, "GOVERNANCE");
  const objectLockDays = reader.integer("objectLockDays", 1);
  const noncurrentVersionDays = reader.integer("noncurrentVersionDays", 1);
  const abortIncompleteUploadDays = reader.integer("abortIncompleteUploadDays", 1);

  const tiers = {} as TierObjectives;
  for (const tier of TIER_NAMES) {
    tiers[tier] = {
      rtoMinutes: reader.integer(`${tierKeyStem(tier)}RtoMinutes`, 1),
      rpoMinutes: reader.integer(`${tierKeyStem(tier)}RpoMinutes`, 1),
    };
  }

  const objectivesEnforcement = reader.oneOf("objectivesEnforcement", OBJECTIVES_ENFORCEMENT_MODES, "error");

  const dataClasses: DataClassPolicy[] = DATA_CLASS_NAMES.map((name) => {
    const definition = DATA_CLASSES[name];
    const retentionKey = `${name}RetentionDays`;
    const tierKey = `${name}Tier`;
    const retentionDays = reader.integer(
      retentionKey,
      definition.minimumRetentionDays,
      `${reader.setCommand(retentionKey, String(definition.minimumRetentionDays))} or more (${definition.minimumReason})`,
    );
    if (objectLockMode !== "NONE" && retentionDays < objectLockDays) {
      reader.report(
        retentionKey,
        `is shorter than objectLockDays (${objectLockDays}); S3 cannot expire locked versions, so the retention would silently stretch`,
        `${reader.setCommand(retentionKey, String(objectLockDays))} or lower objectLockDays`,
      );
    }
    const tierSetting = reader.string(tierKey);
    if (!isTierName(tierSetting)) {
      reader.report(tierKey, `is not a recovery tier; known tiers are ${TIER_NAMES.join(", ")}`, reader.setCommand(tierKey, "critical"));
    }
    return { ...definition, retentionDays, tier: isTierName(tierSetting) ? tierSetting : "critical" };
  });

  if (reader.problems.length > 0) {
    throw new ConfigError(stack, reader.problems);
  }

  const peer = peerOf(site);
  return {
    stack,
    site,
    activeSite,
    role: roleOf(site, activeSite),
    peer,
    regions,
    region: regions[site],
    peerRegion: regions[peer],
    namePrefix,
    appHostname,
    endpoints,
    peerProvisioned,
    objectLock: { mode: objectLockMode, days: objectLockDays },
    noncurrentVersionDays,
    abortIncompleteUploadDays,
    dataClasses,
    tiers,
    objectivesEnforcement,
  };
}

/** Rejects `drstack:` keys that Pulumi.yaml does not declare: a typo must not silently fall back to a default. */
export function unknownKeyProblems(presentKeys: readonly string[], declaredKeys: readonly string[], stack: string): ConfigProblem[] {
  return presentKeys
    .filter((key) => !declaredKeys.includes(key))
    .map((key) => {
      const suggestion = declaredKeys.find((declared) => declared.toLowerCase() === key.toLowerCase());
      return {
        key,
        value: undefined,
        problem: "is not a drstack setting",
        fix: suggestion
          ? `did you mean ${suggestion}? pulumi -s ${stack} config rm ${key}`
          : `remove it (pulumi -s ${stack} config rm ${key}); README.md lists every key`,
      };
    });
}

/** Reads the running stack's config, applies Pulumi.yaml defaults and validates everything. */
export function loadConfig(): DrConfig {
  const stack = pulumi.getStack();
  const schema = readConfigSchema();
  const namespace = `${PROJECT_NAME}:`;
  const present = Object.keys(pulumi.runtime.allConfig())
    .filter((fullKey) => fullKey.startsWith(namespace))
    .map((fullKey) => fullKey.slice(namespace.length));
  const unknown = unknownKeyProblems(present, schema.map((d) => d.key), stack);
  if (unknown.length > 0) {
    throw new ConfigError(stack, unknown);
  }
  const config = new pulumi.Config(PROJECT_NAME);
  const raw: Record<string, string | undefined> = {};
  for (const declaration of schema) {
    raw[declaration.key] =
      config.get(declaration.key) ?? (declaration.default === undefined ? undefined : configValueToString(declaration.default));
  }
  return parseConfig(raw, stack);
}
