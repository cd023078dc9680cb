/** The Docker site agent's schedule evaluation (lambdas/site/schedule.ts), held against the program's check (infra/scheduleExpression.ts). */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { checkScheduleExpression } from "../../infra/scheduleExpression";
import { latestRun, nextRun, ParsedSchedule, parseSchedule } from "../../lambdas/site/schedule";

const ROOT = join(__dirname, "..", "..");

function parsed(expression: string): ParsedSchedule {
  const result = parseSchedule(expression);
  if (!result.ok) throw new Error(`${expression}: ${result.problem}`);
  return result.schedule;
}

/** The fire times after `from`, `count` of them, as ISO strings. */
function runs(expression: string, timeZone: string, from: string, count: number): string[] {
  const schedule = parsed(expression);
  const out: string[] = [];
  let t = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = nextRun(schedule, timeZone, t);
    if (next === undefined) break;
    out.push(next.toISOString());
    t = next;
  }
  return out;
}

/** Every `...Schedule` value of the stack files (beside Pulumi.yaml and under examples/), Pulumi.yaml's defaults, and the examples infra/config.ts offers. */
function expressionsInUse(): { where: string; expression: string }[] {
  const found: { where: string; expression: string }[] = [];
  const stackFiles = [
    ...readdirSync(ROOT).filter((f) => /^Pulumi\..+\.yaml$/.test(f)),
    ...readdirSync(join(ROOT, "examples")).flatMap((dir) => readdirSync(join(ROOT, "examples", dir)).filter((f) => /^Pulumi\..+\.yaml$/.test(f)).map((f) => join("examples", dir, f))),
  ];
  for (const file of stackFiles) {
    const config = (parse(readFileSync(join(ROOT, file), "utf8")) as { config?: Record<string, unknown> }).config ?? {};
    for (const [key, value] of Object.entries(config)) {
      if (/Schedule$/.test(key) && typeof value === "string") found.push({ where: `${file} ${key}`, expression: value });
    }
  }
  const project = parse(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown }> };
  for (const [key, declaration] of Object.entries(project.config)) {
    if (/Schedule$/.test(key) && typeof declaration.default === "string") found.push({ where: `Pulumi.yaml default of ${key}`, expression: declaration.default });
  }
  const configSource = readFileSync(join(ROOT, "infra", "config.ts"), "utf8");
  for (const m of configSource.matchAll(/schedule\("(\w+)", "([^"]+)"\)/g)) found.push({ where: `infra/config.ts example for ${m[1]}`, expression: m[2] });
  return found;
}

describe("agreement with the program's schedule check", () => {
  const inUse = expressionsInUse();

  test("finds the stack files' schedules, Pulumi.yaml's defaults and infra/config.ts's examples", () => {
    const wheres = inUse.map((e) => e.where).join("\n");
    expect(wheres).toMatch(/Pulumi\.primary\.yaml drstack:tierHighBackupSchedule/);
    expect(wheres).toMatch(/Pulumi\.yaml default of tierLowBackupSchedule/);
    expect(wheres).toMatch(/Pulumi\.yaml default of tierCriticalDrillSchedule/);
    expect(wheres).toMatch(/infra\/config\.ts example for backupVerifySchedule/);
    expect(inUse.length).toBeGreaterThanOrEqual(15);
  });

  test.each(expressionsInUse().map((e) => [e.where, e.expression]))("%s (%s) is accepted by both parsers", (_where, expression) => {
    expect(checkScheduleExpression(expression)).toMatchObject({ ok: true });
    expect(parseSchedule(expression)).toMatchObject({ ok: true });
  });

  const corpus = [
    "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)", "rate(7 days)",
    "rate(0 minutes)", "rate(1 minutes)", "rate(2 minute)", "rate(5 seconds)", "rate( 5 minutes)",
    "cron(0 2 * * ? *)", "cron(*/5 * * * ? *)", "cron(0/15 8-18 ? * MON-FRI *)", "cron(0 4 1 1,4,7,10 ? *)", "cron(15 3 L * ? *)",
    "cron(0 3 LW * ? *)", "cron(0 3 15W * ? *)", "cron(0 6 ? * 2#1 *)", "cron(0 6 ? * 6L *)", "cron(0 6 ? * FRI#3 *)", "cron(0 0 1 JAN-MAR ? 2027-2030)",
    "cron(0 12 ? jan mon *)", "cron(5,35 1,13 * * ? *)", "cron(0 0 1/10 * ? *)", "cron(0 0 ? * SUN,WED *)", "cron(10-40/10 * * * ? *)",
    "cron(0 2 * * * *)", "cron(0 2 ? * ? *)", "cron(0 2 * *)", "cron(60 2 * * ? *)", "cron(0 24 * * ? *)", "cron(0 2 * * ? 99)",
    "cron(0 2 */2 * ? *)", "cron(0 2 ? * 1/2 *)", "cron(0 2 ? * L *)", "cron(0 2 * */3 ? *)", "every day", "",
  ];

  test.each(corpus)("%s: the agent accepts only what the program accepts", (expression) => {
    const agent = parseSchedule(expression).ok;
    const program = checkScheduleExpression(expression).ok;
    if (agent) expect(program).toBe(true);
  });

  // Syntax the program accepts whose values no EventBridge schedule can have: the agent refuses them, naming the field.
  test.each([
    ["cron(0 2 32 * ? *)", "day-of-month"],
    ["cron(0 2 * 13 ? *)", "month"],
    ["cron(0 2 * FOO ? *)", "month"],
    ["cron(0 2 ? * 8 *)", "day-of-week"],
    ["cron(0 2 ? * XYZ *)", "day-of-week"],
    ["cron(30-10 2 * * ? *)", "minutes"],
    ["cron(0 2 * * ? 1900)", "year"],
    ["cron(0 2 ? * 2#6 *)", "day-of-week"],
  ])("%s passes the program's syntax check but never fires: the agent refuses its %s field", (expression, field) => {
    expect(checkScheduleExpression(expression).ok).toBe(true);
    const result = parseSchedule(expression);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(`the ${field} field`);
  });

  test.each(corpus)("%s: anything else the program accepts, the agent accepts", (expression) => {
    if (checkScheduleExpression(expression).ok) expect(parseSchedule(expression)).toMatchObject({ ok: true });
  });
});

