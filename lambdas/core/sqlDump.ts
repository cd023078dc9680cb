/**
 * A streaming reader of mysqldump / mariadb-dump output: it splits the SQL
 * into statements (quotes, comments, conditional comments and DELIMITER
 * changes understood), counts the rows of every `INSERT INTO ... VALUES`
 * tuple per table with a content checksum, and lists the tables, views,
 * routines, triggers and events the dump creates. Chunks may split anything
 * anywhere (a multi-byte character, an escape, a delimiter): the reader works
 * on bytes and keeps its state between chunks, holding at most the head of
 * the current statement, never a whole table.
 *
 * The checksum of a table is the sum modulo 2^64 of FNV-1a-64 over each
 * tuple's exact bytes between its outer parentheses: order-independent, and
 * equal for two dumps of the same rows by the same tool and server flavour
 * (tuples are the server's text of each value, escaped by the tool).
 *
 * A backslash escapes the next character in a string, except while the
 * dump's session has NO_BACKSLASH_ESCAPES in its sql_mode: mysqldump writes
 * each routine and trigger under the sql_mode it was created with
 * (a conditional-comment `SET sql_mode = '...'`, restored afterwards with
 * `SET sql_mode = @saved_sql_mode`), and under NO_BACKSLASH_ESCAPES a body's
 * `'C:\'` is a whole string. The reader follows those SET statements.
 *
 * The same reader hands the table restore the INSERT statements of the
 * tables it restores (insertStatements), each with its rows and checksum.
 */
import { CheckFailedError } from "./errors";
import type { TableState } from "./checksums";

/** Names the checksum definition in the manifest. */
export const MYSQL_TABLE_CHECKSUM_METHOD = "mysqldump-tuple-fnv1a64-sum/v1";
/** The checksum of a table with no rows: the empty sum. */
export const EMPTY_CHECKSUM = "0000000000000000";

/** How much of a statement's beginning is kept to classify it (its kind and name). */
const HEAD_LIMIT = 64 * 1024;

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
// The 64-bit FNV prime is 2^40 + 0x1b3.
const FNV_PRIME_LOW = 0x1b3;
const TWO_32 = 4294967296;

function hex64(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0");
}

/**
 * FNV-1a-64 in four 16-bit limbs (h3 highest): the prime is 2^40 + 0x1b3, so
 * h * prime = h * 0x1b3 + (h << 40), and no intermediate leaves the range of
 * exact integers. Several times faster in V8 than BigInt or 32-bit halves.
 */
export function fnv1a64(bytes: Uint8Array): string {
  let h0 = FNV_OFFSET_LO & 0xffff;
  let h1 = FNV_OFFSET_LO >>> 16;
  let h2 = FNV_OFFSET_HI & 0xffff;
  let h3 = FNV_OFFSET_HI >>> 16;
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i];
    const t0 = h0 * FNV_PRIME_LOW;
    let t1 = h1 * FNV_PRIME_LOW;
    let t2 = h2 * FNV_PRIME_LOW + (h0 << 8);
    const t3 = h3 * FNV_PRIME_LOW + (h1 << 8);
    t1 += t0 >>> 16;
    h0 = t0 & 0xffff;
    t2 += t1 >>> 16;
    h1 = t1 & 0xffff;
    h3 = (t3 + (t2 >>> 16)) & 0xffff;
    h2 = t2 & 0xffff;
  }
  return hex64(((h3 << 16) | h2) >>> 0, ((h1 << 16) | h0) >>> 0);
}

/** The sum modulo 2^64 of two checksums (16 hex digits each). */
export function addChecksums(a: string, b: string): string {
  return ((BigInt(`0x${a}`) + BigInt(`0x${b}`)) & 0xffffffffffffffffn).toString(16).padStart(16, "0");
}

/** One table's rows and checksum as the dump holds them. */
export interface DumpedTable {
  rows: number;
  checksum: string;
}

