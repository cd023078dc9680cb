import { ConfigError, parseConfig, RawConfig } from "../../infra/config";
import { configValueToString, readConfigSchema } from "../../infra/configSchema";

/** What a stack must set itself: Pulumi.yaml cannot hold a secret, and no default release tag is right. */
export const REQUIRED_SETTINGS: Readonly<Record<string, string>> = { kubeconfig: "apiVersion: v1\nkind: Config\n", appImageTag: "2026.11.1" };

/** Pulumi.yaml's defaults as raw config, plus the settings every stack must make: a valid configuration. */
export function declaredDefaults(): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const declaration of readConfigSchema()) {
    if (declaration.default !== undefined) {
      raw[declaration.key] = configValueToString(declaration.default);
    }
  }
  return { ...raw, ...REQUIRED_SETTINGS };
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
