import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../infra/configSchema";
import { computeDiff } from "../offline/cli";
import { evaluateBesidePeer } from "../offline/evaluate";
import { buildPlan, postureText } from "../offline/plan";
import { renderDiffMarkdown } from "../offline/summary";
import { README_PATH, replaceBlock } from "./readmeBlocks";

/**
 * The README's failover rehearsal, as `drstack diff --stack <s>
 * --rehearse-failover` prints it for each example stack, and the DR posture
 * of both example pairs, as `drstack plan` prints it. `npm run
 * docs:rehearsal` rewrites the blocks between the rehearsal and posture
 * markers; a unit test fails while they are stale (e.g. after merging a
 * branch that adds resources whose failover behaviour reviewers should see).
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

/** The example pairs README, "Objectives", shows the DR posture of: the stacks beside Pulumi.yaml and the cheaper example. */
export const POSTURE_EXAMPLES = [
  { command: "npm run plan -- --stack primary", stackDir: undefined },
  { command: "npm run plan -- --stack primary --stack-dir examples/cheap", stackDir: "examples/cheap" },
] as const;

/** The DR posture part of `drstack plan` for each example, as it prints it. */
export async function renderPostures(): Promise<string> {
  const sections: string[] = [];
  for (const { command, stackDir } of POSTURE_EXAMPLES) {
    const evaluation = await evaluateBesidePeer("primary", {}, stackDir === undefined ? undefined : path.join(PROJECT_ROOT, stackDir));
    sections.push([`\`${command}\` (the DR posture part):`, "", "```text", ...postureText(buildPlan(evaluation).posture), "```"].join("\n"));
  }
  return sections.join("\n\n");
}

/** README with the rehearsal and the example postures as the tool prints them today. */
export async function renderedRehearsalReadme(document: string): Promise<string> {
  return replaceBlock(replaceBlock(document, "rehearsal", await renderRehearsal()), "posture", await renderPostures());
}

if (require.main === module) {
  void renderedRehearsalReadme(fs.readFileSync(README_PATH, "utf8")).then((readme) => {
    fs.writeFileSync(README_PATH, readme);
    console.log("README.md failover rehearsal and example postures regenerated");
    process.exit(0);
  });
}
