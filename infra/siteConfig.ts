import { ConfigError, DrConfig, parseConfig, RawConfig, readRawConfig, SITE_KINDS, SiteKind } from "./config";
import { DockerDrConfig, parseDockerConfig } from "./docker/config";

/** Either kind of site's config, told apart by `siteKind`. */
export type SiteConfig = DrConfig | DockerDrConfig;

/** `siteKind` decides which keys the stack needs; both stacks of a pair must name the same kind. */
export function parseSiteConfig(raw: RawConfig, stack: string, now: Date = new Date()): SiteConfig {
  const kind = (raw.siteKind ?? "aws").trim() as SiteKind;
  if (!(SITE_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(stack, [
      {
        key: "siteKind",
        value: raw.siteKind,
        problem: `must be one of ${SITE_KINDS.map((k) => `"${k}"`).join(", ")}`,
        fix: `pulumi -s ${stack} config set siteKind docker (or aws), the same in both stacks`,
      },
    ]);
  }
  return kind === "docker" ? parseDockerConfig(raw, stack, now) : parseConfig(raw, stack, now);
}

export function loadSiteConfig(): SiteConfig {
  const { raw, stack } = readRawConfig();
  return parseSiteConfig(raw, stack);
}