/** One INSERT statement of a table, for the table restore. */
export interface InsertStatement {
  table: string;
  /** The statement without its delimiter, as the dump has it (UTF-8). */
  sql: string;
  rows: number;
  /** The sum of this statement's tuples' checksums; add them up with addChecksums. */
  checksum: string;
}

export interface SqlDumpSummary {
  /** Statements terminated by the delimiter (DELIMITER commands are the client's, not counted). */
  statements: number;
  insertStatements: number;
  /** Rows and checksum of every table the dump creates or inserts into; tables without rows have 0 and EMPTY_CHECKSUM. */
  tables: Map<string, DumpedTable>;
  /** Base tables created (CREATE TABLE), in dump order. */
  createdTables: string[];
  views: string[];
  /** Procedures and functions. */
  routines: string[];
  triggers: string[];
  events: string[];
  /** Whether the dump ends with the tools' "-- Dump completed" line. */
  completed: boolean;
}

export interface SqlDumpReaderOptions {
  /** Tables whose INSERT statements are handed to onInsert. */
  capture?: (table: string) => boolean;
  onInsert?: (statement: InsertStatement) => void;
}

const enum S {
  /** Outside quotes and comments, in a statement or between statements. */
  Normal,
  Single,
  SingleEscape,
  Double,
  DoubleEscape,
  Back,
  Dash,
  DashDash,
  LineComment,
  Slash,
  CommentOpen,
  Block,
  BlockStar,
  /** Inside a conditional comment's closing "*" (its SQL runs in Normal). */
  CondStar,
  /** In `INSERT ... VALUES`, between tuples. */
  Values,
  Tuple,
  TupleSingle,
  TupleSingleEscape,
  TupleDouble,
  TupleDoubleEscape,
  TupleBack,
}

const QUOTE = 0x27;
const DQUOTE = 0x22;
const BACKTICK = 0x60;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const BANG = 0x21;
const HASH = 0x23;

