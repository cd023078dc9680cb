import type { DrPosture } from "../infra/objectives";
import { DrDiff } from "./diff";
import { Finding } from "./findings";
import { interimLines } from "./plan";

/** Renders a DR diff as Markdown for a pull-request comment: findings first, then objectives, then resources. */

/** The marker CI looks for to update its one comment instead of adding another. */
export const COMMENT_MARKER = "<!-- drstack-dr-report -->";

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function findingRow(f: Finding): string {
  return `| ${f.severity === "blocking" ? "**BLOCKING**" : "warning"} | ${cell(f.message)} | \`${f.name}\` (${cell(f.type)}) |`;
}

function rpo(value: number | null): string {
  return value === null ? "no bound" : `${value} min`;
}

function objectivesTable(before: DrPosture | undefined, after: DrPosture): string[] {
  const previous = new Map((before?.tiers ?? []).map((tier) => [tier.tier, tier]));
  const rows = after.tiers.map((tier) => {
    const was = previous.get(tier.tier);
    // An unused tier achieved nothing to compare with.
    const wasUsed = was !== undefined && was.status !== "unused";
    const status = tier.status === "met" ? "met" : tier.status === "unused" ? "unused" : "**not met**";
    const change = was && was.status !== tier.status ? ` (was ${was.status})` : "";
    const achieved = (value: string, old: string | undefined) => (old !== undefined && old !== value ? `${old} -> ${value}` : value);
    const unused = tier.status === "unused";
    return `| ${tier.tier} | ${tier.objectives.rtoMinutes} min | ${unused ? "-" : achieved(`${tier.achievedRtoMinutes} min`, wasUsed ? `${was.achievedRtoMinutes} min` : undefined)} | ${tier.objectives.rpoMinutes} min | ${unused ? "-" : achieved(rpo(tier.achievedRpoMinutes), wasUsed ? rpo(was.achievedRpoMinutes) : undefined)} | ${status}${change} |`;
  });
  return ["| tier | RTO objective | achieved | RPO objective | achieved | status |", "|---|---|---|---|---|---|", ...rows];
}

export function renderDiffMarkdown(diff: DrDiff & { errors?: string[] }): string {
  const blocking = diff.findings.filter((f) => f.severity === "blocking").length;
  const warnings = diff.findings.length - blocking;
  const byKind = (kind: string) => diff.changes.filter((c) => c.kind === kind);
  const lines: string[] = [`### ${diff.title}`, ""];
  const verdict = diff.findings.length === 0 ? "no DR findings" : [blocking ? `${count(blocking, "blocking finding")}` : "", warnings ? count(warnings, "warning") : ""].filter(Boolean).join(", ");
  lines.push(
    `**${verdict}** · ${byKind("added").length} added, ${byKind("removed").length} removed, ${byKind("replaced").length} replaced, ${byKind("changed").length} changed`,
    "",
  );
  for (const error of diff.errors ?? []) {
    lines.push(`> **preview error:** ${cell(error)}`, "");
  }
  if (diff.findings.length > 0) {
    lines.push("| severity | finding | resource |", "|---|---|---|", ...diff.findings.map(findingRow), "");
  }
  if (diff.postureAfter) {
    lines.push(`**Objectives** (${diff.postureAfter.site}, ${diff.postureAfter.role}; failover takes ${diff.postureAfter.recoveryTime.minutes} min)`, "");
    lines.push(...objectivesTable(diff.postureBefore, diff.postureAfter), "");
    const interim = interimLines(diff.postureAfter).filter(Boolean);
    if (interim.length > 0) {
      lines.push(interim.map((line) => `> ${cell(line)}`).join("\n>\n"), "");
    }
  }
  if (diff.outputChanges.length > 0) {
    const show = (value: unknown) => (value === undefined ? "(none)" : `\`${typeof value === "string" ? value : JSON.stringify(value)}\``);
    lines.push(`Stack outputs: ${diff.outputChanges.map((o) => `\`${o.name}\` ${show(o.before)} -> ${show(o.after)}`).join(", ")}`, "");
  }
  if (diff.changes.length === 0) {
    lines.push("No resource changes.");
  } else {
    lines.push(`<details><summary>Resources: ${diff.changes.length} with changes</summary>`, "");
    for (const change of diff.changes) {
      const paths = change.paths.length ? `: ${change.paths.slice(0, 8).map((p) => `\`${p}\``).join(", ")}${change.paths.length > 8 ? ", ..." : ""}` : "";
      lines.push(`- ${change.kind} \`${change.name}\` (${change.type})${paths}`);
    }
    lines.push("", "</details>");
  }
  return `${lines.join("\n")}\n`;
}
