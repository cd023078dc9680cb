import * as fs from "fs";
import { computeDiff } from "../offline/cli";
import { renderDiffMarkdown } from "../offline/summary";
import { README_PATH, replaceBlock } from "./readmeBlocks";

/**
 * The README's failover rehearsal, as `drstack diff --stack <s>
 * --rehearse-failover` prints it for each example stack. `npm run
 * docs:rehearsal` rewrites the block between the rehearsal markers; a unit
 * test fails while it is stale (e.g. after merging a branch that adds
 * resources whose failover behaviour reviewers should see).
 */

export const REHEARSAL_STACKS = ["primary", "secondary"] as const;

export async function renderRehearsal(): Promise<string> {
  const sections: string[] = [];
  for (const stack of REHEARSAL_STACKS) {
    const diff = await computeDiff({ stack, set: [], json: false, rehearseFailover: true, failOn: "never" });
    sections.push(`<!-- drstack diff --stack ${stack} --rehearse-failover -->\n${renderDiffMarkdown(diff).trimEnd()}`);
  }
  return sections.join("\n\n");
}

export async function renderedRehearsalReadme(document: string): Promise<string> {
  return replaceBlock(document, "rehearsal", await renderRehearsal());
}

if (require.main === module) {
  void renderedRehearsalReadme(fs.readFileSync(README_PATH, "utf8")).then((readme) => {
    fs.writeFileSync(README_PATH, readme);
    console.log("README.md failover rehearsal regenerated");
    process.exit(0);
  });
}
