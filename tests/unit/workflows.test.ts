import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { judgeActiveSite, judgeBackend, judgeSecretsProvider, stackSetting } from "../../scripts/workflowChecks";

/**
 * The GitHub workflows as data: what runs where, with which role, waiting for
 * what. actionlint (scripts/lint-workflows.sh) checks the syntax; these check
 * the rules a failover and a pull request depend on.
 */

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}

interface Job {
  needs?: string | string[];
  if?: string;
  environment?: string | { name: string };
  permissions?: Record<string, string>;
  concurrency?: { group: string };
  steps: Step[];
}

interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  concurrency?: { group: string };
  jobs: Record<string, Job>;
}

const WORKFLOWS = path.join(__dirname, "..", "..", ".github", "workflows");

function workflow(file: string): Workflow {
  return parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8")) as Workflow;
}

function environmentOf(job: Job): string | undefined {
  return typeof job.environment === "string" ? job.environment : job.environment?.name;
}

/** Every place a job can name a secret or a role: step inputs, env, run scripts, job conditions. */
function text(job: Job): string {
  return JSON.stringify(job);
}

const DEPLOY_SECRETS = ["secrets.AWS_ROLE_ARN", "secrets.PULUMI_ACCESS_TOKEN", "secrets.AWS_FAILOVER_ROLE_ARN"];

describe("failover.yml runs the secondary stack alone", () => {
  const failover = workflow("failover.yml");
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
    const everything = text(job);
    expect(everything).not.toMatch(/--stack\s+primary|-s\s+primary|stack-name:\s*primary|outputs\.primary|StackReference|stack output/);
    expect(everything).not.toMatch(/docker|buildx|publish-backup-image|setup-buildx/i);
    expect(everything).not.toMatch(/secrets\.AWS_ROLE_ARN|secrets\.AWS_PREVIEW_ROLE_ARN/);
  });

  test("never runs beside a deploy of the secondary stack, and never waits behind the primary's", () => {
    const deploy = workflow("deploy.yml");
    expect(job.concurrency?.group).toBe(deploy.jobs.secondary.concurrency?.group);
    expect(job.concurrency?.group).not.toBe(deploy.jobs.primary.concurrency?.group);
    expect(job.concurrency?.group).not.toBe(deploy.concurrency?.group);
  });
});

describe("pr.yml never gives a pull request the deploy role", () => {
  const pr = workflow("pr.yml");

  test("runs on pull_request, never pull_request_target (which would run a fork's code with secrets)", () => {
    expect(Object.keys(pr.on)).toEqual(["pull_request"]);
  });

  test.each(Object.keys(workflow("pr.yml").jobs))("job %s names no deploy or failover secret", (name) => {
    for (const secret of DEPLOY_SECRETS) {
      const used = new RegExp(`${secret.replace(".", "\\.")}(?![A-Z_])`).test(text(pr.jobs[name]));
      expect({ job: name, secret, used }).toEqual({ job: name, secret, used: false });
    }
    expect(environmentOf(pr.jobs[name]) ?? "none").not.toMatch(/^(primary|secondary|failover)$/);
  });

  test("engine previews use the read-only preview role and token, in the preview environment, for same-repository pull requests only", () => {
    const previewJobs = Object.entries(pr.jobs).filter(([, job]) => text(job).includes("pulumi preview"));
    expect(previewJobs.map(([name]) => name)).toEqual(["engine-preview"]);
    const [, job] = previewJobs[0];
    expect(environmentOf(job)).toBe("preview");
    expect(job.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    const credentials = job.steps.find((step) => step.uses?.startsWith("aws-actions/configure-aws-credentials"))!;
    expect(credentials.with?.["role-to-assume"]).toBe("${{ secrets.AWS_PREVIEW_ROLE_ARN }}");
    const preview = job.steps.find((step) => step.run?.includes("pulumi preview"))!;
    expect(preview.env).toEqual({ PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_PREVIEW_ACCESS_TOKEN }}" });
  });

  test("only the preview job may ask GitHub for an OIDC token", () => {
    expect(pr.permissions).toEqual({ contents: "read" });
    const withToken = Object.entries(pr.jobs).filter(([, job]) => job.permissions?.["id-token"] === "write").map(([name]) => name);
    expect(withToken).toEqual(["engine-preview"]);
  });
});

describe("deploy.yml", () => {
  const deploy = workflow("deploy.yml");

  test.each(["primary", "secondary"])("the %s job refuses to undo a failover before its up", (stack) => {
    const job = deploy.jobs[stack];
    const guard = job.steps.findIndex((step) => (step.run ?? "").includes(`active-site-guard ${stack}`));
    const up = job.steps.findIndex((step) => /pulumi up/.test(step.run ?? ""));
    expect(guard).toBeGreaterThanOrEqual(0);
    expect(guard).toBeLessThan(up);
    expect(environmentOf(job)).toBe(stack);
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
    const file = parse(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.secondary.yaml"), "utf8")) as { secretsprovider?: string };
    expect(judgeSecretsProvider(file.secretsprovider, stackSetting("primary", "primaryRegion")!).ok).toBe(true);
  });

  test("a deploy keeps or makes a failover, and undoes one only when told to", () => {
    expect(judgeActiveSite("secondary", "secondary", "primary", false).ok).toBe(false);
    expect(judgeActiveSite("primary", "secondary", "primary", false).message).toMatch(/would fail back/);
    expect(judgeActiveSite("secondary", "secondary", "primary", true).ok).toBe(true);
    expect(judgeActiveSite("secondary", "primary", "secondary", false).ok).toBe(true);
    expect(judgeActiveSite("secondary", undefined, "primary", false).ok).toBe(true);
  });
});
