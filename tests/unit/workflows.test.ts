import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import {
  judgeActiveSite,
  judgeBackend,
  judgeSecretsProvider,
  PULUMI_ACCESS_TOKENS,
  PULUMI_STATE_ENV,
  stackSetting,
} from "../../scripts/workflowChecks";
import { fakeBin, REPOSITORY_ROOT, runStepScript, scratchDir } from "./fakeCommands";
import {
  cancelsInProgress,
  environmentOf,
  groupOf,
  Job,
  jobText,
  needsOf,
  pulumiSteps,
  runsPulumi,
  Step,
  WORKFLOW_FILES,
  workflow,
} from "./workflowFiles";

/**
 * The GitHub workflows as data: what runs where, with which role, waiting for
 * what. actionlint (scripts/lint-workflows.sh) checks the syntax; these check
 * the rules a failover and a pull request depend on, and run the shell of the
 * steps that guard them against stand-in commands.
 */

const DEPLOY_SECRETS = ["secrets.AWS_ROLE_ARN", "secrets.PULUMI_ACCESS_TOKEN", "secrets.AWS_FAILOVER_ROLE_ARN"];
const STATE_KEYS = [...Object.keys(PULUMI_STATE_ENV), "PULUMI_ACCESS_TOKEN"];

function stepNamed(job: Job, prefix: string): Step {
  const step = job.steps.find((candidate) => candidate.name?.startsWith(prefix));
  if (step === undefined) throw new Error(`no step named "${prefix}..." in ${jobText(job).slice(0, 80)}`);
  return step;
}

function independenceIndex(job: Job): number {
  return job.steps.findIndex((step) => /workflowChecks\.ts independence/.test(step.run ?? ""));
}

describe("one state backend and secrets provider for every job that runs pulumi, so a failover reads the state the deploys wrote", () => {
  const steps = pulumiSteps();

  test("the jobs that run pulumi are the two deploys, the failover and the engine preview (no step escapes these checks)", () => {
    expect([...new Set(steps.map(({ file, jobName }) => `${file}:${jobName}`))]).toEqual([
      "deploy.yml:primary",
      "deploy.yml:secondary",
      "failover.yml:failover",
      "pr.yml:engine-preview",
    ]);
  });

  test.each(steps.map(({ file, jobName, step }) => [file, jobName, step.name ?? step.run ?? "", step] as const))(
    "%s %s, step %s: the state settings of scripts/workflowChecks.ts (PULUMI_STATE_ENV) and the Pulumi token of its kind",
    (file, _job, _name, step) => {
      const token = file === "pr.yml" ? PULUMI_ACCESS_TOKENS.preview : PULUMI_ACCESS_TOKENS.deploy;
      expect(step.env).toMatchObject({ ...PULUMI_STATE_ENV, PULUMI_ACCESS_TOKEN: token });
    },
  );

  test("the failover uses exactly what the deploys use: one definition, not a copy that can drift", () => {
    const settings = (file: string) =>
      steps.filter((entry) => entry.file === file).map(({ step }) => Object.fromEntries(Object.keys(PULUMI_STATE_ENV).map((key) => [key, step.env?.[key]])));
    for (const deploySettings of settings("deploy.yml")) {
      for (const failoverSettings of settings("failover.yml")) {
        expect(deploySettings).toEqual(failoverSettings);
      }
    }
  });

  test("no workflow or job sets a state setting a step could inherit instead, and every step that sets one sets the same value", () => {
    const allowed: Record<string, string[]> = {
      ...Object.fromEntries(Object.entries(PULUMI_STATE_ENV).map(([key, value]) => [key, [value]])),
      PULUMI_ACCESS_TOKEN: Object.values(PULUMI_ACCESS_TOKENS),
    };
    for (const file of WORKFLOW_FILES) {
      const definition = workflow(file);
      expect({ file, keys: Object.keys(definition.env ?? {}).filter((key) => STATE_KEYS.includes(key)) }).toEqual({ file, keys: [] });
      for (const [jobName, job] of Object.entries(definition.jobs)) {
        expect({ file, jobName, keys: Object.keys(job.env ?? {}).filter((key) => STATE_KEYS.includes(key)) }).toEqual({ file, jobName, keys: [] });
        for (const step of job.steps) {
          for (const key of STATE_KEYS.filter((candidate) => step.env?.[candidate] !== undefined)) {
            expect({ file, jobName, key, value: step.env?.[key], allowed: allowed[key].includes(step.env?.[key] ?? "") }).toMatchObject({ allowed: true });
          }
        }
      }
    }
  });

  test.each([...new Set(steps.map(({ file, jobName }) => `${file}:${jobName}`))])(
    "%s first checks, with the same backend URL, that neither the state nor the secondary's secrets live in the primary region",
    (key) => {
      const [file, jobName] = key.split(":");
      const job = workflow(file).jobs[jobName];
      const check = independenceIndex(job);
      expect(check).toBeGreaterThanOrEqual(0);
      expect(check).toBeLessThan(job.steps.findIndex(runsPulumi));
      expect(job.steps[check].env?.PULUMI_BACKEND_URL).toBe(PULUMI_STATE_ENV.PULUMI_BACKEND_URL);
    },
  );
});