const INSERT_HEAD = /^(?:INSERT(?:\s+IGNORE)?|REPLACE)\s+INTO\s+`((?:[^`]|``)+)`(?:\s*\([^]*\))?\s*VALUES\s*$/i;
const DELIMITER_LINE = /^DELIMITER\s+(\S+)\s*$/i;
const DEFINER = /DEFINER\s*=\s*(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s@*]+)(?:\s*@\s*(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\s*]+))?/gi;
const CREATE =
  /^CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?(?:SQL\s+SECURITY\s+\w+\s+)?(?:AGGREGATE\s+)?(TABLE|VIEW|PROCEDURE|FUNCTION|TRIGGER|EVENT)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:`((?:[^`]|``)+)`|([\w$\u0080-\uffff]+))/iu;

/** `sql_mode = 'x'`, `sql_mode = @v` or `@v = @@sql_mode` in a SET statement (session or not, any case). */
const SQL_MODE_ASSIGNMENT = /(@@(?:session\.|local\.)?sql_mode|(?<![@\w])(?:session\s+|local\s+)?sql_mode|@[\w$.]+)\s*:?=\s*('(?:[^'\\]|''|\\.)*'|@@(?:session\.|local\.)?sql_mode\b|@[\w$.]+|default\b)/giu;

function unquoteIdent(quoted: string): string {
  return quoted.replace(/``/g, "`");
}

/**
 * Push chunks with write(), then end() for the summary. Throws
 * CheckFailedError on output that is not a dump (a tuple outside an INSERT,
 * a statement cut off at the end).
 */
export class SqlDumpReader {
  private state: S = S.Normal;
  private delimiter: Buffer = Buffer.from(";");
  private delimMatched = 0;
  private inConditional = false;
  private head = Buffer.allocUnsafe(1024);
  private headLen = 0;
  private headTruncated = false;
  private headIsConditional = false;
  private delimiterCommand = false;
  private lineComment = "";
  private lastComment = "";
  /** The dump session's sql_mode as its SET statements leave it ("" until one sets it: the loading client's own). */
  private sqlMode = "";
  /** User variables holding a saved sql_mode (`SET @saved_sql_mode = @@sql_mode`). */
  private readonly savedSqlModes = new Map<string, string>();
  /** NO_BACKSLASH_ESCAPES is in sqlMode: a backslash in a string is a character like any other. */
  private noBackslashEscapes = false;

  private table = "";
  private depth = 0;
  private hi = 0;
  private lo = 0;
  private stmtRows = 0;
  private stmtSumHi = 0;
  private stmtSumLo = 0;
  private capturing = false;
  private captured: Buffer[] = [];
  private captureStart = -1;

  private readonly sums = new Map<string, { rows: number; hi: number; lo: number }>();
  private readonly summary: Omit<SqlDumpSummary, "tables" | "completed"> = { statements: 0, insertStatements: 0, createdTables: [], views: [], routines: [], triggers: [], events: [] };
  private bytes = 0;

  constructor(private readonly opts: SqlDumpReaderOptions = {}) {}

  write(chunk: Buffer): void {
    this.captureStart = this.capturing ? 0 : -1;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const state = this.state;
      if (state >= S.Tuple) {
        i = this.tupleRun(chunk, i);
        continue;
      }
      const b = chunk[i];
      if (state === S.Values) {
        if (b === LPAREN) {
          this.state = S.Tuple;
          this.delimMatched = 0;
          this.depth = 1;
          this.hi = FNV_OFFSET_HI;
          this.lo = FNV_OFFSET_LO;
        } else if (b === this.delimiter[this.delimMatched]) {
          if (++this.delimMatched === this.delimiter.length) this.endInsert(chunk, i);
        } else if (b !== COMMA && b !== 0x20 && b !== NEWLINE && b !== 0x0d && b !== 0x09) {
          throw new CheckFailedError(`unexpected ${JSON.stringify(String.fromCharCode(b))} between the tuples of an INSERT into \`${this.table}\` (byte ${this.bytes + i} of the dump)`);
        }
        i++;
      } else {
        i = this.statementByte(i, b) + 1;
      }
    }
    if (this.capturing) this.captured.push(Buffer.from(chunk.subarray(Math.max(0, this.captureStart))));
    this.bytes += n;
  }

  /**
   * The hot path: the bytes of tuples, hashed as they pass, until the tuple
   * closes or the chunk ends. State lives in locals here, for speed.
   */
  private tupleRun(chunk: Buffer, start: number): number {
    let state = this.state;
    let depth = this.depth;
    let h0 = this.lo & 0xffff;
    let h1 = this.lo >>> 16;
    let h2 = this.hi & 0xffff;
    let h3 = this.hi >>> 16;
    const nbe = this.noBackslashEscapes;
    const n = chunk.length;
    let i = start;
    for (; i < n; i++) {
      const b = chunk[i];
      switch (state) {
        case S.TupleSingle:
          if (b === BACKSLASH && !nbe) state = S.TupleSingleEscape;
          else if (b === QUOTE) state = S.Tuple;
          break;
        case S.Tuple:
          if (b === QUOTE) state = S.TupleSingle;
          else if (b === RPAREN) {
            if (--depth === 0) {
              this.hi = ((h3 << 16) | h2) >>> 0;
              this.lo = ((h1 << 16) | h0) >>> 0;
              this.endTuple();
              this.state = S.Values;
              this.depth = 0;
              return i + 1;
            }
          } else if (b === LPAREN) depth++;
          else if (b === DQUOTE) state = S.TupleDouble;
          else if (b === BACKTICK) state = S.TupleBack;
          break;
        case S.TupleSingleEscape:
          state = S.TupleSingle;
          break;
        case S.TupleDouble:
          if (b === BACKSLASH && !nbe) state = S.TupleDoubleEscape;
          else if (b === DQUOTE) state = S.Tuple;
          break;
        case S.TupleDoubleEscape:
          state = S.TupleDouble;
          break;
        case S.TupleBack:
          if (b === BACKTICK) state = S.Tuple;
          break;
      }
      // FNV-1a-64 step, as in fnv1a64.
      h0 ^= b;
      const t0 = h0 * FNV_PRIME_LOW;
      let t1 = h1 * FNV_PRIME_LOW;
      let t2 = h2 * FNV_PRIME_LOW + (h0 << 8);
      const t3 = h3 * FNV_PRIME_LOW + (h1 << 8);
      t1 += t0 >>> 16;
      h0 = t0 & 0xffff;
      t2 += t1 >>> 16;
      h1 = t1 & 0xffff;
      h3 = (t3 + (t2 >>> 16)) & 0xffff;
      h2 = t2 & 0xffff;
    }
    this.state = state;
    this.depth = depth;
    this.hi = ((h3 << 16) | h2) >>> 0;
    this.lo = ((h1 << 16) | h0) >>> 0;
    return i;
  }

  /** Everything outside INSERT tuples; returns the index to continue after (a byte may be looked at again). */
  private statementByte(i: number, b: number): number {
    switch (this.state) {
      case S.Normal:
        if (this.delimiterCommand) {
          if (b === NEWLINE) this.endDelimiterCommand();
          else this.appendByte(b);
          return i;
        }
        if (!this.inConditional && b === this.delimiter[this.delimMatched]) {
          if (++this.delimMatched === this.delimiter.length) {
            this.delimMatched = 0;
            this.endStatement();
          }
          return i;
        }
        if (this.delimMatched > 0) {
          // What looked like the start of the delimiter was not: it belongs to the statement.
          this.append(this.delimiter.subarray(0, this.delimMatched));
          this.delimMatched = 0;
          return i - 1;
        }
        if (b === QUOTE) this.state = S.Single;
        else if (b === DQUOTE) this.state = S.Double;
        else if (b === BACKTICK) this.state = S.Back;
        else if (b === DASH) {
          this.state = S.Dash;
          return i;
        } else if (b === HASH && !this.inConditional) {
          this.state = S.LineComment;
          this.lineComment = "#";
          return i;
        } else if (b === SLASH) {
          this.state = S.Slash;
          return i;
        } else if (b === STAR && this.inConditional) {
          this.state = S.CondStar;
          return i;
        } else if ((b === 0x20 || b === 0x09) && this.headLen === 9 && this.headText().toUpperCase() === "DELIMITER") {
          // The client's DELIMITER command runs to the end of its line, whatever the current delimiter.
          this.delimiterCommand = true;
        } else if (b === LPAREN && this.headLen > 0) {
          if (this.startValues(i)) return i;
        }
        this.appendByte(b);
        return i;
      case S.Single:
        if (b === BACKSLASH && !this.noBackslashEscapes) this.state = S.SingleEscape;
        else if (b === QUOTE) this.state = S.Normal;
        this.appendByte(b);
        return i;
      case S.SingleEscape:
        this.state = S.Single;
        this.appendByte(b);
        return i;
      case S.Double:
        if (b === BACKSLASH && !this.noBackslashEscapes) this.state = S.DoubleEscape;
        else if (b === DQUOTE) this.state = S.Normal;
        this.appendByte(b);
        return i;
      case S.DoubleEscape:
        this.state = S.Double;
        this.appendByte(b);
        return i;
      case S.Back:
        if (b === BACKTICK) this.state = S.Normal;
        this.appendByte(b);
        return i;
      case S.Dash:
        if (b === DASH) {
          this.state = S.DashDash;
          return i;
        }
        this.state = S.Normal;
        this.appendByte(DASH);
        return i - 1;
      case S.DashDash:
        // "--" starts a comment only when followed by white space or a control character.
        if (b <= 0x20) {
          this.lineComment = `--${String.fromCharCode(b)}`;
          if (b === NEWLINE) {
            this.endLineComment();
            this.state = S.Normal;
          } else this.state = S.LineComment;
          return i;
        }
        this.state = S.Normal;
        this.appendByte(DASH);
        this.appendByte(DASH);
        return i - 1;
      case S.LineComment:
        if (b === NEWLINE) {
          this.endLineComment();
          this.state = S.Normal;
        } else if (this.lineComment.length < 64) this.lineComment += String.fromCharCode(b);
        return i;
      case S.Slash:
        if (b === STAR) {
          this.state = S.CommentOpen;
          this.appendByte(SLASH);
          this.appendByte(STAR);
          return i;
        }
        this.state = S.Normal;
        this.appendByte(SLASH);
        return i - 1;
      case S.CommentOpen:
        if (b === BANG) {
          // A conditional comment: SQL the server runs. Its text is read as statement text up to "*/".
          if (this.isHeadOnlyComment()) this.headIsConditional = true;
          this.inConditional = true;
          this.state = S.Normal;
          this.appendByte(b);
          return i;
        }
        this.state = S.Block;
        return i - 1;
      case S.Block:
        if (b === STAR) this.state = S.BlockStar;
        this.appendByte(b);
        return i;
      case S.BlockStar:
        if (b === SLASH) this.state = S.Normal;
        else if (b !== STAR) this.state = S.Block;
        this.appendByte(b);
        return i;
      case S.CondStar:
        this.state = S.Normal;
        if (b === SLASH) {
          this.inConditional = false;
          this.appendByte(STAR);
          this.appendByte(SLASH);
          return i;
        }
        this.appendByte(STAR);
        return i - 1;
      default:
        throw new Error(`SqlDumpReader: state ${this.state} in statementByte`);
    }
  }

  private endTuple(): void {
    this.stmtRows++;
    const lo = this.stmtSumLo + this.lo;
    this.stmtSumLo = lo >>> 0;
    this.stmtSumHi = (this.stmtSumHi + this.hi + (lo >= TWO_32 ? 1 : 0)) >>> 0;
  }

  private appendByte(b: number): void {
    // Leading white space is not kept, so the head starts with the statement's first word.
    if (this.headLen === 0 && (b === 0x20 || b === NEWLINE || b === 0x0d || b === 0x09)) return;
    if (this.headLen >= HEAD_LIMIT) {
      this.headTruncated = true;
      return;
    }
    if (this.headLen === this.head.length) {
      const bigger = Buffer.allocUnsafe(Math.min(HEAD_LIMIT, this.head.length * 2));
      this.head.copy(bigger, 0, 0, this.headLen);
      this.head = bigger;
    }
    this.head[this.headLen++] = b;
  }

  private append(bytes: Buffer): void {
    for (const b of bytes) this.appendByte(b);
  }

  private headText(): string {
    return this.head.toString("utf8", 0, this.headLen);
  }

  /** The head so far is only "/*": the statement itself starts with a conditional comment. */
  private isHeadOnlyComment(): boolean {
    return this.headLen === 2;
  }

  private endLineComment(): void {
    this.lastComment = this.lineComment;
    this.lineComment = "";
  }

  /** A `DELIMITER x` line is the client's command, not SQL: it changes the delimiter and ends with its line. */
  private endDelimiterCommand(): void {
    const m = DELIMITER_LINE.exec(this.headText());
    if (!m) throw new CheckFailedError(`"${this.headText().slice(0, 60)}" is not a DELIMITER command (byte ${this.bytes} of the dump)`);
    this.delimiter = Buffer.from(m[1], "utf8");
    this.delimiterCommand = false;
    this.resetStatement();
  }

  /** At a "(" outside quotes: if the statement so far is `INSERT INTO t VALUES`, its tuples start here. */
  private startValues(i: number): boolean {
    if (this.headTruncated || this.inConditional) return false;
    const first = this.head[0] | 0x20;
    if (first !== 0x69 && first !== 0x72) return false;
    const text = this.headText();
    const m = INSERT_HEAD.exec(text);
    if (!m) return false;
    this.table = unquoteIdent(m[1]);
    this.state = S.Tuple;
    this.depth = 1;
    this.hi = FNV_OFFSET_HI;
    this.lo = FNV_OFFSET_LO;
    this.stmtRows = 0;
    this.stmtSumHi = 0;
    this.stmtSumLo = 0;
    if (this.opts.onInsert && this.opts.capture?.(this.table)) {
      this.capturing = true;
      this.captured = [Buffer.from(text, "utf8")];
      this.captureStart = i;
    }
    return true;
  }

  private endInsert(chunk: Buffer, i: number): void {
    this.delimMatched = 0;
    this.summary.statements++;
    this.summary.insertStatements++;
    const sum = this.sums.get(this.table) ?? { rows: 0, hi: 0, lo: 0 };
    sum.rows += this.stmtRows;
    const lo = sum.lo + this.stmtSumLo;
    sum.lo = lo >>> 0;
    sum.hi = (sum.hi + this.stmtSumHi + (lo >= TWO_32 ? 1 : 0)) >>> 0;
    this.sums.set(this.table, sum);
    if (this.capturing) {
      // Up to the delimiter's first byte; the delimiter itself is not part of the statement.
      const end = i + 1 - this.delimiter.length;
      const parts = this.captured;
      if (end >= this.captureStart) parts.push(Buffer.from(chunk.subarray(Math.max(0, this.captureStart), end)));
      else {
        // The delimiter began in an earlier chunk: drop its bytes from what was kept.
        let drop = this.captureStart - end;
        while (drop > 0 && parts.length > 0) {
          const last = parts[parts.length - 1];
          if (last.length <= drop) {
            drop -= last.length;
            parts.pop();
          } else {
            parts[parts.length - 1] = last.subarray(0, last.length - drop);
            drop = 0;
          }
        }
      }
      this.capturing = false;
      this.captured = [];
      this.captureStart = -1;
      this.opts.onInsert!({ table: this.table, sql: Buffer.concat(parts).toString("utf8"), rows: this.stmtRows, checksum: hex64(this.stmtSumHi, this.stmtSumLo) });
    }
    this.state = S.Normal;
    this.resetStatement();
  }

  private endStatement(): void {
    if (this.headLen > 0) {
      this.summary.statements++;
      this.classify();
    }
    this.resetStatement();
  }

  private resetStatement(): void {
    this.headLen = 0;
    this.headTruncated = false;
    this.headIsConditional = false;
  }

  private classify(): void {
    const text = this.headText()
      .replace(/\/\*(?!!)[^]*?\*\//g, " ")
      .replace(/\/\*!\d*/g, " ")
      .replace(/\*\//g, " ")
      .replace(DEFINER, " ")
      .trim();
    if (/^SET\s/i.test(text)) {
      this.followSqlMode(text);
      return;
    }
    const m = CREATE.exec(text);
    if (!m) return;
    // MariaDB writes a trigger's name unquoted.
    const name = m[2] !== undefined ? unquoteIdent(m[2]) : m[3];
    switch (m[1].toUpperCase()) {
      case "TABLE":
        // mysqldump's stand-in for a view (created before the views, replaced by them) is a conditional CREATE TABLE.
        if (this.headIsConditional) return;
        this.summary.createdTables.push(name);
        if (!this.sums.has(name)) this.sums.set(name, { rows: 0, hi: 0, lo: 0 });
        return;
      case "VIEW":
        if (!this.summary.views.includes(name)) this.summary.views.push(name);
        return;
      case "PROCEDURE":
      case "FUNCTION":
        this.summary.routines.push(name);
        return;
      case "TRIGGER":
        this.summary.triggers.push(name);
        return;
      case "EVENT":
        this.summary.events.push(name);
        return;
    }
  }

  /** Applies a SET statement's sql_mode assignments, left to right as the server does. */
  private followSqlMode(text: string): void {
    if (!/sql_mode/i.test(text)) return;
    for (const m of text.matchAll(SQL_MODE_ASSIGNMENT)) {
      const target = m[1].toLowerCase();
      const value = m[2];
      const isMode = (v: string) => /^@@(?:session\.|local\.)?sql_mode$/i.test(v);
      if (target.startsWith("@") && !target.startsWith("@@")) {
        // A user variable; only one saving the sql_mode matters.
        if (isMode(value)) this.savedSqlModes.set(target, this.sqlMode);
        else this.savedSqlModes.delete(target);
        continue;
      }
      if (value.startsWith("'")) this.sqlMode = value.slice(1, -1).replace(/''/g, "'");
      else if (value.startsWith("@") && !value.startsWith("@@")) this.sqlMode = this.savedSqlModes.get(value.toLowerCase()) ?? "";
      else if (/^default$/i.test(value)) this.sqlMode = "";
    }
    this.noBackslashEscapes = /(?:^|,)\s*NO_BACKSLASH_ESCAPES\s*(?:,|$)/i.test(this.sqlMode);
  }

  /** Throws when the output stops inside a statement: a dump cut off, whatever the tool's exit code said. */
  end(): SqlDumpSummary {
    if (this.delimiterCommand) this.endDelimiterCommand();
    if (this.state !== S.Normal || this.inConditional || this.delimMatched > 0) {
      const where = this.state === S.Tuple || this.state === S.Values || this.state >= S.TupleSingle ? ` inside an INSERT into \`${this.table}\`` : "";
      throw new CheckFailedError(`the dump ends in the middle of a statement${where} after ${this.bytes} bytes: it was cut off`);
    }
    if (this.headLen > 0 && this.headText().replace(/\/\*(?!!)[^]*?\*\//g, "").trim() !== "") {
      throw new CheckFailedError(`the dump ends with an unterminated statement after ${this.bytes} bytes ("${this.headText().slice(0, 60)}..."): it was cut off`);
    }
    const tables = new Map<string, DumpedTable>();
    for (const [name, s] of this.sums) tables.set(name, { rows: s.rows, checksum: hex64(s.hi, s.lo) });
    return { ...this.summary, tables, completed: /^-- Dump completed/.test(this.lastComment) };
  }
}

/** Reads a whole dump stream (decompressed). */
export async function readSqlDump(source: AsyncIterable<Buffer>): Promise<SqlDumpSummary> {
  const reader = new SqlDumpReader();
  for await (const chunk of source) reader.write(chunk);
  return reader.end();
}

/**
 * The INSERT statements of the selected tables from a decompressed dump
 * stream, in dump order, one at a time (each at most the tool's
 * net_buffer_length plus one row). The stream is read to its end, so a cut-off
 * dump throws after the last statement.
 */
export async function* insertStatements(source: AsyncIterable<Buffer>, select: (table: string) => boolean): AsyncGenerator<InsertStatement, SqlDumpSummary> {
  const ready: InsertStatement[] = [];
  const reader = new SqlDumpReader({ capture: select, onInsert: (s) => ready.push(s) });
  for await (const chunk of source) {
    reader.write(chunk);
    while (ready.length > 0) yield ready.shift()!;
  }
  const summary = reader.end();
  while (ready.length > 0) yield ready.shift()!;
  return summary;
}

/** The manifest's table list for the given base tables of `schema`, from a dump's summary; a table without rows has 0 and EMPTY_CHECKSUM. */
export function dumpedTableStates(summary: SqlDumpSummary, schema: string, tables: readonly string[]): TableState[] {
  return tables.map((table) => {
    const t = summary.tables.get(table);
    return { schema, table, rows: t?.rows ?? 0, checksum: t?.checksum ?? EMPTY_CHECKSUM };
  });
}
