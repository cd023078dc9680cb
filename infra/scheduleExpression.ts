/**
 * EventBridge Scheduler expressions, checked before anything is deployed so a
 * typo fails at preview instead of as an API error halfway through an `up`.
 * Recurring schedules only: `rate(value unit)` or six-field `cron(...)`.
 */

export type ScheduleCheck = { ok: true; intervalMinutes?: number } | { ok: false; problem: string };

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON = /^cron\((.+)\)$/;
const UNIT_MINUTES: Record<string, number> = { minute: 1, hour: 60, day: 24 * 60 };

/** One cron field: `*`, `?`, values, ranges, lists and steps; names such as MON or JAN are accepted where they belong. */
const CRON_FIELD_PATTERNS = [
  { name: "minutes", pattern: /^(\*|[0-5]?\d(-[0-5]?\d)?)(\/\d+)?(,[0-5]?\d(-[0-5]?\d)?(\/\d+)?)*$/ },
  { name: "hours", pattern: /^(\*|(1?\d|2[0-3])(-(1?\d|2[0-3]))?)(\/\d+)?(,(1?\d|2[0-3])(-(1?\d|2[0-3]))?(\/\d+)?)*$/ },
  { name: "day-of-month", pattern: /^(\*|\?|L|LW|\d{1,2}W|\d{1,2}(-\d{1,2})?(\/\d+)?(,\d{1,2}(-\d{1,2})?)*)$/ },
  { name: "month", pattern: /^(\*|((\d{1,2}|[A-Z]{3})(-(\d{1,2}|[A-Z]{3}))?)(\/\d+)?(,(\d{1,2}|[A-Z]{3})(-(\d{1,2}|[A-Z]{3}))?)*)$/ },
  { name: "day-of-week", pattern: /^(\*|\?|\d(L|#\d)?|[A-Z]{3}(L|#\d)?|((\d|[A-Z]{3})(-(\d|[A-Z]{3}))?)(,(\d|[A-Z]{3})(-(\d|[A-Z]{3}))?)*)$/ },
  { name: "year", pattern: /^(\*|\d{4}(-\d{4})?(\/\d+)?(,\d{4})*)$/ },
] as const;

export function checkScheduleExpression(expression: string): ScheduleCheck {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2].replace(/s$/, "");
    if (value < 1) {
      return { ok: false, problem: "a rate must be at least 1" };
    }
    if ((value === 1) !== !rate[2].endsWith("s")) {
      return { ok: false, problem: `the unit must be singular for 1 and plural otherwise, e.g. rate(1 ${unit}) or rate(${Math.max(value, 2)} ${unit}s)` };
    }
    return { ok: true, intervalMinutes: value * UNIT_MINUTES[unit] };
  }
  const cron = CRON.exec(expression);
  if (cron) {
    const fields = cron[1].trim().split(/\s+/);
    if (fields.length !== 6) {
      return { ok: false, problem: `a cron expression has six fields (minutes hours day-of-month month day-of-week year), this one has ${fields.length}` };
    }
    for (const [index, field] of fields.entries()) {
      const spec = CRON_FIELD_PATTERNS[index];
      if (!spec.pattern.test(field.toUpperCase())) {
        return { ok: false, problem: `the ${spec.name} field "${field}" is not valid` };
      }
    }
    if ((fields[2] === "?") === (fields[4] === "?")) {
      return { ok: false, problem: "exactly one of day-of-month and day-of-week must be ?" };
    }
    const gap = dailyCronGapMinutes(fields);
    return gap === undefined ? { ok: true } : { ok: true, intervalMinutes: gap };
  }
  return { ok: false, problem: "is neither rate(value unit) nor cron(minutes hours day-of-month month day-of-week year)" };
}

/** The values a minutes or hours field selects: `*`, numbers, ranges, steps and lists of them. */
function expandField(field: string, max: number): number[] | undefined {
  const values = new Set<number>();
  for (const part of field.split(",")) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) {
      return undefined;
    }
    const from = match[1] === "*" ? 0 : Number(match[2]);
    const to = match[1] === "*" ? max : match[3] !== undefined ? Number(match[3]) : match[4] !== undefined ? max : from;
    const step = match[4] !== undefined ? Number(match[4]) : 1;
    if (step < 1 || from > to || to > max) {
      return undefined;
    }
    for (let value = from; value <= to; value += step) {
      values.add(value);
    }
  }
  return [...values].sort((a, b) => a - b);
}

