/**
 * The shell commands README.md tells a reader to type, exactly as written:
 * every line of a fenced `sh` block (comments dropped, `\` continuations
 * joined), and every inline code span that starts with one of the project's
 * own entry points (npm, npx, node, bash). tests/unit/readmeCommands.test.ts
 * requires each to be run by a test, run by CI, or listed with the reason it
 * cannot run here.
 */

export interface ReadmeCommand {
  /** The command as README writes it, trailing comment removed. */
  command: string;
  /** 1-based line of README where it starts. */
  line: number;
  from: "block" | "inline";
}

/** Info strings of the fenced blocks that hold commands rather than output. */
export const COMMAND_BLOCK_LANGUAGES = ["sh", "bash", "shell", "console"] as const;

/** Inline code that starts like this is a command to type, not a name in prose. */
export const INLINE_COMMAND = /^(npm|npx|node|bash) /;

/** Everything from an unquoted `#` that starts a word (the shell's comment rule). */
export function stripShellComment(line: string): string {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"') i++;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === "\\") {
      i++;
    } else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i);
    }
  }
  return line;
}

interface FencedBlock {
  language: string;
  /** 1-based line of the first line inside the fence. */
  firstLine: number;
  lines: string[];
}

export function fencedBlocks(readme: string): FencedBlock[] {
  const lines = readme.split("\n");
  const blocks: FencedBlock[] = [];
  let open: FencedBlock | undefined;
  lines.forEach((text, index) => {
    const fence = /^```\s*([\w-]*)\s*$/.exec(text);
    if (open) {
      if (fence && fence[1] === "") {
        blocks.push(open);
        open = undefined;
      } else {
        open.lines.push(text);
      }
    } else if (fence) {
      open = { language: fence[1], firstLine: index + 2, lines: [] };
    }
  });
  if (open) {
    throw new Error(`README.md: the code block opened at line ${open.firstLine - 1} is never closed`);
  }
  return blocks;
}

function blockCommands(block: FencedBlock): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  let pending: { text: string; line: number } | undefined;
  block.lines.forEach((raw, offset) => {
    const line = block.firstLine + offset;
    const text = stripShellComment(raw).trimEnd();
    const continued = text.endsWith("\\");
    const part = continued ? text.slice(0, -1) : text;
    pending = pending ? { text: `${pending.text} ${part.trim()}`, line: pending.line } : { text: part.trim(), line };
    if (!continued) {
      if (pending.text !== "") {
        commands.push({ command: pending.text.replace(/\s+/g, " "), line: pending.line, from: "block" });
      }
      pending = undefined;
    }
  });
  return commands;
}

/** README without its fenced blocks (blanked line for line, so line numbers stay). */
function prose(readme: string): string {
  let inside = false;
  return readme
    .split("\n")
    .map((text) => {
      const fence = /^```/.test(text);
      const blank = inside || fence;
      if (fence) inside = !inside;
      return blank ? "" : text;
    })
    .join("\n");
}

export function readmeCommands(readme: string): ReadmeCommand[] {
  const fromBlocks = fencedBlocks(readme)
    .filter((block) => (COMMAND_BLOCK_LANGUAGES as readonly string[]).includes(block.language))
    .flatMap(blockCommands);
  const fromProse = prose(readme)
    .split("\n")
    .flatMap((text, index) =>
      [...text.matchAll(/`([^`]+)`/g)]
        .map((match) => match[1].trim())
        .filter((span) => INLINE_COMMAND.test(span))
        .map((command): ReadmeCommand => ({ command, line: index + 1, from: "inline" })),
    );
  return [...fromBlocks, ...fromProse].sort((a, b) => a.line - b.line);
}
