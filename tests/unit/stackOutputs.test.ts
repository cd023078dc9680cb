import * as fs from "fs";
import { README_PATH } from "../../docs/readmeBlocks";
import { evaluate, resourcesOfType, STACK_CASES } from "./evaluations";

/**
 * Stack outputs are what other tools and people read. Pulumi drops a
 * top-level output that resolves to undefined and warns "Undefined value (x)
 * will not show as a stack output" on every run (pulumi/pulumi#7376), so an
 * output that may have no value is left out instead, and README names exactly
 * the outputs there are.
 */

const SERVICE = "kubernetes:core/v1:Service";
const UNDEFINED_OUTPUT_WARNING = /Undefined value \((\w+)\) will not show as a stack output/;

const CASES: Array<{ stack: string; overrides: Record<string, string> }> = [
  ...STACK_CASES.map(({ stack, activeSite }) => ({ stack, overrides: { activeSite } })),
  // The primary's first deployment: no web Service until its certificate can be issued.
  { stack: "primary", overrides: { peerProvisioned: "false" } },
  // A corruption being recovered: the recovery instance's outputs exist only then.
  { stack: "primary", overrides: { recoveryPointInTime: "latest" } },
];

// Six evaluations, some of which evaluate the primary first: one generous wait for all of
// them rather than a per-test timeout that a busy machine can outgrow.
beforeAll(async () => {
  for (const { stack, overrides } of CASES) {
    await evaluate(stack, overrides);
  }
}, 600_000);

describe.each(CASES)("stack outputs of $stack with $overrides", ({ stack, overrides }) => {
  test("none resolves to undefined, so Pulumi warns about none", async () => {
    const evaluation = await evaluate(stack, overrides);
    expect(evaluation.warnings.filter((warning) => UNDEFINED_OUTPUT_WARNING.test(warning))).toEqual([]);
    expect(Object.entries(evaluation.outputs).filter(([, value]) => value === undefined).map(([name]) => name)).toEqual([]);
  });

  test("webLoadBalancerHostname exists exactly when the web Service does, and is its load balancer's address", async () => {
    const evaluation = await evaluate(stack, overrides);
    const services = resourcesOfType(evaluation, SERVICE);
    if (services.length === 0) {
      expect(evaluation.outputs).not.toHaveProperty("webLoadBalancerHostname");
      return;
    }
    const status = services[0].state?.status as { loadBalancer: { ingress: Array<{ hostname: string }> } } | undefined;
    expect(status?.loadBalancer.ingress[0].hostname).toMatch(/\.elb\.[a-z0-9-]+\.amazonaws\.com$/);
    expect(evaluation.outputs.webLoadBalancerHostname).toBe(status?.loadBalancer.ingress[0].hostname);
  });
});

test("the primary's first deployment declares no web Service (the case the absent output is for)", async () => {
  const evaluation = await evaluate("primary", { peerProvisioned: "false" });
  expect(resourcesOfType(evaluation, SERVICE)).toEqual([]);
});

/** The backticked names of README's "Each stack exports ..." paragraph, leaving out the values described in parentheses. */
function readmeOutputNames(): string[] {
  const readme = fs.readFileSync(README_PATH, "utf8");
  const start = readme.indexOf("Each stack exports ");
  expect(start).toBeGreaterThanOrEqual(0);
  const paragraph = readme.slice(start, readme.indexOf("\n\n", start));
  const withoutAsides = paragraph.replace(/\([^()]*\)/g, "");
  return [...withoutAsides.matchAll(/`(\w+)`/g)].map((match) => match[1]).sort();
}

test("README names every stack output and no other", async () => {
  const names = new Set<string>();
  for (const { stack, overrides } of CASES) {
    for (const name of Object.keys((await evaluate(stack, overrides)).outputs)) {
      names.add(name);
    }
  }
  expect(readmeOutputNames()).toEqual([...names].sort());
});
