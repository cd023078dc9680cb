import * as fs from "fs";
import * as path from "path";
import { ConfigKeyDeclaration, PROJECT_ROOT, readConfigSchema } from "../infra/configSchema";
import { describeDirection, FAILOVER_ALLOW_LIST } from "../infra/failoverAllowList";

/**
 * README blocks generated from the code, between `<!-- name:start -->` and
 * `<!-- name:end -->` markers, so the front door cannot drift from Pulumi.yaml.
 * `npm run docs` rewrites them; a unit test fails while they are stale.
 */

export const README_PATH = path.join(PROJECT_ROOT, "README.md");

function markdownCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\s+/g, " ").trim();
}

function renderDefault(declaration: ConfigKeyDeclaration): string {
  if (declaration.default === undefined) {
    return "(required)";
  }
  if (declaration.default === "") {
    return "(empty)";
  }
  return `\`${typeof declaration.default === "string" ? declaration.default : JSON.stringify(declaration.default)}\``;
}

export function renderConfigTable(schema: ConfigKeyDeclaration[] = readConfigSchema()): string {
  const rows = schema.map(
    (d) => `| \`${d.key}\` | ${d.type}${d.secret ? " (secret)" : ""} | ${renderDefault(d)} | ${markdownCell(d.description)} |`,
  );
  return ["| key | type | default | description |", "|---|---|---|---|", ...rows].join("\n");
}

/** What a failover may change: the allow-list the failover diff test enforces, as a table. */
export function renderFailoverAllowList(): string {
  const rows = FAILOVER_ALLOW_LIST.map((allowance) => {
    const paths = [
      ...allowance.paths.map((path) => {
        const direction = allowance.directions?.[path];
        const only = (what: string, names: readonly string[] | undefined) =>
          names === undefined ? "" : ` (only the ${what}${names.length === 1 ? "" : "s"} ${names.map((name) => `\`${name}\``).join(", ")})`;
        const filter = path === "envs" ? only("entry", allowance.envs).replace("entrys", "entries") : path === "labels" ? only("label", allowance.labels) : "";
        return `\`${path}\`${direction ? ` (${describeDirection(direction)})` : ""}${filter}`;
      }),
      ...(allowance.presence ? [`the resource itself (${allowance.presence === "removal or addition" ? "removed or added" : `${allowance.presence} only`})`] : []),
    ].join(", ");

    const replaced = allowance.replaces ? "; replaces the resource" : "";
    const type = allowance.names ? `\`${allowance.type}\` named \`${allowance.names.source}\`` : `\`${allowance.type}\``;
    // A name pattern may hold `|`, which would end the cell.
    return `| ${markdownCell(type)} | ${markdownCell(`${paths}${replaced}`)} | ${markdownCell(allowance.why)} |`;
  });
  return ["| resource type | inputs that may change | why |", "|---|---|---|", ...rows].join("\n");
}

export function replaceBlock(document: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from < 0 || to < from) {
    throw new Error(`README.md has no ${start} ... ${end} block`);
  }
  return `${document.slice(0, from + start.length)}\n${content}\n${document.slice(to)}`;
}

export function renderedReadme(document: string): string {
  return replaceBlock(replaceBlock(document, "config", renderConfigTable()), "failover-allow-list", renderFailoverAllowList());
}

if (require.main === module) {
  const current = fs.readFileSync(README_PATH, "utf8");
  fs.writeFileSync(README_PATH, renderedReadme(current));
  console.log("README.md blocks regenerated");
}
