/**
 * Reads an archive's table of contents with `pg_restore --list` while the
 * archive streams past, without holding the stream up once pg_restore has
 * what it needs (it stops reading after the TOC of a custom-format archive).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";

export interface TocSummary {
  format: string;
  entries: number;
  /** `schema table` of every TABLE DATA entry. */
  tableData: Set<string>;
}

export interface TocReader {
  write(chunk: Buffer): Promise<void>;
  /** Ends the input and resolves with the parsed listing; rejects if pg_restore failed. */
  finish(): Promise<TocSummary>;
  kill(): void;
}

export function parseTocListing(listing: string): TocSummary {
  const format = /^;\s+Format:\s+(\S+)/m.exec(listing)?.[1] ?? "";
  const lines = listing.split("\n").filter((l) => /^\d+;/.test(l));
  const tableData = new Set<string>();
  for (const l of lines) {
    const m = /^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) /.exec(l);
    if (m) tableData.add(`${m[1]} ${m[2]}`);
  }
  return { format, entries: lines.length, tableData };
}

export function startTocReader(pgRestorePath: string): TocReader {
  const child = spawn(pgRestorePath, ["--list"], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let inputClosed = false;
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  // pg_restore closing its stdin early is expected, not an error.
  child.stdin.on("error", () => {
    inputClosed = true;
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("close", (code) => {
      inputClosed = true;
      resolve(code);
    });
    child.on("error", () => resolve(-1));
  });

  return {
    async write(chunk) {
      if (inputClosed) return;
      if (!child.stdin.write(chunk)) await Promise.race([once(child.stdin, "drain").catch(() => undefined), exited]);
    },
    async finish() {
      if (!inputClosed) child.stdin.end();
      const code = await exited;
      if (code !== 0) throw new Error(`pg_restore --list could not read the archive (exit ${code}): ${stderr.trim()}`);
      return parseTocListing(stdout);
    },
    kill() {
      child.kill("SIGKILL");
    },
  };
}
