/**
 * EventBridge Scheduler expressions evaluated on a Docker site, where no
 * EventBridge runs them: the site agent asks when each job fires next, in the
 * site's IANA time zone.
 *
 * The syntax is the one infra/scheduleExpression.ts accepts in the program
 * (a unit test holds the two parsers together on every expression the stack
 * files use); lambdas/ does not import from infra/, so it is parsed here again.
 * Beyond the program's syntax check, values out of their field's range (day 32,
 * month 13, an unknown name, a reversed range) are refused: they would never fire.
 *
 * Semantics (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html):
 * - rate(N unit): a fixed duration (a day is 24 hours, whatever DST does).
 *   EventBridge counts it from the schedule's start; the agent counts it from
 *   the Unix epoch, so the fire times (and the backup slots made from them) are
 *   the same after every restart of the agent;
 * - cron(min hour day-of-month month day-of-week year) in the time zone, day of
 *   week 1-7 = SUN-SAT, L, W and # as in EventBridge. Across DST changes the
 *   agent follows cron, not EventBridge: a fire time that a spring-forward
 *   change removes runs at the first instant after the gap (02:00 daily in
 *   Europe/Zurich runs at 03:00 CEST on the last Sunday of March instead of not
 *   at all; several fire times inside one gap are one run there); a local time
 *   that occurs twice (autumn) runs once, at the first.
 */

export type ParsedSchedule = { kind: "rate"; expression: string; minutes: number } | { kind: "cron"; expression: string; cron: CronSpec };

interface CronSpec {
  minutes: readonly number[];
  hours: readonly number[];
  months: ReadonlySet<number>;
  years?: ReadonlySet<number>;
  /** Whether the local date (1-based month, weekday 1 = Sunday) fires. */
  day: (year: number, month: number, day: number, weekday: number) => boolean;
}

export type ScheduleParse = { ok: true; schedule: ParsedSchedule } | { ok: false; problem: string };

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_MINUTES: Record<string, number> = { minute: 1, hour: 60, day: 24 * 60 };
const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MIN_YEAR = 1970;
const MAX_YEAR = 2199;

/** Same field grammar as infra/scheduleExpression.ts CRON_FIELD_PATTERNS. */
const FIELD_PATTERNS = {
  minutes: /^(\*|[0-5]?\d(-[0-5]?\d)?)(\/\d+)?(,[0-5]?\d(-[0-5]?\d)?(\/\d+)?)*$/,
  hours: /^(\*|(1?\d|2[0-3])(-(1?\d|2[0-3]))?)(\/\d+)?(,(1?\d|2[0-3])(-(1?\d|2[0-3]))?(\/\d+)?)*$/,
  dayOfMonth: /^(\*|\?|L|LW|\d{1,2}W|\d{1,2}(-\d{1,2})?(\/\d+)?(,\d{1,2}(-\d{1,2})?)*)$/,
  month: /^(\*|((\d{1,2}|[A-Z]{3})(-(\d{1,2}|[A-Z]{3}))?)(\/\d+)?(,(\d{1,2}|[A-Z]{3})(-(\d{1,2}|[A-Z]{3}))?)*)$/,
  dayOfWeek: /^(\*|\?|\d(L|#\d)?|[A-Z]{3}(L|#\d)?|((\d|[A-Z]{3})(-(\d|[A-Z]{3}))?)(,(\d|[A-Z]{3})(-(\d|[A-Z]{3}))?)*)$/,
  year: /^(\*|\d{4}(-\d{4})?(\/\d+)?(,\d{4})*)$/,
} as const;

class FieldError extends Error {}

export function parseSchedule(expression: string): ScheduleParse {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2].replace(/s$/, "");
    if (value < 1) return { ok: false, problem: "a rate must be at least 1" };
    if ((value === 1) !== !rate[2].endsWith("s")) {
      return { ok: false, problem: `the unit must be singular for 1 and plural otherwise, e.g. rate(1 ${unit}) or rate(${Math.max(value, 2)} ${unit}s)` };
    }
    return { ok: true, schedule: { kind: "rate", expression, minutes: value * UNIT_MINUTES[unit] } };
  }
  const cron = /^cron\((.+)\)$/.exec(expression);
  if (!cron) return { ok: false, problem: "is neither rate(value unit) nor cron(minutes hours day-of-month month day-of-week year)" };
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== 6) {
    return { ok: false, problem: `a cron expression has six fields (minutes hours day-of-month month day-of-week year), this one has ${fields.length}` };
  }
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields.map((f) => f.toUpperCase());
  const names = ["minutes", "hours", "day-of-month", "month", "day-of-week", "year"];
  const patterns = [FIELD_PATTERNS.minutes, FIELD_PATTERNS.hours, FIELD_PATTERNS.dayOfMonth, FIELD_PATTERNS.month, FIELD_PATTERNS.dayOfWeek, FIELD_PATTERNS.year];
  for (const [i, field] of [minutes, hours, dayOfMonth, month, dayOfWeek, year].entries()) {
    if (!patterns[i].test(field)) return { ok: false, problem: `the ${names[i]} field "${fields[i]}" is not valid` };
  }
  if ((fields[2] === "?") === (fields[4] === "?")) return { ok: false, problem: "exactly one of day-of-month and day-of-week must be ?" };
  let current = 0;
  try {
    const minuteValues = [...values(minutes, 0, 59)].sort((a, b) => a - b);
    current = 1;
    const hourValues = [...values(hours, 0, 23)].sort((a, b) => a - b);
    current = 2;
    const domMatch = dayOfMonthMatcher(dayOfMonth);
    current = 3;
    const months = values(month, 1, 12, MONTH_NAMES);
    current = 4;
    const dowMatch = dayOfWeekMatcher(dayOfWeek);
    current = 5;
    const years = year === "*" ? undefined : values(year, MIN_YEAR, MAX_YEAR);
    const day = domMatch ?? dowMatch!;
    return { ok: true, schedule: { kind: "cron", expression, cron: { minutes: minuteValues, hours: hourValues, months, ...(years ? { years } : {}), day } } };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, problem: `the ${names[current]} field "${fields[current]}" ${err.message}` };
    throw err;
  }
}