/**
 * The longest wait between two runs of a cron that fires every day (day, month
 * and year fields all `*` or `?`), so it can be held against an RPO like a
 * rate. Other crons (weekdays only, some months) return undefined.
 */
function dailyCronGapMinutes(fields: string[]): number | undefined {
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields;
  if (![dayOfMonth, month, dayOfWeek, year].every((field) => field === "*" || field === "?")) {
    return undefined;
  }
  const minuteValues = expandField(minutes, 59);
  const hourValues = expandField(hours, 23);
  if (!minuteValues?.length || !hourValues?.length) {
    return undefined;
  }
  const times = hourValues.flatMap((hour) => minuteValues.map((minute) => hour * 60 + minute));
  // The gap that wraps past midnight counts too.
  return Math.max(...times.map((time, index) => (index + 1 < times.length ? times[index + 1] : times[0] + 24 * 60) - time));
}

const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_MINUTES = 24 * 60;
/** The longest month: a cron on some day of the month can wait this long for its next run. */
const MONTH_MINUTES = 31 * DAY_MINUTES;

/**
 * An upper bound on the wait between two runs of a recurring schedule, for
 * schedules that need not run daily (restore drills): a rate's interval, a
 * daily cron's longest gap, a week for a cron on days of the week, and for a
 * cron on days of the month 31 days times the longest run of months it skips
 * (quarterly: 3 months). Undefined when nothing bounds it: a cron limited to
 * some years ends.
 */
export function longestScheduleGapMinutes(expression: string): number | undefined {
  const check = checkScheduleExpression(expression);
  if (!check.ok) return undefined;
  if (check.intervalMinutes !== undefined) return check.intervalMinutes;
  const fields = /^cron\((.+)\)$/.exec(expression)?.[1].trim().split(/\s+/);
  if (fields === undefined) return undefined;
  const [, , dayOfMonth, month, dayOfWeek, year] = fields.map((field) => field.toUpperCase());
  if (year !== "*") return undefined;
  const months = expandMonths(month);
  if (months === undefined || months.length === 0) return undefined;
  const monthGap = Math.max(...months.map((m, index) => (index + 1 < months.length ? months[index + 1] : months[0] + 12) - m));
  if (dayOfMonth === "?") {
    // MON#1 or 5L fire once a month, up to five weeks apart; plain weekdays at least weekly.
    const monthly = /[#L]/.test(dayOfWeek);
    return month === "*" && !monthly ? 7 * DAY_MINUTES : monthGap * MONTH_MINUTES + (monthly ? 4 * DAY_MINUTES : 7 * DAY_MINUTES);
  }
  // Days 29-31 skip the months that lack them; W and L move the day by up to a few days.
  const days = dayOfMonth.split(/[,-]/).map((part) => Number(/^\d+/.exec(part)?.[0] ?? "0"));
  const skips = days.every((day) => day > 28);
  return (monthGap + (skips ? 1 : 0)) * MONTH_MINUTES + (/[LW]/.test(dayOfMonth) ? 3 * DAY_MINUTES : 0);
}

/** The months (1-12) a month field selects: `*`, numbers or names, ranges, steps and lists. */
function expandMonths(field: string): number[] | undefined {
  const numeric = field.replace(/[A-Z]{3}/g, (name) => String(MONTH_NAMES.indexOf(name) + 1));
  if (/(^|[^0-9])0([^0-9]|$)/.test(numeric)) return undefined;
  const values = expandField(numeric.replace(/^\*/, "1-12"), 12);
  return values?.filter((value) => value >= 1);
}
