import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../infra/configSchema";
import { computeDiff, main } from "../offline/cli";
import { evaluateBesidePeer } from "../offline/evaluate";
import { buildPlan, postureText } from "../offline/plan";
import { renderDiffMarkdown } from "../offline/summary";
import { README_PATH, replaceBlock } from "./readmeBlocks";

/**
 * The README's failover rehearsal, as `drstack diff --stack <s>
 * --rehearse-failover` prints it for each example stack, and the DR posture
 * of both example pairs, as `drstack plan` prints it; and for the Docker pair
 * (examples/docker) its plan, its rehearsal and its objectives. `npm run
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

/** The Docker pair (siteKind docker, infra/docker), as README's Docker section shows it. */
export const DOCKER_STACK_DIR = "examples/docker";

/** What `drstack <argv>` prints on stdout, exactly (the README commands test runs the same lines). */
async function printed(argv: string[]): Promise<string> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (text) => (out += text), err: (text) => (err += text) });
  if (code !== 0) {
    throw new Error(`drstack ${argv.join(" ")} exited ${code}: ${err}`);
  }
  return out;
}

/** `npm run plan -- --stack primary --stack-dir examples/docker`: the whole plan of the Docker primary. */
export async function renderDockerPlan(): Promise<string> {
  const text = await printed(["plan", "--stack", "primary", "--stack-dir", DOCKER_STACK_DIR]);
  return [`\`npm run plan -- --stack primary --stack-dir ${DOCKER_STACK_DIR}\`:`, "", "```text", text.trimEnd(), "```"].join("\n");
}

/** The failover rehearsal of both Docker stacks, as `drstack diff --rehearse-failover` prints it. */
export async function renderDockerRehearsal(): Promise<string> {
  const sections: string[] = [];
  for (const stack of REHEARSAL_STACKS) {
    const text = await printed(["diff", "--stack", stack, "--stack-dir", DOCKER_STACK_DIR, "--rehearse-failover", "--fail-on", "never"]);
    sections.push(`<!-- drstack diff --stack ${stack} --stack-dir ${DOCKER_STACK_DIR} --rehearse-failover -->\n${text.trimEnd()}`);
  }
  return sections.join("\n\n");
}

/** The Docker pair's objectives table: the DR posture part of the primary's plan. */
export async function renderDockerObjectives(): Promise<string> {
  const evaluation = await evaluateBesidePeer("primary", {}, path.join(PROJECT_ROOT, DOCKER_STACK_DIR));
  return [`\`npm run plan -- --stack primary --stack-dir ${DOCKER_STACK_DIR}\` (the DR posture part):`, "", "```text", ...postureText(buildPlan(evaluation).posture), "```"].join("\n");
}

/** Blocks README may carry; each is filled only when its markers are there (the Docker section's are the lead's to place). */
export const OPTIONAL_BLOCKS: ReadonlyArray<[string, () => Promise<string>]> = [
  ["docker-plan", renderDockerPlan],
  ["docker-rehearsal", renderDockerRehearsal],
  ["docker-objectives", renderDockerObjectives],
];

export function hasBlock(document: string, name: string): boolean {
  return document.includes(`<!-- ${name}:start -->`) && document.includes(`<!-- ${name}:end -->`);
}

/** `document` with each optional block whose markers it has filled as the tool prints it today; the others left as they are. */
export async function fillOptionalBlocks(document: string): Promise<string> {
  let readme = document;
  for (const [name, render] of OPTIONAL_BLOCKS) {
    if (hasBlock(readme, name)) {
      readme = replaceBlock(readme, name, await render());
    }
  }
  return readme;
}

/** README with the rehearsal and the example postures as the tool prints them today, and the Docker pair's blocks where README has their markers. */
export async function renderedRehearsalReadme(document: string): Promise<string> {
  return fillOptionalBlocks(replaceBlock(replaceBlock(document, "rehearsal", await renderRehearsal()), "posture", await renderPostures()));
}

if (require.main === module) {
  void renderedRehearsalReadme(fs.readFileSync(README_PATH, "utf8")).then((readme) => {
    fs.writeFileSync(README_PATH, readme);
    console.log("README.md failover rehearsal and example postures regenerated");
    process.exit(0);
  });
}