/** `*`, values, ranges, steps (`*\/5`, `0/15`, `1-10/2`) and lists of them, as numbers or names. */
function values(field: string, min: number, max: number, names?: readonly string[]): Set<number> {
  const out = new Set<number>();
  const value = (text: string): number => {
    const n = names && /^[A-Z]{3}$/.test(text) ? names.indexOf(text) + min : Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new FieldError(`has ${text}, outside ${min}-${max}${names ? ` or ${names[0]}-${names[names.length - 1]}` : ""}`);
    return n;
  };
  for (const part of field.split(",")) {
    const [range, stepText] = part.split("/");
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new FieldError(`has the step ${stepText}, which must be at least 1`);
    let from: number;
    let to: number;
    if (range === "*") {
      [from, to] = [min, max];
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      [from, to] = [value(a), value(b)];
      if (from > to) throw new FieldError(`has the range ${range}, which runs backwards`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** 1 = Sunday, as the day-of-week field counts. */
function weekdayOf(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
}

function dayOfMonthMatcher(field: string): CronSpec["day"] | undefined {
  if (field === "?") return undefined;
  if (field === "*") return () => true;
  if (field === "L") return (y, m, d) => d === daysInMonth(y, m);
  if (field === "LW") {
    return (y, m, d) => {
      let last = daysInMonth(y, m);
      while (weekdayOf(y, m, last) === 1 || weekdayOf(y, m, last) === 7) last--;
      return d === last;
    };
  }
  const nearest = /^(\d{1,2})W$/.exec(field);
  if (nearest) {
    const target = Number(nearest[1]);
    if (target < 1 || target > 31) throw new FieldError(`has ${target}, outside 1-31`);
    return (y, m, d) => {
      const length = daysInMonth(y, m);
      if (target > length) return false;
      // The nearest weekday in the same month: Saturday goes back to Friday (or on the 1st forward to Monday), Sunday forward to Monday (or on the last day back to Friday).
      const weekday = weekdayOf(y, m, target);
      let fires = target;
      if (weekday === 7) fires = target === 1 ? 3 : target - 1;
      else if (weekday === 1) fires = target === length ? target - 2 : target + 1;
      return d === fires;
    };
  }
  const days = values(field, 1, 31);
  return (_y, _m, d) => days.has(d);
}

function dayOfWeekMatcher(field: string): CronSpec["day"] | undefined {
  if (field === "?") return undefined;
  if (field === "*") return () => true;
  const weekday = (text: string): number => {
    const n = /^[A-Z]{3}$/.test(text) ? DAY_NAMES.indexOf(text) + 1 : Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 7) throw new FieldError(`has ${text}, outside 1-7 or SUN-SAT`);
    return n;
  };
  const special = /^(\d|[A-Z]{3})(L|#(\d))$/.exec(field);
  if (special) {
    const wanted = weekday(special[1]);
    if (special[2] === "L") return (y, m, d, w) => w === wanted && d + 7 > daysInMonth(y, m);
    const nth = Number(special[3]);
    if (nth < 1 || nth > 5) throw new FieldError(`has #${nth}, outside #1-#5`);
    return (_y, _m, d, w) => w === wanted && Math.ceil(d / 7) === nth;
  }
  const days = new Set<number>();
  for (const part of field.split(",")) {
    const [a, b] = part.split("-");
    const from = weekday(a);
    const to = b === undefined ? from : weekday(b);
    if (from > to) throw new FieldError(`has the range ${part}, which runs backwards`);
    for (let v = from; v <= to; v++) days.add(v);
  }
  return (_y, _m, _d, w) => days.has(w);
}

/** Whether Intl knows the zone (IANA names such as Europe/Zurich, or UTC). */
export function isTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

function localTime(instant: number, timeZone: string): LocalTime {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" });
    formatters.set(timeZone, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(new Date(instant))) if (p.type !== "literal") parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute };
}

function asUtc(t: LocalTime): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute);
}

/** The UTC offsets (ms) the zone uses around a local date: one, or two on a DST change. */
function offsetsAround(year: number, month: number, day: number, timeZone: string): number[] {
  const noon = Date.UTC(year, month - 1, day, 12);
  return [...new Set([-36, -12, 0, 12, 36].map((h) => noon + h * 3_600_000).map((instant) => asUtc(localTime(instant, timeZone)) - instant))];
}

/**
 * The instants a local wall-clock time names in the zone: two when it occurs
 * twice (DST ends), none when it does not occur (DST starts).
 */
function instantsOf(wall: number, offsets: readonly number[], timeZone: string): number[] {
  return offsets.map((o) => wall - o).filter((instant) => asUtc(localTime(instant, timeZone)) === wall);
}

/**
 * The first instant after the spring-forward gap that swallows the local
 * wall time `wall` (the instant the clocks jump); undefined when the zone has
 * no gap there. Found by bisection on whole minutes between the instants the
 * wall time would name under the offset before and after the change.
 */
function afterGap(wall: number, offsets: readonly number[], timeZone: string): number | undefined {
  if (offsets.length < 2) return undefined;
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  const past = (instant: number) => asUtc(localTime(instant, timeZone)) > wall;
  if (past(lo) || !past(hi)) return undefined;
  // Invariant: local(lo) < wall < local(hi); both on whole minutes.
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
    if (past(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** How far ahead a cron is searched; one that does not fire within it (a year field in the past) has no next run. */
const SEARCH_DAYS = 5 * 366 + 2;

/** The first fire time strictly after `after`; undefined when the schedule never fires again. */
export function nextRun(schedule: ParsedSchedule, timeZone: string, after: Date): Date | undefined {
  const t = after.getTime();
  if (schedule.kind === "rate") {
    const period = schedule.minutes * 60_000;
    return new Date((Math.floor(t / period) + 1) * period);
  }
  const cron = schedule.cron;
  // Local dates from the day before `after` (the zone's offset may put a fire time of that local date after it).
  const start = localTime(t, timeZone);
  const cursor = new Date(Date.UTC(start.year, start.month - 1, start.day - 1));
  for (let i = 0; i < SEARCH_DAYS; i++, cursor.setUTCDate(cursor.getUTCDate() + 1)) {
    const year = cursor.getUTCFullYear();
    const month = cursor.getUTCMonth() + 1;
    const day = cursor.getUTCDate();
    if (year > MAX_YEAR) return undefined;
    if (cron.years && !cron.years.has(year)) continue;
    if (!cron.months.has(month) || !cron.day(year, month, day, cursor.getUTCDay() + 1)) continue;
    const offsets = offsetsAround(year, month, day, timeZone);
    const smallest = Math.min(...offsets);
    for (const hour of cron.hours) {
      for (const minute of cron.minutes) {
        const wall = Date.UTC(year, month - 1, day, hour, minute);
        // Cheap skip: every instant this wall time could name is at or before `after`.
        if (wall - smallest <= t) continue;
        const instants = instantsOf(wall, offsets, timeZone);
        // A time that occurs twice runs at its first occurrence only; one that does not occur runs when the gap ends (cron's rule).
        const instant = instants.length > 0 ? Math.min(...instants) : afterGap(wall, offsets, timeZone);
        if (instant !== undefined && instant > t) return new Date(instant);
      }
    }
  }
  return undefined;
}

/** Windows searched back for the latest fire time, growing so a dense schedule costs few steps and a sparse one is still found. */
const LOOKBACK_MINUTES = [60, 24 * 60, 8 * 24 * 60, 32 * 24 * 60, 367 * 24 * 60, 5 * 367 * 24 * 60];

/** The latest fire time at or before `atOrBefore`; undefined when the schedule never fired within five years. */
export function latestRun(schedule: ParsedSchedule, timeZone: string, atOrBefore: Date): Date | undefined {
  const t = atOrBefore.getTime();
  if (schedule.kind === "rate") {
    const period = schedule.minutes * 60_000;
    return new Date(Math.floor(t / period) * period);
  }
  for (const minutes of LOOKBACK_MINUTES) {
    let latest: Date | undefined;
    let candidate = nextRun(schedule, timeZone, new Date(t - minutes * 60_000 - 1));
    while (candidate !== undefined && candidate.getTime() <= t) {
      latest = candidate;
      candidate = nextRun(schedule, timeZone, candidate);
    }
    if (latest !== undefined) return latest;
  }
  return undefined;
}
