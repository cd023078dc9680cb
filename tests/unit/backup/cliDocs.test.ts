/** Every `drstack-backup <command> --flag` that README.md and docs/backups.md show is a flag that command takes. */
import * as fs from "fs";
import * as path from "path";
import { Command, SETTINGS, SettingSpec } from "../../../lambdas/settings";

const ROOT = path.join(__dirname, "..", "..", "..");

function commandLines(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const blocks = [...text.matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1].replace(/\\\n\s*/g, " "));
  return blocks.flatMap((b) => b.split("\n")).filter((l) => /drstack-backup (backup|verify|restore|drill)\b/.test(l));
}

describe("the backup CLI as the docs show it", () => {
  const specs = Object.values(SETTINGS) as SettingSpec[];
  for (const file of ["README.md", "docs/backups.md"]) {
    it(`${file} uses only flags each command takes`, () => {
      const lines = commandLines(file);
      expect(lines.length).toBeGreaterThan(3);
      for (const line of lines) {
        const command = /drstack-backup (\w+)/.exec(line)![1] as Command;
        for (const [, flag] of line.matchAll(/\s--([a-z][a-z0-9-]*)/g)) {
          const spec = specs.find((s) => s.flag === flag);
          expect({ line, flag, takes: spec !== undefined && spec.commands.includes(command) }).toEqual({ line, flag, takes: true });
        }
      }
    });
  }
});
