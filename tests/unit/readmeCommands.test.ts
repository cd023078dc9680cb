import * as fs from "fs";
import * as path from "path";
import { README_PATH } from "../../docs/readmeBlocks";
import { fencedBlocks, readmeCommands, stripShellComment, COMMAND_BLOCK_LANGUAGES } from "../../docs/readmeCommands";
import { PROJECT_ROOT } from "../../infra/configSchema";
import { NOT_RUN_HERE, RUN_BY_CI, RUN_HERE } from "../commands/readmeCommandList";

/**
 * Every command README tells a reader to type is run by
 * tests/commands/readmeCommands.test.ts, run by `.ci/run`, or reviewed as one
 * that cannot run here, with the reason (tests/commands/readmeCommandList.ts).
 * This check is fast, so a README command nobody decided about fails `npm test`.
 */

const readme = fs.readFileSync(README_PATH, "utf8");
const commands = readmeCommands(readme);
const LISTS = { RUN_HERE, RUN_BY_CI, NOT_RUN_HERE };

describe("finding README's commands", () => {
  test("drops a trailing comment, but not a # inside quotes or a word", () => {
    expect(stripShellComment("npm run plan -- --stack primary   # = node bin/drstack plan")).toBe("npm run plan -- --stack primary   ");
    expect(stripShellComment("echo 'a # b' \"c # d\" e#f # g")).toBe("echo 'a # b' \"c # d\" e#f ");
    expect(stripShellComment("# a whole comment")).toBe("");
  });

  test("takes every line of sh blocks, joins continuations, and inline spans that start with npm, npx, node or bash", () => {
    const sample = [
      "Run `npm run docs` or `pulumi up`, see `node_modules`.",
      "```sh",
      "# a comment line",
      "npx drstack plan \\",
      "  --stack primary   # trailing",
      "",
      "pulumi -s primary up",
      "```",
      "```",
      "npm run not-a-command-in-an-output-block",
      "```",
    ].join("\n");
    expect(readmeCommands(sample)).toEqual([
      { command: "npm run docs", line: 1, from: "inline" },
      { command: "npx drstack plan --stack primary", line: 4, from: "block" },
      { command: "pulumi -s primary up", line: 7, from: "block" },
    ]);
  });

  test("finds README's own commands in both forms", () => {
    expect(commands.filter((c) => c.from === "block").length).toBeGreaterThan(10);
    expect(commands.filter((c) => c.from === "inline").length).toBeGreaterThan(5);
  });
});

describe("README's commands", () => {
  test("each is run here, run by CI or reviewed as not runnable, exactly one of these", () => {
    const undecided = commands
      .map(({ command, line }) => ({
        command,
        line,
        lists: Object.entries(LISTS)
          .filter(([, entries]) => entries.some((entry) => entry.command === command))
          .map(([name]) => name),
      }))
      .filter(({ lists }) => lists.length !== 1);
    // A new README command: add it to one list in tests/commands/readmeCommandList.ts.
    expect(undecided).toEqual([]);
  });

  test.each(Object.entries(LISTS))("every entry of %s is still in README", (_name, entries) => {
    const inReadme = new Set(commands.map((c) => c.command));
    expect(entries.map((entry) => entry.command).filter((command) => !inReadme.has(command))).toEqual([]);
  });

  test("every reviewed entry says why", () => {
    for (const entry of [...RUN_BY_CI, ...NOT_RUN_HERE]) {
      expect({ command: entry.command, why: entry.why.length > 10 }).toEqual({ command: entry.command, why: true });
    }
  });

  test("those left to CI are in .ci/run exactly as README writes them", () => {
    const ci = fs
      .readFileSync(path.join(PROJECT_ROOT, ".ci", "run"), "utf8")
      .split("\n")
      .map((line) => stripShellComment(line).trim())
      .filter((line) => line !== "");
    const runs = new Set([...ci, ...ci.flatMap((line) => line.split("&&").map((part) => part.trim()))]);
    expect(RUN_BY_CI.map((entry) => entry.command).filter((command) => !runs.has(command))).toEqual([]);
  });

  test("no command hides in a block that is not marked as shell", () => {
    const commandStart = /^\s*(npm|npx|node|bash|pulumi|git|aws|kubectl|docker|export) /;
    const hidden = fencedBlocks(readme)
      .filter((block) => !(COMMAND_BLOCK_LANGUAGES as readonly string[]).includes(block.language))
      .flatMap((block) => block.lines.filter((line) => commandStart.test(line)));
    expect(hidden).toEqual([]);
  });
});
