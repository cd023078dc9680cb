import * as fs from "fs";
import { README_PATH, renderedReadme } from "../../docs/readmeBlocks";
import { readConfigSchema } from "../../infra/configSchema";

describe("README.md", () => {
  const readme = fs.readFileSync(README_PATH, "utf8");

  test("its generated blocks match the code (run `npm run docs` after changing Pulumi.yaml)", () => {
    expect(readme).toBe(renderedReadme(readme));
  });

  test("lists every config key", () => {
    for (const { key } of readConfigSchema()) {
      expect(readme).toContain(`| \`${key}\` |`);
    }
  });

  test("its set-up commands name npm scripts that exist", () => {
    const scripts = (JSON.parse(fs.readFileSync("package.json", "utf8")) as { scripts: Record<string, string> }).scripts;
    const named = [...readme.matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1]);
    expect(named.length).toBeGreaterThan(0);
    for (const script of named) {
      expect({ script, exists: script in scripts }).toEqual({ script, exists: true });
    }
  });
});
