import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { renderedRehearsalReadme } from "../../docs/rehearsal";
import { README_PATH } from "../../docs/readmeBlocks";
import { EXIT, parseArguments, UsageError } from "../../offline/cli";

/** bin/drstack as a real subprocess, the way README, CI and reviewers run it. */

const ROOT = path.resolve(__dirname, "..", "..");
const FIXTURES = path.join(ROOT, "tests", "fixtures");

function drstack(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [path.join(ROOT, "bin", "drstack"), ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

jest.setTimeout(60_000);

describe("drstack (subprocess)", () => {
  test("plan --json evaluates the stack and carries concerns, posture and raw resources", () => {
    const result = drstack("plan", "--stack", "secondary", "--json");
    expect(result.status).toBe(EXIT.ok);
    const plan = JSON.parse(result.stdout) as { stack: string; role: string; concerns: Record<string, unknown[]>; posture: { site: string }; resources: unknown[] };
    expect(plan).toMatchObject({ stack: "secondary", role: "standby", posture: { site: "secondary" } });
    expect(plan.concerns.storage.length).toBeGreaterThan(0);
    expect(plan.resources.length).toBeGreaterThan(plan.concerns.storage.length);
  });

  test("an unknown flag is a usage error (exit 2) that names the flag", () => {
    const result = drstack("plan", "--stack", "primary", "--stakc", "x");
    expect(result.status).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/unknown flag "--stakc"/);
    expect(result.stdout).toBe("");
  });

  test("bad config exits 1 with the validation message, and prints no plan", () => {
    const result = drstack("plan", "--stack", "primary", "--set", "objectLockMode=STRICT");
    expect(result.status).toBe(EXIT.failed);
    expect(result.stderr).toMatch(/configuration of stack "primary" is invalid[\s\S]*objectLockMode = "STRICT": must be one of/);
    expect(result.stdout).toBe("");
  });

  test("objectives that cannot be met with enforcement error fail the plan like a preview", () => {
    const result = drstack("plan", "--stack", "primary", "--stack-dir", "examples/cheap", "--set", "objectivesEnforcement=error");
    expect(result.status).toBe(EXIT.failed);
    expect(result.stderr).toMatch(/recovery objectives of stack "primary" cannot be met[\s\S]*tier critical/);
  });

  test("plan --stack-dir evaluates the stack files of another directory: the cheaper example says what it misses", () => {
    const result = drstack("plan", "--stack", "secondary", "--stack-dir", "examples/cheap");
    expect(result.stderr).toBe("");
    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toMatch(/DR posture \(objectivesEnforcement: warn\): NOT every tier met/);
    expect(result.stdout).toMatch(/secondary-failover-dns-record +cloudflare:index\/dnsRecord:DnsRecord/);
    expect(result.stdout).toMatch(/critical +35 min +45 min .*NOT MET/);
    const main = drstack("plan", "--stack", "secondary");
    expect(main.stdout).toMatch(/DR posture \(objectivesEnforcement: error\): every used tier met/);
  });

  test("--stack-dir naming no directory, or beside --base, is bad usage (exit 2)", () => {
    const missing = drstack("plan", "--stack", "primary", "--stack-dir", "examples/no-such-dir");
    expect(missing.status).toBe(EXIT.usage);
    expect(missing.stderr).toMatch(/--stack-dir examples\/no-such-dir: no such directory/);
    const base = drstack("diff", "--stack", "primary", "--stack-dir", "examples/cheap", "--base", "HEAD");
    expect(base.status).toBe(EXIT.usage);
    expect(base.stderr).toMatch(/--base evaluates the stack files of each revision beside its Pulumi.yaml; drop --stack-dir/);
  });

  test("diff --from-preview exits 3 on blocking findings unless --fail-on never", () => {
    const blocked = drstack("diff", "--from-preview", path.join(FIXTURES, "preview-replace.json"));
    expect(blocked.status).toBe(EXIT.findings);
    expect(blocked.stdout).toMatch(/\*\*BLOCKING\*\* \| S3 bucket `secondary-backups-bucket` would be REPLACED/);
    expect(drstack("diff", "--from-preview", path.join(FIXTURES, "preview-replace.json"), "--fail-on", "never").status).toBe(EXIT.ok);
    expect(drstack("diff", "--from-preview", path.join(FIXTURES, "preview-update.json")).status).toBe(EXIT.ok);
    expect(drstack("diff", "--from-preview", path.join(FIXTURES, "preview-update.json"), "--fail-on", "warning").status).toBe(EXIT.findings);
  });

  test("diff --base HEAD evaluates the committed program in a temporary worktree and leaves none behind", () => {
    const before = spawnSync("git", ["worktree", "list"], { cwd: ROOT, encoding: "utf8" }).stdout;
    const result = drstack("diff", "--stack", "primary", "--base", "HEAD", "--fail-on", "never");
    expect(result.stderr).toBe("");
    expect(result.status).toBe(EXIT.ok);
    expect(result.stdout).toMatch(/^### primary: HEAD -> this change\n/);
    expect(result.stdout).toMatch(/\*\*Objectives\*\*/);
    expect(spawnSync("git", ["worktree", "list"], { cwd: ROOT, encoding: "utf8" }).stdout).toBe(before);
  });

  test("--set without = is bad usage (exit 2), and stack files that disagree on a shared key are refused with both values", () => {
    const noEquals = drstack("plan", "--stack", "primary", "--set", "namePrefix");
    expect(noEquals.status).toBe(EXIT.usage);
    expect(noEquals.stderr).toMatch(/--set namePrefix: expected key=value/);
    const disagree = drstack("plan", "--stack", "secondary", "--set", "namePrefix=other");
    expect(disagree.status).toBe(EXIT.failed);
    expect(disagree.stderr).toMatch(/namePrefix: secondary "other", primary "acme-shop-dr"\. Fix: set it to the same value in Pulumi\.primary\.yaml and Pulumi\.secondary\.yaml/);
  });

  test("diff --base with a revision that does not exist fails clearly", () => {
    const result = drstack("diff", "--stack", "primary", "--base", "no-such-revision-xyz");
    expect(result.status).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/--base no-such-revision-xyz: not a commit of this repository \(git knows no commit by that name here\)\. Name a branch, tag or commit that exists/);
  });
});

describe("argument parsing", () => {
  test("repeated --set, inline values and flags", () => {
    expect(parseArguments("diff", ["--stack=primary", "--set", "a=1", "--set=b=2", "--rehearse-failover", "--fail-on", "warning"])).toMatchObject({
      stack: "primary",
      set: ["a=1", "b=2"],
      rehearseFailover: true,
      failOn: "warning",
    });
  });

  test.each([
    [["--stack"], /--stack needs a value/],
    [["--stack", "--json"], /--stack needs a value/],
    [["--rehearse-failover"], /unknown flag "--rehearse-failover"/],
    [["primary"], /unknown argument "primary"/],
  ])("plan %j is a usage error", (args, message) => {
    expect(() => parseArguments("plan", args)).toThrow(UsageError);
    expect(() => parseArguments("plan", args)).toThrow(message);
  });

  test("--stack-dir takes a value, for plan and diff", () => {
    expect(parseArguments("plan", ["--stack", "primary", "--stack-dir", "examples/cheap"])).toMatchObject({ stack: "primary", stackDir: "examples/cheap" });
    expect(parseArguments("diff", ["--stack-dir=examples/cheap", "--rehearse-failover"])).toMatchObject({ stackDir: "examples/cheap", rehearseFailover: true });
    expect(() => parseArguments("plan", ["--stack-dir"])).toThrow(/--stack-dir needs a value/);
  });

  test("--fail-on takes only the known policies", () => {
    expect(() => parseArguments("diff", ["--fail-on", "sometimes"])).toThrow(/--fail-on must be blocking, warning or never/);
  });
});

describe("README", () => {
  test("its failover rehearsal is what the tool prints today (run `npm run docs:rehearsal`)", async () => {
    const readme = fs.readFileSync(README_PATH, "utf8");
    expect(readme).toBe(await renderedRehearsalReadme(readme));
    expect(readme).toMatch(/### secondary: failover rehearsal \(activeSite=secondary\)/);
  });

  test("its first set-up command runs the offline plan", () => {
    const readme = fs.readFileSync(README_PATH, "utf8");
    const firstCommand = /## Set up\s+```sh\n([^\n]+)/.exec(readme)![1];
    expect(firstCommand).toMatch(/^npm ci && npm run plan -- --stack primary\b/);
  });
});
