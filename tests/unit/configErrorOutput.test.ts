import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "../../infra/config";
import { ObjectivesError } from "../../infra/objectives";

/**
 * Pulumi's Node.js language host (@pulumi/pulumi cmd/run/run.js, its
 * uncaughtException handler) prints a RunError as `err.message` alone and any
 * other error through its default formatter, which shows an error's own fields
 * (and a field named `stack` replaces the real stack trace). A config or
 * objectives error must reach the user as exactly its composed message.
 */
describe("errors that stop a deployment before anything is declared", () => {
  const configError = new ConfigError("primary", [
    { key: "dbTier", value: "urgent", problem: "is not a recovery tier", fix: "pulumi -s primary config set dbTier critical" },
  ]);
  const objectivesError = new ObjectivesError("secondary", ["tier critical: RPO objective 5 min, but the mechanisms achieve 15 min"]);

  test.each([
    ["ConfigError", configError],
    ["ObjectivesError", objectivesError],
  ])("%s is a RunError, which the language host prints as its message without a stack trace", (_name, error) => {
    expect(pulumi.RunError.isInstance(error)).toBe(true);
    expect(error).toBeInstanceOf(Error);
  });

  test("the installed language host still prints a RunError as its message alone (an SDK upgrade that changes this fails here)", () => {
    const host = fs.readFileSync(require.resolve("@pulumi/pulumi/cmd/run/run.js"), "utf8");
    expect(host).toMatch(/if \(errors_1\.RunError\.isInstance\(err\)\) \{\s*\/\/[^\n]*\n\s*log\.error\(err\.message\);/);
  });

  test("the config error keeps Error.stack and carries the key, the value and the fix in its message", () => {
    expect(typeof configError.stack).toBe("string");
    expect(configError.stack).toContain("ConfigError");
    expect(configError.message).toBe(
      'drstack configuration of stack "primary" is invalid; nothing was deployed:\n' +
        '  - dbTier = "urgent": is not a recovery tier. Fix: pulumi -s primary config set dbTier critical',
    );
    expect(configError.stackName).toBe("primary");
  });
});