describe("the shell of every step that runs pulumi stops at the first error", () => {
  // GitHub runs a `run:` without `shell:` as `bash -e {0}`: no pipefail, no nounset
  // (docs.github.com, workflow syntax, jobs.<job_id>.steps[*].shell), so each script sets them itself.
  test.each(pulumiSteps().map(({ file, jobName, step }) => [file, jobName, step.name ?? "", step] as const))(
    "%s %s, step %s: set -euo pipefail first, no `|| true`, no silenced stderr, no ${{ }} in the script",
    (_file, _job, _name, step) => {
      const script = step.run ?? "";
      expect(script.startsWith("set -euo pipefail\n")).toBe(true);
      expect(script).not.toMatch(/\|\|\s*true|\|\|\s*:|2>\s*\/dev\/null/);
      expect(script).not.toContain("${{");
      expect(step["continue-on-error"]).toBeUndefined();
    },
  );
});

describe("deploy.yml's active-site guard fails closed", () => {
  const deploy = workflow("deploy.yml");

  test.each(["primary", "secondary"])("the %s job runs the guard before its up, and nothing skips the guard or runs the up after it failed", (stack) => {
    const job = deploy.jobs[stack];
    const guard = job.steps.findIndex((step) => (step.run ?? "").includes(`active-site-guard ${stack}`));
    const up = job.steps.findIndex((step) => /pulumi up/.test(step.run ?? ""));
    expect(guard).toBeGreaterThanOrEqual(0);
    expect(guard).toBeLessThan(up);
    expect(environmentOf(job)).toBe(stack);
    // A step without `if:` runs only when every step before it succeeded.
    expect(job.steps.slice(guard).map((step) => step.if)).toEqual(job.steps.slice(guard).map(() => undefined));
    expect(job["continue-on-error"]).toBeUndefined();
  });

  interface GuardCase {
    stack: "primary" | "secondary";
    what: string;
    pulumi: string;
    allowFailback: boolean;
    passes: boolean;
    says: RegExp;
  }
  const unreadable = 'echo "error: failed to load checkpoint: blob (key \\".pulumi/stacks/drstack/$5.json\\") AccessDenied" >&2; exit 255';
  const cases: GuardCase[] = [
    { stack: "primary", what: "the state cannot be read", pulumi: unreadable, allowFailback: false, passes: false, says: /::error::cannot read the deployed activeSite of stack primary/ },
    { stack: "primary", what: "the state cannot be read, even with allow_failback", pulumi: unreadable, allowFailback: true, passes: false, says: /cannot read the deployed activeSite/ },
    { stack: "primary", what: "pulumi prints nothing", pulumi: "exit 0", allowFailback: false, passes: false, says: /cannot tell which site stack primary is deployed with/ },
    { stack: "primary", what: "pulumi prints something else", pulumi: 'echo "[secret]"', allowFailback: false, passes: false, says: /cannot tell which site/ },
    { stack: "primary", what: "the stack was failed over", pulumi: "echo secondary", allowFailback: false, passes: false, says: /would fail back/ },
    { stack: "primary", what: "the stack was failed over and allow_failback is set", pulumi: "echo secondary", allowFailback: true, passes: true, says: /activeSite secondary -> primary/ },
    { stack: "primary", what: "the stack is deployed as the file says", pulumi: "echo primary", allowFailback: false, passes: true, says: /activeSite primary -> primary/ },
    { stack: "secondary", what: "the state cannot be read", pulumi: unreadable, allowFailback: false, passes: false, says: /cannot read the deployed activeSite of stack secondary/ },
    { stack: "secondary", what: "the stack was failed over", pulumi: "echo secondary", allowFailback: false, passes: false, says: /would fail back/ },
  ];

  test.each(cases.map((guardCase) => [guardCase.stack, guardCase.what, guardCase.passes ? "continues" : "stops", guardCase] as const))(
    "the %s job's guard step, run for real, when %s: %s",
    (stack, _what, _verdict, { pulumi, allowFailback, passes, says }) => {
      const calls = path.join(scratchDir(), "pulumi-calls");
      const bin = fakeBin({ pulumi: `echo "$*" >> "$PULUMI_CALLS"\n${pulumi}` });
      const guard = stepNamed(deploy.jobs[stack], "Never undo a failover");
      const result = runStepScript(guard.run ?? "", { bin, env: { PULUMI_CALLS: calls, ALLOW_FAILBACK: String(allowFailback) } });
      expect({ status: result.status === 0, says: says.test(result.output) }).toEqual({ status: passes, says: true });
      expect(fs.readFileSync(calls, "utf8").trim()).toBe(`stack output activeSite --stack ${stack}`);
    },
  );
});

