import { ConfigError, parseConfig, RawConfig } from "../../infra/config";
import { configValueToString, readConfigSchema } from "../../infra/configSchema";

/** Config as Pulumi.yaml's defaults alone would give it, keyed without the project namespace. */
export function declaredDefaults(): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const declaration of readConfigSchema()) {
    if (declaration.default !== undefined) {
      raw[declaration.key] = configValueToString(declaration.default);
    }
  }
  return raw;
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
