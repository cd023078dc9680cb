import { ConfigError, parseConfig, RawConfig } from "../../infra/config";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { configValueToString, readConfigSchema } from "../../infra/configSchema";
import { SiteName } from "../../infra/roles";

/**
 * What a stack must set itself: Pulumi.yaml cannot hold a secret, no default
 * image digest or break-glass role is right, and the cluster's network is the user's own (here the
 * primary's region, us-west-2, the default).
 */
export const REQUIRED_SETTINGS: Readonly<Record<string, string>> = {
  kubeconfig: "apiVersion: v1\nkind: Config\n",
  appImageDigest: `sha256:${"a".repeat(64)}`,
  backupImageDigest: `sha256:${"b".repeat(64)}`,
  breakGlassRoleArn: "arn:aws:iam::123456789012:role/drstack-break-glass",
  clusterVpcId: "vpc-0a1b2c3d4e5f60718",
  clusterSecurityGroupIds: JSON.stringify(["sg-0a1b2c3d4e5f60718"]),
  dataSubnetCidrs: JSON.stringify(["10.0.240.0/24", "10.0.241.0/24"]),
};

/** Zones of each site's default region (Pulumi.yaml: us-west-2 and us-east-1). */
const DEFAULT_ZONE_IDS: Record<SiteName, string[]> = { primary: ["usw2-az1", "usw2-az2"], secondary: ["use1-az1", "use1-az2"] };

/** Pulumi.yaml's defaults as raw config, plus the settings every stack must make: a valid configuration. */
export function declaredDefaults(site: SiteName = "primary"): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const declaration of readConfigSchema()) {
    if (declaration.default !== undefined) {
      raw[declaration.key] = configValueToString(declaration.default);
    }
  }
  return { ...raw, ...REQUIRED_SETTINGS, dataSubnetZoneIds: JSON.stringify(DEFAULT_ZONE_IDS[site]) };
}

/** The message of the ConfigError `raw` must raise; fails the test when it is accepted. */
export function problemsOf(raw: RawConfig, stack = "primary"): string {
  try {
    parseConfig(raw, stack);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("expected the config to be rejected");
}

/** Reading `yaml` as a Pulumi.yaml, as a thunk for `toThrow`; the temporary file is removed whatever happens. */
export function schemaFrom(yaml: string): () => unknown {
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "drstack-schema-"));
    try {
      const file = path.join(dir, "Pulumi.yaml");
      fs.writeFileSync(file, yaml);
      return readConfigSchema(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}