describe("failover.yml runs the secondary stack alone", () => {
  const failover = workflow("failover.yml");
  const deploy = workflow("deploy.yml");
  const jobs = Object.entries(failover.jobs);
  const [, job] = jobs[0];

  test("is started by hand only, as one job that waits for nothing", () => {
    expect(Object.keys(failover.on)).toEqual(["workflow_dispatch"]);
    expect(jobs).toHaveLength(1);
    expect(job.needs).toBeUndefined();
  });

  test("runs behind its own environment (the place for required reviewers), not a deploy environment", () => {
    expect(environmentOf(job)).toBe("failover");
  });

  test("assumes its own role through OIDC in the secondary region, read from the stack files", () => {
    expect({ ...failover.permissions, ...job.permissions }).toEqual({ contents: "read", "id-token": "write" });
    const credentials = job.steps.filter((step) => step.uses?.startsWith("aws-actions/configure-aws-credentials"));
    expect(credentials).toHaveLength(1);
    expect(credentials[0].with).toEqual({ "role-to-assume": "${{ secrets.AWS_FAILOVER_ROLE_ARN }}", "aws-region": "${{ steps.regions.outputs.secondary }}" });
    const regions = job.steps.find((step) => step.name?.startsWith("Regions"))!;
    expect(regions.run).toContain("scripts/workflowChecks.ts regions");
    expect(stackSetting("secondary", "secondaryRegion")).toBe("us-east-1");
  });

  test("sets activeSite secondary on the secondary stack and runs up there, after checking the backend and secrets provider", () => {
    const runs = job.steps.map((step) => step.run ?? "").join("\n");
    expect(runs).toMatch(/pulumi config set activeSite secondary --stack secondary\n\s*pulumi up --yes --diff --stack secondary/);
    const index = (pattern: RegExp) => job.steps.findIndex((step) => pattern.test(step.run ?? ""));
    expect(index(/workflowChecks\.ts independence/)).toBeGreaterThanOrEqual(0);
    expect(index(/workflowChecks\.ts independence/)).toBeLessThan(index(/pulumi up/));
  });

  test("never touches the primary's stack or region, and builds no image", () => {
    const everything = jobText(job);
    expect(everything).not.toMatch(/--stack\s+primary|-s\s+primary|stack-name:\s*primary|outputs\.primary|StackReference|stack output/);
    expect(everything).not.toMatch(/docker|buildx|publish-backup-image|setup-buildx/i);
    expect(everything).not.toMatch(/secrets\.AWS_ROLE_ARN|secrets\.AWS_PREVIEW_ROLE_ARN/);
  });

  // GitHub: "at most one running and one pending job in a concurrency group at any time ... Any existing
  // pending job or workflow in the same concurrency group ... will be canceled" (docs.github.com,
  // "Control the concurrency of workflows and jobs"); groups span every workflow of the repository.
  test("runs in a concurrency group of its own, which no other workflow or job joins, so it neither queues behind nor cancels a deploy", () => {
    const own = groupOf(failover.concurrency);
    expect(own).toBe("failover");
    expect(cancelsInProgress(failover.concurrency)).toBe(false);
    const others = WORKFLOW_FILES.filter((file) => file !== "failover.yml").flatMap((file) => {
      const definition = workflow(file);
      return [groupOf(definition.concurrency), ...Object.values(definition.jobs).map((other) => groupOf(other.concurrency))];
    });
    expect(others.map((group) => group?.toLowerCase())).not.toContain(own);
    expect(groupOf(job.concurrency)).not.toBe(groupOf(deploy.concurrency));
    expect(groupOf(job.concurrency)).not.toBe(groupOf(deploy.jobs.primary.concurrency));
  });

  test("serialises with the deploy of the secondary stack (one shared job group) and neither cancels the other's up in progress", () => {
    const shared = groupOf(job.concurrency);
    expect(shared).toBe(groupOf(deploy.jobs.secondary.concurrency));
    const members = WORKFLOW_FILES.flatMap((file) =>
      Object.entries(workflow(file).jobs)
        .filter(([, other]) => groupOf(other.concurrency) === shared)
        .map(([name, other]) => ({ job: `${file}:${name}`, cancels: cancelsInProgress(other.concurrency) })),
    );
    expect(members).toEqual([
      { job: "deploy.yml:secondary", cancels: false },
      { job: "failover.yml:failover", cancels: false },
    ]);
  });

  test("a waiting failover cannot be displaced: one deploy run and one failover run at a time bound the shared group to one job of each", () => {
    expect(groupOf(deploy.concurrency)).toBe("deploy");
    expect(cancelsInProgress(deploy.concurrency)).toBe(false);
    expect(groupOf(failover.concurrency)).toBe("failover");
  });
});