describe("fire times", () => {
  test("a rate counts from the Unix epoch, so every restart of the agent computes the same slots", () => {
    expect(runs("rate(15 minutes)", "Europe/Zurich", "2026-12-04T01:07:31Z", 3)).toEqual(["2026-12-04T01:15:00.000Z", "2026-12-04T01:30:00.000Z", "2026-12-04T01:45:00.000Z"]);
    expect(latestRun(parsed("rate(1 hour)"), "UTC", new Date("2026-12-04T01:07:31Z"))?.toISOString()).toBe("2026-12-04T01:00:00.000Z");
    // A day is 24 hours, whatever DST does (EventBridge Scheduler's rate semantics).
    expect(runs("rate(1 day)", "Europe/Zurich", "2026-03-28T00:00:00Z", 2)).toEqual(["2026-03-29T00:00:00.000Z", "2026-03-30T00:00:00.000Z"]);
  });

  test("02:00 daily in Europe/Zurich: at the end of the gap on the last Sunday of March (cron's rule), once on the last Sunday of October", () => {
    expect(runs("cron(0 2 * * ? *)", "Europe/Zurich", "2026-03-27T12:00:00Z", 4)).toEqual([
      "2026-03-28T01:00:00.000Z", // 02:00 CET
      // 2026-03-29: 02:00 does not exist (the clocks go from 02:00 CET to 03:00 CEST at 01:00Z): it runs at 03:00 CEST
      "2026-03-29T01:00:00.000Z",
      "2026-03-30T00:00:00.000Z", // 02:00 CEST
      "2026-03-31T00:00:00.000Z",
    ]);
    // 02:30 inside the gap runs at its end too; asked right after that run, the next is the next day's.
    expect(runs("cron(30 2 * * ? *)", "Europe/Zurich", "2026-03-29T00:00:00Z", 2)).toEqual(["2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
    expect(nextRun(parsed("cron(0 2 * * ? *)"), "Europe/Zurich", new Date("2026-03-29T01:00:00Z"))?.toISOString()).toBe("2026-03-30T00:00:00.000Z");
    // New York springs forward at 02:00 EST (07:00Z) on 8 March 2026.
    expect(runs("cron(15 2 * * ? *)", "America/New_York", "2026-03-07T12:00:00Z", 2)).toEqual(["2026-03-08T07:00:00.000Z", "2026-03-09T06:15:00.000Z"]);
    expect(runs("cron(0 2 * * ? *)", "Europe/Zurich", "2026-10-23T12:00:00Z", 3)).toEqual([
      "2026-10-24T00:00:00.000Z", // 02:00 CEST
      "2026-10-25T00:00:00.000Z", // 02:00 CEST, the first of the two 02:00s; not again at 01:00Z (02:00 CET)
      "2026-10-26T01:00:00.000Z", // 02:00 CET
    ]);
    // Asked between the two 02:00s of 25 October: that day's run is behind, the next is on the 26th.
    expect(nextRun(parsed("cron(0 2 * * ? *)"), "Europe/Zurich", new Date("2026-10-25T00:30:00Z"))?.toISOString()).toBe("2026-10-26T01:00:00.000Z");
    expect(latestRun(parsed("cron(0 2 * * ? *)"), "Europe/Zurich", new Date("2026-03-29T12:00:00Z"))?.toISOString()).toBe("2026-03-29T01:00:00.000Z");
    expect(latestRun(parsed("cron(0 2 * * ? *)"), "Europe/Zurich", new Date("2026-03-29T00:59:00Z"))?.toISOString()).toBe("2026-03-28T01:00:00.000Z");
  });

  test("an hourly cron through the spring gap keeps every hour that exists, and runs the missing 02:30 when the gap ends", () => {
    expect(runs("cron(30 * * * ? *)", "Europe/Zurich", "2026-03-29T00:00:00Z", 4)).toEqual([
      "2026-03-29T00:30:00.000Z", // 01:30 CET
      "2026-03-29T01:00:00.000Z", // 02:30 does not exist: 03:00 CEST
      "2026-03-29T01:30:00.000Z", // 03:30 CEST
      "2026-03-29T02:30:00.000Z",
    ]);
    // Every minute inside the gap is one run at its end, not sixty.
    expect(runs("cron(* 2 * * ? *)", "Europe/Zurich", "2026-03-29T00:58:30Z", 2)).toEqual(["2026-03-29T01:00:00.000Z", "2026-03-30T00:00:00.000Z"]);
  });

  test("day-of-week counts 1 = SUN, with ranges, names, # and L", () => {
    // 2026-12-04 is a Friday.
    expect(runs("cron(0 8 ? * MON-FRI *)", "UTC", "2026-12-04T09:00:00Z", 2)).toEqual(["2026-12-07T08:00:00.000Z", "2026-12-08T08:00:00.000Z"]);
    expect(runs("cron(0 8 ? * 1 *)", "UTC", "2026-12-04T09:00:00Z", 1)).toEqual(["2026-12-06T08:00:00.000Z"]);
    // 2026-12-01 is a Tuesday: the first Monday is the 7th.
    expect(runs("cron(0 8 ? * 2#1 *)", "UTC", "2026-12-04T09:00:00Z", 2)).toEqual(["2026-12-07T08:00:00.000Z", "2027-01-04T08:00:00.000Z"]);
    expect(runs("cron(0 8 ? * 6L *)", "UTC", "2026-12-04T09:00:00Z", 2)).toEqual(["2026-12-25T08:00:00.000Z", "2027-01-29T08:00:00.000Z"]);
  });

  test("day-of-month L, LW and W stay inside the month", () => {
    expect(runs("cron(0 3 L * ? *)", "UTC", "2027-01-31T12:00:00Z", 2)).toEqual(["2027-02-28T03:00:00.000Z", "2027-03-31T03:00:00.000Z"]);
    // 2027-01-31 is a Sunday: the last weekday is Friday the 29th.
    expect(runs("cron(0 3 LW * ? *)", "UTC", "2027-01-01T00:00:00Z", 1)).toEqual(["2027-01-29T03:00:00.000Z"]);
    // 2027-05-01 is a Saturday: 1W is Monday the 3rd, not April 30th.
    expect(runs("cron(0 3 1W * ? *)", "UTC", "2027-04-15T00:00:00Z", 1)).toEqual(["2027-05-03T03:00:00.000Z"]);
    // 2027-08-15 is a Sunday: 15W is Monday the 16th.
    expect(runs("cron(0 3 15W 8 ? *)", "UTC", "2027-01-01T00:00:00Z", 1)).toEqual(["2027-08-16T03:00:00.000Z"]);
  });

  test("steps, lists and months", () => {
    expect(runs("cron(0/20 9 * * ? *)", "UTC", "2026-12-04T08:00:00Z", 4)).toEqual(["2026-12-04T09:00:00.000Z", "2026-12-04T09:20:00.000Z", "2026-12-04T09:40:00.000Z", "2026-12-05T09:00:00.000Z"]);
    expect(runs("cron(0 4 1 1,4,7,10 ? *)", "Europe/Zurich", "2026-12-04T00:00:00Z", 2)).toEqual(["2027-01-01T03:00:00.000Z", "2027-04-01T02:00:00.000Z"]);
  });

  test("a cron limited to years that are over never fires again", () => {
    expect(nextRun(parsed("cron(0 0 1 1 ? 2020)"), "UTC", new Date("2026-12-04T00:00:00Z"))).toBeUndefined();
    expect(latestRun(parsed("cron(0 0 1 1 ? 2030)"), "UTC", new Date("2026-12-04T00:00:00Z"))).toBeUndefined();
  });

  test("the latest fire time at or before an instant includes the instant itself", () => {
    expect(latestRun(parsed("cron(0 2 * * ? *)"), "UTC", new Date("2026-12-04T02:00:00Z"))?.toISOString()).toBe("2026-12-04T02:00:00.000Z");
    expect(latestRun(parsed("cron(0 4 1 * ? *)"), "UTC", new Date("2026-12-04T02:00:00Z"))?.toISOString()).toBe("2026-12-01T04:00:00.000Z");
    expect(latestRun(parsed("cron(* * * * ? *)"), "UTC", new Date("2026-12-04T02:00:30Z"))?.toISOString()).toBe("2026-12-04T02:00:00.000Z");
  });
});