describe("npm ci everywhere, on a lockfile it accepts", () => {
  test.each(WORKFLOW_FILES)("%s installs with npm ci, never npm install", (file) => {
    const text = fs.readFileSync(path.join(REPOSITORY_ROOT, ".github", "workflows", file), "utf8");
    expect(text).not.toMatch(/npm install|npm i\b/);
  });

  test("failover.yml installs with npm ci", () => {
    const [job] = Object.values(workflow("failover.yml").jobs);
    expect(job.steps.some((step) => /^npm ci\b/.test(step.run ?? ""))).toBe(true);
  });

  // npm ci stops when the lockfile misses a package the tree needs ("Missing: @swc/core-darwin-arm64@1.16.22
  // from lock file", npm/cli#4363), including another platform's optional binary that some npm versions
  // leave out when they write the lockfile.
  test("package-lock.json holds an entry for every optional package any locked package declares", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(REPOSITORY_ROOT, "package-lock.json"), "utf8")) as {
      lockfileVersion: number;
      packages: Record<string, { optionalDependencies?: Record<string, string> }>;
    };
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    // Node's lookup: the package's own node_modules, then each enclosing one, up to the root.
    const resolves = (from: string, name: string): boolean => {
      let dir = from;
      for (;;) {
        if (lock.packages[`${dir === "" ? "" : `${dir}/`}node_modules/${name}`] !== undefined) return true;
        if (dir === "") return false;
        const enclosing = dir.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, "");
        dir = enclosing === dir ? "" : enclosing;
      }
    };
    const missing = Object.entries(lock.packages).flatMap(([location, entry]) =>
      Object.keys(entry.optionalDependencies ?? {})
        .filter((name) => !resolves(location, name))
        .map((name) => `${location || "(root)"} -> ${name}`),
    );
    expect(missing).toEqual([]);
    expect(Object.keys(lock.packages).filter((location) => location.startsWith("node_modules/@swc/core-")).length).toBeGreaterThan(1);
  });
});

describe("pr.yml never gives a pull request the deploy role, and gives its secrets only to a reviewed preview", () => {
  const pr = workflow("pr.yml");
  const comment = workflow("pr-comment.yml");
  const gate = pr.jobs["preview-gate"];
  const preview = pr.jobs["engine-preview"];

  // GitHub passes no secret but GITHUB_TOKEN to a pull_request run from a fork; pull_request_target would
  // run in the base repository's context with its secrets (docs.github.com, "Events that trigger workflows").
  test("runs on pull_request, never pull_request_target (which would run a fork's code with secrets)", () => {
    expect(Object.keys(pr.on)).toEqual(["pull_request"]);
  });

  test.each(Object.keys(pr.jobs))("job %s names no deploy or failover secret", (name) => {
    for (const secret of DEPLOY_SECRETS) {
      const used = new RegExp(`${secret.replace(".", "\\.")}(?![A-Z_])`).test(jobText(pr.jobs[name]));
      expect({ job: name, secret, used }).toEqual({ job: name, secret, used: false });
    }
    expect(environmentOf(pr.jobs[name]) ?? "none").not.toMatch(/^(primary|secondary|failover)$/);
  });

  // A job that references an environment gets its secrets only after the environment's protection rules
  // (required reviewers) pass (docs.github.com, "Managing environments for deployment").
  test("only the engine preview runs pulumi or uses the preview environment, for same-repository pull requests the gate has cleared", () => {
    expect(Object.entries(pr.jobs).filter(([, job]) => environmentOf(job) !== undefined).map(([name]) => name)).toEqual(["engine-preview"]);
    expect(Object.entries(pr.jobs).filter(([, job]) => jobText(job).includes("pulumi preview")).map(([name]) => name)).toEqual(["engine-preview"]);
    expect(environmentOf(preview)).toBe("preview");
    expect(needsOf(preview)).toEqual(["preview-gate"]);
    expect(preview.if).toBe("github.event.pull_request.head.repo.full_name == github.repository && needs.preview-gate.outputs.reviewed == 'true'");
    expect(gate.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
  });

  test("the engine preview uses the read-only preview role and token", () => {
    const credentials = preview.steps.find((step) => step.uses?.startsWith("aws-actions/configure-aws-credentials"))!;
    expect(credentials.with?.["role-to-assume"]).toBe("${{ secrets.AWS_PREVIEW_ROLE_ARN }}");
    const step = preview.steps.find((candidate) => candidate.run?.includes("pulumi preview"))!;
    expect(step.env).toEqual({ ...PULUMI_STATE_ENV, PULUMI_ACCESS_TOKEN: PULUMI_ACCESS_TOKENS.preview });
  });

  test("the gate holds no secret, checks out nothing and runs none of the pull request's code", () => {
    const text = jobText(gate);
    expect(text).not.toMatch(/secrets\./);
    expect(gate.steps.map((step) => step.uses)).toEqual(gate.steps.map(() => undefined));
    expect(text).not.toMatch(/npm|npx|node |bin\/drstack|scripts\//);
    expect(gate.permissions).toEqual({ actions: "read" });
  });

  // The "Get an environment" response (docs.github.com, REST API endpoints for deployment environments):
  // protection_rules holds {type: "required_reviewers", prevent_self_review, reviewers: [...]}, "wait_timer"
  // and "branch_policy" rules. GITHUB_TOKEN reads it with actions: read.
  const reviewers = [{ type: "User", reviewer: { login: "octocat", id: 1 } }];
  const gateCases: [string, boolean, object | undefined][] = [
    ["a reviewer and no self-review", true, { name: "preview", protection_rules: [{ id: 1, type: "required_reviewers", prevent_self_review: true, reviewers }] }],
    ["a reviewer, self-review allowed", false, { name: "preview", protection_rules: [{ id: 1, type: "required_reviewers", prevent_self_review: false, reviewers }] }],
    ["the reviewer rule without reviewers", false, { name: "preview", protection_rules: [{ id: 1, type: "required_reviewers", prevent_self_review: true, reviewers: [] }] }],
    ["only a wait timer and a branch policy", false, { name: "preview", protection_rules: [{ id: 1, type: "wait_timer", wait_timer: 5 }, { id: 2, type: "branch_policy" }] }],
    ["no protection rules", false, { name: "preview" }],
    ["an environment GitHub cannot find (HTTP 404)", false, undefined],
  ];

  test.each(gateCases)("the gate step, run for real with jq, on an environment with %s: reviewed=%s", (_what, reviewed, environment) => {
    const dir = scratchDir();
    const outputs = path.join(dir, "outputs");
    const environmentFile = path.join(dir, "environment.json");
    if (environment !== undefined) fs.writeFileSync(environmentFile, JSON.stringify(environment));
    const bin = fakeBin({
      gh: [
        '[ "$1 $2" = "api repos/acme/shop/environments/preview" ] && [ "$3" = "--jq" ] || { echo "unexpected gh $*" >&2; exit 2; }',
        '[ -f "$ENVIRONMENT_FILE" ] || { echo "gh: Not Found (HTTP 404)" >&2; exit 1; }',
        'jq -r "$4" "$ENVIRONMENT_FILE"',
      ].join("\n"),
    });
    const step = stepNamed(gate, "The preview environment requires");
    const result = runStepScript(step.run ?? "", { bin, env: { GITHUB_OUTPUT: outputs, REPOSITORY: "acme/shop", ENVIRONMENT_FILE: environmentFile } });
    expect(result.status).toBe(0);
    expect(fs.readFileSync(outputs, "utf8")).toBe(`reviewed=${reviewed}\n`);
    expect(result.output.includes("::warning::no engine preview")).toBe(!reviewed);
    expect(gate.outputs?.reviewed).toBe(`\${{ steps.${step.id}.outputs.reviewed }}`);
  });

  test("the offline report and its blocking check never wait for a preview's approval; one job assembles what pr-comment.yml posts", () => {
    expect(needsOf(pr.jobs["dr-report"])).toEqual([]);
    const report = pr.jobs.report;
    expect(needsOf(report)).toEqual(["dr-report", "engine-preview"]);
    expect(report.if).toBe("${{ !cancelled() }}");
    const uploaded = report.steps.filter((step) => step.uses?.startsWith("actions/upload-artifact")).map((step) => step.with?.name);
    const posted = Object.values(comment.jobs).flatMap((job) => job.steps.filter((step) => step.uses?.startsWith("actions/download-artifact")).map((step) => step.with?.name));
    expect(uploaded).toEqual(posted);
    expect(jobText(report)).not.toMatch(/actions\/checkout|secrets\./);
  });

  test("only the preview job may ask GitHub for an OIDC token", () => {
    expect(pr.permissions).toEqual({ contents: "read" });
    const withToken = Object.entries(pr.jobs).filter(([, job]) => job.permissions?.["id-token"] === "write").map(([name]) => name);
    expect(withToken).toEqual(["engine-preview"]);
  });
});

describe("workflow checks", () => {
  test.each([
    [undefined, true],
    ["https://api.pulumi.com", true],
    ["s3://acme-pulumi-state?region=eu-west-1", true],
    ["s3://acme-pulumi-state?region=us-west-2", false],
    ["s3://acme-pulumi-state", false],
    ["file:///home/runner/state", false],
  ])("state backend %s with the primary in us-west-2: ok=%s", (url, ok) => {
    expect(judgeBackend(url, "us-west-2").ok).toBe(ok);
  });

  test.each([
    [undefined, true],
    ["passphrase", true],
    ["awskms://alias/pulumi?region=eu-west-1", true],
    ["awskms://alias/pulumi?region=us-west-2", false],
    ["awskms://arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", false],
    ["awskms://arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", true],
    ["awskms://alias/pulumi", false],
  ])("secrets provider %s with the primary in us-west-2: ok=%s", (provider, ok) => {
    expect(judgeSecretsProvider(provider, "us-west-2").ok).toBe(ok);
  });

  test("the example secondary's secrets provider is not in the primary region", () => {
    const file = parse(fs.readFileSync(path.join(REPOSITORY_ROOT, "Pulumi.secondary.yaml"), "utf8")) as { secretsprovider?: string };
    expect(judgeSecretsProvider(file.secretsprovider, stackSetting("primary", "primaryRegion")!).ok).toBe(true);
  });

  test("a deploy keeps or makes a failover, and undoes one only when told to", () => {
    expect(judgeActiveSite("secondary", "secondary", "primary", false).ok).toBe(false);
    expect(judgeActiveSite("primary", "secondary", "primary", false).message).toMatch(/would fail back/);
    expect(judgeActiveSite("secondary", "secondary", "primary", true).ok).toBe(true);
    expect(judgeActiveSite("secondary", "primary", "secondary", false).ok).toBe(true);
    expect(judgeActiveSite("primary", "primary\n", "primary", false).ok).toBe(true);
  });

  test.each([
    ["nothing was read", undefined, "primary"],
    ["an empty output", "", "primary"],
    ["a value that is no site", "[secret]", "primary"],
    ["a stack file without a site", "primary", undefined],
    ["a stack file with a misspelt site", "primary", "secundary"],
  ])("the guard refuses to deploy on %s, even with allow_failback", (_what, deployed, configured) => {
    expect(judgeActiveSite("primary", deployed, configured, true).ok).toBe(false);
    expect(judgeActiveSite("primary", deployed, configured, false).message).toMatch(/Nothing was deployed/);
  });
});
